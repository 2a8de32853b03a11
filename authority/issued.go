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

// The set of issued secrets answers a key that was never issued from memory: the checksum of a
// key is public, so anyone can mint well-formed keys, and without the set each would cost a
// database query on an unauthenticated endpoint.
//
// It holds the first 8 bytes of every stored secret's digest, as uint64s in a sorted slice
// searched without locks: 8 bytes per issued secret (TestIssuedMemory logs 8.0 MB per
// million; a map of [32]byte would take several times that). A prefix is not the digest, so a hit only says
// "maybe": the cache's miss path asks the store, which decides; the answer stays exact, and a
// never-issued key reaches the store only when its prefix collides with one of n issued ones
// (probability n/2^64).
//
// How it stays current, on every replica:
//   - at start it is loaded from the store (SecretDigests, page by page), in the background;
//     until that load ends it is not ready and every key missing from it is looked up;
//   - a secret created through this authority is added once its write commits, before the
//     create returns (issuingStore);
//   - on a store with a change feed (PostgreSQL), every committed create announces its digests
//     (keyward.Invalidation.Secrets) and every replica adds them as they arrive; an
//     invalidation of everything (a gap in the feed, a role change, an import) reloads the set;
//     while the feed is down the set is not ready (every missing key is looked up) until the
//     reload after it reconnects ends;
//   - a key created on another replica may be presented here before its announcement arrives
//     (measured 5-31 ms median, docs/replicas.md): so, on a store with a change feed, a key
//     missing from a ready set is still looked up, at most unknownKeyLookups times a second per
//     replica. A flood of never-issued keys costs the database that many queries a second and
//     no more; a valid key is refused only when it arrives before its announcement while such
//     a flood has used up the second's look-ups, which ends when the announcement arrives.
//
// Secrets deleted from the store (a rolled secret past its grace period) stay in the set until
// the next reload: presenting one costs a store query, as every key did before the set.
// On a store one server owns (keyward.SingleServer: the embedded SQLite) every write goes
// through this authority but an offline command's, which the store's feed reports as an
// invalidation of everything within a second (reloading the set); so the set is exact and a
// missing key never reaches the store. Without a feed at all, the same holds minus that report.
type issued struct {
	snap atomic.Pointer[issuedSnap]

	mu      sync.Mutex // serialises writers; readers only load snap
	loading bool       // a load is under way: pending collects what it may not see
	pending []uint64
	gaps    uint64 // counts stale: a load that saw one start under it is not ready
}

// issuedSnap is one immutable state of the set.
type issuedSnap struct {
	base   []uint64 // sorted, unique
	recent []uint64 // sorted, unique, at most recentMax: what was added since base was built
	ready  bool     // base holds every secret stored when it was loaded, and nothing was missed since
}

// recentMax bounds recent, so that an addition copies at most this many prefixes; reaching it
// merges recent into base.
const recentMax = 1024

// unknownKeyLookups is how many keys missing from a ready set a replica sharing its store
// still looks up each second (see issued).
const unknownKeyLookups = 100

func newIssued() *issued {
	s := &issued{}
	s.snap.Store(&issuedSnap{})
	return s
}

func prefixOf(d []byte) uint64 { return binary.BigEndian.Uint64(d[:8]) }

// has reports whether a digest with d's prefix may have been issued, and whether the set is
// ready (a miss in a set that is not ready says nothing).
func (s *issued) has(d *[32]byte) (hit, ready bool) {
	p := prefixOf(d[:])
	sn := s.snap.Load()
	if _, ok := slices.BinarySearch(sn.base, p); ok {
		return true, sn.ready
	}
	_, ok := slices.BinarySearch(sn.recent, p)
	return ok, sn.ready
}

// add puts digests into the set.
func (s *issued) add(digests ...[]byte) {
	if len(digests) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := s.snap.Load()
	recent := sn.recent
	copied := false
	for _, d := range digests {
		if len(d) < 8 {
			continue
		}
		p := prefixOf(d)
		if s.loading {
			s.pending = append(s.pending, p)
		}
		if _, ok := slices.BinarySearch(sn.base, p); ok {
			continue
		}
		i, ok := slices.BinarySearch(recent, p)
		if ok {
			continue
		}
		if !copied {
			recent, copied = slices.Clone(recent), true
		}
		recent = slices.Insert(recent, i, p)
	}
	if !copied {
		return
	}
	next := &issuedSnap{base: sn.base, recent: recent, ready: sn.ready}
	if len(recent) >= recentMax {
		next.base, next.recent = mergeSorted(sn.base, recent), nil
	}
	s.snap.Store(next)
}

// stale marks the set not ready: creates may have been missed (the change feed is down).
func (s *issued) stale() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gaps++
	sn := *s.snap.Load()
	sn.ready = false
	s.snap.Store(&sn)
}

// load replaces the set with every digest the store holds, plus what was added meanwhile.
func (s *issued) load(ctx context.Context, store digestSource) error {
	const page = 1000 // the store's largest
	s.mu.Lock()
	s.loading, s.pending = true, nil
	gaps := s.gaps
	s.mu.Unlock()
	var all []uint64
	var after []byte
	for {
		digests, err := store.SecretDigests(ctx, after, page)
		if err != nil {
			s.mu.Lock()
			s.loading, s.pending = false, nil
			s.mu.Unlock()
			return err
		}
		for _, d := range digests {
			if len(d) >= 8 {
				all = append(all, prefixOf(d))
			}
		}
		if len(digests) < page {
			break
		}
		after = digests[len(digests)-1]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all = append(all, s.pending...)
	slices.Sort(all)
	s.snap.Store(&issuedSnap{base: slices.Clone(slices.Compact(all)), ready: gaps == s.gaps}) // a clone holds no spare capacity
	s.loading, s.pending = false, nil
	return nil
}

// digestSource is what load reads: keyward.CredentialStore's SecretDigests.
type digestSource interface {
	SecretDigests(ctx context.Context, after []byte, limit int) ([][]byte, error)
}

// len counts the prefixes held.
func (s *issued) len() int {
	sn := s.snap.Load()
	return len(sn.base) + len(sn.recent)
}

// mergeSorted returns the sorted union of two sorted, unique slices, in a new slice.
func mergeSorted(a, b []uint64) []uint64 {
	out := make([]uint64, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// lookupBudget lets at most limit store look-ups a second through; approximate at the turn
// of a second, without a lock on the path a flood of unknown keys takes.
type lookupBudget struct {
	limit int64
	sec   atomic.Int64
	used  atomic.Int64
}

func (b *lookupBudget) take(now time.Time) bool {
	if b == nil {
		return false
	}
	if sec := now.Unix(); b.sec.Load() != sec && b.sec.Swap(sec) != sec {
		b.used.Store(0)
	}
	return b.used.Add(1) <= b.limit
}

// mayBeIssued reports whether the secret with digest d may exist, so that it is worth asking
// the store; false answers it as never issued without asking. See issued.
func (a *Authority) mayBeIssued(d *[32]byte, now time.Time) bool {
	hit, ready := a.issued.has(d)
	return hit || !ready || a.unknownBudget.take(now)
}

// loadIssued (re)loads the set of issued secrets each time one is asked for, until ctx ends.
func (a *Authority) loadIssued(ctx context.Context, want <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-want:
		}
		for ctx.Err() == nil {
			err := a.issued.load(ctx, a.store)
			if err == nil || ctx.Err() != nil {
				break
			}
			a.logger.Warn("loading the set of issued secrets failed; unknown keys are looked up until it loads", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// reloadIssued asks loadIssued for a load; requests made while one is pending coalesce.
func (a *Authority) reloadIssued() {
	select {
	case a.issuedWant <- struct{}{}:
	default:
	}
}

// issuingStore is the store as the authority uses it: every secret written through it is added
// to the set of issued secrets once its write is committed (inside WithTx, once the outermost
// transaction commits), before the call that made it returns.
type issuingStore struct {
	keyward.Store
	added func(digests ...[]byte)
}

func (s issuingStore) CreateCredential(ctx context.Context, c *keyward.Credential, sec *keyward.CredentialSecret, ev *keyward.Event) error {
	err := s.Store.CreateCredential(ctx, c, sec, ev)
	if err == nil && sec != nil {
		s.added(sec.Digest)
	}
	return err
}

func (s issuingStore) RollCredential(ctx context.Context, c *keyward.Credential, sec *keyward.CredentialSecret, graceUntil time.Time, ev *keyward.Event) error {
	err := s.Store.RollCredential(ctx, c, sec, graceUntil, ev)
	if err == nil && sec != nil {
		s.added(sec.Digest)
	}
	return err
}

func (s issuingStore) Bootstrap(ctx context.Context, b *keyward.Bootstrap) error {
	err := s.Store.Bootstrap(ctx, b)
	if err == nil && b.Secret != nil {
		s.added(b.Secret.Digest)
	}
	return err
}

func (s issuingStore) WithTx(ctx context.Context, fn func(tx keyward.Store) error) error {
	var mu sync.Mutex
	var created [][]byte
	err := s.Store.WithTx(ctx, func(tx keyward.Store) error {
		return fn(issuingStore{tx, func(d ...[]byte) {
			mu.Lock()
			created = append(created, d...) // a retried attempt's too: a superset is harmless
			mu.Unlock()
		}})
	})
	if err == nil {
		s.added(created...)
	}
	return err
}
