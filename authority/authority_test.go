package authority_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlitetest"
)

// clock is an injectable clock that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}
func (c *clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// countingStore counts the writes that reach the database.
type countingStore struct {
	keyward.Store
	touches, writes atomic.Int64
	parent          *countingStore // of a transaction's store: where the counts go
}

// root is the store whose counters count.
func (s *countingStore) root() *countingStore {
	if s.parent != nil {
		return s.parent
	}
	return s
}

// WithTx counts the writes of the transaction too.
func (s *countingStore) WithTx(ctx context.Context, fn func(tx keyward.Store) error) error {
	return s.Store.WithTx(ctx, func(tx keyward.Store) error {
		return fn(&countingStore{Store: tx, parent: s.root()})
	})
}

func (s *countingStore) TouchCredentials(ctx context.Context, used map[int64]time.Time) error {
	s.root().touches.Add(1)
	return s.Store.TouchCredentials(ctx, used)
}

func (s *countingStore) UpdateCredential(ctx context.Context, c *keyward.Credential, ev *keyward.Event) error {
	s.root().writes.Add(1)
	return s.Store.UpdateCredential(ctx, c, ev)
}

func (s *countingStore) AppendEvent(ctx context.Context, ev *keyward.Event) error {
	s.root().writes.Add(1)
	return s.Store.AppendEvent(ctx, ev)
}

type fixture struct {
	a     *authority.Authority
	store *countingStore
	clock *clock
	admin context.Context // carries the bootstrap admin as caller
}

var t0 = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cs := &countingStore{Store: s}
	clk := &clock{t: t0}
	a := authority.New(cs, authority.Options{Now: clk.Now, UsageFlushInterval: time.Hour})
	t.Cleanup(func() { a.Close() })
	tok, err := a.Bootstrap(ctx)
	if err != nil || tok == "" {
		t.Fatalf("Bootstrap = %q, %v", tok, err)
	}
	if again, err := a.Bootstrap(ctx); err != nil || again != "" {
		t.Fatalf("second Bootstrap = %q, %v; want no new token", again, err)
	}
	caller, err := a.Authenticate(ctx, tok, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{a: a, store: cs, clock: clk, admin: keyward.NewContext(ctx, caller)}
}

func (f *fixture) create(t *testing.T, in keyward.CreateCredentialInput) *keyward.IssuedCredential {
	t.Helper()
	c, err := f.a.CreateCredential(f.admin, keyward.SystemProject, in)
	if err != nil {
		t.Fatalf("CreateCredential(%+v): %v", in, err)
	}
	return c
}

func (f *fixture) verifyCode(t *testing.T, key string) string {
	t.Helper()
	v, err := f.a.Verify(f.admin, keyward.VerifyInput{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if v.Valid != (v.Code == keyward.CodeValid) {
		t.Fatalf("valid=%v disagrees with code %s", v.Valid, v.Code)
	}
	return v.Code
}

func days(n int64) *int64 { return &n }

func TestValidity(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	t.Run("NotYetValid", func(t *testing.T) {
		nb := t0.Add(time.Hour)
		c := f.create(t, keyward.CreateCredentialInput{Name: "later", NotBefore: &nb, ExpirationDays: days(1)})
		if got, want := f.verifyCode(t, c.Key), keyward.CodeNotYetValid; got != want {
			t.Fatalf("before not_before: %s, want %s", got, want)
		}
		f.clock.Set(nb)
		defer f.clock.Set(t0)
		if got, want := f.verifyCode(t, c.Key), keyward.CodeValid; got != want {
			t.Fatalf("at not_before: %s, want %s", got, want)
		}
	})
	t.Run("ExpiryBoundary", func(t *testing.T) {
		exp := t0.Add(2 * time.Hour)
		c := f.create(t, keyward.CreateCredentialInput{Name: "boundary", ExpiresAt: &exp})
		defer f.clock.Set(t0)
		f.clock.Set(exp.Add(-time.Microsecond))
		if got, want := f.verifyCode(t, c.Key), keyward.CodeValid; got != want {
			t.Fatalf("1µs before expiry: %s, want %s", got, want)
		}
		f.clock.Set(exp)
		if got, want := f.verifyCode(t, c.Key), keyward.CodeExpired; got != want {
			t.Fatalf("at expiry: %s, want %s", got, want)
		}
		if _, err := f.a.Authenticate(context.Background(), c.Key, ""); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("expired key authenticates: %v", err)
		}
	})
	t.Run("DefaultExpiry", func(t *testing.T) {
		c := f.create(t, keyward.CreateCredentialInput{Name: "default-expiry"})
		if c.ExpiresAt == nil || !c.ExpiresAt.Equal(t0.AddDate(0, 0, keyward.DefaultExpirationDays)) {
			t.Fatalf("expires_at = %v, want now + %d days", c.ExpiresAt, keyward.DefaultExpirationDays)
		}
	})
	t.Run("NeverExpires", func(t *testing.T) {
		c := f.create(t, keyward.CreateCredentialInput{Name: "forever", NeverExpires: true})
		f.clock.Add(100 * 365 * 24 * time.Hour)
		defer f.clock.Set(t0)
		if got, want := f.verifyCode(t, c.Key), keyward.CodeValid; got != want {
			t.Fatalf("after a century: %s, want %s", got, want)
		}
	})
	t.Run("Malformed", func(t *testing.T) {
		for _, key := range []string{"", "nope", "kw_live_0000000000000000000000000000000000000000"} {
			if got, want := f.verifyCode(t, key), keyward.CodeNotFound; got != want {
				t.Fatalf("verify(%q) = %s, want %s", key, got, want)
			}
		}
	})
}

func TestRoll(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	t.Run("GraceEnds", func(t *testing.T) {
		c := f.create(t, keyward.CreateCredentialInput{Name: "rolled", ExpirationDays: days(30)})
		r, err := f.a.RollCredential(f.admin, keyward.SystemProject, "rolled", keyward.RollInput{GraceSeconds: 60})
		if err != nil {
			t.Fatal(err)
		}
		if r.Key == c.Key || r.ID != c.ID || r.Version != c.Version+1 {
			t.Fatalf("roll: same key or wrong id/version: %+v", r.Credential)
		}
		defer f.clock.Set(t0)
		f.clock.Set(t0.Add(59 * time.Second))
		if got, want := f.verifyCode(t, c.Key), keyward.CodeValid; got != want {
			t.Fatalf("old key inside grace: %s, want %s", got, want)
		}
		f.clock.Set(t0.Add(60 * time.Second))
		if got, want := f.verifyCode(t, c.Key), keyward.CodeNotFound; got != want {
			t.Fatalf("old key after grace: %s, want %s", got, want)
		}
		if got, want := f.verifyCode(t, r.Key), keyward.CodeValid; got != want {
			t.Fatalf("new key: %s, want %s", got, want)
		}
	})
	t.Run("NoGrace", func(t *testing.T) {
		c := f.create(t, keyward.CreateCredentialInput{Name: "rolled-now", ExpirationDays: days(30)})
		r, err := f.a.RollCredential(f.admin, keyward.SystemProject, "rolled-now", keyward.RollInput{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := f.verifyCode(t, c.Key), keyward.CodeNotFound; got != want {
			t.Fatalf("old key: %s, want %s", got, want)
		}
		if got, want := f.verifyCode(t, r.Key), keyward.CodeValid; got != want {
			t.Fatalf("new key: %s, want %s", got, want)
		}
	})
	t.Run("ErrGraceTooLong", func(t *testing.T) {
		f.create(t, keyward.CreateCredentialInput{Name: "rolled-long"})
		_, err := f.a.RollCredential(f.admin, keyward.SystemProject, "rolled-long", keyward.RollInput{GraceSeconds: keyward.MaxGraceSeconds + 1})
		if got, want := keyward.ErrorCode(err), keyward.EInvalid; got != want {
			t.Fatalf("code = %s, want %s", got, want)
		}
	})
}

func TestRevokeDisableRenew(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.create(t, keyward.CreateCredentialInput{Name: "k", ExpirationDays: days(1)})

	off := false
	if _, err := f.a.UpdateCredential(f.admin, keyward.SystemProject, "k", keyward.UpdateCredentialInput{Active: &off}); err != nil {
		t.Fatal(err)
	}
	if got, want := f.verifyCode(t, c.Key), keyward.CodeDisabled; got != want {
		t.Fatalf("disabled: %s, want %s", got, want)
	}
	on := true
	if _, err := f.a.UpdateCredential(f.admin, keyward.SystemProject, "k", keyward.UpdateCredentialInput{Active: &on}); err != nil {
		t.Fatal(err)
	}

	f.clock.Add(48 * time.Hour)
	if got, want := f.verifyCode(t, c.Key), keyward.CodeExpired; got != want {
		t.Fatalf("after expiry: %s, want %s", got, want)
	}
	renewed, err := f.a.RenewCredential(f.admin, keyward.SystemProject, "k", keyward.RenewInput{ExpirationDays: days(7)})
	if err != nil {
		t.Fatal(err)
	}
	if want := f.clock.Now().AddDate(0, 0, 7); !renewed.ExpiresAt.Equal(want) {
		t.Fatalf("renewed expires_at = %v, want %v", renewed.ExpiresAt, want)
	}
	if got, want := f.verifyCode(t, c.Key), keyward.CodeValid; got != want {
		t.Fatalf("after renew: %s, want %s", got, want)
	}

	revoked, err := f.a.RevokeCredential(f.admin, keyward.SystemProject, "k")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.verifyCode(t, c.Key), keyward.CodeRevoked; got != want {
		t.Fatalf("after revoke: %s, want %s", got, want)
	}
	writes := f.store.writes.Load()
	again, err := f.a.RevokeCredential(f.admin, keyward.SystemProject, "k")
	if err != nil {
		t.Fatal(err)
	}
	if again.Version != revoked.Version || f.store.writes.Load() != writes {
		t.Fatal("a second revoke changed the credential")
	}
	for name, err := range map[string]error{
		"renew": func() error {
			_, err := f.a.RenewCredential(f.admin, keyward.SystemProject, "k", keyward.RenewInput{ExpirationDays: days(1)})
			return err
		}(),
		"roll": func() error {
			_, err := f.a.RollCredential(f.admin, keyward.SystemProject, "k", keyward.RollInput{})
			return err
		}(),
		"enable": func() error {
			_, err := f.a.UpdateCredential(f.admin, keyward.SystemProject, "k", keyward.UpdateCredentialInput{Active: &on})
			return err
		}(),
	} {
		if got, want := keyward.ErrorCode(err), keyward.EConflict; got != want {
			t.Errorf("%s of a revoked credential: %s, want %s", name, got, want)
		}
	}
}

func TestUpdateStaleVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.create(t, keyward.CreateCredentialInput{Name: "v"})
	d1, d2 := "first", "second"
	if _, err := f.a.UpdateCredential(f.admin, keyward.SystemProject, "v", keyward.UpdateCredentialInput{Description: &d1, Version: c.Version}); err != nil {
		t.Fatal(err)
	}
	_, err := f.a.UpdateCredential(f.admin, keyward.SystemProject, "v", keyward.UpdateCredentialInput{Description: &d2, Version: c.Version})
	if got, want := keyward.ErrorCode(err), keyward.EConflict; got != want {
		t.Fatalf("stale update: %s, want %s", got, want)
	}
	got, err := f.a.Credential(f.admin, keyward.SystemProject, "v")
	if err != nil {
		t.Fatal(err)
	}
	if got.Description != d1 || got.Version != c.Version+1 {
		t.Fatalf("after stale update: description %q version %d", got.Description, got.Version)
	}
}

// Invalid requests are refused with the field named, and nothing is written.
func TestCreateInvalid(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	past := t0.Add(-time.Second)
	long := ""
	for i := 0; i < 101; i++ {
		long += "x"
	}
	for _, tc := range []struct {
		name  string
		in    keyward.CreateCredentialInput
		field string
	}{
		{"ErrNoName", keyward.CreateCredentialInput{}, "name"},
		{"ErrBadName", keyward.CreateCredentialInput{Name: "has space"}, "name"},
		{"ErrNumericName", keyward.CreateCredentialInput{Name: "123"}, "name"},
		{"ErrDescription101", keyward.CreateCredentialInput{Name: "a", Description: long}, "description"},
		{"ErrExpiryPast", keyward.CreateCredentialInput{Name: "a", ExpiresAt: &past}, "expires_at"},
		{"ErrDaysZero", keyward.CreateCredentialInput{Name: "a", ExpirationDays: days(0)}, "expiration_days"},
		{"ErrDaysNegative", keyward.CreateCredentialInput{Name: "a", ExpirationDays: days(-1)}, "expiration_days"},
		{"ErrDaysHuge", keyward.CreateCredentialInput{Name: "a", ExpirationDays: days(1 << 40)}, "expiration_days"},
		{"ErrTwoExpiries", keyward.CreateCredentialInput{Name: "a", ExpirationDays: days(1), NeverExpires: true}, "expiration_days"},
		{"ErrEnvironment", keyward.CreateCredentialInput{Name: "a", Environment: "prod"}, "environment"},
		{"ErrKeyType", keyward.CreateCredentialInput{Name: "a", KeyType: "public"}, "key_type"},
		{"ErrType", keyward.CreateCredentialInput{Name: "a", Type: "PASSWORD"}, "type"},
		{"ErrKubeTokenNoCluster", keyward.CreateCredentialInput{Name: "a", Type: keyward.KubeToken, VirtualK8sNamespace: "web"}, "virtual_k8s_name"},
		{"ErrKubeTokenNoNamespace", keyward.CreateCredentialInput{Name: "a", Type: keyward.KubeToken, VirtualK8sName: "prod"}, "virtual_k8s_namespace"},
		{"ErrKubeTokenKeyAlgorithm", keyward.CreateCredentialInput{Name: "a", Type: keyward.KubeToken, VirtualK8sName: "prod", VirtualK8sNamespace: "web",
			CertificateOptions: keyward.CertificateOptions{KeyAlgorithm: "rsa-2048"}}, "password"},
		{"ErrClusterOfAPIToken", keyward.CreateCredentialInput{Name: "a", VirtualK8sName: "prod"}, "virtual_k8s_name"},
		{"ErrNotBeforeAfterExpiry", keyward.CreateCredentialInput{Name: "a", ExpirationDays: days(1), NotBefore: ptr(t0.AddDate(0, 0, 2))}, "not_before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := f.a.ListCredentials(f.admin, keyward.SystemProject, authority.ListCredentialsInput{Limit: authority.MaxPageSize})
			events, _ := f.a.ListEvents(f.admin, authority.ListEventsInput{Limit: authority.MaxPageSize})
			_, err := f.a.CreateCredential(f.admin, keyward.SystemProject, tc.in)
			var e *keyward.Error
			if keyward.ErrorCode(err) != keyward.EInvalid || !asError(err, &e) || e.Fields[tc.field] == "" {
				t.Fatalf("err = %v; want EInvalid naming %q", err, tc.field)
			}
			after, _ := f.a.ListCredentials(f.admin, keyward.SystemProject, authority.ListCredentialsInput{Limit: authority.MaxPageSize})
			events2, _ := f.a.ListEvents(f.admin, authority.ListEventsInput{Limit: authority.MaxPageSize})
			if len(after.Items) != len(before.Items) || len(events2.Items) != len(events.Items) {
				t.Fatal("an invalid request changed the store")
			}
		})
	}
	t.Run("ErrNameTaken", func(t *testing.T) {
		f.create(t, keyward.CreateCredentialInput{Name: "dup"})
		_, err := f.a.CreateCredential(f.admin, keyward.SystemProject, keyward.CreateCredentialInput{Name: "dup"})
		if got, want := keyward.ErrorCode(err), keyward.EConflict; got != want {
			t.Fatalf("code = %s, want %s", got, want)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func asError(err error, target **keyward.Error) bool {
	e, ok := err.(*keyward.Error)
	if ok {
		*target = e
	}
	return ok
}

// A verification hit writes nothing; last_used_at is written later, in one batch.
func TestVerifyDoesNotWrite(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.create(t, keyward.CreateCredentialInput{Name: "hot"})
	touches, writes := f.store.touches.Load(), f.store.writes.Load()
	for i := 0; i < 100; i++ {
		if got := f.verifyCode(t, c.Key); got != keyward.CodeValid {
			t.Fatal(got)
		}
	}
	if f.store.touches.Load() != touches || f.store.writes.Load() != writes {
		t.Fatal("verify wrote to the store")
	}
	if err := f.a.FlushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := f.store.touches.Load()-touches, int64(1); got != want {
		t.Fatalf("flush made %d batches, want %d", got, want)
	}
	got, err := f.a.Credential(f.admin, keyward.SystemProject, "hot")
	if err != nil {
		t.Fatal(err)
	}
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(t0) {
		t.Fatalf("last_used_at = %v, want %v", got.LastUsedAt, t0)
	}
}

// A caller sees nothing of a project it has no grant in: 404 for the project, NOT_FOUND for its
// keys, exactly as if they did not exist.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, slug := range []string{"acme", "globex"} {
		if _, err := f.a.CreateProject(f.admin, keyward.CreateProjectInput{Slug: slug}); err != nil {
			t.Fatal(err)
		}
	}
	acme, _ := f.a.Project(f.admin, "acme")
	globexKey, err := f.a.CreateCredential(f.admin, "globex", keyward.CreateCredentialInput{Name: "g"})
	if err != nil {
		t.Fatal(err)
	}
	admin := keyward.CallerFrom(f.admin)
	acmeOnly := keyward.NewContext(context.Background(), &keyward.Caller{
		User: admin.User, Credential: admin.Credential,
		Grants: map[int64]map[keyward.Permission]bool{acme.ID: {keyward.PermKeysVerify: true, keyward.PermKeysRead: true, keyward.PermProjectsRead: true}},
	})
	v, err := f.a.Verify(acmeOnly, keyward.VerifyInput{Key: globexKey.Key})
	if err != nil {
		t.Fatal(err)
	}
	if v.Valid || v.Code != keyward.CodeNotFound || v.Name != "" {
		t.Fatalf("another tenant's key: %+v, want bare NOT_FOUND", v)
	}
	if _, err := f.a.Credential(acmeOnly, "globex", "g"); keyward.ErrorCode(err) != keyward.ENotFound {
		t.Fatalf("another tenant's credential: %v, want ENotFound", err)
	}
	if _, err := f.a.Project(acmeOnly, "globex"); keyward.ErrorCode(err) != keyward.ENotFound {
		t.Fatalf("another tenant's project: %v, want ENotFound", err)
	}
	if _, err := f.a.CreateCredential(acmeOnly, "acme", keyward.CreateCredentialInput{Name: "x"}); keyward.ErrorCode(err) != keyward.EForbidden {
		t.Fatalf("create without keys:create: %v, want EForbidden", err)
	}
	page, err := f.a.ListProjects(acmeOnly, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].Slug != "acme" {
		t.Fatalf("ListProjects = %+v, want only acme", page.Items)
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := 0; i < 7; i++ {
		f.create(t, keyward.CreateCredentialInput{Name: "p" + string(rune('a'+i))})
	}
	seen := map[int64]bool{}
	cursor := ""
	pages := 0
	for {
		page, err := f.a.ListCredentials(f.admin, keyward.SystemProject, authority.ListCredentialsInput{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, c := range page.Items {
			if seen[c.ID] {
				t.Fatalf("credential %d listed twice", c.ID)
			}
			seen[c.ID] = true
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	// 7 created plus the bootstrap token.
	if got, want := len(seen), 8; got != want {
		t.Fatalf("listed %d credentials, want %d", got, want)
	}
	if got, want := pages, 3; got != want {
		t.Fatalf("%d pages, want %d", got, want)
	}
	if _, err := f.a.ListCredentials(f.admin, keyward.SystemProject, authority.ListCredentialsInput{Cursor: "garbage"}); keyward.ErrorCode(err) != keyward.EInvalid {
		t.Fatalf("bad cursor: %v", err)
	}
}
