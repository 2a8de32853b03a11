// Package postgres is keyward's store on PostgreSQL, the store of keyward servers that share one
// database: package sqlstore with the PostgreSQL Dialect, on a pgx connection pool through
// pgx's database/sql adapter (stdlib). What only PostgreSQL does lives here: the migration lock,
// the LISTEN/NOTIFY change feed (feed.go), row locks (FOR UPDATE), the Bootstrap lock and the
// id sequences after an import.
//
// Every mutation runs in one READ COMMITTED transaction with its audit event; a versioned write
// says WHERE version = ?, so of concurrent writers that read one version exactly one wins, the
// others find the row changed once its lock is released and get EConflict.
//
// Open applies the embedded migrations under an advisory lock, so replicas that start at the
// same moment do not race, and refuses a database whose schema is newer than this build knows.
//
// A database that cannot be reached (refused or dropped connections, an administrator's shutdown,
// a server at its connection limit) yields keyward.EUnavailable with a RetryAfter; a context
// deadline yields keyward.ETimeout. Neither message carries SQL, values or the database URL.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlstore"
)

var _ keyward.Store = (*Store)(nil)

// Store is a keyward.Store backed by a PostgreSQL connection pool.
type Store struct {
	*sqlstore.Store
	pool *pgxpool.Pool
	d    *dialect
}

// DefaultConnectTimeout bounds one connection attempt when the URL sets no connect_timeout, so
// that a server that does not answer costs a caller without a deadline seconds, not minutes.
const DefaultConnectTimeout = 5 * time.Second

// maxTxAttempts bounds how often WithTx runs fn on serialization failures and deadlocks.
const maxTxAttempts = 5

// Open connects to the database at url (a postgres:// URL or a libpq key=value string; pool
// settings such as pool_max_conns are read from it), brings its schema up to date and returns
// the store. It refuses a database whose schema is newer than this build knows (ErrSchemaNewer).
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := parseConfig(url)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := migratePool(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: read the schema: %w", err)
	}
	d := &dialect{channel: changeChannel(schema)}
	// pgx prepares and caches statements per connection itself, so sqlstore prepares nothing.
	db := stdlib.OpenDBFromPool(pool)
	s, err := sqlstore.New(ctx, sqlstore.Config{Dialect: d, Write: db, Read: db, MaxTxAttempts: maxTxAttempts})
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{Store: s, pool: pool, d: d}, nil
}

// parseConfig reads url into a pool configuration with keyward's defaults: a connect timeout and
// an application_name that names keyward in pg_stat_activity.
func parseConfig(url string) (*pgxpool.Config, error) {
	if strings.TrimSpace(url) == "" {
		return nil, errors.New("postgres: empty database URL")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgconn's ParseConfigError redacts the password of the URL it quotes.
		return nil, fmt.Errorf("postgres: invalid database URL: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "keyward"
	}
	return cfg, nil
}

// Close releases the store and its pool. It may be called more than once.
func (s *Store) Close() error {
	err := s.Store.Close()
	s.pool.Close()
	return err
}
