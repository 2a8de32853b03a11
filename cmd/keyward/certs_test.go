package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// p12Bytes stands for a PKCS#12 bundle: binary, as the real one is.
var p12Bytes = []byte("0\x82\x01\x00 not really PKCS#12 \x00\xff\xfe")

const kubeYAML = "apiVersion: v1\nkind: Config\ncurrent-context: \"admin@prod\"\n"

const certPassword = "bundle password 77"

// certIssuedJSON is an issued credential of type typ whose data is b.
func certIssuedJSON(typ keyward.CredentialType, b []byte) string {
	s := strings.NewReplacer(`"API_TOKEN"`, `"`+string(typ)+`"`, `"start":"kw_live_AbCd",`, "").Replace(credJSON)
	extra := `,"serial":"9f86d081884c7d659a2feaa0c55ad015","fingerprint":"5e884898da280471"`
	if typ == keyward.KubeConfig {
		extra += `,"virtual_k8s_name":"prod","virtual_k8s_namespace":"team-a"`
	}
	return strings.TrimSuffix(s, "}") + extra + `,"data":"` + base64.StdEncoding.EncodeToString(b) + `"}`
}

// TestCertificateFlagValidation checks the mistakes caught before anything is issued: each
// exits 2 and nothing reaches the (unreachable) server.
func TestCertificateFlagValidation(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.p12")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	cert := []string{"key", "create", "acme", "--name", "ci", "--type", "API_CERTIFICATE"}
	tests := []struct {
		name  string
		stdin string
		env   map[string]string
		args  []string
		msg   string
	}{
		{"CertNoPassword", "", nil, cert, "no PKCS#12 bundle password given"},
		{"CertEmptyPassword", "\n", nil, cert, "no PKCS#12 bundle password given"},
		{"OutExists", certPassword + "\n", nil, append(cert, "--out", existing), "exists: pass --force"},
		{"OutDir", certPassword + "\n", nil, append(cert, "--out", dir, "--force"), "is a directory"},
		{"OutNoDir", certPassword + "\n", nil, append(cert, "--out", filepath.Join(dir, "nope", "b.p12")), "does not exist"},
		{"ForceWithoutOut", certPassword + "\n", nil, append(cert, "--force"), "--force goes with --out"},
		{"OutDash", certPassword + "\n", nil, append(cert, "--out", "-"), "--out - is not supported"},
		{"ClusterBogus", "", nil, []string{"cluster", "bogus"}, "unknown command \"bogus\" for \"keyward cluster\""},
		{"CABogus", "", nil, []string{"ca", "rotate"}, "unknown command \"rotate\" for \"keyward ca\""},
		{"RollOutExists", "", nil, []string{"key", "roll", "acme", "ci", "--out", existing}, "exists: pass --force"},
		{"RevealNoRef", "", nil, []string{"key", "reveal", "acme"}, "missing argument <id-or-name>"},
		{"ProjectUpdateBadBool", "", nil, []string{"project", "update", "acme", "--recoverable-keys=maybe"}, "invalid argument"},
		{"ClusterCAFileMissing", "", nil, []string{"cluster", "add", "prod", "--server", "https://k8s:6443", "--ca-file", filepath.Join(dir, "nope.pem")}, "--ca-file"},
		{"ClusterCAFileNotPEM", "", nil, []string{"cluster", "add", "prod", "--server", "https://k8s:6443", "--ca-file", notPEM}, "holds no PEM block"},
		{"ClusterServerTwice", "", nil, []string{"cluster", "add", "prod", "--server", "https://a:6443", "--server", "https://b:6443"}, "given twice"},
		{"ClusterGlobalServerToo", "", nil, []string{"--server", "http://127.0.0.1:1", "cluster", "add", "prod", "--server", "https://b:6443"}, "given twice"},
		{"ClusterGetNoName", "", nil, []string{"cluster", "get"}, "missing argument <name>"},
		{"ClusterRemoveExtra", "", nil, []string{"cluster", "remove", "a", "b"}, "unexpected argument"},
		{"CAPEMEmptyCluster", "", nil, []string{"ca", "pem", "--cluster", ""}, "--cluster must not be empty"},
		{"CACRLEmptyCluster", "", nil, []string{"ca", "crl", "--cluster", ""}, "--cluster must not be empty"},
		{"CAImportNoKey", "", nil, []string{"ca", "import", "--cert", notPEM}, "both --cert and --key are required"},
		{"CARotateNoNewKey", "", nil, []string{"ca", "rotate-master-key"}, "--new-key-file is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--server", "http://127.0.0.1:1", "--token", testToken}, tt.args...)
			if tt.args[0] == "cluster" && tt.args[1] == "add" {
				// There --server is the cluster's: keyward's comes from the environment.
				args = append([]string{"--token", testToken}, tt.args...)
				tt.env = map[string]string{"KEYWARD_SERVER": "http://127.0.0.1:1"}
			}
			r := runCLIEnv(t, tt.env, tt.stdin, args...)
			if r.code != 2 {
				t.Errorf("code = %d, want 2 (stderr %q)", r.code, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "error: ") || !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("stderr = %q, want an error about %q", r.stderr, tt.msg)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if strings.Contains(r.stderr, certPassword) {
				t.Errorf("stderr shows the password: %q", r.stderr)
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("the existing --out file was changed: %q", b)
	}
}

// fileMode returns the permission bits of path.
func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestKeyCreateCertificate(t *testing.T) {
	f := newFakeServer(t, map[string]canned{
		"POST /v1/projects/acme/credentials": {201, "", certIssuedJSON(keyward.APICertificate, p12Bytes)},
	})
	base := []string{"--server", f.URL, "--token", testToken}
	dir := t.TempDir()

	t.Run("OutFromStdin", func(t *testing.T) {
		out := filepath.Join(dir, "bundle.p12")
		r := runCLI(t, certPassword+"\nnot read\n", append(base, "key", "create", "acme", "--type", "API_CERTIFICATE", "--name", "ci",
			"--expiration-days", "30", "--key-algorithm", "rsa-3072", "--encoding", "legacy", "--out", out)...)
		if r.code != 0 {
			t.Fatalf("code = %d, stderr %q", r.code, r.stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil || !bytes.Equal(b, p12Bytes) {
			t.Fatalf("file = %q, %v; want the decoded bundle", b, err)
		}
		if m := fileMode(t, out); m != 0o600 {
			t.Errorf("mode = %o, want 600", m)
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(f.last(t).body), &body); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"type": "API_CERTIFICATE", "name": "ci", "expiration_days": 30.0,
			"password": certPassword, "key_algorithm": "rsa-3072", "encoding": "legacy"}
		if got, _ := json.Marshal(body); string(got) != mustJSON(t, want) {
			t.Errorf("body = %s, want %s", got, mustJSON(t, want))
		}
		if !strings.Contains(r.stdout, "Serial:") || !strings.Contains(r.stdout, "9f86d081884c7d659a2feaa0c55ad015") {
			t.Errorf("stdout = %q, want the credential with its serial", r.stdout)
		}
		if strings.Contains(r.stdout, base64.StdEncoding.EncodeToString(p12Bytes)) {
			t.Errorf("stdout shows the bundle although --out was given: %q", r.stdout)
		}
		if !strings.Contains(r.stderr, "Wrote the PKCS#12 bundle to "+out+" (mode 0600)") {
			t.Errorf("stderr = %q", r.stderr)
		}
		for _, s := range []string{r.stdout, r.stderr} {
			if strings.Contains(s, certPassword) {
				t.Errorf("output shows the password: %q", s)
			}
		}
	})

	t.Run("NoOverwriteThenForce", func(t *testing.T) {
		out := filepath.Join(dir, "forced.p12")
		if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		n := f.count()
		args := append(base, "key", "create", "acme", "--type", "API_CERTIFICATE", "--name", "ci", "--out", out)
		if r := runCLI(t, certPassword+"\n", args...); r.code != 2 || f.count() != n {
			t.Fatalf("without --force: code %d, %d requests sent; stderr %q", r.code, f.count()-n, r.stderr)
		}
		r := runCLIEnv(t, map[string]string{"KEYWARD_P12_PASSWORD": certPassword}, "", append(args, "--force")...)
		if r.code != 0 {
			t.Fatalf("--force: code = %d, stderr %q", r.code, r.stderr)
		}
		if b, _ := os.ReadFile(out); !bytes.Equal(b, p12Bytes) {
			t.Errorf("file = %q", b)
		}
		if m := fileMode(t, out); m != 0o600 {
			t.Errorf("mode = %o, want 600 after replacing a 644 file", m)
		}
		if !strings.Contains(f.last(t).body, `"password":"`+certPassword+`"`) {
			t.Errorf("the password of $KEYWARD_P12_PASSWORD was not sent: %s", f.last(t).body)
		}
	})

	t.Run("Stdout", func(t *testing.T) {
		r := runCLI(t, certPassword+"\n", append(base, "key", "create", "acme", "--type", "API_CERTIFICATE", "--name", "ci")...)
		if r.code != 0 {
			t.Fatalf("code = %d, stderr %q", r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
		if got, want := lines[len(lines)-1], base64.StdEncoding.EncodeToString(p12Bytes); got != want {
			t.Errorf("last line = %q, want the base64 bundle %q", got, want)
		}
		if got, want := strings.TrimSpace(r.stderr), "This PKCS#12 bundle will not be shown again. Store it now."; got != want {
			t.Errorf("stderr = %q, want %q", got, want)
		}
	})

	t.Run("JSON", func(t *testing.T) {
		r := runCLI(t, certPassword+"\n", append(base, "-o", "json", "key", "create", "acme", "--type", "API_CERTIFICATE", "--name", "ci")...)
		var ic keyward.IssuedCredential
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ic) != nil {
			t.Fatalf("code %d, stdout %q", r.code, r.stdout)
		}
		if ic.Data != base64.StdEncoding.EncodeToString(p12Bytes) || ic.Serial == "" {
			t.Errorf("json = %+v", ic)
		}
		out := filepath.Join(dir, "json.p12")
		r = runCLI(t, certPassword+"\n", append(base, "-o", "json", "key", "create", "acme", "--type", "API_CERTIFICATE", "--name", "ci", "--out", out)...)
		var m map[string]any
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &m) != nil {
			t.Fatalf("code %d, stdout %q", r.code, r.stdout)
		}
		if _, ok := m["data"]; ok || m["serial"] == nil {
			t.Errorf("json with --out = %v, want the credential without its data", m)
		}
	})
}

func TestKeyCreateKubeConfig(t *testing.T) {
	f := newFakeServer(t, map[string]canned{
		"POST /v1/projects/acme/credentials": {201, "", certIssuedJSON(keyward.KubeConfig, []byte(kubeYAML))},
	})
	out := filepath.Join(t.TempDir(), "kubeconfig.yaml")
	r := runCLI(t, "", "--server", f.URL, "--token", testToken, "key", "create", "acme", "--type", "KUBE_CONFIG",
		"--name", "ci", "--cluster", "prod", "--namespace", "team-a", "--expiration-days", "7", "--key-algorithm", "rsa-2048", "--out", out)
	if r.code != 0 {
		t.Fatalf("code = %d, stderr %q", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(out); string(b) != kubeYAML {
		t.Errorf("file = %q, want the kubeconfig", b)
	}
	if m := fileMode(t, out); m != 0o600 {
		t.Errorf("mode = %o, want 600", m)
	}
	want := `{"expiration_days":7,"key_algorithm":"rsa-2048","name":"ci","type":"KUBE_CONFIG","virtual_k8s_name":"prod","virtual_k8s_namespace":"team-a"}`
	var body map[string]any
	_ = json.Unmarshal([]byte(f.last(t).body), &body)
	if got, _ := json.Marshal(body); string(got) != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	if !strings.Contains(r.stdout, "Cluster:") || !strings.Contains(r.stdout, "team-a") {
		t.Errorf("stdout = %q, want the cluster and namespace", r.stdout)
	}
	if !strings.Contains(r.stderr, "Wrote the kubeconfig to") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

// TestOutFileAppearsLate: the --out file is created by someone else while the request is under
// way. The secret, which exists nowhere else, is printed instead, and the command fails.
func TestOutFileAppearsLate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "late.yaml")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = os.WriteFile(out, []byte("someone else's"), 0o600)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_, _ = io.WriteString(w, certIssuedJSON(keyward.KubeConfig, []byte(kubeYAML)))
	}))
	defer srv.Close()
	r := runCLI(t, "", "--server", srv.URL, "--token", testToken, "key", "create", "acme", "--type", "KUBE_CONFIG",
		"--name", "ci", "--cluster", "prod", "--namespace", "team-a", "--out", out)
	if r.code != 1 {
		t.Errorf("code = %d, want 1", r.code)
	}
	if b, _ := os.ReadFile(out); string(b) != "someone else's" {
		t.Errorf("the file that appeared was overwritten: %q", b)
	}
	if !strings.Contains(r.stdout, base64.StdEncoding.EncodeToString([]byte(kubeYAML))) {
		t.Errorf("stdout = %q, want the kubeconfig printed instead", r.stdout)
	}
	if !strings.Contains(r.stderr, "could not write the kubeconfig") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

// rollServer answers rolls as the server does: an API_CERTIFICATE roll without a password is
// refused, one with a password re-issues.
type rollServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
}

func newRollServer(t *testing.T, typ keyward.CredentialType) *rollServer {
	rs := &rollServer{}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rs.mu.Lock()
		rs.bodies = append(rs.bodies, string(b))
		rs.mu.Unlock()
		if r.Method != "POST" || r.URL.Path != "/v1/projects/acme/credentials/ci/roll" {
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		}
		var in keyward.RollInput
		_ = json.Unmarshal(b, &in)
		switch {
		case typ == keyward.APICertificate && in.Password == "":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"detail":"invalid request","code":"invalid","errors":{"password":"is required for an API_CERTIFICATE: it protects the PKCS#12 bundle"}}`)
		case typ == keyward.APIToken:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, issuedJSON())
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, certIssuedJSON(typ, p12Bytes))
		}
	}))
	t.Cleanup(rs.Close)
	return rs
}

func TestKeyRollCertificate(t *testing.T) {
	dir := t.TempDir()
	roll := func(t *testing.T, rs *rollServer, env map[string]string, stdin string, extra ...string) result {
		t.Helper()
		args := append([]string{"--server", rs.URL, "--token", testToken, "key", "roll", "acme", "ci"}, extra...)
		return runCLIEnv(t, env, stdin, args...)
	}

	t.Run("PasswordFromStdinAfterRefusal", func(t *testing.T) {
		rs := newRollServer(t, keyward.APICertificate)
		out := filepath.Join(dir, "rolled.p12")
		r := roll(t, rs, nil, "new "+certPassword+"\n", "--out", out, "--expiration-days", "30", "--encoding", "modern", "--key-algorithm", "ecdsa-p256")
		if r.code != 0 {
			t.Fatalf("code = %d, stderr %q", r.code, r.stderr)
		}
		if len(rs.bodies) != 2 || strings.Contains(rs.bodies[0], "password") {
			t.Fatalf("requests = %q, want one without a password, then one with", rs.bodies)
		}
		want := `{"expiration_days":30,"password":"new ` + certPassword + `","key_algorithm":"ecdsa-p256","encoding":"modern"}`
		if rs.bodies[1] != want {
			t.Errorf("second body = %s, want %s", rs.bodies[1], want)
		}
		if b, _ := os.ReadFile(out); !bytes.Equal(b, p12Bytes) {
			t.Errorf("file = %q", b)
		}
		if m := fileMode(t, out); m != 0o600 {
			t.Errorf("mode = %o", m)
		}
	})

	t.Run("PasswordFromEnv", func(t *testing.T) {
		rs := newRollServer(t, keyward.APICertificate)
		r := roll(t, rs, map[string]string{"KEYWARD_P12_PASSWORD": certPassword}, "")
		if r.code != 0 {
			t.Fatalf("code = %d, stderr %q", r.code, r.stderr)
		}
		if len(rs.bodies) != 2 || rs.bodies[0] != "{}" || !strings.Contains(rs.bodies[1], certPassword) {
			t.Errorf("requests = %q, want one without a password, then one with it", rs.bodies)
		}
		lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
		if got := lines[len(lines)-1]; got != base64.StdEncoding.EncodeToString(p12Bytes) {
			t.Errorf("last line = %q, want the bundle", got)
		}
		if !strings.Contains(r.stderr, "This PKCS#12 bundle will not be shown again") {
			t.Errorf("stderr = %q", r.stderr)
		}
	})

	t.Run("NoPassword", func(t *testing.T) {
		rs := newRollServer(t, keyward.APICertificate)
		r := roll(t, rs, nil, "")
		if r.code != 2 || !strings.Contains(r.stderr, "no PKCS#12 bundle password given") || !strings.Contains(r.stderr, "KEYWARD_P12_PASSWORD") {
			t.Errorf("code %d, stderr %q; want 2 and how to give the password", r.code, r.stderr)
		}
		if len(rs.bodies) != 1 {
			t.Errorf("requests = %d, want 1", len(rs.bodies))
		}
	})

	t.Run("KubeConfigNeedsNoPassword", func(t *testing.T) {
		rs := newRollServer(t, keyward.KubeConfig)
		out := filepath.Join(dir, "kube.yaml")
		r := roll(t, rs, nil, "unread line\n", "--out", out)
		if r.code != 0 || len(rs.bodies) != 1 || rs.bodies[0] != "{}" {
			t.Fatalf("code %d, requests %q, stderr %q", r.code, rs.bodies, r.stderr)
		}
		if !strings.Contains(r.stderr, "Wrote the kubeconfig to") {
			t.Errorf("stderr = %q", r.stderr)
		}
	})

	t.Run("TokenToFile", func(t *testing.T) {
		rs := newRollServer(t, keyward.APIToken)
		out := filepath.Join(dir, "key.txt")
		r := roll(t, rs, nil, "", "--grace", "1h", "--out", out)
		if r.code != 0 {
			t.Fatalf("code = %d, stderr %q", r.code, r.stderr)
		}
		if b, _ := os.ReadFile(out); string(b) != newKey+"\n" {
			t.Errorf("file = %q, want the key and a newline", b)
		}
		if strings.Contains(r.stdout, newKey) {
			t.Errorf("stdout shows the key: %q", r.stdout)
		}
		if rs.bodies[0] != `{"grace_seconds":3600}` {
			t.Errorf("body = %s", rs.bodies[0])
		}
	})
}

func TestKeyReveal(t *testing.T) {
	f := newFakeServer(t, map[string]canned{
		"POST /v1/projects/acme/credentials/ci/reveal": {200, "", `{"id":12,"key":"` + newKey + `"}`},
	})
	base := []string{"--server", f.URL, "--token", testToken}
	r := runCLI(t, "", append(base, "key", "reveal", "acme", "ci")...)
	if r.code != 0 || r.stdout != newKey+"\n" {
		t.Fatalf("code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "audit") {
		t.Errorf("stderr = %q, want a warning that the reveal is audited", r.stderr)
	}
	if got := f.last(t); got.body != "" || got.auth != "Bearer "+testToken {
		t.Errorf("request = %+v", got)
	}
	r = runCLI(t, "", append(base, "-o", "json", "key", "reveal", "acme", "ci")...)
	var k keyward.RevealedKey
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &k) != nil || k.Key != newKey || k.CredentialID != 12 {
		t.Errorf("json: code %d, stdout %q", r.code, r.stdout)
	}

	f = newFakeServer(t, map[string]canned{
		"POST /v1/projects/acme/credentials/ci/reveal": {404, "application/problem+json",
			`{"detail":"credential \"ci\" is not recoverable: turn on recoverable_keys in its project and roll it","code":"not_found"}`},
	})
	r = runCLI(t, "", "--server", f.URL, "--token", testToken, "key", "reveal", "acme", "ci")
	if r.code != 1 || !strings.Contains(r.stderr, "not recoverable") || r.stdout != "" {
		t.Errorf("not recoverable: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestProjectUpdate(t *testing.T) {
	f := newFakeServer(t, map[string]canned{
		"PATCH /v1/projects/acme": {200, "", `{"id":3,"slug":"acme","name":"Acme Inc","created_at":"2026-03-01T12:00:00Z","recoverable_keys":true}`},
	})
	base := []string{"--server", f.URL, "--token", testToken}
	for _, tc := range []struct {
		args []string
		body string
	}{
		{[]string{"--recoverable-keys"}, `{"recoverable_keys":true}`},
		{[]string{"--recoverable-keys=false"}, `{"recoverable_keys":false}`},
		{[]string{"--name", "Acme Inc"}, `{"name":"Acme Inc"}`},
		{[]string{"--name", "Acme Inc", "--recoverable-keys=true"}, `{"name":"Acme Inc","recoverable_keys":true}`},
	} {
		r := runCLI(t, "", append(append(base, "project", "update", "acme"), tc.args...)...)
		if r.code != 0 {
			t.Fatalf("%v: code %d, stderr %q", tc.args, r.code, r.stderr)
		}
		if got := f.last(t); got.method != "PATCH" || got.body != tc.body {
			t.Errorf("%v: request %s %s, want body %s", tc.args, got.method, got.body, tc.body)
		}
		if !strings.Contains(r.stdout, "Recoverable keys:") || !strings.Contains(r.stdout, "yes") {
			t.Errorf("stdout = %q", r.stdout)
		}
	}
}

// testCAFiles writes a self-signed CA certificate and its key as PEM files in dir, and returns
// their paths and a DER CRL it signed.
func testCAFiles(t *testing.T, dir string) (certFile, keyFile string, certPEM, crlDER []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cluster client CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, SubjectKeyId: []byte{1, 2, 3, 4},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	crlDER, err = x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(time.Hour)}, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, certPEM, crlDER
}

const clusterJSON = `{"id":2,"name":"prod","server":"https://k8s.example.com:6443",
	"certificate_authority":"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n","created_at":"2026-03-01T12:00:00Z"}`

func TestClusterCommands(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, certPEM, _ := testCAFiles(t, dir)
	keyPEM, _ := os.ReadFile(keyFile)
	f := newFakeServer(t, map[string]canned{
		"POST /v1/clusters":          {201, "", clusterJSON},
		"GET /v1/clusters":           {200, "", `{"items":[` + clusterJSON + `]}`},
		"GET /v1/clusters/prod":      {200, "", clusterJSON},
		"DELETE /v1/clusters/prod":   {204, "", ""},
		"GET /v1/clusters/nope":      {404, "application/problem+json", `{"detail":"cluster not found","code":"not_found"}`},
		"DELETE /v1/clusters/in-use": {403, "application/problem+json", `{"detail":"you lack clusters:admin","code":"forbidden"}`},
	})
	base := []string{"--server", f.URL, "--token", testToken}

	t.Run("Add", func(t *testing.T) {
		// The global --server goes by $KEYWARD_SERVER here, since --server is the cluster's.
		r := runCLIEnv(t, map[string]string{"KEYWARD_SERVER": f.URL}, "", "--token", testToken, "cluster", "add", "prod",
			"--server", "https://k8s.example.com:6443", "--ca-file", certFile, "--client-ca-cert", certFile, "--client-ca-key", keyFile)
		if r.code != 0 {
			t.Fatalf("code %d, stderr %q", r.code, r.stderr)
		}
		var in keyward.ClusterInput
		if err := json.Unmarshal([]byte(f.last(t).body), &in); err != nil {
			t.Fatal(err)
		}
		want := keyward.ClusterInput{Name: "prod", Server: "https://k8s.example.com:6443", CertificateAuthority: string(certPEM),
			ClientCACert: string(certPEM), ClientCAKey: string(keyPEM)}
		if in != want {
			t.Errorf("body = %+v\nwant %+v", in, want)
		}
		for _, s := range []string{"Name:", "prod", "https://k8s.example.com:6443", "1 certificate"} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("stdout = %q, want %q", r.stdout, s)
			}
		}
		if !strings.Contains(r.stderr, "keyward ca pem --cluster prod") {
			t.Errorf("stderr = %q", r.stderr)
		}
	})

	t.Run("AddKeywardServerFlag", func(t *testing.T) {
		r := runCLI(t, "", "--token", testToken, "cluster", "add", "prod", "--keyward-server", f.URL,
			"--server", "https://k8s.example.com:6443")
		if r.code != 0 {
			t.Fatalf("code %d, stderr %q", r.code, r.stderr)
		}
		if got := f.last(t).body; got != `{"name":"prod","server":"https://k8s.example.com:6443"}` {
			t.Errorf("body = %s", got)
		}
	})

	t.Run("AddKeywardItself", func(t *testing.T) {
		https := "https://" + strings.TrimPrefix(f.URL, "http://")
		r := runCLIEnv(t, map[string]string{"KEYWARD_SERVER": https}, "", "--token", testToken, "cluster", "add", "prod", "--server", https)
		if r.code != 2 || !strings.Contains(r.stderr, "is keyward's server") {
			t.Errorf("code %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("List", func(t *testing.T) {
		r := runCLI(t, "", append(base, "cluster", "list")...)
		if r.code != 0 || !strings.Contains(r.stdout, "NAME") || !strings.Contains(r.stdout, "https://k8s.example.com:6443") {
			t.Errorf("code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		r = runCLI(t, "", append(base, "-o", "json", "cluster", "list")...)
		var page keyward.Page[keyward.Cluster]
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &page) != nil || len(page.Items) != 1 || page.Items[0].Name != "prod" {
			t.Errorf("json: code %d, stdout %q", r.code, r.stdout)
		}
	})

	t.Run("Get", func(t *testing.T) {
		r := runCLI(t, "", append(base, "cluster", "get", "prod")...)
		if r.code != 0 || !strings.Contains(r.stdout, "Server:") {
			t.Errorf("code %d, stdout %q", r.code, r.stdout)
		}
		r = runCLI(t, "", append(base, "cluster", "get", "nope")...)
		if r.code != 1 || r.stderr != "error: cluster not found\n" {
			t.Errorf("unknown: code %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("Remove", func(t *testing.T) {
		r := runCLI(t, "", append(base, "cluster", "remove", "prod")...)
		if r.code != 0 || !strings.Contains(r.stdout, "Removed the virtual cluster prod") {
			t.Errorf("code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		if got := f.last(t); got.method != "DELETE" || got.uri != "/v1/clusters/prod" {
			t.Errorf("request = %+v", got)
		}
		r = runCLI(t, "", append(base, "cluster", "rm", "in-use")...)
		if r.code != 1 || !strings.Contains(r.stderr, "clusters:admin") {
			t.Errorf("refused: code %d, stderr %q", r.code, r.stderr)
		}
	})
}

// TestCAPEMAndCRL fetches the public certificate material, without sending the token.
func TestCAPEMAndCRL(t *testing.T) {
	dir := t.TempDir()
	_, _, certPEM, crlDER := testCAFiles(t, dir)
	crlPEM := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crlDER})
	type seen struct{ path, accept, auth string }
	var (
		mu   sync.Mutex
		reqs []seen
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, seen{r.URL.Path, r.Header.Get("Accept"), r.Header.Get("Authorization")})
		mu.Unlock()
		pemWanted := strings.Contains(r.Header.Get("Accept"), "pem")
		switch {
		case strings.HasSuffix(r.URL.Path, "/ca.pem"):
			w.Header().Set("Content-Type", "application/x-pem-file")
			_, _ = w.Write(certPEM)
		case strings.HasSuffix(r.URL.Path, "/crl") && pemWanted:
			w.Header().Set("Content-Type", "application/x-pem-file")
			_, _ = w.Write(crlPEM)
		case strings.HasSuffix(r.URL.Path, "/crl"):
			w.Header().Set("Content-Type", "application/pkix-crl")
			_, _ = w.Write(crlDER)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	last := func() seen {
		mu.Lock()
		defer mu.Unlock()
		return reqs[len(reqs)-1]
	}
	base := []string{"--server", srv.URL, "--token", testToken}

	r := runCLI(t, "", append(base, "ca", "pem")...)
	if r.code != 0 || r.stdout != string(certPEM) {
		t.Fatalf("ca pem: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := last(); got.path != "/v1/ca.pem" || got.auth != "" {
		t.Errorf("request = %+v, want /v1/ca.pem without a token", got)
	}

	out := filepath.Join(dir, "prod-ca.pem")
	r = runCLI(t, "", append(base, "ca", "pem", "--cluster", "prod", "--out", out)...)
	if b, _ := os.ReadFile(out); r.code != 0 || !bytes.Equal(b, certPEM) || r.stdout != "" {
		t.Fatalf("ca pem --cluster --out: code %d, file %q, stderr %q", r.code, b, r.stderr)
	}
	if got := last(); got.path != "/v1/clusters/prod/ca.pem" {
		t.Errorf("request = %+v", got)
	}

	r = runCLI(t, "", append(base, "ca", "crl")...)
	if r.code != 0 || r.stdout != string(crlDER) {
		t.Fatalf("ca crl: code %d, stderr %q", r.code, r.stderr)
	}
	if got := last(); got.path != "/v1/crl" || !strings.Contains(got.accept, "application/pkix-crl") || got.auth != "" {
		t.Errorf("request = %+v", got)
	}

	out = filepath.Join(dir, "prod.crl.pem")
	if err := os.WriteFile(out, []byte("yesterday's"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "", append(base, "ca", "crl", "--cluster", "prod", "--pem", "--out", out)...)
	if b, _ := os.ReadFile(out); r.code != 0 || !bytes.Equal(b, crlPEM) {
		t.Fatalf("ca crl --pem --out: code %d, file %q, stderr %q", r.code, b, r.stderr)
	}
	if got := last(); got.path != "/v1/clusters/prod/crl" || !strings.Contains(got.accept, "application/x-pem-file") {
		t.Errorf("request = %+v", got)
	}
}
