package peer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keyward"
)

func TestHost(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.1:1234": "192.0.2.1", "[2001:db8::1]:443": "2001:db8::1", "pipe": "pipe",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		if got := Host(r); got != want {
			t.Errorf("Host(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestAuthorization(t *testing.T) {
	for _, tc := range []struct{ header, scheme, creds string }{
		{"", "", ""},
		{"Bearer kw_live_x", "Bearer", "kw_live_x"},
		{"  bearer   kw_live_x  ", "bearer", "kw_live_x"},
		{"kw_live_x", "", "kw_live_x"},
		{"APIToken a b", "APIToken", "a b"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if s, c := Authorization(r); s != tc.scheme || c != tc.creds {
			t.Errorf("Authorization(%q) = %q, %q; want %q, %q", tc.header, s, c, tc.scheme, tc.creds)
		}
	}
}

// fakeAuth accepts one key and any certificate chain, and says which it was given.
type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, key, addr string) (*keyward.Caller, error) {
	if key != "kw_good" {
		return nil, keyward.Errorf(keyward.EUnauthenticated, "invalid key")
	}
	return &keyward.Caller{RemoteAddr: "key@" + addr}, nil
}

func (fakeAuth) AuthenticateCertificate(_ context.Context, _ []*x509.Certificate, addr string) (*keyward.Caller, error) {
	return &keyward.Caller{RemoteAddr: "cert@" + addr}, nil
}

func TestKeys(t *testing.T) {
	native := Keys{Schemes: []string{"Bearer", "APIToken"}, Fallback: []string{"X-API-Key"}, Certificate: true, Missing: "none"}
	strict := Keys{Schemes: []string{"Bearer", ""}, WrongScheme: "wrong", Missing: "none"}
	vendor := Keys{Headers: []string{"X-Vendor"}, Schemes: []string{"Bearer", "Basic"}, Missing: "none"}
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	for _, tc := range []struct {
		name    string
		keys    Keys
		headers map[string]string
		cert    bool
		want    string // caller name, or the error message
	}{
		{"Bearer", native, map[string]string{"Authorization": "bearer kw_good"}, false, "key@192.0.2.1"},
		{"APIToken", native, map[string]string{"Authorization": "APIToken kw_good"}, false, "key@192.0.2.1"},
		{"Fallback", native, map[string]string{"X-API-Key": " kw_good "}, false, "key@192.0.2.1"},
		{"FallbackOnlyWithoutAuthorization", native, map[string]string{"Authorization": "Digest x", "X-API-Key": "kw_good"}, false, "none"},
		{"CertificateWithoutKey", native, nil, true, "cert@192.0.2.1"},
		{"KeyBeforeCertificate", native, map[string]string{"Authorization": "Bearer kw_bad"}, true, "invalid key"},
		{"NoCertificateSurface", strict, nil, true, "none"},
		{"BareKey", strict, map[string]string{"Authorization": "kw_good"}, false, "key@192.0.2.1"},
		{"WrongScheme", strict, map[string]string{"Authorization": "APIToken kw_good"}, false, "wrong"},
		{"VendorHeaderFirst", vendor, map[string]string{"X-Vendor": "Bearer kw_good", "Authorization": "Bearer kw_bad"}, false, "key@192.0.2.1"},
		{"BasicUser", vendor, map[string]string{"Authorization": basic("kw_good", "")}, false, "key@192.0.2.1"},
		{"BasicWithPassword", vendor, map[string]string{"Authorization": basic("kw_good", "x")}, false, "none"},
		{"OtherSchemeIgnored", vendor, map[string]string{"Authorization": "APIToken kw_good"}, false, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "192.0.2.1:1234"
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			if tc.cert {
				r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{}}}
			}
			c, err := tc.keys.Authenticate(fakeAuth{}, r)
			got := ""
			if err != nil {
				got = keyward.ErrorMessage(err)
				if keyward.ErrorCode(err) != keyward.EUnauthenticated {
					t.Errorf("code %s, want unauthenticated", keyward.ErrorCode(err))
				}
			} else {
				got = c.RemoteAddr
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
