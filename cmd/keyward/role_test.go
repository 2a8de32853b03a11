package main

import (
	"encoding/json"
	"strings"
	"testing"
)

const roleJSON = `{"id":20,"name":"deployer","permissions":["keys:read","keys:roll"],"built_in":false}`

func TestRoleCommands(t *testing.T) {
	f := newFakeServer(t, map[string]canned{
		"GET /v1/roles":             {200, "", `{"items":[{"id":1,"name":"admin","permissions":["keys:create","users:admin"],"built_in":true},` + roleJSON + `]}`},
		"GET /v1/roles/20":          {200, "", roleJSON},
		"POST /v1/roles":            {201, "", roleJSON},
		"PATCH /v1/roles/deployer":  {200, "", roleJSON},
		"DELETE /v1/roles/deployer": {204, "", ""},
	})
	base := []string{"--server", f.URL, "--token", testToken}
	tests := []struct {
		name   string
		args   []string
		req    string
		body   string
		stdout []string
	}{
		{"List", []string{"role", "list"}, "GET /v1/roles", "",
			[]string{"ID", "NAME", "BUILT-IN", "PERMISSIONS", "admin", "yes", "keys:create users:admin", "deployer", "no", "keys:read keys:roll"}},
		{"Get", []string{"roles", "get", "20"}, "GET /v1/roles/20", "",
			[]string{"ID:", "20", "Name:", "deployer", "Built-in:", "no", "Permissions:", "keys:read keys:roll"}},
		{"Create", []string{"role", "create", "deployer", "--permission", "keys:read", "--permission", "keys:roll", "--id", "20"},
			"POST /v1/roles", `{"id":20,"name":"deployer","permissions":["keys:read","keys:roll"]}`, []string{"deployer"}},
		{"CreateNoID", []string{"role", "create", "deployer", "--permission", "keys:read"},
			"POST /v1/roles", `{"name":"deployer","permissions":["keys:read"]}`, []string{"deployer"}},
		{"Rename", []string{"role", "update", "deployer", "--name", "shipper"},
			"PATCH /v1/roles/deployer", `{"name":"shipper"}`, []string{"deployer"}},
		{"Permissions", []string{"role", "update", "deployer", "--permission", "keys:renew"},
			"PATCH /v1/roles/deployer", `{"permissions":["keys:renew"]}`, []string{"deployer"}},
		{"Delete", []string{"role", "delete", "deployer"}, "DELETE /v1/roles/deployer", "", []string{"Role deployer deleted."}},
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

	r := runCLI(t, "", append(base, "-o", "json", "role", "list")...)
	var page struct{ Items []map[string]any }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &page) != nil || len(page.Items) != 2 || page.Items[1]["name"] != "deployer" {
		t.Errorf("json list: code %d, stdout %q", r.code, r.stdout)
	}
	r = runCLI(t, "", append(base, "-o", "json", "role", "delete", "deployer")...)
	if r.code != 0 || r.stdout != "" {
		t.Errorf("json delete: code %d, stdout %q", r.code, r.stdout)
	}
}

func TestRoleUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"CreateNoName", []string{"role", "create"}, "missing argument <name>"},
		{"DeleteNoArg", []string{"role", "delete"}, "missing argument"},
		{"ListArg", []string{"role", "list", "x"}, "unexpected argument"},
		{"Unknown", []string{"role", "bogus"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", append([]string{"--server", "http://127.0.0.1:1", "--token", testToken}, tt.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.msg) || r.stdout != "" {
				t.Errorf("code %d, stdout %q, stderr %q; want 2 and %q", r.code, r.stdout, r.stderr, tt.msg)
			}
		})
	}
}
