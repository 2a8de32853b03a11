package voltmx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/dialect/voltmx"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/authoritytest"
	"github.com/keyward/keyward/internal/goldenfile"
	"github.com/keyward/keyward/internal/logbuf"
	"github.com/keyward/keyward/password"
	"github.com/keyward/keyward/token"
)

// t0 is the authority's clock: every date the API writes is a function of it.
var t0 = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

const pw = "a long enough passphrase"

// faultyStore fails writes or key lookups on demand, for the 500 cases.
type faultyStore struct {
	keyward.Store
	failWrites, failReads atomic.Bool
	parent                *faultyStore // of a transaction's store: whose switches count
}

// root is the store whose switches count.
func (s *faultyStore) root() *faultyStore {
	if s.parent != nil {
		return s.parent
	}
	return s
}

// WithTx fails the transaction's writes and reads on demand too.
func (s *faultyStore) WithTx(ctx context.Context, fn func(tx keyward.Store) error) error {
	return s.Store.WithTx(ctx, func(tx keyward.Store) error {
		return fn(&faultyStore{Store: tx, parent: s.root()})
	})
}

var errDisk = errors.New("disk on fire at /var/lib/keyward")

func (s *faultyStore) UpdateCredential(ctx context.Context, c *keyward.Credential, ev *keyward.Event) error {
	if s.root().failWrites.Load() {
		return errDisk
	}
	return s.Store.UpdateCredential(ctx, c, ev)
}

func (s *faultyStore) CredentialBySecret(ctx context.Context, d []byte) (*keyward.Credential, *keyward.CredentialSecret, error) {
	if s.root().failReads.Load() {
		return nil, nil, errDisk
	}
	return s.Store.CredentialBySecret(ctx, d)
}

// env is a keyward server with the dialect mounted as keyward serve mounts it. Project acme
// keeps recoverable keys, globex does not. Users: olga (owner in acme), vera (viewer in
// acme), gus (owner in globex), each with a login session.
type env struct {
	url              string
	admin            string // the bootstrap admin's token
	olga, vera, gus  string // session tokens
	a                *authority.Authority
	store            *faultyStore
	log              *logbuf.Buffer
	adminCtx         context.Context
	acmeID, globexID int64
	dialectLog       *logbuf.Buffer
	mu               sync.Mutex
	produced         map[int]bool // statuses seen, for the seed's status table
	offset           atomic.Int64 // how far the clock is past t0
}

func start(t *testing.T, opts voltmx.Options) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{store: &faultyStore{Store: authoritytest.Store(t)}, log: &logbuf.Buffer{}, dialectLog: &logbuf.Buffer{}, produced: map[int]bool{}}
	e.a = authoritytest.New(t, e.store, authority.Options{
		Now: func() time.Time { return t0.Add(time.Duration(e.offset.Load())) }, UsageFlushInterval: time.Hour,
		PasswordParams: password.Params{Memory: 1024, Time: 1, Threads: 1},
		Logger:         slog.New(slog.NewTextHandler(e.log, nil)),
	})
	var err error
	if e.admin, err = e.a.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	caller, err := e.a.Authenticate(ctx, e.admin, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	e.adminCtx = keyward.NewContext(ctx, caller)
	for _, slug := range []string{"acme", "globex"} {
		p, err := e.a.CreateProject(e.adminCtx, keyward.CreateProjectInput{Slug: slug})
		if err != nil {
			t.Fatal(err)
		}
		if slug == "acme" {
			e.acmeID = p.ID
		} else {
			e.globexID = p.ID
		}
	}
	if _, err := e.a.UpdateProject(e.adminCtx, "acme", keyward.UpdateProjectInput{RecoverableKeys: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	e.olga = e.user(t, "olga", "acme", "owner")
	e.vera = e.user(t, "vera", "acme", "viewer")
	e.gus = e.user(t, "gus", "globex", "owner")

	api := httpapi.New(e.a, e.store, httpapi.Options{Logger: slog.New(slog.NewTextHandler(e.log, nil))})
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(e.dialectLog, nil))
	}
	voltmx.New(e.a, opts).Register(api.Mount)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func (e *env) user(t *testing.T, name, project, role string) string {
	t.Helper()
	if _, err := e.a.CreateUser(e.adminCtx, keyward.CreateUserInput{Name: name, Password: pw}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.AddMember(e.adminCtx, project, keyward.BindingInput{User: name, Role: role}); err != nil {
		t.Fatal(err)
	}
	s, err := e.a.Login(context.Background(), keyward.LoginInput{Name: name, Password: pw}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return s.Key
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) decode(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
	return m
}

// req is one request; auth is the X-VoltMX-Authorization value ("" for none) unless header
// says otherwise.
type req struct {
	method, path, auth, contentType, body string
	header                                map[string]string
}

func (e *env) do(t *testing.T, q req) *response {
	t.Helper()
	hr, err := http.NewRequest(q.method, e.url+q.path, strings.NewReader(q.body))
	if err != nil {
		t.Fatal(err)
	}
	if q.auth != "" {
		hr.Header.Set("X-VoltMX-Authorization", q.auth)
	}
	if q.contentType != "" {
		hr.Header.Set("Content-Type", q.contentType)
	}
	for k, v := range q.header {
		hr.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := &response{status: res.StatusCode, header: res.Header, body: b}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, want application/json; body %s", q.method, q.path, ct, b)
	}
	if got := res.Header.Get("Cache-Control"); got != "no-store" {
		t.Fatalf("%s %s: Cache-Control %q, want no-store", q.method, q.path, got)
	}
	if r.status >= 400 {
		// An error never echoes a key: not the one in the path, not the caller's.
		for _, k := range append(token.Pattern.FindAllString(q.path, -1), q.auth) {
			if k != "" && bytes.Contains(b, []byte(k)) {
				t.Fatalf("%s: error body echoes a key: %s", q.method, b)
			}
		}
		var eb struct {
			Status  int    `json:"status"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(b, &eb); err != nil || eb.Status != r.status || eb.Message == "" {
			t.Fatalf("error body %s: want {status: %d, message}", b, r.status)
		}
	}
	e.mu.Lock()
	e.produced[r.status] = true
	e.mu.Unlock()
	return r
}

func form(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(kv[i] + "=" + strings.ReplaceAll(strings.ReplaceAll(kv[i+1], " ", "+"), ":", "%3A"))
	}
	return b.String()
}

const formCT = "application/x-www-form-urlencoded"

// create makes a key in app as caller and returns it.
func (e *env) create(t *testing.T, caller, app string, kv ...string) string {
	t.Helper()
	r := e.do(t, req{method: "POST", path: voltmx.Path, auth: caller, contentType: formCT, body: form(append([]string{"appId", app}, kv...)...)})
	if r.status != http.StatusOK {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	m := r.decode(t)
	key, _ := m["id"].(string)
	if !token.Valid(key) {
		t.Fatalf("create: id %q is not a key", key)
	}
	return key
}

// details GETs a key's details as caller and returns result.
func (e *env) details(t *testing.T, caller, key string) map[string]any {
	t.Helper()
	r := e.do(t, req{method: "GET", path: voltmx.Path + "/" + key, auth: caller})
	if r.status != http.StatusOK {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	m := r.decode(t)
	if m["status"] != float64(200) {
		t.Fatalf("GET status field = %v, want 200", m["status"])
	}
	res, _ := m["result"].(map[string]any)
	return res
}

func ptr[T any](v T) *T { return &v }

var (
	maskedRE    = regexp.MustCompile(`kw_(live|test)_[0-9A-Za-z]{4}\*{8}`)
	requestIDRE = regexp.MustCompile(`"requestId":"[0-9a-f]+"`)
)

// golden compares a response body, with its keys and request id normalised, with
// testdata/golden/name.json; -update rewrites the file.
func golden(t *testing.T, name string, r *response) {
	t.Helper()
	b := token.Pattern.ReplaceAll(r.body, []byte("<key>"))
	b = maskedRE.ReplaceAll(b, []byte("<masked key>"))
	b = requestIDRE.ReplaceAll(b, []byte(`"requestId":"<request id>"`))
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("%s: %v in %s", name, err, b)
	}
	out.WriteByte('\n')
	goldenfile.Check(t, filepath.Join("testdata", "golden", name+".json"), out.Bytes())
}

// seed is what the test reads from the vendor's document in testdata.
type seed struct {
	inputs, outputs []string
	sample          map[string]any
	statuses        []int
}

// readSeed parses the Modify App API Key document: its parameter tables, its sample response
// and its status table.
func readSeed(t *testing.T) seed {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "seed_modify_app_api_key.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var s seed
	section, sample := "", ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "Input Parameters", line == "Output Parameters", line == "Sample Response", line == "Response Status":
			section = line
			continue
		case strings.HasPrefix(line, "Note:"):
			section = ""
			continue
		}
		cells := strings.Split(line, "|")
		first := strings.TrimSpace(cells[0])
		table := len(cells) > 2 && !strings.HasPrefix(first, "---")
		switch section {
		case "Input Parameters":
			if table && first != "Input Parameter" {
				s.inputs = append(s.inputs, first)
			}
		case "Output Parameters":
			if table && first != "Output Parameter" {
				s.outputs = append(s.outputs, first)
			}
		case "Sample Response":
			sample += line
		case "Response Status":
			if num, ok := strings.CutPrefix(first, "Status "); ok && table {
				var code int
				if _, err := fmt.Sscan(num, &code); err != nil {
					t.Fatalf("status row %q: %v", line, err)
				}
				s.statuses = append(s.statuses, code)
			}
		}
	}
	if err := json.Unmarshal([]byte(sample), &s.sample); err != nil {
		t.Fatalf("seed sample %q: %v", sample, err)
	}
	if len(s.inputs) != 3 || len(s.outputs) != 2 || len(s.statuses) != 4 {
		t.Fatalf("seed parsed as %+v; the document changed shape", s)
	}
	return s
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
