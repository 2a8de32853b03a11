package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"time"

	"github.com/keyward/keyward"
)

// limitsScan holds the scan targets of the rate limit, usage credit and refill columns that
// credentialColumns ends with.
type limitsScan struct {
	rateLimit, rateDuration, remaining, refillAmount sql.NullInt64
	lastRefill                                       Time
	refillInterval                                   sql.NullString
}

// fill sets c's RateLimit, Remaining, Refill and LastRefillAt. A rate limit or a refill is
// there when its count column (ratelimit_limit, refill_amount) is not NULL.
func (ls *limitsScan) fill(c *keyward.Credential) {
	c.RateLimit, c.Refill, c.Remaining = nil, nil, nil
	if ls.rateLimit.Valid {
		c.RateLimit = &keyward.RateLimit{Limit: int(ls.rateLimit.Int64),
			Duration: time.Duration(ls.rateDuration.Int64) * time.Millisecond}
	}
	if ls.remaining.Valid {
		n := ls.remaining.Int64
		c.Remaining = &n
	}
	if ls.refillAmount.Valid {
		c.Refill = &keyward.Refill{Interval: ls.refillInterval.String, Amount: ls.refillAmount.Int64}
	}
	c.LastRefillAt = ls.lastRefill.Ptr()
}

// checkLimits refuses what the columns cannot hold alike in every store: a rate limit's count
// is a 32-bit integer (PostgreSQL's integer). The duration is kept in whole milliseconds.
func checkLimits(c *keyward.Credential) error {
	if c.RateLimit != nil && (c.RateLimit.Limit < math.MinInt32 || c.RateLimit.Limit > math.MaxInt32) {
		return keyward.Invalid("ratelimit.limit", "out of range")
	}
	return nil
}

// limitArgs renders c's rate limit and refill as the values of ratelimit_limit,
// ratelimit_duration_ms, refill_interval and refill_amount; nil becomes NULLs.
func limitArgs(c *keyward.Credential) []any {
	args := []any{nil, nil, nil, nil}
	if r := c.RateLimit; r != nil {
		args[0], args[1] = int64(r.Limit), r.Duration.Milliseconds()
	}
	if r := c.Refill; r != nil {
		args[2], args[3] = r.Interval, r.Amount
	}
	return args
}

// refillDue is the condition (?2: the start of the current refill period; ?3: whether there is
// one) under which ConsumeCredit first refills the credential. ?3 says what "?2 IS NOT NULL"
// would, in a form every engine can type.
const refillDue = `(refill_amount IS NOT NULL AND ?3 AND (last_refill_at IS NULL OR last_refill_at < ?2))`

// consumeCredit takes one use of credential ?1, refilling it first when a refill is due, in one
// statement. Every SET expression sees the row as it was. SQLite runs the statement in one
// write transaction, which no other connection's (or process's) write interleaves; under
// PostgreSQL's READ COMMITTED a concurrent consumer waits for the row lock, then re-evaluates
// WHERE and SET on the row version the other committed. Either way N consumers of K uses, on any
// number of servers, succeed exactly K times. No row comes back when the uses are not counted,
// none is left, or the credential is missing.
const consumeCredit = `UPDATE credentials SET
	remaining = CASE WHEN ` + refillDue + ` THEN refill_amount - 1 ELSE remaining - 1 END,
	last_refill_at = CASE WHEN ` + refillDue + ` THEN ?2 ELSE last_refill_at END
	WHERE id = ?1 AND remaining IS NOT NULL
		AND CASE WHEN ` + refillDue + ` THEN refill_amount > 0 ELSE remaining > 0 END
	RETURNING remaining`

// selectCounted tells, when consumeCredit took nothing, why: no row (no credential), or whether
// the credential's uses are counted.
const selectCounted = `SELECT remaining IS NOT NULL FROM credentials WHERE id = ?`

// ConsumeCredit takes one use from the credential, atomically: one UPDATE ... RETURNING on the
// write pool, outside any transaction of its own (autocommit), so that it waits only for a
// write in progress, and, only when it took nothing, one read on the read pool. Refused uses and
// credentials whose uses are not counted write nothing. It writes no event and does not bump
// the version. When a refill is due (the credential has one, refillFrom is not zero and its
// last refill is before refillFrom, or it never had one), remaining becomes the refill amount
// and last_refill_at refillFrom before the use is taken; a refill amount of 0 refuses the use
// and is not recorded. It returns the uses left and true, (0, false) when none was left, and
// (nil, true) when the uses are not counted. ENotFound.
func (s *Store) ConsumeCredit(ctx context.Context, credentialID int64, refillFrom time.Time) (*int64, bool, error) {
	var from *time.Time
	if !refillFrom.IsZero() {
		from = &refillFrom
	}
	var left int64
	err := s.writeStmt(ctx, s.e.consume, consumeCredit, credentialID, from, from != nil).Scan(&left)
	if err == nil {
		return &left, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, s.fail(ctx, "consume credit", err)
	}
	var counted bool
	err = s.readStmt(ctx, s.e.counted, selectCounted, credentialID).Scan(&counted)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, keyward.Errorf(keyward.ENotFound, "credential not found")
	}
	if err != nil {
		return nil, false, s.fail(ctx, "consume credit", err)
	}
	if !counted {
		return nil, true, nil
	}
	var none int64
	return &none, false, nil
}

// SetRemaining sets the credential's uses left (nil: not counted) and writes ev, in one
// transaction, without bumping the version or touching last_refill_at. It sets ev.ID.
// ENotFound.
func (s *Store) SetRemaining(ctx context.Context, credentialID int64, remaining *int64, ev *keyward.Event) error {
	err := s.change(ctx, "set remaining", ev, func(tx *txn) error {
		ok, err := oneRow(tx.ExecContext(ctx, `UPDATE credentials SET remaining = ? WHERE id = ?`,
			remaining, credentialID))
		if err != nil {
			return err
		}
		if !ok {
			return keyward.Errorf(keyward.ENotFound, "credential not found")
		}
		tx.changed(credentialChanged, credentialID) // it can change a verification's answer
		return nil
	})
	return err
}
