package ratelimit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkMemoryAllow is a rate-limited key's check on every verification, from all Ps at once:
// on many keys, and on one hot key that every request names. The limit is never reached, so
// every call records.
func BenchmarkMemoryAllow(b *testing.B) {
	ctx := context.Background()
	r := Rate{Limit: 1_000_000_000, Period: time.Hour}
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "key:" + strconv.Itoa(i+1)
	}
	b.Run("ManyKeys", func(b *testing.B) {
		m := NewMemory(nil)
		var next atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1) * 7919)
			for pb.Next() {
				i++
				m.Allow(ctx, keys[i%len(keys)], r)
			}
		})
	})
	b.Run("OneKey", func(b *testing.B) {
		m := NewMemory(nil)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Allow(ctx, keys[0], r)
			}
		})
	})
}
