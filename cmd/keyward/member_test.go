package main

import (
	"encoding/json"
	"strings"
	"testing"
)

const memberJSON = `{"user_id":4,"user":"alice","project_id":3,"project":"acme","role_id":2,"role":"owner"}`

func TestProjectMembers(t *testing.T) {
	f := newFakeServer(t, map[string]canned{
		"GET /v1/projects/acme/members":                      {200, "", `{"items":[` + memberJSON + `]}`},
		"GET /v1/projects/add/members":                       {200, "", `{"items":[]}`},
		"POST /v1/projects/acme/members":                     {201, "", memberJSON},
		"DELETE /v1/projects/acme/members/alice/roles/owner": {204, "", ""},
		"DELETE /v1/projects/a%20b/members/al%2Fice/roles/2": {204, "", ""},
	})
	base := []string{"--server", f.URL, "--token", testToken}
	tests := []struct {
		name   string
		args   []string
		req    string
		body   string
		stdout []string
	}{
		{"List", []string{"project", "members", "acme"}, "GET /v1/projects/acme/members", "",
			[]string{"USER", "PROJECT", "ROLE", "alice", "acme", "owner", "2"}},
		{"ListExplicit", []string{"projects", "members", "list", "acme"}, "GET /v1/projects/acme/members", "", []string{"alice"}},
		{"ListProjectCalledAdd", []string{"project", "members", "list", "add"}, "GET /v1/projects/add/members", "", []string{"USER"}},
		{"Add", []string{"project", "members", "add", "acme", "alice", "owner"}, "POST /v1/projects/acme/members",
			`{"user":"alice","role":"owner"}`, []string{"User:", "alice (id 4)", "Project:", "acme", "Role:", "owner (id 2)"}},
		{"Remove", []string{"project", "members", "remove", "acme", "alice", "owner"}, "DELETE /v1/projects/acme/members/alice/roles/owner", "",
			[]string{"Role owner of alice in project acme removed."}},
		{"RemoveEscaped", []string{"project", "members", "rm", "a b", "al/ice", "2"}, "DELETE /v1/projects/a%20b/members/al%2Fice/roles/2", "",
			[]string{"removed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", append(base, tt.args...)...)
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
		})
	}

	r := runCLI(t, "", append(base, "-o", "json", "project", "members", "add", "acme", "alice", "owner")...)
	var b map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &b) != nil || b["role"] != "owner" || b["user_id"] != 4.0 {
		t.Errorf("json add: code %d, stdout %q", r.code, r.stdout)
	}
	r = runCLI(t, "", append(base, "-o", "json", "project", "members", "acme")...)
	var page struct{ Items []map[string]any }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &page) != nil || len(page.Items) != 1 {
		t.Errorf("json list: code %d, stdout %q", r.code, r.stdout)
	}
}

func TestProjectMembersUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{[]string{"project", "members"}, "missing argument <project>"},
		{[]string{"project", "members", "acme", "alice"}, "unexpected argument"},
		{[]string{"project", "members", "add", "acme", "alice"}, "missing argument <role>"},
		{[]string{"project", "members", "remove", "acme"}, "missing argument <user>"},
		{[]string{"project", "members", "add", "acme", "alice", "owner", "extra"}, "unexpected argument"},
	} {
		r := runCLI(t, "", append([]string{"--server", "http://127.0.0.1:1", "--token", testToken}, tt.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.msg) {
			t.Errorf("%v: code %d, stderr %q; want 2 and %q", tt.args, r.code, r.stderr, tt.msg)
		}
	}
}
