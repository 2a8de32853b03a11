package authority

import (
	"context"
	"strconv"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/ratelimit"
)

// Bounds of a key's rate limit.
const (
	MinRateLimitDuration = 100 * time.Millisecond
	MaxRateLimitDuration = 30 * 24 * time.Hour
	MaxRateLimit         = 1_000_000_000
)

// validateLimits checks a key's rate limit, remaining uses and refill.
func validateLimits(fe fieldErrors, rl *keyward.RateLimit, remaining *int64, refill *keyward.Refill) {
	if rl != nil {
		if rl.Limit < 1 || rl.Limit > MaxRateLimit {
			fe.add("ratelimit", "limit must be between 1 and "+strconv.Itoa(MaxRateLimit))
		}
		if rl.Duration < MinRateLimitDuration || rl.Duration > MaxRateLimitDuration {
			fe.add("ratelimit", "duration must be between 100 and 2592000000 milliseconds")
		}
	}
	if remaining != nil && *remaining < 0 {
		fe.add("remaining", "must not be negative")
	}
	if refill != nil {
		if refill.Interval != keyward.RefillDaily && refill.Interval != keyward.RefillMonthly {
			fe.add("refill", "interval must be daily or monthly")
		}
		if refill.Amount < 0 {
			fe.add("refill", "amount must not be negative")
		}
	}
}

// refillFrom is the start of the refill period that contains now: midnight UTC for a daily
// refill, the first of the month for a monthly one; zero without a refill.
func refillFrom(r *keyward.Refill, now time.Time) time.Time {
	if r == nil {
		return time.Time{}
	}
	y, m, d := now.UTC().Date()
	if r.Interval == keyward.RefillMonthly {
		d = 1
	}
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// limiterKey is the rate limiter's key for credential id's rate limit.
func limiterKey(id int64) string { return "key:" + strconv.FormatInt(id, 10) }

// applyLimits checks a valid key's rate limit, then takes one of its counted uses, and returns
// the answer: v itself when the key has neither, else a copy with their state. The rate limit
// comes first so that a refused request spends no use. A rate limiter that cannot answer lets
// the request through (and says so in the log): a key's rate limit protects the API behind
// keyward, and keyward must not become the reason that API is down.
func (a *Authority) applyLimits(ctx context.Context, id int64, l *limits, v *keyward.Verification) (*keyward.Verification, error) {
	if l == nil || (l.rateLimit == nil && !l.counted) {
		return v, nil
	}
	out := *v
	if rl := l.rateLimit; rl != nil {
		res, err := a.limiter.Allow(ctx, l.limiterKey, ratelimit.Rate{Limit: rl.Limit, Period: rl.Duration})
		if err != nil {
			a.logger.Warn("rate limiter unavailable; letting the verification through", "err", err)
		} else {
			out.RateLimit = &keyward.RateLimitState{Limit: res.Limit, Remaining: res.Remaining, Reset: res.ResetAfter}
			if !res.Allowed {
				out.RateLimit.Reset = res.RetryAfter
				out.Valid, out.Code, out.Permissions = false, keyward.CodeRateLimited, nil
				return &out, nil
			}
		}
	}
	if l.counted {
		// The store call needs the timer; the limiter needs none (in memory) or has its own
		// (the Redis client's read and write timeouts).
		ctx, cancel := a.bounded(ctx)
		defer cancel()
		left, ok, err := a.store.ConsumeCredit(ctx, id, refillFrom(l.refill, a.clock()))
		if err != nil {
			return nil, err
		}
		out.Remaining = left
		if !ok {
			zero := int64(0)
			out.Remaining = &zero
			out.Valid, out.Code, out.Permissions = false, keyward.CodeUsageExceeded, nil
		}
	}
	return &out, nil
}
