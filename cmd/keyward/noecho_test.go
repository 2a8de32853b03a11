package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/proctest"
)

// TestPasswordPromptNoEcho types a password at the real binary's prompt on a real terminal (a
// pseudo-terminal that util-linux's script(1) allocates) and checks that the terminal never
// shows it.
func TestPasswordPromptNoEcho(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Fatal("script(1) is needed by this test: apt-get install bsdutils")
	}
	bin := keywardBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Port 1 on loopback refuses at once: the login fails after reading the password.
	cmd := proctest.CommandContext(t, ctx, "script", "-q", "-e", "-c", bin+" login --user alice --server http://127.0.0.1:1", "/dev/null")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TERM=dumb", "KEYWARD_CONFIG_DIR=" + t.TempDir()}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	// Type only once the prompt is up, when the terminal's echo is already off.
	var seen bytes.Buffer
	r := bufio.NewReader(stdout)
	for !strings.Contains(seen.String(), "Password") || !strings.HasSuffix(seen.String(), ": ") {
		b, err := r.ReadByte()
		if err != nil {
			t.Fatalf("no password prompt; the terminal showed %q (%v)", seen.String(), err)
		}
		seen.WriteByte(b)
	}
	const typed = "typed-secret-7f3a9"
	if _, err := io.WriteString(stdin, typed+"\r"); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(r)
	seen.Write(rest)
	_ = cmd.Wait()
	if strings.Contains(seen.String(), typed) {
		t.Fatalf("the terminal showed the password: %q", seen.String())
	}
	if !strings.Contains(seen.String(), "cannot reach the server") {
		t.Fatalf("the login did not go on after the prompt: %q", seen.String())
	}
}
