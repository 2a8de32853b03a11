package console_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/console"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/authoritytest"
	"github.com/keyward/keyward/internal/testclock"
	"github.com/keyward/keyward/password"
)

// start is a fixed instant, so that no test depends on today's date.
var start = time.Date(2031, 3, 14, 10, 0, 0, 0, time.UTC)

const adminPassword = "correct horse staple 42"
const viewerPassword = "purple monkey dishwasher"

// fixture is a server assembled as keyward serve does (httpapi with the console mounted on it)
// over SQLite, with a project "acme", the admin (password adminPassword) and a user "vera"
// who is a viewer in acme (password viewerPassword).
type fixture struct {
	t      *testing.T
	a      *authority.Authority
	store  keyward.Store
	clock  *testclock.Clock
	srv    *httptest.Server
	admin  context.Context // the bootstrap admin's caller
	token  string          // the bootstrap admin token, for API calls
	client *http.Client    // no cookies, no redirects
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	clock := testclock.New(start)
	store := authoritytest.Store(t)
	a := authoritytest.New(t, store, authority.Options{Logger: logger, Now: clock.Now, UsageFlushInterval: 50 * time.Millisecond,
		PasswordParams: password.Params{Memory: 1024, Time: 1, Threads: 1}})
	tok, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.InitCA(ctx); err != nil {
		t.Fatal(err)
	}
	caller, err := a.Authenticate(ctx, tok, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	admin := keyward.NewContext(ctx, caller)
	must(t, a.SetPassword(admin, keyward.AdminUser, keyward.SetPasswordInput{Password: adminPassword}))
	_, err = a.CreateProject(admin, keyward.CreateProjectInput{Slug: "acme", Name: "Acme"})
	must(t, err)
	_, err = a.CreateUser(admin, keyward.CreateUserInput{Name: "vera", Password: viewerPassword})
	must(t, err)
	_, err = a.AddMember(admin, "acme", keyward.BindingInput{User: "vera", Role: "viewer"})
	must(t, err)

	api := httpapi.New(a, store, httpapi.Options{Logger: logger})
	console.New(a, console.Options{Logger: logger, Now: clock.Now}).Register(api.Mount)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &fixture{t: t, a: a, store: store, clock: clock, srv: srv, admin: admin, token: tok, client: noRedirect}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// user is a browser-like client of the console: a cookie jar, no automatic redirects.
type user struct {
	f      *fixture
	client *http.Client
}

// login logs name in through the console's form and returns its client.
func (f *fixture) login(name, pass string) *user {
	f.t.Helper()
	jar, _ := cookiejar.New(nil)
	u := &user{f: f, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	res, body := u.post("/login", url.Values{"name": {name}, "password": {pass}})
	if res.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("login as %s: %d %s", name, res.StatusCode, body)
	}
	return u
}

func (u *user) get(path string) (*http.Response, string) {
	u.f.t.Helper()
	res, err := u.client.Get(u.f.srv.URL + path)
	if err != nil {
		u.f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// post sends a form as the browser does, from the console's own origin.
func (u *user) post(path string, form url.Values) (*http.Response, string) {
	u.f.t.Helper()
	req, _ := http.NewRequest("POST", u.f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.f.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := u.client.Do(req)
	if err != nil {
		u.f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token of a page the user opens.
func (u *user) csrf() string {
	u.f.t.Helper()
	_, body := u.get("/projects")
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		u.f.t.Fatalf("no CSRF token on /projects: %s", body)
	}
	return m[1]
}
