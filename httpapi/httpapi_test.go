package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/authoritytest"
	"github.com/keyward/keyward/internal/logbuf"
	"github.com/keyward/keyward/internal/openapitest"
	"github.com/keyward/keyward/version"
)

// faultyStore lets a test make the database fail or hang.
type faultyStore struct {
	keyward.Store
	fail error         // returned by ListCredentials and Ping when set
	hang chan struct{} // ListCredentials blocks on it until the context ends
	// hangLoads makes VerificationBySecret block until the context ends.
	hangLoads atomic.Bool
}

func (s *faultyStore) VerificationBySecret(ctx context.Context, digest []byte) (*keyward.VerificationRecord, error) {
	if s.hangLoads.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.Store.VerificationBySecret(ctx, digest)
}

func (s *faultyStore) ListCredentials(ctx context.Context, f keyward.CredentialFilter) ([]*keyward.Credential, error) {
	if s.hang != nil {
		select {
		case <-s.hang:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if s.fail != nil {
		return nil, s.fail
	}
	return s.Store.ListCredentials(ctx, f)
}

func (s *faultyStore) Ping(ctx context.Context) error {
	if s.fail != nil {
		return s.fail
	}
	return s.Store.Ping(ctx)
}

type env struct {
	url   string
	token string
	store *faultyStore
	log   *logbuf.Buffer
	// handler is the server as every test must reach it: checked against the OpenAPI document.
	handler http.Handler
}

func start(t *testing.T, timeout time.Duration) *env {
	t.Helper()
	e, _ := startWith(t, authority.Options{}, timeout)
	return e
}

// startWith starts a server on a loopback port with the given authority options.
func startWith(t *testing.T, opts authority.Options, timeout time.Duration) (*env, *httpapi.Server) {
	t.Helper()
	return startOpts(t, &faultyStore{Store: authoritytest.Store(t)}, opts, httpapi.Options{RequestTimeout: timeout})
}

// startOpts starts a server over fs with the given options; the logger is the env's.
func startOpts(t *testing.T, fs *faultyStore, opts authority.Options, hopts httpapi.Options) (*env, *httpapi.Server) {
	t.Helper()
	ctx := context.Background()
	logBuf := &logbuf.Buffer{}
	logger := slog.New(slog.NewTextHandler(logBuf, nil))
	opts.Logger = logger
	a := authoritytest.New(t, fs, opts)
	tok, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.InitCA(ctx); err != nil {
		t.Fatal(err)
	}
	hopts.Logger = logger
	api := httpapi.New(a, fs, hopts)
	h := openapitest.Handler(t, api, nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{url: srv.URL, token: tok, store: fs, log: logBuf, handler: h}, api
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

func (e *env) do(t *testing.T, method, path, contentType, body string, header ...string) *response {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return &response{status: res.StatusCode, header: res.Header, body: b}
}

const credPath = "/v1/projects/system/credentials"

// counts returns how many credentials and audit events exist, to prove a refusal changed nothing.
func (e *env) counts(t *testing.T) (int, int) {
	t.Helper()
	var creds keyward.Page[keyward.Credential]
	e.do(t, "GET", credPath+"?limit=500", "", "").json(t, &creds)
	var events keyward.Page[keyward.Event]
	e.do(t, "GET", "/v1/audit?limit=500", "", "").json(t, &events)
	return len(creds.Items), len(events.Items)
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	e := start(t, 0)
	const js = "application/json"
	for _, tc := range []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		status      int
		code        keyward.Code
		field       string
	}{
		{"MalformedJSON", "POST", credPath, js, `{"name":`, 400, keyward.EInvalid, ""},
		{"NotAnObject", "POST", credPath, js, `[1,2]`, 400, keyward.EInvalid, ""},
		{"TrailingData", "POST", credPath, js, `{"name":"a"} {"name":"b"}`, 400, keyward.EInvalid, ""},
		{"UnknownField", "POST", credPath, js, `{"name":"a","colour":"red"}`, 400, keyward.EInvalid, "colour"},
		{"WrongTypeName", "POST", credPath, js, `{"name":42}`, 400, keyward.EInvalid, "name"},
		{"WrongTypeDays", "POST", credPath, js, `{"name":"a","expiration_days":"ten"}`, 400, keyward.EInvalid, "expiration_days"},
		{"WrongTypeMeta", "POST", credPath, js, `{"name":"a","meta":{"k":1}}`, 400, keyward.EInvalid, "meta"},
		{"BadTime", "POST", credPath, js, `{"name":"a","expires_at":"tomorrow"}`, 400, keyward.EInvalid, ""},
		{"Description101", "POST", credPath, js, `{"name":"a","description":"` + strings.Repeat("é", 101) + `"}`, 400, keyward.EInvalid, "description"},
		{"ExpiryInPast", "POST", credPath, js, `{"name":"a","expires_at":"2001-01-01T00:00:00Z"}`, 400, keyward.EInvalid, "expires_at"},
		{"DaysZero", "POST", credPath, js, `{"name":"a","expiration_days":0}`, 400, keyward.EInvalid, "expiration_days"},
		{"DaysAbsurd", "POST", credPath, js, `{"name":"a","expiration_days":99999999}`, 400, keyward.EInvalid, "expiration_days"},
		{"InvalidName", "POST", credPath, js, `{"name":"../etc"}`, 400, keyward.EInvalid, "name"},
		{"EmptyBody", "POST", credPath, js, ``, 400, keyward.EInvalid, ""},
		{"BadLimit", "GET", credPath + "?limit=x", "", ``, 400, keyward.EInvalid, "limit"},
		{"BadState", "GET", credPath + "?state=sleeping", "", ``, 400, keyward.EInvalid, "state"},
		{"NoContentType", "POST", credPath, "", `{"name":"a"}`, 415, keyward.EUnsupported, ""},
		{"FormBody", "POST", credPath, "application/x-www-form-urlencoded", `name=a`, 415, keyward.EUnsupported, ""},
		{"TooLarge", "POST", credPath, js, `{"name":"a","description":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`, 413, keyward.ETooLarge, ""},
		{"UnknownProject", "GET", "/v1/projects/nope/credentials", "", ``, 404, keyward.ENotFound, ""},
		{"UnknownCredential", "GET", credPath + "/nope", "", ``, 404, keyward.ENotFound, ""},
		{"UnknownPath", "GET", "/v1/nothing", "", ``, 404, keyward.ENotFound, ""},
		{"MethodNotAllowed", "PUT", credPath, js, `{}`, 405, keyward.EMethodNotAllowed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds, events := e.counts(t)
			r := e.do(t, tc.method, tc.path, tc.contentType, tc.body)
			if r.status != tc.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tc.status, r.body)
			}
			if got, want := r.header.Get("Content-Type"), "application/problem+json"; got != want {
				t.Fatalf("Content-Type = %q, want %q", got, want)
			}
			var p httpapi.Problem
			r.json(t, &p)
			if p.Code != tc.code || p.Status != tc.status || p.Detail == "" {
				t.Fatalf("problem = %+v, want code %s", p, tc.code)
			}
			if tc.field != "" && p.Errors[tc.field] == "" {
				t.Fatalf("problem errors %v do not name %q", p.Errors, tc.field)
			}
			if c2, e2 := e.counts(t); c2 != creds || e2 != events {
				t.Fatalf("refused request changed the store: credentials %d->%d, events %d->%d", creds, c2, events, e2)
			}
		})
	}
	t.Run("MethodNotAllowedAllow", func(t *testing.T) {
		r := e.do(t, "DELETE", "/v1/projects", "", "")
		if got, want := r.header.Get("Allow"), "GET, HEAD, POST"; got != want {
			t.Fatalf("Allow = %q, want %q", got, want)
		}
	})
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := start(t, 0)
	for _, tc := range []struct {
		name   string
		header []string
		status int
	}{
		{"Bearer", []string{"Authorization", "Bearer " + e.token}, 200},
		{"APIToken", []string{"Authorization", "APIToken " + e.token}, 200},
		{"XAPIKey", []string{"Authorization", "", "X-API-Key", e.token}, 200},
		{"Missing", []string{"Authorization", ""}, 401},
		{"WrongScheme", []string{"Authorization", "Basic " + e.token}, 401},
		{"Mistyped", []string{"Authorization", "Bearer " + mistype(e.token)}, 401},
		{"Unknown", []string{"Authorization", "Bearer kw_live_00000000000000000000000000000000000000"}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, "GET", "/v1/whoami", "", "", tc.header...)
			if r.status != tc.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	var who keyward.Whoami
	e.do(t, "GET", "/v1/whoami", "", "").json(t, &who)
	if who.User.Name != keyward.AdminUser || len(who.Permissions["*"]) != len(keyward.AllPermissions) {
		t.Fatalf("whoami = %+v", who)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	e := start(t, 0)
	const js = "application/json"
	r := e.do(t, "POST", "/v1/projects", js, `{"slug":"acme","name":"Acme"}`)
	if r.status != 201 {
		t.Fatalf("create project: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", "/v1/projects", js, `{"slug":"acme"}`); r.status != 409 {
		t.Fatalf("duplicate project: %d", r.status)
	}
	r = e.do(t, "POST", "/v1/projects/acme/credentials", js, `{"name":"web","description":"web tier","expiration_days":30,"meta":{"team":"web"}}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var issued keyward.IssuedCredential
	r.json(t, &issued)
	if issued.Key == "" || issued.State != keyward.StateActive || issued.Version != 1 || issued.ExpiresAt == nil {
		t.Fatalf("issued = %+v", issued)
	}
	if got, want := r.header.Get("ETag"), `"1"`; got != want {
		t.Fatalf("ETag = %q, want %q", got, want)
	}
	if r := e.do(t, "POST", "/v1/projects/acme/credentials", js, `{"name":"web"}`); r.status != 409 {
		t.Fatalf("duplicate name: %d", r.status)
	}
	// The key is never returned again.
	for _, path := range []string{"/v1/projects/acme/credentials/web", "/v1/projects/acme/credentials"} {
		if r := e.do(t, "GET", path, "", ""); bytes.Contains(r.body, []byte(issued.Key)) || bytes.Contains(r.body, []byte(`"key"`)) {
			t.Fatalf("GET %s shows the key", path)
		}
	}
	verify := func(key string) keyward.Verification {
		var v keyward.Verification
		r := e.do(t, "POST", "/v1/verify", js, `{"key":"`+key+`"}`)
		if r.status != 200 {
			t.Fatalf("verify: %d %s", r.status, r.body)
		}
		r.json(t, &v)
		return v
	}
	if v := verify(issued.Key); !v.Valid || v.Code != "VALID" || v.Project != "acme" || v.Meta["team"] != "web" || v.CredentialID != issued.ID {
		t.Fatalf("verify = %+v", v)
	}
	// PATCH with If-Match: the right version succeeds, a stale one is 409.
	if r := e.do(t, "PATCH", "/v1/projects/acme/credentials/web", js, `{"description":"new"}`, "If-Match", `"1"`); r.status != 200 || r.header.Get("ETag") != `"2"` {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	if r := e.do(t, "PATCH", "/v1/projects/acme/credentials/web", js, `{"description":"newer"}`, "If-Match", `"1"`); r.status != 409 {
		t.Fatalf("stale patch: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", "/v1/projects/acme/credentials/web/renew", js, `{"expiration_days":60}`); r.status != 200 {
		t.Fatalf("renew: %d %s", r.status, r.body)
	}
	r = e.do(t, "POST", "/v1/projects/acme/credentials/web/roll", js, `{"grace_seconds":0}`)
	var rolled keyward.IssuedCredential
	r.json(t, &rolled)
	if r.status != 200 || rolled.Key == "" || rolled.Key == issued.Key {
		t.Fatalf("roll: %d %s", r.status, r.body)
	}
	if v := verify(issued.Key); v.Valid || v.Code != "NOT_FOUND" {
		t.Fatalf("old key after roll = %+v", v)
	}
	if r := e.do(t, "DELETE", "/v1/projects/acme/credentials/web", "", ""); r.status != 200 {
		t.Fatalf("revoke: %d", r.status)
	}
	if r := e.do(t, "DELETE", "/v1/projects/acme/credentials/web", "", ""); r.status != 200 {
		t.Fatalf("second revoke: %d", r.status)
	}
	if v := verify(rolled.Key); v.Valid || v.Code != "REVOKED" {
		t.Fatalf("after revoke = %+v", v)
	}
	var page keyward.Page[keyward.Credential]
	e.do(t, "GET", "/v1/projects/acme/credentials?state=revoked", "", "").json(t, &page)
	if len(page.Items) != 1 || page.Items[0].State != keyward.StateRevoked {
		t.Fatalf("revoked filter = %+v", page.Items)
	}
	var events keyward.Page[keyward.Event]
	e.do(t, "GET", "/v1/audit?project=acme", "", "").json(t, &events)
	var actions []string
	for _, ev := range events.Items {
		actions = append(actions, ev.Action)
		if ev.Actor != keyward.AdminUser || ev.RemoteAddr == "" || ev.Outcome != keyward.OutcomeSuccess {
			t.Fatalf("event lacks who/where/outcome: %+v", ev)
		}
	}
	if got, want := strings.Join(actions, ","), "credential.revoke,credential.roll,credential.renew,credential.update,credential.create,project.create"; got != want {
		t.Fatalf("audit = %s, want %s", got, want)
	}
	// Neither key ever reaches the log.
	for _, k := range []string{issued.Key, rolled.Key, e.token} {
		if strings.Contains(e.log.String(), k) {
			t.Fatal("a key appears in the server log")
		}
	}
}

func TestServerFailures(t *testing.T) {
	t.Parallel()
	t.Run("Internal", func(t *testing.T) {
		e := start(t, 0)
		e.store.fail = errors.New("disk on fire at /var/lib/secret-path")
		r := e.do(t, "GET", credPath, "", "")
		if r.status != 500 || bytes.Contains(r.body, []byte("fire")) || bytes.Contains(r.body, []byte("secret-path")) {
			t.Fatalf("500 = %d %s", r.status, r.body)
		}
		if !strings.Contains(e.log.String(), "disk on fire") {
			t.Fatal("the internal detail was not logged")
		}
	})
	t.Run("Unavailable", func(t *testing.T) {
		e := start(t, 0)
		e.store.fail = &keyward.Error{Code: keyward.EUnavailable, Message: "database unavailable", RetryAfter: 2 * time.Second}
		r := e.do(t, "GET", credPath, "", "")
		if r.status != 503 || r.header.Get("Retry-After") != "2" {
			t.Fatalf("503 = %d %v %s", r.status, r.header, r.body)
		}
		if r := e.do(t, "GET", "/readyz", "", ""); r.status != 503 {
			t.Fatalf("readyz = %d", r.status)
		}
	})
	t.Run("ReadyzVersion", func(t *testing.T) {
		e := start(t, 0)
		r := e.do(t, "GET", "/readyz", "", "")
		var body map[string]string
		if err := json.Unmarshal(r.body, &body); err != nil || r.status != 200 || body["version"] != version.Get().String() {
			t.Fatalf("readyz = %d %s; want 200 with this build's version", r.status, r.body)
		}
	})
	t.Run("Deadline", func(t *testing.T) {
		e := start(t, 100*time.Millisecond)
		e.store.hang = make(chan struct{})
		r := e.do(t, "GET", credPath, "", "")
		if r.status != 504 {
			t.Fatalf("status = %d, want 504: %s", r.status, r.body)
		}
	})
}

func TestStatusOf(t *testing.T) {
	t.Parallel()
	for code, want := range map[keyward.Code]int{
		keyward.EInvalid: 400, keyward.EUnauthenticated: 401, keyward.EForbidden: 403, keyward.ENotFound: 404,
		keyward.EMethodNotAllowed: 405, keyward.EConflict: 409, keyward.ETooLarge: 413, keyward.EUnsupported: 415,
		keyward.ERateLimited: 429, keyward.EInternal: 500, keyward.EUnavailable: 503, keyward.ETimeout: 504,
	} {
		if got := httpapi.StatusOf(code); got != want {
			t.Errorf("StatusOf(%s) = %d, want %d", code, got, want)
		}
	}
}

func TestRedactKeys(t *testing.T) {
	t.Parallel()
	key := "kw_live_" + strings.Repeat("A", 38)
	for in, want := range map[string]string{
		"/api/v1/applications/key/" + key:        "/api/v1/applications/key/kw_live_AAAA...",
		"/v1/projects/acme/credentials/web/roll": "/v1/projects/acme/credentials/web/roll",
		"/a/" + key + "/b/" + key:                "/a/kw_live_AAAA.../b/kw_live_AAAA...",
	} {
		if got := httpapi.RedactKeys(in); got != want {
			t.Errorf("RedactKeys(%q) = %q, want %q", in, got, want)
		}
	}
}

// mistype changes the last character of key, always to another one (a key may end in x).
func mistype(key string) string {
	if strings.HasSuffix(key, "x") {
		return key[:len(key)-1] + "y"
	}
	return key[:len(key)-1] + "x"
}
