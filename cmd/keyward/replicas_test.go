package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/proctest"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/postgrestest"
	"github.com/keyward/keyward/ratelimit"
)

// The replica tests run several real `keyward serve` processes on one PostgreSQL schema, as a
// team that outgrew one machine would, and measure what the README publishes: how fast a
// revocation reaches the other replicas, how long a replica that lost its change feed can be
// stale (the cache TTL), and what clients see while the database is away.

// sharedMasterKey writes one master key file for every replica of a test.
func sharedMasterKey(t *testing.T) string {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "master.key")
	mk, err := masterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := mk.WriteFile(keyFile); err != nil {
		t.Fatal(err)
	}
	return keyFile
}

// testRedisURL returns the test Redis ($KEYWARD_TEST_REDIS_URL, else 127.0.0.1:6379) once it
// answers, with a key prefix of this test's own (removed when it ends), so that test runs that
// share the Redis do not share limits. The test fails, never skips, when Redis does not answer.
func testRedisURL(t *testing.T) string {
	t.Helper()
	u := strings.TrimSpace(os.Getenv("KEYWARD_TEST_REDIS_URL"))
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("KEYWARD_TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		t.Fatalf("no Redis answers at %s: %v\nRun scripts/test-services.sh (it uses the Redis on "+
			"127.0.0.1:6379 or starts a throwaway one, installing Debian's redis-server when it is "+
			"missing) and export the KEYWARD_TEST_REDIS_URL it prints, or run `make test`.",
			ratelimit.RedactRedisURL(u), err)
	}
	prefix := randomName("keyward-test:") + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if keys, _ := rdb.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		rdb.Close()
	})
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	q.Set("prefix", prefix)
	p.RawQuery = q.Encode()
	return p.String()
}

func readToken(t *testing.T, file string, srv *server) string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("bootstrap token file: %v\n%s", err, srv.stderr.String())
	}
	return strings.TrimSpace(string(raw))
}

func randomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// reply is one HTTP exchange as a client saw it.
type reply struct {
	kind       string
	start      time.Time
	took       time.Duration
	status     int
	retryAfter string
	code       string // verification code, for verify
	name       string // credential name, for create
	err        error  // transport error: no answer at all
}

func (r reply) String() string {
	s := fmt.Sprintf("%s %d", r.kind, r.status)
	if r.code != "" {
		s += " " + r.code
	}
	s += " in " + r.took.Round(time.Millisecond).String()
	if r.retryAfter != "" {
		s += " Retry-After " + r.retryAfter
	}
	if r.err != nil {
		s += fmt.Sprintf(" (%v)", r.err)
	}
	return s
}

// send makes one JSON request with the bearer token and decodes a 2xx body into out.
func send(hc *http.Client, method, url, token string, in, out any) reply {
	r := reply{start: time.Now()}
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		r.err = err
		return r
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		r.err, r.took = err, time.Since(r.start)
		return r
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	r.took = time.Since(r.start)
	r.status, r.retryAfter, r.err = resp.StatusCode, resp.Header.Get("Retry-After"), err
	if out != nil && r.status/100 == 2 && err == nil {
		r.err = json.Unmarshal(b, out)
	}
	return r
}

func verifyKey(hc *http.Client, base, admin, key string) reply {
	var v keyward.Verification
	r := send(hc, "POST", base+"/v1/verify", admin, keyward.VerifyInput{Key: key}, &v)
	r.kind, r.code = "verify", v.Code
	return r
}

// pollFor polls verify on srv every few milliseconds until it answers want, and returns when
// that answer arrived. It may run on any goroutine.
func pollFor(hc *http.Client, srv *server, admin, key, want string, within time.Duration) (time.Time, error) {
	deadline := time.Now().Add(within)
	var last reply
	for time.Now().Before(deadline) {
		if last = verifyKey(hc, srv.url, admin, key); last.code == want {
			return last.start.Add(last.took), nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("%s did not answer %s within %s; last: %s", srv.url, want, within, last)
}

// waitFor is pollFor on the test's goroutine.
func waitFor(t *testing.T, hc *http.Client, srv *server, admin, key, want string, within time.Duration) time.Time {
	t.Helper()
	at, err := pollFor(hc, srv, admin, key, want, within)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func createKey(t *testing.T, c *client.Client, project, name string) string {
	t.Helper()
	days := int64(30)
	k, err := c.CreateCredential(context.Background(), project, keyward.CreateCredentialInput{Name: name, ExpirationDays: &days})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return k.Key
}

func mustCode(t *testing.T, hc *http.Client, srv *server, admin, key, want string) {
	t.Helper()
	if r := verifyKey(hc, srv.url, admin, key); r.status != 200 || r.code != want {
		t.Fatalf("verify on %s = %s, want %s", srv.url, r, want)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestThreeReplicas: three servers on one database. A revocation on one reaches the others
// through the change feed in milliseconds; a replica whose feed silently stopped is stale for at
// most its cache TTL; failed logins are counted across replicas through Redis.
func TestThreeReplicas(t *testing.T) {
	pg := postgrestest.SchemaURL(t, postgrestest.URL(t))
	keyFile := sharedMasterKey(t)
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	common := []string{"--master-key-file", keyFile, "--redis", testRedisURL(t)}
	const ttl, requestTimeout = 2 * time.Second, 2 * time.Second

	// Bootstrap once, on A; B reaches the database through a proxy the test can cut.
	a := startServer(t, t.TempDir(), append([]string{"--database", pg, "--bootstrap-token-file", tokenFile}, common...)...)
	admin := readToken(t, tokenFile, a)
	proxy := postgrestest.NewProxy(t, pg)
	b := startServer(t, t.TempDir(), append([]string{"--database", proxy.URL(),
		"--cache-ttl", ttl.String(), "--request-timeout", requestTimeout.String()}, common...)...)
	c := startServer(t, t.TempDir(), append([]string{"--database", pg}, common...)...)
	if _, err := os.Stat(tokenFile); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.stderr.String(), "Bootstrap admin token") || strings.Contains(c.stderr.String(), "Bootstrap admin token") {
		t.Fatal("a second replica bootstrapped again")
	}

	ctx := context.Background()
	onA, onC := client.New(a.url, admin), client.New(c.url, admin)
	if _, err := onA.CreateProject(ctx, keyward.CreateProjectInput{Slug: "acme"}); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: requestTimeout + 3*time.Second}

	t.Run("RevocationPropagates", func(t *testing.T) {
		const rounds = 5
		var total, sinceAck []time.Duration
		for i := 0; i < rounds; i++ {
			name := fmt.Sprintf("svc-%d", i)
			key := createKey(t, onA, "acme", name)
			for _, srv := range []*server{a, b, c} {
				mustCode(t, hc, srv, admin, key, keyward.CodeValid) // warms every cache
			}
			// Poll A and B from before the revocation is sent, so that the measure includes
			// nothing but the revocation and its notification.
			var wg sync.WaitGroup
			seen := make([]time.Time, 2)
			start := time.Now()
			for j, srv := range []*server{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					at, err := pollFor(hc, srv, admin, key, keyward.CodeRevoked, 10*time.Second)
					if err != nil {
						t.Error(err)
					}
					seen[j] = at
				}()
			}
			if _, err := onC.RevokeCredential(ctx, "acme", name); err != nil {
				t.Error(err)
			}
			ack := time.Now()
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			last := seen[0] // both refuse it from then on
			if seen[1].After(last) {
				last = seen[1]
			}
			total = append(total, last.Sub(start))
			sinceAck = append(sinceAck, max(0, last.Sub(ack)))
			t.Logf("round %d: revoke on C took %s; A refused the key %s and B %s after the revoke was sent",
				i, ack.Sub(start).Round(time.Microsecond), seen[0].Sub(start).Round(time.Microsecond), seen[1].Sub(start).Round(time.Microsecond))
		}
		worst := slices.Max(total)
		t.Logf("MEASURED revocation propagation to the two other replicas, from sending the revoke to both refusing: "+
			"median %s, worst %s of %d (after the revoke was acknowledged: median %s, worst %s)",
			median(total).Round(time.Millisecond), worst.Round(time.Millisecond), rounds,
			median(sinceAck).Round(time.Millisecond), slices.Max(sinceAck).Round(time.Millisecond))
		if worst > 3*time.Second {
			t.Fatalf("revocation took %s to reach the other replicas, want < 3s", worst)
		}
	})

	t.Run("LoginThrottlingShared", func(t *testing.T) {
		// Five failed logins, spread over the three replicas, use up the per-user budget on all.
		user := randomName("nobody-")
		// A failed login hashes a password (argon2id), which under -race on a loaded machine
		// can take seconds: this subtest checks answers, not their speed.
		slow := &http.Client{Timeout: 60 * time.Second}
		login := func(srv *server) reply {
			r := send(slow, "POST", srv.url+"/v1/login", "", keyward.LoginInput{Name: user, Password: "wrong password"}, nil)
			r.kind = "login"
			return r
		}
		for i, srv := range []*server{a, b, c, a, b} {
			if r := login(srv); r.status != http.StatusUnauthorized {
				t.Fatalf("failed login %d: %s, want 401", i, r)
			}
		}
		for _, srv := range []*server{c, a} {
			if r := login(srv); r.status != http.StatusTooManyRequests || r.retryAfter == "" {
				t.Fatalf("6th failed login on %s: %s, want 429 with Retry-After (shared through Redis)", srv.url, r)
			}
		}
	})

	t.Run("FeedLostTTLBackstop", func(t *testing.T) {
		// B's network to the database stops delivering anything: its LISTEN connection is still
		// open, so nothing tells B that notifications are lost. Only the cache TTL bounds how long
		// B keeps answering from what it cached.
		// The key and the caller that asks about it are both new to B, so B caches them in one
		// request and both expire together, a TTL later.
		key := createKey(t, onA, "acme", "backstop")
		checker := createKey(t, onA, "acme", "checker")
		mustCode(t, hc, a, admin, key, keyward.CodeValid)
		mustCode(t, hc, b, checker, key, keyward.CodeValid)
		warmed := time.Now() // B's cache entries were loaded before this
		proxy.Hang()
		mustCode(t, hc, b, checker, key, keyward.CodeValid) // from B's cache, the database is unreachable
		if _, err := onA.RevokeCredential(ctx, "acme", "backstop"); err != nil {
			t.Fatal(err)
		}
		revoked := time.Now()
		mustCode(t, hc, a, admin, key, keyward.CodeRevoked)

		var lastValid, refused reply
		for deadline := time.Now().Add(ttl + requestTimeout + 5*time.Second); time.Now().Before(deadline); {
			r := verifyKey(hc, b.url, checker, key)
			if r.err != nil || r.took > requestTimeout+1500*time.Millisecond {
				t.Fatalf("verify on B while its database hangs: %s, want an answer within the request timeout", r)
			}
			if r.status == 200 && r.code == keyward.CodeValid {
				lastValid = r
				time.Sleep(10 * time.Millisecond)
				continue
			}
			refused = r
			break
		}
		if refused.status == 0 {
			t.Fatal("B kept answering VALID past its cache TTL")
		}
		if !lastValid.start.IsZero() && !lastValid.start.Before(warmed.Add(ttl)) {
			t.Fatalf("B answered VALID to a request sent %s after its cache was warmed (TTL %s)", lastValid.start.Sub(warmed), ttl)
		}
		// The database does not answer: past the request deadline that is a 504; a refused or
		// dropped connection is a 503. A revoked key is never VALID again.
		if refused.status != http.StatusGatewayTimeout && refused.status != http.StatusServiceUnavailable && refused.code != keyward.CodeRevoked {
			t.Fatalf("B after its cache TTL: %s, want 504, 503 or REVOKED", refused)
		}
		staleFor := time.Duration(0)
		if !lastValid.start.IsZero() {
			staleFor = lastValid.start.Add(lastValid.took).Sub(revoked)
		}
		t.Logf("MEASURED with B's change feed silently lost (--cache-ttl %s): B answered VALID for the revoked key until %s after the revoke "+
			"(%s after its cache entry was loaded); the next request, sent %s after the revoke, got %s",
			ttl, staleFor.Round(time.Millisecond), lastValid.start.Add(lastValid.took).Sub(warmed).Round(time.Millisecond),
			refused.start.Sub(revoked).Round(time.Millisecond), refused)

		// The connection is then dropped (the network gives up): B sees its feed fail, drops its
		// cache, answers 503 while the database is away, and reconnects by itself once it is back.
		proxy.Cut()
		r := verifyKey(hc, b.url, admin, key)
		if r.err != nil || r.took > requestTimeout+1500*time.Millisecond || (r.status != http.StatusServiceUnavailable && r.status != http.StatusGatewayTimeout) {
			t.Fatalf("verify on B with its database cut off: %s, want 503 (or 504 for a request caught in the cut)", r)
		}
		restored := time.Now()
		proxy.Restore()
		back := waitFor(t, hc, b, admin, key, keyward.CodeRevoked, 15*time.Second)
		t.Logf("MEASURED B answered REVOKED %s after its database came back", back.Sub(restored).Round(time.Millisecond))
	})

	t.Run("AllAgree", func(t *testing.T) {
		for _, name := range []string{"svc-0", "backstop"} {
			cred, err := onA.Credential(ctx, "acme", name)
			if err != nil || cred.State != keyward.StateRevoked {
				t.Fatalf("%s on A: %+v, %v", name, cred, err)
			}
		}
		key := createKey(t, onC, "acme", "after")
		for _, srv := range []*server{a, b, c} {
			mustCode(t, hc, srv, admin, key, keyward.CodeValid)
		}
	})

	for _, srv := range []*server{a, b, c} {
		srv.stop(t)
	}
	// Three replicas wrote events at once: one chain, without gaps, that verifies.
	if r := runOffline(t, nil, "audit", "verify", "--database", pg, "--master-key-file", keyFile); r.code != 0 || !strings.Contains(r.stdout, "OK:") {
		t.Fatalf("audit verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestReplicaDatabaseOutage: clients keep calling one replica while its database first stops
// answering, then refuses connections, then comes back. No request outlives its deadline, the
// statuses say what happened, the server recovers by itself, and every acknowledged create is
// in the database afterwards.
func TestReplicaDatabaseOutage(t *testing.T) {
	pg := postgrestest.SchemaURL(t, postgrestest.URL(t))
	proxy := postgrestest.NewProxy(t, pg)
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	const ttl, requestTimeout, slack = 2 * time.Second, 2 * time.Second, 1500 * time.Millisecond
	srv := startServer(t, t.TempDir(), "--database", proxy.URL(), "--master-key-file", sharedMasterKey(t),
		"--bootstrap-token-file", tokenFile, "--cache-ttl", ttl.String(), "--request-timeout", requestTimeout.String())
	admin := readToken(t, tokenFile, srv)
	ctx := context.Background()
	c := client.New(srv.url, admin)
	if _, err := c.CreateProject(ctx, keyward.CreateProjectInput{Slug: "acme"}); err != nil {
		t.Fatal(err)
	}
	// The verifying clients use a key of their own, so that their caller and the key they ask
	// about are cached, and expire, together.
	cached := createKey(t, c, "acme", "cached")
	verifier := createKey(t, c, "acme", "verifier")
	hc := &http.Client{Timeout: requestTimeout + 5*time.Second}
	mustCode(t, hc, srv, verifier, cached, keyward.CodeValid)

	var (
		mu      sync.Mutex
		replies []reply
		wg      sync.WaitGroup
		pair    atomic.Pointer[[2]string] // the verifying clients' caller and the key they verify
	)
	pair.Store(&[2]string{verifier, cached})
	stop := make(chan struct{})
	stopTraffic := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopTraffic) // also when the test fails half way
	loop := func(pause time.Duration, call func(i int) reply) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := call(i)
				mu.Lock()
				replies = append(replies, r)
				mu.Unlock()
				time.Sleep(pause)
			}
		}()
	}
	for g := 0; g < 3; g++ {
		loop(5*time.Millisecond, func(int) reply {
			p := pair.Load()
			return verifyKey(hc, srv.url, p[0], p[1])
		})
	}
	for g := 0; g < 2; g++ {
		loop(20*time.Millisecond, func(i int) reply {
			name := fmt.Sprintf("load-%d-%d", g, i)
			r := send(hc, "POST", srv.url+"/v1/projects/acme/credentials", admin,
				keyward.CreateCredentialInput{Name: name, ExpirationDays: ptr(int64(30))}, nil)
			r.kind, r.name = "create", name
			return r
		})
	}
	loop(20*time.Millisecond, func(int) reply {
		r := send(hc, "GET", srv.url+"/v1/projects/acme/credentials?limit=5", admin, nil, nil)
		r.kind = "list"
		return r
	})
	loop(20*time.Millisecond, func(int) reply {
		r := send(hc, "GET", srv.url+"/readyz", "", nil, nil)
		r.kind = "readyz"
		return r
	})

	time.Sleep(time.Second)
	// Switch the verifying clients to a new pair, cached on the server right before the
	// database stops answering, so that the cache can show its full TTL.
	fresh := [2]string{createKey(t, c, "acme", "verifier-2"), createKey(t, c, "acme", "cached-2")}
	mustCode(t, hc, srv, fresh[0], fresh[1], keyward.CodeValid)
	warmed := time.Now()
	pair.Store(&fresh)
	hung := time.Now()
	proxy.Hang() // the network drops everything: requests that need the database meet their deadline
	time.Sleep(ttl + requestTimeout + time.Second)
	cut := time.Now()
	proxy.Cut() // the database is gone: connections are refused
	time.Sleep(ttl + time.Second)
	restored := time.Now()
	proxy.Restore()

	// Wait for the server to find the database again by itself.
	var ready, created time.Time
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && (ready.IsZero() || created.IsZero()); {
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		for _, r := range replies {
			if r.start.Before(restored) {
				continue
			}
			end := r.start.Add(r.took)
			if r.kind == "readyz" && r.status == 200 && (ready.IsZero() || end.Before(ready)) {
				ready = end
			}
			if r.kind == "create" && r.status == 201 && (created.IsZero() || end.Before(created)) {
				created = end
			}
		}
		mu.Unlock()
	}
	time.Sleep(500 * time.Millisecond)
	stopTraffic()
	if ready.IsZero() || created.IsZero() {
		t.Fatalf("the server did not recover within 20s of the database's return (ready %v, created %v)\n%s",
			!ready.IsZero(), !created.IsZero(), srv.stderr.String())
	}

	// Every phase, every request.
	counts := map[string]int{}
	var validAfterHang, validAfterCut time.Duration
	var refusedAfterTTL bool
	var acked []string
	for _, r := range replies {
		end := r.start.Add(r.took)
		if r.err != nil || r.took > requestTimeout+slack {
			t.Errorf("a request outlived its deadline (%s + %s): %s", requestTimeout, slack, r)
			continue
		}
		ok := r.status/100 == 2 && (r.kind != "verify" || r.code == keyward.CodeValid)
		if r.kind == "create" && r.status == http.StatusCreated {
			acked = append(acked, r.name)
		}
		phase := "after"
		switch {
		case end.Before(hung):
			phase = "before"
			if !ok {
				t.Errorf("before the outage: %s", r)
			}
		case r.start.After(hung) && end.Before(cut):
			phase = "hanging"
			switch {
			case r.kind == "verify" && ok:
				// Only from the cache: the entries were loaded before warmed, so within a TTL of it.
				validAfterHang = max(validAfterHang, end.Sub(hung))
				if !r.start.Before(warmed.Add(ttl)) {
					t.Errorf("VALID from a request sent %s after the cache was warmed, past the cache TTL %s: %s", r.start.Sub(warmed), ttl, r)
				}
			case r.kind == "readyz":
				if r.status != http.StatusServiceUnavailable {
					t.Errorf("readyz while the database hangs: %s, want 503", r)
				}
			case r.status == http.StatusGatewayTimeout, r.status == http.StatusServiceUnavailable && r.retryAfter != "":
				if r.kind == "verify" && r.start.After(warmed.Add(ttl)) {
					refusedAfterTTL = true
				}
			default:
				t.Errorf("while the database hangs: %s, want 504 (or 503 with Retry-After)", r)
			}
		case r.start.After(cut.Add(100*time.Millisecond)) && end.Before(restored):
			phase = "down"
			switch {
			case r.kind == "verify" && ok:
				validAfterCut = max(validAfterCut, end.Sub(cut))
				if !r.start.Before(cut.Add(ttl + 50*time.Millisecond)) {
					t.Errorf("VALID from a request sent %s after the database went down, past the cache TTL %s: %s", r.start.Sub(cut), ttl, r)
				}
			case r.status != http.StatusServiceUnavailable || r.retryAfter == "":
				t.Errorf("while the database is down: %s, want 503 with Retry-After", r)
			case r.kind == "verify" && r.start.After(cut.Add(ttl)):
				refusedAfterTTL = true
			}
		case end.Before(restored):
			phase = "transition"
		}
		counts[phase+" "+r.kind+" "+fmt.Sprint(r.status)]++
	}
	if !refusedAfterTTL {
		t.Error("no verification was refused past the cache TTL")
	}
	var keys []string
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var summary strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&summary, "\n  %-26s %d", k, counts[k])
	}
	t.Logf("requests by phase, kind and status:%s", summary.String())
	for _, phase := range []string{"hanging", "down"} {
		for _, kind := range []string{"verify", "create", "list", "readyz"} {
			n := 0
			for k, v := range counts {
				if strings.HasPrefix(k, phase+" "+kind+" ") {
					n += v
				}
			}
			if n == 0 {
				t.Errorf("no %s request fell in the %s phase: the test measured nothing there", kind, phase)
			}
		}
	}
	t.Logf("MEASURED cached verification kept answering VALID for %s after the database stopped answering, and for %s after it refused connections (--cache-ttl %s)",
		validAfterHang.Round(time.Millisecond), validAfterCut.Round(time.Millisecond), ttl)
	t.Logf("MEASURED after the database came back: /readyz 200 after %s, a create 201 after %s",
		ready.Sub(restored).Round(time.Millisecond), created.Sub(restored).Round(time.Millisecond))

	// Nothing acknowledged is lost.
	have := map[string]bool{}
	for cred, err := range c.AllCredentials(ctx, "acme", client.ListCredentialsOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		have[cred.Name] = true
	}
	for _, name := range acked {
		if !have[name] {
			t.Errorf("%s was acknowledged (201) but is not in the database", name)
		}
	}
	t.Logf("%d creates acknowledged, all found afterwards", len(acked))
	mustCode(t, hc, srv, admin, cached, keyward.CodeValid)
	srv.stop(t)
}

// TestLoginFailsClosedWithoutRedis: a replica whose --redis does not answer refuses logins (503)
// rather than let password guesses through unthrottled; everything else works.
func TestLoginFailsClosedWithoutRedis(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "redis://:r3dis-pw@" + ln.Addr().String() + "/0"
	ln.Close()
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	srv := startServer(t, t.TempDir(), "--bootstrap-token-file", tokenFile, "--redis", dead)
	admin := readToken(t, tokenFile, srv)
	hc := &http.Client{Timeout: 10 * time.Second}
	r := send(hc, "POST", srv.url+"/v1/login", "", keyward.LoginInput{Name: "admin", Password: "guess"}, nil)
	if r.status != http.StatusServiceUnavailable || r.retryAfter == "" {
		t.Fatalf("login without Redis: %s, want 503 with Retry-After", r)
	}
	if _, err := client.New(srv.url, admin).Whoami(context.Background()); err != nil {
		t.Fatalf("an API key without Redis: %v", err)
	}
	srv.stop(t)
	log := srv.stderr.String()
	if !strings.Contains(log, "Redis does not answer") || strings.Contains(log, "r3dis-pw") {
		t.Fatalf("the log does not warn about Redis, or shows its password:\n%s", log)
	}

	// A URL that is not Redis's is refused before anything is created.
	data := filepath.Join(t.TempDir(), "never")
	out, err := proctest.Command(t, keywardBinary(t), "serve", "--data", data, "--redis", "http://nope").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--redis") {
		t.Fatalf("serve accepted an http:// --redis: %v\n%s", err, out)
	}
	if _, err := os.Stat(data); err == nil {
		t.Fatal("serve created its data directory before refusing --redis")
	}
}
