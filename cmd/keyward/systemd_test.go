package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/proctest"
)

// TestSystemdUnit checks docs/systemd/keyward.service with systemd-analyze verify, pointed at the
// binary under test: any complaint (an unknown key, a bad value) fails, not only a fatal one.
func TestSystemdUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze is needed by this test: apt-get install systemd")
	}
	unit, err := os.ReadFile("../../docs/systemd/keyward.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/keyward serve") {
		t.Fatal("the unit does not start /usr/local/bin/keyward serve")
	}
	path := filepath.Join(t.TempDir(), "keyward.service")
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/keyward", keywardBinary(t))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := proctest.Command(t, "systemd-analyze", "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
