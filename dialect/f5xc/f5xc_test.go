package f5xc_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/dialect/f5xc"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/authoritytest"
	"github.com/keyward/keyward/internal/goldenfile"
	"github.com/keyward/keyward/internal/proctest"
	"github.com/keyward/keyward/internal/testclock"
)

// t0 is the fixed clock of every test: timestamps in responses, and so the golden files, do
// not move.
var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	srv   *httptest.Server
	a     *authority.Authority
	clock *testclock.Clock
	admin string          // the bootstrap admin's token
	ctx   context.Context // acting as the admin
}

// start serves the native API with the dialect mounted, as keyward serve does, over a fresh
// store with a CA, the project "example" (the seeds' namespace) and the virtual cluster
// "example" (the seed's virtual_k8s_name).
func start(t *testing.T) *env {
	t.Helper()
	return startAt(t, t0)
}

// startAt is start with the clock set to now.
func startAt(t *testing.T, now time.Time) *env {
	t.Helper()
	ctx := context.Background()
	clk := testclock.New(now)
	logger := slog.New(slog.DiscardHandler)
	s := authoritytest.Store(t)
	a := authoritytest.New(t, s, authority.Options{Now: clk.Now, Logger: logger, UsageFlushInterval: time.Hour})
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
	if _, err := a.CreateProject(admin, keyward.CreateProjectInput{Slug: "example"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateCluster(admin, keyward.ClusterInput{Name: "example", Server: "https://k8s.example.com:6443"}); err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(a, s, httpapi.Options{Logger: logger})
	f5xc.New(a, f5xc.Options{Logger: logger}).Register(api.Mount)
	srv := httptest.NewUnstartedServer(api)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &env{srv: srv, a: a, clock: clk, admin: tok, ctx: admin}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// do sends a request with "Authorization: APIToken <token>" (none when token is "").
func (e *env) do(t *testing.T, method, path, token, body string) *response {
	t.Helper()
	return e.send(t, e.srv.Client(), method, path, body, "Authorization", "APIToken "+token, token != "")
}

func (e *env) send(t *testing.T, client *http.Client, method, path, body, header, value string, withHeader bool) *response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if withHeader {
		req.Header.Set(header, value)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}
}

// ok checks a 200 with a JSON body and decodes it into v (when not nil).
func (e *env) ok(t *testing.T, method, path, body string, v any) *response {
	t.Helper()
	r := e.do(t, method, path, e.admin, body)
	if r.status != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, r.status, r.body)
	}
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Fatalf("%s %s: Content-Type %q", method, path, got)
	}
	if v != nil {
		r.decode(t, v)
	}
	return r
}

// fails checks an error response: its status, its body {code, message} with the gRPC code F5
// XC's gateway gives for that status, and that the message contains want.
func fails(t *testing.T, r *response, status int, want string) f5xc.Error {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var e f5xc.Error
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	grpc := map[int]int{400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 409: 6, 429: 8, 500: 13, 503: 14, 504: 4}
	if e.Code != grpc[status] {
		t.Errorf("code %d for status %d, want %d", e.Code, status, grpc[status])
	}
	if !strings.Contains(e.Message, want) {
		t.Errorf("message %q does not contain %q", e.Message, want)
	}
	return e
}

// seed is the example request of a seed document in testdata/seeds: its method, its path from
// /api/web/ on (the documents' URLs carry their generator's server prefix before it) and its
// JSON body.
type seed struct {
	method, path string
	body         map[string]any
}

func readSeed(t *testing.T, name string) seed {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "seeds", name))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	method := regexp.MustCompile(`curl --request (\w+)`).FindStringSubmatch(doc)
	url := regexp.MustCompile(`--url (\S+)`).FindStringSubmatch(doc)
	data := regexp.MustCompile(`--data '([^']*)'`).FindStringSubmatch(doc)
	if method == nil || url == nil || data == nil {
		t.Fatalf("seed %s: no curl example found", name)
	}
	i := strings.Index(url[1], f5xc.Prefix)
	if i < 0 {
		t.Fatalf("seed %s: URL %s is not under %s", name, url[1], f5xc.Prefix)
	}
	s := seed{method: method[1], path: url[1][i:]}
	if err := json.Unmarshal([]byte(data[1]), &s.body); err != nil {
		t.Fatalf("seed %s: body: %v", name, err)
	}
	return s
}

// with returns the body as JSON with the given changes: "spec.type" names a nested field.
func (s seed) with(changes map[string]any) string {
	body := clone(s.body)
	for k, v := range changes {
		m := body
		parts := strings.Split(k, ".")
		for _, p := range parts[:len(parts)-1] {
			m = m[p].(map[string]any)
		}
		m[parts[len(parts)-1]] = v
	}
	b, _ := json.Marshal(body)
	return string(b)
}

func clone(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = clone(sub)
		}
		out[k] = v
	}
	return out
}

// golden compares a response body with testdata/golden/<name>.json after replacing the values
// of the volatile fields (the secrets) with "<volatile>"; -update rewrites the file.
func golden(t *testing.T, name string, body []byte, volatile ...string) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	normalise(v, volatile)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	goldenfile.Check(t, filepath.Join("testdata", "golden", name+".json"), buf.Bytes())
}

func normalise(v any, volatile []string) {
	switch x := v.(type) {
	case map[string]any:
		for k := range x {
			for _, f := range volatile {
				if k == f {
					x[k] = "<volatile>"
				}
			}
			normalise(x[k], volatile)
		}
	case []any:
		for _, sub := range x {
			normalise(sub, volatile)
		}
	}
}

// tool returns the path of a command-line tool the test needs. A missing tool fails the test:
// it exists to prove that real clients read what the dialect returns.
func tool(t *testing.T, name, aptPackage string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/bin/" + name; fileExists(p) {
		return p
	}
	t.Fatalf("%s is required by this test and was not found: apt-get install %s", name, aptPackage)
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := proctest.CommandContext(t, ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// TestCreateSeed sends the create seed's example request for each of the three types (the
// seed's own body is an API_CERTIFICATE; the others change spec.type only) and checks that
// real clients read what comes back.
func TestCreateSeed(t *testing.T) {
	t.Parallel()
	s := readSeed(t, "create_api_credentials.txt")
	if s.method != "POST" || s.path != "/api/web/namespaces/example/api_credentials" {
		t.Fatalf("seed request %s %s", s.method, s.path)
	}
	expiry := t0.AddDate(0, 0, 1).Format(time.RFC3339) // the seed's expiration_days is 1

	t.Run("API_TOKEN", func(t *testing.T) {
		e := start(t)
		var created f5xc.CreateResponse
		r := e.ok(t, s.method, s.path, s.with(map[string]any{"spec.type": "API_TOKEN"}), &created)
		golden(t, "create_api_token", r.body, "data")
		if !created.Active || created.Name != "example" || created.ExpirationTimestamp != expiry {
			t.Errorf("created %+v, want active, named example, expiring %s", created, expiry)
		}
		if !strings.HasPrefix(created.Data, "kw_live_") {
			t.Fatalf("data %q is not a token", created.Data)
		}
		// The token is the credential: it authenticates as its creator.
		if r := e.do(t, "GET", "/api/web/namespaces/example/api_credentials", created.Data, ""); r.status != http.StatusOK {
			t.Fatalf("the new token does not authenticate: %d %s", r.status, r.body)
		}
	})

	t.Run("API_CERTIFICATE", func(t *testing.T) {
		e := start(t)
		openssl := tool(t, "openssl", "openssl")
		// F5 XC takes passwords of 6 to 50 characters, and so does keyward: shorter is refused,
		// nothing is created, and the seed's own request ("example") succeeds unchanged.
		fails(t, e.do(t, s.method, s.path, e.admin, s.with(map[string]any{"spec.password": "short"})), http.StatusBadRequest, "password must be at least 6 characters")
		const password = "example"
		var created f5xc.CreateResponse
		r := e.ok(t, s.method, s.path, s.with(nil), &created)
		golden(t, "create_api_certificate", r.body, "data")
		if !created.Active || created.Name != "example" || created.ExpirationTimestamp != expiry {
			t.Errorf("created %+v, want active, named example, expiring %s", created, expiry)
		}
		p12, err := base64.StdEncoding.DecodeString(created.Data)
		if err != nil {
			t.Fatalf("data is not base64: %v", err)
		}
		path := filepath.Join(t.TempDir(), "example.p12")
		if err := os.WriteFile(path, p12, 0o600); err != nil {
			t.Fatal(err)
		}
		out := run(t, nil, openssl, "pkcs12", "-in", path, "-nokeys", "-clcerts", "-passin", "pass:"+password)
		if !strings.Contains(out, "CN = admin") || !strings.Contains(out, "BEGIN CERTIFICATE") {
			t.Errorf("openssl pkcs12 shows no certificate for admin:\n%s", out)
		}
		if key := run(t, nil, openssl, "pkcs12", "-in", path, "-nocerts", "-nodes", "-passin", "pass:"+password); !strings.Contains(key, "PRIVATE KEY") {
			t.Errorf("openssl pkcs12 shows no private key:\n%s", key)
		}
		// The bundle is an API certificate: over TLS, without a token, it authenticates.
		key, cert, chain, err := pkcs12.DecodeChain(p12, password)
		if err != nil {
			t.Fatal(err)
		}
		if len(chain) == 0 {
			t.Fatal("the bundle holds no CA certificate")
		}
		// A transport of its own: a pooled connection would have been made without the cert.
		tr := e.srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}}
		client := &http.Client{Transport: tr}
		if r := e.send(t, client, "GET", "/api/web/namespaces/example/api_credentials", "", "", "", false); r.status != http.StatusOK {
			t.Fatalf("the API certificate does not authenticate: %d %s", r.status, r.body)
		}
	})

	t.Run("KUBE_CONFIG", func(t *testing.T) {
		e := start(t)
		kubectl := tool(t, "kubectl", "kubernetes-client")
		var created f5xc.CreateResponse
		r := e.ok(t, s.method, s.path, s.with(map[string]any{"spec.type": "KUBE_CONFIG"}), &created)
		golden(t, "create_kube_config", r.body, "data")
		if !created.Active || created.Name != "example" || created.ExpirationTimestamp != expiry {
			t.Errorf("created %+v, want active, named example, expiring %s", created, expiry)
		}
		kc, err := base64.StdEncoding.DecodeString(created.Data)
		if err != nil {
			t.Fatalf("data is not base64: %v", err)
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "kubeconfig")
		if err := os.WriteFile(path, kc, 0o600); err != nil {
			t.Fatal(err)
		}
		// kubectl reads only the file given and writes nothing into the real home.
		env := []string{"HOME=" + dir, "KUBECONFIG="}
		for jsonpath, want := range map[string]string{
			"{.clusters[0].name}":              "example",
			"{.clusters[0].cluster.server}":    "https://k8s.example.com:6443",
			"{.contexts[0].context.namespace}": "example", // the seed's virtual_k8s_namespace
			"{.users[0].name}":                 "admin",
		} {
			got := run(t, env, kubectl, "config", "view", "--kubeconfig", path, "--raw", "-o", "jsonpath="+jsonpath)
			if got != want {
				t.Errorf("kubectl config view %s = %q, want %q", jsonpath, got, want)
			}
		}
		if got := run(t, env, kubectl, "config", "view", "--kubeconfig", path, "--raw", "-o", "jsonpath={.users[0].user.client-key-data}"); got == "" {
			t.Error("the kubeconfig has no client key")
		}
	})
}

// TestRenewSeed sends the renew seed's example request.
func TestRenewSeed(t *testing.T) {
	t.Parallel()
	s := readSeed(t, "renew_api_credentials.txt")
	if s.method != "POST" || s.path != "/api/web/namespaces/example/renew/api_credentials" {
		t.Fatalf("seed request %s %s", s.method, s.path)
	}
	e := start(t)
	create := readSeed(t, "create_api_credentials.txt")
	e.ok(t, "POST", create.path, create.with(map[string]any{"spec.type": "API_TOKEN", "expiration_days": 30}), nil)

	t.Run("OK", func(t *testing.T) {
		r := e.ok(t, s.method, s.path, s.with(nil), nil)
		golden(t, "renew", r.body)
		var got f5xc.GetResponse
		e.ok(t, "GET", "/api/web/namespaces/example/api_credentials/example", "", &got)
		if want := t0.AddDate(0, 0, 1).Format(time.RFC3339); got.Object.Spec.GCSpec.ExpirationTimestamp != want {
			t.Errorf("expiry after renew %s, want %s", got.Object.Spec.GCSpec.ExpirationTimestamp, want)
		}
	})
	t.Run("ErrNotAPIToken", func(t *testing.T) {
		e.ok(t, "POST", create.path, create.with(map[string]any{"name": "cert", "spec.password": "example-password"}), nil)
		fails(t, e.do(t, s.method, s.path, e.admin, s.with(map[string]any{"name": "cert"})), http.StatusBadRequest,
			"only API_TOKEN and KUBE_TOKEN credentials renew")
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		fails(t, e.do(t, s.method, s.path, e.admin, s.with(map[string]any{"name": "nope"})), http.StatusNotFound, `credential "nope" not found`)
	})
	t.Run("ConsoleURL", func(t *testing.T) {
		// The seed's own URL, with the console's environment, region and tenant before /api/web/.
		const console = "/api/v1/api/production/us-east-1/namespaces/default"
		e.ok(t, s.method, console+s.path, s.with(nil), nil)
		fails(t, e.do(t, "GET", console+"/api/web/namespaces/example/nothing_here", e.admin, ""), http.StatusNotFound, "no such endpoint")
		fails(t, e.do(t, "GET", "/api/v1/api/production/us-east-1/api/web/namespaces/example/api_credentials", e.admin, ""), http.StatusNotFound, "no such endpoint")
		fails(t, e.do(t, "GET", "/api/v1/api/whatever", e.admin, ""), http.StatusNotFound, "no such endpoint")
	})
	t.Run("ErrNamespaceMismatch", func(t *testing.T) {
		fails(t, e.do(t, s.method, s.path, e.admin, s.with(map[string]any{"namespace": "system"})), http.StatusBadRequest,
			`namespace: is "system" in the body but "example" in the path`)
	})
}

// TestLifecycle goes through list, get, activate, revoke and bulk_revoke of API credentials.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	e := start(t)
	const base = "/api/web/namespaces/example/"
	var tok f5xc.CreateResponse
	e.ok(t, "POST", base+"api_credentials", `{"name":"ci-token","namespace":"example","expiration_days":10,"spec":{"type":"API_TOKEN"}}`, &tok)
	e.ok(t, "POST", base+"api_credentials", `{"name":"ci-cert","expiration_days":20,"spec":{"type":"API_CERTIFICATE","password":"example-password"}}`, nil)
	e.ok(t, "POST", base+"api_credentials", `{"name":"ci-kube","spec":{"type":"KUBE_CONFIG","virtual_k8s_name":"example","virtual_k8s_namespace":"apps"}}`, nil)

	t.Run("List", func(t *testing.T) {
		var list struct{ Items []f5xc.ListResponseItem }
		r := e.ok(t, "GET", base+"api_credentials", "", &list)
		golden(t, "list", r.body)
		if len(list.Items) != 3 {
			t.Fatalf("%d items, want 3", len(list.Items))
		}
		// Login sessions live in system but are not API credentials.
		session := e.userToken(t, "admin")
		list.Items = nil
		if r := e.do(t, "GET", "/api/web/namespaces/system/api_credentials", session, ""); r.status != http.StatusOK {
			t.Fatalf("list in system: %d %s", r.status, r.body)
		} else {
			r.decode(t, &list)
		}
		if len(list.Items) != 1 || list.Items[0].Name != "bootstrap-admin" {
			t.Errorf("system lists %+v, want only bootstrap-admin", list.Items)
		}
	})
	t.Run("Get", func(t *testing.T) {
		r := e.ok(t, "GET", base+"api_credentials/ci-kube", "", nil)
		golden(t, "get", r.body, "certificate_serial_num")
		fails(t, e.do(t, "GET", base+"api_credentials/nope", e.admin, ""), http.StatusNotFound, `credential "nope" not found`)
	})
	t.Run("Activate", func(t *testing.T) {
		r := e.ok(t, "POST", base+"activate/api_credentials", `{"name":"ci-token","namespace":"example","active":false}`, nil)
		golden(t, "activate", r.body)
		fails(t, e.do(t, "GET", base+"api_credentials", tok.Data, ""), http.StatusUnauthorized, "a valid API key is required")
		var got f5xc.GetResponse
		e.ok(t, "GET", base+"api_credentials/ci-token", "", &got)
		if got.Object.Spec.GCSpec.Active || !got.Object.Metadata.Disable {
			t.Errorf("deactivated credential shows %+v", got.Object)
		}
		e.ok(t, "POST", base+"activate/api_credentials", `{"name":"ci-token"}`, nil)
		if r := e.do(t, "GET", base+"api_credentials", tok.Data, ""); r.status != http.StatusOK {
			t.Fatalf("reactivated token: %d %s", r.status, r.body)
		}
	})
	t.Run("Revoke", func(t *testing.T) {
		r := e.ok(t, "POST", base+"revoke/api_credentials", `{"name":"ci-token","namespace":"example"}`, nil)
		golden(t, "revoke", r.body)
		fails(t, e.do(t, "GET", base+"api_credentials", tok.Data, ""), http.StatusUnauthorized, "a valid API key is required")
		var list struct{ Items []f5xc.ListResponseItem }
		e.ok(t, "GET", base+"api_credentials", "", &list)
		if list.Items[0].Name != "ci-token" || list.Items[0].Active {
			t.Errorf("revoked credential listed as %+v", list.Items[0])
		}
		fails(t, e.do(t, "POST", base+"activate/api_credentials", e.admin, `{"name":"ci-token"}`), http.StatusConflict, "is revoked")
		fails(t, e.do(t, "POST", base+"api_credentials", e.admin, `{"name":"ci-token","spec":{"type":"API_TOKEN"}}`), http.StatusConflict, "")
	})
	t.Run("BulkRevoke", func(t *testing.T) {
		e.clock.Add(15 * 24 * time.Hour) // ci-cert (20 days) is still valid; ci-kube (90) too
		e.ok(t, "POST", base+"api_credentials", `{"name":"short","expiration_days":1,"spec":{"type":"API_TOKEN"}}`, nil)
		e.clock.Add(2 * 24 * time.Hour)
		r := e.ok(t, "POST", base+"bulk_revoke/api_credentials", `{"expired_selector":{"credential_type":"API_TOKEN"}}`, nil)
		golden(t, "bulk_revoke_expired", r.body)
		r = e.ok(t, "POST", base+"bulk_revoke/api_credentials", `{"name_selector":{"names":["ci-cert","nope","short"]}}`, nil)
		golden(t, "bulk_revoke_names", r.body)
		var res f5xc.BulkRevokeResponse
		r.decode(t, &res)
		if strings.Join(res.CredentialsMarkedForDeletion, ",") != "ci-cert,short" || strings.Join(res.CredentialsFailed, ",") != "nope" {
			t.Errorf("bulk revoke %+v", res)
		}
		fails(t, e.do(t, "POST", base+"bulk_revoke/api_credentials", e.admin, `{"expired_selector":{"all":{},"credential_type":"API_TOKEN"}}`),
			http.StatusBadRequest, "give either all or credential_type")
		fails(t, e.do(t, "POST", base+"bulk_revoke/api_credentials", e.admin, `{}`), http.StatusBadRequest, "give name_selector or expired_selector")
		// The path the F5 XC documents give, in the system namespace.
		r = e.ok(t, "POST", "/api/web/namespaces/system/bulk_revoke/api_credentials", `{"expired_selector":{"all":{}}}`, nil)
		res = f5xc.BulkRevokeResponse{}
		r.decode(t, &res)
		if len(res.CredentialsMarkedForDeletion) != 0 || len(res.CredentialsFailed) != 0 {
			t.Errorf("bulk revoke in system %+v", res)
		}
	})
}

// TestServiceCredentials checks the service-credential variant: roles per namespace, never
// more than the creator holds.
func TestServiceCredentials(t *testing.T) {
	t.Parallel()
	e := start(t)
	const base = "/api/web/namespaces/system/"
	if _, err := e.a.CreateProject(e.ctx, keyward.CreateProjectInput{Slug: "other"}); err != nil {
		t.Fatal(err)
	}
	var created f5xc.CreateResponse
	r := e.ok(t, "POST", base+"service_credentials", `{"name":"deployer","namespace":"system","expiration_days":7,"type":"SERVICE_API_TOKEN",
		"api_token":{},"namespace_roles":[{"namespace":"example","role":"Client"},{"namespace":"example","role":"viewer"}]}`, &created)
	golden(t, "create_service_credential", r.body, "data")

	t.Run("Access", func(t *testing.T) {
		// Client in example: it lists and creates there, and sees nothing elsewhere.
		if r := e.do(t, "GET", "/api/web/namespaces/example/api_credentials", created.Data, ""); r.status != http.StatusOK {
			t.Fatalf("list in example: %d %s", r.status, r.body)
		}
		if r := e.do(t, "POST", "/api/web/namespaces/example/api_credentials", created.Data, `{"name":"made-by-svc","spec":{"type":"API_TOKEN"}}`); r.status != http.StatusOK {
			t.Fatalf("create in example: %d %s", r.status, r.body)
		}
		fails(t, e.do(t, "POST", "/api/web/namespaces/example/revoke/api_credentials", created.Data, `{"name":"made-by-svc"}`), http.StatusForbidden, "keys:revoke")
		fails(t, e.do(t, "GET", "/api/web/namespaces/other/api_credentials", created.Data, ""), http.StatusNotFound, `project "other" not found`)
	})
	t.Run("ListAndGet", func(t *testing.T) {
		r := e.ok(t, "GET", base+"service_credentials", "", nil)
		golden(t, "list_service_credentials", r.body)
		r = e.ok(t, "GET", base+"service_credentials/deployer", "", nil)
		golden(t, "get_service_credential", r.body)
		// Each list shows its own kind only.
		var list struct{ Items []f5xc.ListResponseItem }
		e.ok(t, "GET", base+"api_credentials", "", &list)
		for _, it := range list.Items {
			if it.Name == "deployer" {
				t.Error("a service credential is listed among the API credentials")
			}
		}
		fails(t, e.do(t, "GET", base+"api_credentials/deployer", e.admin, ""), http.StatusNotFound, "not found")
		fails(t, e.do(t, "GET", base+"service_credentials/bootstrap-admin", e.admin, ""), http.StatusNotFound, "not found")
	})
	t.Run("ErrEscalation", func(t *testing.T) {
		// A user who is only a viewer in example cannot make a credential that is more there,
		// nor one anywhere they have no rights; nothing is created either way.
		if _, err := e.a.CreateUser(e.ctx, keyward.CreateUserInput{Name: "vic"}); err != nil {
			t.Fatal(err)
		}
		for _, m := range []keyward.BindingInput{{User: "vic", Role: "Client"}} {
			if _, err := e.a.AddMember(e.ctx, "system", m); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.a.AddMember(e.ctx, "example", keyward.BindingInput{User: "vic", Role: "viewer"}); err != nil {
			t.Fatal(err)
		}
		vic := e.userToken(t, "vic")
		fails(t, e.do(t, "POST", base+"service_credentials", vic, `{"name":"too-much","type":"API_TOKEN",
			"namespace_roles":[{"namespace":"example","role":"viewer"},{"namespace":"example","role":"Client"}]}`),
			http.StatusForbidden, `role "Client" grants permissions you do not hold in project "example"`)
		fails(t, e.do(t, "POST", base+"service_credentials", vic, `{"name":"elsewhere","type":"API_TOKEN",
			"namespace_roles":[{"namespace":"other","role":"viewer"}]}`), http.StatusNotFound, `project "other" not found`)
		users, err := e.a.ListUsers(e.ctx, "", authority.MaxPageSize)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users.Items {
			if u.Name != "admin" && u.Name != "vic" && u.Name != "svc:system:deployer" {
				t.Errorf("a refused request left user %q", u.Name)
			}
		}
		// Within their rights it works.
		r := e.do(t, "POST", base+"service_credentials", vic, `{"name":"reader","type":"API_TOKEN","namespace_roles":[{"namespace":"example","role":"viewer"}]}`)
		if r.status != http.StatusOK {
			t.Fatalf("within rights: %d %s", r.status, r.body)
		}
	})
	t.Run("Certificate", func(t *testing.T) {
		var c f5xc.CreateResponse
		e.ok(t, "POST", base+"service_credentials", `{"name":"svc-cert","type":"SERVICE_API_CERTIFICATE","api_certificate":{"password":"example-password"},
			"namespace_roles":[{"namespace":"example","role":"viewer"}]}`, &c)
		p12, err := base64.StdEncoding.DecodeString(c.Data)
		if err != nil {
			t.Fatal(err)
		}
		_, cert, _, err := pkcs12.DecodeChain(p12, "example-password")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := cert.Subject.CommonName, "svc:system:svc-cert"; got != want {
			t.Errorf("certificate CN %q, want %q", got, want)
		}
		fails(t, e.do(t, "POST", base+"service_credentials", e.admin, `{"name":"two-passwords","type":"API_CERTIFICATE","api_certificate":{"password":"example-password"},
			"password":"another-password","namespace_roles":[{"namespace":"example","role":"viewer"}]}`), http.StatusBadRequest, "password: is given twice")
		fails(t, e.do(t, "POST", base+"service_credentials", e.admin, `{"name":"grouped","type":"API_TOKEN","user_group_names":["ops"],
			"namespace_roles":[{"namespace":"example","role":"viewer"}]}`), http.StatusBadRequest, "keyward has no user groups")
		fails(t, e.do(t, "POST", base+"service_credentials", e.admin, `{"name":"roleless","type":"API_TOKEN"}`), http.StatusBadRequest, "namespace_roles: is required")
		fails(t, e.do(t, "POST", base+"service_credentials", e.admin, `{"name":"site","type":"SITE_GLOBAL_KUBE_CONFIG","namespace_roles":[{"namespace":"example","role":"viewer"}]}`),
			http.StatusBadRequest, "type: must be")
	})
	t.Run("RenewActivateRevoke", func(t *testing.T) {
		e.ok(t, "POST", base+"renew/service_credentials", `{"name":"deployer","namespace":"system","expiration_days":30}`, nil)
		e.ok(t, "POST", base+"activate/service_credentials", `{"name":"deployer","active":false}`, nil)
		fails(t, e.do(t, "GET", "/api/web/namespaces/example/api_credentials", created.Data, ""), http.StatusUnauthorized, "")
		e.ok(t, "POST", base+"activate/service_credentials", `{"name":"deployer"}`, nil)
		e.ok(t, "POST", base+"revoke/service_credentials", `{"name":"deployer"}`, nil)
		fails(t, e.do(t, "GET", "/api/web/namespaces/example/api_credentials", created.Data, ""), http.StatusUnauthorized, "")
		var got f5xc.ServiceItem
		e.ok(t, "GET", base+"service_credentials/deployer", "", &got)
		if got.Active || len(got.NamespaceAccess.NamespaceRoleMap["example"].Names) != 2 {
			t.Errorf("revoked service credential shows %+v", got)
		}
		r := e.ok(t, "POST", base+"bulk_revoke/service_credentials", `{"name_selector":{"names":["svc-cert"]}}`, nil)
		var res f5xc.BulkRevokeResponse
		r.decode(t, &res)
		if strings.Join(res.CredentialsMarkedForDeletion, ",") != "svc-cert" {
			t.Errorf("bulk revoke %+v", res)
		}
	})
}

// userToken gives user name a password and returns the token of a login session of it.
func (e *env) userToken(t *testing.T, name string) string {
	t.Helper()
	if err := e.a.SetPassword(e.ctx, name, keyward.SetPasswordInput{Password: "a long enough passphrase"}); err != nil {
		t.Fatal(err)
	}
	s, err := e.a.Login(context.Background(), keyward.LoginInput{Name: name, Password: "a long enough passphrase"}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return s.Key
}

// TestErrors checks the error statuses and bodies the dialect answers with.
func TestErrors(t *testing.T) {
	t.Parallel()
	e := start(t)
	const list = "/api/web/namespaces/example/api_credentials"
	t.Run("Unauthenticated", func(t *testing.T) {
		r := e.do(t, "GET", list, "", "")
		fails(t, r, http.StatusUnauthorized, "an API token")
		if got := r.header.Get("WWW-Authenticate"); got == "" {
			t.Error("no WWW-Authenticate header")
		}
		fails(t, e.do(t, "GET", list, "kw_live_notatoken", ""), http.StatusUnauthorized, "a valid API key is required")
		r = e.send(t, e.srv.Client(), "GET", list, "", "Authorization", "Basic YWRtaW46eA==", true)
		fails(t, r, http.StatusUnauthorized, "APIToken <token>")
	})
	t.Run("Bearer", func(t *testing.T) {
		if r := e.send(t, e.srv.Client(), "GET", list, "", "Authorization", "Bearer "+e.admin, true); r.status != http.StatusOK {
			t.Fatalf("Bearer: %d %s", r.status, r.body)
		}
	})
	t.Run("FormContentTypes", func(t *testing.T) {
		// F5 XC documents every request as application/json. A body sent as a form or as
		// text/plain is what a cross-site HTML form can send with a browser's client
		// certificate: refused even when it holds JSON, and even when empty.
		for _, ct := range []string{"application/x-www-form-urlencoded", "text/plain", "text/plain;charset=UTF-8", "multipart/form-data; boundary=x", ""} {
			for _, body := range []string{`{"name":"by-form","spec":{"type":"API_TOKEN"}}`, ""} {
				req, err := http.NewRequest("POST", e.srv.URL+list, strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "APIToken "+e.admin)
				if ct != "" {
					req.Header.Set("Content-Type", ct)
				}
				res, err := e.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusBadRequest {
					t.Fatalf("Content-Type %q, body %q: status %d %s, want 400", ct, body, res.StatusCode, b)
				}
			}
		}
		fails(t, e.do(t, "GET", list+"/by-form", e.admin, ""), http.StatusNotFound, "not found")
	})
	t.Run("NotFound", func(t *testing.T) {
		fails(t, e.do(t, "GET", "/api/web/namespaces/nope/api_credentials", e.admin, ""), http.StatusNotFound, `project "nope" not found`)
		fails(t, e.do(t, "GET", "/api/web/nothing", e.admin, ""), http.StatusNotFound, "no such endpoint")
	})
	t.Run("MethodNotAllowed", func(t *testing.T) {
		r := e.do(t, "DELETE", list, e.admin, "")
		fails(t, r, http.StatusMethodNotAllowed, "method DELETE is not allowed")
		if got := r.header.Get("Allow"); got != "GET, POST" {
			t.Errorf("Allow %q", got)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		fails(t, e.do(t, "POST", list, e.admin, ""), http.StatusBadRequest, "a JSON request body is required")
		fails(t, e.do(t, "POST", list, e.admin, `{"name":"x","spec":{"type":"API_TOKEN"},"expiry_days":3}`), http.StatusBadRequest, "expiry_days: is not a field")
		fails(t, e.do(t, "POST", list, e.admin, `{"name":"x","spec":{"type":"API_TOKEN"}} {}`), http.StatusBadRequest, "exactly one JSON object")
		fails(t, e.do(t, "POST", list, e.admin, `{"name":"x","expiration_days":"3","spec":{"type":"API_TOKEN"}}`), http.StatusBadRequest, "expiration_days: must be an integer")
		fails(t, e.do(t, "POST", list, e.admin, `{"name":"x"}`), http.StatusBadRequest, "spec.type: is required")
		fails(t, e.do(t, "POST", list, e.admin, `{"name":"x","spec":{"type":"SERVICE_API_TOKEN"}}`), http.StatusBadRequest, "service_credentials")
		fails(t, e.do(t, "POST", list, e.admin, `{"name":"bad name","spec":{"type":"API_TOKEN"}}`), http.StatusBadRequest, "name")
		fails(t, e.do(t, "POST", list, e.admin, `{"name":"x","expiration_days":-1,"spec":{"type":"API_TOKEN"}}`), http.StatusBadRequest, "expiration_days")
		fails(t, e.do(t, "POST", list, e.admin, `{"name":"x","spec":{"type":"KUBE_CONFIG","virtual_k8s_name":"nope","virtual_k8s_namespace":"x"}}`), http.StatusNotFound, `virtual cluster "nope" not found`)
		fails(t, e.do(t, "POST", "/api/web/namespaces/example/revoke/api_credentials", e.admin, `{"namespace":"example"}`), http.StatusBadRequest, "name: is required")
	})
	t.Run("Forbidden", func(t *testing.T) {
		if _, err := e.a.CreateUser(e.ctx, keyward.CreateUserInput{Name: "val"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.a.AddMember(e.ctx, "example", keyward.BindingInput{User: "val", Role: "viewer"}); err != nil {
			t.Fatal(err)
		}
		val := e.userToken(t, "val")
		fails(t, e.do(t, "POST", list, val, `{"name":"x","spec":{"type":"API_TOKEN"}}`), http.StatusForbidden, "permission keys:create is required")
	})
}

// TestDocs checks that docs/dialects/f5xc.md shows a curl command for every endpoint.
func TestDocs(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "dialects", "f5xc.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range f5xc.New(nil, f5xc.Options{}).Endpoints() {
		path := regexp.QuoteMeta(ep.Path)
		path = strings.Replace(path, regexp.QuoteMeta("{namespace}"), `[a-z0-9-]+`, 1)
		path = strings.Replace(path, regexp.QuoteMeta("{name}"), `[A-Za-z0-9._-]+`, 1)
		re := regexp.MustCompile(`curl [^\n]*-X ` + ep.Method + ` "\$KW` + path + `"`)
		if !re.Match(doc) {
			t.Errorf("docs/dialects/f5xc.md shows no curl -X %s \"$KW%s\"", ep.Method, ep.Path)
		}
	}
}
