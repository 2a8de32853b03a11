package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/keyward/keyward"
	sqlite3 "modernc.org/sqlite/lib"
)

// txState is the transaction a bound Store runs in.
type txState struct {
	tx    *sql.Tx
	retry bool // a statement met SQLITE_BUSY: the whole transaction may be run again
}

// maxTxAttempts bounds how often WithTx runs fn when the database is busy.
const maxTxAttempts = 3

// querier is what reads need: the pool of read connections, or the bound transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// reader returns where reads go: the bound transaction, which alone sees its own writes and
// holds the writer connection, or the read pool.
func (s *Store) reader() querier {
	if s.tx != nil {
		return s.tx.tx
	}
	return s.read
}

// readStmt runs a statement prepared on the read pool, or its query text in the bound
// transaction (a *sql.Tx cannot run a statement prepared on another pool).
func (s *Store) readStmt(ctx context.Context, st *sql.Stmt, query string, args ...any) *sql.Row {
	if s.tx != nil {
		return s.tx.tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// writeStmt runs a statement prepared on the write connection, in the bound transaction when
// there is one.
func (s *Store) writeStmt(ctx context.Context, st *sql.Stmt, args ...any) *sql.Row {
	if s.tx != nil {
		return s.tx.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// markRetry records, on a bound Store, that its transaction failed for contention.
func (s *Store) markRetry() {
	if s.tx != nil {
		s.tx.retry = true
	}
}

// savepoint runs fn under a savepoint of the bound transaction: fn's writes are undone when
// it fails, and the transaction goes on.
func (s *Store) savepoint(ctx context.Context, fn func() error) error {
	if _, err := s.tx.tx.ExecContext(ctx, `SAVEPOINT keyward`); err != nil {
		return err
	}
	if err := fn(); err != nil {
		ctx := context.WithoutCancel(ctx)
		if _, rerr := s.tx.tx.ExecContext(ctx, `ROLLBACK TO keyward`); rerr != nil {
			return errors.Join(err, rerr)
		}
		if _, rerr := s.tx.tx.ExecContext(ctx, `RELEASE keyward`); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	_, err := s.tx.tx.ExecContext(ctx, `RELEASE keyward`)
	return err
}

// WithTx runs fn in one write transaction (BEGIN IMMEDIATE) and commits it when fn returns
// nil; see keyward.Store. On a bound Store it joins the transaction under a savepoint. When
// the database is busy (another process holds the write lock) it runs fn again, at most
// maxTxAttempts times in all.
func (s *Store) WithTx(ctx context.Context, fn func(tx keyward.Store) error) error {
	if s.tx != nil {
		return s.savepoint(ctx, func() error { return fn(s) })
	}
	var err error
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		var retry bool
		retry, err = s.runTx(ctx, fn)
		if err == nil || !retry || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// runTx is one attempt of WithTx; it reports whether a failure was contention.
func (s *Store) runTx(ctx context.Context, fn func(tx keyward.Store) error) (bool, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		busy := isBusy(err)
		return busy, s.fail(ctx, "begin", err)
	}
	defer tx.Rollback()
	st := &txState{tx: tx}
	bound := &Store{write: s.write, read: s.read, bySecret: s.bySecret, bySerial: s.bySerial,
		consume: s.consume, counted: s.counted, tx: st}
	if err := fn(bound); err != nil {
		return st.retry, err
	}
	if err := tx.Commit(); err != nil {
		return isBusy(err), s.fail(ctx, "commit", err)
	}
	return false, nil
}

// isBusy reports whether err is SQLite's contention for the write lock.
func isBusy(err error) bool {
	code, ok := sqliteCode(err)
	return ok && (code&0xff == sqlite3.SQLITE_BUSY || code&0xff == sqlite3.SQLITE_LOCKED)
}
