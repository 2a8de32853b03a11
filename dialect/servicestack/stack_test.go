package servicestack

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/authoritytest"
	"github.com/keyward/keyward/internal/goldenfile"
	"github.com/keyward/keyward/password"
)

// seedFile is this dialect's vendor document, copied from ../shared/seeds.
const seedFile = "testdata/004_d7be626825d7bd23.txt"

// seedExample is what the seed document specifies: its routes, its role requirement, and its
// sample HTTP exchange.
type seedExample struct {
	routes          []string // "POST /auth/apikeys/regenerate"
	roles           []string
	method, path    string
	requestHeaders  [][2]string
	requestBody     string
	status          int
	responseHeaders [][2]string
	responseBody    string
}

var (
	seedRouteRE   = regexp.MustCompile(`^(GET|POST|PUT|PATCH|DELETE)(/\S*)$`)
	seedRequestRE = regexp.MustCompile(`^(GET|POST|PUT|PATCH|DELETE) (/\S*) HTTP/1\.1\s*$`)
	seedStatusRE  = regexp.MustCompile(`^HTTP/1\.1 (\d{3}) `)
)

// readSeed extracts the seed's routes, roles and sample exchange from testdata.
func readSeed(t *testing.T) *seedExample {
	t.Helper()
	data, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	ex := &seedExample{}
	lines := strings.Split(string(data), "\n")
	headers := func(i int) ([][2]string, int) {
		var hs [][2]string
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			k, v, ok := strings.Cut(lines[i], ":")
			if !ok {
				t.Fatalf("seed line %d is not a header: %q", i+1, lines[i])
			}
			hs = append(hs, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
		}
		return hs, i + 1
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if m := seedRouteRE.FindStringSubmatch(line); m != nil {
			ex.routes = append(ex.routes, m[1]+" "+m[2])
		}
		if rest, ok := strings.CutPrefix(line, "Requires any of the roles:"); ok {
			for _, r := range strings.Split(rest, ",") {
				ex.roles = append(ex.roles, strings.TrimSpace(r))
			}
		}
		m := seedRequestRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ex.method, ex.path = m[1], m[2]
		ex.requestHeaders, i = headers(i + 1)
		start := i
		for ; i < len(lines) && !seedStatusRE.MatchString(lines[i]); i++ {
		}
		ex.requestBody = strings.Join(lines[start:i], "\n")
		if i == len(lines) {
			t.Fatal("the seed's sample request has no response")
		}
		ex.status, _ = strconv.Atoi(seedStatusRE.FindStringSubmatch(lines[i])[1])
		ex.responseHeaders, i = headers(i + 1)
		ex.responseBody = strings.Join(lines[i:], "\n")
		break
	}
	if ex.method == "" || len(ex.routes) == 0 || len(ex.roles) == 0 {
		t.Fatalf("could not find the sample exchange, routes and roles in %s", seedFile)
	}
	return ex
}

func (ex *seedExample) header(hs [][2]string, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// t0 is the stack's clock: every date in a response is known in advance.
var t0 = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

// stack is the real server: SQLite, the authority, the native API with this dialect mounted.
type stack struct {
	url   string
	admin string // the bootstrap admin token
	a     *authority.Authority
}

func startStack(t *testing.T, opts Options) *stack {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := authoritytest.Store(t)
	a := authoritytest.New(t, s, authority.Options{
		Logger: logger, Now: func() time.Time { return t0 },
		PasswordParams: password.Params{Memory: 1024, Time: 1, Threads: 1}, UsageFlushInterval: time.Hour,
	})
	tok, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.InitCA(ctx); err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(a, s, httpapi.Options{Logger: logger})
	opts.Logger = logger
	New(a, opts).Register(api.Mount)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &stack{url: srv.URL, admin: tok, a: a}
}

type req struct {
	method, path string
	bearer       string     // Authorization: Bearer
	basic        *[2]string // HTTP Basic user and password
	header       map[string]string
	body         string
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (s *stack) do(t *testing.T, rq req) *resp {
	t.Helper()
	hr, err := http.NewRequest(rq.method, s.url+rq.path, strings.NewReader(rq.body))
	if err != nil {
		t.Fatal(err)
	}
	if rq.bearer != "" {
		hr.Header.Set("Authorization", "Bearer "+rq.bearer)
	}
	if rq.basic != nil {
		hr.SetBasicAuth(rq.basic[0], rq.basic[1])
	}
	for k, v := range rq.header {
		hr.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &resp{status: res.StatusCode, header: res.Header, body: body}
}

// native calls the native API as the admin and decodes its JSON answer.
func (s *stack) native(t *testing.T, method, path string, in, out any) int {
	t.Helper()
	var body string
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
	}
	r := s.do(t, req{method: method, path: path, bearer: s.admin, body: body, header: map[string]string{"Content-Type": "application/json"}})
	if out != nil && r.status < 300 {
		if err := json.Unmarshal(r.body, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, r.body)
		}
	}
	return r.status
}

// user creates a user with a role in each of the given projects (project:role) and returns
// its login session token.
func (s *stack) user(t *testing.T, name string, bindings ...string) string {
	t.Helper()
	const pw = "correct horse battery staple"
	if st := s.native(t, "POST", "/v1/users", map[string]string{"name": name, "password": pw}, nil); st != http.StatusCreated {
		t.Fatalf("create user %s: %d", name, st)
	}
	for _, b := range bindings {
		project, role, _ := strings.Cut(b, ":")
		if st := s.native(t, "POST", "/v1/projects/"+project+"/members", map[string]string{"user": name, "role": role}, nil); st != http.StatusCreated {
			t.Fatalf("bind %s to %s: %d", name, b, st)
		}
	}
	var session struct{ Key string }
	r := s.do(t, req{method: "POST", path: "/v1/login", body: `{"name":"` + name + `","password":"` + pw + `"}`, header: map[string]string{"Content-Type": "application/json"}})
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &session) != nil || session.Key == "" {
		t.Fatalf("login %s: %d %s", name, r.status, r.body)
	}
	return session.Key
}

func (s *stack) project(t *testing.T, slug string, recoverable bool) {
	t.Helper()
	if st := s.native(t, "POST", "/v1/projects", map[string]string{"slug": slug}, nil); st != http.StatusCreated {
		t.Fatalf("create project %s: %d", slug, st)
	}
	if recoverable {
		if st := s.native(t, "PATCH", "/v1/projects/"+slug, map[string]bool{"recoverable_keys": true}, nil); st != http.StatusOK {
			t.Fatalf("recoverable keys in %s: %d", slug, st)
		}
	}
}

func (r *resp) mediaType(t *testing.T) string {
	t.Helper()
	mt, _, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", r.header.Get("Content-Type"), err)
	}
	return mt
}

// decode reads the body in the format its Content-Type names.
func (r *resp) decode(t *testing.T, v any) {
	t.Helper()
	var err error
	switch mt := r.mediaType(t); mt {
	case "application/json":
		dec := json.NewDecoder(bytes.NewReader(r.body))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
	case "text/jsv":
		err = UnmarshalJSV(r.body, v)
	default:
		t.Fatalf("unexpected Content-Type %s: %s", mt, r.body)
	}
	if err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

var (
	tokenRE  = regexp.MustCompile(`kw_(live|test)_[0-9A-Za-z]{38}`)
	maskedRE = regexp.MustCompile(`kw_(live|test)_[0-9A-Za-z]{4}\*{8}`)
)

// golden compares a response (status, content type, body with keys replaced by placeholders)
// with testdata/golden/<name>; -update rewrites it.
func golden(t *testing.T, name string, r *resp) {
	t.Helper()
	body := tokenRE.ReplaceAll(r.body, []byte("kw_${1}_<KEY>"))
	body = maskedRE.ReplaceAll(body, []byte("kw_${1}_<START>********"))
	var b bytes.Buffer
	b.WriteString("HTTP " + strconv.Itoa(r.status) + "\n")
	for _, h := range []string{"Content-Type", "Allow", "WWW-Authenticate"} {
		for _, v := range r.header.Values(h) {
			b.WriteString(h + ": " + v + "\n")
		}
	}
	b.WriteString("\n")
	b.Write(body)
	b.WriteString("\n")
	goldenfile.Check(t, filepath.Join("testdata", "golden", name), b.Bytes())
}
