package f5xc_test

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"regexp"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyward/keyward/dialect/f5xc"
)

// TestCertificatesOffClock issues every certificate type the dialect issues (API and service
// credentials, PKCS#12 bundles and kubeconfigs) with the server's clock a year ahead of and a
// year behind the wall clock, and on fixed dates: each certificate starts at the server's now
// and authenticates over mTLS. A CA dated by the wall clock refused every one issued behind it
// ("not_before: is before the CA certificate becomes valid") and every one issued after its
// five years ("expires_at: is after the CA certificate expires").
func TestCertificatesOffClock(t *testing.T) {
	t.Parallel()
	wall := time.Now()
	s := readSeed(t, "create_api_credentials.txt")
	const base = "/api/web/namespaces/"
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
			e := startAt(t, tt.now)
			now := tt.now.UTC().Truncate(time.Second)
			issues := []struct {
				name, path, body string
				bundle           func(t *testing.T, data []byte) (*x509.Certificate, crypto.PrivateKey)
			}{
				// The seed's body is an API_CERTIFICATE with password "example", valid a day.
				{"API_CERTIFICATE", base + "example/api_credentials", s.with(map[string]any{"name": "cert"}), p12Bundle("example")},
				{"KUBE_CONFIG", base + "example/api_credentials", s.with(map[string]any{"name": "kube", "spec.type": "KUBE_CONFIG"}), kubeconfigBundle},
				{"SERVICE_API_CERTIFICATE", base + "system/service_credentials", `{"name":"svc-cert","type":"SERVICE_API_CERTIFICATE","expiration_days":1,
					"api_certificate":{"password":"example-password"},"namespace_roles":[{"namespace":"example","role":"viewer"}]}`, p12Bundle("example-password")},
				{"SERVICE_KUBE_CONFIG", base + "system/service_credentials", `{"name":"svc-kube","type":"SERVICE_KUBE_CONFIG","expiration_days":1,
					"vk8s_kubeconfig":{"vk8s_cluster_name":"example","vk8s_namespace":"example"},"namespace_roles":[{"namespace":"example","role":"viewer"}]}`, kubeconfigBundle},
			}
			for _, is := range issues {
				t.Run(is.name, func(t *testing.T) {
					var created f5xc.CreateResponse
					e.ok(t, "POST", is.path, is.body, &created)
					data, err := base64.StdEncoding.DecodeString(created.Data)
					if err != nil {
						t.Fatalf("data is not base64: %v", err)
					}
					cert, key := is.bundle(t, data)
					if !cert.NotBefore.Equal(now) || !cert.NotAfter.Equal(now.AddDate(0, 0, 1)) {
						t.Errorf("certificate valid %s..%s, want %s..%s", cert.NotBefore, cert.NotAfter, now, now.AddDate(0, 0, 1))
					}
					tr := e.srv.Client().Transport.(*http.Transport).Clone()
					tr.TLSClientConfig.Certificates = []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}}
					client := &http.Client{Transport: tr}
					t.Cleanup(client.CloseIdleConnections)
					if r := e.send(t, client, "GET", base+"example/api_credentials", "", "", "", false); r.status != http.StatusOK {
						t.Fatalf("the certificate does not authenticate: %d %s", r.status, r.body)
					}
				})
			}
		})
	}
}

// p12Bundle reads a PKCS#12 bundle sealed with password.
func p12Bundle(password string) func(t *testing.T, data []byte) (*x509.Certificate, crypto.PrivateKey) {
	return func(t *testing.T, data []byte) (*x509.Certificate, crypto.PrivateKey) {
		t.Helper()
		key, cert, _, err := pkcs12.DecodeChain(data, password)
		if err != nil {
			t.Fatalf("PKCS#12 bundle: %v", err)
		}
		return cert, key
	}
}

var kubeconfigData = regexp.MustCompile(`(?m)^\s*(client-certificate-data|client-key-data): ("[^"]*")$`)

// kubeconfigBundle reads the client certificate and key of a kubeconfig as keyward writes it.
func kubeconfigBundle(t *testing.T, data []byte) (*x509.Certificate, crypto.PrivateKey) {
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
	if pair.Leaf == nil {
		block, _ := pem.Decode(fields["client-certificate-data"])
		if pair.Leaf, err = x509.ParseCertificate(block.Bytes); err != nil {
			t.Fatal(err)
		}
	}
	return pair.Leaf, pair.PrivateKey
}
