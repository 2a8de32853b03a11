package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

const testToken = "kw_live_TESTtoken0123456789abcdefghijABCDEFxyz"

// result is what one run of the CLI produced.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the CLI with args and stdin, with the environment cleared of KEYWARD_* but for
// KEYWARD_CONFIG_DIR, which is the test's own config dir.
func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runCLIEnv(t, nil, stdin, args...)
}

// configDirs holds each test's config dir, so that the runs of one test share it.
var configDirs sync.Map // *testing.T -> string

// testConfigDir returns the config dir of the runs of t, empty at first.
func testConfigDir(t *testing.T) string {
	t.Helper()
	if d, ok := configDirs.Load(t); ok {
		return d.(string)
	}
	d := filepath.Join(t.TempDir(), "keyward")
	configDirs.Store(t, d)
	t.Cleanup(func() { configDirs.Delete(t) })
	return d
}

// runCLIEnv is runCLI with env as the CLI's whole environment, besides its own config dir. The
// process environment is not touched (the CLI reads it through app.getenv), so that tests
// running the CLI can run in parallel.
func runCLIEnv(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	vars := map[string]string{"KEYWARD_CONFIG_DIR": testConfigDir(t)}
	for k, v := range env {
		vars[k] = v
	}
	var out, errb bytes.Buffer
	code := runEnv(args, strings.NewReader(stdin), &out, &errb, func(k string) string { return vars[k] })
	return result{code, out.String(), errb.String()}
}

// recorded is a request the fake server received.
type recorded struct {
	method, uri, ifMatch, auth, body string
}

// fakeServer answers "METHOD /path" with canned responses and records the requests.
type fakeServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
}

type canned struct {
	status int
	ctype  string
	body   string
}

func newFakeServer(t *testing.T, routes map[string]canned) *fakeServer {
	t.Helper()
	f := &fakeServer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, recorded{r.Method, r.URL.RequestURI(), r.Header.Get("If-Match"), r.Header.Get("Authorization"), string(b)})
		f.mu.Unlock()
		c, ok := routes[r.Method+" "+r.URL.RequestURI()]
		if !ok {
			c, ok = routes[r.Method+" "+r.URL.Path]
		}
		if !ok {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.RequestURI())
			c = canned{404, "application/problem+json", `{"detail":"no route","code":"not_found"}`}
		}
		if c.ctype == "" {
			c.ctype = "application/json"
		}
		w.Header().Set("Content-Type", c.ctype)
		w.WriteHeader(c.status)
		_, _ = io.WriteString(w, c.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) last(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("no request was sent")
	}
	return f.requests[len(f.requests)-1]
}

func (f *fakeServer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

const credJSON = `{"id":12,"project_id":3,"project":"acme","name":"ci","description":"deploys",
	"type":"API_TOKEN","environment":"live","key_type":"secret","role_ids":[1],"meta":{"team":"infra"},
	"expires_at":"2099-01-01T00:00:00Z","active":true,"created_at":"2026-03-01T12:00:00Z",
	"updated_at":"2026-03-01T12:00:00Z","version":3,"start":"kw_live_AbCd","state":"active"}`

const newKey = "kw_live_NEWsecretKEY0123456789abcdefghijABCD"

func issuedJSON() string { return strings.TrimSuffix(credJSON, "}") + `,"key":"` + newKey + `"}` }

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"Nil", nil, 0},
		{"CobraUsage", errors.New(`unknown flag: --bogus`), 2},
		{"UsageFromRun", &runError{usageErrorf("bad")}, 2},
		{"UsageDirect", usageErrorf("bad"), 2},
		{"Refused", &runError{keyward.Errorf(keyward.ENotFound, "no such key")}, 1},
		{"RefusedWrapped", &runError{fmt.Errorf("ctx: %w", keyward.Errorf(keyward.EConflict, "stale"))}, 1},
		{"Unreachable", &runError{&client.TransportError{Method: "GET", URL: "http://x", Err: errors.New("refused")}}, 3},
		{"OtherFailure", &runError{errors.New("disk full")}, 1},
		{"Exit", &runError{&exitError{1}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestReportRefusal(t *testing.T) {
	var b bytes.Buffer
	err := &runError{&keyward.Error{Code: keyward.EInvalid, Message: "invalid request",
		Fields: map[string]string{"name": "taken", "expires_at": "in the past"}}}
	if got := report(&b, nil, err); got != 1 {
		t.Errorf("code = %d, want 1", got)
	}
	want := "error: invalid request\n  expires_at: in the past\n  name: taken\n"
	if b.String() != want {
		t.Errorf("stderr = %q, want %q", b.String(), want)
	}
}

func TestUsage(t *testing.T) {
	r := runCLI(t, "")
	if r.code != 0 || !strings.Contains(r.stdout, "Exit codes:") {
		t.Errorf("no args: code %d, stdout %q", r.code, r.stdout)
	}
	for _, args := range [][]string{
		{"bogus"},
		{"key", "bogus"},
		{"project", "bogus"},
		{"audit", "bogus"},
		{"key", "list", "--bogus"},
		{"key", "get", "acme"},
		{"key", "get", "acme", "ci", "extra"},
		{"whoami", "extra"},
		{"key", "verify", "a", "b"},
		{"key", "list", "acme", "--limit", "ten"},
		{"serve", "--log-format", "xml"},
		{"user", "bogus"},
		{"role", "bogus"},
		{"project", "members"},
		{"login", "extra"},
		{"logout", "extra"},
	} {
		r := runCLI(t, "", args...)
		if r.code != 2 {
			t.Errorf("%v: code = %d, want 2 (stderr %q)", args, r.code, r.stderr)
		}
		if n := strings.Count(r.stderr, "error:"); n != 1 {
			t.Errorf("%v: stderr = %q, want one error line", args, r.stderr)
		}
	}
}

func TestTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	r := runCLI(t, "", "--server", url, "--token", testToken, "whoami")
	if r.code != 3 {
		t.Errorf("code = %d, want 3 (stderr %q)", r.code, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "error: cannot reach the server") || strings.Contains(r.stderr, testToken) {
		t.Errorf("stderr = %q", r.stderr)
	}
}

func TestEnvironment(t *testing.T) {
	f := newFakeServer(t, map[string]canned{
		"GET /v1/whoami": {200, "", `{"user":{"id":1,"name":"admin"},"permissions":{"*":["keys:read"]}}`},
	})
	t.Setenv("KEYWARD_SERVER", f.URL)
	t.Setenv("KEYWARD_TOKEN", testToken)
	var out, errb bytes.Buffer
	if code := run([]string{"whoami"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("code = %d, stderr %q", code, errb.String())
	}
	if got, want := f.last(t).auth, "Bearer "+testToken; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	if !strings.Contains(out.String(), "admin (id 1)") {
		t.Errorf("stdout = %q", out.String())
	}
	// A flag wins over the environment.
	out.Reset()
	errb.Reset()
	if code := run([]string{"--token", "kw_live_other0000000000000000000000000000000", "whoami"}, nil, &out, &errb); code != 0 {
		t.Fatalf("code = %d, stderr %q", code, errb.String())
	}
	if got := f.last(t).auth; got != "Bearer kw_live_other0000000000000000000000000000000" {
		t.Errorf("Authorization = %q", got)
	}
}

func TestServerRefusal(t *testing.T) {
	f := newFakeServer(t, map[string]canned{
		"POST /v1/projects/acme/credentials": {400, "application/problem+json",
			`{"title":"Bad Request","status":400,"detail":"invalid request","code":"invalid","errors":{"expiration_days":"must be between 1 and 3650"}}`},
		"GET /v1/projects/acme/credentials/nope": {404, "application/problem+json",
			`{"status":404,"detail":"credential \"nope\" not found","code":"not_found"}`},
		"GET /v1/whoami": {401, "application/problem+json", `{"status":401,"detail":"a valid API key is required","code":"unauthenticated"}`},
	})
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"key", "create", "acme", "--name", "ci", "--expiration-days", "99999"},
			"error: invalid request\n  expiration_days: must be between 1 and 3650\n"},
		{[]string{"key", "get", "acme", "nope"}, "error: credential \"nope\" not found\n"},
		{[]string{"whoami"}, "error: a valid API key is required\n"},
	}
	for _, tt := range tests {
		r := runCLI(t, "", append([]string{"--server", f.URL, "--token", testToken}, tt.args...)...)
		if r.code != 1 || r.stderr != tt.stderr || r.stdout != "" {
			t.Errorf("%v: code %d, stdout %q, stderr %q; want 1 and %q", tt.args, r.code, r.stdout, r.stderr, tt.stderr)
		}
	}
}
