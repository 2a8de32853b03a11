package authority_test

import (
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

// The holes of issue 10, section 1, one by one; httpapi/escalation_test.go proves the class.
func TestDominanceHoles(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	if _, err := f.a.CreateUser(f.admin, keyward.CreateUserInput{Name: "cli", Password: pw}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.AddMember(f.admin, keyward.SystemProject, keyward.BindingInput{User: "cli", Role: "Client"}); err != nil {
		t.Fatal(err)
	}
	client := f.login(t, "cli")
	version := func(t *testing.T, project, ref string) int64 {
		t.Helper()
		c, err := f.a.Credential(f.admin, project, ref)
		if err != nil {
			t.Fatal(err)
		}
		return c.Version
	}

	t.Run("ClientRollsBootstrapAdmin", func(t *testing.T) {
		before := version(t, keyward.SystemProject, "bootstrap-admin")
		issued, err := f.a.RollCredential(client, keyward.SystemProject, "bootstrap-admin", keyward.RollInput{GraceSeconds: 7 * 24 * 3600})
		if keyward.ErrorCode(err) != keyward.EForbidden || issued != nil {
			t.Fatalf("roll = %v, %v; want forbidden and no key", issued, err)
		}
		if got := version(t, keyward.SystemProject, "bootstrap-admin"); got != before {
			t.Fatalf("version %d -> %d: a refused roll changed the key", before, got)
		}
	})
	t.Run("WeakerKeyOfTheSameUser", func(t *testing.T) {
		// The admin's own Client key is not the admin: it may not roll the admin's full key.
		weak, err := f.a.CreateCredential(f.admin, keyward.SystemProject, keyward.CreateCredentialInput{Name: "weak", Roles: []string{"Client"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.a.RollCredential(f.as(t, weak.Key), keyward.SystemProject, "bootstrap-admin", keyward.RollInput{}); keyward.ErrorCode(err) != keyward.EForbidden {
			t.Fatalf("roll = %v, want forbidden", err)
		}
		// ...but it may roll itself, and the admin's session may roll either.
		if _, err := f.a.RollCredential(f.as(t, weak.Key), keyward.SystemProject, "weak", keyward.RollInput{}); err != nil {
			t.Fatalf("rolling itself: %v", err)
		}
	})
	t.Run("EveryOperation", func(t *testing.T) {
		if _, err := f.a.CreateCredential(f.admin, keyward.SystemProject, keyward.CreateCredentialInput{Name: "strong", Roles: []string{"admin"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.a.AddMember(f.admin, keyward.SystemProject, keyward.BindingInput{User: "cli", Role: "Admin"}); err != nil {
			t.Fatal(err)
		}
		client := f.login(t, "cli") // now with every key permission in system
		before := version(t, keyward.SystemProject, "strong")
		days := int64(5)
		desc := "mine now"
		ops := map[string]func() error{
			"renew": func() error {
				_, err := f.a.RenewCredential(client, keyward.SystemProject, "strong", keyward.RenewInput{ExpirationDays: &days})
				return err
			},
			"update": func() error {
				_, err := f.a.UpdateCredential(client, keyward.SystemProject, "strong", keyward.UpdateCredentialInput{Description: &desc})
				return err
			},
			"revoke": func() error {
				_, err := f.a.RevokeCredential(client, keyward.SystemProject, "strong")
				return err
			},
			"bulk revoke": func() error {
				_, err := f.a.RevokeCredentials(client, keyward.SystemProject, authority.RevokeManyInput{Names: []string{"weak", "strong"}})
				return err
			},
			"update and roll": func() error {
				_, _, err := f.a.UpdateAndRollCredential(client, keyward.SystemProject, "strong", &keyward.UpdateCredentialInput{Description: &desc}, &keyward.RollInput{})
				return err
			},
		}
		for name, op := range ops {
			if err := op(); keyward.ErrorCode(err) != keyward.EForbidden {
				t.Errorf("%s: %v, want forbidden", name, err)
			}
		}
		if got := version(t, keyward.SystemProject, "strong"); got != before {
			t.Errorf("version %d -> %d: a refused operation changed the key", before, got)
		}
		if c, _ := f.a.Credential(f.admin, keyward.SystemProject, "weak"); c.RevokedAt != nil {
			t.Error("a refused bulk revoke revoked the weaker key it also named")
		}
	})
	t.Run("NotFoundWithoutKeysRead", func(t *testing.T) {
		// A caller that may revoke but not read keys learns nothing about the key.
		if _, err := f.a.CreateRole(f.admin, keyward.RoleInput{Name: "revoker", Permissions: []keyward.Permission{keyward.PermKeysRevoke, keyward.PermProjectsRead}}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.a.CreateUser(f.admin, keyward.CreateUserInput{Name: "rev", Password: pw}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.a.AddMember(f.admin, keyward.SystemProject, keyward.BindingInput{User: "rev", Role: "revoker"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.a.RevokeCredential(f.login(t, "rev"), keyward.SystemProject, "bootstrap-admin"); keyward.ErrorCode(err) != keyward.ENotFound {
			t.Fatalf("revoke = %v, want not found", err)
		}
	})
}
