package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/authoritytest"
	"github.com/keyward/keyward/metrics"
	"github.com/keyward/keyward/token"
)

// discardWriter is a ResponseWriter that keeps its header map between requests, as a
// server's connection does not, so that the benchmark counts the handler's work only.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkHotPath measures the server's own cost per request on the hot endpoints, with no
// network: POST /v1/verify and GET /v1/auth on cached keys, /v1/auth with well-formed keys that
// were never issued, and a bare handler for scale. Logging goes to io.Discard through slog's
// text handler, so the access line's formatting is counted but not its write.
func BenchmarkHotPath(b *testing.B) {
	ctx := context.Background()
	store := authoritytest.Store(b)
	a := authoritytest.New(b, store, authority.Options{})
	admin, err := a.Bootstrap(ctx)
	if err != nil {
		b.Fatal(err)
	}
	caller, err := a.Authenticate(ctx, admin, "127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	cctx := keyward.NewContext(ctx, caller)
	keys := make([]string, 100)
	for i := range keys {
		c, err := a.CreateCredential(cctx, keyward.SystemProject, keyward.CreateCredentialInput{Name: "bench-" + strconv.Itoa(i), NeverExpires: true})
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = c.Key
	}
	unknown := make([]string, 1000)
	for i := range unknown {
		if unknown[i], err = token.New(keyward.Live); err != nil {
			b.Fatal(err)
		}
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := httpapi.New(a, store, httpapi.Options{Logger: logger, Metrics: metrics.New(nil)})
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
	bodies := make([]string, len(keys))
	for i, k := range keys {
		bodies[i] = `{"key":"` + k + `"}`
	}
	cases := []struct {
		name   string
		h      http.Handler
		status int
		req    func(i int) *http.Request
	}{
		{"bare", bare, 200, func(i int) *http.Request {
			r, _ := http.NewRequest("POST", "/", strings.NewReader(bodies[i%len(bodies)]))
			return r
		}},
		{"verify", s, 200, func(i int) *http.Request {
			r, _ := http.NewRequest("POST", "/v1/verify", strings.NewReader(bodies[i%len(bodies)]))
			r.Header.Set("Authorization", "Bearer "+admin)
			r.Header.Set("Content-Type", "application/json")
			return r
		}},
		{"auth", s, 200, func(i int) *http.Request {
			r, _ := http.NewRequest("GET", "/v1/auth", nil)
			r.Header.Set("Authorization", "Bearer "+keys[i%len(keys)])
			return r
		}},
		{"auth-never-issued", s, 401, func(i int) *http.Request {
			r, _ := http.NewRequest("GET", "/v1/auth", nil)
			r.Header.Set("Authorization", "Bearer "+unknown[i%len(unknown)])
			return r
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			reqs := make([]*http.Request, 256)
			for i := range reqs {
				reqs[i] = c.req(i)
			}
			w := &discardWriter{h: http.Header{}}
			// One unmeasured pass loads every key into the cache.
			for _, r := range reqs {
				c.h.ServeHTTP(w, r.Clone(ctx))
			}
			if w.status != c.status {
				b.Fatalf("status %d, want %d", w.status, c.status)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				r := reqs[i%len(reqs)]
				if r.Body != nil && r.Body != http.NoBody {
					r.Body = io.NopCloser(strings.NewReader(bodies[i%len(reqs)%len(bodies)]))
				}
				clear(w.h)
				w.status = 0
				c.h.ServeHTTP(w, r)
			}
		})
	}
}
