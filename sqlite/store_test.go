package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/storetest"
)

// MustOpen opens a store on path and closes it when tb ends.
func MustOpen(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keyward.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "keyward.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
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

func TestMigrations(t *testing.T) {
	t.Run("Versioned", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "keyward.db")
		s := MustOpen(t, path)
		s.Close()
		vs := versions(t, rawDB(t, path))
		if got, want := len(vs), int(sqlite.LatestSchemaVersion()); got != want || vs[len(vs)-1] != sqlite.LatestSchemaVersion() {
			t.Fatalf("versions = %v, want 1..%d", vs, want)
		}
		for i, v := range vs {
			if got, want := v, int64(i+1); got != want {
				t.Fatalf("versions = %v, want 1..%d without gaps", vs, len(vs))
			}
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
		if got, want := len(vs), int(sqlite.LatestSchemaVersion()); got != want {
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

func TestClosed(t *testing.T) {
	s := MustOpen(t, filepath.Join(t.TempDir(), "keyward.db"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := s.ProjectByID(t.Context(), 1)
	wantCodeIs(t, err, keyward.EUnavailable)
	wantCodeIs(t, s.Ping(t.Context()), keyward.EUnavailable)
	_, _, err = s.CredentialBySecret(t.Context(), []byte("digest"))
	wantCodeIs(t, err, keyward.EUnavailable)
	wantCodeIs(t, s.AppendEvent(t.Context(), &keyward.Event{Action: "x", Outcome: keyward.OutcomeSuccess}), keyward.EUnavailable)
}

func TestDeadline(t *testing.T) {
	s := MustOpen(t, filepath.Join(t.TempDir(), "keyward.db"))
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	_, err := s.ProjectByID(ctx, 1)
	wantCodeIs(t, err, keyward.ETimeout)
	wantCodeIs(t, s.AppendEvent(ctx, &keyward.Event{Action: "x", Outcome: keyward.OutcomeSuccess}), keyward.ETimeout)
}

func wantCodeIs(t *testing.T, err error, code keyward.Code) {
	t.Helper()
	if got := keyward.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// TestConcurrentReadWrite runs writers and readers at once: serialized writes and WAL reads
// must never surface SQLITE_BUSY.
func TestConcurrentReadWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	s := MustOpen(t, path)
	other := MustOpen(t, path) // a second handle on the file, as a second process would have
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
	const workers, rounds = 8, 15
	errs := make(chan error, workers*rounds*4)
	var wg sync.WaitGroup
	for w := range workers {
		st := s
		if w%2 == 1 {
			st = other
		}
		wg.Go(func() {
			for i := range rounds {
				now := time.Now()
				c := &keyward.Credential{ProjectID: b.Project.ID, Name: fmt.Sprintf("w%d-%d", w, i),
					Type: keyward.APIToken, Environment: keyward.Live, KeyType: keyward.Secret,
					CreatedBy: b.Admin.ID, Active: true, CreatedAt: now, UpdatedAt: now}
				sec := &keyward.CredentialSecret{Digest: []byte(c.Name)}
				if err := st.CreateCredential(ctx, c, sec, &keyward.Event{Action: "create", Outcome: keyward.OutcomeSuccess}); err != nil {
					errs <- err
					continue
				}
				if _, _, err := st.CredentialBySecret(ctx, sec.Digest); err != nil {
					errs <- err
				}
				if err := st.TouchCredentials(ctx, map[int64]time.Time{c.ID: now, b.Credential.ID: now}); err != nil {
					errs <- err
				}
				if _, err := st.ListEvents(ctx, keyward.EventFilter{Limit: 10}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent use: %v", err)
	}
	cs, err := s.ListCredentials(ctx, keyward.CredentialFilter{ProjectID: b.Project.ID, Limit: 1000})
	if err != nil {
		t.Fatalf("ListCredentials: %v", err)
	}
	if got, want := len(cs), workers*rounds+1; got != want {
		t.Fatalf("%d credentials, want %d", got, want)
	}
}
