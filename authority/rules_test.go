package authority_test

import (
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

// TestRequestRules checks the rules the CLI used to hold on its own, now the server's alone:
// an update that names nothing is refused before any write, an encoding on a KUBE_CONFIG is
// refused, and a refused PKCS#12 password is one reason under its field.
func TestRequestRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.a.CreateRole(f.admin, keyward.RoleInput{Name: "deployer", Permissions: []keyward.Permission{keyward.PermKeysRead}}); err != nil {
		t.Fatal(err)
	}
	events := func() int {
		page, err := f.a.ListEvents(f.admin, authority.ListEventsInput{Limit: authority.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Items)
	}
	before := events()
	_, err := f.a.UpdateProject(f.admin, keyward.SystemProject, keyward.UpdateProjectInput{})
	if keyward.ErrorCode(err) != keyward.EInvalid || keyward.ErrorMessage(err) != "nothing to change: give name or recoverable_keys" {
		t.Errorf("empty project update: %v", err)
	}
	_, err = f.a.UpdateRole(f.admin, "deployer", keyward.RoleInput{})
	if keyward.ErrorCode(err) != keyward.EInvalid || keyward.ErrorMessage(err) != "nothing to change: give name or permissions" {
		t.Errorf("empty role update: %v", err)
	}
	if after := events(); after != before {
		t.Errorf("the refused updates wrote %d events", after-before)
	}

	for _, tc := range []struct {
		name          string
		in            keyward.CreateCredentialInput
		field, reason string
	}{
		{"KubeEncoding", keyward.CreateCredentialInput{Name: "k", Type: keyward.KubeConfig, VirtualK8sName: "c", VirtualK8sNamespace: "n",
			CertificateOptions: keyward.CertificateOptions{Encoding: "legacy"}}, "encoding", "applies to API_CERTIFICATE only: a kubeconfig holds its key unencrypted"},
		{"ShortPassword", keyward.CreateCredentialInput{Name: "p", Type: keyward.APICertificate,
			CertificateOptions: keyward.CertificateOptions{Password: "short"}}, "password", "must be at least 6 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.a.CreateCredential(f.admin, keyward.SystemProject, tc.in)
			var e *keyward.Error
			if !asError(err, &e) || e.Code != keyward.EInvalid || e.Fields[tc.field] != tc.reason {
				t.Errorf("err = %v; want %s: %s", err, tc.field, tc.reason)
			}
		})
	}
}
