package authority_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

// loginSession logs name in and returns the session and a context acting through it.
func (f *rbacFixture) loginSession(t *testing.T, name string) (*keyward.IssuedCredential, context.Context) {
	t.Helper()
	s, err := f.a.Login(context.Background(), keyward.LoginInput{Name: name, Password: pw}, "10.0.0.1")
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	return s, f.as(t, s.Key)
}

// bindSystem creates name (with a password) bound to role in the system project and returns
// its login session.
func (f *rbacFixture) bindSystem(t *testing.T, name, role string) context.Context {
	t.Helper()
	if _, err := f.a.CreateUser(f.admin, keyward.CreateUserInput{Name: name, Password: pw}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.AddMember(f.admin, keyward.SystemProject, keyward.BindingInput{User: name, Role: role}); err != nil {
		t.Fatal(err)
	}
	return f.login(t, name)
}

// Sessions live in the system project's table, but no project path lists, reads, changes or
// ends them, whatever the caller holds there: each answers as for a credential that does not
// exist, and the session is left exactly as it was.
func TestSessionsAreNotProjectCredentials(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	f.user(t, "alice", "viewer")
	s, _ := f.loginSession(t, "alice")
	callers := map[string]context.Context{
		"GlobalAdminKey": f.admin,
		"SystemOwner":    f.bindSystem(t, "sysowner", "owner"),
		"SystemViewer":   f.bindSystem(t, "sysviewer", "viewer"),
	}
	sys := keyward.SystemProject
	refs := map[string]string{"ByID": strconv.FormatInt(s.ID, 10), "ByName": s.Name}
	absent := map[string]string{"ByID": "999999", "ByName": "session-0000000000000000"}
	days := int64(30)
	never := true
	off := false
	far := f.clock.Now().Add(365 * 24 * time.Hour)
	for who, ctx := range callers {
		t.Run(who, func(t *testing.T) {
			page, err := f.a.ListCredentials(ctx, sys, authority.ListCredentialsInput{Limit: authority.MaxPageSize})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page.Items {
				if c.Type == keyward.Session {
					t.Fatalf("ListCredentials(system) lists session %s", c.Name)
				}
			}
			held, err := f.a.ListHeldCredentials(ctx, sys, authority.AnyKind)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range held {
				if h.Type == keyward.Session {
					t.Fatalf("ListHeldCredentials(system) lists session %s", h.Name)
				}
			}
			for how, ref := range refs {
				_, missing := f.a.Credential(ctx, sys, absent[how])
				for op, call := range map[string]func() error{
					"Read": func() error { _, err := f.a.Credential(ctx, sys, ref); return err },
					"Held": func() error { _, err := f.a.HeldCredential(ctx, sys, ref, authority.AnyKind); return err },
					"NeverExpire": func() error {
						_, err := f.a.UpdateCredential(ctx, sys, ref, keyward.UpdateCredentialInput{NeverExpires: &never})
						return err
					},
					"ExpireLater": func() error {
						_, err := f.a.UpdateCredential(ctx, sys, ref, keyward.UpdateCredentialInput{ExpiresAt: &far})
						return err
					},
					"Disable": func() error {
						_, err := f.a.UpdateCredential(ctx, sys, ref, keyward.UpdateCredentialInput{Active: &off})
						return err
					},
					"Renew": func() error {
						_, err := f.a.RenewCredential(ctx, sys, ref, keyward.RenewInput{ExpirationDays: &days})
						return err
					},
					"Roll": func() error {
						_, err := f.a.RollCredential(ctx, sys, ref, keyward.RollInput{GraceSeconds: 3600})
						return err
					},
					"Revoke": func() error { _, err := f.a.RevokeCredential(ctx, sys, ref); return err },
					"Schedule": func() error {
						_, err := f.a.ScheduleCredential(ctx, sys, ref, authority.ScheduleInput{NeverExpires: true})
						return err
					},
					"Reveal": func() error { _, err := f.a.RevealKey(ctx, sys, ref); return err },
					"RevokeMany": func() error {
						res, err := f.a.RevokeCredentials(ctx, sys, authority.RevokeManyInput{Names: []string{ref}})
						if err == nil && len(res.Revoked) > 0 {
							t.Errorf("RevokeCredentials revoked %v", res.Revoked)
						}
						return err
					},
				} {
					err := call()
					if op == "RevokeMany" {
						// Refused for the whole request (no keys:revoke) or reported failed.
						if c := keyward.ErrorCode(err); c != "" && c != keyward.EForbidden {
							t.Errorf("%s %s: %v", op, how, err)
						}
						continue
					}
					switch keyward.ErrorCode(err) {
					case keyward.ENotFound:
						// Word for word what a missing credential gets, so nothing tells them apart.
						want := strings.Replace(keyward.ErrorMessage(missing), absent[how], ref, 1)
						if op == "Read" && keyward.ErrorMessage(err) != want {
							t.Errorf("%s %s: %q, a missing credential gets %q", op, how, keyward.ErrorMessage(err), want)
						}
					case keyward.EForbidden:
						// A permission the caller lacks is checked first, as for any credential.
					default:
						t.Errorf("%s %s of a session through a project: %v, want not found", op, how, err)
					}
				}
			}
		})
	}
	// Expired sessions are not a project's expired credentials either.
	short, err := f.a.Login(context.Background(), keyward.LoginInput{Name: "alice", Password: pw, TTLSeconds: 60}, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(2 * time.Minute)
	res, err := f.a.RevokeCredentials(f.admin, sys, authority.RevokeManyInput{Expired: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range res.Revoked {
		if n == short.Name {
			t.Fatalf("bulk revoke of expired credentials revoked the session %s", n)
		}
	}
	// Nothing changed: the session works and has its first version and expiry.
	ctx := f.as(t, s.Key)
	c := keyward.CallerFrom(ctx).Credential
	if c.Version != s.Version || !c.ExpiresAt.Equal(*s.ExpiresAt) || !c.Active || c.RevokedAt != nil {
		t.Fatalf("session changed through project paths: %+v, was %+v", c, s.Credential)
	}
}

// No write can take a session past keyward.MaxSessionTTL from its creation: even an expiry
// written straight into the store is capped when the session authenticates.
func TestSessionLifetimeCap(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	f.user(t, "alice", "viewer")
	s, err := f.a.Login(context.Background(), keyward.LoginInput{Name: "alice", Password: pw,
		TTLSeconds: int64(keyward.MaxSessionTTL / time.Second)}, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.Login(context.Background(), keyward.LoginInput{Name: "alice", Password: pw,
		TTLSeconds: int64(keyward.MaxSessionTTL/time.Second) + 1}, "10.0.0.1"); keyward.ErrorCode(err) != keyward.EInvalid {
		t.Fatalf("login past the cap: %v, want invalid", err)
	}
	stored, err := f.store.CredentialByID(context.Background(), s.ProjectID, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored.ExpiresAt = nil // never expires, as the old keys:update hole allowed
	if err := f.store.UpdateCredential(context.Background(), stored, &keyward.Event{Time: f.clock.Now(), Action: "test"}); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(keyward.MaxSessionTTL - time.Minute)
	if _, err := f.a.Authenticate(context.Background(), s.Key, ""); err != nil {
		t.Fatalf("session before the cap: %v", err)
	}
	f.clock.Add(time.Minute)
	if _, err := f.a.Authenticate(context.Background(), s.Key, ""); keyward.ErrorCode(err) != keyward.EUnauthenticated {
		t.Fatalf("session past created_at + MaxSessionTTL authenticates: %v", err)
	}
	page, err := f.a.ListSessions(f.admin, "alice", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := page.Items[0].State; got != keyward.StateExpired {
		t.Fatalf("state past the cap = %s, want expired", got)
	}
}

// A user's sessions are seen and ended by the user and by users:admin; to anyone else, the
// system project's owner included, the user does not exist. Every end is audited.
func TestUserSessions(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	f.user(t, "alice", "viewer")
	f.user(t, "bob", "viewer")
	owner := f.bindSystem(t, "sysowner", "owner")
	s1, alice := f.loginSession(t, "alice")
	s2, _ := f.loginSession(t, "alice")
	b1, bob := f.loginSession(t, "bob")
	id := func(c *keyward.IssuedCredential) string { return strconv.FormatInt(c.ID, 10) }
	works := func(c *keyward.IssuedCredential) bool {
		_, err := f.a.Authenticate(context.Background(), c.Key, "")
		return err == nil
	}

	for who, ctx := range map[string]context.Context{"OtherUser": bob, "SystemOwner": owner} {
		t.Run("Err"+who, func(t *testing.T) {
			if _, err := f.a.ListSessions(ctx, "alice", "", 0); keyward.ErrorCode(err) != keyward.ENotFound {
				t.Errorf("ListSessions: %v", err)
			}
			if _, err := f.a.RevokeSession(ctx, "alice", id(s1)); keyward.ErrorCode(err) != keyward.ENotFound {
				t.Errorf("RevokeSession: %v", err)
			}
			if _, err := f.a.RevokeSessions(ctx, "alice"); keyward.ErrorCode(err) != keyward.ENotFound {
				t.Errorf("RevokeSessions: %v", err)
			}
			if !works(s1) || !works(s2) {
				t.Fatal("a refused call ended a session")
			}
		})
	}

	t.Run("RevokeOne", func(t *testing.T) {
		for _, ref := range []string{id(b1), "999999", "x"} {
			if _, err := f.a.RevokeSession(alice, "alice", ref); keyward.ErrorCode(err) != keyward.ENotFound {
				t.Fatalf("RevokeSession(alice, %s): %v, want not found (not hers)", ref, err)
			}
		}
		if !works(b1) {
			t.Fatal("alice ended bob's session")
		}
		got, err := f.a.RevokeSession(alice, "alice", id(s2))
		if err != nil || got.State != keyward.StateRevoked || got.ID != s2.ID {
			t.Fatalf("RevokeSession = %+v, %v", got, err)
		}
		if works(s2) || !works(s1) {
			t.Fatalf("after revoking s2: s2 works %v, s1 works %v", works(s2), works(s1))
		}
		again, err := f.a.RevokeSession(alice, "alice", id(s2))
		if err != nil || again.Version != got.Version {
			t.Fatalf("revoking again = %+v, %v; want success without a change", again, err)
		}
	})

	t.Run("RevokeAllButOwn", func(t *testing.T) {
		s3, _ := f.loginSession(t, "alice")
		s4, _ := f.loginSession(t, "alice")
		res, err := f.a.RevokeSessions(alice, "alice")
		if err != nil {
			t.Fatal(err)
		}
		// The session newRBAC's user() opened ends too: every live one but the caller's.
		if res.Kept != s1.ID || len(res.Revoked) != 3 || res.Revoked[1] != s3.ID || res.Revoked[2] != s4.ID {
			t.Fatalf("RevokeSessions = %+v, want alice's first session, s3 and s4 revoked and s1 (the caller's) kept", res)
		}
		if works(s3) || works(s4) || !works(s1) || !works(b1) {
			t.Fatal("wrong sessions ended")
		}
		page, err := f.a.ListSessions(alice, "alice", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Items {
			if live := c.State == keyward.StateActive; live != (c.ID == s1.ID) {
				t.Fatalf("session %d is %s after ending all but s1", c.ID, c.State)
			}
		}
	})

	t.Run("AdminRevokesAll", func(t *testing.T) {
		res, err := f.a.RevokeSessions(f.admin, "alice")
		if err != nil || res.Kept != 0 || len(res.Revoked) != 1 || res.Revoked[0] != s1.ID {
			t.Fatalf("RevokeSessions by an admin = %+v, %v", res, err)
		}
		if works(s1) || !works(b1) {
			t.Fatal("wrong sessions ended")
		}
	})

	t.Run("Audited", func(t *testing.T) {
		evs, err := f.a.ListEvents(f.admin, authority.ListEventsInput{Limit: authority.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		ended := map[int64]bool{}
		for _, ev := range evs.Items {
			if ev.Action == "session.revoke" && ev.Detail["user"] == "alice" {
				ended[ev.CredentialID] = true
			}
		}
		for _, c := range []*keyward.IssuedCredential{s1, s2} {
			if !ended[c.ID] {
				t.Fatalf("no session.revoke event for alice's session %d: %v", c.ID, ended)
			}
		}
		if len(ended) != 5 || ended[b1.ID] {
			t.Fatalf("session.revoke events for alice's sessions: %v, want 5, none of bob's", ended)
		}
	})
}

// A login session is no API key: verification and gateways answer NOT_FOUND for it, as for a
// key that does not exist, while it keeps authenticating its user to keyward.
func TestSessionIsNoAPIKey(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	f.user(t, "alice", "owner")
	s, _ := f.loginSession(t, "alice")
	v, err := f.a.Verify(f.admin, keyward.VerifyInput{Key: s.Key})
	if err != nil || v.Valid || v.Code != keyward.CodeNotFound {
		t.Fatalf("verify a session = %+v, %v; want NOT_FOUND", v, err)
	}
	if v, _, err := f.a.VerifyForGateway(context.Background(), keyward.VerifyInput{Key: s.Key}, ""); err != nil || v.Code != keyward.CodeNotFound {
		t.Fatalf("gateway verify of a session = %+v, %v; want NOT_FOUND", v, err)
	}
	if _, err := f.a.Authenticate(context.Background(), s.Key, "10.0.0.1"); err != nil {
		t.Fatalf("the session no longer signs its user in: %v", err)
	}
}
