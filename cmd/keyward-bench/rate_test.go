package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stallServer answers 200 to every request, except that from the first request on it holds
// every request (all connections at once) until stall has passed since that first request.
type stallServer struct {
	*httptest.Server
	stall    time.Duration
	requests atomic.Int64
	conns    atomic.Int64 // connections the server accepted

	mu    sync.Mutex
	until time.Time // end of the stall, set by the first request
}

func newStallServer(t *testing.T, stall time.Duration) *stallServer {
	s := &stallServer{stall: stall}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		if s.requests.Add(1) == 1 {
			s.until = time.Now().Add(s.stall)
		}
		until := s.until
		s.mu.Unlock()
		if d := time.Until(until); d > 0 {
			time.Sleep(d)
		}
		w.WriteHeader(http.StatusOK)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// poolFor opens n connections to s's listener, closed at the test's end.
func poolFor(t *testing.T, s *stallServer, n int) *ratePool {
	p, err := dialRatePool(strings.TrimPrefix(s.URL, "http://"), n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p
}

func testRequests(t *testing.T, s *stallServer) [][]byte {
	keys := filepath.Join(t.TempDir(), "k.keys")
	if err := os.WriteFile(keys, []byte("kw_a\nkw_b\n\nkw_c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reqs, err := rateRequests(target{name: "verify", base: s.URL, method: "POST", path: "/v1/verify",
		keysFile: keys, inBody: true, admin: "kw_admin", expect: 200})
	if err != nil {
		t.Fatal(err)
	}
	return reqs
}

func TestRateRequestsAreTheTargetsRequests(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "k.keys")
	if err := os.WriteFile(keys, []byte("kw_a\nkw_b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	verify, err := rateRequests(target{name: "verify", base: "http://127.0.0.1:9", method: "POST", path: "/v1/verify",
		keysFile: keys, inBody: true, admin: "kw_admin"})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := rateRequests(target{name: "auth", base: "http://127.0.0.1:9", method: "GET", path: "/v1/auth", keysFile: keys})
	if err != nil {
		t.Fatal(err)
	}
	if len(verify) != 2 || len(auth) != 2 {
		t.Fatalf("%d verify and %d auth requests, want 2 each (one per key)", len(verify), len(auth))
	}
	for i, k := range []string{"kw_a", "kw_b"} {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(verify[i])))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.URL.Path != "/v1/verify" || r.Host != "127.0.0.1:9" ||
			r.Header.Get("Authorization") != "Bearer kw_admin" || r.Header.Get("Content-Type") != "application/json" ||
			string(body) != `{"key":"`+k+`"}` || r.ContentLength != int64(len(body)) {
			t.Errorf("verify request %d: %s %s host %q headers %v body %q", i, r.Method, r.URL, r.Host, r.Header, body)
		}
		r, err = http.ReadRequest(bufio.NewReader(bytes.NewReader(auth[i])))
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(r.Body)
		if r.Method != "GET" || r.URL.Path != "/v1/auth" || r.Header.Get("Authorization") != "Bearer "+k || len(body) != 0 {
			t.Errorf("auth request %d: %s %s headers %v body %q", i, r.Method, r.URL, r.Header, body)
		}
	}
}

// At a modest rate every scheduled request is sent and answered, over the pool's connections
// only.
func TestRateSendsTheSchedule(t *testing.T) {
	s := newStallServer(t, 0)
	p := poolFor(t, s, 8)
	r := p.run(testRequests(t, s), 200, 2000, time.Second)
	if r.requests != 2000 {
		t.Fatalf("%d requests scheduled, want 2000 (rate x duration)", r.requests)
	}
	if int64(len(r.latencies)) != r.requests || r.transport != 0 || r.wrong != 0 || r.success != 1 || r.firstError != "" {
		t.Fatalf("%d of %d answered, %d without answer, %d wrong, success %v, error %q",
			len(r.latencies), r.requests, r.transport, r.wrong, r.success, r.firstError)
	}
	if got := s.requests.Load(); got != 2000 {
		t.Errorf("the server got %d requests, want 2000", got)
	}
	if got := s.conns.Load(); got != 8 {
		t.Errorf("the server saw %d connections, want the pool's 8", got)
	}
	if r.sent <= 0 || !(r.p50 <= r.p99 && r.p99 <= r.p999 && r.p999 <= r.max) {
		t.Errorf("sent/s %v, p50 %v p99 %v p99.9 %v max %v: want sent/s > 0 and ordered quantiles", r.sent, r.p50, r.p99, r.p999, r.max)
	}

	// Another status than expected counts as wrong, not as answered right.
	r = p.run(testRequests(t, s), 401, 1000, 100*time.Millisecond)
	if r.wrong != r.requests || r.success != 0 {
		t.Errorf("expecting 401 from a server answering 200: %d wrong of %d, success %v", r.wrong, r.requests, r.success)
	}
}

// A server stall counts for every request scheduled during it, not once per connection as in a
// closed loop: the requests due in the stall's first half waited at least its second half.
func TestRateCountsTheStallForEveryRequestDueInIt(t *testing.T) {
	const conns, rate, stall = 8, 2000, 200 * time.Millisecond
	s := newStallServer(t, stall)
	p := poolFor(t, s, conns)
	r := p.run(testRequests(t, s), 200, rate, 500*time.Millisecond)
	if int64(len(r.latencies)) != r.requests || r.transport != 0 {
		t.Fatalf("%d of %d answered (%q)", len(r.latencies), r.requests, r.firstError)
	}
	slow := 0
	for _, l := range r.latencies {
		if l >= stall/2 {
			slow++
		}
	}
	// About rate x stall/2 = 200 requests were due in the stall's first half; a closed loop
	// would show at most one slow request per connection.
	if slow < 100 {
		t.Errorf("%d requests of %d took >= %v, want at least 100 (a closed loop would show at most %d)", slow, len(r.latencies), stall/2, conns)
	}
	if r.max < stall/2 || r.p50 > r.max {
		t.Errorf("max %v, p50 %v: the stall is not in the latencies", r.max, r.p50)
	}
}

// A connection the server closes is not replaced: its remaining requests go without answer.
func TestRateNeverOpensConnectionsDuringARun(t *testing.T) {
	s := newStallServer(t, 0)
	p := poolFor(t, s, 2)
	_ = p.conns[0].c.Close()
	r := p.run(testRequests(t, s), 200, 1000, 100*time.Millisecond)
	if r.transport != 50 || int64(len(r.latencies)) != 50 || r.firstError == "" {
		t.Errorf("%d without answer, %d answered (%q), want 50 each and an error", r.transport, len(r.latencies), r.firstError)
	}
	if got := s.conns.Load(); got != 2 {
		t.Errorf("the server saw %d connections, want the pool's 2", got)
	}
}
