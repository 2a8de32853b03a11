package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const sessionToken = "kw_live_SESSIONtoken0123456789abcdefghijABCD"

// sessionJSON is a login's answer: a twelve-hour session far in the future.
const sessionJSON = `{"id":42,"project_id":1,"project":"system","name":"session","type":"SESSION",
	"environment":"live","key_type":"secret","created_by":4,"role_ids":[],"active":true,
	"created_at":"2099-01-01T00:00:00Z","updated_at":"2099-01-01T00:00:00Z",
	"expires_at":"2099-01-01T12:00:00Z","version":1,"start":"kw_live_SESS","state":"active",
	"key":"` + sessionToken + `"}`

const whoamiAlice = `{"user":{"id":4,"name":"alice","has_password":true},"permissions":{"acme":["keys:read"]}}`

// sessionFiles lists the stored session files of the test's config dir.
func sessionFiles(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(testConfigDir(t), sessionsDir, "*.json"))
	if _, err := os.Stat(filepath.Join(testConfigDir(t), legacySessionFile)); err == nil {
		files = append(files, filepath.Join(testConfigDir(t), legacySessionFile))
	}
	return files
}

// readSession reads the one stored session.
func readSession(t *testing.T) (*storedSession, os.FileInfo) {
	t.Helper()
	files := sessionFiles(t)
	if len(files) != 1 {
		t.Fatalf("stored sessions: %v, want one", files)
	}
	fi, err := os.Stat(files[0])
	if err != nil {
		t.Fatalf("no stored session: %v", err)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var s storedSession
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("session file %s: %v", b, err)
	}
	return &s, fi
}

func sessionExists(t *testing.T) bool {
	t.Helper()
	return len(sessionFiles(t)) > 0
}

// writeSession stores s where the CLI keeps the session of s.Server.
func writeSession(t *testing.T, s storedSession) {
	t.Helper()
	path := filepath.Join(testConfigDir(t), sessionsDir, sessionName(s.Server))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(s)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoginStoresSession(t *testing.T) {
	f := newFakeServer(t, map[string]canned{
		"POST /v1/login": {201, "", sessionJSON},
		"GET /v1/whoami": {200, "", whoamiAlice},
	})

	r := runCLI(t, "pass word 1\n", "--server", f.URL, "login", "--user", "alice")
	if r.code != 0 {
		t.Fatalf("code = %d, stderr %q", r.code, r.stderr)
	}
	req := f.last(t)
	if req.auth != "" {
		t.Errorf("login sent Authorization %q", req.auth)
	}
	if got, want := req.body, `{"name":"alice","password":"pass word 1"}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	for _, want := range []string{"alice", f.URL, "2099-01-01T12:00:00Z (in 12 hours)", "42"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout = %q, want it to show %q", r.stdout, want)
		}
	}
	if strings.Contains(r.stdout+r.stderr, sessionToken) || strings.Contains(r.stdout+r.stderr, "pass word 1") {
		t.Errorf("output shows a secret: stdout %q, stderr %q", r.stdout, r.stderr)
	}

	s, fi := readSession(t)
	if s.Token != sessionToken || s.Server != f.URL || s.User != "alice" || s.CredentialID != 42 ||
		s.ExpiresAt == nil || !s.ExpiresAt.Equal(time.Date(2099, 1, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("stored session = %+v", s)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("session file mode = %o, want 600", got)
	}
	di, err := os.Stat(testConfigDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := di.Mode().Perm(); got != 0o700 {
		t.Errorf("config dir mode = %o, want 700", got)
	}

	// The stored session is the token of the commands that follow, on the same server.
	r = runCLI(t, "", "--server", f.URL+"/", "whoami")
	if r.code != 0 {
		t.Fatalf("whoami: code = %d, stderr %q", r.code, r.stderr)
	}
	if got, want := f.last(t).auth, "Bearer "+sessionToken; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	// KEYWARD_SERVER names the server as well as --server does.
	r = runCLIEnv(t, map[string]string{"KEYWARD_SERVER": f.URL}, "", "whoami")
	if r.code != 0 || f.last(t).auth != "Bearer "+sessionToken {
		t.Errorf("whoami with KEYWARD_SERVER: code %d, auth %q, stderr %q", r.code, f.last(t).auth, r.stderr)
	}
	// KEYWARD_TOKEN goes before the session, and --token before both.
	r = runCLIEnv(t, map[string]string{"KEYWARD_TOKEN": testToken}, "", "--server", f.URL, "whoami")
	if r.code != 0 || f.last(t).auth != "Bearer "+testToken {
		t.Errorf("KEYWARD_TOKEN: code %d, auth %q", r.code, f.last(t).auth)
	}
	const flagToken = "kw_live_FLAGtoken0123456789abcdefghijABCDEF"
	r = runCLIEnv(t, map[string]string{"KEYWARD_TOKEN": testToken}, "", "--server", f.URL, "--token", flagToken, "whoami")
	if r.code != 0 || f.last(t).auth != "Bearer "+flagToken {
		t.Errorf("--token: code %d, auth %q", r.code, f.last(t).auth)
	}
	// Another server does not get the session.
	n := f.count()
	r = runCLI(t, "", "--server", "http://127.0.0.1:1", "whoami")
	if r.code != 2 || !strings.Contains(r.stderr, "no API token") {
		t.Errorf("other server: code %d, stderr %q", r.code, r.stderr)
	}
	if f.count() != n {
		t.Errorf("a request was sent")
	}
}

func TestLoginInputs(t *testing.T) {
	f := newFakeServer(t, map[string]canned{"POST /v1/login": {201, "", sessionJSON}})
	tests := []struct {
		name  string
		env   map[string]string
		stdin string
		args  []string
		body  string
	}{
		{"NameAndPasswordOnStdin", nil, "  alice \r\npw with spaces \r\n", nil,
			`{"name":"alice","password":"pw with spaces "}`},
		{"PasswordFromEnv", map[string]string{"KEYWARD_PASSWORD": "from env"}, "", []string{"-u", "alice"},
			`{"name":"alice","password":"from env"}`},
		{"EnvBeforeStdin", map[string]string{"KEYWARD_PASSWORD": "from env"}, "bob\nignored\n", nil,
			`{"name":"bob","password":"from env"}`},
		{"NoTrailingNewline", nil, "pw", []string{"--user", "alice"}, `{"name":"alice","password":"pw"}`},
		{"TTL", nil, "pw\n", []string{"--user", "alice", "--ttl", "2h"}, `{"name":"alice","password":"pw","ttl_seconds":7200}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLIEnv(t, tt.env, tt.stdin, append([]string{"--server", f.URL, "login"}, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("code = %d, stderr %q", r.code, r.stderr)
			}
			if got := f.last(t).body; got != tt.body {
				t.Errorf("body = %s, want %s", got, tt.body)
			}
			if !sessionExists(t) {
				t.Error("no session stored")
			}
		})
	}
}

func TestLoginUsageErrors(t *testing.T) {
	f := newFakeServer(t, nil)
	tests := []struct {
		name  string
		stdin string
		args  []string
		msg   string
	}{
		{"NoName", "", nil, "no user name"},
		{"EmptyName", "pw\n", []string{"--user", " "}, "--user"},
		{"NoPassword", "", []string{"--user", "alice"}, "no password given: set KEYWARD_PASSWORD"},
		{"EmptyPassword", "\n", []string{"--user", "alice"}, "no password"},
		{"NameButNoPassword", "alice\n", nil, "no password"},
		{"TTLZero", "pw\n", []string{"--user", "alice", "--ttl", "0s"}, "--ttl 0 cannot be sent"},
		{"TTLFraction", "pw\n", []string{"--user", "alice", "--ttl", "1500ms"}, "whole number"},
		{"Args", "pw\n", []string{"alice"}, "unexpected argument"},
		{"BadServer", "pw\n", []string{"--user", "alice", "--server", "nope"}, "not an http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.stdin, append([]string{"--server", f.URL, "login"}, tt.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("code %d, stderr %q; want 2 and %q", r.code, r.stderr, tt.msg)
			}
			if sessionExists(t) {
				t.Error("a session was stored")
			}
		})
	}
	if f.count() != 0 {
		t.Errorf("%d requests sent", f.count())
	}
}

func TestLoginRefused(t *testing.T) {
	const pw = "Tr0ub4dor&3"
	var status int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		if status == 429 {
			w.Header().Set("Retry-After", "30")
		}
		w.WriteHeader(status)
		// A careless server that echoes the password.
		_, _ = w.Write([]byte(`{"detail":"invalid user name or password (` + pw + `)","code":""}`))
	}))
	defer srv.Close()

	for _, tt := range []struct {
		status int
		want   string
	}{
		{401, "error: invalid user name or password"},
		{429, "retry after 30s"},
	} {
		status = tt.status
		r := runCLIEnv(t, map[string]string{"KEYWARD_PASSWORD": pw}, "", "--server", srv.URL, "login", "--user", "alice")
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%d: code %d, stderr %q; want 1 and %q", tt.status, r.code, r.stderr, tt.want)
		}
		if strings.Contains(r.stderr+r.stdout, pw) {
			t.Errorf("%d: output shows the password: %q", tt.status, r.stderr)
		}
		if sessionExists(t) {
			t.Errorf("%d: a session was stored", tt.status)
		}
	}
}

func TestLoginJSON(t *testing.T) {
	f := newFakeServer(t, map[string]canned{"POST /v1/login": {201, "", sessionJSON}})
	r := runCLI(t, "pw\n", "--server", f.URL, "-o", "json", "login", "--user", "alice")
	if r.code != 0 {
		t.Fatalf("code = %d, stderr %q", r.code, r.stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("stdout %q: %v", r.stdout, err)
	}
	if m["type"] != "SESSION" || m["id"] != 42.0 {
		t.Errorf("json = %v", m)
	}
	if _, ok := m["key"]; ok || strings.Contains(r.stdout, sessionToken) {
		t.Errorf("json shows the session token: %s", r.stdout)
	}
}

func TestLoginReplacesSession(t *testing.T) {
	f := newFakeServer(t, map[string]canned{"POST /v1/login": {201, "", sessionJSON}})
	// Another server's session stays; an older CLI's single session for this server goes.
	writeSession(t, storedSession{Server: "http://old.example", User: "bob", Token: "kw_live_old"})
	legacy := filepath.Join(testConfigDir(t), legacySessionFile)
	b, _ := json.Marshal(storedSession{Server: f.URL, User: "carol", Token: "kw_live_legacy"})
	if err := os.WriteFile(legacy, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(testConfigDir(t), 0o755); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r := runCLI(t, "pw\n", "--server", f.URL, "login", "--user", "alice")
		if r.code != 0 {
			t.Fatalf("code = %d, stderr %q", r.code, r.stderr)
		}
	}
	files := sessionFiles(t)
	if len(files) != 2 || isFile(legacy) {
		t.Fatalf("stored sessions %v, want old.example's and this server's (the legacy file replaced)", files)
	}
	for _, server := range []string{f.URL, "http://old.example"} {
		b, err := os.ReadFile(filepath.Join(testConfigDir(t), sessionsDir, sessionName(server)))
		var s storedSession
		if err != nil || json.Unmarshal(b, &s) != nil {
			t.Fatalf("session of %s: %v", server, err)
		}
		if want := map[bool]string{true: "alice", false: "bob"}[server == f.URL]; s.User != want {
			t.Errorf("session of %s is %s's, want %s's", server, s.User, want)
		}
	}
	di, _ := os.Stat(testConfigDir(t))
	if got := di.Mode().Perm(); got != 0o700 {
		t.Errorf("config dir mode = %o, want 700", got)
	}
}

func TestExpiredSession(t *testing.T) {
	f := newFakeServer(t, nil)
	past := time.Now().Add(-3 * time.Hour)
	writeSession(t, storedSession{Server: f.URL, User: "alice", Token: sessionToken, ExpiresAt: &past})
	r := runCLI(t, "", "--server", f.URL, "whoami")
	if r.code != 2 || !strings.Contains(r.stderr, "expired 3 hours ago") || !strings.Contains(r.stderr, "keyward login") {
		t.Errorf("code %d, stderr %q", r.code, r.stderr)
	}
	// Logout removes it without asking the server.
	r = runCLI(t, "", "logout")
	if r.code != 0 || !strings.Contains(r.stdout, "expired") {
		t.Errorf("logout: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if sessionExists(t) {
		t.Error("the expired session is still stored")
	}
	if f.count() != 0 {
		t.Errorf("%d requests sent", f.count())
	}
}

func TestDamagedSession(t *testing.T) {
	d := testConfigDir(t)
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, legacySessionFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", "--server", "http://127.0.0.1:1", "whoami")
	if r.code != 1 || !strings.Contains(r.stderr, "damaged") {
		t.Errorf("code %d, stderr %q", r.code, r.stderr)
	}
	// A token makes the stored session irrelevant.
	r = runCLI(t, "", "--server", "http://127.0.0.1:1", "--token", testToken, "whoami")
	if r.code != 3 {
		t.Errorf("with a token: code %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, "", "logout")
	if r.code != 0 || sessionExists(t) {
		t.Errorf("logout: code %d, stderr %q, file kept %v", r.code, r.stderr, sessionExists(t))
	}
}

func TestLogout(t *testing.T) {
	future := time.Now().Add(time.Hour)
	t.Run("Revoked", func(t *testing.T) {
		f := newFakeServer(t, map[string]canned{"POST /v1/logout": {200, "", strings.Replace(credJSON, `"id":12`, `"id":42`, 1)}})
		writeSession(t, storedSession{Server: f.URL, User: "alice", Token: sessionToken, ExpiresAt: &future})
		// Another server's logout leaves this session alone.
		if r := runCLI(t, "", "--server", "http://127.0.0.1:1", "logout"); r.code != 0 || !strings.Contains(r.stderr, "Not logged in") || !sessionExists(t) {
			t.Fatalf("logout of another server: code %d, stderr %q, stored %v", r.code, r.stderr, sessionExists(t))
		}
		// Without --server, the one session stored is ended, on its own server.
		r := runCLI(t, "", "logout")
		if r.code != 0 || !strings.Contains(r.stdout, "Logged out alice") || !strings.Contains(r.stdout, "42") {
			t.Errorf("code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		if got := f.last(t); got.auth != "Bearer "+sessionToken || got.body != "" {
			t.Errorf("request = %+v", got)
		}
		if sessionExists(t) {
			t.Error("session still stored")
		}
	})
	t.Run("JSON", func(t *testing.T) {
		f := newFakeServer(t, map[string]canned{"POST /v1/logout": {200, "", credJSON}})
		writeSession(t, storedSession{Server: f.URL, User: "alice", Token: sessionToken, ExpiresAt: &future})
		r := runCLI(t, "", "-o", "json", "logout")
		var m map[string]any
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &m) != nil || m["id"] != 12.0 {
			t.Errorf("code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	for _, status := range []int{400, 401, 404} {
		t.Run("AlreadyEnded"+http.StatusText(status), func(t *testing.T) {
			f := newFakeServer(t, map[string]canned{"POST /v1/logout": {status, "application/problem+json", `{"detail":"session expired"}`}})
			writeSession(t, storedSession{Server: f.URL, User: "alice", Token: sessionToken, ExpiresAt: &future})
			r := runCLI(t, "", "logout")
			if r.code != 0 || !strings.Contains(r.stdout, "already ended") {
				t.Errorf("code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			if sessionExists(t) {
				t.Error("session still stored")
			}
		})
	}
	t.Run("ServerError", func(t *testing.T) {
		f := newFakeServer(t, map[string]canned{"POST /v1/logout": {503, "application/problem+json", `{"detail":"down for maintenance"}`}})
		writeSession(t, storedSession{Server: f.URL, User: "alice", Token: sessionToken, ExpiresAt: &future})
		r := runCLI(t, "", "logout")
		if r.code != 1 || !strings.Contains(r.stderr, "down for maintenance") || !strings.Contains(r.stderr, "kept") {
			t.Errorf("code %d, stderr %q", r.code, r.stderr)
		}
		if !sessionExists(t) {
			t.Error("session removed")
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		writeSession(t, storedSession{Server: "http://127.0.0.1:1", User: "alice", Token: sessionToken, ExpiresAt: &future})
		r := runCLI(t, "", "logout")
		if r.code != 3 || !sessionExists(t) || strings.Contains(r.stderr, sessionToken) {
			t.Errorf("code %d, stderr %q, stored %v", r.code, r.stderr, sessionExists(t))
		}
	})
	t.Run("NotLoggedIn", func(t *testing.T) {
		r := runCLI(t, "", "logout")
		if r.code != 0 || !strings.Contains(r.stderr, "Not logged in") || r.stdout != "" {
			t.Errorf("code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
}

func TestConfigDir(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"Override", map[string]string{"KEYWARD_CONFIG_DIR": "/k", "XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/k"},
		{"XDG", map[string]string{"XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/x/keyward"},
		{"RelativeXDGIgnored", map[string]string{"XDG_CONFIG_HOME": "x", "HOME": "/h"}, "/h/.config/keyward"},
		{"Home", map[string]string{"HOME": "/h"}, "/h/.config/keyward"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &app{getenv: func(k string) string { return tt.env[k] }}
			got, err := a.configDir()
			if err != nil || got != tt.want {
				t.Errorf("configDir() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSameServer(t *testing.T) {
	for _, tt := range []struct {
		x, y string
		want bool
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/", true},
		{"HTTPS://Keyward.Example.com/api/", "https://keyward.example.com/api", true},
		{"http://keyward.example.com", "https://keyward.example.com", false},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8081", false},
		{"https://k.example.com/a", "https://k.example.com/b", false},
	} {
		if got := sameServer(tt.x, tt.y); got != tt.want {
			t.Errorf("sameServer(%q, %q) = %v, want %v", tt.x, tt.y, got, tt.want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "::1": true, "localhost": true, "LocalHost": true, "127.9.9.9": true,
		"keyward.example.com": false, "10.0.0.1": false, "": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}
