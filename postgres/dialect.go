package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlstore"
)

// dialect is PostgreSQL's sqlstore.Dialect.
type dialect struct {
	channel string // the change feed's NOTIFY channel (feed.go)
}

func (*dialect) Name() string               { return "postgres" }
func (*dialect) Rebind(q string) string     { return sqlstore.Rebind(q) }
func (*dialect) EncodeTime(t time.Time) any { return t }
func (*dialect) IDList() string {
	return `SELECT jsonb_array_elements_text(?::jsonb)::bigint`
}
func (*dialect) Aggregate(expr string) string {
	return `string_agg(` + expr + `::text, ',' ORDER BY ` + expr + `)`
}

// ForUpdate locks the rows read: under READ COMMITTED, what a transaction reads to decide a
// write must not change before it commits.
func (*dialect) ForUpdate(of string) string {
	if of != "" {
		return ` FOR UPDATE OF ` + of
	}
	return ` FOR UPDATE`
}

// bootstrapLockKey serializes Bootstraps (and Imports) of replicas that start together, so that
// the second finds the first one's work and answers EConflict without trying to write. The
// second half of the lock is a hash of the schema, as for the migration lock.
const bootstrapLockKey int32 = 0x6b776273 // "kwbs"

func (*dialect) Lock(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(COALESCE(current_schema(), '')))`,
		bootstrapLockKey)
	return err
}

// sequenced lists the tables whose identity sequence ExplicitIDs may move, with their identity
// column. Only these names reach the SQL it builds.
var sequenced = map[string]string{"projects": "id", "users": "id", "roles": "id", "credentials": "id", "events": "id",
	"clusters": "id", "webhook_endpoints": "id", "webhook_deliveries": "seq"}

// ExplicitIDs moves the identity sequences of tables past the largest id stored, after rows
// were inserted with ids of their own, so that the next generated id is new, as SQLite's
// AUTOINCREMENT would make it. It never moves a sequence back.
func (*dialect) ExplicitIDs(ctx context.Context, tx *sql.Tx, tables ...string) error {
	for _, table := range tables {
		col, ok := sequenced[table]
		if !ok {
			return fmt.Errorf("postgres: no sequence for table %q", table)
		}
		if _, err := tx.ExecContext(ctx, `SELECT setval(seq, GREATEST((SELECT MAX(`+col+`) FROM `+table+`),
			pg_sequence_last_value(seq), 1))
			FROM (SELECT pg_get_serial_sequence($1, $2)::regclass AS seq) AS s`, table, col); err != nil {
			return err
		}
	}
	return nil
}

// BeforeCommit queues changed on the change channel: PostgreSQL delivers it to every server
// that LISTENs when the transaction commits, and never for one that rolls back.
func (d *dialect) BeforeCommit(ctx context.Context, tx *sql.Tx, changed keyward.Invalidation) error {
	b, err := json.Marshal(changed)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, d.channel, string(b))
	return err
}

// Classify sorts SQLSTATEs and connection failures.
func (*dialect) Classify(err error) sqlstore.Class {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch code := pe.Code; {
		case code == "40001", code == "40P01": // serialization_failure, deadlock_detected
			return sqlstore.Contention
		case code == "55P03": // lock_not_available
			return sqlstore.Busy
		case code == "57014": // query_canceled: statement_timeout, or a cancel on our side
			return sqlstore.Timeout
		case strings.HasPrefix(code, "08"), // connection_exception
			code == "57P01", code == "57P02", code == "57P03", // admin/crash shutdown, cannot connect now
			code == "53300", code == "53400", // too_many_connections, configuration_limit_exceeded
			code == "25006": // read_only_sql_transaction: a standby, or a failover in progress
			return sqlstore.Unavailable
		case code == "23505":
			return sqlstore.Unique
		case code == "23503":
			return sqlstore.ForeignKey
		}
		return sqlstore.Other
	}
	if isConnectionError(err) {
		return sqlstore.Unavailable
	}
	return sqlstore.Other
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
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	// pgx reports a connection it closed after a failure with this plain error.
	return err.Error() == "conn closed"
}
