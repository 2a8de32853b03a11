package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/snapshot"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlitetest"
	"github.com/keyward/keyward/sqlstore"
	"github.com/keyward/keyward/storetest"
)

// MustOpen opens a store on path and closes it when tb ends.
func MustOpen(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path)
	return storetest.Must(tb, s, err)
}

// TestStore runs the conformance suite. Each case opens a copy of a database that Open
// migrated once (sqlitetest): an empty store as a first Open leaves it, without paying for the
// migrations again (TestMigrations migrates from scratch).
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keyward.Store { return MustOpen(t, sqlitetest.Path(t)) })
}

// TestStoreShared runs the shared-database checks on two stores opened on one file, as two
// keyward processes on one host would have.
func TestStoreShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (keyward.Store, keyward.Store) {
		path := filepath.Join(t.TempDir(), "keyward.db")
		return MustOpen(t, path), MustOpen(t, path)
	})
}

// oldToken is what an older keyward left in its database: the system project, the admin and
// one token with a secret (digest 0102).
var oldToken = []string{
	`INSERT INTO projects (id, slug, name, created_at) VALUES (1, 'system', 'System', 0)`,
	`INSERT INTO users (id, name, created_at, updated_at) VALUES (1, 'admin', 0, 0)`,
	`INSERT INTO credentials (id, project_id, name, type, environment, key_type, created_by, active,
		created_at, updated_at, version, start) VALUES (1, 1, 'old', 'API_TOKEN', 'live', 'secret', 1, 1, 0, 0, 1, 'kw_live_Old')`,
	`INSERT INTO credential_secrets (digest, credential_id, created_at) VALUES (x'0102', 1, 0)`,
}

// atVersion makes a database at a new path that migrations 1 to version made (with their
// schema_migrations rows, as that keyward left them) and that the statements rows filled, and
// returns its path.
func atVersion(t *testing.T, version int, rows ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyward.db")
	db := rawDB(t, path)
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	names, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(names) < version {
		t.Fatalf("migrations: %v", err)
	}
	for i, name := range names[:version] {
		schema, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(schema)); err != nil {
			t.Fatalf("apply %s: %v", name, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, i+1); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range rows {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("prepare version %d: %v", version, err)
		}
	}
	db.Close()
	return path
}

// rawDB opens the file directly, bypassing the store, to inspect or tamper with it.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func versions(t *testing.T, db *sql.DB) []int64 {
	t.Helper()
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("query schema_migrations: %v", err)
	}
	defer rows.Close()
	var vs []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

// embeddedVersions lists the versions of the migration files beside the package's source.
func embeddedVersions(t *testing.T) []int64 {
	t.Helper()
	ms, err := sqlstore.Migrations(os.DirFS("."))
	if err != nil {
		t.Fatal(err)
	}
	var vs []int64
	for _, m := range ms {
		vs = append(vs, m.Version)
	}
	return vs
}

func TestMigrations(t *testing.T) {
	t.Run("Versioned", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "keyward.db")
		s := MustOpen(t, path)
		s.Close()
		vs := versions(t, rawDB(t, path))
		// Every embedded migration, each once: numbers are handed out per feature, so they
		// may leave gaps while the features land.
		if got, want := vs, embeddedVersions(t); !slices.Equal(got, want) || want[len(want)-1] != sqlite.LatestSchemaVersion() {
			t.Fatalf("versions = %v, want %v", got, want)
		}
	})

	t.Run("IdempotentOnReopen", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "keyward.db")
		for range 3 {
			s := MustOpen(t, path)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
		vs := versions(t, rawDB(t, path))
		if got, want := len(vs), len(embeddedVersions(t)); got != want {
			t.Fatalf("versions after three opens = %v, want %d rows", vs, want)
		}
	})

	// 0002 on a database that 0001 made and used: users get updated_at (their created_at)
	// and no deleted_at, and keep their password hash.
	t.Run("UsersFromVersion1", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "keyward.db")
		schema1, err := os.ReadFile(filepath.Join("migrations", "0001_init.sql"))
		if err != nil {
			t.Fatal(err)
		}
		db := rawDB(t, path)
		created := time.Date(2029, 5, 6, 7, 8, 9, 123000, time.UTC)
		for _, q := range []string{
			`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
			string(schema1),
			`INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0)`,
			fmt.Sprintf(`INSERT INTO users (name, disabled, created_at, password_hash) VALUES ('old', 1, %d, 'h')`, created.UnixMicro()),
			fmt.Sprintf(`INSERT INTO users (name, disabled, created_at) VALUES ('nopw', 0, %d)`, created.UnixMicro()),
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("prepare version 1: %v", err)
			}
		}
		db.Close()

		s := MustOpen(t, path)
		for _, tc := range []struct {
			name        string
			disabled    bool
			hasPassword bool
		}{
			{"old", true, true},
			{"nopw", false, false},
		} {
			u, err := s.UserByName(t.Context(), tc.name)
			if err != nil {
				t.Fatalf("UserByName(%q) after migrating: %v", tc.name, err)
			}
			if !u.CreatedAt.Equal(created) || !u.UpdatedAt.Equal(created) || u.DeletedAt != nil ||
				u.Disabled != tc.disabled || u.HasPassword != tc.hasPassword {
				t.Fatalf("migrated user = %+v, want created and updated %v, not deleted, disabled %v, HasPassword %v",
					u, created, tc.disabled, tc.hasPassword)
			}
		}
		if h, err := s.PasswordHash(t.Context(), 1); err != nil || h != "h" {
			t.Fatalf("PasswordHash after migrating = %q, %v; want %q", h, err, "h")
		}
	})

	// 0003 on a database that 0002 made and used: projects are not recoverable, credentials
	// have no serial, cluster or sealed secret, and serials can be recorded from then on.
	t.Run("CertificatesFromVersion2", func(t *testing.T) {
		path := atVersion(t, 2, oldToken...)

		s := MustOpen(t, path)
		ctx := t.Context()
		p, err := s.ProjectByID(ctx, 1)
		if err != nil || p.RecoverableKeys {
			t.Fatalf("ProjectByID after migrating = %+v, %v; want not recoverable", p, err)
		}
		c, sec, err := s.CredentialBySecret(ctx, []byte{1, 2})
		if err != nil {
			t.Fatalf("CredentialBySecret after migrating: %v", err)
		}
		if c.Serial != "" || c.Fingerprint != "" || c.Cluster != "" || c.Namespace != "" || c.Recoverable || sec.Sealed != nil {
			t.Fatalf("migrated credential = %+v, secret %+v; want no serial, cluster or sealed token", c, sec)
		}
		if _, err := s.SealedSecret(ctx, c.ID); keyward.ErrorCode(err) != keyward.ENotFound {
			t.Fatalf("SealedSecret after migrating = %v, want not found", err)
		}
		expires := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
		cert := &keyward.Credential{ProjectID: 1, Name: "cert", Type: keyward.APICertificate, Environment: keyward.Live,
			KeyType: keyward.Secret, CreatedBy: 1, Active: true, ExpiresAt: &expires, Serial: "0abc", Fingerprint: "ff"}
		if err := s.CreateCredential(ctx, cert, nil, &keyward.Event{Action: "create", Outcome: keyward.OutcomeSuccess}); err != nil {
			t.Fatalf("CreateCredential of a certificate after migrating: %v", err)
		}
		if _, k, err := s.CredentialBySerial(ctx, "0abc"); err != nil || !k.NotAfter.Equal(expires) {
			t.Fatalf("CredentialBySerial after migrating = %+v, %v", k, err)
		}
	})

	// 0004 on a database that 0003 made and used: credentials have no rate limit, refill or
	// counted uses (ConsumeCredit lets them through and counts nothing) until SetRemaining.
	t.Run("LimitsFromVersion3", func(t *testing.T) {
		path := atVersion(t, 3, oldToken...)

		s := MustOpen(t, path)
		ctx := t.Context()
		c, _, err := s.CredentialBySecret(ctx, []byte{1, 2})
		if err != nil {
			t.Fatalf("CredentialBySecret after migrating: %v", err)
		}
		if c.RateLimit != nil || c.Remaining != nil || c.Refill != nil || c.LastRefillAt != nil || c.Version != 1 {
			t.Fatalf("migrated credential = %+v; want no rate limit, counted uses or refill", c)
		}
		day := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
		if left, ok, err := s.ConsumeCredit(ctx, c.ID, day); err != nil || left != nil || !ok {
			t.Fatalf("ConsumeCredit after migrating = %v, %v, %v; want nil, true", left, ok, err)
		}
		two := int64(2)
		if err := s.SetRemaining(ctx, c.ID, &two, &keyward.Event{Action: "credential.remaining", Outcome: keyward.OutcomeSuccess}); err != nil {
			t.Fatalf("SetRemaining after migrating: %v", err)
		}
		if left, ok, err := s.ConsumeCredit(ctx, c.ID, day); err != nil || left == nil || *left != 1 || !ok {
			t.Fatalf("ConsumeCredit after SetRemaining = %v, %v, %v; want 1, true", left, ok, err)
		}
	})

	t.Run("ErrNewerSchema", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "keyward.db")
		s := MustOpen(t, path)
		s.Close()
		db := rawDB(t, path)
		if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`,
			sqlite.LatestSchemaVersion()+1); err != nil {
			t.Fatalf("insert: %v", err)
		}
		db.Close()
		s2, err := sqlite.Open(t.Context(), path)
		if err == nil {
			s2.Close()
			t.Fatal("Open accepted a database with a newer schema")
		}
		if got, want := err.Error(), "newer"; !strings.Contains(got, want) {
			t.Fatalf("error = %q, want it to say %q", got, want)
		}
	})
}

func TestWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	s := MustOpen(t, path)
	s.Close()
	var mode string
	if err := rawDB(t, path).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatalf("PRAGMA journal_mode: %v", err)
	}
	if got, want := mode, "wal"; got != want {
		t.Fatalf("journal_mode = %q, want %q", got, want)
	}
}

func TestSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	ctx := t.Context()
	s := MustOpen(t, path)
	b := &keyward.Bootstrap{
		Project:    &keyward.Project{Slug: keyward.SystemProject, Name: "System", CreatedAt: time.Now()},
		Roles:      []*keyward.Role{{ID: 1, Name: keyward.RoleAdmin, Permissions: keyward.AllPermissions, BuiltIn: true}},
		Admin:      &keyward.User{Name: keyward.AdminUser, CreatedAt: time.Now()},
		Credential: &keyward.Credential{Name: "boot", Type: keyward.APIToken, Environment: keyward.Live, KeyType: keyward.Secret, Active: true},
		Secret:     &keyward.CredentialSecret{Digest: []byte("0123456789abcdef0123456789abcdef")},
		Event:      &keyward.Event{Action: "bootstrap", Outcome: keyward.OutcomeSuccess},
	}
	if err := s.Bootstrap(ctx, b); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = MustOpen(t, path)
	c, _, err := s.CredentialBySecret(ctx, b.Secret.Digest)
	if err != nil {
		t.Fatalf("CredentialBySecret after reopen: %v", err)
	}
	if got, want := c.ID, b.Credential.ID; got != want {
		t.Fatalf("credential ID = %d, want %d", got, want)
	}
	evs, err := s.ListEvents(ctx, keyward.EventFilter{})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	if got, want := len(evs), 1; got != want {
		t.Fatalf("%d events after reopen, want %d", got, want)
	}
	wantCodeIs(t, s.Bootstrap(ctx, b), keyward.EConflict)
}

func wantCodeIs(t *testing.T, err error, code keyward.Code) {
	t.Helper()
	if got := keyward.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// TestSnapshotCertificates checks that Export and Import carry what 0003 added: recoverable
// projects, certificate credentials and their certificates, sealed secrets, clusters, settings.
func TestSnapshotCertificates(t *testing.T) {
	ctx := t.Context()
	src := MustOpen(t, filepath.Join(t.TempDir(), "src.db"))
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	b := &keyward.Bootstrap{
		Project:    &keyward.Project{Slug: keyward.SystemProject, Name: "System", CreatedAt: now, RecoverableKeys: true},
		Roles:      []*keyward.Role{{ID: 1, Name: keyward.RoleAdmin, Permissions: keyward.AllPermissions, BuiltIn: true}},
		Admin:      &keyward.User{Name: keyward.AdminUser, CreatedAt: now},
		Credential: &keyward.Credential{Name: "boot", Type: keyward.APIToken, Environment: keyward.Live, KeyType: keyward.Secret, Active: true},
		Secret:     &keyward.CredentialSecret{Digest: []byte("boot"), Sealed: []byte("sealed boot")},
		Event:      &keyward.Event{Action: "bootstrap", Outcome: keyward.OutcomeSuccess},
	}
	if err := src.Bootstrap(ctx, b); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	expires := now.Add(time.Hour)
	kube := &keyward.Credential{ProjectID: b.Project.ID, Name: "kube", Type: keyward.KubeConfig, Environment: keyward.Live,
		KeyType: keyward.Secret, CreatedBy: b.Admin.ID, Active: true, ExpiresAt: &expires, CreatedAt: now, UpdatedAt: now,
		Serial: "0abc", Fingerprint: "ff00", Cluster: "prod", Namespace: "web"}
	if err := src.CreateCredential(ctx, kube, nil, &keyward.Event{Action: "create", Outcome: keyward.OutcomeSuccess}); err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	ev := func() *keyward.Event { return &keyward.Event{Action: "x", Outcome: keyward.OutcomeSuccess} }
	kube.Serial, kube.Fingerprint, kube.UpdatedAt = "0abd", "ff01", now.Add(time.Minute)
	if err := src.RollCredential(ctx, kube, nil, kube.UpdatedAt, ev()); err != nil {
		t.Fatalf("RollCredential: %v", err)
	}
	for _, cl := range []*keyward.Cluster{{Name: "prod", Server: "https://prod", CAPEM: "pem", ClientCA: []byte("sealed ca"), CreatedAt: now},
		{Name: "dev", Server: "https://dev", CreatedAt: now}} {
		if err := src.CreateCluster(ctx, cl, ev()); err != nil {
			t.Fatalf("CreateCluster: %v", err)
		}
	}
	for _, k := range []string{"z", "ca", "B", "empty"} {
		v := []byte("value of " + k)
		if k == "empty" {
			v = []byte{}
		}
		if err := src.PutSetting(ctx, k, v, nil); err != nil {
			t.Fatalf("PutSetting: %v", err)
		}
	}
	want, err := src.Export(ctx)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if got, want := len(want.Certificates), 2; got != want {
		t.Fatalf("%d certificates exported, want %d", got, want)
	}
	var keys []string
	for _, st := range want.Settings {
		keys = append(keys, st.Key)
	}
	if got, want := strings.Join(keys, ","), "B,ca,empty,z"; got != want {
		t.Fatalf("settings exported in the order %s, want %s", got, want)
	}
	if got := want.Clusters; len(got) != 2 || got[0].Name != "prod" || string(got[0].ClientCA) != "sealed ca" || got[1].ClientCA != nil {
		t.Fatalf("clusters exported = %+v, want prod (with its client CA) then dev", got)
	}
	if !want.Projects[0].RecoverableKeys || !want.Credentials[0].Recoverable || string(want.Secrets[0].Sealed) != "sealed boot" ||
		want.Credentials[1].Serial != "0abd" || want.Credentials[1].Cluster != "prod" || want.Credentials[1].Namespace != "web" {
		t.Fatalf("Export lost a 0003 field: %+v", want)
	}

	dst := MustOpen(t, filepath.Join(t.TempDir(), "dst.db"))
	if err := dst.Import(ctx, want); err != nil {
		t.Fatalf("Import: %v", err)
	}
	got, err := dst.Export(ctx)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if d := snapshot.Diff(want, got); d != nil {
		t.Fatalf("the copy differs: %v", d)
	}
	if v, err := dst.SealedSecret(ctx, b.Credential.ID); err != nil || string(v) != "sealed boot" {
		t.Fatalf("SealedSecret in the copy = %q, %v", v, err)
	}
	if _, k, err := dst.CredentialBySerial(ctx, "0abc"); err != nil || k.RevokedAt == nil {
		t.Fatalf("rolled certificate in the copy = %+v, %v; want it revoked", k, err)
	}
	if ks, err := dst.RevokedCertificates(ctx, now); err != nil || len(ks) != 1 || ks[0].Serial != "0abc" {
		t.Fatalf("CRL of the copy = %v, %v; want 0abc", ks, err)
	}
	if v, err := dst.Setting(ctx, "ca"); err != nil || string(v) != "value of ca" {
		t.Fatalf("setting in the copy = %q, %v", v, err)
	}
	// Ids go on past the imported ones.
	next := &keyward.Cluster{Name: "next", Server: "https://next", CreatedAt: now}
	if err := dst.CreateCluster(ctx, next, ev()); err != nil || next.ID <= want.Clusters[1].ID {
		t.Fatalf("CreateCluster in the copy: id %d, %v; want past %d", next.ID, err, want.Clusters[1].ID)
	}

	// A store that holds only a setting or a cluster is not empty.
	for _, fill := range []func(s *sqlite.Store) error{
		func(s *sqlite.Store) error { return s.PutSetting(ctx, "ca", []byte("x"), nil) },
		func(s *sqlite.Store) error {
			return s.CreateCluster(ctx, &keyward.Cluster{Name: "c", Server: "https://c"}, &keyward.Event{Action: "x", Outcome: keyward.OutcomeSuccess})
		},
	} {
		s := MustOpen(t, filepath.Join(t.TempDir(), "used.db"))
		if err := fill(s); err != nil {
			t.Fatal(err)
		}
		if err := s.Import(ctx, want); !errors.Is(err, snapshot.ErrNotEmpty) {
			t.Fatalf("Import into a used store = %v, want %v", err, snapshot.ErrNotEmpty)
		}
	}
}

// TestConsumeCreditBesideReaders checks that a use is not held up by readers: a read
// transaction left open on another connection (a long export, a slow list) does not delay
// ConsumeCredit, whether it takes a use, refuses one or finds the uses uncounted.
func TestConsumeCreditBesideReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	s := MustOpen(t, path)
	ctx := t.Context()
	b := &keyward.Bootstrap{
		Project:    &keyward.Project{Slug: keyward.SystemProject, Name: "System"},
		Roles:      []*keyward.Role{{ID: 1, Name: keyward.RoleAdmin, Permissions: keyward.AllPermissions, BuiltIn: true}},
		Admin:      &keyward.User{Name: keyward.AdminUser},
		Credential: &keyward.Credential{Name: "boot", Type: keyward.APIToken, Environment: keyward.Live, KeyType: keyward.Secret, Active: true},
		Secret:     &keyward.CredentialSecret{Digest: []byte("boot")},
		Event:      &keyward.Event{Action: "bootstrap", Outcome: keyward.OutcomeSuccess},
	}
	if err := s.Bootstrap(ctx, b); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	one := int64(1)
	counted := &keyward.Credential{ProjectID: b.Project.ID, Name: "counted", Type: keyward.APIToken, Environment: keyward.Live,
		KeyType: keyward.Secret, CreatedBy: b.Admin.ID, Active: true, Remaining: &one}
	if err := s.CreateCredential(ctx, counted, &keyward.CredentialSecret{Digest: []byte("counted")},
		&keyward.Event{Action: "create", Outcome: keyward.OutcomeSuccess}); err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}

	db := rawDB(t, path)
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM credentials`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), `ROLLBACK`)

	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, tc := range []struct {
		id   int64
		left *int64
		ok   bool
	}{{counted.ID, new(int64), true}, {counted.ID, new(int64), false}, {b.Credential.ID, nil, true}} {
		left, ok, err := s.ConsumeCredit(cctx, tc.id, time.Time{})
		if err != nil || ok != tc.ok || (left == nil) != (tc.left == nil) || left != nil && *left != *tc.left {
			t.Fatalf("ConsumeCredit(%d) beside an open read = %v, %v, %v; want %v, %v", tc.id, left, ok, err, tc.left, tc.ok)
		}
	}
}

// TestSnapshotLimits checks that Export and Import carry what 0004 added: rate limits, counted
// uses, refills and the last refill.
func TestSnapshotLimits(t *testing.T) {
	ctx := t.Context()
	src := MustOpen(t, filepath.Join(t.TempDir(), "src.db"))
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	day := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	b := &keyward.Bootstrap{
		Project:    &keyward.Project{Slug: keyward.SystemProject, Name: "System", CreatedAt: now},
		Roles:      []*keyward.Role{{ID: 1, Name: keyward.RoleAdmin, Permissions: keyward.AllPermissions, BuiltIn: true}},
		Admin:      &keyward.User{Name: keyward.AdminUser, CreatedAt: now},
		Credential: &keyward.Credential{Name: "boot", Type: keyward.APIToken, Environment: keyward.Live, KeyType: keyward.Secret, Active: true},
		Secret:     &keyward.CredentialSecret{Digest: []byte("boot")},
		Event:      &keyward.Event{Action: "bootstrap", Outcome: keyward.OutcomeSuccess},
	}
	if err := src.Bootstrap(ctx, b); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	zero := int64(0)
	c := &keyward.Credential{ProjectID: b.Project.ID, Name: "metered", Type: keyward.APIToken, Environment: keyward.Live,
		KeyType: keyward.Secret, CreatedBy: b.Admin.ID, Active: true, CreatedAt: now, UpdatedAt: now,
		RateLimit: &keyward.RateLimit{Limit: 50, Duration: 1500 * time.Millisecond}, Remaining: &zero,
		Refill: &keyward.Refill{Interval: keyward.RefillDaily, Amount: 10}}
	if err := src.CreateCredential(ctx, c, &keyward.CredentialSecret{Digest: []byte("metered")},
		&keyward.Event{Action: "create", Outcome: keyward.OutcomeSuccess}); err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	if left, ok, err := src.ConsumeCredit(ctx, c.ID, day); err != nil || !ok || left == nil || *left != 9 {
		t.Fatalf("ConsumeCredit = %v, %v, %v; want 9, true", left, ok, err)
	}
	want, err := src.Export(ctx)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	m := want.Credentials[1]
	if m.RateLimit == nil || *m.RateLimit != *c.RateLimit || m.Remaining == nil || *m.Remaining != 9 ||
		m.Refill == nil || *m.Refill != *c.Refill || m.LastRefillAt == nil || !m.LastRefillAt.Equal(day) {
		t.Fatalf("Export lost a 0004 field: %+v", m)
	}
	if boot := want.Credentials[0]; boot.RateLimit != nil || boot.Remaining != nil || boot.Refill != nil || boot.LastRefillAt != nil {
		t.Fatalf("Export invented limits: %+v", boot)
	}
	dst := MustOpen(t, filepath.Join(t.TempDir(), "dst.db"))
	got, err := snapshot.Copy(ctx, src, dst)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if d := snapshot.Diff(want, got); d != nil {
		t.Fatalf("the copy differs: %v", d)
	}
	// The copy counts on from where the source stopped, and refills on the same schedule.
	if left, ok, err := dst.ConsumeCredit(ctx, c.ID, day); err != nil || !ok || left == nil || *left != 8 {
		t.Fatalf("ConsumeCredit in the copy = %v, %v, %v; want 8, true", left, ok, err)
	}
	if left, ok, err := dst.ConsumeCredit(ctx, c.ID, day.Add(24*time.Hour)); err != nil || !ok || left == nil || *left != 9 {
		t.Fatalf("ConsumeCredit in the copy, the next day = %v, %v, %v; want 9, true", left, ok, err)
	}
}
