// Package sqlite is keyward's store on an embedded SQLite database (the pure-Go
// modernc.org/sqlite driver), the default store of a single keyward server: package sqlstore
// with the SQLite Dialect, on a file this package opens and migrates.
//
// Writes go through one connection, so they are serialized in the process and never meet
// SQLITE_BUSY from each other; reads use a separate pool that WAL lets run beside the writer.
// Times are kept as unix microseconds in INTEGER columns.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlstore"
)

var _ keyward.Store = (*Store)(nil)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is a keyward.Store backed by one SQLite file.
type Store struct {
	*sqlstore.Store
	write, read *sql.DB // the one writer connection and the read pool, for the tests
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
	// One connection: SQLite admits one writer, so queue here, not in SQLite.
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

	// query_only connections for reads, which WAL runs beside the writer.
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

	s, err := sqlstore.New(ctx, sqlstore.Config{Dialect: dialect{}, Write: write, Read: read, Prepare: true})
	if err != nil {
		return nil, err
	}
	return &Store{Store: s, write: write, read: read}, nil
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

// LatestSchemaVersion is the newest schema version this build knows.
func LatestSchemaVersion() int64 { return sqlstore.LatestVersion(migrationFS) }

// migrate applies every embedded migration the database lacks, each in its own transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := sqlstore.Migrations(migrationFS)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	latest := ms[len(ms)-1].Version
	for _, m := range ms {
		if err := applyMigration(ctx, db, m, latest); err != nil {
			return err
		}
	}
	return nil
}

// applyMigration applies m unless the database has it. It re-reads the version inside the
// write transaction, so two processes opening one file at once apply m once.
func applyMigration(ctx context.Context, db *sql.DB, m sqlstore.Migration, latest int64) error {
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
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`, m.Version).Scan(&applied); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	if applied {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		m.Version, time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
	}
	return nil
}
