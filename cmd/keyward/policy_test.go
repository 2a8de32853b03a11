package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPolicyOnEverySurface: a project policy is the authority's, so every dialect's date field
// answers to it: too long an expiry (or none, under require_expiry) is refused with the
// policy's name in the dialect's own error shape, and one within it is accepted.
func TestPolicyOnEverySurface(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServer(t, t.TempDir(), "--bootstrap-token-file", filepath.Join(dir, "tok"))
	raw, _ := os.ReadFile(filepath.Join(dir, "tok"))
	admin := strings.TrimSpace(string(raw))
	send := func(method, path, header, value, contentType, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(header, value)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	native := func(method, path, body string) (int, string) {
		return send(method, path, "Authorization", "Bearer "+admin, "application/json", body)
	}
	if st, body := native("POST", "/v1/projects", `{"slug":"acme"}`); st != 201 {
		t.Fatalf("create project: %d %s", st, body)
	}
	if st, body := native("PUT", "/v1/projects/acme/policy", `{"max_lifetime_days":30,"require_expiry":true,"allowed_environments":["live"]}`); st != 200 || !strings.Contains(body, `"max_lifetime_days":30`) {
		t.Fatalf("set policy: %d %s", st, body)
	}
	if st, body := native("GET", "/v1/projects/acme", ""); st != 200 || !strings.Contains(body, `"require_expiry":true`) {
		t.Fatalf("the project does not show its policy: %d %s", st, body)
	}
	f5 := func(path, body string) (int, string) {
		return send("POST", "/api/web/namespaces/acme/"+path, "Authorization", "APIToken "+admin, "application/json", body)
	}
	pk := func(method, body string) (int, string) {
		return send(method, "/api/projects/acme/api-keys", "Authorization", "Bearer "+admin, "application/json", body)
	}
	vmx := func(path, body string) (int, string) {
		return send("POST", "/api/v1/applications/key"+path, "X-VoltMX-Authorization", admin, "application/x-www-form-urlencoded", body)
	}
	day := func(n int) time.Time { return time.Now().UTC().Add(time.Duration(n) * 24 * time.Hour) }
	rfc := func(n int) string { return day(n).Format(time.RFC3339) }
	mx := func(n int) string { return day(n).Format("01/02/2006 15:04:05") }

	const maxRule, expiryRule = "project policy: max_lifetime_days is 30", "project policy: require_expiry is true"
	cases := []struct {
		name string
		do   func() (int, string)
		want string // "" when allowed
	}{
		{"NativeTooLong", func() (int, string) {
			return native("POST", "/v1/projects/acme/credentials", `{"name":"n1","expiration_days":31}`)
		}, maxRule},
		{"NativeWithin", func() (int, string) {
			return native("POST", "/v1/projects/acme/credentials", `{"name":"n2","expiration_days":30}`)
		}, ""},
		{"F5CreateTooLong", func() (int, string) {
			return f5("api_credentials", `{"name":"f1","namespace":"acme","expiration_days":31,"spec":{"type":"API_TOKEN"}}`)
		}, maxRule},
		{"F5CreateWithin", func() (int, string) {
			return f5("api_credentials", `{"name":"f2","namespace":"acme","expiration_days":30,"spec":{"type":"API_TOKEN"}}`)
		}, ""},
		{"F5RenewTooLong", func() (int, string) {
			return f5("renew/api_credentials", `{"name":"f2","namespace":"acme","expiration_days":31}`)
		}, maxRule},
		{"ProjectKeysCreateTooLong", func() (int, string) {
			return pk("POST", `{"name":"p1","expireDate":"`+rfc(31)+`","hasExpireTime":true}`)
		}, maxRule},
		{"ProjectKeysCreateNever", func() (int, string) { return pk("POST", `{"name":"p2","hasExpireTime":false}`) }, expiryRule},
		{"ProjectKeysCreateWithin", func() (int, string) {
			return pk("POST", `{"name":"p3","expireDate":"`+rfc(29)+`","hasExpireTime":true}`)
		}, ""},
		{"VoltMXCreateTooLong", func() (int, string) { return vmx("", "appId=acme&name=v1&expiresOn="+mx(31)) }, maxRule},
		{"VoltMXCreateNever", func() (int, string) { return vmx("", "appId=acme&name=v2&neverExpires=true") }, expiryRule},
		{"VoltMXCreateWithin", func() (int, string) { return vmx("", "appId=acme&name=v3&expiresOn="+mx(29)) }, ""},
		{"ServiceStackTestEnvironment", func() (int, string) {
			return send("POST", "/auth/apikeys/regenerate/test", "Authorization", "Bearer "+admin, "", "")
		}, ""}, // the system project has no policy: its own keys are untouched
	}
	for _, tc := range cases {
		st, body := tc.do()
		switch {
		case tc.want == "" && st >= 300:
			t.Errorf("%s: refused within the policy: %d %s", tc.name, st, body)
		case tc.want != "" && (st != 400 || !strings.Contains(body, tc.want)):
			t.Errorf("%s: %d %s; want 400 naming %q", tc.name, st, body, tc.want)
		}
	}

	// The update paths of project keys and Volt MX, on a key created within the policy.
	st, body := pk("GET", "")
	if st != 200 {
		t.Fatalf("list: %d %s", st, body)
	}
	for _, tc := range []struct {
		name string
		do   func() (int, string)
		want string
	}{
		{"ProjectKeysUpdateTooLong", func() (int, string) {
			return pk("PUT", `{"id":`+credentialID(t, native, "p3")+`,"expireDate":"`+rfc(31)+`","hasExpireTime":true}`)
		}, maxRule},
		{"ProjectKeysUpdateNever", func() (int, string) {
			return pk("PUT", `{"id":`+credentialID(t, native, "p3")+`,"hasExpireTime":false}`)
		}, expiryRule},
		{"VoltMXModifyTooLong", func() (int, string) {
			return vmx("/"+credentialKey(t, native, vmx, "v4"), "expiresOn="+mx(31))
		}, maxRule},
	} {
		st, body := tc.do()
		if st != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s; want 400 naming %q", tc.name, st, body, tc.want)
		}
	}

	// The CLI: set merges the flags given into the current policy; show prints it.
	out, errOut, code := cli(t, srv, admin, "", "project", "policy", "set", "acme", "--disable-unused-days", "45", "--leak-action", "disable", "--allowed-types", "API_TOKEN,KUBE_TOKEN")
	if code != 0 || !strings.Contains(out, "45 days") || !strings.Contains(out, "30 days") {
		t.Fatalf("policy set: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = cli(t, srv, admin, "", "project", "policy", "show", "acme", "-o", "json")
	for _, want := range []string{`"max_lifetime_days": 30`, `"require_expiry": true`, `"disable_unused_days": 45`, `"leak_action": "disable"`, `"API_TOKEN"`, `"KUBE_TOKEN"`, `"live"`} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("policy show -o json lacks %s: exit %d\n%s%s", want, code, out, errOut)
		}
	}
	if _, errOut, code = cli(t, srv, admin, "", "project", "policy", "set", "acme", "--leak-action", "shrug"); code != 1 || !strings.Contains(errOut, "leak_action") {
		t.Fatalf("an invalid leak action: exit %d\n%s", code, errOut)
	}
	out, errOut, code = cli(t, srv, admin, "", "key", "roll", "acme", "n2", "--grace-until-first-use", "--grace", "1h", "-o", "json")
	if code != 0 || !strings.Contains(out, `"key"`) {
		t.Fatalf("key roll --grace-until-first-use: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = cli(t, srv, admin, "", "audit", "list", "--project", "acme", "-o", "json")
	if !strings.Contains(out, `"grace_until_first_use": "true"`) {
		t.Fatalf("the roll's event does not say its grace ends at first use:\n%s", out)
	}
	if strings.Count(out, `"project.policy"`) != 2 {
		t.Fatalf("want two project.policy events (API and CLI), got:\n%s", out)
	}
	srv.stop(t)
}

// credentialID returns the id of credential name in acme, through the native API.
func credentialID(t *testing.T, native func(method, path, body string) (int, string), name string) string {
	t.Helper()
	st, body := native("GET", "/v1/projects/acme/credentials/"+name, "")
	i := strings.Index(body, `"id":`)
	if st != 200 || i < 0 {
		t.Fatalf("read %s: %d %s", name, st, body)
	}
	rest := body[i+5:]
	return rest[:strings.IndexAny(rest, ",}")]
}

// credentialKey creates name in acme through Volt MX (expiring within the policy) and returns
// its key.
func credentialKey(t *testing.T, _ func(method, path, body string) (int, string), vmx func(path, body string) (int, string), name string) string {
	t.Helper()
	st, body := vmx("", "appId=acme&name="+name+"&expiresOn="+time.Now().UTC().Add(24*time.Hour).Format("01/02/2006 15:04:05"))
	const field = `"id":"`
	i := strings.Index(body, field)
	if st >= 300 || i < 0 {
		t.Fatalf("Volt MX create %s: %d %s", name, st, body)
	}
	rest := body[i+len(field):]
	return rest[:strings.IndexByte(rest, '"')]
}
