package projectkeys_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/dialect/projectkeys"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/authoritytest"
	"github.com/keyward/keyward/internal/goldenfile"
	"github.com/keyward/keyward/internal/logbuf"
	"github.com/keyward/keyward/internal/testclock"
	"github.com/keyward/keyward/password"
	"github.com/keyward/keyward/token"
)

// t0 is the test clock's start: 48 minutes before the seed's example startDate, so that the
// example's dates are in the future and the seed's own values can be sent.
var t0 = time.Date(2022, 8, 24, 12, 0, 0, 0, time.UTC)

// faultStore makes the database fail on demand, for the 500 and 503 cases.
type faultStore struct {
	keyward.Store
	mu    sync.Mutex
	fault error
}

func (s *faultStore) setFault(err error) {
	s.mu.Lock()
	s.fault = err
	s.mu.Unlock()
}

func (s *faultStore) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault
}

func (s *faultStore) CreateCredential(ctx context.Context, c *keyward.Credential, sec *keyward.CredentialSecret, ev *keyward.Event) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.CreateCredential(ctx, c, sec, ev)
}

func (s *faultStore) CredentialByID(ctx context.Context, projectID, id int64) (*keyward.Credential, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.CredentialByID(ctx, projectID, id)
}

func (s *faultStore) ListCredentials(ctx context.Context, f keyward.CredentialFilter) ([]*keyward.Credential, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.ListCredentials(ctx, f)
}

// stack is the real server: SQLite, the authority, the native API with the dialect mounted.
type stack struct {
	url   string
	a     *authority.Authority
	store *faultStore
	clock *testclock.Clock
	admin context.Context // the bootstrap admin, for setting up
	// owner is the owner's login session: keys it creates are ones the owner's key may act on
	// (a key made by the global admin holds more than any owner: the dominance rule).
	owner context.Context
	log   *logbuf.Buffer
	// Tokens by user: admin (global admin), owner (owner of acme and vault, an API key with
	// the owner role), svcadmin (ServiceStack's Admin in acme: every key permission but not
	// projects:admin), viewer (viewer in acme), keymaster (a custom role in vault with
	// projects:admin and every key permission but keys:reveal), outsider (no binding).
	tokens map[string]string
}

// Role ids of the built-in roles (authority.BuiltinRoles).
const (
	roleAdmin  = 1
	roleOwner  = 2
	roleClient = 4
	roleViewer = 6
)

func newStack(t testing.TB) *stack {
	t.Helper()
	ctx := context.Background()
	fs := &faultStore{Store: authoritytest.Store(t)}
	logs := &logbuf.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	clk := testclock.New(t0)
	a := authoritytest.New(t, fs, authority.Options{
		Now: clk.Now, Logger: logger, UsageFlushInterval: time.Hour,
		PasswordParams: password.Params{Memory: 1024, Time: 1, Threads: 1},
	})
	adminToken, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.InitCA(ctx); err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(a, fs, httpapi.Options{Logger: logger})
	projectkeys.New(a, projectkeys.Options{Logger: logger}).Register(api.Mount)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	caller, err := a.Authenticate(ctx, adminToken, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{url: srv.URL, a: a, store: fs, clock: clk, admin: keyward.NewContext(ctx, caller), log: logs,
		tokens: map[string]string{"admin": adminToken}}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, slug := range []string{"acme", "vault"} {
		must(a.CreateProject(s.admin, keyward.CreateProjectInput{Slug: slug}))
	}
	on := true
	must(a.UpdateProject(s.admin, "vault", keyward.UpdateProjectInput{RecoverableKeys: &on}))
	must(a.CreateRole(s.admin, keyward.RoleInput{Name: "keymaster", Permissions: []keyward.Permission{
		keyward.PermProjectsAdmin, keyward.PermProjectsRead, keyward.PermKeysCreate, keyward.PermKeysRead,
		keyward.PermKeysUpdate, keyward.PermKeysRevoke,
	}}))
	bindings := map[string][][2]string{
		"owner":     {{"acme", "owner"}, {"vault", "owner"}},
		"svcadmin":  {{"acme", "Admin"}},
		"viewer":    {{"acme", "viewer"}},
		"keymaster": {{"vault", "keymaster"}},
		"outsider":  nil,
	}
	for name, bs := range bindings {
		must(a.CreateUser(s.admin, keyward.CreateUserInput{Name: name, Password: "a long enough passphrase"}))
		for _, b := range bs {
			must(a.AddMember(s.admin, b[0], keyward.BindingInput{User: name, Role: b[1]}))
		}
		session, err := a.Login(ctx, keyward.LoginInput{Name: name, Password: "a long enough passphrase"}, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		s.tokens[name] = session.Key
	}
	// The owner acts through an API key of its own with the owner role, as a client would.
	sess, err := a.Authenticate(ctx, s.tokens["owner"], "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ownerKey, err := a.CreateCredential(keyward.NewContext(ctx, sess), "acme", keyward.CreateCredentialInput{
		Name: "owner-key", NeverExpires: true, Roles: []string{"owner"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.tokens["owner"] = ownerKey.Key
	s.owner = keyward.NewContext(ctx, sess)
	return s
}

// response is an HTTP answer and its envelope.
type response struct {
	status int
	header http.Header
	raw    []byte
	env    map[string]any
}

// result returns the envelope's result as an object.
func (r *response) result(t testing.TB) map[string]any {
	t.Helper()
	m, ok := r.env["result"].(map[string]any)
	if !ok {
		t.Fatalf("result is %T, want an object: %s", r.env["result"], r.raw)
	}
	return m
}

// do sends a request. auth is the whole Authorization header ("" for none); body is sent as
// JSON when it is not a string, as it is when it is one.
func (s *stack) do(t testing.TB, method, path, auth string, body any) *response {
	t.Helper()
	return s.doType(t, method, path, auth, "", body)
}

// doType is do with a Content-Type other than application/json.
func (s *stack) doType(t testing.TB, method, path, auth, ctype string, body any) *response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype == "" {
		ctype = "application/json"
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := &response{status: res.StatusCode, header: res.Header, raw: raw}
	if method != http.MethodHead {
		if err := json.Unmarshal(raw, &r.env); err != nil {
			t.Fatalf("%s %s: body is not JSON (%v): %s", method, path, err, raw)
		}
		checkEnvelope(t, r)
	}
	return r
}

// as sends a request authenticated as user, with "Bearer".
func (s *stack) as(t testing.TB, user, method, path string, body any) *response {
	t.Helper()
	tok, ok := s.tokens[user]
	if !ok {
		t.Fatalf("no user %q", user)
	}
	return s.do(t, method, path, "Bearer "+tok, body)
}

// checkEnvelope checks what every response shares: the six fields and their types, the status
// in the body equal to the HTTP status, success agreeing with it, and no cache.
func checkEnvelope(t testing.TB, r *response) {
	t.Helper()
	if len(r.env) != 6 {
		t.Errorf("envelope has %d fields, want 6: %s", len(r.env), r.raw)
	}
	success, ok := r.env["success"].(bool)
	if !ok {
		t.Errorf("success is %T, want bool", r.env["success"])
	}
	if got, want := success, r.status < 300; got != want {
		t.Errorf("success = %v with status %d", got, r.status)
	}
	for _, f := range []string{"errors", "messages"} {
		list, ok := r.env[f].([]any)
		if !ok {
			t.Errorf("%s is %T, want an array", f, r.env[f])
		}
		for _, v := range list {
			if _, ok := v.(string); !ok {
				t.Errorf("%s holds %T, want strings", f, v)
			}
		}
	}
	if got, want := len(r.env["errors"].([]any)) > 0, !success; got != want {
		t.Errorf("errors = %v with success %v", r.env["errors"], success)
	}
	if _, ok := r.env["resultInfo"].(string); !ok {
		t.Errorf("resultInfo is %T, want string", r.env["resultInfo"])
	}
	code, ok := r.env["statusCode"].(float64)
	if !ok || int(code) != r.status {
		t.Errorf("statusCode = %v, HTTP status %d", r.env["statusCode"], r.status)
	}
	if !success && r.env["result"] != nil {
		t.Errorf("a failure carries result %v", r.env["result"])
	}
	if got, want := r.header.Get("Content-Type"), "application/json; charset=utf-8"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	if got, want := r.header.Get("Cache-Control"), "no-store"; got != want {
		t.Errorf("Cache-Control = %q, want %q", got, want)
	}
}

var (
	maskedRE   = regexp.MustCompile(`kw_(live|test)_[0-9A-Za-z]{4}\*{8}`)
	idRE       = regexp.MustCompile(`"id":-?\d+`)
	cursorRE   = regexp.MustCompile(`"resultInfo":"[^"]+"`)
	maskedWant = regexp.MustCompile(`^kw_live_[0-9A-Za-z]{4}\*{8}$`)
)

// golden compares a response body, its volatile fields normalised (keys, ids, cursors; the
// clock is fixed, so instants are real), with testdata/golden/name.json; -update rewrites it.
func golden(t testing.TB, name string, raw []byte) {
	t.Helper()
	norm := token.Pattern.ReplaceAll(raw, []byte("<apiKey>"))
	norm = maskedRE.ReplaceAll(norm, []byte("kw_${1}_<start>********"))
	norm = idRE.ReplaceAll(norm, []byte(`"id":"<id>"`))
	norm = cursorRE.ReplaceAll(norm, []byte(`"resultInfo":"<cursor>"`))
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(norm), "", "  "); err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
	out.WriteByte('\n')
	goldenfile.Check(t, filepath.Join("testdata", "golden", name+".json"), out.Bytes())
}
