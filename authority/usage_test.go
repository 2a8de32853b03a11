package authority

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/cacheline"
	"github.com/keyward/keyward/ratelimit"
)

// touchStore records the batches of last_used_at the recorder writes; every other method is
// the nil Store's, which the recorder never calls.
type touchStore struct {
	keyward.Store
	mu      sync.Mutex
	batches []map[int64]time.Time
}

func (s *touchStore) TouchCredentials(_ context.Context, used map[int64]time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, used)
	return nil
}

// benchRecorder returns a recorder whose timer never fires during a benchmark.
func benchRecorder(b *testing.B) *usageRecorder {
	u := newUsageRecorder(&touchStore{}, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Hour)
	b.Cleanup(func() { u.close() })
	return u
}

// BenchmarkUsageRecord is the recorder's part of every valid verification, from all Ps at once:
// on many credentials, and on one hot credential that every request names.
func BenchmarkUsageRecord(b *testing.B) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b.Run("ManyKeys", func(b *testing.B) {
		u := benchRecorder(b)
		var next atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			// Each goroutine walks its own stretch of 100,000 ids, as a verifier's clients do.
			id := next.Add(1) * 7919
			i := 0
			for pb.Next() {
				i++
				u.record(1+(id+int64(i))%100_000, t0.Add(time.Duration(i)))
			}
		})
	})
	b.Run("OneKey", func(b *testing.B) {
		u := benchRecorder(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				u.record(42, t0.Add(time.Duration(i)))
			}
		})
	})
}

// BenchmarkApplyLimits is a rate-limited key's limit check on a cache hit, from all Ps at once:
// the limiter itself plus what applyLimits adds around it (the limiter key, the answer's copy).
func BenchmarkApplyLimits(b *testing.B) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &Authority{limiter: ratelimit.NewMemory(nil), logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		now: func() time.Time { return t0 }}
	c := newCache(time.Minute, 100)
	entries := make([]*entry, 1000)
	for i := range entries {
		cred := &keyward.Credential{ID: int64(i + 1), Active: true, RateLimit: &keyward.RateLimit{Limit: 1_000_000_000, Duration: time.Hour}}
		entries[i] = c.newEntry(cred, nil, &keyward.User{ID: 1}, nil, nil, nil, t0)
	}
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1) * 7919)
		for pb.Next() {
			i++
			e := entries[i%len(entries)]
			if v, err := a.applyLimits(ctx, e.credID(), e.limits(), &e.valid); err != nil || v.RateLimit == nil {
				b.Fatal(v, err)
			}
		}
	})
}

// written returns what the store was asked to write so far.
func (s *touchStore) written() []map[int64]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[int64]time.Time(nil), s.batches...)
}

// Many goroutines recording for many credentials at once, in shuffled order: a flush writes
// exactly the latest time of each credential, in one batch, however the ids fall into shards;
// and flushes that run while they record lose nothing (the latest of all batches is still exact).
func TestUsageRecordExact(t *testing.T) {
	t.Parallel()
	const goroutines, ids = 16, 3000
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	// at[g][i] is when goroutine g saw credential i+1; want is the latest of them.
	at := make([][]time.Time, goroutines)
	want := map[int64]time.Time{}
	for g := range at {
		at[g] = make([]time.Time, ids)
		for i := range at[g] {
			at[g][i] = t0.Add(time.Duration(rng.IntN(1_000_000)) * time.Microsecond)
			if id := int64(i + 1); at[g][i].After(want[id]) {
				want[id] = at[g][i]
			}
		}
	}
	record := func(u *usageRecorder) {
		var wg sync.WaitGroup
		for g := range goroutines {
			order := rand.New(rand.NewPCG(uint64(g), 3)).Perm(ids)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, i := range order {
					u.record(int64(i+1), at[g][i])
				}
			}()
		}
		wg.Wait()
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, concurrentFlush := range []bool{false, true} {
		t.Run(map[bool]string{false: "OneFlush", true: "FlushWhileRecording"}[concurrentFlush], func(t *testing.T) {
			store := &touchStore{}
			u := newUsageRecorder(store, logger, time.Hour)
			t.Cleanup(func() { u.close() })
			stop, flushed := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(flushed)
				for concurrentFlush {
					select {
					case <-stop:
						return
					default:
					}
					if err := u.flush(context.Background()); err != nil {
						t.Error(err)
					}
				}
			}()
			record(u)
			close(stop)
			<-flushed
			if err := u.flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			batches := store.written()
			if !concurrentFlush && len(batches) != 1 {
				t.Fatalf("%d batches, want 1", len(batches))
			}
			got := map[int64]time.Time{}
			for _, b := range batches {
				for id, at := range b {
					if at.After(got[id]) {
						got[id] = at
					}
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d credentials written, want %d", len(got), len(want))
			}
			for id, w := range want {
				if !got[id].Equal(w) {
					t.Fatalf("credential %d: last used %v, want %v", id, got[id], w)
				}
			}
			if err := u.flush(context.Background()); err != nil || len(store.written()) != len(batches) {
				t.Fatalf("a flush with nothing recorded wrote a batch (err %v)", err)
			}
		})
	}
}

// failingStore fails its first write of last_used_at.
type failingStore struct {
	touchStore
	fail atomic.Bool
}

func (s *failingStore) TouchCredentials(ctx context.Context, used map[int64]time.Time) error {
	if s.fail.Swap(false) {
		return keyward.Errorf(keyward.EUnavailable, "store down")
	}
	return s.touchStore.TouchCredentials(ctx, used)
}

// A batch the store refuses is kept for the next flush, across all shards, and a newer use
// recorded meanwhile wins over it while an older one does not.
func TestUsageFlushRetry(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	store := &failingStore{}
	store.fail.Store(true)
	u := newUsageRecorder(store, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Hour)
	t.Cleanup(func() { u.close() })
	want := map[int64]time.Time{}
	for id := int64(1); id <= 500; id++ {
		u.record(id, t0.Add(time.Duration(id)*time.Second))
		want[id] = t0.Add(time.Duration(id) * time.Second)
	}
	if err := u.flush(context.Background()); keyward.ErrorCode(err) != keyward.EUnavailable {
		t.Fatalf("flush on a failing store: %v", err)
	}
	u.record(7, t0.Add(time.Hour)) // newer: wins
	want[7] = t0.Add(time.Hour)
	u.record(8, t0) // older: loses
	if err := u.close(); err != nil {
		t.Fatal(err)
	}
	batches := store.written()
	if len(batches) != 1 || !maps.EqualFunc(batches[0], want, time.Time.Equal) {
		t.Fatalf("after the retry the store got %d batches, want exactly the %d latest uses", len(batches), len(want))
	}
}

// TestUsageShardSize keeps each shard on cache lines of its own.
func TestUsageShardSize(t *testing.T) {
	t.Parallel()
	if size := unsafe.Sizeof(usageShard{}); size%cacheline.Pad != 0 {
		t.Fatalf("a usage shard is %d bytes, not a multiple of %d", size, cacheline.Pad)
	}
}
