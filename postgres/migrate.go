package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrSchemaNewer is returned (wrapped) by Open and Migrate for a database whose schema is newer
// than the newest this build knows: another, newer keyward migrated it.
var ErrSchemaNewer = errors.New("the database schema is newer than this keyward knows; upgrade keyward")

// migrationLockKey is the first half of the advisory lock taken while migrating; the second is a
// hash of the schema migrated, so that keyward instances in separate schemas of one database do
// not wait for each other, and replicas on one schema do.
const migrationLockKey int32 = 0x6b776d67 // "kwmg"

// LatestSchemaVersion is the newest schema version this build knows.
func LatestSchemaVersion() int64 { return sqlstore.LatestVersion(migrationFS) }

// Migrate brings the schema of the database at url up to date, as Open does, and reports how
// many migrations it applied. It refuses a newer schema (ErrSchemaNewer).
func Migrate(ctx context.Context, url string) (applied int, err error) {
	conn, err := connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return migrate(ctx, conn)
}

// SchemaStatus returns the schema version of the database at url (0 when keyward never migrated
// it) and the newest this build knows. It changes nothing.
func SchemaStatus(ctx context.Context, url string) (current, latest int64, err error) {
	conn, err := connect(ctx, url)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, 0, fmt.Errorf("postgres: read schema version: %w", err)
	}
	if exists {
		if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return 0, 0, fmt.Errorf("postgres: read schema version: %w", err)
		}
	}
	return current, LatestSchemaVersion(), nil
}

// connect opens one connection (no pool) to url, with keyward's defaults.
func connect(ctx context.Context, url string) (*pgx.Conn, error) {
	cfg, err := parseConfig(url)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return conn, nil
}

// migratePool migrates on one connection of pool.
func migratePool(ctx context.Context, pool *pgxpool.Pool) error {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	defer c.Release()
	_, err = migrate(ctx, c.Conn())
	return err
}

// migrate applies every embedded migration the database lacks, each in its own transaction,
// while it holds a session advisory lock: a replica that starts at the same moment waits, then
// finds the work done. It returns how many migrations it applied.
func migrate(ctx context.Context, conn *pgx.Conn) (int, error) {
	ms, err := sqlstore.Migrations(migrationFS)
	if err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	latest := ms[len(ms)-1].Version
	const lockArgs = `$1, hashtext(COALESCE(current_schema(), ''))`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockArgs+`)`, migrationLockKey); err != nil {
		return 0, fmt.Errorf("postgres: take the migration lock: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(`+lockArgs+`)`, migrationLockKey); err != nil {
			// A session lock lives as long as its connection: closing it is the sure release.
			conn.Close(uctx)
		}
	}()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    bigint      PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return 0, fmt.Errorf("postgres: create schema_migrations: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return 0, fmt.Errorf("postgres: read schema version: %w", err)
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("postgres: read schema version: %w", err)
	}
	done := map[int64]bool{}
	for _, v := range have {
		done[v] = true
		if v > latest {
			return 0, fmt.Errorf("postgres: database schema version %d, newest known %d: %w", v, latest, ErrSchemaNewer)
		}
	}
	n := 0
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		}); err != nil {
			return n, fmt.Errorf("postgres: migration %s: %w", m.Name, err)
		}
		n++
	}
	return n, nil
}
