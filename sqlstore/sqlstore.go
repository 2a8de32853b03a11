// Package sqlstore implements keyward.Store once, on database/sql, for every SQL engine keyward
// runs on (SQLite through modernc.org/sqlite, PostgreSQL through pgx's stdlib adapter). What
// differs between engines is a small Dialect, which packages sqlite and postgres provide along
// with opening the database and its migrations.
//
// Decisions that hold for every engine:
//   - SQL is written once, with ? placeholders (or ?N to reuse an argument); the Dialect
//     rewrites a statement the first time it is run and the rewritten text is cached.
//   - Times are passed as time.Time or *time.Time arguments and encoded by the Dialect (SQLite
//     keeps unix microseconds, PostgreSQL timestamptz); they are read back through Time, which
//     accepts either. Every stored time is a whole microsecond in UTC.
//   - Every mutation runs in one transaction with its audit event; on a Store bound by WithTx it
//     runs under a savepoint instead. A versioned write says WHERE version = ?, so of
//     concurrent writers that read one version exactly one wins.
//   - What a write transaction changed that can change a verification's answer is recorded as it
//     is written (see changes); just before commit the Dialect's BeforeCommit hears it once, as
//     one keyward.Invalidation (PostgreSQL announces it on its change feed).
//   - Every audit event a transaction inserts takes its place in the audit chain just before
//     the transaction commits, under one lock on the chain's head (see chain.go).
//   - Driver errors are classified by the Dialect and turned into *keyward.Error here, with
//     messages that carry no SQL and no values.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

var _ keyward.Store = (*Store)(nil)

// Class is what a driver error means to the store.
type Class int

// The classes a Dialect sorts driver errors into.
const (
	Other       Class = iota // anything else: an internal failure
	Unique                   // a UNIQUE or PRIMARY KEY violation
	ForeignKey               // a FOREIGN KEY violation
	Contention               // the transaction lost to another (busy, deadlock, serialization): run it again
	Busy                     // a lock is not available now; running the transaction again would not help
	Unavailable              // the database cannot be reached
	Timeout                  // the database gave up on the statement (statement_timeout)
	Interrupted              // the statement was interrupted, usually because ctx ended
)

// Dialect is what one SQL engine does differently. Its methods must be safe for concurrent use.
type Dialect interface {
	// Name prefixes internal error messages ("sqlite", "postgres").
	Name() string
	// Rebind rewrites a statement written with ? and ?N placeholders into the engine's. It is
	// called once per distinct statement; the result is cached.
	Rebind(query string) string
	// EncodeTime turns t into what the engine's time columns hold.
	EncodeTime(t time.Time) any
	// Aggregate is the expression listing expr's values of a subquery's rows, ascending and
	// comma-separated, as text (NULL or "" for none).
	Aggregate(expr string) string
	// IDList is a subquery yielding the ids of the JSON array of integers bound to its one
	// placeholder.
	IDList() string
	// ForUpdate is the clause that locks the rows a SELECT reads (of the table alias of, when
	// not ""), or "" on an engine whose write transactions are serialized anyway.
	ForUpdate(of string) string
	// Classify sorts a driver error.
	Classify(err error) Class
	// Lock runs in the transaction of Bootstrap and Import, before they check that the store is
	// empty, so that servers starting together do not both fill it.
	Lock(ctx context.Context, tx *sql.Tx) error
	// ExplicitIDs runs after rows were inserted into tables with ids of their own (Import, a
	// built-in role), so that the next generated ids are new.
	ExplicitIDs(ctx context.Context, tx *sql.Tx, tables ...string) error
	// BeforeCommit runs in a write transaction just before it commits, with what it changed
	// (never empty); an error rolls the transaction back.
	BeforeCommit(ctx context.Context, tx *sql.Tx, changed keyward.Invalidation) error
}

// Config is what New needs.
type Config struct {
	Dialect Dialect
	// Write runs write transactions; Read runs reads outside one. They may be the same pool.
	// SQLite gives a one-connection writer and a query_only read pool.
	Write, Read *sql.DB
	// MaxTxAttempts bounds how often WithTx runs fn on contention (default 3).
	MaxTxAttempts int
	// Prepare prepares the verify hot path's statements once (SQLite). A driver that prepares
	// and caches statements per connection itself (pgx) does without: database/sql would
	// prepare again on every connection it takes from pgx's pool.
	Prepare bool
}

// Store is a keyward.Store on a database/sql pool.
type Store struct {
	e *engine
	// tx, when set, binds this Store to one transaction opened by WithTx: every method then runs
	// in it, reads included.
	tx *txState
}

// engine is what every Store bound to one database shares.
type engine struct {
	d           Dialect
	write, read *sql.DB
	attempts    int

	// Statements of the verify hot path, prepared once (nil unless Config.Prepare).
	bySecret, bySerial, consume, counted, forVerify *sql.Stmt

	queries           sync.Map // statement as written -> as the engine runs it
	credentialColumns string
	bySecretSQL       string // the text of bySecret and bySerial, built once
	bySerialSQL       string
	forVerifySQL      string // the text of forVerify

	auditKey atomic.Pointer[[]byte] // the audit chain key: see SetAuditKey

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// New returns the store on cfg's pools, with its hot-path statements prepared. The schema must
// be this build's. Close closes the pools.
func New(ctx context.Context, cfg Config) (*Store, error) {
	e := &engine{d: cfg.Dialect, write: cfg.Write, read: cfg.Read, attempts: cfg.MaxTxAttempts}
	if e.attempts <= 0 {
		e.attempts = 3
	}
	e.credentialColumns = credentialColumnsFor(e.d)
	e.bySecretSQL, e.bySerialSQL = e.selectCredentialBySecret(), e.selectCredentialBySerial()
	e.forVerifySQL = e.selectVerification()
	s := &Store{e: e}
	var err error
	prepare := func(db *sql.DB, q string) *sql.Stmt {
		if err != nil || !cfg.Prepare {
			return nil
		}
		var st *sql.Stmt
		st, err = db.PrepareContext(ctx, e.sql(q))
		return st
	}
	e.bySecret = prepare(e.read, e.bySecretSQL)
	e.bySerial = prepare(e.read, e.bySerialSQL)
	e.consume = prepare(e.write, consumeCredit)
	e.counted = prepare(e.read, selectCounted)
	e.forVerify = prepare(e.read, e.forVerifySQL)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: prepare: %w", e.d.Name(), err)
	}
	return s, nil
}

// Ping reports whether the database answers, on both pools.
func (s *Store) Ping(ctx context.Context) error {
	if s.e.closed.Load() {
		return errClosed()
	}
	if s.tx != nil {
		var one int
		return s.fail(ctx, "ping", s.tx.tx.QueryRowContext(ctx, `SELECT 1`).Scan(&one))
	}
	if err := s.e.write.PingContext(ctx); err != nil {
		return s.fail(ctx, "ping", err)
	}
	return s.fail(ctx, "ping", s.e.read.PingContext(ctx))
}

// Close releases the database. It may be called more than once. On a Store that WithTx bound
// to a transaction it does nothing: the transaction's owner closes the database.
func (s *Store) Close() error {
	if s.tx != nil {
		return nil
	}
	e := s.e
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		var errs []error
		for _, st := range []*sql.Stmt{e.bySecret, e.bySerial, e.consume, e.counted, e.forVerify} {
			if st != nil {
				errs = append(errs, st.Close())
			}
		}
		errs = append(errs, e.read.Close())
		if e.write != e.read {
			errs = append(errs, e.write.Close())
		}
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

func errClosed() error {
	return &keyward.Error{Code: keyward.EUnavailable, Message: "the database is closed"}
}

// sql returns q as the engine runs it.
func (e *engine) sql(q string) string {
	if v, ok := e.queries.Load(q); ok {
		return v.(string)
	}
	r := e.d.Rebind(q)
	e.queries.Store(q, r)
	return r
}

// args encodes the times among args for the engine.
func (e *engine) args(args []any) []any {
	for i, a := range args {
		switch v := a.(type) {
		case time.Time:
			args[i] = e.d.EncodeTime(v.Truncate(time.Microsecond).UTC())
		case *time.Time:
			if v == nil {
				args[i] = nil
			} else {
				args[i] = e.d.EncodeTime(v.Truncate(time.Microsecond).UTC())
			}
		case *int64:
			if v == nil {
				args[i] = nil
			} else {
				args[i] = *v
			}
		}
	}
	return args
}

// fail turns a driver error into what the Store contract promises: *keyward.Error for what a
// caller can act on (timeouts, an unreachable, busy or closed database, a conflict), a wrapped
// error for the rest. The messages never carry SQL or values.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	var ke *keyward.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ke):
		return err
	case errors.Is(err, context.DeadlineExceeded), errors.Is(ctx.Err(), context.DeadlineExceeded):
		return keyward.Errorf(keyward.ETimeout, "the database did not answer in time")
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %s: %w", s.e.d.Name(), op, err)
	case s.e.closed.Load(), errors.Is(err, sql.ErrConnDone), err.Error() == "sql: database is closed",
		err.Error() == "sql: statement is closed":
		return errClosed()
	}
	switch s.e.d.Classify(err) {
	case Contention:
		s.markRetry()
		return &keyward.Error{Code: keyward.EUnavailable, Message: "the database is busy; try again", RetryAfter: time.Second}
	case Busy:
		return &keyward.Error{Code: keyward.EUnavailable, Message: "the database is busy; try again", RetryAfter: time.Second}
	case Unavailable:
		return &keyward.Error{Code: keyward.EUnavailable, Message: "the database cannot be reached; try again",
			RetryAfter: 2 * time.Second}
	case Timeout:
		if ctx.Err() != nil {
			return s.fail(ctx, op, ctx.Err())
		}
		return keyward.Errorf(keyward.ETimeout, "the database did not answer in time")
	case Interrupted:
		if ctx.Err() != nil {
			return s.fail(ctx, op, ctx.Err())
		}
	case Unique:
		return keyward.Errorf(keyward.EConflict, "the record conflicts with an existing one")
	}
	return fmt.Errorf("%s: %s: %w", s.e.d.Name(), op, err)
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func (t *txn) isUnique(err error) bool { return err != nil && t.e.d.Classify(err) == Unique }

// isForeignKey reports whether err is a FOREIGN KEY violation.
func (t *txn) isForeignKey(err error) bool { return err != nil && t.e.d.Classify(err) == ForeignKey }

// querier is what runs statements: a pool or a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs statements written with ? on q, rewritten and with times encoded for the engine.
type conn struct {
	e *engine
	q querier
}

// ExecContext runs a statement that returns no rows.
func (c conn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.q.ExecContext(ctx, c.e.sql(q), c.e.args(args)...)
}

// QueryContext runs a query.
func (c conn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.q.QueryContext(ctx, c.e.sql(q), c.e.args(args)...)
}

// QueryRowContext runs a query of one row.
func (c conn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, c.e.sql(q), c.e.args(args)...)
}

// txn is a write transaction: a conn on it, and what it changed.
type txn struct {
	conn
	tx *sql.Tx
	ch *changes
}

// stmt is a statement prepared in a transaction, whose arguments are encoded for the engine.
type stmt struct {
	e  *engine
	st *sql.Stmt
}

// ExecContext runs the statement.
func (s stmt) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return s.st.ExecContext(ctx, s.e.args(args)...)
}

// Close releases the statement.
func (s stmt) Close() error { return s.st.Close() }

// prepare prepares q in the transaction, for a statement run once per row.
func (t *txn) prepare(ctx context.Context, q string) (stmt, error) {
	st, err := t.tx.PrepareContext(ctx, t.e.sql(q))
	return stmt{t.e, st}, err
}

// forUpdate is the Dialect's locking clause.
func (t *txn) forUpdate(of string) string { return t.e.d.ForUpdate(of) }

// changed records that the transaction changed what a verification may have cached.
func (t *txn) changed(k changeKind, ids ...int64) { t.ch.add(k, ids...) }

// reader returns where reads go: the bound transaction, which alone sees its own writes (and,
// on SQLite, holds the writer connection), or the read pool.
func (s *Store) reader() conn {
	if s.tx != nil {
		return conn{s.e, s.tx.tx}
	}
	return conn{s.e, s.e.read}
}

// readStmt runs a statement prepared on the read pool, or its query text in the bound
// transaction (a *sql.Tx cannot run a statement prepared on another pool) or when nothing was
// prepared.
func (s *Store) readStmt(ctx context.Context, st *sql.Stmt, query string, args ...any) *sql.Row {
	if s.tx != nil || st == nil {
		return s.reader().QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, s.e.args(args)...)
}

// readRows is readStmt for a statement that returns rows.
func (s *Store) readRows(ctx context.Context, st *sql.Stmt, query string, args ...any) (*sql.Rows, error) {
	if s.tx != nil || st == nil {
		return s.reader().QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, s.e.args(args)...)
}

// writeStmt runs a statement prepared on the write pool, in the bound transaction when there
// is one; its query text on the write pool when nothing was prepared.
func (s *Store) writeStmt(ctx context.Context, st *sql.Stmt, query string, args ...any) *sql.Row {
	switch {
	case s.tx != nil && st == nil:
		return conn{s.e, s.tx.tx}.QueryRowContext(ctx, query, args...)
	case s.tx != nil:
		return s.tx.tx.StmtContext(ctx, st).QueryRowContext(ctx, s.e.args(args)...)
	case st == nil:
		return conn{s.e, s.e.write}.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, s.e.args(args)...)
}

// txState is the transaction a bound Store runs in.
type txState struct {
	tx    *sql.Tx
	ch    changes
	retry bool // a statement met contention: the whole transaction may be run again
}

// markRetry records, on a bound Store, that its transaction failed for contention.
func (s *Store) markRetry() {
	if s.tx != nil {
		s.tx.retry = true
	}
}

// inTx runs fn in a write transaction and commits it. On a Store bound by WithTx it joins that
// transaction under a savepoint instead, so that the method stays atomic (a failure undoes its
// own writes only) and commits with the rest.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx *txn) error) error {
	if s.e.closed.Load() {
		return errClosed()
	}
	if s.tx != nil {
		return s.fail(ctx, op, s.savepoint(ctx, func() error {
			return fn(&txn{conn{s.e, s.tx.tx}, s.tx.tx, &s.tx.ch})
		}))
	}
	tx, err := s.e.write.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	defer tx.Rollback()
	t := &txn{conn{s.e, tx}, tx, &changes{}}
	if err := fn(t); err != nil {
		return s.fail(ctx, op, err)
	}
	if err := s.commit(ctx, t); err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// commit chains the audit events tx inserted (chain.go), tells the Dialect what tx changed,
// then commits it.
func (s *Store) commit(ctx context.Context, t *txn) error {
	if err := s.chainPending(ctx, t); err != nil {
		return err
	}
	if inv, ok := t.ch.invalidation(); ok {
		if err := s.e.d.BeforeCommit(ctx, t.tx, inv); err != nil {
			return err
		}
	}
	return t.tx.Commit()
}

// savepoint runs fn under a savepoint of the bound transaction: fn's writes, and what they
// changed, are undone when it fails, and the transaction goes on.
func (s *Store) savepoint(ctx context.Context, fn func() error) error {
	if _, err := s.tx.tx.ExecContext(ctx, `SAVEPOINT keyward`); err != nil {
		return err
	}
	mark := s.tx.ch.mark()
	if err := fn(); err != nil {
		s.tx.ch.undo(mark)
		ctx := context.WithoutCancel(ctx)
		if _, rerr := s.tx.tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT keyward`); rerr != nil {
			return errors.Join(err, rerr)
		}
		if _, rerr := s.tx.tx.ExecContext(ctx, `RELEASE SAVEPOINT keyward`); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	_, err := s.tx.tx.ExecContext(ctx, `RELEASE SAVEPOINT keyward`)
	return err
}

// WithTx runs fn in one write transaction and commits it when fn returns nil; see
// keyward.Store. On a bound Store it joins the transaction under a savepoint. When the database
// reports contention it runs fn again, at most MaxTxAttempts times in all, after a short,
// growing, random pause, so that two transactions that deadlocked do not meet again in the same
// order at once.
func (s *Store) WithTx(ctx context.Context, fn func(tx keyward.Store) error) error {
	if s.e.closed.Load() {
		return errClosed()
	}
	if s.tx != nil {
		return s.savepoint(ctx, func() error { return fn(s) })
	}
	var err error
	for attempt := 1; attempt <= s.e.attempts; attempt++ {
		var retry bool
		retry, err = s.runTx(ctx, fn)
		if err == nil || !retry || ctx.Err() != nil || attempt == s.e.attempts {
			return err
		}
		pause := time.Duration(attempt) * time.Duration(5+rand.IntN(20)) * time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
	return err
}

// runTx is one attempt of WithTx; it reports whether a failure was contention.
func (s *Store) runTx(ctx context.Context, fn func(tx keyward.Store) error) (bool, error) {
	tx, err := s.e.write.BeginTx(ctx, nil)
	if err != nil {
		return s.e.d.Classify(err) == Contention, s.fail(ctx, "begin", err)
	}
	defer tx.Rollback()
	st := &txState{tx: tx}
	bound := &Store{e: s.e, tx: st}
	if err := fn(bound); err != nil {
		return st.retry, err
	}
	if err := s.commit(ctx, &txn{conn{s.e, tx}, tx, &st.ch}); err != nil {
		return s.e.d.Classify(err) == Contention, s.fail(ctx, "commit", err)
	}
	return false, nil
}

// Time reads a time column of any engine: unix microseconds (SQLite) or a timestamp
// (PostgreSQL). NULL leaves Valid false.
type Time struct {
	T     time.Time
	Valid bool
}

// Scan implements sql.Scanner.
func (t *Time) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*t = Time{}
	case int64:
		*t = Time{time.UnixMicro(x).UTC(), true}
	case time.Time:
		*t = Time{x.UTC(), true}
	default:
		return fmt.Errorf("sqlstore: time column holds %T", v)
	}
	return nil
}

// Ptr returns the time, or nil for NULL.
func (t Time) Ptr() *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.T
	return &u
}

// The helpers below translate between Go values and columns.

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// parseIDs reads an Aggregate of ids.
func parseIDs(s sql.NullString) ([]int64, error) {
	ids := []int64{}
	if !s.Valid || s.String == "" {
		return ids, nil
	}
	for f := range strings.SplitSeq(s.String, ",") {
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
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

// Rebind rewrites ? and ?N placeholders to $N, leaving quoted text alone: what a Dialect whose
// engine numbers its parameters returns from its Rebind.
func Rebind(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	quote := byte(0)
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if j > i+1 {
				b.WriteByte('$')
				b.WriteString(q[i+1 : j])
				i = j - 1
				continue
			}
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// change runs fn and then writes ev in one write transaction (see inTx), and sets ev.ID once it
// committed: the shape of every mutation that writes its own event. A nil ev (a setting written
// at start) writes none.
func (s *Store) change(ctx context.Context, op string, ev *keyward.Event, fn func(tx *txn) error) error {
	var evID int64
	err := s.inTx(ctx, op, func(tx *txn) error {
		if err := fn(tx); err != nil || ev == nil {
			return err
		}
		var err error
		evID, err = insertEvent(ctx, tx, ev)
		return err
	})
	if err != nil {
		return err
	}
	if ev != nil {
		ev.ID = evID
	}
	return nil
}

// rowScanner is what a scan function reads: a *sql.Row or the current row of *sql.Rows.
type rowScanner = interface{ Scan(...any) error }

// scanRows reads every row of a query with scan and closes rows; never nil without an error.
// It takes the query's own error, so that a caller writes the query and its scan in one go.
func scanRows[T any](rows *sql.Rows, err error, scan func(rowScanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
