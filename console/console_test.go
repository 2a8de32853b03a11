package console_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/console"
)

// TestSecurityHeaders: every console response, pages, files, redirects and refusals by the
// shared guard alike, carries the CSP without inline script or style and the other headers;
// pages are never cached.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	crossSite := func(r *http.Request) {
		r.Header.Set("Origin", "https://evil.example")
		r.Header.Set("Sec-Fetch-Site", "cross-site")
	}
	for _, tc := range []struct {
		name, method, path string
		edit               func(*http.Request)
		status             int
		page               bool
	}{
		{"LoginPage", "GET", "/login", nil, 200, true},
		{"Root", "GET", "/", nil, 303, true},
		{"NeedsLogin", "GET", "/projects", nil, 303, true},
		{"NoSuchPage", "GET", "/projects/acme/nothing/here", nil, 404, true},
		{"Static", "GET", "/static/console.css", nil, 200, false},
		{"Vendored", "GET", "/static/vendor/uplot/uPlot.iife.min.js", nil, 200, false},
		{"NoListing", "GET", "/static/vendor/", nil, 404, true},
		{"CrossSiteLogin", "POST", "/login", crossSite, 403, true},
		{"HostileQuery", "GET", "/login?x=%00", nil, 400, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, f.srv.URL+tc.path, strings.NewReader("name=admin&password=x"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.edit != nil {
				tc.edit(req)
			}
			res, err := f.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Errorf("status %d, want %d", res.StatusCode, tc.status)
			}
			want := map[string]string{
				"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
				"X-Content-Type-Options":  "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
			}
			if tc.page {
				want["Cache-Control"] = "no-store"
			}
			for k, v := range want {
				if got := res.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestSessionCookie: the login sets kw_session HttpOnly, SameSite=Strict, Path=/, Secure only
// when the request came over TLS; a wrong password sets nothing.
func TestSessionCookie(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := console.New(f.a, console.Options{Logger: slog.New(slog.DiscardHandler), Now: f.clock.Now})
	for _, tc := range []struct {
		name, target, pass string
		status             int
		secure, cookie     bool
	}{
		{"HTTP", "http://keyward.test/login", adminPassword, 303, false, true},
		{"TLS", "https://keyward.test/login", adminPassword, 303, true, true},
		{"WrongPassword", "https://keyward.test/login", "not the password at all", 401, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", tc.target, strings.NewReader(url.Values{"name": {"admin"}, "password": {tc.pass}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			cookies := rec.Result().Cookies()
			if !tc.cookie {
				if len(cookies) != 0 {
					t.Fatalf("cookies %v, want none", cookies)
				}
				return
			}
			if len(cookies) != 1 {
				t.Fatalf("cookies %v, want kw_session", cookies)
			}
			c := cookies[0]
			if c.Name != "kw_session" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure != tc.secure || c.MaxAge <= 0 {
				t.Errorf("cookie %+v", c)
			}
			if loc := rec.Header().Get("Location"); strings.Contains(loc, "kw_") {
				t.Errorf("redirect %q carries a token", loc)
			}
		})
	}
}

// TestCSRF: a form POST whose token is missing, wrong or another session's is refused with 403
// and changes nothing; the page's own token works.
func TestCSRF(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := f.login("admin", adminPassword)
	other := f.login("admin", adminPassword).csrf()
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"Missing", "", 403},
		{"Wrong", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 403},
		{"OtherSession", other, 403},
		{"OK", admin.csrf(), 303},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "k-" + strings.ToLower(tc.name)
			form := url.Values{"name": {name}, "type": {"API_TOKEN"}, "environment": {"live"}}
			if tc.token != "" {
				form.Set("csrf", tc.token)
			}
			res, body := admin.post("/projects/acme/credentials", form)
			if tc.status == 303 && res.StatusCode == 200 {
				res.StatusCode = 303 // the secret page answers the POST itself
			}
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, body)
			}
			_, err := f.a.Credential(f.admin, "acme", name)
			if created := err == nil; created != (tc.status != 403) {
				t.Fatalf("created %v after status %d", created, res.StatusCode)
			}
		})
	}
}

// TestViewer: a viewer sees no create, roll or revoke button, and a form posted anyway (with a
// valid CSRF token) is refused by the authority and changes nothing.
func TestViewer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: "web"})
	must(t, err)
	vera := f.login("vera", viewerPassword)
	_, body := vera.get("/projects/acme")
	if !strings.Contains(body, ">web</a>") || strings.Contains(body, `id="new-credential"`) {
		t.Errorf("a viewer's credentials page: %s", body)
	}
	_, body = vera.get("/projects/acme/credentials/web")
	for _, id := range []string{`id="roll"`, `id="revoke"`, `id="toggle"`, `id="renew-form"`} {
		if strings.Contains(body, id) {
			t.Errorf("a viewer sees %s", id)
		}
	}
	token := vera.csrf()
	for _, tc := range []struct{ path, form string }{
		{"/projects/acme/credentials", "name=planted&type=API_TOKEN"},
		{"/projects/acme/credentials/web/revoke", "confirm=web"},
		{"/projects/acme/credentials/web/roll", "grace_seconds=0"},
		{"/projects", "slug=planted"},
	} {
		form, _ := url.ParseQuery(tc.form)
		form.Set("csrf", token)
		if res, body := vera.post(tc.path, form); res.StatusCode != 403 {
			t.Errorf("POST %s as a viewer: %d %s", tc.path, res.StatusCode, body)
		}
	}
	c, err := f.a.Credential(f.admin, "acme", "web")
	must(t, err)
	if c.State != keyward.StateActive || c.Version != 1 {
		t.Errorf("web after the viewer's attempts: %s version %d", c.State, c.Version)
	}
	if _, err := f.a.Credential(f.admin, "acme", "planted"); keyward.ErrorCode(err) != keyward.ENotFound {
		t.Errorf("planted: %v", err)
	}
}

// TestOnlySessions: the cookie must hold a login session; an API key put there, a logged-out
// session or garbage send the browser to the login form.
func TestOnlySessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.login("admin", adminPassword)
	srvURL, _ := url.Parse(f.srv.URL)
	ended := u.client.Jar.Cookies(srvURL)[0].Value
	if res, _ := u.post("/logout", url.Values{"csrf": {u.csrf()}}); res.StatusCode != 303 || res.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	for _, tc := range []struct{ name, value string }{{"APIKey", f.token}, {"LoggedOut", ended}, {"Garbage", "x"}} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", f.srv.URL+"/projects", nil)
			req.AddCookie(&http.Cookie{Name: "kw_session", Value: tc.value})
			res, err := f.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 303 || res.Header.Get("Location") != "/login" {
				t.Errorf("%d %s, want a redirect to /login", res.StatusCode, res.Header.Get("Location"))
			}
		})
	}
}

var keyRE = regexp.MustCompile(`kw_live_[0-9A-Za-z]{38}`)

// TestSecretOnce: the key is in the response to the POST that creates it and in no page after;
// every redirect the console answers is free of secrets.
func TestSecretOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.login("admin", adminPassword)
	res, body := u.post("/projects/acme/credentials", url.Values{"csrf": {u.csrf()}, "name": {"web"}, "type": {"API_TOKEN"},
		"environment": {"live"}, "expiration_days": {"30"}, "roles": {"viewer"}})
	key := keyRE.FindString(body)
	if res.StatusCode != 200 || key == "" {
		t.Fatalf("create: %d %s", res.StatusCode, body)
	}
	v, err := f.a.Verify(f.admin, keyward.VerifyInput{Key: key})
	if err != nil || !v.Valid {
		t.Fatalf("the key shown does not verify: %v %v", v, err)
	}
	for _, p := range []string{"/projects/acme", "/projects/acme/credentials/web", "/audit", "/audit?project=acme"} {
		if _, body := u.get(p); strings.Contains(body, key) || strings.Contains(body, key[8:]) {
			t.Errorf("%s shows the key again", p)
		}
	}
	res, body = u.post("/projects/acme/credentials/web/roll", url.Values{"csrf": {u.csrf()}, "grace_seconds": {"3600"}})
	next := keyRE.FindString(body)
	if res.StatusCode != 200 || next == "" || next == key {
		t.Fatalf("roll: %d %s", res.StatusCode, body)
	}
	res, _ = u.post("/projects/acme/credentials/web/revoke", url.Values{"csrf": {u.csrf()}, "confirm": {"web"}})
	if loc := res.Header.Get("Location"); res.StatusCode != 303 || strings.Contains(loc, "kw_") {
		t.Fatalf("revoke: %d %s", res.StatusCode, loc)
	}
	c, err := f.a.Credential(f.admin, "acme", "web")
	must(t, err)
	if c.State != keyward.StateRevoked {
		t.Fatalf("after revoke: %s", c.State)
	}
	evs, err := f.a.ListEvents(f.admin, authority.ListEventsInput{Project: "acme", CredentialID: c.ID})
	must(t, err)
	if len(evs.Items) != 3 {
		t.Errorf("%d events for web, want create, roll, revoke", len(evs.Items))
	}
}

// TestCreateEachType: the create form makes each type through the authority; a token's page
// shows the key, a certificate's and a kubeconfig's a download of the bundle or the kubeconfig
// in a data: link (never a URL to fetch again).
func TestCreateEachType(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, err := f.a.CreateCluster(f.admin, keyward.ClusterInput{Name: "prod", Server: "https://k8s.example.com:6443"})
	must(t, err)
	u := f.login("admin", adminPassword)
	for _, tc := range []struct {
		name string
		form url.Values
		want []string
	}{
		{"Token", url.Values{"type": {"API_TOKEN"}}, []string{`id="secret"`, `id="copy"`}},
		{"Certificate", url.Values{"type": {"API_CERTIFICATE"}, "password": {"bundle-password"}},
			[]string{`href="data:application/x-pkcs12;base64,`, `download="cert.p12"`}},
		{"Kubeconfig", url.Values{"type": {"KUBE_CONFIG"}, "cluster": {"prod"}, "namespace": {"shop"}},
			[]string{`href="data:application/yaml;base64,`, `download="kube.kubeconfig"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := map[string]string{"Token": "tok", "Certificate": "cert", "Kubeconfig": "kube"}[tc.name]
			tc.form.Set("name", name)
			tc.form.Set("environment", "live")
			tc.form.Set("expiration_days", "30")
			tc.form.Set("csrf", u.csrf())
			res, body := u.post("/projects/acme/credentials", tc.form)
			if res.StatusCode != 200 {
				t.Fatalf("create: %d %s", res.StatusCode, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("the page lacks %s", w)
				}
			}
			c, err := f.a.Credential(f.admin, "acme", name)
			must(t, err)
			if string(c.Type) != tc.form.Get("type") {
				t.Errorf("type %s", c.Type)
			}
		})
	}
	// A refused create shows the form again, with what was typed and the reason, and no password.
	res, body := u.post("/projects/acme/credentials", url.Values{"csrf": {u.csrf()}, "type": {"API_CERTIFICATE"},
		"name": {"short"}, "password": {"abc"}, "environment": {"live"}})
	if res.StatusCode != 400 || !strings.Contains(body, `value="short"`) || strings.Contains(body, `value="abc"`) {
		t.Errorf("a refused create: %d %s", res.StatusCode, body)
	}
}

// TestPagesRender opens every page an administrator has and checks it answers 200 with its
// main element, and every page a viewer may not open answers as the API would.
func TestPagesRender(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: "web"})
	must(t, err)
	// The project page shows the key policy (issue 15: set by the API and CLI, shown here).
	_, err = f.a.SetProjectPolicy(f.admin, "acme", keyward.Policy{MaxLifetimeDays: 90, LeakAction: keyward.LeakDisable})
	must(t, err)
	admin := f.login("admin", adminPassword)
	vera := f.login("vera", viewerPassword)
	for _, tc := range []struct {
		u      *user
		path   string
		status int
		want   string
	}{
		{admin, "/projects", 200, `id="projects"`},
		{admin, "/projects/acme", 200, `id="credentials"`},
		{admin, "/projects/acme?state=active&type=API_TOKEN&environment=live&q=we", 200, ">web</a>"},
		{admin, "/projects/acme?state=bogus", 400, `id="error"`},
		{admin, "/projects/acme/new", 200, `id="create-form"`},
		{admin, "/projects/acme", 200, "<dt>Maximum lifetime</dt><dd>90 days</dd>"},
		{vera, "/projects/acme", 200, "<dt>A leaked key is</dt><dd>disabled</dd>"},
		{admin, "/projects/acme/credentials/web", 200, `id="trail"`},
		{admin, "/projects/acme/credentials/web/revoke", 200, `id="revoke-form"`},
		{admin, "/projects/acme/credentials/nothing", 404, `id="error"`},
		{admin, "/projects/acme/members", 200, `id="members"`},
		{admin, "/users", 200, `id="users"`},
		{admin, "/users/vera", 200, `id="bindings"`},
		{admin, "/roles", 200, `id="roles"`},
		{admin, "/clusters", 200, `id="clusters"`},
		{admin, "/audit", 200, `id="audit"`},
		{admin, "/audit?project=acme&credential=web", 200, "credential.create"},
		{admin, "/account", 200, "Change your password"},
		{vera, "/projects/acme", 200, `id="credentials"`},
		{vera, "/projects/acme/new", 403, `id="error"`},
		{vera, "/users", 403, `id="error"`},
		{vera, "/projects/system", 404, `id="error"`},
	} {
		res, body := tc.u.get(tc.path)
		if res.StatusCode != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d, want %d with %s", tc.path, res.StatusCode, tc.status, tc.want)
		}
	}
}
