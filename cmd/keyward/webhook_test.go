package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// kubeTokenIssuedJSON is an issued KUBE_TOKEN: its key, and its kubeconfig as data.
func kubeTokenIssuedJSON(kubeconfig string) string {
	s := strings.Replace(credJSON, `"API_TOKEN"`, `"KUBE_TOKEN"`, 1)
	return strings.TrimSuffix(s, "}") + `,"virtual_k8s_name":"prod","virtual_k8s_namespace":"team-a","key":"` + newKey +
		`","data":"` + base64.StdEncoding.EncodeToString([]byte(kubeconfig)) + `"}`
}

func TestKeyCreateKubeToken(t *testing.T) {
	doc := kubeYAML + "users:\n- name: \"alice\"\n  user:\n    token: \"" + newKey + "\"\n"
	f := newFakeServer(t, map[string]canned{
		"POST /v1/projects/acme/credentials": {201, "", kubeTokenIssuedJSON(doc)},
	})
	base := []string{"--server", f.URL, "--token", testToken, "key", "create", "acme", "--type", "KUBE_TOKEN", "--name", "ci"}

	t.Run("Out", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "kubeconfig.yaml")
		r := runCLI(t, "", append(base, "--cluster", "prod", "--namespace", "team-a", "--out", out)...)
		if r.code != 0 {
			t.Fatalf("code = %d, stderr %q", r.code, r.stderr)
		}
		if b, _ := os.ReadFile(out); string(b) != doc {
			t.Errorf("file = %q, want the kubeconfig", b)
		}
		if got, want := f.last(t).body, `{"type":"KUBE_TOKEN","name":"ci","virtual_k8s_name":"prod","virtual_k8s_namespace":"team-a"}`; got != want {
			t.Errorf("body = %s, want %s", got, want)
		}
		if !strings.Contains(r.stderr, "Wrote the kubeconfig to") || strings.Contains(r.stdout+r.stderr, newKey) {
			t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
		}
	})

	t.Run("Stdout", func(t *testing.T) {
		// The kubeconfig, which carries the key, is the last line, as a KUBE_CONFIG's is.
		r := runCLI(t, "", append(base, "--cluster", "prod", "--namespace", "team-a")...)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || lines[len(lines)-1] != base64.StdEncoding.EncodeToString([]byte(doc)) {
			t.Errorf("code %d, stdout %q", r.code, r.stdout)
		}
		if !strings.Contains(r.stderr, "This kubeconfig will not be shown again") {
			t.Errorf("stderr %q", r.stderr)
		}
	})

}

func TestClusterWebhookConfig(t *testing.T) {
	dir := t.TempDir()
	certFile, _, certPEM, _ := testCAFiles(t, dir)
	f := newFakeServer(t, map[string]canned{
		"GET /v1/clusters/prod":                {200, "", clusterJSON},
		"GET /v1/clusters/nope":                {404, "application/problem+json", `{"detail":"virtual cluster \"nope\" not found","code":"not_found"}`},
		"POST /v1/projects/system/credentials": {201, "", strings.TrimSuffix(credJSON, "}") + `,"key":"` + newKey + `"}`},
	})
	base := []string{"--server", f.URL, "--token", testToken, "cluster", "webhook-config"}
	const kw = "https://keyward.internal:8443"
	// check reads the configuration as our own kubeconfig layout writes it.
	check := func(t *testing.T, doc string) {
		t.Helper()
		for _, want := range []string{
			`server: "` + kw + `/v1/clusters/prod/tokenreview"`,
			`certificate-authority-data: "` + base64.StdEncoding.EncodeToString(certPEM) + `"`,
			`token: "` + newKey + `"`,
		} {
			if !strings.Contains(doc, want) {
				t.Errorf("configuration lacks %s:\n%s", want, doc)
			}
		}
	}

	t.Run("CreateKey", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "webhook.yaml")
		r := runCLI(t, "", append(base, "prod", "--create-key", "system", "--role", "k8s-review", "--never-expires",
			"--url", kw, "--ca-file", certFile, "--out", out)...)
		if r.code != 0 {
			t.Fatalf("code %d, stderr %q", r.code, r.stderr)
		}
		var in keyward.CreateCredentialInput
		if err := json.Unmarshal([]byte(f.last(t).body), &in); err != nil {
			t.Fatal(err)
		}
		if in.Name != "kube-apiserver-prod" || len(in.Roles) != 1 || in.Roles[0] != "k8s-review" || !in.NeverExpires {
			t.Errorf("created %+v", in)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		check(t, string(b))
		if m := fileMode(t, out); m != 0o600 {
			t.Errorf("mode %o", m)
		}
		if strings.Contains(r.stdout+r.stderr, newKey) {
			t.Errorf("the key was printed: %q %q", r.stdout, r.stderr)
		}
	})

	t.Run("KeyFromEnv", func(t *testing.T) {
		r := runCLIEnv(t, map[string]string{reviewTokenEnv: newKey}, "", append(base, "prod", "--url", kw, "--ca-file", certFile)...)
		if r.code != 0 {
			t.Fatalf("code %d, stderr %q", r.code, r.stderr)
		}
		check(t, r.stdout)
	})

	t.Run("KeyFromStdin", func(t *testing.T) {
		r := runCLI(t, newKey+"\n", append(base, "prod", "--url", kw, "--ca-file", certFile)...)
		if r.code != 0 {
			t.Fatalf("code %d, stderr %q", r.code, r.stderr)
		}
		check(t, r.stdout)
	})

	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"ErrPlainHTTP", []string{"prod"}, 2, "is not https"},
		{"ErrRoleWithoutCreate", []string{"prod", "--url", kw, "--role", "k8s-review"}, 2, "--role goes with --create-key"},
		{"ErrCreateWithoutRole", []string{"prod", "--url", kw, "--create-key", "system"}, 2, "--create-key needs --role"},
		{"ErrNoKey", []string{"prod", "--url", kw}, 2, "no API server's keyward key given"},
		{"ErrUnknownCluster", []string{"nope", "--url", kw}, 1, "not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, "", append(base, c.args...)...)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Errorf("code %d, stderr %q; want %d and %q", r.code, r.stderr, c.code, c.want)
			}
		})
	}
}
