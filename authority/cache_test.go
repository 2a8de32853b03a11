package authority

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/keyward/keyward"
)

func testEntry(credID, userID int64, at time.Time) *entry {
	return &entry{valid: keyward.Verification{CredentialID: credID}, creatorID: userID, loaded: at.UnixMicro()}
}

func testCaller(credID, userID int64, at time.Time) *callerEntry {
	return &callerEntry{cred: &keyward.Credential{ID: credID}, creator: &keyward.User{ID: userID}, loaded: at.UnixMicro()}
}

// cacheTable is one of the cache's two tables, seen the same way, so that every rule is tested
// on both.
type cacheTable struct {
	name    string
	put     func(c *cache, d [32]byte, credID, userID int64, at time.Time, epoch uint64)
	has     func(c *cache, d [32]byte, now time.Time) bool
	len     func(c *cache) int
	indexed func(c *cache, d [32]byte, credID int64) int // how often the shard of d indexes d under credID
	check   func(t *testing.T, c *cache)                 // the table's index holds exactly what it caches
}

var cacheTables = []cacheTable{
	{
		name: "verify",
		put: func(c *cache, d [32]byte, credID, userID int64, at time.Time, epoch uint64) {
			c.put(d, testEntry(credID, userID, at), epoch)
		},
		has: func(c *cache, d [32]byte, now time.Time) bool { return c.get(d, now) != nil },
		len: func(c *cache) int { return c.entries.len() },
		indexed: func(c *cache, d [32]byte, credID int64) int {
			s := c.entries.shard(d)
			s.mu.RLock()
			defer s.mu.RUnlock()
			return countDigest(s.digests(credID), d)
		},
		check: func(t *testing.T, c *cache) { checkIndex(t, &c.entries) },
	},
	{
		name: "authenticate",
		put: func(c *cache, d [32]byte, credID, userID int64, at time.Time, epoch uint64) {
			c.putCaller(d, testCaller(credID, userID, at), epoch)
		},
		has: func(c *cache, d [32]byte, now time.Time) bool { return c.getCaller(d, now) != nil },
		len: func(c *cache) int { return c.callers.len() },
		indexed: func(c *cache, d [32]byte, credID int64) int {
			s := c.callers.shard(d)
			s.mu.RLock()
			defer s.mu.RUnlock()
			return countDigest(s.digests(credID), d)
		},
		check: func(t *testing.T, c *cache) { checkIndex(t, &c.callers) },
	},
}

func countDigest(ds [][32]byte, d [32]byte) int {
	n := 0
	for _, x := range ds {
		if x == d {
			n++
		}
	}
	return n
}

func TestCache(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	d := func(b byte) [32]byte { return [32]byte{b, b} }

	for _, tb := range cacheTables {
		t.Run(tb.name, func(t *testing.T) {
			t.Run("TTL", func(t *testing.T) {
				c := newCache(10*time.Second, 100)
				tb.put(c, d(1), 1, 1, t0, c.epoch.Load())
				if !tb.has(c, d(1), t0.Add(9*time.Second)) {
					t.Fatal("entry gone before its TTL")
				}
				if tb.has(c, d(1), t0.Add(10*time.Second)) {
					t.Fatal("entry served at its TTL")
				}
				if tb.has(c, d(1), t0.Add(-time.Second)) {
					t.Fatal("entry served when the clock went back")
				}
				// At the authority's clock precision (microseconds), exactly as now.Sub(loaded) < ttl.
				if !tb.has(c, d(1), t0.Add(10*time.Second-time.Microsecond)) {
					t.Fatal("entry gone a microsecond before its TTL")
				}
				c = newCache(1500*time.Nanosecond, 100)
				tb.put(c, d(1), 1, 1, t0, c.epoch.Load())
				if !tb.has(c, d(1), t0.Add(time.Microsecond)) || tb.has(c, d(1), t0.Add(2*time.Microsecond)) {
					t.Fatal("a TTL that is not a whole number of microseconds is not honoured")
				}
			})
			t.Run("StaleLoadRefused", func(t *testing.T) {
				c := newCache(time.Minute, 100)
				epoch := c.epoch.Load() // a load starts...
				c.invalidate(keyward.Invalidation{CredentialIDs: []int64{7}})
				tb.put(c, d(2), 7, 1, t0, epoch) // ...and ends after a revocation
				if tb.has(c, d(2), t0) {
					t.Fatal("an entry loaded before an invalidation was cached")
				}
			})
			t.Run("InvalidateCredentialAndUser", func(t *testing.T) {
				c := newCache(time.Minute, 100)
				tb.put(c, d(3), 3, 10, t0, c.epoch.Load())
				tb.put(c, d(4), 3, 10, t0, c.epoch.Load()) // a rolled credential's second secret
				tb.put(c, d(5), 5, 11, t0, c.epoch.Load())
				tb.put(c, d(6), 6, 12, t0, c.epoch.Load())
				c.invalidate(keyward.Invalidation{CredentialIDs: []int64{3}})
				if tb.has(c, d(3), t0) || tb.has(c, d(4), t0) || !tb.has(c, d(5), t0) {
					t.Fatal("credential invalidation dropped the wrong entries")
				}
				c.invalidate(keyward.Invalidation{UserIDs: []int64{11}})
				if tb.has(c, d(5), t0) || !tb.has(c, d(6), t0) {
					t.Fatal("user invalidation dropped the wrong entries")
				}
				c.invalidate(keyward.Invalidation{All: true})
				if c.len() != 0 {
					t.Fatalf("%d entries after invalidating all", c.len())
				}
			})
			t.Run("ReloadAfterTTLThenInvalidate", func(t *testing.T) {
				c := newCache(time.Second, 100)
				tb.put(c, d(7), 7, 1, t0, c.epoch.Load())
				// The entry expires and the next verification reloads it under the same digest.
				tb.put(c, d(7), 7, 1, t0.Add(2*time.Second), c.epoch.Load())
				if got := tb.indexed(c, d(7), 7); got != 1 {
					t.Fatalf("index holds the digest %d times, want 1", got)
				}
				c.invalidate(keyward.Invalidation{CredentialIDs: []int64{7}})
				if tb.has(c, d(7), t0.Add(2*time.Second)) || c.len() != 0 {
					t.Fatal("invalidation left the reloaded entry")
				}
			})
			t.Run("SeveralSecretsOfOneCredential", func(t *testing.T) {
				// Three secrets of credential 8 in one shard (the first digest byte picks it):
				// the index must follow each of them through reloads and evictions.
				c := newCache(time.Second, 10*cacheShards)
				k := func(b byte) [32]byte { return [32]byte{64, b} }
				for b := byte(1); b <= 3; b++ {
					tb.put(c, k(b), 8, 1, t0, c.epoch.Load())
				}
				tb.put(c, k(1), 8, 1, t0.Add(time.Second/2), c.epoch.Load()) // the first one reloaded
				tb.put(c, k(2), 8, 1, t0.Add(time.Second/2), c.epoch.Load())
				for b := byte(1); b <= 3; b++ {
					if got := tb.indexed(c, k(b), 8); got != 1 {
						t.Fatalf("index holds digest %d %d times, want 1", b, got)
					}
				}
				tb.put(c, k(4), 9, 1, t0, c.epoch.Load())
				c.invalidate(keyward.Invalidation{CredentialIDs: []int64{8}})
				if tb.len(c) != 1 || !tb.has(c, k(4), t0) {
					t.Fatalf("%d entries after invalidating credential 8, want only credential 9's", tb.len(c))
				}
			})
			t.Run("Bounded", func(t *testing.T) {
				c := newCache(time.Minute, cacheShards) // one entry per shard
				for i := 0; i < 1000; i++ {
					var k [32]byte
					k[0], k[1], k[2] = byte(i), byte(i>>8), 1
					tb.put(c, k, int64(i), 1, t0, c.epoch.Load())
				}
				if got := c.len(); got > cacheShards {
					t.Fatalf("%d entries, bound %d", got, cacheShards)
				}
				// Evictions kept the index to what is cached: invalidating every credential
				// by id empties the table.
				ids := make([]int64, 1000)
				for i := range ids {
					ids[i] = int64(i)
				}
				c.invalidate(keyward.Invalidation{CredentialIDs: ids})
				if got := c.len(); got != 0 {
					t.Fatalf("%d entries after invalidating every credential", got)
				}
				tb.check(t, c)
			})
		})
	}
	t.Run("OneInvalidationClearsBothTables", func(t *testing.T) {
		for _, inv := range []keyward.Invalidation{{CredentialIDs: []int64{1}}, {UserIDs: []int64{2}}, {All: true}} {
			c := newCache(time.Minute, 100)
			c.put(d(1), testEntry(1, 2, t0), c.epoch.Load())
			c.putCaller(d(1), testCaller(1, 2, t0), c.epoch.Load())
			epoch := c.epoch.Load()
			c.invalidate(inv)
			if c.get(d(1), t0) != nil || c.getCaller(d(1), t0) != nil {
				t.Fatalf("%+v left an entry in one of the tables", inv)
			}
			c.put(d(1), testEntry(1, 2, t0), epoch)
			c.putCaller(d(1), testCaller(1, 2, t0), epoch)
			if c.len() != 0 {
				t.Fatalf("%+v: a load that raced it was cached", inv)
			}
		}
	})
	t.Run("CallersBoundedApart", func(t *testing.T) {
		c := newCache(time.Minute, 1_000_000)
		if c.callers.perShard*cacheShards > callerCacheSize || c.entries.perShard*cacheShards < 999_000 {
			t.Fatalf("bounds: %d callers, %d entries", c.callers.perShard*cacheShards, c.entries.perShard*cacheShards)
		}
	})
}

// TestEntryState checks that the compact entry answers exactly as the credential it was built
// from: its state at any time, its secret's life, its limits, its answer.
func TestEntryState(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := t0.Add(d); return &t }
	five := int64(5)
	creds := []*keyward.Credential{
		{ID: 1, Active: true},
		{ID: 2, Active: false},
		{ID: 3, Active: true, RevokedAt: at(0)},
		{ID: 4, Active: false, RevokedAt: at(-time.Hour)},
		{ID: 5, Active: true, NotBefore: at(time.Hour)},
		{ID: 6, Active: true, ExpiresAt: at(time.Hour)},
		{ID: 7, Active: true, NotBefore: at(time.Hour), ExpiresAt: at(2 * time.Hour)},
		{ID: 8, Active: true, NotBefore: at(2 * time.Hour), ExpiresAt: at(time.Hour)},
		{ID: 9, Active: false, NotBefore: at(time.Hour), ExpiresAt: at(-time.Hour)},
		{ID: 10, Active: true, RateLimit: &keyward.RateLimit{Limit: 1, Duration: time.Second}, Remaining: &five,
			Refill: &keyward.Refill{Interval: keyward.RefillDaily, Amount: 5}},
	}
	users := []*keyward.User{{ID: 1}, {ID: 2, Disabled: true}, {ID: 3, DeletedAt: at(0)}}
	c := newCache(time.Minute, 100)
	for _, cred := range creds {
		for _, u := range users {
			for _, validUntil := range []*time.Time{nil, at(90 * time.Minute)} {
				e := c.newEntry(cred, validUntil, u, nil, nil, nil, t0)
				ce := &callerEntry{cred: cred, creator: u}
				if e.creatorActive() != ce.creatorActive() {
					t.Fatalf("credential %d, user %d: creator active %v, want %v", cred.ID, u.ID, e.creatorActive(), ce.creatorActive())
				}
				for d := -time.Hour; d <= 3*time.Hour; d += 30 * time.Minute {
					now := t0.Add(d)
					if got, want := e.stateAt(now), cred.StateAt(now); got != want {
						t.Fatalf("credential %d at %s: %s, want %s", cred.ID, d, got, want)
					}
					if got, want := e.secretLive(now), secretLive(validUntil, now); got != want {
						t.Fatalf("credential %d, secret valid until %v, at %s: live %v", cred.ID, validUntil, d, got)
					}
				}
				l := e.limits()
				if cred.RateLimit == nil && cred.Remaining == nil {
					if l != nil && (l.rateLimit != nil || l.counted) {
						t.Fatalf("credential %d: limits %+v, want none", cred.ID, l)
					}
				} else if l == nil || l.rateLimit != cred.RateLimit || l.counted != (cred.Remaining != nil) || l.refill != cred.Refill {
					t.Fatalf("credential %d: limits %+v", cred.ID, l)
				}
				if l != nil && l.rateLimit != nil && l.limiterKey != "key:"+strconv.FormatInt(cred.ID, 10) {
					t.Fatalf("credential %d: limiter key %q", cred.ID, l.limiterKey)
				}
				if e.credID() != cred.ID || e.creatorID != u.ID || e.valid.ExpiresAt != cred.ExpiresAt {
					t.Fatalf("credential %d: entry %+v", cred.ID, e)
				}
			}
		}
	}
}

// TestEntrySize keeps the verification entry within its allocation size class: every cached key
// pays for it.
func TestEntrySize(t *testing.T) {
	t.Parallel()
	if size := unsafe.Sizeof(entry{}); size > 224 {
		t.Fatalf("entry is %d bytes; it was 224 (a size class): mind the memory per cached key", size)
	}
}

func TestEntryAnswer(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	exp := t0.Add(time.Hour)
	grants := map[int64]map[keyward.Permission]bool{
		0: {keyward.PermKeysRead: true},
		5: {keyward.PermKeysVerify: true},
		6: {keyward.PermKeysCreate: true}, // another project's: not in the answer
	}
	cred := &keyward.Credential{ID: 42, ProjectID: 5, Project: "shop", Name: "checkout", Environment: keyward.Live,
		KeyType: keyward.Secret, Meta: map[string]string{"tier": "gold"}, ExpiresAt: &exp, Active: true}
	c := newCache(time.Minute, 100)
	e := c.newEntry(cred, nil, &keyward.User{ID: 1}, grants, []string{"reader", "verifier"}, nil, t0)
	want := keyward.Verification{Valid: true, Code: keyward.CodeValid, CredentialID: 42, Name: "checkout", Project: "shop",
		Environment: keyward.Live, KeyType: keyward.Secret, Meta: map[string]string{"tier": "gold"}, ExpiresAt: &exp,
		Permissions: []keyward.Permission{keyward.PermKeysRead, keyward.PermKeysVerify}, Roles: []string{"reader", "verifier"}}
	if !reflect.DeepEqual(e.valid, want) {
		t.Fatalf("answer %+v\nwant   %+v", e.valid, want)
	}
	if e.valid.ExpiresAt != cred.ExpiresAt {
		t.Fatal("the answer holds a copy of the expiry")
	}
	if e.perms != permBit(keyward.PermKeysRead)|permBit(keyward.PermKeysVerify) || e.projectID != 5 {
		t.Fatalf("perms %b, project %d", e.perms, e.projectID)
	}
	if e.rare != nil {
		t.Fatalf("a plain key carries rare fields: %+v", e.rare)
	}
	// A second key with the same project, meta, roles and permissions shares them all.
	other := *cred
	other.ID, other.Name, other.Project = 43, "other", string([]byte("shop"))
	other.Meta = map[string]string{"tier": "gold"}
	f := c.newEntry(&other, nil, &keyward.User{ID: 1}, grants, []string{"reader", "verifier"}, nil, t0)
	if !sameMap(e.valid.Meta, f.valid.Meta) || &e.valid.Roles[0] != &f.valid.Roles[0] ||
		&e.valid.Permissions[0] != &f.valid.Permissions[0] || unsafe.StringData(e.valid.Project) != unsafe.StringData(f.valid.Project) {
		t.Fatal("equal values are not shared between entries")
	}
}

func TestInterner(t *testing.T) {
	t.Parallel()
	var in interner
	t.Run("Meta", func(t *testing.T) {
		a := in.meta(map[string]string{"a": "1", "b": "2"})
		if b := in.meta(map[string]string{"b": "2", "a": "1"}); !sameMap(a, b) {
			t.Fatal("equal metas not shared")
		}
		// Encodings must not confuse different metas.
		for _, m := range []map[string]string{{"a": "12"}, {"a1": "2"}, {"a": "1", "b": ""}, {"a": "1"}, {"a": "1", "b": "2", "c": "3"}} {
			if got := in.meta(m); sameMap(got, a) || !reflect.DeepEqual(got, m) {
				t.Fatalf("%v interned as %v", m, got)
			}
		}
		if in.meta(nil) != nil {
			t.Fatal("nil meta became a map")
		}
		e1, e2 := in.meta(map[string]string{}), in.meta(map[string]string{})
		if e1 == nil || !sameMap(e1, e2) {
			t.Fatal("empty metas not shared, or empty became nil")
		}
		big := map[string]string{"k": string(make([]byte, internMaxMeta))}
		if !sameMap(in.meta(big), big) {
			t.Fatal("a large meta was interned")
		}
	})
	t.Run("List", func(t *testing.T) {
		a := in.list([]string{"ab", "c"})
		if b := in.list([]string{"ab", "c"}); &a[0] != &b[0] {
			t.Fatal("equal lists not shared")
		}
		if b := in.list([]string{"a", "bc"}); reflect.DeepEqual(a, b) {
			t.Fatal("different lists confused")
		}
		if in.list(nil) != nil || in.list([]string{}) != nil {
			t.Fatal("an empty list is not nil")
		}
		// The shared slice has no room to grow into: appending to it copies.
		if cap(a) != len(a) {
			t.Fatalf("cap %d, len %d", cap(a), len(a))
		}
	})
	t.Run("Permissions", func(t *testing.T) {
		s := permBit(keyward.PermKeysRead) | permBit(keyward.PermAuditRead)
		a, b := in.permissions(s), in.permissions(s)
		if !reflect.DeepEqual(a, s.list()) || &a[0] != &b[0] {
			t.Fatalf("%v, %v", a, b)
		}
		if in.permissions(0) != nil {
			t.Fatal("no permissions is not nil")
		}
	})
	t.Run("Bounded", func(t *testing.T) {
		var in interner
		for i := 0; i < 3*internMax; i++ {
			s := fmt.Sprint(i)
			if in.str(s) != s {
				t.Fatal("interning changed a string")
			}
			in.meta(map[string]string{"k": s})
		}
		if len(in.strs) > internMax || len(in.metas) > internMax {
			t.Fatalf("%d strings, %d metas interned; bound %d", len(in.strs), len(in.metas), internMax)
		}
	})
}

func sameMap(a, b map[string]string) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// TestCacheIndexModel puts, reloads, evicts and invalidates at random, several secrets per
// credential, and checks after every step that each table's index holds exactly what it caches.
func TestCacheIndexModel(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	c := newCache(time.Minute, 3*cacheShards) // three entries per shard: evictions are frequent
	for step := 0; step < 20_000; step++ {
		var d [32]byte
		d[0], d[1] = byte(rng.IntN(2)), byte(rng.IntN(12)) // two shards, twelve digests each
		cred := int64(d[1] % 4)                            // three secrets per credential
		switch r := rng.IntN(100); {
		case r < 80:
			c.put(d, testEntry(cred, cred%2, t0), c.epoch.Load())
			c.putCaller(d, testCaller(cred, cred%2, t0), c.epoch.Load())
		case r < 95:
			c.invalidate(keyward.Invalidation{CredentialIDs: []int64{cred}})
		case r < 99:
			c.invalidate(keyward.Invalidation{UserIDs: []int64{cred % 2}})
		default:
			c.invalidate(keyward.Invalidation{All: true})
		}
		checkIndex(t, &c.entries)
		checkIndex(t, &c.callers)
	}
}

func checkIndex[E cached](t *testing.T, tb *table[E]) {
	t.Helper()
	for i := range tb.shards {
		s := &tb.shards[i]
		indexed := 0
		for id, first := range s.byCred {
			for _, d := range append([][32]byte{first}, s.more[id]...) {
				e, ok := s.entries[d]
				if got, _ := e.ids(); !ok || got != id {
					t.Fatalf("shard %d indexes %x under credential %d, which is not what it caches", i, d[:2], id)
				}
				indexed++
			}
		}
		for id, rest := range s.more {
			if _, ok := s.byCred[id]; !ok || len(rest) == 0 {
				t.Fatalf("shard %d: credential %d in more (%d) without a first digest", i, id, len(rest))
			}
		}
		if indexed != len(s.entries) || len(s.entries) > tb.perShard {
			t.Fatalf("shard %d: %d entries, %d indexed, bound %d", i, len(s.entries), indexed, tb.perShard)
		}
	}
}

// TestAgingSpread checks that entries loaded together come up for refresh at ages spread
// between half and nine tenths of the TTL, not all at once.
func TestAgingSpread(t *testing.T) {
	t.Parallel()
	c := newCache(10*time.Second, 100)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var first, last time.Duration = time.Hour, 0
	for i := range 1000 {
		d := sha256.Sum256([]byte(strconv.Itoa(i)))
		age := time.Duration(0)
		for ; !c.aging(&d, t0.UnixMicro(), t0.Add(age)); age += 10 * time.Millisecond {
			if age > 10*time.Second {
				t.Fatalf("key %d never ages", i)
			}
		}
		first, last = min(first, age), max(last, age)
	}
	if first < 5*time.Second || last > 9*time.Second || last-first < 3*time.Second {
		t.Fatalf("1000 keys age between %s and %s, want spread over 5-9 s", first, last)
	}
}
