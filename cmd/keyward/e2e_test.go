package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/logbuf"
	"github.com/keyward/keyward/internal/openapitest"
	"github.com/keyward/keyward/internal/proctest"
)

// The end-to-end tests build the real binary once and run it as a newcomer would: `keyward
// serve` on a loopback port, then the API through the client package and through the CLI. The
// CLI runs in process (runEnv) but for a few checks of the real binary's exit codes.

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// TestMain fails the run when a process a test started outlives it, and removes the binary.
func TestMain(m *testing.M) {
	code := proctest.Run(m)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// keywardBinary builds the binary once, with -race when the tests run under it: a race binary
// starts several times slower, so it is built only when it is being looked for.
func keywardBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "keyward-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "keyward")
		args := []string{"build", "-o", binPath, "."}
		if raceEnabled {
			args = []string{"build", "-race", "-o", binPath, "."}
		}
		out, err := proctest.Command(t, "go", args...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type server struct {
	cmd    *exec.Cmd
	url    string
	stderr *logbuf.Buffer
	done   chan error
}

var listenRE = regexp.MustCompile(`msg="keyward listening" addr=(\S+)`)

// startServer runs `keyward serve` on a random loopback port and waits until it listens.
func startServer(t *testing.T, data string, extra ...string) *server {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data}, extra...)
	cmd := proctest.Command(t, keywardBinary(t), args...)
	cmd.Env = append(os.Environ(), "KEYWARD_ADDR=", "KEYWARD_DATA=")
	s := &server{cmd: cmd, stderr: &logbuf.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-s.done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := listenRE.FindStringSubmatch(s.stderr.String()); m != nil {
			s.url = "http://" + m[1]
			if !slices.Contains(extra, "--tls") {
				s.url = checkedProxy(t, s.url)
			}
			return s
		}
		select {
		case err := <-s.done:
			t.Fatalf("keyward serve exited early (%v):\n%s", err, s.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("keyward serve did not start listening:\n%s", s.stderr.String())
	return nil
}

// checkedProxy serves target's native API through a proxy that checks every exchange against
// the OpenAPI document (a mismatch fails t), and returns the proxy's URL: every client of the
// test, the CLI in process and the binary, reaches the server through it.
func checkedProxy(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	native := func(r *http.Request) bool {
		p := r.URL.Path
		return strings.HasPrefix(p, "/v1/") || p == "/healthz" || p == "/readyz" || p == "/metrics"
	}
	srv := httptest.NewServer(openapitest.Handler(t, proxy, func(r *http.Request) bool { return !native(r) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

// stop sends SIGTERM and expects a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("keyward serve exited with %v after SIGTERM:\n%s", err, s.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("keyward serve did not stop after SIGTERM")
	}
	if !strings.Contains(s.stderr.String(), `msg=stopped`) {
		t.Fatalf("no clean stop in the log:\n%s", s.stderr.String())
	}
}

// cli runs the CLI in process against srv and returns stdout, stderr and the exit code.
func cli(t *testing.T, srv *server, tok, stdin string, args ...string) (string, string, int) {
	t.Helper()
	return cliEnv(t, srv, []string{"KEYWARD_TOKEN=" + tok}, stdin, args...)
}

// cliEnv is cli with the environment given as KEY=value: KEYWARD_SERVER is always srv's, the
// other KEYWARD_* variables are unset unless given, KEYWARD_CONFIG_DIR defaults to the test's
// own, and the rest is the process's. Nothing is set in the process, so tests may run in
// parallel.
func cliEnv(t *testing.T, srv *server, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	vars := map[string]string{"KEYWARD_SERVER": srv.url, "KEYWARD_CONFIG_DIR": testConfigDir(t)}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	getenv := func(k string) string {
		if v, ok := vars[k]; ok || strings.HasPrefix(k, "KEYWARD_") {
			return v
		}
		return os.Getenv(k)
	}
	var out, errOut bytes.Buffer
	code := runEnv(args, strings.NewReader(stdin), &out, &errOut, getenv)
	return out.String(), errOut.String(), code
}

// cliProcess is cli through the real binary, for the checks of what a process exits with.
func cliProcess(t *testing.T, srv *server, tok, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := proctest.Command(t, keywardBinary(t), args...)
	cmd.Env = append(os.Environ(), "KEYWARD_SERVER="+srv.url, "KEYWARD_TOKEN="+tok, "KEYWARD_PASSWORD=",
		"KEYWARD_CONFIG_DIR="+testConfigDir(t))
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	srv := startServer(t, data, "--bootstrap-token-file", tokenFile)

	st, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatalf("bootstrap token file: %v\n%s", err, srv.stderr.String())
	}
	if got, want := st.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Fatalf("token file mode = %v, want %v", got, want)
	}
	raw, _ := os.ReadFile(tokenFile)
	admin := strings.TrimSpace(string(raw))
	if strings.Contains(srv.stderr.String(), admin) {
		t.Fatal("the bootstrap token was printed although --bootstrap-token-file was given")
	}
	keys := []string{admin} // every token this test sees, for the leak check at the end

	ctx := context.Background()
	c := client.New(srv.url, admin)

	t.Run("ClientPackage", func(t *testing.T) {
		if _, err := c.CreateProject(ctx, keyward.CreateProjectInput{Slug: "acme"}); err != nil {
			t.Fatal(err)
		}
		days := int64(30)
		k, err := c.CreateCredential(ctx, "acme", keyward.CreateCredentialInput{Name: "svc", ExpirationDays: &days})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.Key)
		if v, err := c.Verify(ctx, k.Key); err != nil || v.Code != keyward.CodeValid {
			t.Fatalf("verify = %+v, %v", v, err)
		}
		// The new key is itself a caller: it inherits its creator's (admin) rights.
		who, err := client.New(srv.url, k.Key).Whoami(ctx)
		if err != nil || who.Credential.Name != "svc" {
			t.Fatalf("whoami as the new key = %+v, %v", who, err)
		}
		more := int64(90)
		if _, err := c.RenewCredential(ctx, "acme", "svc", keyward.RenewInput{ExpirationDays: &more}); err != nil {
			t.Fatal(err)
		}
		r, err := c.RollCredential(ctx, "acme", "svc", keyward.RollInput{GraceSeconds: 3600})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, r.Key)
		for _, key := range []string{k.Key, r.Key} {
			if v, err := c.Verify(ctx, key); err != nil || v.Code != keyward.CodeValid {
				t.Fatalf("inside grace: verify = %+v, %v", v, err)
			}
		}
		stale := keyward.UpdateCredentialInput{Description: ptr("x"), Version: k.Version}
		if _, err := c.UpdateCredential(ctx, "acme", "svc", stale); keyward.ErrorCode(err) != keyward.EConflict {
			t.Fatalf("stale update = %v, want conflict", err)
		}
		if _, err := c.RevokeCredential(ctx, "acme", "svc"); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{k.Key, r.Key} {
			if v, err := c.Verify(ctx, key); err != nil || v.Code != keyward.CodeRevoked {
				t.Fatalf("after revoke: verify = %+v, %v", v, err)
			}
		}
		if _, err := client.New(srv.url, r.Key).Whoami(ctx); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("revoked key as caller = %v, want unauthenticated", err)
		}
	})

	t.Run("CLI", func(t *testing.T) {
		out, errOut, code := cliProcess(t, srv, admin, "", "key", "create", "system", "--name", "cli-key", "--expiration-days", "7", "--meta", "team=ops")
		if code != 0 {
			t.Fatalf("key create: exit %d\n%s%s", code, out, errOut)
		}
		if !strings.Contains(errOut, "will not be shown again") {
			t.Fatalf("no warning with the secret: %q", errOut)
		}
		key := lastLine(out)
		keys = append(keys, key)
		if out, _, code := cli(t, srv, admin, key+"\n", "key", "verify"); code != 0 || !strings.Contains(out, "VALID") {
			t.Fatalf("key verify from stdin: exit %d\n%s", code, out)
		}
		if out, errOut, code := cli(t, srv, admin, "", "key", "renew", "system", "cli-key", "--expiration-days", "14"); code != 0 || !strings.Contains(out, "in 13 days") && !strings.Contains(out, "in 14 days") {
			t.Fatalf("key renew: exit %d\n%s%s", code, out, errOut)
		}
		out, errOut, code = cli(t, srv, admin, "", "key", "roll", "system", "cli-key")
		if code != 0 {
			t.Fatalf("key roll: exit %d\n%s%s", code, out, errOut)
		}
		rolled := lastLine(out)
		keys = append(keys, rolled)
		if _, _, code := cli(t, srv, admin, "", "key", "verify", key); code != 1 {
			t.Fatalf("old key after roll without grace: exit %d, want 1", code)
		}
		out, _, code = cli(t, srv, admin, "", "-o", "json", "key", "get", "system", "cli-key")
		if code != 0 || !strings.Contains(out, `"version": 3`) || strings.Contains(out, rolled) {
			t.Fatalf("key get -o json: exit %d\n%s", code, out)
		}
		if out, _, code := cli(t, srv, admin, "", "key", "list", "system", "--state", "active"); code != 0 || !strings.Contains(out, "cli-key") {
			t.Fatalf("key list: exit %d\n%s", code, out)
		}
		if _, _, code := cli(t, srv, admin, "", "key", "revoke", "system", "cli-key"); code != 0 {
			t.Fatalf("key revoke: exit %d", code)
		}
		if out, _, code := cli(t, srv, admin, "", "key", "verify", rolled); code != 1 || !strings.Contains(out, "REVOKED") {
			t.Fatalf("verify after revoke: exit %d\n%s", code, out)
		}
		if out, _, code := cli(t, srv, admin, "", "audit", "list", "--limit", "3"); code != 0 || !strings.Contains(out, "credential.revoke") {
			t.Fatalf("audit list: exit %d\n%s", code, out)
		}
		// Exit codes of the real process: usage 2, refusal 1, unreachable 3.
		if _, _, code := cliProcess(t, srv, admin, "", "key", "create", "system", "--name", "x", "--expires-at", "tomorrow"); code != 2 {
			t.Fatalf("unreadable flag: exit %d, want 2", code)
		}
		// A request the server's rules refuse is the server's to refuse: exit 1, its field error.
		if _, stderr, code := cliProcess(t, srv, admin, "", "key", "create", "system", "--name", "x", "--never-expires", "--expiration-days", "3"); code != 1 ||
			!strings.Contains(stderr, "\n  expiration_days: give only one of expiration_days, expires_at and never_expires\n") {
			t.Fatalf("conflicting flags: exit %d, want 1 and the server's field error\n%s", code, stderr)
		}
		if _, _, code := cliProcess(t, srv, admin, "", "key", "get", "system", "nope"); code != 1 {
			t.Fatalf("unknown key: exit %d, want 1", code)
		}
		if _, _, code := cli(t, srv, "kw_live_00000000000000000000000000000000000000", "", "whoami"); code != 1 {
			t.Fatalf("bad token: exit %d, want 1", code)
		}
		if _, _, code := cliProcess(t, &server{url: "http://127.0.0.1:1"}, admin, "", "whoami"); code != 3 {
			t.Fatalf("unreachable server: exit %d, want 3", code)
		}
	})

	srv.stop(t)

	// A restart prints no new bootstrap token and the data survived.
	srv2 := startServer(t, data)
	if m := regexp.MustCompile(`kw_(live|test)_[0-9A-Za-z]{38}`).FindString(srv2.stderr.String()); m != "" {
		t.Fatal("a restart printed a token")
	}
	if _, err := client.New(srv2.url, admin).Project(ctx, "acme"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	log := srv.stderr.String() + srv2.stderr.String()
	srv2.stop(t)

	// Every event the server wrote, first start included, is in a chain that verifies.
	if r := runOffline(t, nil, "audit", "verify", "--data", data); r.code != 0 || !strings.Contains(r.stdout, "OK:") {
		t.Fatalf("audit verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// No token, in clear, in any database file or in the log.
	files, _ := filepath.Glob(filepath.Join(data, "*"))
	if len(files) == 0 {
		t.Fatal("no database files to check")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if bytes.Contains(b, []byte(k)) {
				t.Fatalf("%s holds a token in clear", filepath.Base(f))
			}
			if bytes.Contains(b, []byte(k[8:])) {
				t.Fatalf("%s holds a token's secret part", filepath.Base(f))
			}
		}
	}
	for _, k := range keys {
		if strings.Contains(log, k) {
			t.Fatal("the server log holds a token")
		}
	}
	if got := len(keys); got != 5 {
		t.Fatalf("checked %d tokens, want 5", got)
	}
}

// The bootstrap token goes to stderr exactly once when no file is given.
func TestBootstrapTokenPrintedOnce(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	srv := startServer(t, data)
	re := regexp.MustCompile(`kw_live_[0-9A-Za-z]{38}`)
	sc := bufio.NewScanner(strings.NewReader(srv.stderr.String()))
	found := 0
	for sc.Scan() {
		found += len(re.FindAllString(sc.Text(), -1))
	}
	if found != 1 {
		t.Fatalf("the token appears %d times on first start, want 1:\n%s", found, srv.stderr.String())
	}
	srv.stop(t)
	srv2 := startServer(t, data)
	if re.MatchString(srv2.stderr.String()) {
		t.Fatal("the second start printed a token")
	}
	srv2.stop(t)
}

func ptr[T any](v T) *T { return &v }

// The README's RBAC tour through the real binary: log in, create a user, bind a role, create a
// key as that user, and watch the creator's rights bound the key.
func TestRBACTour(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir(), "--bootstrap-token-file", filepath.Join(t.TempDir(), "tok"))
	raw, _ := os.ReadFile(strings.TrimSpace(srv.cmd.Args[len(srv.cmd.Args)-1]))
	admin := strings.TrimSpace(string(raw))
	adminCfg, bobCfg := t.TempDir(), t.TempDir()
	const adminPW, bobPW = "correct horse staple 42", "purple monkey dishwasher"
	asAdmin := []string{"KEYWARD_CONFIG_DIR=" + adminCfg}
	asBob := []string{"KEYWARD_CONFIG_DIR=" + bobCfg}
	step := func(env []string, stdin string, want int, args ...string) string {
		t.Helper()
		out, errOut, code := cliEnv(t, srv, env, stdin, args...)
		if code != want {
			t.Fatalf("keyward %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out
	}
	// The admin sets a password with the bootstrap token, then logs in with it.
	step([]string{"KEYWARD_TOKEN=" + admin}, adminPW+"\n", 0, "user", "passwd", "admin")
	step(asAdmin, adminPW+"\n", 0, "login", "--user", "admin")
	if files, _ := filepath.Glob(filepath.Join(adminCfg, sessionsDir, "*.json")); len(files) != 1 {
		t.Fatalf("session files: %v, want one", files)
	} else if st, err := os.Stat(files[0]); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("session file: %v %v", st, err)
	}
	step(asAdmin, "", 0, "project", "create", "acme")
	step(asAdmin, bobPW+"\n", 0, "user", "create", "bob", "--password-stdin")
	step(asAdmin, "", 0, "project", "members", "add", "acme", "bob", "Client")

	step(asBob, bobPW+"\n", 0, "login", "--user", "bob")
	key := lastLine(step(asBob, "", 0, "key", "create", "acme", "--name", "bob-key"))
	step(asBob, "", 1, "key", "create", "acme", "--name", "too-much", "--role", "admin")
	step(asBob, "", 1, "key", "revoke", "acme", "bob-key") // Client lacks keys:revoke

	// Bob changes his password from his session, with the current one; his key cannot, and
	// his other session ends.
	const bobNewPW = "a fresh passphrase 7"
	asBobElsewhere := []string{"KEYWARD_CONFIG_DIR=" + t.TempDir()}
	step(asBobElsewhere, bobPW+"\n", 0, "login", "--user", "bob")
	step([]string{"KEYWARD_TOKEN=" + key}, bobNewPW+"\n"+bobPW+"\n", 1, "user", "passwd", "bob")
	step(asBob, bobNewPW+"\n"+bobPW+"\n", 0, "user", "passwd", "bob")
	step(asBobElsewhere, "", 1, "whoami")
	step(asBob, "", 0, "whoami")

	step(asAdmin, "", 0, "key", "verify", key, "--permission", "keys:read")
	step(asAdmin, "", 1, "key", "verify", key, "--permission", "keys:revoke")
	step(asAdmin, "", 0, "user", "disable", "bob")
	if out := step(asAdmin, "", 1, "key", "verify", key); !strings.Contains(out, "DISABLED") {
		t.Fatalf("key of a disabled user: %s", out)
	}
	step(asAdmin, "", 0, "user", "enable", "bob")
	step(asAdmin, "", 0, "project", "members", "remove", "acme", "bob", "Client")
	if out := step(asAdmin, "", 1, "key", "verify", key); !strings.Contains(out, "FORBIDDEN") {
		t.Fatalf("key of an unbound user: %s", out)
	}
	step(asBob, "", 0, "logout")
	step(asBob, "", 2, "whoami") // no token any more: a usage error
	srv.stop(t)
}
