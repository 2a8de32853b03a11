package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/proctest"
)

// TestReadmeTour runs the README's five-minute tour, its fenced sh blocks in order, against a
// fresh `keyward serve`, so that the tour a newcomer copies can never drift from the code.
//
// The tour is run as printed, with these rewrites only (see tourLine): the harness starts the
// server itself (the `go run ... serve` line) and sets KEYWARD_TOKEN to the bootstrap token it
// printed; `go build -o keyward` links the binary under test; the default address becomes the
// test server's; a placeholder key (kw_live_...) is the last full key the tour printed, and
// "paste the key on stdin" pipes it. A trailing comment is a check: "exit N" is the exit code
// (0 otherwise), and a "code":"X" fragment or a VALID/REVOKED verdict must be in the output.
func TestReadmeTour(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed by this test: apt-get install %s (make test runs scripts/test-tools.sh, which does)", tool, tool)
		}
	}
	blocks := tourBlocks(t, "../../README.md")
	if len(blocks) < 3 {
		t.Fatalf("the README's tour has %d sh blocks, want the server, curl and CLI ones", len(blocks))
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	srv := startServer(t, filepath.Join(dir, "data"), "--bootstrap-token-file", tokenFile)
	defer srv.stop(t)
	raw, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}

	var script strings.Builder
	script.WriteString(tourPrelude)
	n := 0
	for _, b := range blocks {
		for _, line := range b {
			s, ok := tourLine(line, srv.url)
			if !ok {
				continue
			}
			n++
			script.WriteString(s)
		}
	}
	if n < 15 {
		t.Fatalf("only %d tour commands found; did the README's tour move?", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := proctest.CommandContext(t, ctx, "bash", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "KEYWARD_CONFIG_DIR=" + filepath.Join(dir, "config"),
		"KEYWARD_TOKEN=" + strings.TrimSpace(string(raw)), "KEYWARD_BIN=" + keywardBinary(t), "TOUR_LOG=" + filepath.Join(dir, "tour.log")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README tour failed (%v):\n%s\nscript:\n%s", err, out, script.String())
	}
	if got := strings.Count(string(out), "ok: "); got != n {
		t.Fatalf("%d of %d tour commands reported; output:\n%s", got, n, out)
	}
}

// tourPrelude defines what each rewritten line calls: lastkey prints the last full key the tour
// printed; check runs one command, logs its output and checks its exit code and output.
const tourPrelude = `set -u
lastkey() { grep -oE 'kw_(live|test)_[A-Za-z0-9]{38}' "$TOUR_LOG" | tail -1; }
check() { # check WANT_EXIT WANT_TEXT COMMAND
  local want=$1 text=$2 out rc; shift 2
  out=$(eval "$*" 2>&1); rc=$?
  printf '%s\n' "$out" >> "$TOUR_LOG"
  if [ "$rc" != "$want" ]; then printf 'FAILED (exit %s, want %s): %s\n%s\n' "$rc" "$want" "$*" "$out"; exit 1; fi
  if [ -n "$text" ] && ! grep -qF -- "$text" <<<"$out"; then printf 'FAILED (no %s in the output): %s\n%s\n' "$text" "$*" "$out"; exit 1; fi
  printf 'ok: %s\n' "$*"
}
`

var (
	exitRE    = regexp.MustCompile(`\bexit (\d)\b`)
	codeRE    = regexp.MustCompile(`"code":"[A-Z_]+"`)
	verdictRE = regexp.MustCompile(`^(VALID|REVOKED)\b`)
	assignRE  = regexp.MustCompile(`^(export )?[A-Za-z_][A-Za-z_0-9]*=`)
)

// tourLine rewrites one logical line of the tour into the script; ok is false for what the
// harness does itself.
func tourLine(line, serverURL string) (string, bool) {
	code, comment := splitComment(line)
	code = strings.TrimSpace(code)
	switch {
	case code == "", strings.HasPrefix(code, "go run ./cmd/keyward serve"), strings.HasPrefix(code, "export KEYWARD_TOKEN="):
		return "", false
	case strings.HasPrefix(code, "go build -o keyward"):
		code = `ln -sf "$KEYWARD_BIN" keyward`
	}
	code = strings.ReplaceAll(code, "http://127.0.0.1:8080", serverURL)
	if strings.HasPrefix(code, "KEY=kw_live_...") {
		code = `KEY=$(lastkey)`
	}
	code = strings.ReplaceAll(code, "kw_live_...", "$(lastkey)")
	if code == "./keyward key verify" && strings.Contains(comment, "stdin") {
		code = "lastkey | ./keyward key verify"
	}
	if assignRE.MatchString(code) {
		return code + "\necho 'ok: " + strings.ReplaceAll(code, "'", "") + "'\n", true
	}
	want, text := 0, ""
	if m := exitRE.FindStringSubmatch(comment); m != nil {
		want, _ = strconv.Atoi(m[1])
	}
	if m := codeRE.FindString(comment); m != "" {
		text = m
	} else if m := verdictRE.FindString(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(comment), "paste the key on stdin:"))); m != "" {
		text = m
	}
	return fmt.Sprintf("check %d %s %s\n", want, strconv.Quote(text), shellQuote(code)), true
}

// splitComment cuts a trailing "  # comment" off a shell line, outside quotes.
func splitComment(line string) (code, comment string) {
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || line[i-1] == ' '):
			return line[:i], line[i+1:]
		}
	}
	return line, ""
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// tourBlocks returns the fenced sh blocks of the README's tour section, each as logical lines
// (continuations joined).
func tourBlocks(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		blocks  [][]string
		in, sh  bool
		pending string
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			in = strings.HasPrefix(line, "## A five-minute tour")
		case !in:
		case strings.HasPrefix(line, "```sh"):
			sh = true
			blocks = append(blocks, nil)
		case strings.HasPrefix(line, "```"):
			sh = false
		case sh:
			if strings.HasSuffix(line, `\`) {
				pending += strings.TrimSuffix(line, `\`) + " "
				continue
			}
			blocks[len(blocks)-1] = append(blocks[len(blocks)-1], pending+line)
			pending = ""
		}
	}
	return blocks
}
