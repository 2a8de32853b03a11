// Package ratelimit limits events per key with GCRA (the generic cell rate algorithm): a rate of
// Limit events per Period allows a burst of Limit, then one event every Period/Limit. One time
// stamp per key is the whole state, which is what makes it cheap to share through Redis.
package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Rate is Limit events per Period.
type Rate struct {
	Limit  int
	Period time.Duration
}

func (r Rate) interval() time.Duration { return r.Period / time.Duration(r.Limit) }

// Result is the outcome of a check.
type Result struct {
	Allowed    bool
	Limit      int
	Remaining  int           // events still allowed right now
	RetryAfter time.Duration // when not allowed: how long until one more is
	ResetAfter time.Duration // how long until the full burst is available again
}

// Limiter counts events per key.
type Limiter interface {
	// Allow records one event for key if r allows it, and reports the outcome.
	Allow(ctx context.Context, key string, r Rate) (Result, error)
	// Peek reports whether one more event would be allowed, recording nothing.
	Peek(ctx context.Context, key string, r Rate) (Result, error)
	// Refund gives back one event that Allow recorded for key under r, for a caller that
	// reserves an attempt before it knows whether the attempt counts (a login counts only
	// when it fails). The key never gets more than r's full burst back.
	Refund(ctx context.Context, key string, r Rate) error
}

// gcra computes the outcome for an event at now given the key's theoretical arrival time tat
// (zero for a new key), and the tat to store when it is allowed.
func gcra(now, tat time.Time, r Rate) (Result, time.Time) {
	t := r.interval()
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(t)
	allowAt := next.Add(-r.Period)
	res := Result{Limit: r.Limit}
	if now.Before(allowAt) {
		res.RetryAfter = allowAt.Sub(now)
		res.ResetAfter = tat.Sub(now)
		return res, tat
	}
	res.Allowed = true
	res.ResetAfter = next.Sub(now)
	res.Remaining = int((r.Period - next.Sub(now)) / t)
	return res, next
}

// Memory is a Limiter for one process. Keys whose state has lapsed are swept as it runs.
type Memory struct {
	now      func() time.Time
	mu       sync.Mutex
	tats     map[string]time.Time
	lastScan time.Time
}

// NewMemory returns an in-memory limiter; now is the clock (nil for time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, tats: map[string]time.Time{}}
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string, r Rate) (Result, error) {
	return m.check(key, r, true), nil
}

// Peek implements Limiter.
func (m *Memory) Peek(_ context.Context, key string, r Rate) (Result, error) {
	return m.check(key, r, false), nil
}

// Refund implements Limiter.
func (m *Memory) Refund(_ context.Context, key string, r Rate) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	tat, ok := m.tats[key]
	if !ok {
		return nil
	}
	if tat = tat.Add(-r.interval()); tat.After(now) {
		m.tats[key] = tat
	} else {
		delete(m.tats, key) // as good as new
	}
	return nil
}

func (m *Memory) check(key string, r Rate, record bool) Result {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	res, tat := gcra(now, m.tats[key], r)
	if record && res.Allowed {
		m.tats[key] = tat
	}
	// A key whose tat has passed is as good as new; drop such keys once a minute.
	if now.Sub(m.lastScan) > time.Minute {
		for k, t := range m.tats {
			if t.Before(now) {
				delete(m.tats, k)
			}
		}
		m.lastScan = now
	}
	return res
}
