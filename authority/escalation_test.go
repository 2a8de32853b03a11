package authority_test

import (
	"context"
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

// A users:admin who is not an admin may not take an admin's place: no password reset (it could
// then log in as the admin), no disable, enable or delete of someone holding more; users holding
// less it manages as before, and nothing refused changes.
func TestUserDominance(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	if _, err := f.a.CreateRole(f.admin, keyward.RoleInput{Name: "helpdesk", Permissions: []keyward.Permission{keyward.PermUsersAdmin}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hd", "boss", "plain"} {
		if _, err := f.a.CreateUser(f.admin, keyward.CreateUserInput{Name: name, Password: pw}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.a.GrantGlobalRole(f.admin, "hd", "helpdesk"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.GrantGlobalRole(f.admin, "boss", "admin"); err != nil {
		t.Fatal(err)
	}
	hd := f.login(t, "hd")
	yes := true
	for name, op := range map[string]func(ref string) error{
		"reset password": func(ref string) error {
			return f.a.SetPassword(hd, ref, keyward.SetPasswordInput{Password: "a planted passphrase 9"})
		},
		"disable": func(ref string) error {
			_, err := f.a.UpdateUser(hd, ref, keyward.UpdateUserInput{Disabled: &yes})
			return err
		},
		"delete": func(ref string) error { _, err := f.a.DeleteUser(hd, ref); return err },
		"end sessions": func(ref string) error {
			_, err := f.a.RevokeSessions(hd, ref)
			return err
		},
	} {
		for _, target := range []string{keyward.AdminUser, "boss"} {
			if err := op(target); keyward.ErrorCode(err) != keyward.EForbidden {
				t.Errorf("%s of %s by a helpdesk: %v, want forbidden", name, target, err)
			}
		}
	}
	if _, err := f.a.Login(context.Background(), keyward.LoginInput{Name: "boss", Password: pw}, "10.0.0.9"); err != nil {
		t.Fatalf("the refused reset changed boss's password: %v", err)
	}
	if u, err := f.a.User(f.admin, "boss"); err != nil || u.Disabled || u.DeletedAt != nil {
		t.Fatalf("a refused change touched boss: %+v, %v", u, err)
	}
	// A user holding less than the helpdesk is managed as before.
	if err := f.a.SetPassword(hd, "plain", keyward.SetPasswordInput{Password: "a fresh passphrase 10"}); err != nil {
		t.Fatalf("resetting a plain user's password: %v", err)
	}
}
