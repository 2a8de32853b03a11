package httpapi_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

// TestCertificatesOffClock creates and rolls every certificate credential of the native API
// (an API_CERTIFICATE, a KUBE_CONFIG signed by keyward's CA, a KUBE_CONFIG signed by a
// cluster's own client CA) with the server's clock a year ahead of and a year behind the wall
// clock, and on fixed dates. Each certificate starts at the server's now and chains to its CA
// then; keyward's own authenticate over mTLS, and lose that when rolled; both CRLs are current
// by the server's clock and list the rolled certificates. A CA dated by the wall clock refused
// the certificates behind it and after its five years, and refused a client CA not valid at
// the wall clock.
func TestCertificatesOffClock(t *testing.T) {
	t.Parallel()
	wall := time.Now()
	tests := []struct {
		name string
		now  time.Time
	}{
		{"YearAhead", wall.AddDate(1, 0, 0)},
		{"YearBehind", wall.AddDate(-1, 0, 0)},
		{"2031-06-01", time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)},
		{"2021-06-01", time.Date(2021, 6, 1, 12, 0, 0, 0, time.UTC)},
		{"2040-06-01", time.Date(2040, 6, 1, 12, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, _ := startWith(t, authority.Options{Now: func() time.Time { return tt.now }}, 0)
			// The same server over TLS, asking for client certificates as keyward serve --tls does.
			tlsSrv := httptest.NewUnstartedServer(e.handler)
			tlsSrv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
			tlsSrv.StartTLS()
			t.Cleanup(tlsSrv.Close)
			now := tt.now.UTC().Truncate(time.Second)
			expires := now.AddDate(0, 0, 30)

			clientCACert, clientCAKey := newClientCA(t, tt.now)
			for _, body := range []any{
				keyward.ClusterInput{Name: "prod", Server: "https://k8s.example.com:6443"},
				keyward.ClusterInput{Name: "own-ca", Server: "https://k8s.example.com:6443", ClientCACert: clientCACert, ClientCAKey: clientCAKey},
			} {
				b, _ := json.Marshal(body)
				if r := e.do(t, "POST", "/v1/clusters", "application/json", string(b)); r.status != http.StatusCreated {
					t.Fatalf("create cluster: %d %s", r.status, r.body)
				}
			}
			keywardCA := e.pool(t, "/v1/ca.pem")
			ownCA := e.pool(t, "/v1/clusters/own-ca/ca.pem")

			const password = "bundle password"
			creds := []struct {
				name, create, roll string
				bundle             func(t *testing.T, data []byte) (*x509.Certificate, crypto.PrivateKey, *x509.CertPool)
				roots              *x509.CertPool
				crl                string // the CRL that lists it once rolled
				mTLS               bool   // it authenticates to keyward
			}{
				// Legacy encoding: the bundle's dates are the point, and the modern bundle's PBKDF2
				// rounds made this the slowest test of the package under -race.
				{"API_CERTIFICATE", `{"type":"API_CERTIFICATE","name":"cert","password":"` + password + `","encoding":"legacy","expiration_days":30}`,
					`{"password":"` + password + `","encoding":"legacy"}`, p12Bundle(password), keywardCA, "/v1/crl", true},
				{"KUBE_CONFIG", `{"type":"KUBE_CONFIG","name":"kube","virtual_k8s_name":"prod","virtual_k8s_namespace":"payments","expiration_days":30}`,
					`{}`, kubeconfigBundle, keywardCA, "/v1/crl", true},
				{"KUBE_CONFIG_ClusterCA", `{"type":"KUBE_CONFIG","name":"kube-own","virtual_k8s_name":"own-ca","virtual_k8s_namespace":"payments","expiration_days":30}`,
					`{}`, kubeconfigBundle, ownCA, "/v1/clusters/own-ca/crl", false},
			}
			rolled := map[string][]*big.Int{}
			for _, c := range creds {
				t.Run(c.name, func(t *testing.T) {
					check := func(r *response, status int) (*x509.Certificate, crypto.PrivateKey) {
						t.Helper()
						if r.status != status {
							t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
						}
						var issued keyward.IssuedCredential
						r.json(t, &issued)
						data, err := base64.StdEncoding.DecodeString(issued.Data)
						if err != nil {
							t.Fatalf("data is not base64: %v", err)
						}
						cert, key, intermediates := c.bundle(t, data)
						if !cert.NotBefore.Equal(now) || !cert.NotAfter.Equal(expires) {
							t.Errorf("certificate valid %s..%s, want %s..%s", cert.NotBefore, cert.NotAfter, now, expires)
						}
						if _, err := cert.Verify(x509.VerifyOptions{Roots: c.roots, Intermediates: intermediates, CurrentTime: tt.now,
							KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
							t.Errorf("the certificate does not chain to its CA at the server's now: %v", err)
						}
						return cert, key
					}
					const credPath = "/v1/projects/system/credentials"
					cert, key := check(e.do(t, "POST", credPath, "application/json", c.create), http.StatusCreated)
					if c.mTLS {
						if status := whoami(t, tlsSrv, cert, key); status != http.StatusOK {
							t.Fatalf("the certificate does not authenticate over mTLS: %d", status)
						}
					}
					ref := regexp.MustCompile(`"name":"([^"]+)"`).FindStringSubmatch(c.create)[1]
					newCert, newKey := check(e.do(t, "POST", credPath+"/"+ref+"/roll", "application/json", c.roll), http.StatusOK)
					rolled[c.crl] = append(rolled[c.crl], cert.SerialNumber)
					if c.mTLS {
						if status := whoami(t, tlsSrv, newCert, newKey); status != http.StatusOK {
							t.Fatalf("the rolled certificate does not authenticate over mTLS: %d", status)
						}
						if status := whoami(t, tlsSrv, cert, key); status != http.StatusUnauthorized {
							t.Fatalf("the certificate rolled away authenticates: %d", status)
						}
					}
				})
			}

			// Both CRLs are current by the server's clock, signed by their CA, and list the
			// certificates rolled away.
			for path, signer := range map[string]string{"/v1/crl": "/v1/ca.pem", "/v1/clusters/own-ca/crl": "/v1/clusters/own-ca/ca.pem"} {
				r := e.do(t, "GET", path, "", "")
				if r.status != http.StatusOK {
					t.Fatalf("GET %s: %d %s", path, r.status, r.body)
				}
				crl, err := x509.ParseRevocationList(r.body)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				if !crl.ThisUpdate.Equal(now) || !crl.NextUpdate.After(now) {
					t.Errorf("%s current %s..%s, want from %s", path, crl.ThisUpdate, crl.NextUpdate, now)
				}
				if err := crl.CheckSignatureFrom(e.chain(t, signer)[0]); err != nil {
					t.Errorf("%s is not signed by %s: %v", path, signer, err)
				}
				listed := map[string]bool{}
				for _, entry := range crl.RevokedCertificateEntries {
					listed[entry.SerialNumber.Text(16)] = true
				}
				for _, serial := range rolled[path] {
					if !listed[serial.Text(16)] {
						t.Errorf("%s does not list rolled certificate %s", path, serial.Text(16))
					}
				}
			}
		})
	}
}

// chain reads the PEM certificates at path, signing certificate first.
func (e *env) chain(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	r := e.do(t, "GET", path, "", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	var certs []*x509.Certificate
	for rest := r.body; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		t.Fatalf("GET %s: no certificate", path)
	}
	return certs
}

// pool is the trust anchor (last certificate) of the chain at path.
func (e *env) pool(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	certs := e.chain(t, path)
	p := x509.NewCertPool()
	p.AddCert(certs[len(certs)-1])
	return p
}

// whoami asks GET /v1/whoami over mTLS, presenting cert and no API key, on a connection of
// its own (a pooled one would carry another certificate).
func whoami(t *testing.T, srv *httptest.Server, cert *x509.Certificate, key crypto.PrivateKey) int {
	t.Helper()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Get(srv.URL + "/v1/whoami")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// newClientCA makes a self-signed client CA valid around now, in PEM, for a cluster's
// client_ca_cert and client_ca_key.
func newClientCA(t *testing.T, now time.Time) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cluster client CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

// p12Bundle reads a PKCS#12 bundle sealed with password.
func p12Bundle(password string) func(t *testing.T, data []byte) (*x509.Certificate, crypto.PrivateKey, *x509.CertPool) {
	return func(t *testing.T, data []byte) (*x509.Certificate, crypto.PrivateKey, *x509.CertPool) {
		t.Helper()
		key, cert, chain, err := pkcs12.DecodeChain(data, password)
		if err != nil {
			t.Fatalf("PKCS#12 bundle: %v", err)
		}
		intermediates := x509.NewCertPool()
		for _, c := range chain {
			intermediates.AddCert(c)
		}
		return cert, key, intermediates
	}
}

var kubeconfigData = regexp.MustCompile(`(?m)^\s*(client-certificate-data|client-key-data): ("[^"]*")$`)

// kubeconfigBundle reads the client certificate (and the chain after it) and key of a
// kubeconfig as keyward writes it.
func kubeconfigBundle(t *testing.T, data []byte) (*x509.Certificate, crypto.PrivateKey, *x509.CertPool) {
	t.Helper()
	fields := map[string][]byte{}
	for _, m := range kubeconfigData.FindAllSubmatch(data, -1) {
		var b64 string
		if err := json.Unmarshal(m[2], &b64); err != nil {
			t.Fatalf("kubeconfig %s: %v", m[1], err)
		}
		pemBytes, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatalf("kubeconfig %s: %v", m[1], err)
		}
		fields[string(m[1])] = pemBytes
	}
	pair, err := tls.X509KeyPair(fields["client-certificate-data"], fields["client-key-data"])
	if err != nil {
		t.Fatalf("kubeconfig client certificate and key: %v\n%s", err, data)
	}
	var certs []*x509.Certificate
	for _, der := range pair.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	intermediates := x509.NewCertPool()
	for _, c := range certs[1:] {
		intermediates.AddCert(c)
	}
	return certs[0], pair.PrivateKey, intermediates
}
