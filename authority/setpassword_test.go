package authority_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

// No API key turns into a login: changing one's own password needs a login session and the
// current password; setting one without it (a first password included) needs users:admin;
// service users never get one.
func TestSetPasswordNeedsSessionOrAdmin(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	f.user(t, "bob", "Client")
	const next = "the next passphrase"
	loginWith := func(name, pass string) error {
		_, err := f.a.Login(context.Background(), keyward.LoginInput{Name: name, Password: pass}, "10.6.0.1")
		return err
	}
	bobKey, err := f.a.CreateCredential(f.login(t, "bob"), "acme", keyward.CreateCredentialInput{Name: "bob-key"})
	if err != nil {
		t.Fatal(err)
	}
	// The bootstrap admin has no password; a viewer-only key it made is the example.
	viewerKey, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: "viewer-key", Roles: []string{"viewer"}})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := f.a.CreateServiceCredential(f.admin, "acme", authority.CreateServiceCredentialInput{
		Name: "deployer", Access: svcAccess("acme", "Client")})
	if err != nil {
		t.Fatal(err)
	}
	svcUser := "svc:acme:deployer"

	for _, tc := range []struct {
		name     string
		ctx      context.Context
		user     string
		in       keyward.SetPasswordInput
		wantCode keyward.Code
	}{
		{"KeyOfUserWithoutPassword", f.as(t, viewerKey.Key), "admin", keyward.SetPasswordInput{Password: next}, keyward.EForbidden},
		{"ServiceCredentialOnItsUser", f.as(t, svc.Key), svcUser, keyward.SetPasswordInput{Password: next}, keyward.EForbidden},
		{"AdminOnServiceUser", f.admin, svcUser, keyward.SetPasswordInput{Password: next}, keyward.EForbidden},
		{"OwnKeyWithCurrentPassword", f.as(t, bobKey.Key), "bob", keyward.SetPasswordInput{Password: next, CurrentPassword: pw}, keyward.EForbidden},
		{"OwnSessionWithoutCurrent", f.login(t, "bob"), "bob", keyward.SetPasswordInput{Password: next}, keyward.EInvalid},
		{"OwnSessionWrongCurrent", f.login(t, "bob"), "bob", keyward.SetPasswordInput{Password: next, CurrentPassword: "not the password"}, keyward.EInvalid},
		{"OtherUsersSession", f.login(t, "bob"), "admin", keyward.SetPasswordInput{Password: next}, keyward.ENotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := f.a.SetPassword(tc.ctx, tc.user, tc.in); keyward.ErrorCode(err) != tc.wantCode {
				t.Fatalf("SetPassword: %v, want %s", err, tc.wantCode)
			}
			if err := loginWith(tc.user, next); keyward.ErrorCode(err) != keyward.EUnauthenticated {
				t.Fatalf("%s logs in with the password a refused call tried to set: %v", tc.user, err)
			}
		})
	}
	if err := loginWith("bob", pw); err != nil {
		t.Fatalf("bob's password changed by a refused call: %v", err)
	}

	t.Run("OwnSessionWithCurrent", func(t *testing.T) {
		s, ctx := f.loginSession(t, "bob")
		if err := f.a.SetPassword(ctx, "bob", keyward.SetPasswordInput{Password: next, CurrentPassword: pw}); err != nil {
			t.Fatal(err)
		}
		if err := loginWith("bob", next); err != nil {
			t.Fatalf("login with the new password: %v", err)
		}
		if _, err := f.a.Authenticate(context.Background(), s.Key, ""); err != nil {
			t.Fatalf("the session that changed the password ended: %v", err)
		}
	})
	t.Run("AdminSetsAFirstPassword", func(t *testing.T) {
		if err := f.a.SetPassword(f.admin, "admin", keyward.SetPasswordInput{Password: next}); err != nil {
			t.Fatalf("the bootstrap admin's key (users:admin) sets its first password: %v", err)
		}
		if err := loginWith("admin", next); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ServiceUserCannotLogIn", func(t *testing.T) {
		if err := loginWith(svcUser, next); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("service user login: %v", err)
		}
	})
}

// A password change ends the user's other sessions, and a reset all of them, in the same
// transaction as the new hash, each audited; API keys are not sessions and go on.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	f.user(t, "carol", "Client")
	key, err := f.a.CreateCredential(f.login(t, "carol"), "acme", keyward.CreateCredentialInput{Name: "carol-key"})
	if err != nil {
		t.Fatal(err)
	}
	works := func(tok string) bool {
		_, err := f.a.Authenticate(context.Background(), tok, "")
		return err == nil
	}
	stolen, _ := f.loginSession(t, "carol")
	mine, ctx := f.loginSession(t, "carol")
	const next = "her next passphrase"
	if err := f.a.SetPassword(ctx, "carol", keyward.SetPasswordInput{Password: next, CurrentPassword: pw}); err != nil {
		t.Fatal(err)
	}
	if works(stolen.Key) || !works(mine.Key) || !works(key.Key) {
		t.Fatalf("after a change: other session works %v, own session %v, API key %v; want false, true, true",
			works(stolen.Key), works(mine.Key), works(key.Key))
	}
	if err := f.a.SetPassword(f.admin, "carol", keyward.SetPasswordInput{Password: "reset by the admin"}); err != nil {
		t.Fatal(err)
	}
	if works(mine.Key) || !works(key.Key) {
		t.Fatal("a reset left a session of the user working, or ended an API key")
	}
	page, err := f.a.ListEvents(f.admin, authority.ListEventsInput{Limit: authority.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	ended := map[int64]string{}
	for _, ev := range page.Items {
		if ev.Action == "session.revoke" && ev.Detail["user"] == "carol" {
			ended[ev.CredentialID] = ev.Detail["reason"]
		}
	}
	if ended[stolen.ID] != "password changed" || ended[mine.ID] != "password changed" {
		t.Fatalf("session.revoke events = %v, want one for each ended session", ended)
	}
}

// A project owner learns nothing about which user names exist from adding or removing a
// member with a role it may not give: an existing and a missing user get the same answer.
func TestMembersDoNotRevealUsers(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	owner := f.user(t, "own", "owner")
	f.user(t, "exists", "")
	for _, role := range []string{"admin", "no-such-role"} {
		t.Run(role, func(t *testing.T) {
			answer := func(user string) [2]string {
				_, addErr := f.a.AddMember(owner, "acme", keyward.BindingInput{User: user, Role: role})
				rmErr := f.a.RemoveMember(owner, "acme", user, role)
				if addErr == nil || rmErr == nil {
					t.Fatalf("members call with role %s on %s succeeded", role, user)
				}
				return [2]string{string(keyward.ErrorCode(addErr)) + ": " + keyward.ErrorMessage(addErr),
					string(keyward.ErrorCode(rmErr)) + ": " + keyward.ErrorMessage(rmErr)}
			}
			if existing, missing := answer("exists"), answer("nobody-such"); existing != missing {
				t.Fatalf("existing user: %v; missing user: %v; want the same answers", existing, missing)
			}
		})
	}
}

// Revoking a service credential is final: it cannot be made active or renewed again, and its
// service user cannot be logged in as, since no call gives that user a password, not even its
// own credential before the revocation.
func TestRevokedServiceCredentialIsFinal(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	svc, err := f.a.CreateServiceCredential(f.admin, "acme", authority.CreateServiceCredentialInput{
		Name: "deployer", Access: svcAccess("acme", "Client")})
	if err != nil {
		t.Fatal(err)
	}
	const user, planted = "svc:acme:deployer", "a planted passphrase"
	if err := f.a.SetPassword(f.as(t, svc.Key), user, keyward.SetPasswordInput{Password: planted}); keyward.ErrorCode(err) != keyward.EForbidden {
		t.Fatalf("the service credential gave its user a password: %v", err)
	}
	// A key the service credential minted (it holds keys:create) must not outlive it.
	child, err := f.a.CreateCredential(f.as(t, svc.Key), "acme", keyward.CreateCredentialInput{Name: "deployer-child"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.RevokeCredential(f.admin, "acme", "deployer"); err != nil {
		t.Fatal(err)
	}
	if v, err := f.a.Verify(f.admin, keyward.VerifyInput{Key: child.Key}); err != nil || v.Code != keyward.CodeRevoked {
		t.Fatalf("a key minted by a revoked service credential: %+v, %v; want REVOKED", v, err)
	}
	on, days := true, int64(30)
	if _, err := f.a.UpdateCredential(f.admin, "acme", "deployer", keyward.UpdateCredentialInput{Active: &on}); keyward.ErrorCode(err) != keyward.EConflict {
		t.Fatalf("re-activating a revoked service credential: %v", err)
	}
	if _, err := f.a.RenewCredential(f.admin, "acme", "deployer", keyward.RenewInput{ExpirationDays: &days}); keyward.ErrorCode(err) != keyward.EConflict {
		t.Fatalf("renewing a revoked service credential: %v", err)
	}
	if _, err := f.a.Authenticate(context.Background(), svc.Key, ""); keyward.ErrorCode(err) != keyward.EUnauthenticated {
		t.Fatalf("revoked service credential authenticates: %v", err)
	}
	if _, err := f.a.Login(context.Background(), keyward.LoginInput{Name: user, Password: planted}, "10.7.0.1"); keyward.ErrorCode(err) != keyward.EUnauthenticated {
		t.Fatalf("login as the service user: %v", err)
	}
}
