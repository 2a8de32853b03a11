package postgres

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// limitsScan holds the scan targets of the rate limit, usage credit and refill columns that
// credentialColumns ends with.
type limitsScan struct {
	rateLimit                             *int32
	rateDuration, remaining, refillAmount *int64
	refillInterval                        *string
	lastRefill                            *time.Time
}

// fill sets c's RateLimit, Remaining, Refill and LastRefillAt. A rate limit or a refill is
// there when its count column (ratelimit_limit, refill_amount) is not NULL.
func (ls *limitsScan) fill(c *keyward.Credential) {
	c.RateLimit, c.Refill, c.Remaining = nil, nil, nil
	if ls.rateLimit != nil {
		c.RateLimit = &keyward.RateLimit{Limit: int(*ls.rateLimit)}
		if ls.rateDuration != nil {
			c.RateLimit.Duration = time.Duration(*ls.rateDuration) * time.Millisecond
		}
	}
	if ls.remaining != nil {
		n := *ls.remaining
		c.Remaining = &n
	}
	if ls.refillAmount != nil {
		c.Refill = &keyward.Refill{Amount: *ls.refillAmount}
		if ls.refillInterval != nil {
			c.Refill.Interval = *ls.refillInterval
		}
	}
	c.LastRefillAt = utc(ls.lastRefill)
}

// checkLimits refuses what the columns cannot hold: a rate limit's count is an integer (32
// bits). The duration is kept in whole milliseconds.
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
		args[0], args[1] = int32(r.Limit), r.Duration.Milliseconds()
	}
	if r := c.Refill; r != nil {
		args[2], args[3] = r.Interval, r.Amount
	}
	return args
}

// refillDue is the condition ($2: the start of the current refill period, NULL for none) under
// which ConsumeCredit first refills the credential.
const refillDue = `(refill_amount IS NOT NULL AND $2::timestamptz IS NOT NULL
		AND (last_refill_at IS NULL OR last_refill_at < $2::timestamptz))`

// consumeCredit takes one use of credential $1, refilling it first when a refill is due, in one
// statement. Every SET expression sees the row as it was; under READ COMMITTED a concurrent
// consumer waits for the row lock, then re-evaluates WHERE and SET on the row version the
// other committed, so N consumers of K uses, on any number of servers, succeed exactly K
// times. No row comes back when the uses are not counted, none is left, or the credential is
// missing.
const consumeCredit = `UPDATE credentials SET
	remaining = CASE WHEN ` + refillDue + ` THEN refill_amount - 1 ELSE remaining - 1 END,
	last_refill_at = CASE WHEN ` + refillDue + ` THEN $2::timestamptz ELSE last_refill_at END
	WHERE id = $1 AND remaining IS NOT NULL
		AND CASE WHEN ` + refillDue + ` THEN refill_amount > 0 ELSE remaining > 0 END
	RETURNING remaining`

// ConsumeCredit takes one use from the credential, atomically: one UPDATE ... RETURNING in a
// transaction of its own (autocommit), which waits for nothing but the row lock of a write to
// the same credential, and, only when it took nothing, one read. Refused uses and credentials
// whose uses are not counted change nothing. It writes no event, sends no change notification
// and does not bump the version. When a refill is due (the credential has one, refillFrom is
// not zero and its last refill is before refillFrom, or it never had one), remaining becomes
// the refill amount and last_refill_at refillFrom before the use is taken; a refill amount of 0
// refuses the use and is not recorded. It returns the uses left and true, (0, false) when none
// was left, and (nil, true) when the uses are not counted. ENotFound.
func (s *Store) ConsumeCredit(ctx context.Context, credentialID int64, refillFrom time.Time) (*int64, bool, error) {
	var from *time.Time
	if !refillFrom.IsZero() {
		from = nullTS(&refillFrom)
	}
	var left int64
	err := s.queryRow(ctx, consumeCredit, credentialID, from).Scan(&left)
	if err == nil {
		return &left, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, false, s.fail(ctx, "consume credit", err)
	}
	var counted bool
	err = s.queryRow(ctx, `SELECT remaining IS NOT NULL FROM credentials WHERE id = $1`, credentialID).Scan(&counted)
	if errors.Is(err, pgx.ErrNoRows) {
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
// transaction, without bumping the version or touching last_refill_at; the change feed hears
// of it ({"c":[id]}), since it can change a verification's answer. It sets ev.ID. ENotFound.
func (s *Store) SetRemaining(ctx context.Context, credentialID int64, remaining *int64, ev *keyward.Event) error {
	var evID int64
	err := s.inTx(ctx, "set remaining", func(tx pgx.Tx) error {
		ok, err := oneRow(tx.Exec(ctx, `UPDATE credentials SET remaining = $1 WHERE id = $2`, remaining, credentialID))
		if err != nil {
			return err
		}
		if !ok {
			return keyward.Errorf(keyward.ENotFound, "credential not found")
		}
		if err := s.notify(ctx, tx, keyward.Invalidation{CredentialIDs: []int64{credentialID}}); err != nil {
			return err
		}
		evID, err = insertEvent(ctx, tx, ev)
		return err
	})
	if err != nil {
		return err
	}
	ev.ID = evID
	return nil
}
