// Package gitleaks_test checks contrib/gitleaks/keyward.toml with the real gitleaks, which
// scripts/test-tools.sh builds (go install) when it is missing.
package gitleaks_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/token"
)

const ruleID = "keyward-api-token"

// gitleaksBinary finds gitleaks in PATH, else where scripts/test-tools.sh puts it. The test
// fails, never skips, without it.
func gitleaksBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("gitleaks"); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "gitleaks")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("gitleaks is not installed: run scripts/test-tools.sh (or `go install github.com/zricethezav/gitleaks/v8@v8.30.1`), or make test")
	return ""
}

type finding struct {
	RuleID    string
	Secret    string
	File      string
	StartLine int
}

// detect runs gitleaks with the shipped configuration on dir and returns its findings.
func detect(t *testing.T, dir string) []finding {
	t.Helper()
	report := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.Command(gitleaksBinary(t), "detect", "--no-git", "--no-banner", "--config", "keyward.toml",
		"--source", dir, "--report-format", "json", "--report-path", report, "--exit-code", "0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gitleaks: %v\n%s", err, out)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var fs []finding
	if err := json.Unmarshal(b, &fs); err != nil {
		t.Fatalf("gitleaks report %s: %v", b, err)
	}
	return fs
}

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestGitleaksRule(t *testing.T) {
	t.Parallel()
	live, err := token.New(keyward.Live)
	if err != nil {
		t.Fatal(err)
	}
	test, err := token.New(keyward.Test)
	if err != nil {
		t.Fatal(err)
	}
	leaky := t.TempDir()
	write(t, leaky, "app.env", "# deploy settings\nKEYWARD_TOKEN="+live+"\n")
	write(t, leaky, "client.go", "package main\n\nconst key = \""+test+"\"\n")
	fs := detect(t, leaky)
	got := map[string]finding{}
	for _, f := range fs {
		if f.RuleID == ruleID {
			got[f.Secret] = f
		}
	}
	if f, ok := got[live]; !ok || filepath.Base(f.File) != "app.env" || f.StartLine != 2 {
		t.Errorf("the live token: %+v (all findings %+v)", f, fs)
	}
	if f, ok := got[test]; !ok || filepath.Base(f.File) != "client.go" || f.StartLine != 3 {
		t.Errorf("the test token: %+v (all findings %+v)", f, fs)
	}

	clean := t.TempDir()
	write(t, clean, "README.txt", "Set KEYWARD_TOKEN to your key (kw_live_...).\nkw_live_"+strings.Repeat("a", 38)+"\n"+
		live+"0123\n") // a placeholder, and a token's shape inside a longer string
	if fs := detect(t, clean); len(fs) != 0 {
		t.Errorf("findings in clean text: %+v", fs)
	}
}

// TestRuleRegex holds the rule's regex to the token format with Go's regexp (the engine gitleaks
// uses), so that a wrong edit shows even where gitleaks is not installed.
func TestRuleRegex(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("keyward.toml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^regex = '''(.*)'''$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no regex in keyward.toml")
	}
	re := regexp.MustCompile(string(m[1]))
	for i := 0; i < 100; i++ {
		env := keyward.Live
		if i%2 == 1 {
			env = keyward.Test
		}
		tok, err := token.New(env)
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{tok, "x=" + tok + "\n", `"` + tok + `"`} {
			sm := re.FindStringSubmatch(text)
			if sm == nil || sm[1] != tok {
				t.Fatalf("the rule does not find %q in %q: %q", tok, text, sm)
			}
		}
		if re.MatchString(tok + "x") {
			t.Fatalf("the rule matches a token's shape inside a longer string: %q", tok+"x")
		}
		if !token.Pattern.MatchString(tok) {
			t.Fatal("token.Pattern disagrees")
		}
	}
}
