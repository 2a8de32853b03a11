package authority

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func testEntry(credID, userID int64, at time.Time) *entry {
	return &entry{cred: &keyward.Credential{ID: credID}, creator: &keyward.User{ID: userID}, loaded: at}
}

func TestCache(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	d := func(b byte) [32]byte { return [32]byte{b, b} }

	t.Run("TTL", func(t *testing.T) {
		c := newCache(10*time.Second, 100)
		c.put(d(1), testEntry(1, 1, t0), c.epoch.Load())
		if c.get(d(1), t0.Add(9*time.Second)) == nil {
			t.Fatal("entry gone before its TTL")
		}
		if c.get(d(1), t0.Add(10*time.Second)) != nil {
			t.Fatal("entry served at its TTL")
		}
		if c.get(d(1), t0.Add(-time.Second)) != nil {
			t.Fatal("entry served when the clock went back")
		}
	})
	t.Run("StaleLoadRefused", func(t *testing.T) {
		c := newCache(time.Minute, 100)
		epoch := c.epoch.Load() // a load starts...
		c.invalidate(keyward.Invalidation{CredentialIDs: []int64{7}})
		c.put(d(2), testEntry(7, 1, t0), epoch) // ...and ends after a revocation
		if c.get(d(2), t0) != nil {
			t.Fatal("an entry loaded before an invalidation was cached")
		}
	})
	t.Run("InvalidateCredentialAndUser", func(t *testing.T) {
		c := newCache(time.Minute, 100)
		c.put(d(3), testEntry(3, 10, t0), c.epoch.Load())
		c.put(d(4), testEntry(3, 10, t0), c.epoch.Load()) // a rolled credential's second secret
		c.put(d(5), testEntry(5, 11, t0), c.epoch.Load())
		c.put(d(6), testEntry(6, 12, t0), c.epoch.Load())
		c.invalidate(keyward.Invalidation{CredentialIDs: []int64{3}})
		if c.get(d(3), t0) != nil || c.get(d(4), t0) != nil || c.get(d(5), t0) == nil {
			t.Fatal("credential invalidation dropped the wrong entries")
		}
		c.invalidate(keyward.Invalidation{UserIDs: []int64{11}})
		if c.get(d(5), t0) != nil || c.get(d(6), t0) == nil {
			t.Fatal("user invalidation dropped the wrong entries")
		}
		c.invalidate(keyward.Invalidation{All: true})
		if c.len() != 0 {
			t.Fatalf("%d entries after invalidating all", c.len())
		}
	})
	t.Run("ReloadAfterTTLThenInvalidate", func(t *testing.T) {
		c := newCache(time.Second, 100)
		c.put(d(7), testEntry(7, 1, t0), c.epoch.Load())
		// The entry expires and the next verification reloads it under the same digest.
		c.put(d(7), testEntry(7, 1, t0.Add(2*time.Second)), c.epoch.Load())
		if got := len(c.shard(d(7)).byCred[7]); got != 1 {
			t.Fatalf("index holds the digest %d times, want 1", got)
		}
		c.invalidate(keyward.Invalidation{CredentialIDs: []int64{7}})
		if c.get(d(7), t0.Add(2*time.Second)) != nil || c.len() != 0 {
			t.Fatal("invalidation left the reloaded entry")
		}
	})
	t.Run("Bounded", func(t *testing.T) {
		c := newCache(time.Minute, cacheShards) // one entry per shard
		for i := 0; i < 1000; i++ {
			var k [32]byte
			k[0], k[1], k[2] = byte(i), byte(i>>8), 1
			c.put(k, testEntry(int64(i), 1, t0), c.epoch.Load())
		}
		if got := c.len(); got > cacheShards {
			t.Fatalf("%d entries, bound %d", got, cacheShards)
		}
	})
}
