package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// txState is the transaction a bound Store runs in.
type txState struct {
	tx    pgx.Tx
	retry bool // a statement met a serialization failure or deadlock: run the whole transaction again
}

// maxTxAttempts bounds how often WithTx runs fn on serialization failures and deadlocks.
const maxTxAttempts = 5

// markRetry records, on a bound Store, that its transaction failed for contention.
func (s *Store) markRetry() {
	if s.tx != nil {
		s.tx.retry = true
	}
}

// savepoint runs fn under a savepoint of the bound transaction (pgx's nested transaction):
// fn's writes are undone when it fails, and the transaction stays usable.
func (s *Store) savepoint(ctx context.Context, fn func(tx pgx.Tx) error) error {
	sp, err := s.tx.tx.Begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(sp); err != nil {
		if rerr := sp.Rollback(context.WithoutCancel(ctx)); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	return sp.Commit(ctx)
}

// WithTx runs fn in one READ COMMITTED transaction and commits it when fn returns nil; see
// keyward.Store. The NOTIFYs of the change feed that the methods called on the bound Store
// send are transactional: PostgreSQL delivers them when the transaction commits (a payload
// sent twice, once), and never after a rollback. On a bound Store WithTx joins the
// transaction under a savepoint. On a serialization failure or a deadlock it runs fn again,
// at most maxTxAttempts times in all.
func (s *Store) WithTx(ctx context.Context, fn func(tx keyward.Store) error) error {
	if s.closed.Load() {
		return errClosed()
	}
	if s.tx != nil {
		return s.savepoint(ctx, func(pgx.Tx) error { return fn(s) })
	}
	var err error
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		var retry bool
		retry, err = s.runTx(ctx, fn)
		if err == nil || !retry || ctx.Err() != nil {
			return err
		}
		// A short, growing, random pause, so that two transactions that deadlocked do not meet
		// again in the same order at once.
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
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, s.fail(ctx, "begin", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit
	st := &txState{tx: tx}
	bound := &Store{pool: s.pool, channel: s.channel, tx: st}
	if err := fn(bound); err != nil {
		return st.retry, err
	}
	if err := tx.Commit(ctx); err != nil {
		return isContention(err), s.fail(ctx, "commit", err)
	}
	return false, nil
}

// isContention reports whether err is a serialization failure or a deadlock.
func isContention(err error) bool {
	code := pgCode(err)
	return code == "40001" || code == "40P01"
}
