// Command keyward-bench measures keyward's verification hot path over HTTP on loopback, with
// load generators in processes other than the servers' (wrk, and this one) against the real
// server, and the verification cache's memory per key. `make bench` installs wrk
// (scripts/bench-tools.sh), finds PostgreSQL (scripts/test-services.sh) and runs it; it never
// fails on a number, only when something does not work (a tool missing, a server that does not
// start, more than 1% of wrong statuses).
//
// Method. For each store (SQLite in a temporary data directory; PostgreSQL in a database of its
// own created from $KEYWARD_TEST_POSTGRES_URL and dropped at the end) and each number of stored
// credentials, the store is seeded through its Import with that many active API tokens, closed,
// and `keyward serve` (built from ./cmd/keyward) is started on it as a child process in its own
// process group, logging as in production with its defaults: text lines written to a file, an
// access line for every refusal and for 1% of successful verifications (--access-log-sample),
// written in batches. A bare net/http handler that reads the body and answers 200 runs
// as another child process (this program re-executed with -serve-bare) and is measured in the
// same run, so "vs bare" says what keyward costs over the least any Go HTTP service pays here.
//
// Saturation: wrk, 2 threads and -conns keep-alive connections, closed loop, each request with
// the next key of a list (a Lua script), after an unreported warm-up of -warmup on the same
// target:
//
//	verify       POST /v1/verify {"key":...} with the admin's token, over the warm keys (200)
//	auth         GET /v1/auth with the key as bearer token, over the warm keys (200)
//	auth-never   GET /v1/auth with well-formed keys that were never issued (401)
//	bare         POST / to the bare handler with verify's request
//	auth-cold    reported first and apart: GET /v1/auth right after the server started, before
//	             any warm-up, over stored keys no request has used yet, so that each key's first
//	             request misses the verification cache and reads the database. With fewer cold
//	             keys than requests in -cold-duration, later requests repeat keys and hit.
//
// Latency at a fixed offered load: a constant-rate generator after wrk2 (rate.go), running in
// this process, which is neither server, sends each target's requests at a rate R, half
// (-rate-fraction) the bare handler's saturated requests/s measured in the same run, over -conns
// keep-alive connections opened before the run, after a warm-up at the same rate on the same
// connections. Request j is due at t0 + j/R whatever happened to the earlier ones, and its
// latency runs from that intended time to the end of its answer, so a stall counts for every
// request that should have been sent during it (no coordinated omission). It reports p50, p99,
// p99.9, max, the share of answers with the expected status, the rate it actually sent and how
// late its last requests left (lag): a generator that fell behind measured its own lag too, and
// its latencies are an upper bound. The verification cache holds a result for 10 s
// (--cache-ttl), so a warm key is re-read once per 10 s, as in production.
//
// The numbers depend on the machine and on what else runs on it: the header says how many CPUs
// the generators and the servers shared.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/token"
)

// config is what the flags say.
type config struct {
	conns                          int
	duration, warmup, rateDuration time.Duration
	coldDuration                   time.Duration
	rateFraction                   float64
	rotate, coldKeys, neverIssued  int
	wrk, keyward, pgURL, tmpDir    string
}

func main() {
	bare := flag.String("serve-bare", "", "") // internal: run as the bare handler on this address
	extra := flag.String("serve-flags", "", "more flags for keyward serve, separated by spaces (e.g. \"--cache-ttl 60s\")")
	stores := flag.String("stores", "sqlite,postgres", "comma-separated stores to run on: sqlite, postgres")
	stored := flag.String("stored", "1000,1000000", "comma-separated numbers of stored credentials on SQLite")
	pgStored := flag.String("pg-stored", "1000", "comma-separated numbers of stored credentials on PostgreSQL (its Import writes row by row)")
	var c config
	flag.IntVar(&c.conns, "conns", 64, "keep-alive connections, of wrk and of the constant-rate generator")
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "measured wrk run per target (whole seconds)")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "unreported run per target before measuring, for wrk and the constant-rate generator")
	flag.DurationVar(&c.rateDuration, "rate-duration", 5*time.Second, "measured constant-rate run per target")
	flag.DurationVar(&c.coldDuration, "cold-duration", time.Second, "wrk run over never-used keys right after the server starts")
	flag.Float64Var(&c.rateFraction, "rate-fraction", 0.5, "constant rate as a fraction of the bare handler's saturated requests/s")
	flag.IntVar(&c.rotate, "rotate", 10000, "how many stored keys the warm targets rotate among")
	flag.IntVar(&c.coldKeys, "cold-keys", 100000, "how many stored keys the cold run rotates among (at most half of those stored)")
	flag.IntVar(&c.neverIssued, "never-issued", 100000, "how many never-issued keys auth-never rotates among")
	flag.StringVar(&c.wrk, "wrk", "", "wrk binary (default: from PATH, else <repo>/.cache/bin)")
	flag.Parse()
	serveFlags = strings.Fields(*extra)
	if *bare != "" {
		serveBare(*bare)
		return
	}
	log.SetFlags(0)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { fatalf("interrupted by %v", <-sig) }()

	root := repoRoot()
	c.wrk = findTool(c.wrk, "wrk", root)
	dir, err := os.MkdirTemp("", "keyward-bench-")
	if err != nil {
		fatalf("%v", err)
	}
	atExit(func() { os.RemoveAll(dir) })
	c.tmpDir = dir
	c.keyward = filepath.Join(dir, "keyward")
	gobin := os.Getenv("GO")
	if gobin == "" {
		gobin = "go"
	}
	build := exec.Command(gobin, "build", "-o", c.keyward, "./cmd/keyward")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fatalf("building keyward: %v\n%s", err, out)
	}
	var runs []struct {
		store  string
		stored []int
	}
	for _, s := range strings.Split(*stores, ",") {
		switch s = strings.TrimSpace(s); s {
		case "sqlite":
			runs = append(runs, struct {
				store  string
				stored []int
			}{s, splitInts("-stored", *stored)})
		case "postgres":
			c.pgURL = strings.TrimSpace(os.Getenv("KEYWARD_TEST_POSTGRES_URL"))
			if c.pgURL == "" {
				fatalf("-stores postgres needs $KEYWARD_TEST_POSTGRES_URL: eval \"$(bash scripts/test-services.sh)\" sets it (make bench does)")
			}
			runs = append(runs, struct {
				store  string
				stored []int
			}{s, splitInts("-pg-stored", *pgStored)})
		default:
			fatalf("-stores: %q is neither sqlite nor postgres", s)
		}
	}

	fmt.Printf("keyward-bench: %d CPU, %s, GOMAXPROCS %d, %s, wrk %s\n",
		runtime.NumCPU(), runtime.Version(), runtime.GOMAXPROCS(0), time.Now().UTC().Format(time.RFC3339),
		wrkVersion(c.wrk))
	fmt.Printf("wrk: 2 threads, %d connections, %s per target after %s warm-up\n", c.conns, c.duration, c.warmup)
	fmt.Printf("constant rate (in keyward-bench, wrk2-style): %d connections, %s per target after %s warm-up, at %.2f x bare's requests/s,\n",
		c.conns, c.rateDuration, c.warmup, c.rateFraction)
	fmt.Printf("  latency from each request's intended send time\n")
	fmt.Printf("auth-cold: the first %s after the server started, before any warm-up, over stored keys never used before\n", c.coldDuration)
	fmt.Printf("(every load generator and both servers share this machine's CPUs)\n")

	bareProc, bareURL := startBare()
	for _, r := range runs {
		var sat []satRow
		var rates []rateRow
		var notes []string
		for _, n := range r.stored {
			s, rt, note := run(c, r.store, n, bareURL)
			sat, rates, notes = append(sat, s...), append(rates, rt...), append(notes, note)
		}
		printTables(sat, rates, notes)
	}
	bareProc.stop()
	runCleanups()
	cacheMemory()
}

// satRow is a line of the saturation table.
type satRow struct {
	store    string
	stored   int
	target   string
	rps      float64
	p50, p99 time.Duration
	errors   int64
	bareRPS  float64
}

// rateRow is a line of the constant-rate table.
type rateRow struct {
	store               string
	stored              int
	target              string
	rate                int
	sent                float64       // what the generator actually sent per second
	lag                 time.Duration // how late the generator's last requests left
	duration            time.Duration
	p50, p99, p999, max time.Duration
	success             float64
	transport           int64
	firstError          string
}

func printTables(sat []satRow, rates []rateRow, notes []string) {
	fmt.Printf("\n%-9s %9s %-12s %11s %10s %10s %7s %8s\n", "store", "stored", "target", "requests/s", "p50", "p99", "errors", "vs bare")
	for _, r := range sat {
		ratio := "-"
		if r.target != "bare" && r.bareRPS > 0 {
			ratio = fmt.Sprintf("%.0f%%", 100*r.rps/r.bareRPS)
		}
		fmt.Printf("%-9s %9d %-12s %11.0f %10s %10s %7d %8s\n", r.store, r.stored, r.target, r.rps, dur(r.p50), dur(r.p99), r.errors, ratio)
	}
	fmt.Printf("\n%-9s %9s %-12s %8s %8s %9s %10s %10s %10s %10s %8s\n", "store", "stored", "target", "rate/s", "sent/s", "lag", "p50", "p99", "p99.9", "max", "success")
	for _, r := range rates {
		extra := ""
		if r.transport > 0 {
			extra = fmt.Sprintf("  (%d without answer: %s)", r.transport, r.firstError)
		}
		fmt.Printf("%-9s %9d %-12s %8d %8.0f %9s %10s %10s %10s %10s %7.2f%%%s\n", r.store, r.stored, r.target, r.rate, r.sent, dur(r.lag),
			dur(r.p50), dur(r.p99), dur(r.p999), dur(r.max), 100*r.success, extra)
	}
	for _, r := range rates {
		if r.lag > r.duration/20 || r.sent < 0.95*float64(r.rate) {
			fmt.Println("(lag over 5% of the run, or sent/s below rate/s: the generator could not keep to its schedule, for lack of CPU")
			fmt.Println(" or because all its connections were waiting; those latencies include its own lag and are an upper bound)")
			break
		}
	}
	fmt.Println()
	for _, n := range notes {
		fmt.Println(n)
	}
}

// dur rounds a latency for the tables: microseconds below 10 ms, else 0.1 ms.
func dur(d time.Duration) string {
	if d < 10*time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(100 * time.Microsecond).String()
}

// run measures one store holding n credentials.
func run(c config, store string, n int, bareURL string) ([]satRow, []rateRow, string) {
	dir, err := os.MkdirTemp(c.tmpDir, fmt.Sprintf("%s-%d-", store, n))
	if err != nil {
		fatalf("%v", err)
	}
	mk, err := masterkey.Generate()
	if err != nil {
		fatalf("%v", err)
	}
	mkFile := filepath.Join(dir, "master.key")
	if err := mk.WriteFile(mkFile); err != nil {
		fatalf("%v", err)
	}
	start := time.Now()
	var keys []string
	var admin, dbURL string
	if store == "sqlite" {
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
			fatalf("%v", err)
		}
		var s interface{ Close() error }
		s, keys, admin = seedSQLite(filepath.Join(dir, "data"), n)
		if err := s.Close(); err != nil {
			fatalf("closing the seeded SQLite store: %v", err)
		}
	} else {
		dbURL = createDatabase(c.pgURL)
		keys, admin = seedPostgres(dbURL, n)
	}
	log.Printf("(%s: seeded %d credentials in %s)", store, n, time.Since(start).Round(time.Millisecond))
	coldN := min(c.coldKeys, n/2)
	cold := keys[n-coldN:]
	warm := keys[:min(c.rotate, n-coldN)]
	never := make([]string, c.neverIssued)
	for i := range never {
		if never[i], err = token.New(keyward.Live); err != nil {
			fatalf("%v", err)
		}
	}
	warmFile, coldFile, neverFile := writeKeys(dir, "warm", warm), writeKeys(dir, "cold", cold), writeKeys(dir, "never", never)
	keys = nil
	runtime.GC()
	debug.FreeOSMemory()

	srv := startKeyward(c.keyward, dir, dbURL, mkFile, max(authority.DefaultCacheSize, 2*c.rotate))
	log.Printf("(%s %d: keyward serving at %s, logging to %s)", store, n, srv.url, srv.logPath)
	verify := target{name: "verify", base: srv.url, method: "POST", path: "/v1/verify", keysFile: warmFile, inBody: true, admin: admin, expect: 200}
	auth := target{name: "auth", base: srv.url, method: "GET", path: "/v1/auth", keysFile: warmFile, expect: 200}
	authNever := target{name: "auth-never", base: srv.url, method: "GET", path: "/v1/auth", keysFile: neverFile, expect: 401}
	bare := target{name: "bare", base: bareURL, method: "POST", path: "/", keysFile: warmFile, inBody: true, admin: admin, expect: 200}
	authCold := target{name: "auth-cold", base: srv.url, method: "GET", path: "/v1/auth", keysFile: coldFile, expect: 200}

	var rows []satRow
	r := runWrk(c.wrk, writeLua(dir, authCold), authCold, c.conns, c.coldDuration)
	rows = append(rows, satRow{store: store, stored: n, target: "auth-cold", rps: r.rps, p50: r.p50, p99: r.p99, errors: r.errors})
	coldNote := fmt.Sprintf("%s %d: auth-cold sent %d requests over %d cold keys", store, n, r.requests, coldN)
	var bareRPS float64
	for _, t := range []target{bare, verify, auth, authNever} {
		script := writeLua(dir, t)
		runWrk(c.wrk, script, t, c.conns, c.warmup)
		r := runWrk(c.wrk, script, t, c.conns, c.duration)
		if t.name == "bare" {
			bareRPS = r.rps
		}
		rows = append(rows, satRow{store: store, stored: n, target: t.name, rps: r.rps, p50: r.p50, p99: r.p99, errors: r.errors})
	}
	for i := range rows {
		rows[i].bareRPS = bareRPS
	}

	rate := max(1, int(bareRPS*c.rateFraction))
	var rates []rateRow
	for _, t := range []target{bare, verify, auth, authNever} {
		v := runRate(t, c.conns, rate, c.warmup, c.rateDuration)
		rates = append(rates, rateRow{store: store, stored: n, target: t.name, rate: rate, sent: v.sent, lag: v.lag, duration: c.rateDuration,
			p50: v.p50, p99: v.p99, p999: v.p999, max: v.max, success: v.success, transport: v.transport, firstError: v.firstError})
	}
	srv.stop()
	lines := logLines(srv.logPath)
	if dbURL != "" {
		u := dbURL[strings.LastIndex(dbURL, "/")+1:]
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		dropDatabase(c.pgURL, u)
	}
	return rows, rates, fmt.Sprintf("%s; keyward's log file: %d lines", coldNote, lines)
}

// writeKeys writes keys, one per line, to <dir>/<name>.keys.
func writeKeys(dir, name string, keys []string) string {
	p := filepath.Join(dir, name+".keys")
	if err := os.WriteFile(p, []byte(strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
		fatalf("%v", err)
	}
	return p
}

func splitInts(name, s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			fatalf("bad %s %q: want numbers of at least 2", name, s)
		}
		out = append(out, n)
	}
	return out
}

// repoRoot is the directory holding go.mod, found from the working directory up.
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		fatalf("%v", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			fatalf("run keyward-bench inside keyward's repository (no go.mod above %s)", dir)
		}
	}
}

// findTool returns the flag's path, else name from PATH, else from <repo>/.cache/bin.
func findTool(flagged, name, root string) string {
	if flagged != "" {
		if _, err := os.Stat(flagged); err != nil {
			fatalf("-%s %s: %v", name, flagged, err)
		}
		return flagged
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := filepath.Join(root, ".cache", "bin", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	fatalf("%s not found in PATH nor in %s: run scripts/bench-tools.sh", name, filepath.Dir(p))
	return ""
}

// cacheMemory measures the heap the verification cache takes per key: the growth of the live
// heap while 100,000 distinct keys are verified once each, divided by 100,000.
func cacheMemory() {
	const n = 100_000
	dir, err := os.MkdirTemp("", "keyward-bench-")
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(dir)
	store, keys, admin := seedSQLite(dir, n)
	defer store.Close()
	// An hour's TTL: no entry ages or reloads while it is measured.
	a := authority.New(store, authority.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), CacheSize: 2 * n, CacheTTL: time.Hour})
	defer a.Close()
	ctx := context.Background()
	caller, err := a.Authenticate(ctx, admin, "127.0.0.1")
	if err != nil {
		fatalf("%v", err)
	}
	ctx = keyward.NewContext(ctx, caller)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for _, k := range keys {
		if v, err := a.Verify(ctx, keyward.VerifyInput{Key: k}); err != nil || !v.Valid {
			fatalf("verify: %+v %v", v, err)
		}
	}
	after := heap()
	st := a.Stats()
	fmt.Printf("\ncache: %d entries, %.0f bytes per key (live heap growth over %d distinct verifications)\n",
		st.CacheEntries, float64(after-before)/float64(st.CacheEntries), n)
	// The answers the hot endpoints render once per entry (authority.Memo) are kept with it.
	api := httpapi.New(a, store, httpapi.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), AccessLogSample: -1})
	for _, k := range keys {
		r := httptest.NewRequest("POST", "/v1/verify", strings.NewReader(`{"key":"`+k+`"}`))
		r.Header.Set("Authorization", "Bearer "+admin)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		if api.ServeHTTP(w, r); w.Code != 200 {
			fatalf("/v1/verify: %d %s", w.Code, w.Body)
		}
		r = httptest.NewRequest("GET", "/v1/auth", nil)
		r.Header.Set("Authorization", "Bearer "+k)
		w = httptest.NewRecorder()
		if api.ServeHTTP(w, r); w.Code != 200 {
			fatalf("/v1/auth: %d %s", w.Code, w.Body)
		}
	}
	rendered := heap()
	fmt.Printf("rendered answers: %.0f bytes more per key once it was verified on /v1/verify and /v1/auth (kept with its entry)\n",
		float64(rendered-after)/float64(st.CacheEntries))
	runtime.KeepAlive(keys)
}
