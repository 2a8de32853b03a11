package authority_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlitetest"
)

func svcAccess(pairs ...string) []authority.ProjectRole {
	var out []authority.ProjectRole
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, authority.ProjectRole{Project: pairs[i], Role: pairs[i+1]})
	}
	return out
}

func (f *rbacFixture) allUserNames(t *testing.T) []string {
	t.Helper()
	page, err := f.a.ListUsers(f.admin, "", authority.MaxPageSize)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range page.Items {
		names = append(names, u.Name)
	}
	return names
}

func TestServiceCredential(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	sc, err := f.a.CreateServiceCredential(f.admin, "acme", authority.CreateServiceCredentialInput{
		Name: "deployer", Access: svcAccess("acme", "Client", "globex", "viewer", "acme", "4"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sc.RoleIDs, []int64{4, 6}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("role ids %v, want %v", got, want)
	}
	if sc.Type != keyward.APIToken || sc.Key == "" || sc.ExpiresAt == nil || !sc.ExpiresAt.Equal(t0.AddDate(0, 0, keyward.DefaultExpirationDays)) {
		t.Errorf("issued %+v", sc.Credential)
	}

	t.Run("RightsPerProject", func(t *testing.T) {
		c, err := f.a.Authenticate(context.Background(), sc.Key, "10.0.0.2")
		if err != nil {
			t.Fatal(err)
		}
		if c.User.Name != "svc:acme:deployer" {
			t.Errorf("acts as %q", c.User.Name)
		}
		acme, globex := projectIDOf(t, f, "acme"), projectIDOf(t, f, "globex")
		for _, tc := range []struct {
			p       keyward.Permission
			project int64
			want    bool
		}{
			{keyward.PermKeysCreate, acme, true},    // Client in acme
			{keyward.PermKeysRevoke, acme, false},   // not in Client
			{keyward.PermKeysRead, globex, true},    // viewer in globex
			{keyward.PermKeysCreate, globex, false}, // viewer only there
			{keyward.PermKeysRead, 0, false},        // nothing global
		} {
			if got := c.Can(tc.p, tc.project); got != tc.want {
				t.Errorf("Can(%s, %d) = %v, want %v", tc.p, tc.project, got, tc.want)
			}
		}
	})
	t.Run("Held", func(t *testing.T) {
		h, err := f.a.HeldCredential(f.admin, "acme", "deployer", authority.ServiceKind)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Holder.Service || h.Holder.Name != "svc:acme:deployer" || len(h.Holder.Access) != 2 {
			t.Errorf("holder %+v", h.Holder)
		}
		if _, err := f.a.HeldCredential(f.admin, "acme", "deployer", authority.UserKind); keyward.ErrorCode(err) != keyward.ENotFound {
			t.Errorf("as a user credential: %v, want not found", err)
		}
		// A caller that cannot see globex is not told of the role there.
		viewer := f.user(t, "vera", "viewer")
		h, err = f.a.HeldCredential(viewer, "acme", "deployer", authority.AnyKind)
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Holder.Access) != 1 || h.Holder.Access[0].Project != "acme" {
			t.Errorf("a caller without globex sees %+v", h.Holder.Access)
		}
	})
	t.Run("RenamedNameReused", func(t *testing.T) {
		renamed := "deployer-old"
		if _, err := f.a.UpdateCredential(f.admin, "acme", "deployer", keyward.UpdateCredentialInput{Name: &renamed}); err != nil {
			t.Fatal(err)
		}
		again, err := f.a.CreateServiceCredential(f.admin, "acme", authority.CreateServiceCredentialInput{Name: "deployer", Access: svcAccess("acme", "viewer")})
		if err != nil {
			t.Fatal(err)
		}
		c, err := f.a.Authenticate(context.Background(), again.Key, "10.0.0.2")
		if err != nil {
			t.Fatal(err)
		}
		if name := c.User.Name; !strings.HasPrefix(name, "svc:acme:deployer:") || len(name) != len("svc:acme:deployer:")+8 {
			t.Errorf("second service user %q, want svc:acme:deployer:<8 hex>", name)
		}
	})
	t.Run("OutlivesCreatorsRights", func(t *testing.T) {
		cli := f.user(t, "cli", "Client")
		k, err := f.a.CreateServiceCredential(cli, "acme", authority.CreateServiceCredentialInput{Name: "cli-svc", Access: svcAccess("acme", "Client")})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.a.RemoveMember(f.admin, "acme", "cli", "Client"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.a.Authenticate(context.Background(), k.Key, "10.0.0.2"); err != nil {
			t.Errorf("a service credential stopped working when its creator lost the role: %v", err)
		}
	})
	t.Run("Kinds", func(t *testing.T) {
		if _, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: "plain"}); err != nil {
			t.Fatal(err)
		}
		names := func(kind authority.CredentialKind) string {
			hs, err := f.a.ListHeldCredentials(f.admin, "acme", kind)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, h := range hs {
				out = append(out, h.Name)
			}
			return strings.Join(out, ",")
		}
		if got, want := names(authority.UserKind), "plain"; got != want {
			t.Errorf("user credentials %q, want %q", got, want)
		}
		if got, want := names(authority.ServiceKind), "deployer-old,deployer,cli-svc"; got != want {
			t.Errorf("service credentials %q, want %q", got, want)
		}
		// Sessions are of no kind.
		hs, err := f.a.ListHeldCredentials(f.admin, keyward.SystemProject, authority.AnyKind)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			if h.Type == keyward.Session {
				t.Errorf("session %q listed", h.Name)
			}
		}
	})
}

func projectIDOf(t *testing.T, f *rbacFixture, slug string) int64 {
	t.Helper()
	p, err := f.a.Project(f.admin, slug)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// TestServiceCredentialRefused checks that every refusal leaves the store as it was.
func TestServiceCredentialRefused(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	cli := f.user(t, "cli", "Client")
	if _, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: "taken"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		in   authority.CreateServiceCredentialInput
		code keyward.Code
	}{
		{"ErrRoleAboveCaller", cli, authority.CreateServiceCredentialInput{Name: "esc", Access: svcAccess("acme", "Client", "acme", "owner")}, keyward.EForbidden},
		{"ErrAdminByID", cli, authority.CreateServiceCredentialInput{Name: "esc", Access: svcAccess("acme", "1")}, keyward.EForbidden},
		{"ErrProjectNotVisible", cli, authority.CreateServiceCredentialInput{Name: "esc", Access: svcAccess("acme", "viewer", "globex", "viewer")}, keyward.ENotFound},
		{"ErrNoAccess", f.admin, authority.CreateServiceCredentialInput{Name: "none"}, keyward.EInvalid},
		{"ErrUnknownRole", f.admin, authority.CreateServiceCredentialInput{Name: "x", Access: svcAccess("acme", "nope")}, keyward.EInvalid},
		{"ErrNameTaken", f.admin, authority.CreateServiceCredentialInput{Name: "taken", Access: svcAccess("acme", "viewer")}, keyward.EConflict},
		{"ErrBadName", f.admin, authority.CreateServiceCredentialInput{Name: "a b", Access: svcAccess("acme", "viewer")}, keyward.EInvalid},
		{"ErrPasswordOnToken", f.admin, authority.CreateServiceCredentialInput{Name: "x", CertificateOptions: keyward.CertificateOptions{Password: "long enough"}, Access: svcAccess("acme", "viewer")}, keyward.EInvalid},
		{"ErrNoCA", f.admin, authority.CreateServiceCredentialInput{Name: "x", Type: keyward.APICertificate, CertificateOptions: keyward.CertificateOptions{Password: "long enough"}, Access: svcAccess("acme", "viewer")}, keyward.EUnavailable},
		{"ErrCallerCannotCreate", f.user(t, "vic", "viewer"), authority.CreateServiceCredentialInput{Name: "x", Access: svcAccess("acme", "viewer")}, keyward.EForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			users := strings.Join(f.allUserNames(t), ",")
			creds, binds := f.counts(t)
			_, err := f.a.CreateServiceCredential(tc.ctx, "acme", tc.in)
			if got := keyward.ErrorCode(err); got != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
			if got := strings.Join(f.allUserNames(t), ","); got != users {
				t.Errorf("users %s -> %s", users, got)
			}
			if c2, b2 := f.counts(t); c2 != creds || b2 != binds {
				t.Errorf("store changed: creds %d->%d bindings %d->%d", creds, c2, binds, b2)
			}
		})
	}
}

// failCreateStore fails CreateCredential, as a write racing with another may.
type failCreateStore struct{ *countingStore }

// WithTx fails CreateCredential inside the transaction too.
func (s *failCreateStore) WithTx(ctx context.Context, fn func(tx keyward.Store) error) error {
	return s.countingStore.WithTx(ctx, func(tx keyward.Store) error {
		return fn(&failCreateStore{tx.(*countingStore)})
	})
}

func (s *failCreateStore) CreateCredential(ctx context.Context, c *keyward.Credential, sec *keyward.CredentialSecret, ev *keyward.Event) error {
	return errors.New("disk full")
}

// TestServiceCredentialUndo checks that a write failing after the service user was stored
// leaves neither it nor its bindings: they are one transaction.
func TestServiceCredentialUndo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	fs := &failCreateStore{&countingStore{Store: s}}
	a := authority.New(fs, authority.Options{Now: (&clock{t: t0}).Now, UsageFlushInterval: time.Hour})
	t.Cleanup(func() { a.Close() })
	tok, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Authenticate(ctx, tok, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	admin := keyward.NewContext(ctx, c)
	if _, err := a.CreateServiceCredential(admin, keyward.SystemProject, authority.CreateServiceCredentialInput{
		Name: "doomed", Access: svcAccess(keyward.SystemProject, "viewer"),
	}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the store's", err)
	}
	u, err := s.UserByName(ctx, "svc:system:doomed")
	if keyward.ErrorCode(err) != keyward.ENotFound {
		t.Fatalf("the service user is still there: %+v %v", u, err)
	}
	page, err := a.ListUsers(admin, "", authority.MaxPageSize)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range page.Items {
		if authority.IsServiceUser(u.Name) {
			t.Errorf("service user %q left behind", u.Name)
		}
	}
	bs, err := s.ProjectBindings(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 0 {
		t.Errorf("bindings left behind: %+v", bs)
	}
}
