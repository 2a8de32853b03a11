package authority

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

// FlushUsage writes the pending last_used_at batch now, so that tests can see what the batch
// writes without waiting for its tick. The server flushes on its timer and in Close.
func (a *Authority) FlushUsage(ctx context.Context) error { return a.usage.flush(ctx) }

// RecordPasswordChecks makes a record the cost part of every hash a password is checked
// against ("$argon2id$v=19$m=…,t=…,p=…"), and returns what it recorded so far on each call. Call
// it before the authority is used concurrently.
func (a *Authority) RecordPasswordChecks() func() []string {
	var (
		mu   sync.Mutex
		seen []string
	)
	check := a.checkPassword
	a.checkPassword = func(pass, encoded string) (bool, error) {
		parts := strings.Split(encoded, "$")
		mu.Lock()
		seen = append(seen, strings.Join(parts[:min(4, len(parts))], "$"))
		mu.Unlock()
		return check(pass, encoded)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// WaitIssued waits until the set of issued secrets is loaded and ready.
func (a *Authority) WaitIssued(ctx context.Context) error {
	for {
		if a.issued.snap.Load().ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// DropCached empties the verification cache, so that the next verification of any key loads it.
func (a *Authority) DropCached() { a.cache.invalidate(keyward.Invalidation{All: true}) }

// LoadWaiters returns how many callers wait on the store load of digest d under way (0 when
// none runs).
func (a *Authority) LoadWaiters(d [32]byte) int {
	a.loads.mu.Lock()
	defer a.loads.mu.Unlock()
	if fl := a.loads.m[d]; fl != nil {
		return fl.waiting
	}
	return 0
}

// CallerLoadWaiters is LoadWaiters for authentication entries.
func (a *Authority) CallerLoadWaiters(d [32]byte) int {
	a.callerLoads.mu.Lock()
	defer a.callerLoads.mu.Unlock()
	if fl := a.callerLoads.m[d]; fl != nil {
		return fl.waiting
	}
	return 0
}
