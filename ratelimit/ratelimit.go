// Package ratelimit limits events per key with GCRA (the generic cell rate algorithm): a rate of
// Limit events per Period allows a burst of Limit, then one event every Period/Limit. One time
// stamp per key is the whole state, which is what makes it cheap to share through Redis.
package ratelimit

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/keyward/keyward/internal/cacheline"
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

// Memory is a Limiter for one process. Keys whose state has lapsed are swept as it runs. Its keys
// are split into shards by a seeded hash, each under its own lock, so that checks of different
// keys on different cores do not queue on one mutex, and the sweep holds one shard at a time.
type Memory struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [memoryShards]memoryShard
	// lastScan is the UnixNano of the last sweep, neverScanned before the first: one clock for
	// all shards, so that any check sweeps every shard once a minute, as one map was swept.
	lastScan atomic.Int64
}

// memoryShards is a fixed power of two, not a multiple of GOMAXPROCS (which may change while the
// process runs): 64 spreads the cores of any machine keyward runs on, for 8 KiB.
const memoryShards = 64

const neverScanned = math.MinInt64

type memoryState struct {
	mu   sync.Mutex
	tats map[string]time.Time
}

type memoryShard struct {
	memoryState
	_ [cacheline.Pad - unsafe.Sizeof(memoryState{})%cacheline.Pad]byte
}

// NewMemory returns an in-memory limiter; now is the clock (nil for time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	m := &Memory{now: now, seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].tats = map[string]time.Time{}
	}
	m.lastScan.Store(neverScanned)
	return m
}

// shard returns key's shard. The seed is the limiter's own, so that nobody can choose keys that
// all land in one shard.
func (m *Memory) shard(key string) *memoryShard {
	return &m.shards[maphash.String(m.seed, key)%memoryShards]
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
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, ok := s.tats[key]
	if !ok {
		return nil
	}
	if tat = tat.Add(-r.interval()); tat.After(now) {
		s.tats[key] = tat
	} else {
		delete(s.tats, key) // as good as new
	}
	return nil
}

func (m *Memory) check(key string, r Rate, record bool) Result {
	now := m.now()
	s := m.shard(key)
	s.mu.Lock()
	res, tat := gcra(now, s.tats[key], r)
	if record && res.Allowed {
		s.tats[key] = tat
	}
	s.mu.Unlock()
	m.sweep(now)
	return res
}

// sweep drops keys whose tat has passed (they are as good as new) once a minute: the one caller
// that moves lastScan walks the shards, locking each in turn.
func (m *Memory) sweep(now time.Time) {
	last, at := m.lastScan.Load(), now.UnixNano()
	if last != neverScanned && at-last <= int64(time.Minute) {
		return
	}
	if !m.lastScan.CompareAndSwap(last, at) {
		return // another check sweeps
	}
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, t := range s.tats {
			if t.Before(now) {
				delete(s.tats, k)
			}
		}
		s.mu.Unlock()
	}
}
