package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/dialect/f5xc"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/authoritytest"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgrestest"
	"github.com/keyward/keyward/snapshot"
)

// surfaceEnv is every HTTP surface as keyward serve assembles it (newHandler), over TLS that
// asks for a client certificate, on one store, with a project "acme" holding the credential
// "web", the key "app" and the admin's API certificate "badge", a cluster "prod" and a user "bob".
type surfaceEnv struct {
	t      *testing.T
	store  keyward.Store
	api    *httpapi.Server
	srv    *httptest.Server
	admin  string // the bootstrap admin's token
	web    *keyward.IssuedCredential
	app    *keyward.IssuedCredential // a second key, which Volt MX addresses by its value
	client *http.Client              // presents no certificate
	badge  *http.Client              // presents the admin's API certificate, as a browser holding it does
}

func startSurfaces(t *testing.T, store keyward.Store) *surfaceEnv {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	// Uses are written at Close only, so that a snapshot taken between requests is stable.
	a := authoritytest.New(t, store, authority.Options{Logger: logger, UsageFlushInterval: time.Hour})
	admin, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.InitCA(ctx); err != nil {
		t.Fatal(err)
	}
	caller, err := a.Authenticate(ctx, admin, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	actx := keyward.NewContext(ctx, caller)
	if _, err := a.CreateProject(actx, keyward.CreateProjectInput{Slug: "acme"}); err != nil {
		t.Fatal(err)
	}
	web, err := a.CreateCredential(actx, "acme", keyward.CreateCredentialInput{Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	app, err := a.CreateCredential(actx, "acme", keyward.CreateCredentialInput{Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	const password = "badge-password"
	badge, err := a.CreateCredential(actx, "acme", keyward.CreateCredentialInput{Name: "badge", Type: keyward.APICertificate,
		CertificateOptions: keyward.CertificateOptions{Password: password}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateCluster(actx, keyward.ClusterInput{Name: "prod", Server: "https://k8s.example.com:6443"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateUser(actx, keyward.CreateUserInput{Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	h, _ := newHandler(serveConfig{requestTimeout: 30 * time.Second}, a, store, logger, "")
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	p12, err := base64.StdEncoding.DecodeString(badge.Data)
	if err != nil {
		t.Fatal(err)
	}
	key, cert, _, err := pkcs12.DecodeChain(p12, password)
	if err != nil {
		t.Fatal(err)
	}
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}}
	return &surfaceEnv{t: t, store: store, api: h.(*httpapi.Server), srv: srv, admin: admin, web: web, app: app,
		client: srv.Client(), badge: &http.Client{Transport: tr}}
}

func postgresStore(t *testing.T) keyward.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgrestest.SchemaURL(t, postgrestest.URL(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// export reads every row of the store.
func (e *surfaceEnv) export(t *testing.T) *snapshot.Snapshot {
	t.Helper()
	snap, err := e.store.(snapshot.Exporter).Export(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// unchanged fails t when the store holds other rows than before.
func (e *surfaceEnv) unchanged(t *testing.T, what string, before *snapshot.Snapshot) {
	t.Helper()
	if d := snapshot.Diff(before, e.export(t)); d != nil {
		t.Fatalf("%s changed the store: %v", what, d)
	}
}

// hostileRequest is one request a test sends.
type hostileRequest struct {
	method, path, contentType, body string
	header                          map[string]string
}

func (h hostileRequest) String() string {
	return h.method + " " + h.path + " [" + h.contentType + "] " + strconv.Quote(h.body)
}

func (e *surfaceEnv) send(t *testing.T, client *http.Client, rq hostileRequest) (int, string) {
	t.Helper()
	req, err := http.NewRequest(rq.method, e.srv.URL+rq.path, strings.NewReader(rq.body))
	if err != nil {
		t.Fatalf("%s: %v", rq, err)
	}
	if rq.contentType != "" {
		req.Header.Set("Content-Type", rq.contentType)
	}
	for k, v := range rq.header {
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", rq, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// route is a method and a path pattern of some surface.
type route struct{ method, pattern string }

// routes lists every route the server serves: the native endpoints and, for every pattern
// mounted by a dialect, its method (each method when the pattern names none); F5 XC mounts
// its whole prefix and lists its own endpoints.
func (e *surfaceEnv) routes() []route {
	var out []route
	for _, ep := range e.api.Endpoints() {
		out = append(out, route{ep.Method, ep.Path})
	}
	out = append(out, route{"GET", "/v1/no/such/endpoint"})
	for _, m := range e.api.Mounts() {
		method, pattern, ok := strings.Cut(m, " ")
		if !ok {
			method, pattern = "", m
		}
		switch {
		case pattern == f5xc.Prefix:
			for _, ep := range f5xc.New(nil, f5xc.Options{}).Endpoints() {
				out = append(out, route{ep.Method, ep.Path})
			}
			out = append(out, route{"POST", f5xc.Prefix + "nothing"})
		case strings.HasSuffix(pattern, "/"):
			out = append(out, route{"POST", pattern + "nothing"})
		case method != "":
			out = append(out, route{method, pattern})
		default:
			for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
				out = append(out, route{m, pattern})
			}
		}
	}
	return out
}

var wildcardRE = regexp.MustCompile(`\{[A-Za-z]+(\.\.\.)?\}`)

// fill puts a valid value in every wildcard of pattern but the i-th, which gets bad (i -1:
// none).
func (e *surfaceEnv) fill(pattern string, i int, bad string) string {
	values := map[string]string{
		"{project}": "acme", "{projectId}": "acme", "{namespace}": "acme", "{ref}": "web", "{name}": "web",
		"{id}": strconv.FormatInt(e.web.ID, 10), "{appKey}": e.web.Key, "{cluster}": "prod", "{user}": "bob",
		"{role}": "viewer", "{Environment}": "live", "{path...}": "upstream/path", "{session}": "999999", "{request}": "RegenerateApiKeys",
		"{delivery}": "msg_none",
	}
	n := -1
	return wildcardRE.ReplaceAllStringFunc(pattern, func(w string) string {
		n++
		if n == i {
			return bad
		}
		v, ok := values[w]
		if !ok {
			e.t.Fatalf("no test value for %s in %s", w, pattern)
		}
		return v
	})
}

// hostileBodies are bodies holding a NUL byte or invalid UTF-8, raw or escaped, in every
// format some surface reads.
var hostileBodies = []struct{ contentType, body string }{
	{"application/json", `{"name":"nul\u0000name","description":"d"}`},
	{"application/json", `{"name":"ok","meta":{"team":"nul\u0000"}}`},
	{"application/json", `{"name":"ok","meta":{"k\u0000":"v"}}`},
	{"application/json", "{\"name\":\"ok\",\"description\":\"bad\xffbyte\"}"},
	{"application/json", "{\"name\":\"ok\",\"description\":\"raw\x00nul\"}"},
	{"application/x-www-form-urlencoded", "description=nul%00&neverExpires=true"},
	{"application/x-www-form-urlencoded", "description=bad%FF%FE"},
	{"text/jsv", "{Environment:li\x00ve}"},
	{"text/plain", "{\"name\":\"bad\xc3\"}"},
}

// TestHostileBytesEveryEndpoint sends a NUL byte and invalid UTF-8, in a path segment, a query
// value and every kind of body, to every route of every surface, on SQLite and PostgreSQL:
// each is refused with 400 (415 for a form body where no form is taken) before it reaches a
// handler, none answers 5xx, and the store holds exactly what it held before.
func TestHostileBytesEveryEndpoint(t *testing.T) {
	t.Parallel()
	for _, engine := range []struct {
		name string
		open func(t *testing.T) keyward.Store
	}{{"SQLite", func(t *testing.T) keyward.Store { return authoritytest.Store(t) }}, {"PostgreSQL", postgresStore}} {
		t.Run(engine.name, func(t *testing.T) {
			e := startSurfaces(t, engine.open(t))
			before := e.export(t)
			auth := map[string]string{
				"Authorization": "Bearer " + e.admin, "X-VoltMX-Authorization": e.admin,
			}
			sent := 0
			check := func(rt route, rq hostileRequest) {
				t.Helper()
				rq.header = auth
				gateway := strings.HasPrefix(rt.pattern, "/v1/auth")
				if gateway {
					// The gateway check reads no key from a browser and is exempt from the
					// guard; without a key it writes nothing either.
					rq.header = nil
				}
				// GitHub's leak reports are signed: the endpoint refuses an unsigned request (401,
				// or 404 where no keys are configured) before it parses anything, and checks the
				// text of a signed one as every surface does (httpapi/leaks_test.go).
				signed := rt.pattern == "/v1/leaks/github"
				status, body := e.send(t, e.client, rq)
				sent++
				switch {
				case status >= 500:
					t.Errorf("%s: %d %s", rq, status, body)
				case signed:
					if status != http.StatusUnauthorized && status != http.StatusNotFound {
						t.Errorf("%s: %d %s, want 401 or 404 for an unsigned leak report", rq, status, body)
					}
				case gateway:
				case status != http.StatusBadRequest && status != http.StatusUnsupportedMediaType:
					t.Errorf("%s: %d %s, want 400 (or 415 for a form body)", rq, status, body)
				}
			}
			for _, rt := range e.routes() {
				wildcards := len(wildcardRE.FindAllString(rt.pattern, -1))
				for i := range wildcards {
					for _, bad := range []string{"nul%00name", "bad%FFbyte", "cut%E2%82"} {
						check(rt, hostileRequest{method: rt.method, path: e.fill(rt.pattern, i, bad)})
					}
				}
				path := e.fill(rt.pattern, -1, "")
				for _, q := range []string{"?limit=1&cursor=nul%00", "?project=bad%FF", "?%00=key"} {
					check(rt, hostileRequest{method: rt.method, path: path + q})
				}
				if rt.method == "GET" || rt.method == "HEAD" {
					continue
				}
				for _, b := range hostileBodies {
					check(rt, hostileRequest{method: rt.method, path: path, contentType: b.contentType, body: b.body})
				}
			}
			if sent < 500 {
				t.Fatalf("only %d requests sent: the route list is incomplete", sent)
			}
			e.unchanged(t, "hostile bytes", before)

			// The same names, valid, do reach the store: the refusals above are not for
			// another reason.
			status, body := e.send(t, e.client, hostileRequest{method: "POST", path: "/v1/projects/acme/credentials",
				contentType: "application/json", header: auth, body: `{"name":"clean","description":"clé ✓ 鍵","meta":{"team":"ü"}}`})
			if status != http.StatusCreated {
				t.Fatalf("a valid Unicode body: %d %s", status, body)
			}
		})
	}
}

// browser returns the headers a browser adds to a request that a page of evil.example makes
// to keyward (a form's submission, or a script's no-cors fetch): Origin and, in browsers since
// 2020-2023, Sec-Fetch-Site.
func browser(secFetch bool, extra map[string]string) map[string]string {
	h := map[string]string{"Origin": "https://evil.example"}
	if secFetch {
		h["Sec-Fetch-Site"] = "cross-site"
		h["Sec-Fetch-Mode"] = "navigate"
	}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

// TestCrossSiteForms: on every surface, what a page of another site can make a browser send
// with ambient credentials (the user's client certificate, cached Basic auth) is refused and
// changes nothing, and the same operation from a script or server (no Origin, no
// Sec-Fetch-Site, the content type its API documents) still works.
func TestCrossSiteForms(t *testing.T) {
	t.Parallel()
	e := startSurfaces(t, authoritytest.Store(t))
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(e.admin+":"))
	bearer := map[string]string{"Authorization": "Bearer " + e.admin}
	vmx := map[string]string{"X-VoltMX-Authorization": e.admin}
	const form, text, multipart = "application/x-www-form-urlencoded", "text/plain;charset=UTF-8", "multipart/form-data; boundary=kw"
	roll := "/v1/projects/acme/credentials/web/roll"
	for _, tc := range []struct {
		name   string
		client *http.Client
		refuse []hostileRequest // each must be refused and change nothing
		ok     hostileRequest   // then this one must succeed
		status int              // ok's status
	}{
		{
			name: "NativeRollWithClientCertificate", client: e.badge,
			refuse: []hostileRequest{
				{method: "POST", path: roll, contentType: form, header: browser(true, nil)},
				{method: "POST", path: roll, contentType: form, header: browser(false, nil)},
				{method: "POST", path: roll, contentType: text, body: `{"grace_seconds":0}`, header: browser(false, nil)},
				// A browser that sends neither header (before 2019): the form's type gives it away.
				{method: "POST", path: roll, contentType: form},
				{method: "POST", path: roll, contentType: multipart, body: "--kw--\r\n"},
				{method: "POST", path: roll, contentType: text},
			},
			ok: hostileRequest{method: "POST", path: roll}, status: http.StatusOK,
		},
		{
			name: "NativeRevokeWithKey", client: e.client,
			refuse: []hostileRequest{
				{method: "DELETE", path: "/v1/projects/acme/credentials/web", header: browser(true, bearer)},
				{method: "POST", path: "/v1/projects/acme/credentials", contentType: text, body: `{"name":"planted"}`, header: bearer},
			},
			ok:     hostileRequest{method: "POST", path: "/v1/projects/acme/credentials", contentType: "application/json", body: `{"name":"planted"}`, header: bearer},
			status: http.StatusCreated,
		},
		{
			name: "F5RevokeWithClientCertificate", client: e.badge,
			refuse: []hostileRequest{
				{method: "POST", path: "/api/web/namespaces/acme/revoke/api_credentials", contentType: text, body: `{"name":"web"}`, header: browser(true, nil)},
				{method: "POST", path: "/api/web/namespaces/acme/revoke/api_credentials", contentType: text, body: `{"name":"web"}`, header: browser(false, nil)},
				{method: "POST", path: "/api/web/namespaces/acme/revoke/api_credentials", contentType: text, body: `{"name":"web"}`},
				{method: "POST", path: "/api/web/namespaces/acme/revoke/api_credentials", contentType: form, body: `{"name":"web"}`},
			},
			ok:     hostileRequest{method: "POST", path: "/api/web/namespaces/acme/revoke/api_credentials", contentType: "application/json", body: `{"name":"web"}`},
			status: http.StatusOK,
		},
		{
			name: "ProjectKeysCreate", client: e.client,
			refuse: []hostileRequest{
				{method: "POST", path: "/api/projects/acme/api-keys", contentType: text, body: `{"name":"pk"}`, header: browser(true, bearer)},
				{method: "POST", path: "/api/projects/acme/api-keys", contentType: text, body: `{"name":"pk"}`, header: bearer},
				{method: "POST", path: "/api/projects/acme/api-keys", body: `{"name":"pk"}`, header: bearer},
			},
			ok:     hostileRequest{method: "POST", path: "/api/projects/acme/api-keys", contentType: "application/json", body: `{"name":"pk"}`, header: bearer},
			status: http.StatusCreated,
		},
		{
			// Volt MX documents form bodies: only the origin check keeps cross-site ones out.
			name: "VoltMXRegenerate", client: e.client,
			refuse: []hostileRequest{
				{method: "POST", path: "/api/v1/applications/key/" + e.app.Key, contentType: form, body: "regenerate=true", header: browser(true, vmx)},
				{method: "POST", path: "/api/v1/applications/key/" + e.app.Key, contentType: form, body: "regenerate=true", header: browser(false, vmx)},
			},
			ok:     hostileRequest{method: "POST", path: "/api/v1/applications/key/" + e.app.Key, contentType: form, body: "regenerate=true", header: vmx},
			status: http.StatusOK,
		},
		{
			name: "ServiceStackRegenerateWithCachedBasic", client: e.client,
			refuse: []hostileRequest{
				{method: "POST", path: "/auth/apikeys/regenerate/live", contentType: form, header: browser(true, map[string]string{"Authorization": basic})},
				{method: "POST", path: "/auth/apikeys/regenerate", contentType: form, body: "Environment=live", header: map[string]string{"Authorization": basic}},
				{method: "POST", path: "/auth/apikeys/regenerate/live", contentType: text, header: map[string]string{"Authorization": basic}},
				{method: "POST", path: "/auth/apikeys/regenerate/live", contentType: multipart, body: "--kw--\r\n", header: map[string]string{"Authorization": basic}},
			},
			ok:     hostileRequest{method: "POST", path: "/auth/apikeys/regenerate/live", header: map[string]string{"Authorization": basic}},
			status: http.StatusOK,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.export(t)
			for _, rq := range tc.refuse {
				status, body := e.send(t, tc.client, rq)
				if status < 400 || status >= 500 {
					t.Errorf("%s with %v: %d %s, want a refusal", rq, slices.Sorted(maps.Keys(rq.header)), status, body)
				}
			}
			e.unchanged(t, "a cross-site request", before)
			if status, body := e.send(t, tc.client, tc.ok); status != tc.status {
				t.Fatalf("the same from a script, %s: %d %s, want %d", tc.ok, status, body, tc.status)
			}
			if snapshot.Diff(before, e.export(t)) == nil {
				t.Fatalf("%s succeeded but changed nothing: the refusals above prove nothing", tc.ok)
			}
		})
	}

	t.Run("SameOriginBrowser", func(t *testing.T) {
		// A page of keyward's own origin (a console) may change state.
		h := map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": e.srv.URL, "Authorization": "Bearer " + e.admin}
		status, body := e.send(t, e.client, hostileRequest{method: "POST", path: "/v1/projects/acme/credentials",
			contentType: "application/json", body: `{"name":"from-console"}`, header: h})
		if status != http.StatusCreated {
			t.Fatalf("same-origin request: %d %s", status, body)
		}
	})
}
