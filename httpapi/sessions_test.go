package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/password"
	"github.com/keyward/keyward/ratelimit"
)

// Sessions through the native API: the system project's credential endpoints never show or
// touch one, whoever asks; the user's own endpoints list and end them; an API key cannot set
// its user's password.
func TestSessionsHTTP(t *testing.T) {
	t.Parallel()
	e, _ := startWith(t, authority.Options{
		PasswordParams: password.Params{Memory: 1024, Time: 1, Threads: 1},
		LoginUserRate:  ratelimit.Rate{Limit: 1000, Period: 1e9}, LoginAddrRate: ratelimit.Rate{Limit: 1000, Period: 1e9},
	}, 0)
	const js = "application/json"
	const pass = "sessions passphrase 1"
	admin := func(method, path, body string) *response {
		t.Helper()
		ct := ""
		if body != "" {
			ct = js
		}
		r := e.do(t, method, path, ct, body)
		if r.status >= 300 {
			t.Fatalf("setup %s %s: %d %s", method, path, r.status, r.body)
		}
		return r
	}
	login := func(name string) keyward.IssuedCredential {
		t.Helper()
		var s keyward.IssuedCredential
		admin("POST", "/v1/login", `{"name":"`+name+`","password":"`+pass+`"}`).json(t, &s)
		return s
	}
	as := func(tok, method, path, body string) *response {
		t.Helper()
		ct := ""
		if body != "" {
			ct = js
		}
		return e.do(t, method, path, ct, body, "Authorization", "Bearer "+tok)
	}
	for _, u := range []struct{ name, role string }{{"alice", ""}, {"sysowner", "owner"}} {
		admin("POST", "/v1/users", `{"name":"`+u.name+`","password":"`+pass+`"}`)
		if u.role != "" {
			admin("POST", "/v1/projects/system/members", `{"user":"`+u.name+`","role":"`+u.role+`"}`)
		}
	}
	a1, a2, owner := login("alice"), login("alice"), login("sysowner")

	t.Run("NotInTheProject", func(t *testing.T) {
		var page keyward.Page[keyward.Credential]
		if r := as(owner.Key, "GET", credPath+"?limit=500", ""); r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.body)
		} else {
			r.json(t, &page)
		}
		for _, c := range page.Items {
			if c.Type == keyward.Session {
				t.Fatalf("the system project lists session %s", c.Name)
			}
		}
		missing := as(owner.Key, "GET", credPath+"/999999", "")
		for _, tc := range []struct{ method, suffix, body string }{
			{"GET", "", ""},
			{"PATCH", "", `{"never_expires":true}`},
			{"DELETE", "", ""},
			{"POST", "/renew", `{"expiration_days":30}`},
			{"POST", "/roll", `{"grace_seconds":3600}`},
		} {
			r := as(owner.Key, tc.method, fmt.Sprintf("%s/%d%s", credPath, a1.ID, tc.suffix), tc.body)
			var got, want httpProblem
			r.json(t, &got)
			missing.json(t, &want)
			if r.status != 404 || got.Detail != strings.Replace(want.Detail, "999999", fmt.Sprint(a1.ID), 1) {
				t.Fatalf("%s %s on a session: %d %s; a missing credential gets %d %s", tc.method, tc.suffix, r.status, r.body, missing.status, missing.body)
			}
		}
		if r := as(a1.Key, "GET", "/v1/whoami", ""); r.status != 200 {
			t.Fatalf("alice's session no longer works: %d", r.status)
		}
	})

	t.Run("UserEndpoints", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{"GET", "/v1/users/alice/sessions"},
			{"DELETE", "/v1/users/alice/sessions"},
			{"DELETE", fmt.Sprintf("/v1/users/alice/sessions/%d", a2.ID)},
		} {
			if r := as(owner.Key, c.method, c.path, ""); r.status != 404 {
				t.Fatalf("%s %s by the system owner: %d, want 404", c.method, c.path, r.status)
			}
		}
		r := as(a1.Key, "DELETE", fmt.Sprintf("/v1/users/alice/sessions/%d", a2.ID), "")
		var ended keyward.Credential
		r.json(t, &ended)
		if r.status != 200 || ended.ID != a2.ID || ended.State != keyward.StateRevoked {
			t.Fatalf("DELETE own session: %d %s", r.status, r.body)
		}
		if r := as(a2.Key, "GET", "/v1/whoami", ""); r.status != 401 {
			t.Fatalf("revoked session: %d, want 401", r.status)
		}
		a3 := login("alice")
		r = as(a1.Key, "DELETE", "/v1/users/alice/sessions", "")
		var res keyward.RevokedSessions
		r.json(t, &res)
		if r.status != 200 || res.Kept != a1.ID || len(res.Revoked) != 1 || res.Revoked[0] != a3.ID {
			t.Fatalf("DELETE own sessions: %d %s", r.status, r.body)
		}
		r = admin("DELETE", "/v1/users/alice/sessions", "")
		res = keyward.RevokedSessions{}
		r.json(t, &res)
		if res.Kept != 0 || len(res.Revoked) != 1 || res.Revoked[0] != a1.ID {
			t.Fatalf("DELETE by an admin: %s", r.body)
		}
	})

	t.Run("PasswordNeedsASession", func(t *testing.T) {
		var key keyward.IssuedCredential
		s := login("alice")
		admin("POST", "/v1/projects/system/members", `{"user":"alice","role":"Client"}`)
		as(s.Key, "POST", credPath, `{"name":"alice-key"}`).json(t, &key)
		body := `{"password":"another passphrase","current_password":"` + pass + `"}`
		if r := as(key.Key, "PUT", "/v1/users/alice/password", body); r.status != 403 {
			t.Fatalf("own password through an API key: %d %s, want 403", r.status, r.body)
		}
		if r := as(s.Key, "PUT", "/v1/users/alice/password", body); r.status != 204 {
			t.Fatalf("own password through a session: %d %s, want 204", r.status, r.body)
		}
	})
}

// httpProblem is the part of a problem document the tests compare.
type httpProblem struct {
	Detail string `json:"detail"`
	Code   string `json:"code"`
}
