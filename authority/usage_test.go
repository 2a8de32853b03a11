package authority

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
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
