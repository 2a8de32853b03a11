package authority

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

// entry is what authentication and verification need about one secret; never the secret. It is
// immutable once cached: readers share it without locks.
type entry struct {
	cred       *keyward.Credential
	validUntil *time.Time // the secret's grace end; nil for the current secret
	creator    *keyward.User
	grants     map[int64]map[keyward.Permission]bool
	perms      permSet // effective permissions in the credential's own project
	loaded     time.Time
	// valid is the answer to a plain verify while the credential is active, built once so that a
	// hit allocates nothing.
	valid *keyward.Verification
}

// permSet is a set of permissions as bits, in the order of keyward.AllPermissions.
type permSet uint32

func permBit(p keyward.Permission) permSet {
	for i, q := range keyward.AllPermissions {
		if q == p {
			return 1 << i
		}
	}
	return 0
}

func permsOf(m map[keyward.Permission]bool) permSet {
	var s permSet
	for p, ok := range m {
		if ok {
			s |= permBit(p)
		}
	}
	return s
}

func (s permSet) list() []keyward.Permission {
	var out []keyward.Permission
	for i, p := range keyward.AllPermissions {
		if s&(1<<i) != 0 {
			out = append(out, p)
		}
	}
	return out
}

const cacheShards = 64

// cache maps secret digests to entries. Sharded so that concurrent verifications rarely share
// a lock; bounded, evicting an arbitrary entry of a full shard; each entry lives at most ttl.
//
// A load that raced an invalidation must not put stale data back: every invalidation bumps
// epoch, and put refuses an entry loaded under an older epoch.
type cache struct {
	ttl      time.Duration
	perShard int
	epoch    atomic.Uint64
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu      sync.RWMutex
	entries map[[32]byte]*entry
	byCred  map[int64][][32]byte
}

func newCache(ttl time.Duration, maxEntries int) *cache {
	c := &cache{ttl: ttl, perShard: max(1, maxEntries/cacheShards)}
	for i := range c.shards {
		c.shards[i].entries = map[[32]byte]*entry{}
		c.shards[i].byCred = map[int64][][32]byte{}
	}
	return c
}

func (c *cache) shard(d [32]byte) *cacheShard { return &c.shards[d[0]%cacheShards] }

// get returns the live entry for digest d, or nil.
func (c *cache) get(d [32]byte, now time.Time) *entry {
	if c == nil {
		return nil
	}
	s := c.shard(d)
	s.mu.RLock()
	e := s.entries[d]
	s.mu.RUnlock()
	if e == nil || now.Sub(e.loaded) >= c.ttl || now.Before(e.loaded) {
		return nil
	}
	return e
}

// put caches e for d unless an invalidation happened since epoch was read.
func (c *cache) put(d [32]byte, e *entry, epoch uint64) {
	if c == nil {
		return
	}
	s := c.shard(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.epoch.Load() != epoch {
		return
	}
	if old, ok := s.entries[d]; ok {
		s.drop(d, old) // an expired entry being reloaded: keep the index free of duplicates
	} else if len(s.entries) >= c.perShard {
		for victim, old := range s.entries {
			s.drop(victim, old)
			break
		}
	}
	s.entries[d] = e
	s.byCred[e.cred.ID] = append(s.byCred[e.cred.ID], d)
}

func (s *cacheShard) drop(d [32]byte, e *entry) {
	delete(s.entries, d)
	ds := s.byCred[e.cred.ID]
	for i, x := range ds {
		if x == d {
			ds = append(ds[:i], ds[i+1:]...)
			break
		}
	}
	if len(ds) == 0 {
		delete(s.byCred, e.cred.ID)
	} else {
		s.byCred[e.cred.ID] = ds
	}
}

// invalidate drops every entry inv names. Users' entries are found by scanning, which is fine
// for what names users (disabling one, changing its bindings): rare next to verifications.
func (c *cache) invalidate(inv keyward.Invalidation) {
	if c == nil {
		return
	}
	c.epoch.Add(1)
	users := map[int64]bool{}
	for _, id := range inv.UserIDs {
		users[id] = true
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		switch {
		case inv.All:
			s.entries = map[[32]byte]*entry{}
			s.byCred = map[int64][][32]byte{}
		default:
			for _, id := range inv.CredentialIDs {
				for _, d := range append([][32]byte(nil), s.byCred[id]...) {
					if e := s.entries[d]; e != nil {
						s.drop(d, e)
					}
				}
			}
			if len(users) > 0 {
				for d, e := range s.entries {
					if users[e.creator.ID] {
						s.drop(d, e)
					}
				}
			}
		}
		s.mu.Unlock()
	}
}

// len counts the cached entries.
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}
