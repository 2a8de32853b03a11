package authority_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/password"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlitetest"
)

var fastHash = password.Params{Memory: 1024, Time: 1, Threads: 1}

const pw = "a long enough passphrase"

// rbacFixture has projects acme and globex and one user per role, bound in acme.
type rbacFixture struct {
	*fixture
}

func newRBAC(t *testing.T) *rbacFixture {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cs := &countingStore{Store: s}
	clk := &clock{t: t0}
	a := authority.New(cs, authority.Options{Now: clk.Now, UsageFlushInterval: time.Hour, PasswordParams: fastHash})
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
	return f
}

// user creates name with role bound in acme (no binding when role is "") and returns a context
// acting as that user's login session.
func (f *rbacFixture) user(t *testing.T, name, role string) context.Context {
	t.Helper()
	if _, err := f.a.CreateUser(f.admin, keyward.CreateUserInput{Name: name, Password: pw}); err != nil {
		t.Fatal(err)
	}
	if role != "" {
		if _, err := f.a.AddMember(f.admin, "acme", keyward.BindingInput{User: name, Role: role}); err != nil {
			t.Fatal(err)
		}
	}
	return f.login(t, name)
}

func (f *rbacFixture) login(t *testing.T, name string) context.Context {
	t.Helper()
	s, err := f.a.Login(context.Background(), keyward.LoginInput{Name: name, Password: pw}, "10.0.0.1")
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	return f.as(t, s.Key)
}

func (f *rbacFixture) as(t *testing.T, key string) context.Context {
	t.Helper()
	c, err := f.a.Authenticate(context.Background(), key, "10.0.0.1")
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return keyward.NewContext(context.Background(), c)
}

func (f *rbacFixture) counts(t *testing.T) (creds, events int) {
	t.Helper()
	for _, p := range []string{"acme", "globex"} {
		page, err := f.a.ListCredentials(f.admin, p, authority.ListCredentialsInput{Limit: authority.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		creds += len(page.Items)
	}
	return creds, len(f.bindings(t))
}

func (f *rbacFixture) bindings(t *testing.T) []keyward.Binding {
	t.Helper()
	bs, err := f.a.Members(f.admin, "acme")
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

func TestEscalation(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	client := f.user(t, "cli", "Client")
	owner := f.user(t, "own", "owner")
	f.user(t, "victim", "")

	clientKey, err := f.a.CreateCredential(client, "acme", keyward.CreateCredentialInput{Name: "client-key"})
	if err != nil {
		t.Fatal(err)
	}
	if got := clientKey.RoleIDs; len(got) != 1 || got[0] != 4 {
		t.Fatalf("default roles of a Client's key = %v, want [4] (Client)", got)
	}
	viewerKey, err := f.a.CreateCredential(client, "acme", keyward.CreateCredentialInput{Name: "viewer-key", Roles: []string{"viewer"}})
	if err != nil {
		t.Fatalf("a Client may give a key the smaller viewer role: %v", err)
	}
	asViewerKey := f.as(t, viewerKey.Key)

	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"CreateWithHigherRole", func() error {
			_, err := f.a.CreateCredential(client, "acme", keyward.CreateCredentialInput{Name: "esc1", Roles: []string{"owner"}})
			return err
		}},
		{"CreateWithAdminRoleByID", func() error {
			_, err := f.a.CreateCredential(client, "acme", keyward.CreateCredentialInput{Name: "esc2", Roles: []string{"1"}})
			return err
		}},
		{"UpdateToAddRole", func() error {
			roles := []string{"Client", "Admin"}
			_, err := f.a.UpdateCredential(client, "acme", "client-key", keyward.UpdateCredentialInput{Roles: &roles})
			return err
		}},
		{"OwnerGrantsAdminInProject", func() error {
			_, err := f.a.AddMember(owner, "acme", keyward.BindingInput{User: "victim", Role: "admin"})
			return err
		}},
		{"OwnerGrantsGlobalRole", func() error {
			_, err := f.a.GrantGlobalRole(owner, "victim", "viewer")
			return err
		}},
		{"KeyCreatesKeyAboveItself", func() error {
			// The viewer-role key holds keys:read only; it cannot even create, let alone more.
			_, err := f.a.CreateCredential(asViewerKey, "acme", keyward.CreateCredentialInput{Name: "esc3", Roles: []string{"Client"}})
			return err
		}},
		{"OwnerWritesRoleWithUsersAdmin", func() error {
			_, err := f.a.CreateRole(owner, keyward.RoleInput{Name: "sneaky", Permissions: []keyward.Permission{keyward.PermUsersAdmin}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds, binds := f.counts(t)
			err := tc.do()
			if code := keyward.ErrorCode(err); code != keyward.EForbidden && code != keyward.ENotFound {
				t.Fatalf("escalation %s: err = %v, want forbidden", tc.name, err)
			}
			if c2, b2 := f.counts(t); c2 != creds || b2 != binds {
				t.Fatalf("refused escalation changed the store: creds %d->%d bindings %d->%d", creds, c2, binds, b2)
			}
			got, err := f.a.Credential(f.admin, "acme", "client-key")
			if err != nil || len(got.RoleIDs) != 1 || got.RoleIDs[0] != 4 {
				t.Fatalf("client-key roles changed: %+v %v", got, err)
			}
		})
	}
	// A key created by a key holds at most what its creator key holds, even for an admin user.
	adminKey, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: "partner-only", Roles: []string{"Partner"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.CreateCredential(f.as(t, adminKey.Key), "acme", keyward.CreateCredentialInput{Name: "child"}); keyward.ErrorCode(err) != keyward.EForbidden {
		t.Fatalf("a Partner-role key of an admin created a key: %v", err)
	}
}

func TestCreatorLosesRights(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	client := f.user(t, "dev", "Client")
	k, err := f.a.CreateCredential(client, "acme", keyward.CreateCredentialInput{Name: "dev-key"})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(perms ...keyward.Permission) string {
		t.Helper()
		v, err := f.a.Verify(f.admin, keyward.VerifyInput{Key: k.Key, Permission: perms})
		if err != nil {
			t.Fatal(err)
		}
		return v.Code
	}
	if got, want := verify(keyward.PermKeysRead), keyward.CodeValid; got != want {
		t.Fatalf("fresh key: %s, want %s", got, want)
	}
	if got, want := verify(keyward.PermKeysRevoke), keyward.CodeForbidden; got != want {
		t.Fatalf("permission the key lacks: %s, want %s", got, want)
	}

	disabled, enabled := true, false
	if _, err := f.a.UpdateUser(f.admin, "dev", keyward.UpdateUserInput{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	if got, want := verify(), keyward.CodeDisabled; got != want {
		t.Fatalf("creator disabled: %s, want %s", got, want)
	}
	if _, err := f.a.Authenticate(context.Background(), k.Key, ""); keyward.ErrorCode(err) != keyward.EUnauthenticated {
		t.Fatalf("key of a disabled user authenticates: %v", err)
	}
	if _, err := f.a.UpdateUser(f.admin, "dev", keyward.UpdateUserInput{Disabled: &enabled}); err != nil {
		t.Fatal(err)
	}
	if got, want := verify(), keyward.CodeValid; got != want {
		t.Fatalf("creator enabled again: %s, want %s", got, want)
	}

	if err := f.a.RemoveMember(f.admin, "acme", "dev", "Client"); err != nil {
		t.Fatal(err)
	}
	if got, want := verify(), keyward.CodeForbidden; got != want {
		t.Fatalf("creator's binding removed: %s, want %s", got, want)
	}
	if _, err := f.a.Credential(f.as(t, k.Key), "acme", "dev-key"); keyward.ErrorCode(err) != keyward.ENotFound {
		t.Fatalf("key of an unbound creator reads the project: %v", err)
	}
	if _, err := f.a.AddMember(f.admin, "acme", keyward.BindingInput{User: "dev", Role: "Client"}); err != nil {
		t.Fatal(err)
	}
	if got, want := verify(), keyward.CodeValid; got != want {
		t.Fatalf("binding restored: %s, want %s", got, want)
	}

	// Revoked meanwhile stays revoked when rights come back.
	if _, err := f.a.RevokeCredential(f.admin, "acme", "dev-key"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.UpdateUser(f.admin, "dev", keyward.UpdateUserInput{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.UpdateUser(f.admin, "dev", keyward.UpdateUserInput{Disabled: &enabled}); err != nil {
		t.Fatal(err)
	}
	if got, want := verify(), keyward.CodeRevoked; got != want {
		t.Fatalf("revoked then restored: %s, want %s", got, want)
	}

	// Deleting the user revokes what it created.
	k2, err := f.a.CreateCredential(f.login(t, "dev"), "acme", keyward.CreateCredentialInput{Name: "dev-key-2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.DeleteUser(f.admin, "dev"); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.a.Verify(f.admin, keyward.VerifyInput{Key: k2.Key}); v.Code != keyward.CodeRevoked {
		t.Fatalf("key of a deleted user: %s, want REVOKED", v.Code)
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	f.user(t, "alice", "viewer")

	t.Run("SameAnswer", func(t *testing.T) {
		_, wrong := f.a.Login(context.Background(), keyward.LoginInput{Name: "alice", Password: "wrong password!!"}, "10.0.0.2")
		_, unknown := f.a.Login(context.Background(), keyward.LoginInput{Name: "nobody", Password: "wrong password!!"}, "10.0.0.3")
		if wrong == nil || unknown == nil || wrong.Error() != unknown.Error() || keyward.ErrorCode(wrong) != keyward.EUnauthenticated {
			t.Fatalf("wrong password = %v; unknown user = %v; want the same 401", wrong, unknown)
		}
	})
	t.Run("Session", func(t *testing.T) {
		s, err := f.a.Login(context.Background(), keyward.LoginInput{Name: "alice", Password: pw}, "10.0.0.4")
		if err != nil {
			t.Fatal(err)
		}
		if s.Type != keyward.Session || !s.ExpiresAt.Equal(f.clock.Now().Add(keyward.DefaultSessionTTL)) {
			t.Fatalf("session = %+v", s.Credential)
		}
		ctx := f.as(t, s.Key)
		page, err := f.a.ListSessions(ctx, "alice", "", 0)
		if err != nil || len(page.Items) < 1 {
			t.Fatalf("sessions = %v, %v", page, err)
		}
		if _, err := f.a.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := f.a.Authenticate(context.Background(), s.Key, ""); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("session after logout: %v", err)
		}
	})
	t.Run("ThrottleEnds", func(t *testing.T) {
		f.user(t, "bob", "viewer")
		bad := keyward.LoginInput{Name: "bob", Password: "not the password"}
		for i := 0; i < authority.DefaultLoginUserRate.Limit; i++ {
			if _, err := f.a.Login(context.Background(), bad, "10.0.1.1"); keyward.ErrorCode(err) != keyward.EUnauthenticated {
				t.Fatalf("failure %d: %v", i, err)
			}
		}
		// Locked now, even with the right password and from another address.
		_, err := f.a.Login(context.Background(), keyward.LoginInput{Name: "bob", Password: pw}, "10.0.1.2")
		var e *keyward.Error
		if !asError(err, &e) || e.Code != keyward.ERateLimited || e.RetryAfter <= 0 {
			t.Fatalf("after %d failures: %v, want rate limited with Retry-After", authority.DefaultLoginUserRate.Limit, err)
		}
		f.clock.Add(e.RetryAfter)
		if _, err := f.a.Login(context.Background(), keyward.LoginInput{Name: "bob", Password: pw}, "10.0.1.2"); err != nil {
			t.Fatalf("after Retry-After: %v", err)
		}
	})
	t.Run("ThrottlePerAddress", func(t *testing.T) {
		for i := 0; i < authority.DefaultLoginAddrRate.Limit; i++ {
			f.a.Login(context.Background(), keyward.LoginInput{Name: "ghost" + string(rune('a'+i)), Password: "whatever12345"}, "10.9.9.9")
		}
		if _, err := f.a.Login(context.Background(), keyward.LoginInput{Name: "alice", Password: pw}, "10.9.9.9"); keyward.ErrorCode(err) != keyward.ERateLimited {
			t.Fatalf("address over its limit: %v", err)
		}
	})
	t.Run("DisabledUser", func(t *testing.T) {
		f.user(t, "carol", "viewer")
		d := true
		if _, err := f.a.UpdateUser(f.admin, "carol", keyward.UpdateUserInput{Disabled: &d}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.a.Login(context.Background(), keyward.LoginInput{Name: "carol", Password: pw}, "10.0.2.1"); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("disabled user logs in: %v", err)
		}
	})
	t.Run("PasswordPolicy", func(t *testing.T) {
		for _, p := range []string{"short", "dave-is-great-yes"} {
			if _, err := f.a.CreateUser(f.admin, keyward.CreateUserInput{Name: "dave", Password: p}); keyward.ErrorCode(err) != keyward.EInvalid {
				t.Fatalf("password %q accepted: %v", p, err)
			}
		}
	})
}

// A login that names no user, a user without a password or a disabled user costs what a wrong
// password costs: one argon2id run, at the cost of the users' own hashes. Proven by counting the
// runs and reading their cost, not by timing them (timing belongs in benchmarks).
func TestLoginHashParity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := authority.New(s, authority.Options{LoginUserRate: bigRate, LoginAddrRate: bigRate, PasswordParams: fastHash})
	defer a.Close()
	checks := a.RecordPasswordChecks()
	tok, _ := a.Bootstrap(ctx)
	admin, _ := a.Authenticate(ctx, tok, "")
	actx := keyward.NewContext(ctx, admin)
	if _, err := a.CreateUser(actx, keyward.CreateUserInput{Name: "erin", Password: pw}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateUser(actx, keyward.CreateUserInput{Name: "nopass"}); err != nil {
		t.Fatal(err)
	}
	u, err := a.CreateUser(actx, keyward.CreateUserInput{Name: "dora", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	if _, err := a.UpdateUser(actx, u.Name, keyward.UpdateUserInput{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	// The cost of a real user's hash, read from a wrong password's check.
	a.Login(ctx, keyward.LoginInput{Name: "erin", Password: "wrong password!!"}, "")
	first := checks()
	if len(first) != 1 {
		t.Fatalf("a wrong password ran %d checks, want 1", len(first))
	}
	cost := first[0]
	for _, tc := range []struct{ name, pass string }{
		{"erin", "wrong password!!"},
		{"nobody-at-all", "wrong password!!"},
		{"nopass", "wrong password!!"},
		{"dora", pw},
	} {
		before := len(checks())
		if _, err := a.Login(ctx, keyward.LoginInput{Name: tc.name, Password: tc.pass}, ""); err == nil {
			t.Fatalf("%s logged in", tc.name)
		}
		got := checks()[before:]
		if len(got) != 1 || got[0] != cost {
			t.Errorf("login as %s checked %q, want one check at %q", tc.name, got, cost)
		}
	}
}

// bigRate keeps the throttle out of the timing comparison.
var bigRate = ratelimit.Rate{Limit: 1000, Period: time.Second}

// Servers starting at once on an empty database all end up with the one CA that was stored.
func TestInitCAConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mk, err := masterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	auths := make([]*authority.Authority, n)
	errs := make(chan error, n)
	for i := range auths {
		auths[i] = authority.New(s, authority.Options{MasterKey: mk})
		defer auths[i].Close()
	}
	for _, a := range auths {
		go func(a *authority.Authority) { errs <- a.InitCA(ctx) }(a)
	}
	for range auths {
		if err := <-errs; err != nil {
			t.Fatalf("InitCA: %v", err)
		}
	}
	stored := authority.New(s, authority.Options{MasterKey: mk})
	defer stored.Close()
	if err := stored.InitCA(ctx); err != nil {
		t.Fatal(err)
	}
	want := stored.CA().Certificate().Raw
	for i, a := range auths {
		if !bytes.Equal(a.CA().Certificate().Raw, want) {
			t.Fatalf("server %d uses a CA other than the stored one", i)
		}
	}
	// And a server with another master key is refused.
	other, _ := masterkey.Generate()
	wrong := authority.New(s, authority.Options{MasterKey: other})
	defer wrong.Close()
	if err := wrong.InitCA(ctx); err == nil {
		t.Fatal("InitCA accepted a different master key")
	}
}
