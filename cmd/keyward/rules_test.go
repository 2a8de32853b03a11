package main

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/internal/authoritytest"
	"software.sslmate.com/src/go-pkcs12"
)

// TestServerRules checks that the CLI leaves the rules of a request to the server, which owns
// them: the request is sent, and what the user reads is the server's refusal (each field and
// its reason on a line of its own, or the server's message), with exit code 1.
func TestServerRules(t *testing.T) {
	t.Parallel()
	// The in-process API of hostile_test.go: project acme with API key web and API_CERTIFICATE
	// badge, cluster prod.
	e := startSurfaces(t, authoritytest.Store(t))
	cacert := filepath.Join(t.TempDir(), "server.pem")
	if err := os.WriteFile(cacert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	caCert, _, _, _ := testCAFiles(t, t.TempDir())
	long := strconv.Itoa(keyward.MaxDescription)
	pw := map[string]string{"KEYWARD_P12_PASSWORD": certPassword}
	cert := []string{"key", "create", "acme", "--name", "ci2", "--type", "API_CERTIFICATE"}
	kube := []string{"key", "create", "acme", "--name", "ci2", "--type", "KUBE_CONFIG"}
	const onlyOne = "expiration_days: give only one of expiration_days, expires_at and never_expires"
	const certOnly = "password: password, key_algorithm and encoding apply to certificate credentials only"
	tests := []struct {
		name  string
		stdin string
		env   map[string]string
		args  []string
		want  string // the start of a line of stderr: "field: reason" or the server's message
	}{
		{"CreateNoName", "", nil, []string{"key", "create", "acme"}, "name: " + keyward.NameRule},
		{"CreateBadName", "", nil, []string{"key", "create", "acme", "--name", "has space"}, "name: " + keyward.NameRule},
		{"CreateNumericName", "", nil, []string{"key", "create", "acme", "--name", "123"}, "name: " + keyward.NameRule},
		{"CreateExpiresAndNever", "", nil, []string{"key", "create", "acme", "--name", "x", "--expires-at", "2030-01-01T00:00:00Z", "--never-expires"}, onlyOne},
		{"CreateDaysAndExpires", "", nil, []string{"key", "create", "acme", "--name", "x", "--expiration-days", "3", "--expires-at", "2030-01-01T00:00:00Z"}, onlyOne},
		{"CreateZeroDays", "", nil, []string{"key", "create", "acme", "--name", "x", "--expiration-days", "0"}, "expiration_days: must be between 1 and " + strconv.Itoa(keyward.MaxExpirationDays)},
		{"CreateBadEnv", "", nil, []string{"key", "create", "acme", "--name", "x", "--environment", "prod"}, "environment: must be live or test"},
		{"CreateBadKeyType", "", nil, []string{"key", "create", "acme", "--name", "x", "--key-type", "public"}, "key_type: must be secret or publishable"},
		{"CreateBadType", "", nil, []string{"key", "create", "acme", "--name", "x", "--type", "SSH_KEY"}, "type: must be API_TOKEN, API_CERTIFICATE"},
		{"CreateLongDescription", "", nil, []string{"key", "create", "acme", "--name", "x", "--description", strings.Repeat("x", keyward.MaxDescription+1)}, "description: must be at most " + long + " characters"},
		{"CreateEmptyRole", "", nil, []string{"key", "create", "acme", "--name", "x", "--role", ""}, `roles: unknown role ""`},
		{"ListBadState", "", nil, []string{"key", "list", "acme", "--state", "dead"}, "state: must be active, expired, revoked, disabled or pending"},
		{"ListNegativeLimit", "", nil, []string{"key", "list", "acme", "--limit", "-1"}, "limit: must be a non-negative integer"},
		{"ListHugeLimit", "", nil, []string{"key", "list", "acme", "--limit", "100000"}, "limit: must be between 1 and " + strconv.Itoa(authority.MaxPageSize)},
		{"UpdateNothing", "", nil, []string{"key", "update", "acme", "web"}, "error: nothing to change: give name, description, meta, expires_at, never_expires, not_before, active, roles, ratelimit, remaining or refill"},
		{"UpdateLongDescription", "", nil, []string{"key", "update", "acme", "web", "--description", strings.Repeat("x", keyward.MaxDescription+1)}, "description: must be at most " + long + " characters"},
		{"UpdateExpiresAndNever", "", nil, []string{"key", "update", "acme", "web", "--expires-at", "2030-01-01T00:00:00Z", "--never-expires"}, "expires_at: give expires_at or never_expires, not both"},
		{"UpdateNeverFalse", "", nil, []string{"key", "update", "acme", "web", "--never-expires=false"}, "never_expires: false needs expires_at"},
		{"UpdateNegativeVersion", "", nil, []string{"key", "update", "acme", "web", "--active=false", "--if-version", "-1"}, `If-Match: must be the credential's ETag, such as "3"`},
		{"RenewNeither", "", nil, []string{"key", "renew", "acme", "web"}, "expiration_days: give expiration_days or expires_at"},
		{"RenewBoth", "", nil, []string{"key", "renew", "acme", "web", "--expiration-days", "3", "--expires-at", "2030-01-01T00:00:00Z"}, onlyOne},
		{"RollNegativeGrace", "", nil, []string{"key", "roll", "acme", "web", "--grace-seconds", "-5"}, "grace_seconds: must be between 0 and " + strconv.Itoa(keyward.MaxGraceSeconds)},
		{"RollTokenDays", "", nil, []string{"key", "roll", "acme", "web", "--expiration-days", "3"}, "password: expiration_days, password, key_algorithm and encoding apply to certificate credentials; renew moves a token's expiry"},
		{"VerifyBadPermission", "", nil, []string{"key", "verify", e.admin, "--permission", "keys:fly"}, `permission: unknown permission "keys:fly"`},
		{"CertShortPassword", "short\n", nil, cert, "password: must be at least 6 characters"},
		{"CertShortEnvPassword", "", map[string]string{"KEYWARD_P12_PASSWORD": "short"}, cert, "password: must be at least 6 characters"},
		{"CertControlPassword", "long enough\tpw\n", nil, cert, "password: must not contain control characters"},
		{"CertNeverExpires", "", pw, append(cert, "--never-expires"), "never_expires: a certificate must expire; give expiration_days or expires_at"},
		{"CertBadKeyAlgorithm", "", pw, append(cert, "--key-algorithm", "dsa"), "key_algorithm: must be ecdsa-p256, rsa-2048 or rsa-3072"},
		{"CertBadEncoding", "", pw, append(cert, "--encoding", "rc2"), "encoding: must be modern or legacy"},
		{"CertCluster", "", pw, append(cert, "--cluster", "prod"), "virtual_k8s_name: applies to KUBE_CONFIG"},
		{"TokenNamespace", "", nil, []string{"key", "create", "acme", "--name", "x", "--namespace", "ns"}, "virtual_k8s_name: applies to KUBE_CONFIG"},
		{"TokenKeyAlgorithm", "", nil, []string{"key", "create", "acme", "--name", "x", "--key-algorithm", "rsa-2048"}, certOnly},
		{"TokenEncoding", "", nil, []string{"key", "create", "acme", "--name", "x", "--encoding", "legacy"}, certOnly},
		{"KubeNoNamespace", "", nil, append(kube, "--cluster", "prod"), "virtual_k8s_namespace: is required for a KUBE_CONFIG"},
		{"KubeNoCluster", "", nil, append(kube, "--namespace", "ns"), "virtual_k8s_name: is required for a KUBE_CONFIG"},
		{"KubeTokenNoCluster", "", nil, []string{"key", "create", "acme", "--name", "ci3", "--type", "KUBE_TOKEN", "--namespace", "ns"}, "virtual_k8s_name: is required for a KUBE_TOKEN"},
		{"KubeEncoding", "", nil, append(kube, "--cluster", "prod", "--namespace", "ns", "--encoding", "legacy"), "encoding: applies to API_CERTIFICATE only: a kubeconfig holds its key unencrypted"},
		{"RollBadKeyAlgorithm", "", pw, []string{"key", "roll", "acme", "badge", "--key-algorithm", "ed448"}, "key_algorithm: must be ecdsa-p256, rsa-2048 or rsa-3072"},
		{"RollBadEncoding", "", pw, []string{"key", "roll", "acme", "badge", "--encoding", "rc2"}, "encoding: must be modern or legacy"},
		{"RollZeroDays", "", pw, []string{"key", "roll", "acme", "badge", "--expiration-days", "0"}, "expiration_days: must be between 1 and " + strconv.Itoa(keyward.MaxExpirationDays)},
		{"RollShortEnvPassword", "", map[string]string{"KEYWARD_P12_PASSWORD": "1234"}, []string{"key", "roll", "acme", "badge"}, "password: must be at least 6 characters"},
		{"ProjectBadSlug", "", nil, []string{"project", "create", "Acme_Prod"}, "slug: must be 1-63 lower-case letters, digits or dashes, not starting with a dash"},
		{"ProjectLongName", "", nil, []string{"project", "create", "acme2", "--name", strings.Repeat("n", 101)}, "name: must be 1-100 characters, not only spaces"},
		{"ProjectUpdateNothing", "", nil, []string{"project", "update", "acme"}, "error: nothing to change: give name or recoverable_keys"},
		{"ProjectUpdateEmptyName", "", nil, []string{"project", "update", "acme", "--name", ""}, "name: must be 1-100 characters, not only spaces"},
		{"ProjectBlankName", "", nil, []string{"project", "create", "acme3", "--name", "   "}, "name: must be 1-100 characters, not only spaces"},
		{"ProjectUpdateBlankName", "", nil, []string{"project", "update", "acme", "--name", " \t "}, "name: must be 1-100 characters, not only spaces"},
		{"ProjectListNegativeLimit", "", nil, []string{"project", "list", "--limit", "-2"}, "limit: must be a non-negative integer"},
		{"ClusterNoServer", "", nil, []string{"cluster", "add", "prod2"}, "server: must be an https URL"},
		{"ClusterHTTPServer", "", nil, []string{"cluster", "add", "prod2", "--server", "http://k8s:6443"}, "server: must be an https URL"},
		{"ClusterBadName", "", nil, []string{"cluster", "add", "prod eu", "--server", "https://k8s:6443"}, "name: " + keyward.NameRule},
		{"ClusterCertWithoutKey", "", nil, []string{"cluster", "add", "prod2", "--server", "https://k8s:6443", "--client-ca-cert", caCert}, "client_ca_key: client_ca_cert and client_ca_key go together"},
		{"RoleNoPermission", "", nil, []string{"role", "create", "deployer"}, "permissions: a role needs at least one permission"},
		{"RoleBadPermission", "", nil, []string{"role", "create", "deployer", "--permission", "keys:fly"}, `permissions: unknown permission "keys:fly"`},
		{"RoleBadName", "", nil, []string{"role", "create", "9", "--permission", "keys:read"}, "name: " + keyward.NameRule},
		{"RoleBadID", "", nil, []string{"role", "create", "deployer", "--permission", "keys:read", "--id", "-1"}, "id: must be positive"},
		{"RoleUpdateNothing", "", nil, []string{"role", "update", "deployer"}, "error: nothing to change: give name or permissions"},
		{"UserBadName", "", nil, []string{"user", "create", "bad name"}, "name: " + keyward.NameRule},
		{"AuditNegativeCredential", "", nil, []string{"audit", "list", "--credential", "-1"}, "credential: must be a non-negative integer"},
		{"LoginLongTTL", "", map[string]string{"KEYWARD_PASSWORD": "whatever pw"}, []string{"login", "--user", "admin", "--ttl", "10000h"}, "ttl_seconds: must be between 60 and " + strconv.Itoa(int(keyward.MaxSessionTTL/time.Second))},
		{"LoginNegativeTTL", "", map[string]string{"KEYWARD_PASSWORD": "whatever pw"}, []string{"login", "--user", "admin", "--ttl", "-1h"}, "ttl_seconds: must be between 60 and " + strconv.Itoa(int(keyward.MaxSessionTTL/time.Second))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"KEYWARD_SERVER": e.srv.URL, "KEYWARD_TOKEN": e.admin}
			for k, v := range tt.env {
				env[k] = v
			}
			r := runCLIEnv(t, env, tt.stdin, append([]string{"--cacert", cacert}, tt.args...)...)
			if r.code != exitRefused {
				t.Errorf("code = %d, want %d (stderr %q)", r.code, exitRefused, r.stderr)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			found := false
			for _, l := range lines {
				found = found || strings.HasPrefix(strings.TrimSpace(l), tt.want)
			}
			if !strings.HasPrefix(r.stderr, "error: ") || !found {
				t.Errorf("stderr = %q, want the line %q", r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if strings.Contains(r.stderr, certPassword) || strings.Contains(r.stderr, "whatever pw") {
				t.Errorf("stderr shows a password: %q", r.stderr)
			}
		})
	}
}

// TestRollWithP12PasswordSet: with $KEYWARD_P12_PASSWORD set in the shell (for certificate
// rolls), `key roll` of an API key still works against the real server, which refuses a
// password on an API key; and a certificate roll takes its password from the variable.
func TestRollWithP12PasswordSet(t *testing.T) {
	t.Parallel()
	e := startSurfaces(t, authoritytest.Store(t))
	cacert := filepath.Join(t.TempDir(), "server.pem")
	if err := os.WriteFile(cacert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KEYWARD_SERVER": e.srv.URL, "KEYWARD_TOKEN": e.admin, "KEYWARD_P12_PASSWORD": certPassword}
	for _, ref := range []string{"web", "badge"} {
		out := filepath.Join(t.TempDir(), "secret")
		r := runCLIEnv(t, env, "", "--cacert", cacert, "key", "roll", "acme", ref, "--out", out)
		if r.code != 0 {
			t.Errorf("key roll acme %s: code %d, stderr %q", ref, r.code, r.stderr)
			continue
		}
		if ref == "badge" { // the bundle is sealed with the variable's password
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := pkcs12.DecodeChain(b, certPassword); err != nil {
				t.Errorf("the rolled bundle does not open with $KEYWARD_P12_PASSWORD: %v", err)
			}
		}
	}
}
