package authority

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

// The cache has two tables under one epoch and one invalidation. entries holds what
// verification needs about each secret, in as few bytes as possible: verification is what
// keyward does for millions of keys. callers holds what authentication needs (the whole
// credential, its creator, its grants) for the far fewer keys that call keyward's own API, in a
// smaller table. Neither holds a secret.

// entry is what verification needs about one secret. It is immutable once cached: readers share
// it without locks.
type entry struct {
	// valid is the answer to a plain verify while the credential is active: a hit returns a
	// pointer to it, shared and read-only, so that it allocates nothing. Its CredentialID, Name
	// and ExpiresAt are the entry's only copies of those; what many entries have in common
	// (project slug, environment, key type, meta, permissions, roles) is interned.
	valid     keyward.Verification
	projectID int64
	creatorID int64
	loaded    int64       // unix microseconds (the authority's clock has that precision)
	rare      *rareFields // nil for the many keys that have none of them
	perms     permSet     // effective permissions in the credential's own project
	flags     entryFlags
	memo      atomic.Pointer[Memo] // what surfaces render of valid (see Memo), made at first use
}

type entryFlags uint8

const (
	flagRevoked         entryFlags = 1 << iota // the credential's revoked_at is set
	flagInactive                               // the credential is not active
	flagCreatorInactive                        // its creator is disabled or deleted
	flagSession                                // a login session: its uses are not counted (usageRecorder.touch)
)

// rareFields are what most keys lack, apart so that those keys do not pay for them.
type rareFields struct {
	validUntil *time.Time // the secret's grace end; nil for the current secret
	notBefore  *time.Time
	limits     limits
	kube       *kubeFields // a KUBE_TOKEN's cluster and identity there
}

// limits are a key's rate limit and counted uses, what applyLimits needs.
type limits struct {
	rateLimit  *keyward.RateLimit
	limiterKey string // the rate limiter's key, built once here rather than on every verification
	refill     *keyward.Refill
	counted    bool // the credential's uses are counted (it has remaining)
}

// newLimits returns the limits of cred.
func newLimits(cred *keyward.Credential) limits {
	l := limits{rateLimit: cred.RateLimit, refill: cred.Refill, counted: cred.Remaining != nil}
	if l.rateLimit != nil {
		l.limiterKey = limiterKey(cred.ID)
	}
	return l
}

func (e *entry) credID() int64 { return e.valid.CredentialID }

// stateAt is keyward.Credential.StateAt over the entry's compact fields.
func (e *entry) stateAt(now time.Time) keyward.State {
	var notBefore *time.Time
	if e.rare != nil {
		notBefore = e.rare.notBefore
	}
	return keyward.StateOf(e.flags&flagRevoked != 0, e.flags&flagInactive == 0, notBefore, e.valid.ExpiresAt, now)
}

// secretLive is secretLive for the entry's secret.
func (e *entry) secretLive(now time.Time) bool {
	return e.rare == nil || secretLive(e.rare.validUntil, now)
}

func (e *entry) creatorActive() bool { return e.flags&flagCreatorInactive == 0 }

// kube returns what the entry keeps of a KUBE_TOKEN, nil for any other key.
func (e *entry) kube() *kubeFields {
	if e.rare == nil {
		return nil
	}
	return e.rare.kube
}

// cluster is the virtual cluster of a KUBE_TOKEN, "" for any other key.
func (e *entry) cluster() string {
	if k := e.kube(); k != nil {
		return k.cluster
	}
	return ""
}

// limits returns the key's limits, nil when it has none.
func (e *entry) limits() *limits {
	if e.rare == nil {
		return nil
	}
	return &e.rare.limits
}

func (e *entry) ids() (cred, creator int64) { return e.valid.CredentialID, e.creatorID }

// callerEntry is what authentication needs about one secret (or certificate).
type callerEntry struct {
	cred       *keyward.Credential
	active     *keyward.Credential // cred in StateActive, the one every Caller of it shares
	validUntil *time.Time          // the secret's grace end, or the certificate's revocation
	creator    *keyward.User
	grants     map[int64]map[keyward.Permission]bool
	loaded     int64 // unix microseconds
}

func (e *callerEntry) ids() (cred, creator int64) { return e.cred.ID, e.creator.ID }

func (e *callerEntry) creatorActive() bool { return !e.creator.Disabled && e.creator.DeletedAt == nil }

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

const (
	cacheShards = 64
	// callerCacheSize bounds the authentication table: API callers are few next to the keys
	// that are verified.
	callerCacheSize = 10_000
)

// cache maps secret digests to entries (and, apart, to caller entries). Sharded so that
// concurrent verifications rarely share a lock; bounded, evicting an arbitrary entry of a full
// shard; each entry lives at most ttl.
//
// A load that raced an invalidation must not put stale data back: every invalidation bumps
// epoch, and put refuses an entry loaded under an older epoch. One invalidation clears both
// tables.
type cache struct {
	ttl     int64 // microseconds, rounded up
	epoch   atomic.Uint64
	entries table[*entry]
	callers table[*callerEntry]
	intern  interner
}

func newCache(ttl time.Duration, maxEntries int) *cache {
	c := &cache{ttl: int64(ttl / time.Microsecond)}
	if ttl%time.Microsecond != 0 {
		c.ttl++
	}
	c.entries.init(maxEntries)
	c.callers.init(min(maxEntries, callerCacheSize))
	return c
}

// fresh reports whether an entry loaded at loaded (unix microseconds) may serve at now: not
// before it was loaded (a clock that went back), nor ttl or more after.
func (c *cache) fresh(loaded int64, now time.Time) bool {
	n := now.UnixMicro()
	return n >= loaded && n-loaded < c.ttl
}

// aging reports whether the entry under key d, loaded at loaded, is old enough to refresh: it
// is still served while one background load refreshes it. The age is between half and nine
// tenths of the TTL, spread by d (a SHA-256, so uniform), so that keys loaded together (after
// a start or an invalidation of everything) do not all ask the store again at once.
func (c *cache) aging(d *[32]byte, loaded int64, now time.Time) bool {
	if c == nil || c.ttl <= 0 {
		return false
	}
	spread := c.ttl * 2 / 5
	at := c.ttl / 2
	if spread > 0 {
		at += int64(binary.LittleEndian.Uint64(d[:8]) % uint64(spread))
	}
	return now.UnixMicro()-loaded >= at
}

// hardTTL is how long an entry may serve: a background refresh may take no longer.
func (c *cache) hardTTL() time.Duration { return time.Duration(c.ttl) * time.Microsecond }

// get returns the live verification entry for digest d, or nil.
func (c *cache) get(d [32]byte, now time.Time) *entry {
	if c == nil {
		return nil
	}
	e := c.entries.get(d)
	if e == nil || !c.fresh(e.loaded, now) {
		return nil
	}
	return e
}

// put caches e for d unless an invalidation happened since epoch was read.
func (c *cache) put(d [32]byte, e *entry, epoch uint64) {
	if c != nil {
		c.entries.put(d, e, &c.epoch, epoch)
	}
}

// getCaller returns the live authentication entry for key d, or nil.
func (c *cache) getCaller(d [32]byte, now time.Time) *callerEntry {
	if c == nil {
		return nil
	}
	e := c.callers.get(d)
	if e == nil || !c.fresh(e.loaded, now) {
		return nil
	}
	return e
}

// putCaller caches e for d unless an invalidation happened since epoch was read.
func (c *cache) putCaller(d [32]byte, e *callerEntry, epoch uint64) {
	if c != nil {
		c.callers.put(d, e, &c.epoch, epoch)
	}
}

// invalidate drops every entry inv names, from both tables. Users' entries are found by
// scanning, which is fine for what names users (disabling one, changing its bindings): rare
// next to verifications.
func (c *cache) invalidate(inv keyward.Invalidation) {
	if c == nil {
		return
	}
	c.epoch.Add(1)
	var users map[int64]bool
	if len(inv.UserIDs) > 0 {
		users = make(map[int64]bool, len(inv.UserIDs))
		for _, id := range inv.UserIDs {
			users[id] = true
		}
	}
	c.entries.invalidate(inv, users)
	c.callers.invalidate(inv, users)
}

// len counts the cached entries of both tables.
func (c *cache) len() int { return c.entries.len() + c.callers.len() }

// cached is what a table needs of its entries: whose they are, for invalidation.
type cached interface {
	comparable
	ids() (cred, creator int64)
}

// table is one sharded, bounded map from digests to entries, indexed by credential.
type table[E cached] struct {
	perShard int
	shards   [cacheShards]tableShard[E]
}

type tableShard[E cached] struct {
	mu      sync.RWMutex
	entries map[[32]byte]E
	// byCred finds a credential's digests in this shard: most credentials have one cached
	// secret, which byCred holds; the others (a rolled credential's old secret during its
	// grace period) are in more.
	byCred map[int64][32]byte
	more   map[int64][][32]byte
}

func (t *table[E]) init(maxEntries int) {
	t.perShard = max(1, maxEntries/cacheShards)
	for i := range t.shards {
		t.shards[i].reset()
	}
}

func (s *tableShard[E]) reset() {
	s.entries = map[[32]byte]E{}
	s.byCred = map[int64][32]byte{}
	s.more = nil
}

func (t *table[E]) shard(d [32]byte) *tableShard[E] { return &t.shards[d[0]%cacheShards] }

// get returns the entry for d, however old, or the zero E.
func (t *table[E]) get(d [32]byte) E {
	s := t.shard(d)
	s.mu.RLock()
	e := s.entries[d]
	s.mu.RUnlock()
	return e
}

// put stores e for d unless epoch no longer holds want.
func (t *table[E]) put(d [32]byte, e E, epoch *atomic.Uint64, want uint64) {
	s := t.shard(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	if epoch.Load() != want {
		return
	}
	if old, ok := s.entries[d]; ok {
		s.drop(d, old) // an expired entry being reloaded: keep the index free of duplicates
	} else if len(s.entries) >= t.perShard {
		for victim, old := range s.entries {
			s.drop(victim, old)
			break
		}
	}
	s.entries[d] = e
	id, _ := e.ids()
	if _, ok := s.byCred[id]; !ok {
		s.byCred[id] = d
	} else {
		if s.more == nil {
			s.more = map[int64][][32]byte{}
		}
		s.more[id] = append(s.more[id], d)
	}
}

// drop removes d, cached as e, and its index entry.
func (s *tableShard[E]) drop(d [32]byte, e E) {
	delete(s.entries, d)
	id, _ := e.ids()
	rest := s.more[id]
	if first, ok := s.byCred[id]; ok && first == d {
		if len(rest) == 0 {
			delete(s.byCred, id)
			return
		}
		s.byCred[id], rest = rest[len(rest)-1], rest[:len(rest)-1]
	} else if i := slices.Index(rest, d); i >= 0 {
		rest = slices.Delete(rest, i, i+1)
	}
	if len(rest) == 0 {
		delete(s.more, id)
	} else {
		s.more[id] = rest
	}
}

// digests returns the digests of credential id cached in this shard.
func (s *tableShard[E]) digests(id int64) [][32]byte {
	first, ok := s.byCred[id]
	if !ok {
		return nil
	}
	return append([][32]byte{first}, s.more[id]...)
}

func (t *table[E]) invalidate(inv keyward.Invalidation, users map[int64]bool) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		switch {
		case inv.All:
			s.reset()
		default:
			for _, id := range inv.CredentialIDs {
				for _, d := range s.digests(id) {
					if e, ok := s.entries[d]; ok {
						s.drop(d, e)
					}
				}
			}
			if len(users) > 0 {
				for d, e := range s.entries {
					if _, creator := e.ids(); users[creator] {
						s.drop(d, e)
					}
				}
			}
		}
		s.mu.Unlock()
	}
}

func (t *table[E]) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}

// flights runs one load per key at a time: whoever asks for a key while its load runs waits
// for that load's answer instead of asking the store again (no thundering herd on a hot key
// whose entry expired or was invalidated). E is the entry a load builds.
type flights[E any] struct {
	mu sync.Mutex
	m  map[[32]byte]*flight[E]
}

// flight is one load under way.
type flight[E any] struct {
	done    chan struct{}
	e       *E
	err     error
	waiting int // callers that joined it, guarded by flights.mu (tests read it: export_test.go)
}

// join returns the load of d under way, or starts one that the caller leads and must finish.
func (f *flights[E]) join(d [32]byte) (fl *flight[E], leader bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl := f.m[d]; fl != nil {
		fl.waiting++
		return fl, false
	}
	if f.m == nil {
		f.m = map[[32]byte]*flight[E]{}
	}
	fl = &flight[E]{done: make(chan struct{})}
	f.m[d] = fl
	return fl, true
}

// finish publishes the leader's answer to the waiters.
func (f *flights[E]) finish(d [32]byte, fl *flight[E], e *E, err error) {
	f.mu.Lock()
	delete(f.m, d)
	f.mu.Unlock()
	fl.e, fl.err = e, err
	close(fl.done)
}

// wait returns the flight's answer, or gives up when ctx ends.
func (fl *flight[E]) wait(ctx context.Context) (*E, error) {
	select {
	case <-fl.done:
		return fl.e, fl.err
	case <-ctx.Done():
		return nil, keyward.Errorf(keyward.ETimeout, "verification timed out waiting for the store")
	}
}

// internMax bounds each of the interner's maps; a full one starts over. Sharing is only an
// optimisation: values already handed out stay valid.
const internMax = 1024

// internMaxMeta is the largest meta (encoded) that is interned; bigger ones are kept as they
// are, being unlikely to be shared.
const internMaxMeta = 512

// interner shares equal values among cache entries, so that a million keys of one project,
// with the same roles and the same meta, store those once.
type interner struct {
	mu    sync.Mutex
	strs  map[string]string
	metas map[string]map[string]string
	lists map[string][]string
	perms map[permSet][]keyward.Permission
}

func internIn[K comparable, V any](m *map[K]V, k K, v V) V {
	if got, ok := (*m)[k]; ok {
		return got
	}
	if *m == nil || len(*m) >= internMax {
		*m = make(map[K]V)
	}
	(*m)[k] = v
	return v
}

// str returns the shared copy of s.
func (in *interner) str(s string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return internIn(&in.strs, s, s)
}

// meta returns the shared map equal to m (nil for nil, so that nil and empty stay apart).
func (in *interner) meta(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	keys := make([]string, 0, len(m))
	size := 0
	for k, v := range m {
		keys = append(keys, k)
		size += len(k) + len(v) + 2*binary.MaxVarintLen16
	}
	if size > internMaxMeta {
		return m
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(m[k])))
		b = append(b, m[k]...)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return internIn(&in.metas, string(b), m)
}

// list returns the shared slice equal to l (nil for an empty one).
func (in *interner) list(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	var b []byte
	for _, s := range l {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return internIn(&in.lists, string(b), slices.Clip(l))
}

// permissions returns the shared list of the permissions in s.
func (in *interner) permissions(s permSet) []keyward.Permission {
	in.mu.Lock()
	defer in.mu.Unlock()
	if l, ok := in.perms[s]; ok {
		return l
	}
	return internIn(&in.perms, s, s.list())
}

// newEntry builds the verification entry of a credential opened by a secret that is valid
// until validUntil (nil: no end of its own), created by creator, with grants and role names,
// and, for a KUBE_TOKEN, kube.
func (c *cache) newEntry(cred *keyward.Credential, validUntil *time.Time, creator *keyward.User, grants map[int64]map[keyward.Permission]bool, roles []string, kube *kubeFields, now time.Time) *entry {
	in := &c.intern
	e := &entry{projectID: cred.ProjectID, creatorID: creator.ID, loaded: now.UnixMicro(),
		perms: permsOf(effective(grants, cred.ProjectID))}
	e.valid = keyward.Verification{
		Valid: true, Code: keyward.CodeValid, CredentialID: cred.ID, Name: cred.Name,
		Project: in.str(cred.Project), Environment: keyward.Environment(in.str(string(cred.Environment))),
		KeyType: keyward.KeyType(in.str(string(cred.KeyType))), Meta: in.meta(cred.Meta),
		ExpiresAt: cred.ExpiresAt, Permissions: in.permissions(e.perms), Roles: in.list(roles),
	}
	if cred.RevokedAt != nil {
		e.flags |= flagRevoked
	}
	if !cred.Active {
		e.flags |= flagInactive
	}
	if creator.Disabled || creator.DeletedAt != nil {
		e.flags |= flagCreatorInactive
	}
	if cred.Type == keyward.Session {
		e.flags |= flagSession
	}
	if validUntil != nil || cred.NotBefore != nil || cred.RateLimit != nil || cred.Remaining != nil || kube != nil {
		e.rare = &rareFields{validUntil: validUntil, notBefore: cred.NotBefore, kube: kube,
			limits: newLimits(cred)}
	}
	return e
}
