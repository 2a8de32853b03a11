package peer

import (
	"net/http/httptest"
	"testing"
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
