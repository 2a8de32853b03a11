// Command keyward-bench measures keyward's verification hot path over HTTP on loopback: POST
// /v1/verify and GET /v1/auth, beside a bare net/http handler that answers 200, in the same run
// and the same process, so that the ratio says what keyward costs on this machine. It also
// measures the verification cache's memory per key. `make bench` runs it; it never fails on
// a number, it prints them.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/snapshot"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/token"
)

func main() {
	stored := flag.String("stored", "1000,10000,1000000", "comma-separated numbers of stored credentials to run with")
	rotate := flag.Int("rotate", 10000, "how many distinct keys the load rotates among (at most the number stored)")
	conns := flag.Int("conns", 64, "concurrent keep-alive connections")
	duration := flag.Duration("duration", 5*time.Second, "measured time per target")
	warmup := flag.Duration("warmup", time.Second, "unmeasured time per target before measuring")
	flag.Parse()
	log.SetFlags(0)
	fmt.Printf("keyward-bench: %d CPU, %s, GOMAXPROCS %d, %d connections, %s per target after %s warm-up\n\n",
		runtime.NumCPU(), runtime.Version(), runtime.GOMAXPROCS(0), *conns, *duration, *warmup)
	fmt.Printf("%-10s %-12s %12s %10s %10s %9s\n", "stored", "target", "requests/s", "p50", "p99", "vs bare")
	for _, s := range splitInts(*stored) {
		run(s, min(*rotate, s), *conns, *duration, *warmup)
	}
	cacheMemory()
}

func splitInts(s string) []int {
	var out []int
	for _, f := range bytes.Split([]byte(s), []byte(",")) {
		n, err := strconv.Atoi(string(bytes.TrimSpace(f)))
		if err != nil {
			log.Fatalf("bad -stored %q", s)
		}
		out = append(out, n)
	}
	return out
}

// seed builds a store holding n active API tokens in the system project, created by admin; it
// returns the first `keys` tokens and an admin token. It goes through the store's own Import,
// since creating a million credentials one durable transaction at a time would take an hour.
func seed(dir string, n, keys int) (*sqlite.Store, []string, string) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	snap := &snapshot.Snapshot{
		SchemaVersion: sqlite.LatestSchemaVersion(),
		Projects:      []keyward.Project{{ID: 1, Slug: keyward.SystemProject, Name: "System", CreatedAt: now}},
		Users:         []snapshot.User{{User: keyward.User{ID: 1, Name: keyward.AdminUser, CreatedAt: now, UpdatedAt: now}}},
		RoleBindings:  []keyward.RoleBinding{{UserID: 1, RoleID: 1}},
	}
	for _, r := range authority.BuiltinRoles() {
		snap.Roles = append(snap.Roles, *r)
	}
	admin := ""
	var out []string
	for i := 0; i <= n; i++ {
		tok, err := token.New(keyward.Live)
		if err != nil {
			log.Fatal(err)
		}
		id := int64(i + 1)
		name := "bench-" + strconv.Itoa(i)
		if i == n {
			admin, name = tok, "bench-admin"
		} else if i < keys {
			out = append(out, tok)
		}
		snap.Credentials = append(snap.Credentials, keyward.Credential{
			ID: id, ProjectID: 1, Name: name, Type: keyward.APIToken, Environment: keyward.Live,
			KeyType: keyward.Secret, CreatedBy: 1, RoleIDs: []int64{1}, Meta: map[string]string{"tier": "bench"},
			Active: true, CreatedAt: now, UpdatedAt: now, Version: 1, Start: token.Start(tok),
		})
		snap.Secrets = append(snap.Secrets, keyward.CredentialSecret{Digest: token.Digest(tok), CredentialID: id, CreatedAt: now})
	}
	store, err := sqlite.Open(ctx, filepath.Join(dir, "keyward.db"))
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Import(ctx, snap); err != nil {
		log.Fatal(err)
	}
	return store, out, admin
}

func run(n, rotate, conns int, duration, warmup time.Duration) {
	dir, err := os.MkdirTemp("", "keyward-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	store, keys, admin := seed(dir, n, rotate)
	defer store.Close()
	log.Printf("(seeded %d credentials in %s)", n, time.Since(start).Round(time.Millisecond))
	// The seed's million-row snapshot is garbage now: return it before measuring, or the bare
	// handler pays for it too and the comparison between stored counts says nothing.
	runtime.GC()
	debug.FreeOSMemory()
	mk, _ := masterkey.Generate()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := authority.New(store, authority.Options{Logger: quiet, MasterKey: mk, CacheSize: max(100_000, 2*rotate)})
	defer a.Close()
	if err := a.InitCA(context.Background()); err != nil {
		log.Fatal(err)
	}
	api := serve(httpapi.New(a, store, httpapi.Options{Logger: quiet}))
	bare := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	bodies := make([][]byte, len(keys))
	for i, k := range keys {
		bodies[i] = []byte(`{"key":"` + k + `"}`)
	}
	targets := []struct {
		name string
		req  func(i int) *http.Request
	}{
		{"bare", func(i int) *http.Request {
			r, _ := http.NewRequest("POST", bare+"/", bytes.NewReader(bodies[i%len(bodies)]))
			return r
		}},
		{"/v1/verify", func(i int) *http.Request {
			r, _ := http.NewRequest("POST", api+"/v1/verify", bytes.NewReader(bodies[i%len(bodies)]))
			r.Header.Set("Authorization", "Bearer "+admin)
			r.Header.Set("Content-Type", "application/json")
			return r
		}},
		{"/v1/auth", func(i int) *http.Request {
			r, _ := http.NewRequest("GET", api+"/v1/auth", nil)
			r.Header.Set("Authorization", "Bearer "+keys[i%len(keys)])
			return r
		}},
	}
	var bareRPS float64
	for _, t := range targets {
		load(t.req, conns, warmup) // fills caches and connection pools
		rps, p50, p99 := load(t.req, conns, duration)
		ratio := "-"
		if t.name == "bare" {
			bareRPS = rps
		} else {
			ratio = fmt.Sprintf("%.0f%%", 100*rps/bareRPS)
		}
		fmt.Printf("%-10d %-12s %12.0f %10s %10s %9s\n", n, t.name, rps, p50.Round(time.Microsecond), p99.Round(time.Microsecond), ratio)
	}
}

func serve(h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, h)
	return "http://" + ln.Addr().String()
}

// load runs conns workers, each on its own keep-alive connection, for d, and returns requests
// per second and the 50th and 99th percentile latency. Any status but 200 is fatal: a benchmark
// of errors measures nothing.
func load(req func(i int) *http.Request, conns int, d time.Duration) (float64, time.Duration, time.Duration) {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var next atomic.Int64
	stop := time.Now().Add(d)
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for time.Now().Before(stop) {
				i := int(next.Add(1))
				t0 := time.Now()
				res, err := client.Do(req(i))
				if err != nil {
					log.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					log.Fatalf("status %d from %s", res.StatusCode, res.Request.URL)
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return 0, 0, 0
	}
	return float64(len(all)) / d.Seconds(), all[len(all)/2], all[len(all)*99/100]
}

// cacheMemory measures the heap the verification cache takes per key: the growth of the live
// heap while 100,000 distinct keys are verified once each, divided by 100,000.
func cacheMemory() {
	const n = 100_000
	dir, err := os.MkdirTemp("", "keyward-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, keys, admin := seed(dir, n, n)
	defer store.Close()
	a := authority.New(store, authority.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), CacheSize: 2 * n})
	defer a.Close()
	ctx := context.Background()
	caller, err := a.Authenticate(ctx, admin, "127.0.0.1")
	if err != nil {
		log.Fatal(err)
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
			log.Fatalf("verify: %+v %v", v, err)
		}
	}
	after := heap()
	st := a.Stats()
	fmt.Printf("\ncache: %d entries, %.0f bytes per key (live heap growth over %d distinct verifications)\n",
		st.CacheEntries, float64(after-before)/float64(st.CacheEntries), n)
	runtime.KeepAlive(keys)
}
