package authority_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// TestKubeToken checks a KUBE_TOKEN where the webhook test (internal/kubewebhook) does not
// look: that it needs no CA, that it is refused everywhere but its cluster's review, and that
// an unknown cluster writes nothing.
func TestKubeToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t) // no master key: no CA, which a KUBE_TOKEN does not need
	if _, err := f.a.CreateCluster(f.admin, keyward.ClusterInput{Name: "prod", Server: "https://k8s.example:6443"}); err != nil {
		t.Fatal(err)
	}
	in := keyward.CreateCredentialInput{Name: "kt", Type: keyward.KubeToken, VirtualK8sName: "prod", VirtualK8sNamespace: "web", ExpirationDays: days(1)}
	ic := f.create(t, in)
	doc, err := base64.StdEncoding.DecodeString(ic.Data)
	if err != nil || !strings.Contains(string(doc), `token: "`+ic.Key+`"`) || !strings.Contains(string(doc), `server: "https://k8s.example:6443"`) {
		t.Fatalf("kubeconfig %q (%v)", doc, err)
	}

	t.Run("Review", func(t *testing.T) {
		u, code, err := f.a.ReviewToken(f.admin, "prod", ic.Key)
		if err != nil || u == nil || code != keyward.CodeValid || u.Username != keyward.AdminUser {
			t.Fatalf("ReviewToken = %+v, %s, %v", u, code, err)
		}
	})

	t.Run("ErrElsewhere", func(t *testing.T) {
		if code := f.verifyCode(t, ic.Key); code != keyward.CodeNotFound {
			t.Errorf("Verify = %s, want NOT_FOUND", code)
		}
		if _, err := f.a.Authenticate(f.admin, ic.Key, "127.0.0.1"); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Errorf("Authenticate = %v", err)
		}
		if _, err := f.a.CredentialByKey(f.admin, ic.Key); keyward.ErrorCode(err) != keyward.ENotFound {
			t.Errorf("CredentialByKey = %v", err)
		}
		api := f.create(t, keyward.CreateCredentialInput{Name: "api"})
		if u, code, err := f.a.ReviewToken(f.admin, "prod", api.Key); u != nil || err != nil || code != keyward.CodeNotFound {
			t.Errorf("ReviewToken of an API_TOKEN = %+v, %s, %v", u, code, err)
		}
	})

	t.Run("ExpiresAndRenews", func(t *testing.T) {
		ic := f.create(t, keyward.CreateCredentialInput{Name: "kt-renew", Type: keyward.KubeToken, VirtualK8sName: "prod", VirtualK8sNamespace: "web", ExpirationDays: days(1)})
		// The clock is shared with the other subtests, so only the credential's expiry moves.
		past := t0.Add(time.Hour)
		if _, err := f.a.UpdateCredential(f.admin, keyward.SystemProject, "kt-renew", keyward.UpdateCredentialInput{ExpiresAt: &past}); err != nil {
			t.Fatal(err)
		}
		f.clock.Add(2 * time.Hour)
		if _, code, _ := f.a.ReviewToken(f.admin, "prod", ic.Key); code != keyward.CodeExpired {
			t.Errorf("expired: code %s", code)
		}
		if _, err := f.a.RenewCredential(f.admin, keyward.SystemProject, "kt-renew", keyward.RenewInput{ExpirationDays: days(1)}); err != nil {
			t.Fatal(err)
		}
		if u, code, _ := f.a.ReviewToken(f.admin, "prod", ic.Key); u == nil {
			t.Errorf("renewed: code %s", code)
		}
	})

	t.Run("ErrUnknownCluster", func(t *testing.T) {
		in := in
		in.Name, in.VirtualK8sName = "kt-nope", "nope"
		if _, err := f.a.CreateCredential(f.admin, keyward.SystemProject, in); keyward.ErrorCode(err) != keyward.ENotFound {
			t.Fatalf("CreateCredential for an unknown cluster = %v", err)
		}
		if _, err := f.a.Credential(f.admin, keyward.SystemProject, "kt-nope"); keyward.ErrorCode(err) != keyward.ENotFound {
			t.Errorf("the refused create wrote the credential: %v", err)
		}
		if _, _, err := f.a.ReviewToken(f.admin, "nope", ic.Key); keyward.ErrorCode(err) != keyward.ENotFound {
			t.Errorf("ReviewToken of an unknown cluster = %v", err)
		}
	})
}
