// Package postgres implements keyward.Store on PostgreSQL through pgx and its connection pool,
// the store of keyward servers that share one database.
//
// It follows the SQLite store (package sqlite) to the letter: the same error codes, ordering,
// pagination and empty-versus-nil conventions, checked by one conformance suite (storetest).
// Every mutation runs in one READ COMMITTED transaction with its audit event; a versioned write
// says WHERE version = $n, so of concurrent writers that read one version exactly one wins, the
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
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward"
)

var _ keyward.Store = (*Store)(nil)

// Store is a keyward.Store backed by a PostgreSQL connection pool.
type Store struct {
	pool    *pgxpool.Pool
	channel string // the change feed's NOTIFY channel (feed.go)

	closed    atomic.Bool
	closeOnce sync.Once

	// tx, when set, binds this Store to one transaction opened by WithTx (see tx.go): every
	// method then runs in it, reads included.
	tx *txState
}

// DefaultConnectTimeout bounds one connection attempt when the URL sets no connect_timeout, so
// that a server that does not answer costs a caller without a deadline seconds, not minutes.
const DefaultConnectTimeout = 5 * time.Second

// retryAfter is what EUnavailable tells a caller to wait before trying again.
const retryAfter = 2 * time.Second

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
	s := &Store{pool: pool}
	if err := migratePool(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: read the schema: %w", err)
	}
	s.channel = changeChannel(schema)
	return s, nil
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

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed()
	}
	if s.tx != nil {
		var one int
		return s.fail(ctx, "ping", s.tx.tx.QueryRow(ctx, `SELECT 1`).Scan(&one))
	}
	return s.fail(ctx, "ping", s.pool.Ping(ctx))
}

// Close releases the pool. It may be called more than once. On a Store that WithTx bound to
// a transaction it does nothing: the transaction's owner closes the pool.
func (s *Store) Close() error {
	if s.tx != nil {
		return nil
	}
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.pool.Close()
	})
	return nil
}

func errClosed() error {
	return &keyward.Error{Code: keyward.EUnavailable, Message: "the database is closed"}
}

// fail turns a driver error into what the Store contract promises: *keyward.Error for what a
// caller can act on (timeouts, an unreachable, busy or closed database), a wrapped error for the
// rest. The messages never carry SQL or values.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	var (
		ke *keyward.Error
		pe *pgconn.PgError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ke):
		return err
	case errors.Is(err, context.DeadlineExceeded), errors.Is(ctx.Err(), context.DeadlineExceeded):
		return keyward.Errorf(keyward.ETimeout, "the database did not answer in time")
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("postgres: %s: %w", op, err)
	case s.closed.Load():
		return errClosed()
	case errors.As(err, &pe):
		switch code := pe.Code; {
		case code == "40001", code == "40P01", code == "55P03":
			// serialization_failure, deadlock_detected, lock_not_available
			if code != "55P03" {
				s.markRetry()
			}
			return &keyward.Error{Code: keyward.EUnavailable, Message: "the database is busy; try again",
				RetryAfter: time.Second}
		case code == "57014": // query_canceled: statement_timeout, or a cancel on our side
			if ctx.Err() != nil {
				return s.fail(ctx, op, ctx.Err())
			}
			return keyward.Errorf(keyward.ETimeout, "the database did not answer in time")
		case strings.HasPrefix(code, "08"), // connection_exception
			code == "57P01", code == "57P02", code == "57P03", // admin/crash shutdown, cannot connect now
			code == "53300", code == "53400", // too_many_connections, configuration_limit_exceeded
			code == "25006": // read_only_sql_transaction: a standby, or a failover in progress
			return unavailable()
		case code == "23505":
			return keyward.Errorf(keyward.EConflict, "the record conflicts with an existing one")
		}
	case isConnectionError(err):
		return unavailable()
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

func unavailable() error {
	return &keyward.Error{Code: keyward.EUnavailable, Message: "the database cannot be reached; try again",
		RetryAfter: retryAfter}
}

// isConnectionError reports whether err says the connection failed or broke rather than that
// the server refused the statement.
func isConnectionError(err error) bool {
	var (
		ce *pgconn.ConnectError
		ne net.Error
	)
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.Timeout(err), pgconn.SafeToRetry(err),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	// pgx reports a connection it closed after a failure with this plain error.
	return err.Error() == "conn closed"
}

// pgCode returns the SQLSTATE of a server error, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// constraint returns the name of the constraint a server error names, or "".
func constraint(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.ConstraintName
	}
	return ""
}

// isUnique reports whether err is a unique_violation.
func isUnique(err error) bool { return pgCode(err) == "23505" }

// isForeignKey reports whether err is a foreign_key_violation.
func isForeignKey(err error) bool { return pgCode(err) == "23503" }

// inTx runs fn in a READ COMMITTED transaction and commits it. On a Store bound by WithTx it
// joins that transaction under a savepoint instead, so that the method stays atomic (a failure
// undoes its own writes only and leaves the transaction usable) and commits with the rest.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	if s.closed.Load() {
		return errClosed()
	}
	if s.tx != nil {
		return s.fail(ctx, op, s.savepoint(ctx, fn))
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit
	if err := fn(tx); err != nil {
		return s.fail(ctx, op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// queryRow runs a one-row read on the pool, or in the bound transaction.
func (s *Store) queryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if s.closed.Load() {
		return errRow{errClosed()}
	}
	if s.tx != nil {
		return s.tx.tx.QueryRow(ctx, sql, args...)
	}
	return s.pool.QueryRow(ctx, sql, args...)
}

// query runs a read on the pool, or in the bound transaction.
func (s *Store) query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if s.closed.Load() {
		return nil, errClosed()
	}
	if s.tx != nil {
		return s.tx.tx.Query(ctx, sql, args...)
	}
	return s.pool.Query(ctx, sql, args...)
}

// errRow is a pgx.Row that fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// The helpers below translate between Go values and columns: times at microsecond precision in
// UTC, zero ids as NULL where the schema says so.

// ts truncates t to the microseconds the column keeps, whatever protocol carries it.
func ts(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

// nullTS is ts for an optional time; nil becomes NULL.
func nullTS(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := ts(*t)
	return &u
}

// utc returns t in UTC, or nil.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// nullID renders a zero id as NULL.
func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
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

// sequenced lists the tables whose identity sequence bumpSequence may move. Only these names
// reach the SQL it builds.
var sequenced = map[string]bool{"projects": true, "users": true, "roles": true, "credentials": true, "events": true, "clusters": true}

// bumpSequence moves table's identity sequence past the largest id stored, after rows were
// inserted with ids of their own, so that the next generated id is new, as SQLite's
// AUTOINCREMENT would make it. It never moves the sequence back.
func bumpSequence(ctx context.Context, tx pgx.Tx, table string) error {
	if !sequenced[table] {
		return fmt.Errorf("postgres: no sequence for table %q", table)
	}
	_, err := tx.Exec(ctx, `SELECT setval(seq, GREATEST((SELECT MAX(id) FROM `+table+`), pg_sequence_last_value(seq), 1))
		FROM (SELECT pg_get_serial_sequence($1, 'id')::regclass AS seq) AS s`, table)
	return err
}
