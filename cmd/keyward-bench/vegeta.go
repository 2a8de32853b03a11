package main

import (
	"bufio"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Latency at a fixed offered load comes from vegeta, not wrk. wrk is a closed loop: each
// connection sends its next request only when the previous one has been answered, so when the
// server stalls the requests that would have arrived meanwhile are never sent, and the stall
// counts as one slow request instead of many (coordinated omission). vegeta attack is an open
// loop: its pacer hands out a request at each scheduled time (rate R: one every 1/R s, sending
// at once to catch up when behind), whatever happened to the earlier ones. When every worker is
// still waiting for an answer it starts another worker rather than wait, up to -max-workers,
// which is left unlimited here (with a limit, a tick would wait for a free worker and that wait
// would not be counted), and -max-connections is unlimited too, so a new connection is opened
// rather than queueing behind a busy one. Each latency runs from the moment the request is
// sent, which is its scheduled time as long as vegeta itself keeps up, to the end of the answer.

// writeVegetaTargets writes t as vegeta's JSON targets, one line per key in the order of
// keysFile (vegeta sends them round-robin). JSON carries each verify body inline, where the
// http format would need a body file per key.
func writeVegetaTargets(dir string, t target) string {
	in, err := os.Open(t.keysFile)
	if err != nil {
		fatalf("%v", err)
	}
	defer in.Close()
	p := filepath.Join(dir, "vegeta-"+strings.ReplaceAll(t.name, " ", "-")+".json")
	f, err := os.Create(p)
	if err != nil {
		fatalf("%v", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	type vt struct {
		Method string      `json:"method"`
		URL    string      `json:"url"`
		Body   []byte      `json:"body,omitempty"`
		Header http.Header `json:"header"`
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		k := sc.Text()
		if k == "" {
			continue
		}
		v := vt{Method: t.method, URL: t.base + t.path, Header: http.Header{}}
		if t.inBody {
			v.Body = []byte(`{"key":"` + k + `"}`)
			v.Header.Set("Authorization", "Bearer "+t.admin)
			v.Header.Set("Content-Type", "application/json")
		} else {
			v.Header.Set("Authorization", "Bearer "+k)
		}
		if err := enc.Encode(v); err != nil {
			fatalf("%v", err)
		}
	}
	if err := sc.Err(); err != nil {
		fatalf("%v", err)
	}
	if err := w.Flush(); err != nil {
		fatalf("%v", err)
	}
	if err := f.Close(); err != nil {
		fatalf("%v", err)
	}
	return p
}

// vegetaResult is what a constant-rate run measured.
type vegetaResult struct {
	p50, p99, max time.Duration
	requests      int64
	sent          float64 // requests/s vegeta actually sent: below the rate asked, it did not keep up
	success       float64 // share of the answers with the expected status
	transport     int64   // requests that got no answer (timeouts, refused connections)
	firstError    string  // one of vegeta's errors, to say why
}

// runVegeta sends t's requests at rate per second for d and reports their latencies.
func runVegeta(vegeta, dir, targets string, t target, rate int, d time.Duration) vegetaResult {
	results := filepath.Join(dir, "vegeta-results.bin")
	attack := toolCommand(vegeta, "attack", fmt.Sprintf("-rate=%d/s", rate), "-duration="+d.String(),
		"-targets="+targets, "-format=json", "-timeout=30s", "-output="+results)
	if out, err := attack.CombinedOutput(); err != nil {
		fatalf("vegeta attack on %s: %v\n%s", t.name, err, out)
	}
	out, err := toolCommand(vegeta, "report", "-type=json", results).Output()
	if err != nil {
		fatalf("vegeta report on %s: %v", t.name, err)
	}
	var rep struct {
		Latencies struct {
			P50 time.Duration `json:"50th"`
			P99 time.Duration `json:"99th"`
			Max time.Duration `json:"max"`
		} `json:"latencies"`
		Requests    int64            `json:"requests"`
		Rate        float64          `json:"rate"`
		StatusCodes map[string]int64 `json:"status_codes"`
		Errors      []string         `json:"errors"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		fatalf("reading vegeta's report on %s: %v\n%s", t.name, err, out)
	}
	if rep.Requests == 0 {
		fatalf("vegeta sent no request to %s", t.name)
	}
	r := vegetaResult{p50: rep.Latencies.P50, p99: rep.Latencies.P99, max: rep.Latencies.Max, requests: rep.Requests, sent: rep.Rate}
	for _, e := range rep.Errors { // vegeta lists statuses ("401 Unauthorized") among its errors
		if len(e) < 4 || e[3] != ' ' || strings.Trim(e[:3], "0123456789") != "" {
			r.firstError = e
			break
		}
	}
	var wrong int64
	for code, n := range rep.StatusCodes {
		switch c, _ := strconv.Atoi(code); c {
		case t.expect:
			r.success = float64(n) / float64(rep.Requests)
		case 0:
			r.transport += n
		default:
			wrong += n
		}
	}
	// A request without an answer is what overload looks like at a fixed rate, a number to
	// print; an answer with the wrong status means something does not work.
	if 100*wrong > rep.Requests {
		fatalf("%s at %d/s: %d of %d answers were not %d: %v, errors %v", t.name, rate, wrong, rep.Requests, t.expect, rep.StatusCodes, rep.Errors)
	}
	return r
}

// vegetaVersion is the module version go install stamped into the binary (vegeta -version
// prints nothing then), else what -version says.
func vegetaVersion(vegeta string) string {
	if bi, err := buildinfo.ReadFile(vegeta); err == nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	out, _ := exec.Command(vegeta, "-version").Output()
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "Version: "); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
