package httpapi_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/authoritytest"
	"github.com/keyward/keyward/token"
)

// createKey creates an API key in the system project and returns it and its id.
func (e *env) createKey(t *testing.T, body string) (string, int64) {
	t.Helper()
	r := e.do(t, "POST", credPath, "application/json", body)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var c keyward.IssuedCredential
	r.json(t, &c)
	return c.Key, c.ID
}

// TestHotAccessLog checks which verifications get an access line: every refusal and error,
// successes as the sample says, each with its verification code and never the key.
func TestHotAccessLog(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		sample float64
		want   map[string]bool // request name -> logged
	}{
		{"none", -1, map[string]bool{"verify-valid": false, "auth-valid": false, "verify-unknown": true, "auth-unknown": true, "verify-bad-body": true, "auth-revoked": true}},
		{"all", 1, map[string]bool{"verify-valid": true, "auth-valid": true, "verify-unknown": true, "auth-unknown": true, "verify-bad-body": true, "auth-revoked": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, _ := startOpts(t, &faultyStore{Store: authoritytest.Store(t)}, authority.Options{}, httpapi.Options{AccessLogSample: tc.sample})
			key, _ := e.createKey(t, `{"name":"logged"}`)
			revoked, revokedID := e.createKey(t, `{"name":"gone"}`)
			if r := e.do(t, "DELETE", credPath+"/"+strconv.FormatInt(revokedID, 10), "", ""); r.status != 200 {
				t.Fatalf("revoke: %d %s", r.status, r.body)
			}
			unknown, err := token.New(keyward.Live)
			if err != nil {
				t.Fatal(err)
			}
			requests := map[string]func() *response{
				"verify-valid":    func() *response { return e.do(t, "POST", "/v1/verify", "application/json", `{"key":"`+key+`"}`) },
				"verify-unknown":  func() *response { return e.do(t, "POST", "/v1/verify", "application/json", `{"key":"`+unknown+`"}`) },
				"verify-bad-body": func() *response { return e.do(t, "POST", "/v1/verify", "application/json", `{"key":`) },
				"auth-valid":      func() *response { return e.gateway(t, key) },
				"auth-unknown":    func() *response { return e.gateway(t, unknown) },
				"auth-revoked":    func() *response { return e.gateway(t, revoked) },
			}
			for name, do := range requests {
				r := do()
				id := r.header.Get("X-Request-Id")
				if len(id) != 16 {
					t.Fatalf("%s: request id %q", name, id)
				}
				line := logLine(e.log.String(), "request_id="+id)
				if logged := line != ""; logged != tc.want[name] {
					t.Fatalf("%s (status %d): logged = %v, want %v; log:\n%s", name, r.status, logged, tc.want[name], e.log.String())
				}
				if line == "" {
					continue
				}
				if strings.Contains(line, key) || strings.Contains(line, unknown) || strings.Contains(line, revoked) {
					t.Fatalf("%s: the access line holds a key: %s", name, line)
				}
				var v struct{ Code string }
				if r.status == 200 {
					r.json(t, &v)
				}
				if code := r.header.Get("X-Keyward-Code"); code != "" {
					v.Code = code
				}
				if v.Code != "" && !strings.Contains(line, "code="+v.Code) {
					t.Fatalf("%s: the access line lacks code=%s: %s", name, v.Code, line)
				}
			}
		})
	}
}

// gateway asks /v1/auth about key.
func (e *env) gateway(t *testing.T, key string) *response {
	t.Helper()
	return e.do(t, "GET", "/v1/auth", "", "", "Authorization", "Bearer "+key)
}

// TestVerifyAnswerFollowsChanges checks that an answer rendered once per cache entry is
// rendered again when the credential changes: a rename shows, a revocation refuses.
func TestVerifyAnswerFollowsChanges(t *testing.T) {
	t.Parallel()
	e := start(t, 0)
	key, id := e.createKey(t, `{"name":"before"}`)
	verify := func() keyward.Verification {
		t.Helper()
		var v keyward.Verification
		e.do(t, "POST", "/v1/verify", "application/json", `{"key":"`+key+`"}`).json(t, &v)
		return v
	}
	for range 3 {
		if v := verify(); !v.Valid || v.Name != "before" {
			t.Fatalf("before the change: %+v", v)
		}
		if r := e.gateway(t, key); r.status != 200 || r.header.Get("X-Keyward-Credential-Name") != "before" {
			t.Fatalf("gateway before the change: %d %v", r.status, r.header)
		}
	}
	if r := e.do(t, "PATCH", credPath+"/"+strconv.FormatInt(id, 10), "application/json", `{"name":"after"}`); r.status != 200 {
		t.Fatalf("rename: %d %s", r.status, r.body)
	}
	if v := verify(); !v.Valid || v.Name != "after" {
		t.Fatalf("after the rename: %+v", v)
	}
	if r := e.gateway(t, key); r.status != 200 || r.header.Get("X-Keyward-Credential-Name") != "after" {
		t.Fatalf("gateway after the rename: %d %v", r.status, r.header)
	}
	if r := e.do(t, "DELETE", credPath+"/"+strconv.FormatInt(id, 10), "", ""); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if v := verify(); v.Valid || v.Code != keyward.CodeRevoked {
		t.Fatalf("after the revocation: %+v", v)
	}
	if r := e.gateway(t, key); r.status != 401 || r.header.Get("X-Keyward-Code") != keyward.CodeRevoked || r.header.Get("X-Keyward-Credential-Name") != "" {
		t.Fatalf("gateway after the revocation: %d %v", r.status, r.header)
	}
}

// TestHotStoreTimeout checks that the hot endpoints, which set no request timer, still answer
// 504 when the store hangs on a key the cache does not hold: the authority bounds its loads.
func TestHotStoreTimeout(t *testing.T) {
	t.Parallel()
	fs := &faultyStore{Store: authoritytest.Store(t)}
	// Long enough for the create below on a loaded machine; the hung loads wait it out twice.
	e, _ := startOpts(t, fs, authority.Options{StoreTimeout: time.Second}, httpapi.Options{})
	key, _ := e.createKey(t, `{"name":"slow"}`)
	fs.hangLoads.Store(true)
	if r := e.gateway(t, key); r.status != 504 {
		t.Fatalf("/v1/auth with a hung store: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", "/v1/verify", "application/json", `{"key":"`+key+`"}`); r.status != 504 {
		t.Fatalf("/v1/verify with a hung store: %d %s", r.status, r.body)
	}
}

// logLine returns the first line of log holding substr, "" when none does.
func logLine(log, substr string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return ""
}
