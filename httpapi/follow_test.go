package httpapi_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/password"
)

var kubeDataRE = regexp.MustCompile(`client-(certificate|key)-data: "([^"]+)"`)

// clientCertificate returns the TLS client certificate an issued certificate credential
// carries: from its PKCS#12 bundle or from its kubeconfig.
func clientCertificate(t *testing.T, ic *keyward.IssuedCredential, p12Password string) tls.Certificate {
	t.Helper()
	data, err := base64.StdEncoding.DecodeString(ic.Data)
	if err != nil {
		t.Fatal(err)
	}
	if ic.Type == keyward.APICertificate {
		key, cert, chain, err := pkcs12.DecodeChain(data, p12Password)
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Certificate{PrivateKey: key, Leaf: cert, Certificate: [][]byte{cert.Raw}}
		for _, c := range chain {
			tc.Certificate = append(tc.Certificate, c.Raw)
		}
		return tc
	}
	pems := map[string][]byte{}
	for _, m := range kubeDataRE.FindAllSubmatch(data, -1) {
		if pems[string(m[1])], err = base64.StdEncoding.DecodeString(string(m[2])); err != nil {
			t.Fatal(err)
		}
	}
	tc, err := tls.X509KeyPair(pems["certificate"], pems["key"])
	if err != nil {
		t.Fatalf("kubeconfig client certificate: %v", err)
	}
	return tc
}

// TestCertificatesFollowCreatorOverHTTP drives the native API end to end: a user's PKCS#12
// and kubeconfig certificates authenticate over mutual TLS; a refused attempt to unbind it
// changes nothing; once an admin disables the user, both serials are in the CRL /v1/crl
// serves, mutual TLS refuses them, and the project's audit shows one credential.revoke per
// certificate, with its reason. Enabling the user again restores neither.
func TestCertificatesFollowCreatorOverHTTP(t *testing.T) {
	t.Parallel()
	e, _ := startWith(t, authority.Options{PasswordParams: password.Params{Memory: 1024, Time: 1, Threads: 1}}, 10*time.Second)
	tsrv := httptest.NewUnstartedServer(e.handler)
	tsrv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	tsrv.StartTLS()
	t.Cleanup(tsrv.Close)

	const pw = "a long enough passphrase"
	const p12pw = "bundle password 77"
	for _, step := range []struct{ path, body string }{
		{"/v1/projects", `{"slug":"acme"}`},
		{"/v1/users", `{"name":"dev","password":"` + pw + `"}`},
		{"/v1/projects/acme/members", `{"user":"dev","role":"Client"}`},
		{"/v1/clusters", `{"name":"prod","server":"https://k8s.example.com:6443"}`},
	} {
		if res := e.do(t, "POST", step.path, "application/json", step.body); res.status != http.StatusCreated && res.status != http.StatusOK {
			t.Fatalf("POST %s: %d %s", step.path, res.status, res.body)
		}
	}
	var session keyward.IssuedCredential
	login := e.do(t, "POST", "/v1/login", "application/json", `{"name":"dev","password":"`+pw+`"}`)
	login.json(t, &session)
	dev := &env{url: e.url, token: session.Key}

	issue := func(body string) *keyward.IssuedCredential {
		t.Helper()
		res := dev.do(t, "POST", "/v1/projects/acme/credentials", "application/json", body)
		if res.status != http.StatusCreated {
			t.Fatalf("create credential: %d %s", res.status, res.body)
		}
		var ic keyward.IssuedCredential
		res.json(t, &ic)
		return &ic
	}
	// Legacy encoding: the test follows the certificate, not the bundle's PBKDF2 rounds.
	cert := issue(`{"type":"API_CERTIFICATE","name":"dev-cert","password":"` + p12pw + `","encoding":"legacy"}`)
	kube := issue(`{"type":"KUBE_CONFIG","name":"dev-kube","virtual_k8s_name":"prod","virtual_k8s_namespace":"team-a"}`)

	// whoami presents c's certificate over mutual TLS and returns the status.
	whoami := func(c *keyward.IssuedCredential) int {
		t.Helper()
		tr := tsrv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = []tls.Certificate{clientCertificate(t, c, p12pw)}
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		defer tr.CloseIdleConnections()
		res, err := client.Get(tsrv.URL + "/v1/whoami")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		io.Copy(io.Discard, res.Body)
		return res.StatusCode
	}
	crl := func() map[string]bool {
		t.Helper()
		res := e.do(t, "GET", "/v1/crl", "", "")
		if res.status != http.StatusOK {
			t.Fatalf("GET /v1/crl: %d %s", res.status, res.body)
		}
		list, err := x509.ParseRevocationList(res.body)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, entry := range list.RevokedCertificateEntries {
			out[entry.SerialNumber.Text(16)] = true
		}
		return out
	}
	revokeEvents := func() map[int64]keyward.Event {
		t.Helper()
		var page keyward.Page[keyward.Event]
		e.do(t, "GET", "/v1/audit?project=acme&limit=500", "", "").json(t, &page)
		out := map[int64]keyward.Event{}
		for _, ev := range page.Items {
			if ev.Action == "credential.revoke" {
				if _, dup := out[ev.CredentialID]; dup {
					t.Fatalf("two credential.revoke events for credential %d", ev.CredentialID)
				}
				out[ev.CredentialID] = ev
			}
		}
		return out
	}
	standing := func(when string) {
		t.Helper()
		for _, c := range []*keyward.IssuedCredential{cert, kube} {
			if got := whoami(c); got != http.StatusOK {
				t.Fatalf("%s: %s over mutual TLS: %d, want 200", when, c.Name, got)
			}
			if crl()[c.Serial] {
				t.Fatalf("%s: %s is in the CRL", when, c.Name)
			}
		}
		if evs := revokeEvents(); len(evs) != 0 {
			t.Fatalf("%s: revoke events %+v", when, evs)
		}
	}
	standing("issued")

	// The user's own session may not unbind or disable it: refused, and nothing revoked.
	for _, req := range []struct{ method, path, body string }{
		{"DELETE", "/v1/projects/acme/members/dev/roles/Client", ""},
		{"PATCH", "/v1/users/dev", `{"disabled":true}`},
	} {
		if res := dev.do(t, req.method, req.path, "application/json", req.body); res.status < 400 {
			t.Fatalf("%s %s by dev: %d %s", req.method, req.path, res.status, res.body)
		}
	}
	standing("after refused changes")

	if res := e.do(t, "PATCH", "/v1/users/dev", "application/json", `{"disabled":true}`); res.status != http.StatusOK {
		t.Fatalf("disable dev: %d %s", res.status, res.body)
	}
	followed := func(when string) {
		t.Helper()
		list, evs := crl(), revokeEvents()
		for _, c := range []*keyward.IssuedCredential{cert, kube} {
			if !list[c.Serial] {
				t.Fatalf("%s: %s (serial %s) is not in the CRL", when, c.Name, c.Serial)
			}
			if got := whoami(c); got != http.StatusUnauthorized {
				t.Fatalf("%s: %s over mutual TLS: %d, want 401", when, c.Name, got)
			}
			ev, ok := evs[c.ID]
			if !ok || ev.Detail["reason"] != "user.disable" || ev.ProjectID != c.ProjectID {
				b, _ := json.Marshal(evs)
				t.Fatalf("%s: no credential.revoke event with reason user.disable for %s in acme's audit: %s", when, c.Name, b)
			}
		}
	}
	followed("disabled")
	if res := e.do(t, "PATCH", "/v1/users/dev", "application/json", `{"disabled":false}`); res.status != http.StatusOK {
		t.Fatalf("enable dev: %d %s", res.status, res.body)
	}
	followed("enabled again")
	var got keyward.Credential
	e.do(t, "GET", "/v1/projects/acme/credentials/dev-kube", "", "").json(t, &got)
	if !strings.EqualFold(string(got.State), string(keyward.StateRevoked)) {
		t.Fatalf("dev-kube state %q after the user is enabled again, want revoked", got.State)
	}
}
