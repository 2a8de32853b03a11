package authority_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlitetest"
)

// newLookup is newRBAC with a master key, so that projects can keep recoverable keys; acme
// keeps them, globex does not.
func newLookup(t *testing.T) *rbacFixture {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	mk, err := masterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: s}
	clk := &clock{t: t0}
	a := authority.New(cs, authority.Options{Now: clk.Now, UsageFlushInterval: time.Hour, PasswordParams: fastHash, MasterKey: mk})
	t.Cleanup(func() { a.Close() })
	tok, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	caller, err := a.Authenticate(ctx, tok, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	f := &rbacFixture{&fixture{a: a, store: cs, clock: clk, admin: keyward.NewContext(ctx, caller)}}
	for _, slug := range []string{"acme", "globex"} {
		if _, err := a.CreateProject(f.admin, keyward.CreateProjectInput{Slug: slug}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.UpdateProject(f.admin, "acme", keyward.UpdateProjectInput{RecoverableKeys: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *rbacFixture) issue(t *testing.T, project, name string) *keyward.IssuedCredential {
	t.Helper()
	c, err := f.a.CreateCredential(f.admin, project, keyward.CreateCredentialInput{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// events returns the audit events of a project with action, newest first.
func (f *rbacFixture) events(t *testing.T, project, action string) []*keyward.Event {
	t.Helper()
	page, err := f.a.ListEvents(f.admin, authority.ListEventsInput{Project: project, Limit: authority.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	var out []*keyward.Event
	for _, ev := range page.Items {
		if ev.Action == action {
			out = append(out, ev)
		}
	}
	return out
}

func TestCredentialByKey(t *testing.T) {
	t.Parallel()
	f := newLookup(t)
	acme := f.issue(t, "acme", "k1")
	globex := f.issue(t, "globex", "k2")
	viewer := f.user(t, "vera", "viewer")
	notFound := func(t *testing.T, ctx context.Context, key string) {
		t.Helper()
		c, err := f.a.CredentialByKey(ctx, key)
		if got, want := keyward.ErrorCode(err), keyward.ENotFound; got != want {
			t.Fatalf("CredentialByKey = %v, %v; want %s", c, err, want)
		}
		if got, want := keyward.ErrorMessage(err), "API key not found"; got != want {
			t.Fatalf("message = %q, want %q: every refusal must read the same", got, want)
		}
	}

	t.Run("OK", func(t *testing.T) {
		c, err := f.a.CredentialByKey(viewer, acme.Key)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.ID, acme.ID; got != want {
			t.Fatalf("id = %d, want %d", got, want)
		}
		if got, want := c.State, keyward.StateActive; got != want {
			t.Fatalf("state = %s, want %s", got, want)
		}
		if !c.Recoverable || c.Project != "acme" {
			t.Fatalf("credential = %+v; want recoverable, in acme", c)
		}
	})
	t.Run("ErrMalformed", func(t *testing.T) {
		notFound(t, f.admin, "not-a-key")
		notFound(t, f.admin, mistype(acme.Key)) // checksum fails
	})
	t.Run("ErrUnknown", func(t *testing.T) {
		other, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: "gone"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.a.RollCredential(f.admin, "acme", "gone", keyward.RollInput{}); err != nil {
			t.Fatal(err)
		}
		notFound(t, f.admin, other.Key) // replaced with no grace: retired at once
		notFound(t, f.admin, strings.Replace(acme.Key, "kw_live_", "kw_test_", 1))
	})
	t.Run("ErrOtherTenant", func(t *testing.T) {
		before := len(f.events(t, "globex", "authorize"))
		notFound(t, viewer, globex.Key)
		evs := f.events(t, "globex", "authorize")
		if got, want := len(evs), before+1; got != want {
			t.Fatalf("denied events in globex = %d, want %d", got, want)
		}
		ev := evs[0]
		if ev.Outcome != keyward.OutcomeDenied || ev.Actor != "vera" || ev.CredentialID != globex.ID {
			t.Fatalf("event = %+v; want vera's denied lookup of %d", ev, globex.ID)
		}
		for k, v := range ev.Detail {
			if strings.Contains(v, "kw_") || strings.Contains(k, "kw_") {
				t.Fatalf("event detail holds a key: %v", ev.Detail)
			}
		}
	})
	t.Run("ErrNoReadPermission", func(t *testing.T) {
		if _, err := f.a.CreateRole(f.admin, keyward.RoleInput{Name: "verifier", Permissions: []keyward.Permission{keyward.PermKeysVerify}}); err != nil {
			t.Fatal(err)
		}
		notFound(t, f.user(t, "vic", "verifier"), acme.Key)
	})
	t.Run("ErrSession", func(t *testing.T) {
		s, err := f.a.Login(context.Background(), keyward.LoginInput{Name: "vera", Password: pw}, "10.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		notFound(t, f.admin, s.Key)
	})
	t.Run("ErrUnauthenticated", func(t *testing.T) {
		_, err := f.a.CredentialByKey(context.Background(), acme.Key)
		if got, want := keyward.ErrorCode(err), keyward.EUnauthenticated; got != want {
			t.Fatalf("code = %s, want %s", got, want)
		}
	})
	t.Run("GracePeriod", func(t *testing.T) {
		old := f.issue(t, "acme", "graced")
		if _, err := f.a.RollCredential(f.admin, "acme", "graced", keyward.RollInput{GraceSeconds: 60}); err != nil {
			t.Fatal(err)
		}
		c, err := f.a.CredentialByKey(f.admin, old.Key)
		if err != nil || c.ID != old.ID {
			t.Fatalf("old key inside its grace period = %v, %v; want credential %d", c, err, old.ID)
		}
		f.clock.Add(60 * time.Second)
		defer f.clock.Set(t0)
		notFound(t, f.admin, old.Key)
	})
	t.Run("ExpiredAndRevoked", func(t *testing.T) {
		k := f.issue(t, "acme", "ended")
		f.clock.Add(91 * 24 * time.Hour)
		c, err := f.a.CredentialByKey(f.admin, k.Key)
		f.clock.Set(t0)
		if err != nil || c.State != keyward.StateExpired {
			t.Fatalf("expired key = %v, %v; want it, expired", c, err)
		}
		if _, err := f.a.RevokeCredential(f.admin, "acme", "ended"); err != nil {
			t.Fatal(err)
		}
		if c, err = f.a.CredentialByKey(f.admin, k.Key); err != nil || c.State != keyward.StateRevoked {
			t.Fatalf("revoked key = %v, %v; want it, revoked", c, err)
		}
	})
}

func TestDisplayKey(t *testing.T) {
	t.Parallel()
	f := newLookup(t)
	acme := f.issue(t, "acme", "k1")
	globex := f.issue(t, "globex", "k2")
	owner := f.user(t, "olga", "owner")
	viewer := f.user(t, "vera", "viewer")
	read := func(t *testing.T, ctx context.Context, key string) string {
		t.Helper()
		c, err := f.a.CredentialByKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		shown, err := f.a.DisplayKey(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return shown
	}

	t.Run("RevealedToOwner", func(t *testing.T) {
		mine, err := f.a.CreateCredential(owner, "acme", keyward.CreateCredentialInput{Name: "olgas", Roles: []string{"Client"}})
		if err != nil {
			t.Fatal(err)
		}
		before := len(f.events(t, "acme", "credential.reveal"))
		if got, want := read(t, owner, mine.Key), mine.Key; got != want {
			t.Fatalf("shown = %q, want the key", got)
		}
		if got, want := len(f.events(t, "acme", "credential.reveal")), before+1; got != want {
			t.Fatalf("reveal events = %d, want %d", got, want)
		}
	})
	t.Run("MaskedWhenStrongerThanCaller", func(t *testing.T) {
		// The global admin's key holds more than an owner of acme: the dominance rule.
		before, denied := len(f.events(t, "acme", "credential.reveal")), len(f.events(t, "acme", "authorize"))
		got := read(t, owner, acme.Key)
		if want := authority.MaskedKey(&acme.Credential); got != want || strings.Contains(got, acme.Key[12:]) {
			t.Fatalf("shown = %q, want %q", got, want)
		}
		if len(f.events(t, "acme", "credential.reveal")) != before || len(f.events(t, "acme", "authorize")) != denied {
			t.Fatal("a masked read was audited as a reveal or a refusal")
		}
		if _, err := f.a.RevealKey(owner, "acme", "k1"); keyward.ErrorCode(err) != keyward.EForbidden {
			t.Fatalf("owner revealing the admin's key: %v, want forbidden", err)
		}
	})
	t.Run("MaskedWithoutReveal", func(t *testing.T) {
		before, denied := len(f.events(t, "acme", "credential.reveal")), len(f.events(t, "acme", "authorize"))
		got := read(t, viewer, acme.Key)
		if want := authority.MaskedKey(&acme.Credential); got != want || strings.Contains(got, acme.Key[12:]) {
			t.Fatalf("shown = %q, want %q", got, want)
		}
		if len(f.events(t, "acme", "credential.reveal")) != before || len(f.events(t, "acme", "authorize")) != denied {
			t.Fatal("a masked read was audited as a reveal or a refusal")
		}
	})
	t.Run("MaskedWhenNotRecoverable", func(t *testing.T) {
		if got, want := read(t, f.admin, globex.Key), authority.MaskedKey(&globex.Credential); got != want {
			t.Fatalf("shown = %q, want %q", got, want)
		}
	})
}

// mistype changes the last character of key, always to another one (a key may end in x).
func mistype(key string) string {
	if strings.HasSuffix(key, "x") {
		return key[:len(key)-1] + "y"
	}
	return key[:len(key)-1] + "x"
}

// A server started without the master key that sealed a key refuses to reveal it (EUnavailable)
// rather than fail inside the open.
func TestRevealWithoutMasterKey(t *testing.T) {
	t.Parallel()
	f := newLookup(t)
	f.issue(t, "acme", "sealed")
	if _, err := f.a.RevealKey(f.admin, "acme", "sealed"); err != nil {
		t.Fatalf("with the master key: %v", err)
	}
	admin := f.issue(t, "system", "admin-2")
	keyless := authority.New(f.store, authority.Options{Now: f.clock.Now, UsageFlushInterval: time.Hour})
	t.Cleanup(func() { keyless.Close() })
	c, err := keyless.Authenticate(context.Background(), admin.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = keyless.RevealKey(keyward.NewContext(context.Background(), c), "acme", "sealed")
	if keyward.ErrorCode(err) != keyward.EUnavailable {
		t.Fatalf("reveal without the master key: %v, want unavailable", err)
	}
}
