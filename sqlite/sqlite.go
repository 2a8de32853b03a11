// Package sqlite implements keyward.Store on an embedded SQLite database (the pure-Go
// modernc.org/sqlite driver), the default store of a single keyward server.
//
// Writes go through one connection, so they are serialized in the process and never meet
// SQLITE_BUSY from each other; reads use a separate pool that WAL lets run beside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var _ keyward.Store = (*Store)(nil)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is a keyward.Store backed by one SQLite file.
type Store struct {
	write *sql.DB // one connection: SQLite admits one writer, so queue here, not in SQLite
	read  *sql.DB // query_only connections for reads, which WAL runs beside the writer

	bySecret *sql.Stmt // the verify hot path, prepared once
	bySerial *sql.Stmt // its mutual-TLS twin
	consume  *sql.Stmt // ConsumeCredit's update, on the write connection
	counted  *sql.Stmt // and its read when it took nothing

	closeOnce sync.Once
	closeErr  error

	// tx, when set, binds this Store to one transaction opened by WithTx (see tx.go): every
	// method then runs in it, reads included, since the one writer connection is held.
	tx *txState
}

// Open opens (creating if needed) the database at path, brings its schema up to date and
// returns the store. It refuses a database whose schema is newer than this build knows.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// Create the file private before SQLite does; its -wal and -shm files take the same mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()
	// synchronous(FULL): nothing is acknowledged before it is durable, even in WAL mode.
	write, err := openDB(abs, "immediate", []string{
		"busy_timeout(5000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)",
	})
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	if err := migrate(ctx, write); err != nil {
		write.Close()
		return nil, err
	}
	// journal_mode(WAL) fails quietly where WAL cannot work (some network file systems);
	// without it readers would block the writer, so refuse rather than limp.
	var mode string
	if err := write.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		write.Close()
		return nil, fmt.Errorf("sqlite: journal mode is %q, not WAL; keep the database on a local file system", mode)
	}

	read, err := openDB(abs, "deferred", []string{
		"busy_timeout(5000)", "foreign_keys(1)", "query_only(1)",
	})
	if err != nil {
		write.Close()
		return nil, err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)

	s := &Store{write: write, read: read}
	if s.bySecret, err = read.PrepareContext(ctx, selectCredentialBySecret); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: prepare: %w", err)
	}
	if s.bySerial, err = read.PrepareContext(ctx, selectCredentialBySerial); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: prepare: %w", err)
	}
	if s.consume, err = write.PrepareContext(ctx, consumeCredit); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: prepare: %w", err)
	}
	if s.counted, err = read.PrepareContext(ctx, selectCounted); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: prepare: %w", err)
	}
	return s, nil
}

// openDB opens a pool on the file at abs whose every connection runs pragmas first.
func openDB(abs, txlock string, pragmas []string) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", txlock)
	// A file: URI escapes any '?' or '#' in the path, which a plain name could not carry.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	return db, nil
}

// Ping reports whether the database answers, on both pools.
func (s *Store) Ping(ctx context.Context) error {
	if s.tx != nil { // the writer connection is the transaction's
		var one int
		return s.fail(ctx, "ping", s.tx.tx.QueryRowContext(ctx, `SELECT 1`).Scan(&one))
	}
	if err := s.write.PingContext(ctx); err != nil {
		return s.fail(ctx, "ping", err)
	}
	if err := s.read.PingContext(ctx); err != nil {
		return s.fail(ctx, "ping", err)
	}
	return nil
}

// Close releases the database. It may be called more than once. On a Store that WithTx bound
// to a transaction it does nothing: the transaction's owner closes the database.
func (s *Store) Close() error {
	if s.tx != nil {
		return nil
	}
	s.closeOnce.Do(func() {
		var errs []error
		for _, st := range []*sql.Stmt{s.bySecret, s.bySerial, s.consume, s.counted} {
			if st != nil {
				errs = append(errs, st.Close())
			}
		}
		errs = append(errs, s.read.Close(), s.write.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// migration is one embedded schema step.
type migration struct {
	version int64
	name    string
	sql     string
}

// migrations returns the embedded migrations by ascending version. Files are named
// NNNN_description.sql; the number is the version.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		if !ok || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("sqlite: migration %q is not named NNNN_name.sql", name)
		}
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlite: migration %q has no positive version", name)
		}
		b, err := migrationFS.ReadFile("migrations/" + name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("sqlite: migrations %q and %q share a version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// LatestSchemaVersion is the newest schema version this build knows.
func LatestSchemaVersion() int64 {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// migrate applies every embedded migration the database lacks, each in its own transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	latest := ms[len(ms)-1].version
	for _, m := range ms {
		if err := applyMigration(ctx, db, m, latest); err != nil {
			return err
		}
	}
	return nil
}

// applyMigration applies m unless the database has it. It re-reads the version inside the
// write transaction, so two processes opening one file at once apply m once.
func applyMigration(ctx context.Context, db *sql.DB, m migration, latest int64) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer tx.Rollback()
	var current int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	if current > latest {
		return fmt.Errorf("sqlite: database schema version %d is newer than the newest this keyward knows (%d); upgrade keyward", current, latest)
	}
	var applied bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`, m.version).Scan(&applied); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	if applied {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		m.version, time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	return nil
}

// fail turns a driver error into what the Store contract promises: *keyward.Error for what a
// caller can act on (timeouts, a busy or closed database), a wrapped error for the rest. The
// messages never carry SQL or values.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	var ke *keyward.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ke):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return keyward.Errorf(keyward.ETimeout, "the database did not answer in time")
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("sqlite: %s: %w", op, err)
	case errors.Is(err, sql.ErrConnDone), err.Error() == "sql: database is closed",
		err.Error() == "sql: statement is closed":
		return &keyward.Error{Code: keyward.EUnavailable, Message: "the database is closed"}
	}
	if code, ok := sqliteCode(err); ok {
		switch code & 0xff {
		case sqlite3.SQLITE_INTERRUPT:
			if ctx.Err() != nil {
				return s.fail(ctx, op, ctx.Err())
			}
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			s.markRetry()
			return &keyward.Error{Code: keyward.EUnavailable, Message: "the database is busy; try again",
				RetryAfter: time.Second}
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// sqliteCode returns the extended result code of a driver error.
func sqliteCode(err error) (int, bool) {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code(), true
	}
	return 0, false
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	code, ok := sqliteCode(err)
	return ok && (code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// isForeignKey reports whether err is a FOREIGN KEY violation.
func isForeignKey(err error) bool {
	code, ok := sqliteCode(err)
	return ok && code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// inTx runs fn in a write transaction (BEGIN IMMEDIATE) and commits it. On a Store bound by
// WithTx it joins that transaction under a savepoint instead, so that the method stays atomic
// (a failure undoes its own writes only) and commits with the rest.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	if s.tx != nil {
		return s.fail(ctx, op, s.savepoint(ctx, func() error { return fn(s.tx.tx) }))
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return s.fail(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// The helpers below translate between Go values and columns: times as unix microseconds,
// zero ids as NULL.

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(x int64) time.Time { return time.UnixMicro(x).UTC() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(x sql.NullInt64) *time.Time {
	if !x.Valid {
		return nil
	}
	t := fromMicros(x.Int64)
	return &t
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// limit applies the list default (100) and cap (1000).
func limit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 1000:
		return 1000
	}
	return n
}
