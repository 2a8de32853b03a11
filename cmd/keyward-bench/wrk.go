package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// target is one kind of request the load generators send, each carrying a different key from
// keysFile in turn.
type target struct {
	name     string
	base     string // server URL
	method   string
	path     string
	keysFile string
	// inBody puts the key in a verify body {"key":"..."} sent with the admin's token (verify,
	// and the bare handler, which gets the same request); else the key is the bearer token
	// (forward auth).
	inBody bool
	admin  string
	expect int // the status every answer should have
}

// wrkLua is the wrk script of a target. Each wrk thread has a Lua state of its own: every one
// reads the keys and starts at its own place in the list. A target expecting another status
// than 2xx counts the statuses that differ (wrk itself only counts non-2xx/3xx ones) in
// response(), which costs wrk a call per answer, so the 200 targets do without it.
const wrkLua = `local keysfile = %q
local method, path = %q, %q
local admin, inbody = %q, %t
local expect, countstatus = %d, %t
local threads, nthreads = {}, 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("id", nthreads)
  table.insert(threads, thread)
end

function init(args)
  keys = {}
  for line in io.lines(keysfile) do
    if #line > 0 then keys[#keys + 1] = line end
  end
  i = math.floor((id - 1) * #keys / 2) -- wrk runs 2 threads: each starts at its half
  wrong = 0
end

function request()
  i = i %% #keys + 1
  local k = keys[i]
  if inbody then
    return wrk.format(method, path, {["Authorization"] = "Bearer " .. admin, ["Content-Type"] = "application/json"}, '{"key":"' .. k .. '"}')
  end
  return wrk.format(method, path, {["Authorization"] = "Bearer " .. k})
end

if countstatus then
  function response(status, headers, body)
    if status ~= expect then wrong = wrong + 1 end
  end
end

function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do w = w + (t:get("wrong") or 0) end
  io.write(string.format("keyward-bench wrong statuses: %%d\n", w))
end
`

// writeLua writes t's wrk script into dir and returns its path.
func writeLua(dir string, t target) string {
	p := filepath.Join(dir, "wrk-"+strings.ReplaceAll(t.name, " ", "-")+".lua")
	src := fmt.Sprintf(wrkLua, t.keysFile, t.method, t.path, t.admin, t.inBody, t.expect, t.expect != 200)
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		fatalf("%v", err)
	}
	return p
}

// wrkResult is what a wrk run measured.
type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
	requests int64
	errors   int64 // answers with another status than expected, and socket errors
}

var (
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkP50      = regexp.MustCompile(`(?m)^\s+50%\s+(\S+)`)
	wrkP99      = regexp.MustCompile(`(?m)^\s+99%\s+(\S+)`)
	wrkRequests = regexp.MustCompile(`(\d+) requests in`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkWrong    = regexp.MustCompile(`keyward-bench wrong statuses: (\d+)`)
)

// runWrk runs wrk (2 threads, conns connections, closed loop: each connection sends its next
// request when the previous one is answered) against t for d.
func runWrk(wrk, script string, t target, conns int, d time.Duration) wrkResult {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cmd := toolCommand(wrk, "-t2", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", secs), "--latency", "-s", script, t.base+t.path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		fatalf("wrk on %s: %v\n%s", t.name, err, out)
	}
	s := string(out)
	var r wrkResult
	m := wrkRPS.FindStringSubmatch(s)
	m50, m99, mreq := wrkP50.FindStringSubmatch(s), wrkP99.FindStringSubmatch(s), wrkRequests.FindStringSubmatch(s)
	if m == nil || m50 == nil || m99 == nil || mreq == nil {
		fatalf("could not read wrk's output on %s:\n%s", t.name, s)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	r.p50, r.p99 = wrkDuration(m50[1]), wrkDuration(m99[1])
	r.requests, _ = strconv.ParseInt(mreq[1], 10, 64)
	if t.expect == 200 {
		if m := wrkNon2xx.FindStringSubmatch(s); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			r.errors += n
		}
	} else {
		m := wrkWrong.FindStringSubmatch(s)
		if m == nil {
			fatalf("wrk's script on %s did not report its status count:\n%s", t.name, s)
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		r.errors += n
	}
	if m := wrkSocket.FindStringSubmatch(s); m != nil {
		for _, f := range m[1:] {
			n, _ := strconv.ParseInt(f, 10, 64)
			r.errors += n
		}
	}
	if r.requests == 0 {
		fatalf("wrk sent no request to %s:\n%s", t.name, s)
	}
	if 100*r.errors > r.requests {
		fatalf("%s: %d of %d requests did not get %d (or failed on the socket); wrk said:\n%s", t.name, r.errors, r.requests, t.expect, s)
	}
	return r
}

// wrkDuration reads wrk's latencies: 812.00us, 1.23ms, 2.01s, 1.00m.
func wrkDuration(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		fatalf("wrk latency %q: %v", s, err)
	}
	return d
}

// wrkVersion is the version wrk -v prints ("wrk debian/4.1.0-3+b2 [epoll] ...").
func wrkVersion(wrk string) string {
	out, _ := exec.Command(wrk, "-v").CombinedOutput() // wrk -v exits non-zero
	f := strings.Fields(string(out))
	if len(f) >= 2 && f[0] == "wrk" {
		return f[1]
	}
	return "unknown"
}
