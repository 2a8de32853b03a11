package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// testCA returns a self-signed CA certificate in PEM and a DER CRL it signed.
func testCA(t *testing.T) (certPEM, crlDER []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: t0, NotAfter: t1, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, SubjectKeyId: []byte{1, 2, 3, 4},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(7), ThisUpdate: t0, NextUpdate: t0.Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: big.NewInt(0xabc), RevocationTime: t0}},
	}, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), crl
}

const clusterJSON = `{"id":2,"name":"prod","server":"https://k8s.example.com:6443",
	"certificate_authority":"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n","created_at":"2026-03-01T12:00:00Z"}`

var prodCluster = keyward.Cluster{ID: 2, Name: "prod", Server: "https://k8s.example.com:6443",
	CAPEM: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n", CreatedAt: t0}

func TestCertificateCalls(t *testing.T) {
	ctx := context.Background()
	caPEM, crlDER := testCA(t)
	crlPEM := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crlDER})
	certCred := cred
	certCred.Type, certCred.Start = keyward.APICertificate, ""
	certCred.Serial, certCred.Fingerprint = "9f86d081884c7d65", "5e884898da28047151d0e56f8dc62927"
	certCredJSON := strings.NewReplacer(`"API_TOKEN"`, `"API_CERTIFICATE"`, `"start":"kw_live_AbCd",`, "").Replace(credJSON)
	certCredJSON = strings.TrimSuffix(certCredJSON, "}") + `,"serial":"9f86d081884c7d65","fingerprint":"5e884898da28047151d0e56f8dc62927"`
	kube := cred
	kube.Type, kube.Start, kube.Cluster, kube.Namespace = keyward.KubeConfig, "", "prod", "team-a"
	kubeJSON := strings.NewReplacer(`"API_TOKEN"`, `"KUBE_CONFIG"`, `"start":"kw_live_AbCd",`, "").Replace(credJSON)
	kubeJSON = strings.TrimSuffix(kubeJSON, "}") + `,"virtual_k8s_name":"prod","virtual_k8s_namespace":"team-a"`
	pemAccept := map[string]string{"Accept": "application/x-pem-file, application/problem+json"}

	tests := []struct {
		name string
		ex   exchange
		call func(c *client.Client) (any, error)
		want any // nil for a call that returns only an error
	}{
		{
			name: "CreateAPICertificate",
			ex: exchange{method: "POST", path: "/v1/projects/acme/credentials",
				body:   `{"type":"API_CERTIFICATE","name":"ci","expiration_days":30,"password":"correct horse","key_algorithm":"rsa-2048","encoding":"legacy"}`,
				status: 201, rbody: certCredJSON + `,"data":"MIIB"}`},
			call: func(c *client.Client) (any, error) {
				return c.CreateCredential(ctx, "acme", keyward.CreateCredentialInput{
					Type: keyward.APICertificate, Name: "ci", ExpirationDays: ptr(int64(30)),
					CertificateOptions: keyward.CertificateOptions{Password: "correct horse", KeyAlgorithm: "rsa-2048", Encoding: "legacy"},
				})
			},
			want: &keyward.IssuedCredential{Credential: certCred, Data: "MIIB"},
		},
		{
			name: "CreateKubeConfig",
			ex: exchange{method: "POST", path: "/v1/projects/acme/credentials",
				body:   `{"type":"KUBE_CONFIG","name":"ci","virtual_k8s_name":"prod","virtual_k8s_namespace":"team-a"}`,
				status: 201, rbody: kubeJSON + `,"data":"YXBpVmVyc2lvbjogdjEK"}`},
			call: func(c *client.Client) (any, error) {
				return c.CreateCredential(ctx, "acme", keyward.CreateCredentialInput{
					Type: keyward.KubeConfig, Name: "ci", VirtualK8sName: "prod", VirtualK8sNamespace: "team-a",
				})
			},
			want: &keyward.IssuedCredential{Credential: kube, Data: "YXBpVmVyc2lvbjogdjEK"},
		},
		{
			name: "RollCertificate",
			ex: exchange{method: "POST", path: "/v1/projects/acme/credentials/ci/roll",
				body:   `{"expiration_days":7,"password":"new password","encoding":"modern"}`,
				status: 200, rbody: certCredJSON + `,"data":"MIIC"}`},
			call: func(c *client.Client) (any, error) {
				return c.RollCredential(ctx, "acme", "ci", keyward.RollInput{ExpirationDays: ptr(int64(7)),
					CertificateOptions: keyward.CertificateOptions{Password: "new password", Encoding: "modern"}})
			},
			want: &keyward.IssuedCredential{Credential: certCred, Data: "MIIC"},
		},
		{
			name: "UpdateProject",
			ex: exchange{method: "PATCH", path: "/v1/projects/acme", body: `{"name":"Acme Inc","recoverable_keys":true}`,
				status: 200, rbody: strings.TrimSuffix(projectJSON, "}") + `,"recoverable_keys":true}`},
			call: func(c *client.Client) (any, error) {
				return c.UpdateProject(ctx, "acme", keyward.UpdateProjectInput{Name: ptr("Acme Inc"), RecoverableKeys: ptr(true)})
			},
			want: func() *keyward.Project { p := project; p.RecoverableKeys = true; return &p }(),
		},
		{
			name: "UpdateProjectOff",
			ex: exchange{method: "PATCH", path: "/v1/projects/3", body: `{"recoverable_keys":false}`,
				status: 200, rbody: projectJSON},
			call: func(c *client.Client) (any, error) {
				return c.UpdateProject(ctx, "3", keyward.UpdateProjectInput{RecoverableKeys: ptr(false)})
			},
			want: &project,
		},
		{
			name: "RevealKey",
			ex: exchange{method: "POST", path: "/v1/projects/acme/credentials/ci%2Fx/reveal",
				status: 200, rbody: `{"id":12,"key":"kw_live_REVEALED"}`},
			call: func(c *client.Client) (any, error) { return c.RevealKey(ctx, "acme", "ci/x") },
			want: &keyward.RevealedKey{CredentialID: 12, Key: "kw_live_REVEALED"},
		},
		{
			name: "CAChainPEM",
			ex: exchange{method: "GET", path: "/v1/ca.pem", headers: pemAccept, status: 200,
				rheader: map[string]string{"Content-Type": "application/x-pem-file"}, rbody: string(caPEM)},
			call: func(c *client.Client) (any, error) { return c.CAChainPEM(ctx) },
			want: caPEM,
		},
		{
			name: "CRLDER",
			ex: exchange{method: "GET", path: "/v1/crl",
				headers: map[string]string{"Accept": "application/pkix-crl, application/problem+json"}, status: 200,
				rheader: map[string]string{"Content-Type": "application/pkix-crl"}, rbody: string(crlDER)},
			call: func(c *client.Client) (any, error) { return c.CRL(ctx, "", false) },
			want: crlDER,
		},
		{
			name: "CRLPEM",
			ex: exchange{method: "GET", path: "/v1/crl", headers: pemAccept, status: 200,
				rheader: map[string]string{"Content-Type": "application/x-pem-file"}, rbody: string(crlPEM)},
			call: func(c *client.Client) (any, error) { return c.CRL(ctx, "", true) },
			want: crlPEM,
		},
		{
			name: "ClusterCRL",
			ex: exchange{method: "GET", path: "/v1/clusters/prod%20eu/crl", headers: pemAccept, status: 200,
				rheader: map[string]string{"Content-Type": "application/x-pem-file"}, rbody: string(crlPEM)},
			call: func(c *client.Client) (any, error) { return c.CRL(ctx, "prod eu", true) },
			want: crlPEM,
		},
		{
			name: "ClusterCAPEM",
			ex: exchange{method: "GET", path: "/v1/clusters/prod/ca.pem", headers: pemAccept, status: 200,
				rheader: map[string]string{"Content-Type": "application/x-pem-file"}, rbody: string(caPEM)},
			call: func(c *client.Client) (any, error) { return c.ClusterCAPEM(ctx, "prod") },
			want: caPEM,
		},
		{
			name: "CreateCluster",
			ex: exchange{method: "POST", path: "/v1/clusters",
				body:   `{"name":"prod","server":"https://k8s.example.com:6443","certificate_authority":"CA","client_ca_cert":"CERT","client_ca_key":"KEY"}`,
				status: 201, rbody: clusterJSON},
			call: func(c *client.Client) (any, error) {
				return c.CreateCluster(ctx, keyward.ClusterInput{Name: "prod", Server: "https://k8s.example.com:6443",
					CertificateAuthority: "CA", ClientCACert: "CERT", ClientCAKey: "KEY"})
			},
			want: &prodCluster,
		},
		{
			name: "Clusters",
			ex:   exchange{method: "GET", path: "/v1/clusters", status: 200, rbody: `{"items":[` + clusterJSON + `]}`},
			call: func(c *client.Client) (any, error) { return c.Clusters(ctx) },
			want: []keyward.Cluster{prodCluster},
		},
		{
			name: "ClustersEmpty",
			ex:   exchange{method: "GET", path: "/v1/clusters", status: 200, rbody: `{"items":null}`},
			call: func(c *client.Client) (any, error) { return c.Clusters(ctx) },
			want: []keyward.Cluster{},
		},
		{
			name: "Cluster",
			ex:   exchange{method: "GET", path: "/v1/clusters/prod", status: 200, rbody: clusterJSON},
			call: func(c *client.Client) (any, error) { return c.Cluster(ctx, "prod") },
			want: &prodCluster,
		},
		{
			name: "DeleteCluster",
			ex:   exchange{method: "DELETE", path: "/v1/clusters/prod", status: 204},
			call: func(c *client.Client) (any, error) { return nil, c.DeleteCluster(ctx, "prod") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fake(t, tt.ex)
			got, err := tt.call(client.New(srv.URL, token))
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.want == nil {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestCertificateMaterialUnreadable: a success answer that is not the PEM or DER asked for (a
// proxy's HTML page, say) is a TransportError, not bytes to write into a trust store.
func TestCertificateMaterialUnreadable(t *testing.T) {
	ctx := context.Background()
	for name, call := range map[string]func(c *client.Client) error{
		"CAChainPEM":   func(c *client.Client) error { _, err := c.CAChainPEM(ctx); return err },
		"ClusterCAPEM": func(c *client.Client) error { _, err := c.ClusterCAPEM(ctx, "prod"); return err },
		"CRLDER":       func(c *client.Client) error { _, err := c.CRL(ctx, "", false); return err },
		"CRLPEM":       func(c *client.Client) error { _, err := c.CRL(ctx, "prod", true); return err },
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				_, _ = w.Write([]byte("<html>login</html>"))
			}))
			defer srv.Close()
			err := call(client.New(srv.URL, token))
			var te *client.TransportError
			if !errors.As(err, &te) {
				t.Fatalf("err = %#v, want a *client.TransportError", err)
			}
		})
	}
	t.Run("NotFound", func(t *testing.T) {
		srv := fake(t, exchange{method: "GET", path: "/v1/clusters/nope/ca.pem", status: 404,
			headers: map[string]string{"Accept": "application/x-pem-file, application/problem+json"},
			rheader: map[string]string{"Content-Type": "application/problem+json"},
			rbody:   `{"detail":"virtual cluster \"nope\" not found","code":"not_found"}`})
		_, err := client.New(srv.URL, token).ClusterCAPEM(ctx, "nope")
		if got := keyward.ErrorCode(err); got != keyward.ENotFound {
			t.Errorf("code = %q, want not_found (err %v)", got, err)
		}
	})
}

// TestCertificateSecretsRedacted makes the server echo the PKCS#12 password and the client CA
// key: no error may show them.
func TestCertificateSecretsRedacted(t *testing.T) {
	ctx := context.Background()
	const (
		pw  = "p12-pass"
		key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n-----END PRIVATE KEY-----\n"
	)
	tests := []struct {
		name   string
		secret string
		call   func(c *client.Client) error
	}{
		{"Create", pw, func(c *client.Client) error {
			_, err := c.CreateCredential(ctx, "acme", keyward.CreateCredentialInput{Type: keyward.APICertificate, Name: "ci",
				CertificateOptions: keyward.CertificateOptions{Password: pw}})
			return err
		}},
		{"Roll", pw, func(c *client.Client) error {
			_, err := c.RollCredential(ctx, "acme", "ci", keyward.RollInput{CertificateOptions: keyward.CertificateOptions{Password: pw}})
			return err
		}},
		{"CreateCluster", key, func(c *client.Client) error {
			_, err := c.CreateCluster(ctx, keyward.ClusterInput{Name: "prod", Server: "https://k8s", ClientCACert: "x", ClientCAKey: key})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(400)
				detail := strings.ReplaceAll(strings.ReplaceAll(tt.secret, "\n", `\n`), `"`, `\"`)
				_, _ = w.Write([]byte(`{"detail":"refused ` + detail + `","code":"invalid","errors":{"password":"` + detail + ` is weak"}}`))
			}))
			defer srv.Close()
			err := tt.call(client.New(srv.URL, token))
			var ke *keyward.Error
			if !errors.As(err, &ke) {
				t.Fatalf("err = %#v, want a *keyward.Error", err)
			}
			for _, s := range []string{err.Error(), ke.Message, ke.Fields["password"]} {
				if strings.Contains(s, tt.secret) {
					t.Errorf("error text %q shows the secret", s)
				}
			}
			if !strings.Contains(ke.Message, "[REDACTED]") {
				t.Errorf("Message = %q, want the secret redacted", ke.Message)
			}
		})
	}
}

func TestCertificateLocalValidation(t *testing.T) {
	c := client.New("http://127.0.0.1:1", token)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"UpdateProjectEmpty": func() error { _, err := c.UpdateProject(ctx, "", keyward.UpdateProjectInput{}); return err },
		"RevealEmptyRef":     func() error { _, err := c.RevealKey(ctx, "acme", ""); return err },
		"ClusterEmpty":       func() error { _, err := c.Cluster(ctx, ""); return err },
		"DeleteClusterDot":   func() error { return c.DeleteCluster(ctx, "..") },
		"ClusterCAPEMEmpty":  func() error { _, err := c.ClusterCAPEM(ctx, ""); return err },
		"CRLDotCluster":      func() error { _, err := c.CRL(ctx, ".", false); return err },
	} {
		if got := keyward.ErrorCode(call()); got != keyward.EInvalid {
			t.Errorf("%s: code = %q, want invalid", name, got)
		}
	}
}
