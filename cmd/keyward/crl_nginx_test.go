package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/openapitest"
	"github.com/keyward/keyward/internal/proctest"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/sqlite"
)

// TestNginxCRLChain puts a real nginx in front with ssl_verify_client and ssl_crl, as a relying
// party that checks keyward's client certificates without asking keyward would: with the CRLs
// of /v1/crl?chain=true it accepts a valid certificate and refuses a revoked one. nginx checks
// a CRL for every certificate of the chain, so keyward's CA's CRL alone makes it refuse even
// the valid certificate; the test shows that too.
func TestNginxCRLChain(t *testing.T) {
	nginx := tool(t, "nginx", "nginx-light")
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	mk, err := masterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	a := authority.New(store, authority.Options{MasterKey: mk})
	defer a.Close()
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
	const password = "bundle passphrase 1"
	issue := func(name string) tls.Certificate {
		t.Helper()
		days := int64(1)
		ic, err := a.CreateCredential(admin, keyward.SystemProject, keyward.CreateCredentialInput{
			Name: name, Type: keyward.APICertificate, ExpirationDays: &days,
			CertificateOptions: keyward.CertificateOptions{Password: password, Encoding: "legacy"},
		})
		if err != nil {
			t.Fatal(err)
		}
		p12, err := base64.StdEncoding.DecodeString(ic.Data)
		if err != nil {
			t.Fatal(err)
		}
		key, leaf, chain, err := pkcs12.DecodeChain(p12, password)
		if err != nil {
			t.Fatal(err)
		}
		c := tls.Certificate{PrivateKey: key, Leaf: leaf, Certificate: [][]byte{leaf.Raw}}
		for _, x := range chain {
			c.Certificate = append(c.Certificate, x.Raw)
		}
		return c
	}
	valid, revoked := issue("valid"), issue("revoked")
	if _, err := a.RevokeCredential(admin, keyward.SystemProject, "revoked"); err != nil {
		t.Fatal(err)
	}

	chainPEM, err := a.CAChainPEM()
	if err != nil {
		t.Fatal(err)
	}
	server, err := a.CA().IssueServer([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("ca.pem", chainPEM)
	write("server.pem", server.ChainPEM)
	write("server.key", server.KeyPEM)
	// The CRLs as a relying party gets them: through the CLI, from the HTTP API.
	api := httptest.NewServer(openapitest.Handler(t, httpapi.New(a, store, httpapi.Options{}), nil))
	defer api.Close()
	for file, flag := range map[string]string{"chain.crl.pem": "--chain", "own.crl.pem": "--pem"} {
		var out, errb bytes.Buffer
		if code := run([]string{"--server", api.URL, "ca", "crl", flag, "--out", filepath.Join(dir, file)}, strings.NewReader(""), &out, &errb); code != 0 {
			t.Fatalf("keyward ca crl %s: exit %d: %s", flag, code, errb.String())
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "chain.crl.pem")); bytes.Count(b, []byte("BEGIN X509 CRL")) != 2 {
		t.Fatalf("ca crl --chain gave %d CRLs, want the CA's and the root's", bytes.Count(b, []byte("BEGIN X509 CRL")))
	}

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(chainPEM)
	for _, tc := range []struct {
		crl                string
		validOK, revokedOK bool
	}{
		{"chain.crl.pem", true, false},
		{"own.crl.pem", false, false}, // why ?chain=true exists
	} {
		t.Run(tc.crl, func(t *testing.T) {
			listen := startNginxMTLS(t, nginx, dir, tc.crl)
			get := func(cert *tls.Certificate) int {
				t.Helper()
				cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
				if cert != nil {
					cfg.Certificates = []tls.Certificate{*cert}
				}
				client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
				res, err := client.Get("https://" + listen + "/")
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res.StatusCode
			}
			for _, c := range []struct {
				name string
				cert *tls.Certificate
				ok   bool
			}{{"Valid", &valid, tc.validOK}, {"Revoked", &revoked, tc.revokedOK}, {"NoCertificate", nil, false}} {
				if got := get(c.cert) == http.StatusOK; got != c.ok {
					log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
					t.Errorf("%s certificate with %s: accepted %v, want %v\n%s", c.name, tc.crl, got, c.ok, log)
				}
			}
		})
	}
}

// startNginxMTLS runs nginx in dir requiring a client certificate from ca.pem checked against
// the CRL file crl, and returns its address.
func startNginxMTLS(t *testing.T, nginx, dir, crl string) string {
	t.Helper()
	listen := freePort(t)
	conf := fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    server {
        listen %[2]s ssl;
        ssl_certificate %[1]s/server.pem;
        ssl_certificate_key %[1]s/server.key;
        ssl_client_certificate %[1]s/ca.pem;
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_crl %[1]s/%[3]s;
        location / { return 200 "ok\n"; }
    }
}
`, dir, listen, crl)
	if os.Geteuid() == 0 {
		conf = "user root;\n" + conf
	}
	path := filepath.Join(dir, "nginx-"+crl+".conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := proctest.Command(t, nginx, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log")) // the master and its workers die with the test
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if conn, err := net.Dial("tcp", listen); err == nil {
			conn.Close()
			return listen
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not listen on %s:\n%s", listen, log)
		}
	}
}
