package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/openapitest"
	"github.com/keyward/keyward/internal/proctest"
)

// tool returns the path of an external program the certificate tests drive, or fails with how
// to install it: these tests prove keyward's output works with the real clients.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} { // a minimal PATH may lack sbin
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	t.Fatalf("%s is needed by this test: apt-get install %s (make test runs scripts/test-tools.sh, which does)", name, pkg)
	return ""
}

// tlsClient trusts keyward's CA, for the Go client's calls to serve --tls.
func tlsClient(t *testing.T, caPEM []byte) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificates in /v1/ca.pem")
	}
	// The Go client's exchanges are checked against the OpenAPI document as the proxy of
	// startServer checks the others (a TLS server is not proxied).
	tr := openapitest.Transport(t, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}})
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func TestCertificatesWithRealClients(t *testing.T) {
	t.Parallel()
	curl := tool(t, "curl", "curl")
	openssl := tool(t, "openssl", "openssl")
	kubectl := tool(t, "kubectl", "kubernetes-client")

	dir := t.TempDir()
	srv := startServer(t, t.TempDir(), "--tls", "--bootstrap-token-file", filepath.Join(dir, "tok"))
	srv.url = strings.Replace(srv.url, "http://", "https://", 1)
	raw, _ := os.ReadFile(filepath.Join(dir, "tok"))
	admin := strings.TrimSpace(string(raw))

	// The CA chain is public; fetch it without trusting anything yet, then pin it.
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := insecure.Get(srv.url + "/v1/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := io.ReadAll(res.Body)
	res.Body.Close()
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, caPEM, 0o600)
	ctx := context.Background()
	c := client.New(srv.url, admin, client.WithHTTPClient(tlsClient(t, caPEM)))

	const password = "bundle password 77"
	issue := func(name string, expires *time.Time) (*keyward.IssuedCredential, string) {
		t.Helper()
		in := keyward.CreateCredentialInput{Type: keyward.APICertificate, Name: name,
			CertificateOptions: keyward.CertificateOptions{Password: password}}
		if expires != nil {
			in.ExpiresAt = expires
		}
		cred, err := c.CreateCredential(ctx, keyward.SystemProject, in)
		if err != nil {
			t.Fatal(err)
		}
		p12, err := base64.StdEncoding.DecodeString(cred.Data)
		if err != nil || cred.Key != "" {
			t.Fatalf("API_CERTIFICATE data: %v (key %q)", err, cred.Key)
		}
		path := filepath.Join(dir, name+".p12")
		os.WriteFile(path, p12, 0o600)
		return cred, path
	}
	whoami := func(bundle string) (int, string) {
		t.Helper()
		out, err := proctest.Command(t, curl, "-s", "-o", "/dev/stderr", "-w", "%{http_code}", "--cert-type", "P12",
			"--cert", bundle+":"+password, "--cacert", caFile, srv.url+"/v1/whoami").CombinedOutput()
		if err != nil && len(out) == 0 {
			t.Fatalf("curl: %v", err)
		}
		s := string(out)
		return atoiTail(s), s
	}

	cred, bundle := issue("laptop", nil)
	t.Run("OpenSSLReadsBundle", func(t *testing.T) {
		if out, err := proctest.Command(t, openssl, "pkcs12", "-in", bundle, "-nokeys", "-passin", "pass:"+password).CombinedOutput(); err != nil {
			t.Fatalf("openssl pkcs12 with the password: %v\n%s", err, out)
		}
		if err := proctest.Command(t, openssl, "pkcs12", "-in", bundle, "-nokeys", "-passin", "pass:wrong password").Run(); err == nil {
			t.Fatal("openssl read the bundle with a wrong password")
		}
	})
	t.Run("CurlMutualTLS", func(t *testing.T) {
		code, out := whoami(bundle)
		if code != 200 || !strings.Contains(out, `"name":"laptop"`) {
			t.Fatalf("curl with the bundle: %d %s", code, out)
		}
	})
	t.Run("RenewRefused", func(t *testing.T) {
		days := int64(10)
		_, err := c.RenewCredential(ctx, keyward.SystemProject, "laptop", keyward.RenewInput{ExpirationDays: &days})
		var e *keyward.Error
		if keyward.ErrorCode(err) != keyward.EInvalid || !asKeywardError(err, &e) || !strings.Contains(e.Message, "roll") {
			t.Fatalf("renew of a certificate: %v", err)
		}
	})
	t.Run("RevokedRefusedAtOnce", func(t *testing.T) {
		if _, err := c.RevokeCredential(ctx, keyward.SystemProject, "laptop"); err != nil {
			t.Fatal(err)
		}
		if code, out := whoami(bundle); code != 401 {
			t.Fatalf("curl with a revoked certificate: %d %s", code, out)
		}
		// The CRL lists exactly that serial and verifies against the CA.
		crl := filepath.Join(dir, "crl.pem")
		req, _ := http.NewRequest("GET", srv.url+"/v1/crl", nil)
		req.Header.Set("Accept", "application/x-pem-file")
		res, err := tlsClient(t, caPEM).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		os.WriteFile(crl, b, 0o600)
		out, err := proctest.Command(t, openssl, "crl", "-in", crl, "-CAfile", caFile, "-noout", "-text").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "verify OK") {
			t.Fatalf("openssl crl: %v\n%s", err, out)
		}
		if got := strings.Count(string(out), "Serial Number:"); got != 1 {
			t.Fatalf("CRL lists %d serials, want 1:\n%s", got, out)
		}
		if !strings.Contains(strings.ToUpper(string(out)), strings.ToUpper(cred.Serial)) {
			t.Fatalf("CRL does not list serial %s:\n%s", cred.Serial, out)
		}
	})
	t.Run("ExpiredRefused", func(t *testing.T) {
		// Far enough ahead that issuing and the first request finish first on a loaded machine.
		soon := time.Now().Add(8 * time.Second).Truncate(time.Second).Add(time.Second)
		_, short := issue("short-lived", &soon)
		if code, out := whoami(short); code != 200 {
			t.Fatalf("fresh short-lived certificate: %d %s", code, out)
		}
		time.Sleep(time.Until(soon) + 500*time.Millisecond)
		if code, out := whoami(short); code != 401 {
			t.Fatalf("expired certificate: %d %s", code, out)
		}
	})

	t.Run("Kubectl", func(t *testing.T) {
		// A stand-in API server: it requires a client certificate from the cluster's signing CA
		// and checks keyward's CRL on every request, as an API server with a CRL would.
		api := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"major":"1","minor":"32","gitVersion":"v1.32.0-keyward-test","user":%q}`, r.TLS.PeerCertificates[0].Subject.CommonName)
		}))
		revoked := func() map[string]bool {
			res, err := tlsClient(t, caPEM).Get(srv.url + "/v1/clusters/vc1/crl")
			if err != nil {
				return nil
			}
			defer res.Body.Close()
			der, _ := io.ReadAll(res.Body)
			list, err := x509.ParseRevocationList(der)
			if err != nil {
				return nil
			}
			out := map[string]bool{}
			for _, e := range list.RevokedCertificateEntries {
				out[e.SerialNumber.Text(16)] = true
			}
			return out
		}
		clientCAs := x509.NewCertPool()
		api.TLS = &tls.Config{
			ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs:  clientCAs,
			VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
				if revoked()[chains[0][0].SerialNumber.Text(16)] {
					return fmt.Errorf("certificate revoked")
				}
				return nil
			},
		}
		api.StartTLS()
		defer api.Close()
		serverCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw})
		if _, err := c.CreateCluster(ctx, keyward.ClusterInput{Name: "vc1", Server: api.URL, CertificateAuthority: string(serverCA)}); err != nil {
			t.Fatal(err)
		}
		res, err := tlsClient(t, caPEM).Get(srv.url + "/v1/clusters/vc1/ca.pem")
		if err != nil {
			t.Fatal(err)
		}
		signers, _ := io.ReadAll(res.Body)
		res.Body.Close()
		clientCAs.AppendCertsFromPEM(signers)

		days := int64(1)
		kc, err := c.CreateCredential(ctx, keyward.SystemProject, keyward.CreateCredentialInput{
			Type: keyward.KubeConfig, Name: "ci-deployer", ExpirationDays: &days,
			VirtualK8sName: "vc1", VirtualK8sNamespace: "payments",
		})
		if err != nil {
			t.Fatal(err)
		}
		yaml, err := base64.StdEncoding.DecodeString(kc.Data)
		if err != nil {
			t.Fatal(err)
		}
		kcFile := filepath.Join(dir, "kubeconfig")
		os.WriteFile(kcFile, yaml, 0o600)
		kube := func() (string, error) {
			out, err := proctest.Command(t, kubectl, "--kubeconfig", kcFile, "get", "--raw", "/version").CombinedOutput()
			return string(out), err
		}
		if ns, err := proctest.Command(t, kubectl, "--kubeconfig", kcFile, "config", "view", "--minify", "-o", "jsonpath={.contexts[0].context.namespace}").Output(); err != nil || string(ns) != "payments" {
			t.Fatalf("kubeconfig namespace = %q, %v", ns, err)
		}
		if out, err := kube(); err != nil || !strings.Contains(out, "v1.32.0-keyward-test") || !strings.Contains(out, `"user":"admin"`) {
			t.Fatalf("kubectl get --raw /version: %v\n%s", err, out)
		}
		if _, err := c.RevokeCredential(ctx, keyward.SystemProject, "ci-deployer"); err != nil {
			t.Fatal(err)
		}
		if out, err := kube(); err == nil {
			t.Fatalf("kubectl succeeded with a revoked certificate:\n%s", out)
		}
		// Missing fields name themselves; an unknown cluster is 404.
		_, err = c.CreateCredential(ctx, keyward.SystemProject, keyward.CreateCredentialInput{Type: keyward.KubeConfig, Name: "x"})
		var e *keyward.Error
		if !asKeywardError(err, &e) || e.Fields["virtual_k8s_name"] == "" || e.Fields["virtual_k8s_namespace"] == "" {
			t.Fatalf("missing cluster fields: %v", err)
		}
		_, err = c.CreateCredential(ctx, keyward.SystemProject, keyward.CreateCredentialInput{Type: keyward.KubeConfig, Name: "y",
			VirtualK8sName: "nope", VirtualK8sNamespace: "ns"})
		if keyward.ErrorCode(err) != keyward.ENotFound {
			t.Fatalf("unknown cluster: %v", err)
		}
	})

	log := srv.stderr.String()
	srv.stop(t)
	// The bundle password and private keys never reach the database or the log.
	for _, f := range dbFiles(t, srv) {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), password) || strings.Contains(string(b), "PRIVATE KEY") {
			t.Fatalf("%s holds the bundle password or a private key", f)
		}
	}
	if strings.Contains(log, password) || strings.Contains(log, "PRIVATE KEY") {
		t.Fatal("the log holds the bundle password or a private key")
	}
}

// dbFiles lists the files of the data directory a server was started with.
func dbFiles(t *testing.T, srv *server) []string {
	t.Helper()
	for i, a := range srv.cmd.Args {
		if a == "--data" && i+1 < len(srv.cmd.Args) {
			files, _ := filepath.Glob(filepath.Join(srv.cmd.Args[i+1], "*"))
			if len(files) == 0 {
				t.Fatal("no data files")
			}
			return files
		}
	}
	t.Fatal("server has no --data")
	return nil
}

func atoiTail(s string) int {
	n := 0
	if len(s) >= 3 {
		fmt.Sscanf(s[len(s)-3:], "%d", &n)
	}
	return n
}

func asKeywardError(err error, target **keyward.Error) bool {
	e, ok := err.(*keyward.Error)
	if ok {
		*target = e
	}
	return ok
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
