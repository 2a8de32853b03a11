package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgrestest"
	"github.com/keyward/keyward/sqlstore"
	"github.com/keyward/keyward/storetest"
)

// TestStore runs the conformance suite, its subtests in parallel: one database for the run,
// and a schema for each subtest that no other running subtest holds, reused once emptied
// (Reset), which is several times faster than migrating a new one each.
func TestStore(t *testing.T) {
	t.Parallel()
	schemas := postgrestest.NewSchemas(t)
	storetest.Run(t, func(t *testing.T) keyward.Store { return MustOpen(t, schemas.Get(t)) })
}

// TestStoreShared runs the shared-database checks on two stores (two pools) on one schema, as
// two keyward servers on one database have.
func TestStoreShared(t *testing.T) {
	t.Parallel()
	url := postgrestest.SchemaURL(t, postgrestest.URL(t))
	storetest.RunShared(t, func(t *testing.T) (keyward.Store, keyward.Store) {
		postgrestest.Reset(t, url)
		return MustOpen(t, url), MustOpen(t, url)
	})
}

// MustOpen opens a store on url and closes it when tb ends.
func MustOpen(tb testing.TB, url string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), url)
	return storetest.Must(tb, s, err)
}

// rawConn connects to url directly, bypassing the store, to inspect or tamper with it.
func rawConn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func versions(t *testing.T, url string) []int64 {
	t.Helper()
	rows, err := rawConn(t, url).Query(context.Background(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("query schema_migrations: %v", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
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

func wantVersions(t *testing.T, url string) {
	t.Helper()
	vs := versions(t, url)
	// Every embedded migration, each once: numbers are handed out per feature, so they may
	// leave gaps while the features land.
	want := embeddedVersions(t)
	if !slices.Equal(vs, want) || want[len(want)-1] != postgres.LatestSchemaVersion() {
		t.Fatalf("versions = %v, want %v", vs, want)
	}
}

func TestMigrations(t *testing.T) {
	t.Parallel()
	db := postgrestest.URL(t)

	t.Run("Versioned", func(t *testing.T) {
		url := postgrestest.SchemaURL(t, db)
		MustOpen(t, url).Close()
		wantVersions(t, url)
	})

	t.Run("IdempotentOnReopen", func(t *testing.T) {
		url := postgrestest.SchemaURL(t, db)
		for range 3 {
			if err := MustOpen(t, url).Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
		n, err := postgres.Migrate(t.Context(), url)
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if n != 0 {
			t.Fatalf("Migrate on an up-to-date schema applied %d migrations, want 0", n)
		}
		wantVersions(t, url)
	})

	t.Run("Status", func(t *testing.T) {
		url := postgrestest.SchemaURL(t, db)
		cur, latest, err := postgres.SchemaStatus(t.Context(), url)
		if err != nil {
			t.Fatalf("SchemaStatus: %v", err)
		}
		if cur != 0 || latest != postgres.LatestSchemaVersion() {
			t.Fatalf("status of an empty schema = %d, %d; want 0, %d", cur, latest, postgres.LatestSchemaVersion())
		}
		n, err := postgres.Migrate(t.Context(), url)
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if got, want := n, len(embeddedVersions(t)); got != want {
			t.Fatalf("Migrate applied %d, want %d", got, want)
		}
		cur, _, err = postgres.SchemaStatus(t.Context(), url)
		if err != nil {
			t.Fatalf("SchemaStatus: %v", err)
		}
		if got, want := cur, postgres.LatestSchemaVersion(); got != want {
			t.Fatalf("status after Migrate = %d, want %d", got, want)
		}
	})

	// Replicas that start at the same moment on an empty database all come up, and the schema
	// is applied exactly once: the others wait on the advisory lock and find it done.
	t.Run("ConcurrentOpen", func(t *testing.T) {
		url := postgrestest.SchemaURL(t, db)
		const n = 6
		errs := make([]error, n)
		applied := make([]int, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				if i%2 == 0 {
					s, err := postgres.Open(t.Context(), url)
					if err == nil {
						err = s.Ping(t.Context())
						s.Close()
					}
					errs[i] = err
					return
				}
				applied[i], errs[i] = postgres.Migrate(t.Context(), url)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("replica %d: %v", i, err)
			}
		}
		wantVersions(t, url)
		total := 0
		for _, a := range applied {
			total += a
		}
		if n := len(embeddedVersions(t)); total > n {
			t.Fatalf("the Migrate calls applied %d migrations in all, more than the %d there are", total, n)
		}
	})

	// Two bootstraps at once: one writes, the other gets EConflict and nothing doubles.
	t.Run("ConcurrentBootstrap", func(t *testing.T) {
		url := postgrestest.SchemaURL(t, db)
		a, b := MustOpen(t, url), MustOpen(t, url)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []*postgres.Store{a, b} {
			wg.Go(func() { errs[i] = s.Bootstrap(t.Context(), newBootstrap(fmt.Sprint(i))) })
		}
		wg.Wait()
		codes := []keyward.Code{keyward.ErrorCode(errs[0]), keyward.ErrorCode(errs[1])}
		if !(codes[0] == "" && codes[1] == keyward.EConflict || codes[0] == keyward.EConflict && codes[1] == "") {
			t.Fatalf("bootstrap errors = %v, %v; want one success and one conflict", errs[0], errs[1])
		}
		ps, err := a.ListProjects(t.Context(), keyward.ProjectFilter{})
		if err != nil || len(ps) != 1 {
			t.Fatalf("projects after two bootstraps = %v, %v; want one", ps, err)
		}
	})

	t.Run("ErrNewerSchema", func(t *testing.T) {
		url := postgrestest.SchemaURL(t, db)
		MustOpen(t, url).Close()
		newer := postgres.LatestSchemaVersion() + 1
		postgrestest.Exec(t, url, `INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future.sql')`, newer)
		s, err := postgres.Open(t.Context(), url)
		if err == nil {
			s.Close()
			t.Fatal("Open accepted a database with a newer schema")
		}
		if !errors.Is(err, postgres.ErrSchemaNewer) || !strings.Contains(err.Error(), "newer") {
			t.Fatalf("error = %v, want ErrSchemaNewer", err)
		}
		if _, err := postgres.Migrate(t.Context(), url); !errors.Is(err, postgres.ErrSchemaNewer) {
			t.Fatalf("Migrate error = %v, want ErrSchemaNewer", err)
		}
		cur, latest, err := postgres.SchemaStatus(t.Context(), url)
		if err != nil || cur != newer || latest != newer-1 {
			t.Fatalf("SchemaStatus = %d, %d, %v; want %d, %d", cur, latest, err, newer, newer-1)
		}
	})

	t.Run("ErrBadURL", func(t *testing.T) {
		for _, u := range []string{"", "postgres://user:s3cret@127.0.0.1:1/x?sslmode=bogus"} {
			s, err := postgres.Open(t.Context(), u)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", u)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("the error shows the password: %v", err)
			}
		}
	})
}

// newBootstrap is a minimal first start.
func newBootstrap(suffix string) *keyward.Bootstrap {
	now := time.Now()
	return &keyward.Bootstrap{
		Project:    &keyward.Project{Slug: keyward.SystemProject, Name: "System", CreatedAt: now},
		Roles:      []*keyward.Role{{ID: 1, Name: keyward.RoleAdmin, Permissions: keyward.AllPermissions, BuiltIn: true}},
		Admin:      &keyward.User{Name: keyward.AdminUser, CreatedAt: now},
		Credential: &keyward.Credential{Name: "boot", Type: keyward.APIToken, Environment: keyward.Live, KeyType: keyward.Secret, Active: true, CreatedAt: now, UpdatedAt: now},
		Secret:     &keyward.CredentialSecret{Digest: []byte("boot" + suffix), CreatedAt: now},
		Event:      &keyward.Event{Time: now, Action: "bootstrap", Outcome: keyward.OutcomeSuccess},
	}
}

func wantCodeIs(t *testing.T, err error, code keyward.Code) {
	t.Helper()
	if got := keyward.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// TestUnreachable takes the database away from an open store: calls fail fast with
// EUnavailable and a RetryAfter, or with ETimeout at their deadline when the network swallows
// everything, never later; and the store recovers by itself when the database is back.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	db := postgrestest.SchemaURL(t, postgrestest.URL(t))
	proxy := postgrestest.NewProxy(t, db)
	s := MustOpen(t, proxy.URL())
	if err := s.Bootstrap(t.Context(), newBootstrap("")); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	digest := []byte("boot")
	if _, _, err := s.CredentialBySecret(t.Context(), digest); err != nil {
		t.Fatalf("CredentialBySecret: %v", err)
	}

	// within runs f with a deadline and fails t if f takes much longer than that.
	within := func(t *testing.T, d time.Duration, f func(ctx context.Context) error) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), d)
		defer cancel()
		start := time.Now()
		err := f(ctx)
		if took := time.Since(start); took > d+time.Second {
			t.Fatalf("the call took %v, past its %v deadline", took, d)
		}
		return err
	}
	calls := map[string]func(ctx context.Context) error{
		"Ping": s.Ping,
		"ProjectBySlug": func(ctx context.Context) error {
			_, err := s.ProjectBySlug(ctx, keyward.SystemProject)
			return err
		},
		"CredentialBySecret": func(ctx context.Context) error {
			_, _, err := s.CredentialBySecret(ctx, digest)
			return err
		},
		"AppendEvent": func(ctx context.Context) error {
			return s.AppendEvent(ctx, &keyward.Event{Time: time.Now(), Action: "x", Outcome: keyward.OutcomeSuccess})
		},
	}

	t.Run("Down", func(t *testing.T) {
		proxy.Cut()
		for name, f := range calls {
			err := within(t, 5*time.Second, f)
			wantCodeIs(t, err, keyward.EUnavailable)
			var ke *keyward.Error
			if !errors.As(err, &ke) || ke.RetryAfter <= 0 {
				t.Fatalf("%s: %v has no RetryAfter", name, err)
			}
			if strings.Contains(ke.Message, "127.0.0.1") || strings.Contains(ke.Message, "SELECT") {
				t.Fatalf("%s: the message leaks detail: %q", name, ke.Message)
			}
		}
	})

	t.Run("BackUp", func(t *testing.T) {
		proxy.Restore()
		for name, f := range calls {
			if err := within(t, 10*time.Second, f); err != nil {
				t.Fatalf("%s after the database came back: %v", name, err)
			}
		}
	})

	t.Run("Hanging", func(t *testing.T) {
		proxy.Hang()
		defer func() { proxy.Cut(); proxy.Restore() }()
		for _, f := range calls {
			err := within(t, 500*time.Millisecond, f)
			wantCodeIs(t, err, keyward.ETimeout)
		}
	})

	t.Run("Recovered", func(t *testing.T) {
		for name, f := range calls {
			if err := within(t, 10*time.Second, f); err != nil {
				t.Fatalf("%s after the network came back: %v", name, err)
			}
		}
	})

	// Sessions killed by the server (an administrator, a failover) are replaced by the pool.
	t.Run("TerminatedSessions", func(t *testing.T) {
		postgrestest.Exec(t, db, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = 'keyward' AND datname = current_database() AND pid <> pg_backend_pid()`)
		// The first call may meet a dead session; it must say EUnavailable, not hang or panic.
		for name, f := range calls {
			err := within(t, 5*time.Second, f)
			if c := keyward.ErrorCode(err); c != "" && c != keyward.EUnavailable {
				t.Fatalf("%s on a terminated session: %v, want success or EUnavailable", name, err)
			}
		}
		for name, f := range calls {
			if err := within(t, 5*time.Second, f); err != nil {
				t.Fatalf("%s after sessions were replaced: %v", name, err)
			}
		}
	})
}

// TestRoleSequence checks that a role stored with an id of its own moves the id sequence past
// it, as SQLite's AUTOINCREMENT does: the next generated id is new.
func TestRoleSequence(t *testing.T) {
	t.Parallel()
	s := MustOpen(t, postgrestest.SchemaURL(t, postgrestest.URL(t)))
	b := newBootstrap("")
	b.Roles = append(b.Roles, &keyward.Role{ID: 5, Name: "five"})
	if err := s.Bootstrap(t.Context(), b); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	r := &keyward.Role{Name: "next"}
	if err := s.CreateRole(t.Context(), r, &keyward.Event{Time: time.Now(), Action: "role.create", Outcome: keyward.OutcomeSuccess}); err != nil {
		t.Fatalf("CreateRole: %v", err)
	}
	if got, want := r.ID, int64(6); got != want {
		t.Fatalf("next role id = %d, want %d", got, want)
	}
}

// TestConsumeCreditLocks checks that a use waits for nothing but a write to its own
// credential: a transaction that holds another credential's row, or reads everything, does not
// delay it; one that holds its own row delays it until it ends (a deadline ends the wait with
// ETimeout, taking nothing), and then the use counts from what that transaction left.
func TestConsumeCreditLocks(t *testing.T) {
	t.Parallel()
	url := postgrestest.SchemaURL(t, postgrestest.URL(t))
	s := MustOpen(t, url)
	ctx := t.Context()
	boot := newBootstrap("")
	if err := s.Bootstrap(ctx, boot); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	metered := func(name string) *keyward.Credential {
		five := int64(5)
		now := time.Now()
		c := &keyward.Credential{ProjectID: boot.Project.ID, Name: name, Type: keyward.APIToken, Environment: keyward.Live,
			KeyType: keyward.Secret, CreatedBy: boot.Admin.ID, Active: true, CreatedAt: now, UpdatedAt: now, Remaining: &five}
		if err := s.CreateCredential(ctx, c, &keyward.CredentialSecret{Digest: []byte(name)},
			&keyward.Event{Action: "create", Outcome: keyward.OutcomeSuccess}); err != nil {
			t.Fatalf("CreateCredential: %v", err)
		}
		return c
	}
	held, free := metered("held"), metered("free")
	want := func(t *testing.T, ctx context.Context, id int64, left int64) {
		t.Helper()
		got, ok, err := s.ConsumeCredit(ctx, id, time.Time{})
		if err != nil || !ok || got == nil || *got != left {
			t.Fatalf("ConsumeCredit(%d) = %v, %v, %v; want %d, true", id, got, ok, err, left)
		}
	}

	reader := rawConn(t, url)
	rtx, err := reader.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	defer rtx.Rollback(context.Background())
	if _, err := rtx.Exec(ctx, `SELECT count(*) FROM credentials`); err != nil {
		t.Fatal(err)
	}
	writer := rawConn(t, url)
	wtx, err := writer.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer wtx.Rollback(context.Background())
	if _, err := wtx.Exec(ctx, `UPDATE credentials SET remaining = 3 WHERE id = $1`, held.ID); err != nil {
		t.Fatal(err)
	}

	t.Run("OtherRowFree", func(t *testing.T) {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		start := time.Now()
		want(t, dctx, free.ID, 4)
		t.Logf("a use beside an open reader and another row's writer took %v", time.Since(start))
	})

	t.Run("ErrOwnRowTimeout", func(t *testing.T) {
		dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, _, err := s.ConsumeCredit(dctx, held.ID, time.Time{})
		if keyward.ErrorCode(err) != keyward.ETimeout {
			t.Fatalf("ConsumeCredit behind a held row = %v, want %s", err, keyward.ETimeout)
		}
	})

	t.Run("OwnRowAfterCommit", func(t *testing.T) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			time.Sleep(200 * time.Millisecond)
			if err := wtx.Commit(context.Background()); err != nil {
				t.Errorf("Commit: %v", err)
			}
		}()
		want(t, ctx, held.ID, 2) // from the 3 the writer committed, not the 5 before it
		<-done
	})
}
