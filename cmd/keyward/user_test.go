package main

import (
	"encoding/json"
	"strings"
	"testing"
)

const userJSON = `{"id":4,"name":"alice","disabled":false,"created_at":"2026-03-01T12:00:00Z",
	"updated_at":"2026-03-02T12:00:00Z","has_password":true}`

const disabledUserJSON = `{"id":5,"name":"bob","disabled":true,"created_at":"2026-03-01T12:00:00Z",
	"updated_at":"2026-03-02T12:00:00Z","has_password":false}`

const bindingsJSON = `{"items":[
	{"user_id":4,"user":"alice","project_id":0,"project":"*","role_id":1,"role":"admin"},
	{"user_id":4,"user":"alice","project_id":3,"project":"acme","role_id":7,"role":"deployer"}]}`

func TestUserCommands(t *testing.T) {
	f := newFakeServer(t, map[string]canned{
		"POST /v1/users":                       {201, "", userJSON},
		"GET /v1/users":                        {200, "", `{"items":[` + userJSON + `,` + disabledUserJSON + `],"next_cursor":"c9"}`},
		"GET /v1/users/alice":                  {200, "", userJSON},
		"PATCH /v1/users/bob":                  {200, "", disabledUserJSON},
		"DELETE /v1/users/alice%2Fx":           {200, "", strings.Replace(userJSON, `"has_password"`, `"deleted_at":"2026-03-03T12:00:00Z","has_password"`, 1)},
		"GET /v1/users/alice/roles":            {200, "", bindingsJSON},
		"POST /v1/users/alice/roles":           {201, "", `{"user_id":4,"user":"alice","project_id":0,"project":"*","role_id":1,"role":"admin"}`},
		"DELETE /v1/users/alice/roles/7":       {204, "", ""},
		"GET /v1/users/alice/sessions":         {200, "", `{"items":[` + credJSON + `]}`},
		"GET /v1/users/alice/sessions?limit=1": {200, "", `{"items":[` + credJSON + `],"next_cursor":"s2"}`},
		"DELETE /v1/users/alice/sessions/12":   {200, "", credJSON},
		"DELETE /v1/users/alice/sessions":      {200, "", `{"revoked":[13,14],"kept":12}`},
	})
	base := []string{"--server", f.URL, "--token", testToken}
	tests := []struct {
		name   string
		stdin  string
		args   []string
		req    string // "METHOD URI"
		body   string
		stdout []string // substrings
		stderr string   // substring, "" for nothing
	}{
		{"Create", "ignored\n", []string{"user", "create", "alice"}, "POST /v1/users", `{"name":"alice"}`,
			[]string{"Name:", "alice", "State:", "active", "Password:", "set"}, ""},
		{"CreateWithPassword", "  pass word\r\nnext\n", []string{"user", "create", "alice", "--password-stdin"}, "POST /v1/users",
			`{"name":"alice","password":"  pass word"}`, []string{"alice"}, ""},
		{"List", "", []string{"user", "list"}, "GET /v1/users", "",
			[]string{"ID", "NAME", "STATE", "PASSWORD", "alice", "active", "bob", "disabled", "no"}, "--cursor c9"},
		{"Get", "", []string{"users", "get", "alice"}, "GET /v1/users/alice", "", []string{"ID:", "4", "Updated:", "2026-03-02T12:00:00Z"}, ""},
		{"Disable", "", []string{"user", "disable", "bob"}, "PATCH /v1/users/bob", `{"disabled":true}`,
			[]string{"disabled", "none (cannot log in)"}, ""},
		{"Enable", "", []string{"user", "enable", "bob"}, "PATCH /v1/users/bob", `{"disabled":false}`, []string{"bob"}, ""},
		{"Delete", "", []string{"user", "delete", "alice/x"}, "DELETE /v1/users/alice%2Fx", "", []string{"deleted", "Deleted:", "2026-03-03T12:00:00Z"}, ""},
		{"Roles", "", []string{"user", "roles", "alice"}, "GET /v1/users/alice/roles", "",
			[]string{"USER", "PROJECT", "ROLE", "* (every project)", "admin", "acme", "deployer", "7"}, ""},
		{"Grant", "", []string{"user", "grant", "alice", "admin"}, "POST /v1/users/alice/roles", `{"role":"admin"}`,
			[]string{"User:", "alice (id 4)", "* (every project)", "admin (id 1)"}, ""},
		{"Revoke", "", []string{"user", "revoke", "alice", "7"}, "DELETE /v1/users/alice/roles/7", "",
			[]string{"Global role 7 of alice removed."}, ""},
		{"Sessions", "", []string{"user", "sessions", "alice"}, "GET /v1/users/alice/sessions", "",
			[]string{"ID", "STATE", "LAST USED", "12", "active", "never", "kw_live_AbCd"}, ""},
		{"SessionsPage", "", []string{"user", "sessions", "alice", "--limit", "1"}, "GET /v1/users/alice/sessions?limit=1", "",
			[]string{"12"}, "--cursor s2"},
		{"LogoutOne", "", []string{"user", "logout", "alice", "12"}, "DELETE /v1/users/alice/sessions/12", "",
			[]string{"ID:", "12"}, ""},
		{"LogoutAll", "", []string{"user", "logout", "alice", "--all"}, "DELETE /v1/users/alice/sessions", "",
			[]string{"Ended 2 session(s) of alice. Yours (12) goes on."}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.stdin, append(base, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("code = %d, stderr %q", r.code, r.stderr)
			}
			last := f.last(t)
			if got := last.method + " " + last.uri; got != tt.req {
				t.Errorf("request = %s, want %s", got, tt.req)
			}
			if last.body != tt.body {
				t.Errorf("body = %s, want %s", last.body, tt.body)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout = %q, want it to show %q", r.stdout, s)
				}
			}
			if (tt.stderr == "") != (r.stderr == "") || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr = %q, want %q", r.stderr, tt.stderr)
			}
		})
	}
}

func TestUserJSON(t *testing.T) {
	f := newFakeServer(t, map[string]canned{
		"GET /v1/users":                  {200, "", `{"items":[` + userJSON + `]}`},
		"GET /v1/users/alice":            {200, "", userJSON},
		"GET /v1/users/alice/roles":      {200, "", `{"items":[]}`},
		"DELETE /v1/users/alice/roles/7": {204, "", ""},
	})
	base := []string{"--server", f.URL, "--token", testToken, "-o", "json"}

	r := runCLI(t, "", append(base, "user", "get", "alice")...)
	var u map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &u) != nil || u["name"] != "alice" || u["has_password"] != true {
		t.Errorf("get: code %d, stdout %q", r.code, r.stdout)
	}
	r = runCLI(t, "", append(base, "user", "list")...)
	var page struct{ Items []map[string]any }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &page) != nil || len(page.Items) != 1 {
		t.Errorf("list: code %d, stdout %q", r.code, r.stdout)
	}
	r = runCLI(t, "", append(base, "user", "roles", "alice")...)
	if r.code != 0 || strings.Join(strings.Fields(r.stdout), "") != `{"items":[]}` {
		t.Errorf("roles: code %d, stdout %q", r.code, r.stdout)
	}
	// A call that answers no object prints nothing on stdout.
	r = runCLI(t, "", append(base, "user", "revoke", "alice", "7")...)
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "removed") {
		t.Errorf("revoke: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestUserPasswd(t *testing.T) {
	const (
		newPW = "new pass phrase"
		oldPW = "old pass phrase"
	)
	whoamiAdmin := `{"user":{"id":1,"name":"admin"},"permissions":{"*":["users:admin"]}}`
	tests := []struct {
		name   string
		whoami string
		env    map[string]string
		stdin  string
		user   string
		body   string
	}{
		{"Other", whoamiAdmin, nil, newPW + "\n" + oldPW + "\n", "bob", `{"password":"` + newPW + `"}`},
		{"OwnByName", whoamiAlice, nil, newPW + "\n" + oldPW + "\n", "alice",
			`{"password":"` + newPW + `","current_password":"` + oldPW + `"}`},
		{"OwnByID", whoamiAlice, nil, newPW + "\r\n" + oldPW, "4",
			`{"password":"` + newPW + `","current_password":"` + oldPW + `"}`},
		{"OwnCurrentFromEnv", whoamiAlice, map[string]string{"KEYWARD_CURRENT_PASSWORD": "from env"}, newPW + "\nignored\n", "alice",
			`{"password":"` + newPW + `","current_password":"from env"}`},
		{"OwnFirstPassword", `{"user":{"id":1,"name":"admin","has_password":false}}`, nil, newPW + "\n", "admin",
			`{"password":"` + newPW + `"}`},
		{"OwnFirstPasswordCurrentGiven", `{"user":{"id":1,"name":"admin","has_password":false}}`, nil, newPW + "\n" + oldPW + "\n", "admin",
			`{"password":"` + newPW + `","current_password":"` + oldPW + `"}`},
		{"LoginPasswordNotUsed", whoamiAdmin, map[string]string{"KEYWARD_PASSWORD": "not this"}, newPW + "\n", "bob",
			`{"password":"` + newPW + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t, map[string]canned{
				"GET /v1/whoami":                         {200, "", tt.whoami},
				"PUT /v1/users/" + tt.user + "/password": {204, "", ""},
			})
			r := runCLIEnv(t, tt.env, tt.stdin, "--server", f.URL, "--token", testToken, "user", "passwd", tt.user, "--password-stdin")
			if r.code != 0 {
				t.Fatalf("code = %d, stderr %q", r.code, r.stderr)
			}
			if got := f.last(t); got.method != "PUT" || got.body != tt.body {
				t.Errorf("request = %s %s, want PUT with %s", got.method, got.body, tt.body)
			}
			if want := "Password of " + tt.user + " set.\n"; r.stdout != want {
				t.Errorf("stdout = %q, want %q", r.stdout, want)
			}
			if strings.Contains(r.stdout+r.stderr, newPW) || strings.Contains(r.stdout+r.stderr, oldPW) {
				t.Errorf("output shows a password: %q %q", r.stdout, r.stderr)
			}
		})
	}

	t.Run("OwnWithoutCurrent", func(t *testing.T) {
		f := newFakeServer(t, map[string]canned{"GET /v1/whoami": {200, "", whoamiAlice}})
		r := runCLI(t, newPW+"\n", "--server", f.URL, "--token", testToken, "user", "passwd", "alice")
		if r.code != 2 || !strings.Contains(r.stderr, "no current password given: set KEYWARD_CURRENT_PASSWORD") {
			t.Errorf("code %d, stderr %q", r.code, r.stderr)
		}
		if f.count() != 1 {
			t.Errorf("%d requests, want only whoami", f.count())
		}
	})
	t.Run("NoNewPassword", func(t *testing.T) {
		f := newFakeServer(t, map[string]canned{"GET /v1/whoami": {200, "", whoamiAdmin}})
		r := runCLI(t, "", "--server", f.URL, "--token", testToken, "user", "passwd", "bob")
		if r.code != 2 || !strings.Contains(r.stderr, "no new password given") {
			t.Errorf("code %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("PasswordStdinFalse", func(t *testing.T) {
		r := runCLI(t, newPW+"\n", "--server", "http://127.0.0.1:1", "--token", testToken, "user", "passwd", "bob", "--password-stdin=false")
		if r.code != 2 {
			t.Errorf("code %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("RefusedEchoed", func(t *testing.T) {
		f := newFakeServer(t, map[string]canned{
			"GET /v1/whoami": {200, "", whoamiAlice},
			"PUT /v1/users/alice/password": {400, "application/problem+json",
				`{"detail":"invalid request","code":"invalid","errors":{"password":"` + newPW + ` is too common","current_password":"` + oldPW + ` is wrong"}}`},
		})
		r := runCLI(t, newPW+"\n"+oldPW+"\n", "--server", f.URL, "--token", testToken, "user", "passwd", "alice")
		if r.code != 1 || !strings.Contains(r.stderr, "[REDACTED] is too common") {
			t.Errorf("code %d, stderr %q", r.code, r.stderr)
		}
		if strings.Contains(r.stderr, newPW) || strings.Contains(r.stderr, oldPW) {
			t.Errorf("stderr shows a password: %q", r.stderr)
		}
	})
}

func TestUserCreatePasswordRedacted(t *testing.T) {
	const pw = "aliceSecret"
	f := newFakeServer(t, map[string]canned{
		"POST /v1/users": {400, "application/problem+json", `{"detail":"password ` + pw + ` is too short","code":"invalid"}`},
	})
	r := runCLI(t, pw+"\n", "--server", f.URL, "--token", testToken, "user", "create", "alice", "--password-stdin")
	if r.code != 1 || strings.Contains(r.stderr, pw) || !strings.Contains(r.stderr, "[REDACTED]") {
		t.Errorf("code %d, stderr %q", r.code, r.stderr)
	}
}

func TestUserUsageErrors(t *testing.T) {
	tests := []struct {
		name  string
		stdin string
		args  []string
		msg   string
	}{
		{"CreateNoName", "", []string{"user", "create"}, "missing argument <name>"},
		{"CreateNoPassword", "", []string{"user", "create", "alice", "--password-stdin"}, "no password given: write it on stdin"},
		{"CreateEmptyPassword", "\n", []string{"user", "create", "alice", "--password-stdin"}, "no password given"},
		{"ListCursorAll", "", []string{"user", "list", "--cursor", "x", "--all"}, "cannot be used together"},
		{"GetNoArg", "", []string{"user", "get"}, "missing argument"},
		{"DisableExtra", "", []string{"user", "disable", "a", "b"}, "unexpected argument"},
		{"GrantNoRole", "", []string{"user", "grant", "alice"}, "missing argument <role>"},
		{"RevokeNoRole", "", []string{"user", "revoke", "alice"}, "missing argument <role>"},
		{"SessionsNoUser", "", []string{"user", "sessions"}, "missing argument"},
		{"LogoutNoSession", "", []string{"user", "logout", "alice"}, "missing argument <session-id>"},
		{"LogoutBadSession", "", []string{"user", "logout", "alice", "x"}, "numeric id"},
		{"LogoutAllAndSession", "", []string{"user", "logout", "alice", "12", "--all"}, "argument"},
		{"Unknown", "", []string{"user", "frobnicate"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.stdin, append([]string{"--server", "http://127.0.0.1:1", "--token", testToken}, tt.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.msg) || r.stdout != "" {
				t.Errorf("code %d, stdout %q, stderr %q; want 2 and %q", r.code, r.stdout, r.stderr, tt.msg)
			}
		})
	}
}
