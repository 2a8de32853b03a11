package ratelimit

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/keyward/keyward/internal/cacheline"
)

// Concurrent checks keep GCRA exact per key, whichever shards the keys fall into: with the clock
// standing still, goroutines hammering one key, or many keys at once, get exactly Limit events
// through per key, each with a distinct Remaining, and every refusal names the same retry.
func TestMemoryConcurrentExact(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r := Rate{Limit: 40, Period: time.Minute}
	for _, tc := range []struct {
		name                    string
		keys, goroutines, calls int // calls per goroutine per key
	}{
		{"OneKey", 1, 32, 10},
		{"ManyKeys", 300, 8, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := NewMemory(func() time.Time { return now })
			keys := make([]string, tc.keys)
			for i := range keys {
				keys[i] = "key:" + strconv.Itoa(i+1)
			}
			var (
				mu        sync.Mutex
				remaining = make([]map[int]int, tc.keys) // per key: how often each Remaining was answered
				refused   = make([]int, tc.keys)
				wg        sync.WaitGroup
			)
			for i := range remaining {
				remaining[i] = map[int]int{}
			}
			for g := range tc.goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for c := range tc.calls * tc.keys {
						k := (g + c) % tc.keys // goroutines start on different keys
						res, err := m.Allow(context.Background(), keys[k], r)
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						if res.Allowed {
							remaining[k][res.Remaining]++
						} else {
							refused[k]++
							if res.RetryAfter != r.interval() {
								t.Errorf("%s refused with retry %s, want %s", keys[k], res.RetryAfter, r.interval())
							}
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			for k, key := range keys {
				if len(remaining[k]) != r.Limit || refused[k] != tc.goroutines*tc.calls-r.Limit {
					t.Fatalf("%s: %d allowed, %d refused; want %d and %d", key, len(remaining[k]), refused[k], r.Limit, tc.goroutines*tc.calls-r.Limit)
				}
				for rem := range r.Limit {
					if remaining[k][rem] != 1 {
						t.Fatalf("%s: remaining %d answered %d times, want once", key, rem, remaining[k][rem])
					}
				}
			}
		})
	}
}

// The once-a-minute sweep reaches every shard, whichever key's check starts it.
func TestMemorySweepAllShards(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMemory(func() time.Time { return now })
	r := Rate{Limit: 3, Period: time.Minute}
	for i := range 1000 {
		m.Allow(context.Background(), "key:"+strconv.Itoa(i), r)
	}
	used := 0
	for i := range m.shards {
		if len(m.shards[i].tats) > 0 {
			used++
		}
	}
	if used < memoryShards/2 || m.len() != 1000 {
		t.Fatalf("1000 keys held as %d in %d of %d shards", m.len(), used, memoryShards)
	}
	now = now.Add(2 * time.Minute)
	m.Peek(context.Background(), "zed", r)
	if n := m.len(); n != 0 {
		t.Fatalf("%d lapsed keys kept", n)
	}
}

// TestMemoryShardSize keeps each shard on cache lines of its own.
func TestMemoryShardSize(t *testing.T) {
	t.Parallel()
	if size := unsafe.Sizeof(memoryShard{}); size%cacheline.Pad != 0 {
		t.Fatalf("a limiter shard is %d bytes, not a multiple of %d", size, cacheline.Pad)
	}
}

// len returns how many keys the limiter holds, for tests.
func (m *Memory) len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.tats)
		s.mu.Unlock()
	}
	return n
}
