package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// TestFlagValidation checks the mistakes the CLI catches before sending anything, those that
// keep it from building the request (the server's own rules are TestServerRules'): each must
// exit 2. The server address is unreachable, so a mistake that got through would exit 3.
func TestFlagValidation(t *testing.T) {
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"CreateNoProject", []string{"key", "create", "--name", "ci"}, "missing argument <project>"},
		{"CreateBadTime", []string{"key", "create", "acme", "--name", "ci", "--expires-at", "tomorrow"}, "RFC 3339"},
		{"CreateBadNotBefore", []string{"key", "create", "acme", "--name", "ci", "--not-before", "2030-01-01"}, "RFC 3339"},
		{"CreateBadMeta", []string{"key", "create", "acme", "--name", "ci", "--meta", "novalue"}, "key=value"},
		{"CreateDupMeta", []string{"key", "create", "acme", "--name", "ci", "--meta", "a=1", "--meta", "a=2"}, "twice"},
		{"CreateBadDays", []string{"key", "create", "acme", "--name", "ci", "--expiration-days", "ten"}, "invalid argument"},
		{"UpdateNoExpirationDays", []string{"key", "update", "acme", "ci", "--expiration-days", "3"}, "unknown flag"},
		{"UpdateMetaAndClear", []string{"key", "update", "acme", "ci", "--meta", "a=b", "--clear-meta"}, "cannot be used together"},
		{"UpdateVersionZero", []string{"key", "update", "acme", "ci", "--active=false", "--if-version", "0"}, "--if-version 0 cannot be sent"},
		{"UpdateBadActive", []string{"key", "update", "acme", "ci", "--active=maybe"}, "invalid argument"},
		{"RollBoth", []string{"key", "roll", "acme", "ci", "--grace", "1h", "--grace-seconds", "3600"}, "cannot be used together"},
		{"RollFraction", []string{"key", "roll", "acme", "ci", "--grace", "1500ms"}, "whole number of seconds"},
		{"VerifyEmptyStdin", []string{"key", "verify"}, "no key given"},
		{"ProjectListCursorAll", []string{"project", "list", "--cursor", "x", "--all"}, "cannot be used together"},
		{"AuditBadCredential", []string{"audit", "list", "--credential", "abc"}, "invalid argument"},
		{"BadOutput", []string{"-o", "yaml", "whoami"}, "--output must be table or json"},
		{"BadServer", []string{"--server", "localhost:8080", "whoami"}, "not an http:// or https:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--server", "http://127.0.0.1:1", "--token", testToken}, tt.args...)
			r := runCLI(t, "", args...)
			if r.code != 2 {
				t.Errorf("code = %d, want 2 (stderr %q)", r.code, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "error: ") || !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("stderr = %q, want an error about %q", r.stderr, tt.msg)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
	t.Run("NoToken", func(t *testing.T) {
		r := runCLI(t, "", "--server", "http://127.0.0.1:1", "whoami")
		if r.code != 2 || !strings.Contains(r.stderr, "KEYWARD_TOKEN") {
			t.Errorf("code %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestKeyCreate(t *testing.T) {
	f := newFakeServer(t, map[string]canned{
		"POST /v1/projects/acme%20x/credentials": {201, "", issuedJSON()},
	})
	base := []string{"--server", f.URL, "--token", testToken}

	r := runCLI(t, "", append(base, "key", "create", "acme x", "--name", "ci", "--expiration-days", "30",
		"--meta", "team=infra", "--meta", "tier=", "--environment", "test", "--key-type", "publishable",
		"--not-before", "2026-03-02T00:00:00+01:00")...)
	if r.code != 0 {
		t.Fatalf("code = %d, stderr %q", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if got := lines[len(lines)-1]; got != newKey {
		t.Errorf("last line of stdout = %q, want the key", got)
	}
	if !strings.Contains(r.stdout, "Name:") || !strings.Contains(r.stdout, "ci") {
		t.Errorf("stdout = %q, want the key's details", r.stdout)
	}
	if got, want := strings.TrimSpace(r.stderr), secretWarning; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(f.last(t).body), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"name": "ci", "expiration_days": 30.0, "environment": "test", "key_type": "publishable",
		"not_before": "2026-03-02T00:00:00+01:00", "meta": map[string]any{"team": "infra", "tier": ""},
	}
	if got, _ := json.Marshal(body); string(got) != mustJSON(t, want) {
		t.Errorf("body = %s, want %s", got, mustJSON(t, want))
	}

	r = runCLI(t, "", append(base, "-o", "json", "key", "create", "acme x", "--name", "ci", "--never-expires")...)
	if r.code != 0 {
		t.Fatalf("json: code = %d, stderr %q", r.code, r.stderr)
	}
	var ic keyward.IssuedCredential
	if err := json.Unmarshal([]byte(r.stdout), &ic); err != nil {
		t.Fatalf("json output %q: %v", r.stdout, err)
	}
	if ic.Key != newKey || ic.ID != 12 {
		t.Errorf("json output = %+v", ic)
	}
	if !strings.Contains(r.stderr, secretWarning) {
		t.Errorf("stderr = %q, want the warning", r.stderr)
	}
	if got := f.last(t).body; got != `{"name":"ci","never_expires":true}` {
		t.Errorf("body = %s", got)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestKeyUpdateIfMatch(t *testing.T) {
	f := newFakeServer(t, map[string]canned{
		"PATCH /v1/projects/acme/credentials/ci": {200, "", credJSON},
	})
	base := []string{"--server", f.URL, "--token", testToken}
	tests := []struct {
		args    []string
		body    string
		ifMatch string
	}{
		{[]string{"--description", "new", "--if-version", "3"}, `{"description":"new"}`, `"3"`},
		{[]string{"--active=false"}, `{"active":false}`, ""},
		{[]string{"--never-expires", "--clear-meta"}, `{"meta":{},"never_expires":true}`, ""},
		{[]string{"--meta", "a=b", "--expires-at", "2030-01-01T00:00:00Z", "--description", ""}, `{"description":"","meta":{"a":"b"},"expires_at":"2030-01-01T00:00:00Z"}`, ""},
	}
	for _, tt := range tests {
		r := runCLI(t, "", append(append(base, "key", "update", "acme", "ci"), tt.args...)...)
		if r.code != 0 {
			t.Fatalf("%v: code = %d, stderr %q", tt.args, r.code, r.stderr)
		}
		req := f.last(t)
		if req.body != tt.body || req.ifMatch != tt.ifMatch {
			t.Errorf("%v: body %s If-Match %q, want %s and %q", tt.args, req.body, req.ifMatch, tt.body, tt.ifMatch)
		}
	}
}

func TestKeyRenewRollRevoke(t *testing.T) {
	f := newFakeServer(t, map[string]canned{
		"POST /v1/projects/acme/credentials/12/renew": {200, "", credJSON},
		"POST /v1/projects/acme/credentials/12/roll":  {200, "", issuedJSON()},
		"DELETE /v1/projects/acme/credentials/12":     {200, "", strings.Replace(credJSON, `"active"}`, `"revoked"}`, 1)},
	})
	base := []string{"--server", f.URL, "--token", testToken}
	tests := []struct {
		args []string
		body string
	}{
		{[]string{"key", "renew", "acme", "12", "--expiration-days", "90"}, `{"expiration_days":90}`},
		{[]string{"key", "renew", "acme", "12", "--expires-at", "2030-01-01T00:00:00Z"}, `{"expires_at":"2030-01-01T00:00:00Z"}`},
		{[]string{"key", "roll", "acme", "12", "--grace", "1h"}, `{"grace_seconds":3600}`},
		{[]string{"key", "roll", "acme", "12", "--grace-seconds", "90"}, `{"grace_seconds":90}`},
		{[]string{"key", "roll", "acme", "12"}, `{}`},
		{[]string{"key", "revoke", "acme", "12"}, ``},
	}
	for _, tt := range tests {
		r := runCLI(t, "", append(base, tt.args...)...)
		if r.code != 0 {
			t.Fatalf("%v: code = %d, stderr %q", tt.args, r.code, r.stderr)
		}
		if got := f.last(t).body; got != tt.body {
			t.Errorf("%v: body %s, want %s", tt.args, got, tt.body)
		}
		if tt.args[1] == "roll" && !strings.HasSuffix(r.stdout, "\n"+newKey+"\n") {
			t.Errorf("%v: stdout %q, want the key on the last line", tt.args, r.stdout)
		}
		if tt.args[1] == "revoke" && !strings.Contains(r.stdout, "revoked") {
			t.Errorf("%v: stdout %q", tt.args, r.stdout)
		}
	}
}

func TestKeyList(t *testing.T) {
	f := newFakeServer(t, map[string]canned{
		"GET /v1/projects/acme/credentials?limit=1&state=active": {200, "",
			`{"items":[` + credJSON + `],"next_cursor":"c2"}`},
		"GET /v1/projects/acme/credentials?cursor=c2&limit=1&state=active": {200, "",
			`{"items":[` + strings.Replace(credJSON, `"id":12`, `"id":13`, 1) + `]}`},
	})
	base := []string{"--server", f.URL, "--token", testToken}

	r := runCLI(t, "", append(base, "key", "list", "acme", "--state", "active", "--limit", "1")...)
	if r.code != 0 {
		t.Fatalf("code = %d, stderr %q", r.code, r.stderr)
	}
	for _, col := range []string{"ID", "NAME", "TYPE", "ENV", "STATE", "EXPIRES", "VERSION", "12", "API_TOKEN", "in "} {
		if !strings.Contains(r.stdout, col) {
			t.Errorf("stdout %q lacks %q", r.stdout, col)
		}
	}
	if !strings.Contains(r.stderr, "--cursor c2") {
		t.Errorf("stderr %q, want a hint to the next page", r.stderr)
	}

	n := f.count()
	r = runCLI(t, "", append(base, "-o", "json", "key", "list", "acme", "--state", "active", "--limit", "1", "--all")...)
	if r.code != 0 {
		t.Fatalf("--all: code = %d, stderr %q", r.code, r.stderr)
	}
	if got := f.count() - n; got != 2 {
		t.Errorf("--all sent %d requests, want 2", got)
	}
	var page keyward.Page[keyward.Credential]
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 || page.Items[1].ID != 13 || page.NextCursor != "" {
		t.Errorf("page = %+v", page)
	}
}

func TestKeyVerify(t *testing.T) {
	const key = "kw_live_VERIFYme0123456789abcdefghijABCDEFxy"
	valid := `{"valid":true,"code":"VALID","id":12,"name":"ci","project":"acme","environment":"live","key_type":"secret"}`
	f := newFakeServer(t, map[string]canned{"POST /v1/verify": {200, "", valid}})
	base := []string{"--server", f.URL, "--token", testToken}

	for _, tc := range []struct {
		stdin string
		args  []string
	}{
		{key + "\n", nil},
		{"  " + key + "  \r\n" + "ignored second line\n", []string{"-"}},
		{"", []string{key}},
	} {
		r := runCLI(t, tc.stdin, append(append(base, "key", "verify"), tc.args...)...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "VALID\n") {
			t.Errorf("%q %v: code %d, stdout %q, stderr %q", tc.stdin, tc.args, r.code, r.stdout, r.stderr)
		}
		if got, want := f.last(t).body, `{"key":"`+key+`"}`; got != want {
			t.Errorf("body = %s, want %s", got, want)
		}
	}

	f = newFakeServer(t, map[string]canned{"POST /v1/verify": {200, "", `{"valid":false,"code":"EXPIRED","id":12,"name":"ci","project":"acme"}`}})
	r := runCLI(t, key, "--server", f.URL, "--token", testToken, "key", "verify")
	if r.code != 1 || !strings.HasPrefix(r.stdout, "EXPIRED\n") || r.stderr != "" {
		t.Errorf("invalid: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, key, "--server", f.URL, "--token", testToken, "-o", "json", "key", "verify")
	if r.code != 1 || !strings.Contains(r.stdout, `"code": "EXPIRED"`) {
		t.Errorf("invalid json: code %d, stdout %q", r.code, r.stdout)
	}
}

func TestProjectAndAudit(t *testing.T) {
	f := newFakeServer(t, map[string]canned{
		"POST /v1/projects": {201, "", `{"id":3,"slug":"acme","name":"Acme","created_at":"2026-03-01T12:00:00Z"}`},
		"GET /v1/projects":  {200, "", `{"items":[{"id":3,"slug":"acme","name":"Acme","created_at":"2026-03-01T12:00:00Z"}]}`},
		"GET /v1/audit?credential=12&limit=5&project=acme": {200, "",
			`{"items":[{"id":7,"time":"2026-03-01T12:00:00Z","actor":"admin","action":"credential.create","project_id":3,"credential_id":12,"outcome":"success"}]}`},
	})
	base := []string{"--server", f.URL, "--token", testToken}

	r := runCLI(t, "", append(base, "project", "create", "acme", "--name", "Acme")...)
	if r.code != 0 || !strings.Contains(r.stdout, "acme") {
		t.Errorf("project create: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got, want := f.last(t).body, `{"slug":"acme","name":"Acme"}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	r = runCLI(t, "", append(base, "project", "list")...)
	if r.code != 0 || !strings.Contains(r.stdout, "SLUG") || !strings.Contains(r.stdout, "acme") {
		t.Errorf("project list: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "", append(base, "audit", "list", "--project", "acme", "--credential", "12", "--limit", "5")...)
	if r.code != 0 || !strings.Contains(r.stdout, "credential.create") {
		t.Errorf("audit list: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestKeyCreateRoles(t *testing.T) {
	f := newFakeServer(t, map[string]canned{"POST /v1/projects/acme/credentials": {201, "", issuedJSON()}})
	r := runCLI(t, "", "--server", f.URL, "--token", testToken, "key", "create", "acme", "--name", "ci",
		"--role", "deployer", "--role", "7")
	if r.code != 0 {
		t.Fatalf("code = %d, stderr %q", r.code, r.stderr)
	}
	if got, want := f.last(t).body, `{"name":"ci","roles":["deployer","7"]}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	r = runCLI(t, "", "--server", f.URL, "--token", testToken, "key", "create", "acme", "--name", "ci")
	if got, want := f.last(t).body, `{"name":"ci"}`; r.code != 0 || got != want {
		t.Errorf("no --role: code %d, body = %s, want %s", r.code, got, want)
	}
}

func TestKeyVerifyPermissions(t *testing.T) {
	const key = "kw_live_VERIFYme0123456789abcdefghijABCDEFxy"
	tests := []struct {
		name   string
		answer string
		code   int
		stdout []string
	}{
		{"Valid", `{"valid":true,"code":"VALID","id":12,"name":"ci","project":"acme","permissions":["keys:read","keys:roll"]}`, 0,
			[]string{"VALID\n", "Permissions:", "keys:read keys:roll"}},
		{"Forbidden", `{"valid":false,"code":"FORBIDDEN","id":12,"name":"ci","project":"acme","permissions":["keys:read"]}`, 1,
			[]string{"FORBIDDEN\n", "Permissions:", "keys:read"}},
		// Should a server ever say valid with another code, the code wins.
		{"ValidButForbidden", `{"valid":true,"code":"FORBIDDEN"}`, 1, []string{"FORBIDDEN\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t, map[string]canned{"POST /v1/verify": {200, "", tt.answer}})
			r := runCLI(t, key+"\n", "--server", f.URL, "--token", testToken, "key", "verify",
				"--permission", "keys:read", "--permission", "keys:roll")
			if r.code != tt.code || r.stderr != "" {
				t.Errorf("code %d, stderr %q; want %d", r.code, r.stderr, tt.code)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout = %q, want it to show %q", r.stdout, s)
				}
			}
			if got, want := f.last(t).body, `{"key":"`+key+`","permission":["keys:read","keys:roll"]}`; got != want {
				t.Errorf("body = %s, want %s", got, want)
			}
		})
	}
}
