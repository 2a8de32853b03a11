package authority_test

import (
	"context"
	"crypto/sha256"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlitetest"
)

// ownRoles is the role requirement the tests put on own keys.
var ownRoles = []string{"Client", "Admin", "Partner"}

// newOwnKeys is newRBAC with a master key; acme keeps recoverable keys, globex does not.
func newOwnKeys(t *testing.T) *rbacFixture {
	t.Helper()
	return newOwnKeysWith(t, nil)
}

// hookStore calls before ahead of every credential creation, with the store the creation
// goes to (a transaction's).
type hookStore struct {
	keyward.Store
	before func(st keyward.Store, c *keyward.Credential)
	parent *hookStore // of a transaction's store: whose before runs
}

// WithTx hooks the creations of the transaction too.
func (s *hookStore) WithTx(ctx context.Context, fn func(tx keyward.Store) error) error {
	root := s
	if s.parent != nil {
		root = s.parent
	}
	return s.Store.WithTx(ctx, func(tx keyward.Store) error { return fn(&hookStore{Store: tx, parent: root}) })
}

func (s *hookStore) CreateCredential(ctx context.Context, c *keyward.Credential, sec *keyward.CredentialSecret, ev *keyward.Event) error {
	root := s
	if s.parent != nil {
		root = s.parent
	}
	if root.before != nil {
		root.before(s.Store, c)
	}
	return s.Store.CreateCredential(ctx, c, sec, ev)
}

// newOwnKeysWith is newOwnKeys over a store that hook, when not nil, wraps.
func newOwnKeysWith(t *testing.T, hook *hookStore) *rbacFixture {
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
	var store keyward.Store = s
	if hook != nil {
		hook.Store = s
		store = hook
	}
	cs := &countingStore{Store: store}
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

func ownScope(project string, envs ...keyward.Environment) authority.OwnKeysScope {
	return authority.OwnKeysScope{Project: project, Environments: envs, AnyRole: ownRoles}
}

// ownRegenerate calls RegenerateOwnKeys and fails the test on an error.
func (f *rbacFixture) ownRegenerate(t *testing.T, ctx context.Context, in authority.RegenerateOwnKeysInput) []*keyward.IssuedCredential {
	t.Helper()
	keys, err := f.a.RegenerateOwnKeys(ctx, in)
	if err != nil {
		t.Fatalf("RegenerateOwnKeys(%+v): %v", in, err)
	}
	return keys
}

func ownNames(keys []*keyward.IssuedCredential) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Name)
	}
	return out
}

func TestOwnKeysRoleRequirement(t *testing.T) {
	t.Parallel()
	f := newOwnKeys(t)
	sessions := map[string]context.Context{"admin": f.admin}
	for _, u := range []struct{ name, role string }{
		{"cli", "Client"}, {"adm", "Admin"}, {"par", "Partner"}, {"vwr", "viewer"}, {"own", "owner"}, {"outsider", ""},
	} {
		sessions[u.name] = f.user(t, u.name, u.role)
	}
	// A Client of two projects must say which one (with a key of it); a viewer binding in
	// globex does not make cli's session ambiguous.
	f.user(t, "two", "Client")
	for _, b := range []keyward.BindingInput{{User: "two", Role: "Partner"}, {User: "cli", Role: "viewer"}} {
		if _, err := f.a.AddMember(f.admin, "globex", b); err != nil {
			t.Fatal(err)
		}
	}
	sessions["two"] = f.login(t, "two")
	sessions["cli"] = f.login(t, "cli")
	// A Client's key that carries only the viewer role does not act as a Client.
	viewerKey, err := f.a.CreateCredential(sessions["cli"], "acme", keyward.CreateCredentialInput{Name: "cli-viewer", Roles: []string{"viewer"}})
	if err != nil {
		t.Fatal(err)
	}
	sessions["cli-viewer-key"] = f.as(t, viewerKey.Key)
	// A Client's key that carries the Client role acts in its own project by default.
	clientKey, err := f.a.CreateCredential(sessions["cli"], "acme", keyward.CreateCredentialInput{Name: "cli-client"})
	if err != nil {
		t.Fatal(err)
	}
	sessions["cli-client-key"] = f.as(t, clientKey.Key)

	for _, tc := range []struct {
		name    string
		who     string
		scope   authority.OwnKeysScope
		want    keyward.Code
		roleIDs []int64
	}{
		{"Client", "cli", ownScope("acme"), "", []int64{4}},
		{"Admin", "adm", ownScope("acme"), "", []int64{3}},
		{"Partner", "par", ownScope("acme"), "", []int64{5}},
		{"GlobalAdminCountsAsAdmin", "admin", ownScope("acme"), "", []int64{1}},
		{"ProjectByID", "par", ownScope("2"), "", []int64{5}},
		{"Viewer", "vwr", ownScope("acme"), keyward.EForbidden, nil},
		{"OwnerIsNoneOfThem", "own", ownScope("acme"), keyward.EForbidden, nil},
		{"KeyWithoutTheRole", "cli-viewer-key", ownScope(""), keyward.EForbidden, nil},
		{"KeyDefaultsToItsProject", "cli-client-key", ownScope(""), "", []int64{4}},
		{"NoAccessToProject", "outsider", ownScope("acme"), keyward.ENotFound, nil},
		{"OtherTenant", "par", ownScope("globex"), keyward.ENotFound, nil},
		{"SessionFindsItsProject", "par", ownScope(""), "", []int64{5}},
		{"SessionWithoutQualifyingProject", "vwr", ownScope(""), keyward.EForbidden, nil},
		{"SessionWithoutAnyProject", "outsider", ownScope(""), keyward.ENotFound, nil},
		{"SessionInSeveralProjects", "two", ownScope(""), keyward.EInvalid, nil},
		{"SessionPicksTheQualifyingOne", "cli", ownScope(""), "", []int64{4}},
		{"UnknownProject", "cli", ownScope("nope"), keyward.ENotFound, nil},
		{"NoRequirement", "vwr", authority.OwnKeysScope{Project: "acme"}, "", []int64{6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := sessions[tc.who]
			keys, err := f.a.RegenerateOwnKeys(ctx, authority.RegenerateOwnKeysInput{OwnKeysScope: tc.scope})
			if got := keyward.ErrorCode(err); got != tc.want {
				t.Fatalf("RegenerateOwnKeys: code %q (%v), want %q", got, err, tc.want)
			}
			_, lerr := f.a.ListOwnKeys(ctx, tc.scope)
			if got := keyward.ErrorCode(lerr); got != tc.want {
				t.Fatalf("ListOwnKeys: code %q (%v), want %q", got, lerr, tc.want)
			}
			if tc.want != "" {
				if keys != nil {
					t.Fatalf("refused call returned keys %v", ownNames(keys))
				}
				return
			}
			if got, want := len(keys), 4; got != want {
				t.Fatalf("%d keys, want %d", got, want)
			}
			for _, k := range keys {
				if !slices.Equal(k.RoleIDs, tc.roleIDs) {
					t.Fatalf("key %s has roles %v, want the caller's %v", k.Name, k.RoleIDs, tc.roleIDs)
				}
			}
		})
	}
	t.Run("RefusalIsAudited", func(t *testing.T) {
		var denied int
		for _, ev := range f.ownEvents(t, "acme", "authorize") {
			if ev.Outcome == keyward.OutcomeDenied && ev.Detail["roles"] == "Client,Admin,Partner" {
				denied++
			}
		}
		// Viewer, OwnerIsNoneOfThem, KeyWithoutTheRole and SessionWithoutQualifyingProject,
		// each twice (regenerate and list).
		if got, want := denied, 8; got != want {
			t.Fatalf("%d denied events, want %d", got, want)
		}
	})
}

// ownEvents returns the audit events of a project with action, newest first.
func (f *rbacFixture) ownEvents(t *testing.T, project, action string) []*keyward.Event {
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

func TestRegenerateOwnKeys(t *testing.T) {
	t.Parallel()
	f := newOwnKeys(t)
	par := f.user(t, "par", "Partner")
	cli := f.user(t, "cli", "Client")
	parUser, err := f.a.User(f.admin, "par")
	if err != nil {
		t.Fatal(err)
	}
	// Credentials that are not par's own keys, which regeneration must leave alone.
	cliKeys := f.ownRegenerate(t, cli, authority.RegenerateOwnKeysInput{OwnKeysScope: ownScope("acme")})
	adminMade, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: "par-live-secret-7"})
	if err != nil {
		t.Fatal(err)
	}

	first := f.ownRegenerate(t, par, authority.RegenerateOwnKeysInput{OwnKeysScope: ownScope("acme")})
	t.Run("First", func(t *testing.T) {
		want := []struct {
			name string
			env  keyward.Environment
			kt   keyward.KeyType
		}{
			{"par-live-secret-1", keyward.Live, keyward.Secret},
			{"par-live-publishable-1", keyward.Live, keyward.Publishable},
			{"par-test-secret-1", keyward.Test, keyward.Secret},
			{"par-test-publishable-1", keyward.Test, keyward.Publishable},
		}
		if len(first) != len(want) {
			t.Fatalf("keys %v, want %d", ownNames(first), len(want))
		}
		for i, w := range want {
			k := first[i]
			if k.Name != w.name || k.Environment != w.env || k.KeyType != w.kt {
				t.Fatalf("key %d = %s %s %s, want %s %s %s", i, k.Name, k.Environment, k.KeyType, w.name, w.env, w.kt)
			}
			if !strings.HasPrefix(k.Key, "kw_"+string(w.env)+"_") {
				t.Fatalf("key %s = %q, want a kw_%s_ token", k.Name, k.Key, w.env)
			}
			if k.Type != keyward.APIToken || k.Project != "acme" || k.CreatedBy != parUser.ID || k.State != keyward.StateActive {
				t.Fatalf("key %s: type %s project %s creator %d state %s", k.Name, k.Type, k.Project, k.CreatedBy, k.State)
			}
			if k.ExpiresAt == nil || !k.ExpiresAt.Equal(t0.AddDate(0, 0, keyward.DefaultExpirationDays)) {
				t.Fatalf("key %s expires %v, want the default %d days", k.Name, k.ExpiresAt, keyward.DefaultExpirationDays)
			}
			if !k.Recoverable {
				t.Fatalf("key %s is not recoverable in a project that keeps recoverable keys", k.Name)
			}
			if _, err := f.a.Authenticate(context.Background(), k.Key, "10.0.0.2"); err != nil {
				t.Fatalf("new key %s does not authenticate: %v", k.Name, err)
			}
		}
	})

	// Regenerate live only, authenticated with the live secret key itself.
	liveKey := f.as(t, first[0].Key)
	f.clock.Add(time.Minute)
	second := f.ownRegenerate(t, liveKey, authority.RegenerateOwnKeysInput{OwnKeysScope: ownScope("", keyward.Live), NeverExpires: true})
	t.Run("SecondLiveOnly", func(t *testing.T) {
		if got, want := ownNames(second), []string{"par-live-secret-2", "par-live-publishable-2"}; !slices.Equal(got, want) {
			t.Fatalf("names %v, want %v", got, want)
		}
		for _, k := range second {
			if k.ExpiresAt != nil {
				t.Fatalf("never_expires key %s expires %v", k.Name, k.ExpiresAt)
			}
		}
		for i, k := range first {
			_, err := f.a.Authenticate(context.Background(), k.Key, "10.0.0.2")
			revoked := i < 2 // the live ones
			if got := keyward.ErrorCode(err) == keyward.EUnauthenticated; got != revoked {
				t.Fatalf("old key %s: authenticate error %v, want revoked=%v", k.Name, err, revoked)
			}
			c, err := f.a.Credential(f.admin, "acme", k.Name)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.RevokedAt != nil; got != revoked {
				t.Fatalf("old key %s revoked=%v, want %v", k.Name, got, revoked)
			}
		}
	})
	t.Run("OthersUntouched", func(t *testing.T) {
		for _, ref := range append(ownNames(cliKeys), adminMade.Name) {
			c, err := f.a.Credential(f.admin, "acme", ref)
			if err != nil {
				t.Fatal(err)
			}
			if c.State != keyward.StateActive {
				t.Fatalf("%s is %s after another user's regeneration", ref, c.State)
			}
		}
	})
	t.Run("List", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			envs []keyward.Environment
			want []string
		}{
			{"All", nil, []string{"par-live-publishable-2", "par-live-secret-2", "par-test-publishable-1", "par-test-secret-1"}},
			{"Live", []keyward.Environment{keyward.Live}, []string{"par-live-publishable-2", "par-live-secret-2"}},
			{"Test", []keyward.Environment{keyward.Test}, []string{"par-test-publishable-1", "par-test-secret-1"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				keys, err := f.a.ListOwnKeys(par, ownScope("acme", tc.envs...))
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, k := range keys {
					got = append(got, k.Credential.Name)
					// A Partner lacks keys:reveal: the key is masked.
					if want := authority.MaskedKey(k.Credential); k.Key != want {
						t.Fatalf("%s shown as %q, want masked %q", k.Credential.Name, k.Key, want)
					}
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("listed %v, want %v", got, tc.want)
				}
			})
		}
	})
	t.Run("Audited", func(t *testing.T) {
		var revokes int
		for _, ev := range f.ownEvents(t, "acme", "credential.revoke") {
			if ev.Detail["reason"] == "regenerated" && ev.Actor == "par" {
				revokes++
			}
		}
		if got, want := revokes, 2; got != want {
			t.Fatalf("%d revoke events, want %d", got, want)
		}
	})
}

func TestRegenerateOwnKeysInvalid(t *testing.T) {
	t.Parallel()
	f := newOwnKeys(t)
	cli := f.user(t, "cli", "Client")
	for _, tc := range []struct {
		name  string
		in    authority.RegenerateOwnKeysInput
		field string
	}{
		{"Environment", authority.RegenerateOwnKeysInput{OwnKeysScope: ownScope("acme", "prod")}, "environment"},
		{"KeyType", authority.RegenerateOwnKeysInput{OwnKeysScope: ownScope("acme"), KeyTypes: []keyward.KeyType{"private"}}, "key_type"},
		{"ExpirationDays", authority.RegenerateOwnKeysInput{OwnKeysScope: ownScope("acme"), ExpirationDays: days(0)}, "expiration_days"},
		{"BothExpiries", authority.RegenerateOwnKeysInput{OwnKeysScope: ownScope("acme"), ExpirationDays: days(3), NeverExpires: true}, "expiration_days"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.a.RegenerateOwnKeys(cli, tc.in)
			var e *keyward.Error
			if !asError(err, &e) || e.Code != keyward.EInvalid || e.Fields[tc.field] == "" {
				t.Fatalf("err = %v, want invalid %s", err, tc.field)
			}
		})
	}
	t.Run("ListEnvironment", func(t *testing.T) {
		_, err := f.a.ListOwnKeys(cli, ownScope("acme", "staging"))
		var e *keyward.Error
		if !asError(err, &e) || e.Code != keyward.EInvalid || e.Fields["environment"] == "" {
			t.Fatalf("err = %v, want invalid environment", err)
		}
	})
	t.Run("NothingCreated", func(t *testing.T) {
		keys, err := f.a.ListOwnKeys(cli, ownScope("acme"))
		if err != nil || len(keys) != 0 {
			t.Fatalf("after refused calls: %d keys, %v", len(keys), err)
		}
	})
	t.Run("OneKeyType", func(t *testing.T) {
		keys := f.ownRegenerate(t, cli, authority.RegenerateOwnKeysInput{
			OwnKeysScope: ownScope("acme", keyward.Test, keyward.Test), KeyTypes: []keyward.KeyType{keyward.Secret}, ExpirationDays: days(7),
		})
		if got, want := ownNames(keys), []string{"cli-test-secret-1"}; !slices.Equal(got, want) {
			t.Fatalf("names %v, want %v", got, want)
		}
		if !keys[0].ExpiresAt.Equal(t0.AddDate(0, 0, 7)) {
			t.Fatalf("expires %v, want 7 days", keys[0].ExpiresAt)
		}
	})
}

// A regeneration that finds one of its new names taken by the caller's own key (another
// regeneration got there first) gets EConflict and leaves nothing of itself behind: it is one
// transaction, so the keys it created before are gone and the old keys stay valid.
func TestRegenerateOwnKeysConflict(t *testing.T) {
	t.Parallel()
	hook := &hookStore{}
	f := newOwnKeysWith(t, hook)
	cli := f.user(t, "cli", "Client")
	old := f.ownRegenerate(t, cli, authority.RegenerateOwnKeysInput{OwnKeysScope: ownScope("acme")})
	// As the regeneration creates its third key, its name turns out to be the caller's own
	// key already: in the same transaction, so that no second writer is needed.
	var took error
	hook.before = func(st keyward.Store, c *keyward.Credential) {
		if c.Name != "cli-test-secret-2" {
			return
		}
		hook.before = nil
		rival := *c
		sum := sha256.Sum256([]byte("rival"))
		took = st.CreateCredential(context.Background(), &rival, &keyward.CredentialSecret{Digest: sum[:], CreatedAt: c.CreatedAt},
			&keyward.Event{Time: c.CreatedAt, Action: "credential.create", Outcome: keyward.OutcomeSuccess})
	}
	_, err := f.a.RegenerateOwnKeys(cli, authority.RegenerateOwnKeysInput{OwnKeysScope: ownScope("acme")})
	if took != nil {
		t.Fatalf("the rival key: %v", took)
	}
	if got, want := keyward.ErrorCode(err), keyward.EConflict; got != want {
		t.Fatalf("code %q (%v), want %q", got, err, want)
	}
	for _, name := range []string{"cli-live-secret-2", "cli-live-publishable-2", "cli-test-secret-2"} {
		if _, err := f.a.Credential(f.admin, "acme", name); keyward.ErrorCode(err) != keyward.ENotFound {
			t.Fatalf("%s of the failed regeneration: %v, want not found", name, err)
		}
	}
	for _, k := range old {
		if _, err := f.a.Authenticate(context.Background(), k.Key, "10.0.0.2"); err != nil {
			t.Fatalf("old key %s stopped working after a failed regeneration: %v", k.Name, err)
		}
	}
	keys, err := f.a.ListOwnKeys(cli, ownScope("acme"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		got = append(got, k.Credential.Name)
	}
	slices.Sort(got)
	want := ownNames(old)
	if slices.Sort(want); !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
}

// A numbered name someone else holds is passed over for a random one: nobody can block a
// user's regeneration by taking the next names.
func TestRegenerateOwnKeysNameTaken(t *testing.T) {
	t.Parallel()
	f := newOwnKeys(t)
	cli := f.user(t, "cli", "Client")
	f.ownRegenerate(t, cli, authority.RegenerateOwnKeysInput{OwnKeysScope: ownScope("acme", keyward.Live)})
	for _, name := range []string{"cli-live-secret-2", "cli-live-secret-3"} {
		if _, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	keys := f.ownRegenerate(t, cli, authority.RegenerateOwnKeysInput{OwnKeysScope: ownScope("acme", keyward.Live)})
	names := ownNames(keys)
	if len(names) != 2 || !randomOwnName("cli-live-secret", names[0]) || names[1] != "cli-live-publishable-2" {
		t.Fatalf("names %v, want [cli-live-secret-<random> cli-live-publishable-2]", names)
	}
	for _, name := range []string{"cli-live-secret-2", "cli-live-secret-3"} {
		if c, err := f.a.Credential(f.admin, "acme", name); err != nil || c.State != keyward.StateActive {
			t.Fatalf("the admin's %s: %v, %v", name, c, err)
		}
	}
}

// randomOwnName reports whether name is base followed by a dash and ten random characters.
func randomOwnName(base, name string) bool {
	rest, ok := strings.CutPrefix(name, base+"-")
	return ok && len(rest) == 10 && strings.Trim(rest, "abcdefghijklmnopqrstuvwxyz234567") == ""
}

// Own keys are told by what they were created as, not by name: another member who takes every
// name the numbering would use (16 per environment and key type made regeneration give up
// for good) blocks nothing, and neither their credentials nor the victim's ordinary ones that
// look like own keys are listed or revoked as the victim's own keys.
func TestRegenerateOwnKeysSquatted(t *testing.T) {
	t.Parallel()
	f := newOwnKeys(t)
	cli := f.user(t, "cli", "Client")
	squatter := f.user(t, "squatter", "Client")
	first := f.ownRegenerate(t, cli, authority.RegenerateOwnKeysInput{OwnKeysScope: ownScope("acme")})
	var squatted []*keyward.IssuedCredential
	for _, env := range []string{"live", "test"} {
		for _, kt := range []string{"secret", "publishable"} {
			for n := 2; n <= 40; n++ {
				k, err := f.a.CreateCredential(squatter, "acme", keyward.CreateCredentialInput{
					Name: "cli-" + env + "-" + kt + "-" + strconv.Itoa(n), Environment: keyward.Environment(env), KeyType: keyward.KeyType(kt),
				})
				if err != nil {
					t.Fatal(err)
				}
				squatted = append(squatted, k)
			}
		}
	}
	// The victim's own ordinary key, named as an own key would be.
	lookalike, err := f.a.CreateCredential(cli, "acme", keyward.CreateCredentialInput{Name: "cli-live-secret-99"})
	if err != nil {
		t.Fatal(err)
	}

	second := f.ownRegenerate(t, cli, authority.RegenerateOwnKeysInput{OwnKeysScope: ownScope("acme")})
	if len(second) != 4 {
		t.Fatalf("regenerated %v, want 4 keys", ownNames(second))
	}
	for _, k := range second {
		base := "cli-" + string(k.Environment) + "-" + string(k.KeyType)
		if !randomOwnName(base, k.Name) {
			t.Errorf("new own key %q, want %s-<random>", k.Name, base)
		}
		if _, err := f.a.Authenticate(context.Background(), k.Key, "10.0.0.2"); err != nil {
			t.Errorf("new own key %s does not work: %v", k.Name, err)
		}
	}
	for _, k := range first {
		if _, err := f.a.Authenticate(context.Background(), k.Key, "10.0.0.2"); err == nil {
			t.Errorf("the victim's earlier own key %s still works after the regeneration", k.Name)
		}
	}
	for _, k := range append(squatted, lookalike) {
		c, err := f.a.Credential(f.admin, "acme", k.Name)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != keyward.StateActive || c.Version != k.Version {
			t.Fatalf("%s (not an own key of cli) is %s at version %d, want untouched", k.Name, c.State, c.Version)
		}
	}
	listed, err := f.a.ListOwnKeys(cli, ownScope("acme"))
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, k := range listed {
		got = append(got, k.Credential.Name)
	}
	for _, k := range second {
		want = append(want, k.Name)
	}
	slices.Sort(got)
	if slices.Sort(want); !slices.Equal(got, want) {
		t.Fatalf("listed as cli's own keys %v, want only the regenerated %v", got, want)
	}
	// The squatter's own keys are theirs alone, and the lookalikes are not among them either.
	if listed, err := f.a.ListOwnKeys(squatter, ownScope("acme")); err != nil || len(listed) != 0 {
		t.Fatalf("the squatter's own keys: %v, %v; want none", listed, err)
	}
}

func TestListOwnKeysReveal(t *testing.T) {
	t.Parallel()
	f := newOwnKeys(t)
	if _, err := f.a.CreateRole(f.admin, keyward.RoleInput{Name: "revealer", Permissions: []keyward.Permission{keyward.PermKeysReveal}}); err != nil {
		t.Fatal(err)
	}
	rev := f.user(t, "rev", "Client")
	if _, err := f.a.AddMember(f.admin, "acme", keyward.BindingInput{User: "rev", Role: "revealer"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.AddMember(f.admin, "globex", keyward.BindingInput{User: "rev", Role: "Client"}); err != nil {
		t.Fatal(err)
	}
	rev = f.login(t, "rev") // a session made after the new bindings
	for _, tc := range []struct {
		project  string
		revealed bool
	}{
		{"acme", true},    // recoverable keys and keys:reveal
		{"globex", false}, // no recoverable keys there
	} {
		t.Run(tc.project, func(t *testing.T) {
			issued := f.ownRegenerate(t, rev, authority.RegenerateOwnKeysInput{OwnKeysScope: ownScope(tc.project, keyward.Live), KeyTypes: []keyward.KeyType{keyward.Secret}})
			before := len(f.ownEvents(t, tc.project, "credential.reveal"))
			keys, err := f.a.ListOwnKeys(rev, ownScope(tc.project))
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 1 {
				t.Fatalf("%d keys, want 1", len(keys))
			}
			want := authority.MaskedKey(keys[0].Credential)
			if tc.revealed {
				want = issued[0].Key
			}
			if keys[0].Key != want {
				t.Fatalf("key shown as %q, want %q", keys[0].Key, want)
			}
			reveals := len(f.ownEvents(t, tc.project, "credential.reveal")) - before
			if got, want := reveals == 1, tc.revealed; got != want {
				t.Fatalf("%d reveal events, want revealed=%v", reveals, want)
			}
		})
	}
}
