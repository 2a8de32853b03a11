package authority

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlitetest"
	"github.com/keyward/keyward/token"
)

// countingStore counts the reads verification and authentication may make, and can hold
// CredentialBySecret until released.
type countingStore struct {
	keyward.Store
	bySecret, other atomic.Int64
	hold            atomic.Pointer[chan struct{}]
}

func (s *countingStore) CredentialBySecret(ctx context.Context, d []byte) (*keyward.Credential, *keyward.CredentialSecret, error) {
	s.bySecret.Add(1)
	if h := s.hold.Load(); h != nil {
		<-*h
	}
	return s.Store.CredentialBySecret(ctx, d)
}

func (s *countingStore) VerificationBySecret(ctx context.Context, d []byte) (*keyward.VerificationRecord, error) {
	s.bySecret.Add(1)
	if h := s.hold.Load(); h != nil {
		<-*h
	}
	return s.Store.VerificationBySecret(ctx, d)
}

func (s *countingStore) UserByID(ctx context.Context, id int64) (*keyward.User, error) {
	s.other.Add(1)
	return s.Store.UserByID(ctx, id)
}

func (s *countingStore) Roles(ctx context.Context) ([]*keyward.Role, error) {
	s.other.Add(1)
	return s.Store.Roles(ctx)
}

func (s *countingStore) RoleBindings(ctx context.Context, id int64) ([]keyward.RoleBinding, error) {
	s.other.Add(1)
	return s.Store.RoleBindings(ctx, id)
}

// feedStore is a store with a change feed the test drives.
type feedStore struct {
	*countingStore
	changes chan keyward.Invalidation
	fail    chan error
}

func (s *feedStore) Watch(ctx context.Context, fn func(keyward.Invalidation)) error {
	fn(keyward.Invalidation{All: true}) // as a feed does at start
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-s.fail:
			return err
		case inv := <-s.changes:
			fn(inv)
		}
	}
}

// issuedEnv is an authority over a counting SQLite store, bootstrapped, with an admin caller.
type issuedEnv struct {
	a     *Authority
	raw   keyward.Store
	s     *countingStore
	admin context.Context
	now   atomic.Pointer[time.Time]
}

func newIssuedEnv(t *testing.T, feed *feedStore, opts Options) *issuedEnv {
	t.Helper()
	ctx := context.Background()
	raw, err := sqlite.Open(ctx, sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	e := &issuedEnv{raw: raw, s: &countingStore{Store: raw}}
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	e.now.Store(&t0)
	opts.Now = func() time.Time { return *e.now.Load() }
	opts.UsageFlushInterval = time.Hour
	var store keyward.Store = e.s
	if feed != nil {
		feed.countingStore = e.s
		store = feed
	}
	e.a = New(store, opts)
	t.Cleanup(func() { e.a.Close() })
	tok, err := e.a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.a.Authenticate(ctx, tok, "")
	if err != nil {
		t.Fatal(err)
	}
	e.admin = keyward.NewContext(ctx, c)
	if feed != nil {
		feed.changes <- keyward.Invalidation{} // the feed has delivered its first invalidation
	}
	if err := e.a.WaitIssued(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *issuedEnv) advance(d time.Duration) {
	t := e.now.Load().Add(d)
	e.now.Store(&t)
}

func (e *issuedEnv) create(t *testing.T, name string) string {
	t.Helper()
	k, err := e.a.CreateCredential(e.admin, keyward.SystemProject, keyward.CreateCredentialInput{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return k.Key
}

func (e *issuedEnv) verify(t *testing.T, key string) string {
	t.Helper()
	v, err := e.a.Verify(e.admin, keyward.VerifyInput{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return v.Code
}

func newKey(t *testing.T) string {
	t.Helper()
	k, err := token.New(keyward.Live)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestNeverIssuedKeysSkipStore: on a store without a change feed, well-formed keys that were
// never issued are refused, by Verify and by Authenticate, without a single store call, while
// every key issued through the authority (created, rolled, made inside a unit of work) verifies
// at once.
func TestNeverIssuedKeysSkipStore(t *testing.T) {
	t.Parallel()
	e := newIssuedEnv(t, nil, Options{})
	before, other := e.s.bySecret.Load(), e.s.other.Load()
	for range 1000 {
		k := newKey(t)
		if got := e.verify(t, k); got != keyward.CodeNotFound {
			t.Fatalf("never-issued key: %s, want NOT_FOUND", got)
		}
		if _, err := e.a.Authenticate(context.Background(), k, ""); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("Authenticate(never-issued) = %v, want unauthenticated", err)
		}
	}
	if n, m := e.s.bySecret.Load()-before, e.s.other.Load()-other; n != 0 || m != 0 {
		t.Fatalf("1000 never-issued keys made %d CredentialBySecret and %d other store calls, want 0", n, m)
	}

	k := e.create(t, "fresh")
	if got := e.verify(t, k); got != keyward.CodeValid {
		t.Fatalf("created key: %s, want VALID", got)
	}
	rolled, err := e.a.RollCredential(e.admin, keyward.SystemProject, "fresh", keyward.RollInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.verify(t, rolled.Key); got != keyward.CodeValid {
		t.Fatalf("rolled key: %s, want VALID", got)
	}
	_, both, err := e.a.UpdateAndRollCredential(e.admin, keyward.SystemProject, "fresh", &keyward.UpdateCredentialInput{Description: ptrTo("in one unit")}, &keyward.RollInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.verify(t, both.Key); got != keyward.CodeValid {
		t.Fatalf("key rolled in a unit of work: %s, want VALID", got)
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestIssuedAcrossReplicas: with a change feed, a key created elsewhere (straight into the
// store here) verifies before its announcement while the second's look-ups last; once a flood
// of never-issued keys has used them up, never-issued keys cost no store call and the unseen
// key waits for its announcement, which makes it verifiable. A broken feed makes every unknown
// key looked up again until the reload after it reconnects.
func TestIssuedAcrossReplicas(t *testing.T) {
	t.Parallel()
	feed := &feedStore{changes: make(chan keyward.Invalidation), fail: make(chan error)}
	e := newIssuedEnv(t, feed, Options{})
	other := New(e.raw, Options{Now: e.a.now, UsageFlushInterval: time.Hour}) // another replica, unannounced
	t.Cleanup(func() { other.Close() })
	elsewhere := func(name string) string {
		k, err := other.CreateCredential(e.admin, keyward.SystemProject, keyward.CreateCredentialInput{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return k.Key
	}

	if got := e.verify(t, elsewhere("early")); got != keyward.CodeValid {
		t.Fatalf("key created elsewhere, not yet announced: %s, want VALID", got)
	}
	for range unknownKeyLookups {
		e.verify(t, newKey(t))
	}
	before := e.s.bySecret.Load()
	for range 1000 {
		if got := e.verify(t, newKey(t)); got != keyward.CodeNotFound {
			t.Fatalf("never-issued key: %s", got)
		}
	}
	if n := e.s.bySecret.Load() - before; n != 0 {
		t.Fatalf("never-issued keys past the second's look-ups made %d store calls, want 0", n)
	}
	late := elsewhere("late")
	if got := e.verify(t, late); got != keyward.CodeNotFound {
		t.Fatalf("unannounced key with the look-ups used up: %s, want NOT_FOUND (the documented window)", got)
	}
	d := digestOf(late)
	feed.changes <- keyward.Invalidation{Secrets: [][]byte{d[:]}}
	feed.changes <- keyward.Invalidation{} // delivered after the one before
	if got := e.verify(t, late); got != keyward.CodeValid {
		t.Fatalf("announced key: %s, want VALID", got)
	}

	// The feed breaks: creates elsewhere may go unannounced, so unknown keys are looked up.
	feed.fail <- context.DeadlineExceeded
	deadline := time.Now().Add(5 * time.Second)
	for e.a.issued.snap.Load().ready {
		if time.Now().After(deadline) {
			t.Fatal("the set stayed ready after the feed broke")
		}
		time.Sleep(time.Millisecond)
	}
	if got := e.verify(t, elsewhere("during-gap")); got != keyward.CodeValid {
		t.Fatalf("key created while the feed was down: %s, want VALID", got)
	}
	if err := e.a.WaitIssued(context.Background()); err != nil { // the reconnection reloads it
		t.Fatal(err)
	}
	e.advance(time.Second) // a new second of look-ups, which the next line must not need
	for range unknownKeyLookups {
		e.verify(t, newKey(t))
	}
	gap := elsewhere("after-gap")
	if got := e.verify(t, gap); got != keyward.CodeNotFound {
		t.Fatalf("unannounced key with look-ups used up: %s", got)
	}
}

// lookupCase is one of the two ways a key is looked up, each with its own cache table and
// loads: verification (Verify) and authentication as an API caller (Authenticate).
type lookupCase struct {
	name string
	// use presents the key: "VALID" when it is accepted, else the verification code or the
	// error's code.
	use func(e *issuedEnv, key string) string
	// waiters is how many wait on the load of digest d under way.
	waiters func(a *Authority, d [32]byte) int
	// otherReads is whether a load reads more than the secret's row (an API caller's user and
	// bindings; a verification takes roles from the snapshot and its record in one query).
	otherReads bool
	revoked    string // what use says once the key is revoked
}

var lookupCases = []lookupCase{
	{name: "verify", use: func(e *issuedEnv, k string) string {
		v, err := e.a.Verify(e.admin, keyward.VerifyInput{Key: k})
		if err != nil {
			return string(keyward.ErrorCode(err))
		}
		return v.Code
	}, waiters: (*Authority).LoadWaiters, revoked: keyward.CodeRevoked},
	{name: "authenticate", use: func(e *issuedEnv, k string) string {
		if _, err := e.a.Authenticate(context.Background(), k, ""); err != nil {
			return string(keyward.ErrorCode(err))
		}
		return keyward.CodeValid
	}, waiters: (*Authority).CallerLoadWaiters, otherReads: true, revoked: string(keyward.EUnauthenticated)},
}

// TestOneLoadPerKey: concurrent lookups of a key that is not cached make one store load (no
// thundering herd when a hot key's entry expires), and a verification's load is one query: the
// roles come from the authority's snapshot.
func TestOneLoadPerKey(t *testing.T) {
	t.Parallel()
	for _, c := range lookupCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newIssuedEnv(t, nil, Options{})
			k := e.create(t, "hot")
			c.use(e, k) // the roles snapshot is read once
			e.a.cache.invalidate(keyward.Invalidation{All: true})
			hold := make(chan struct{})
			e.s.hold.Store(&hold)
			before, other := e.s.bySecret.Load(), e.s.other.Load()
			var wg sync.WaitGroup
			for range 32 {
				wg.Go(func() {
					if got := c.use(e, k); got != keyward.CodeValid {
						t.Errorf("%s: %s", c.name, got)
					}
				})
			}
			// Release the load only once the 31 others wait on it, so that none can find the
			// key cached instead.
			d := sha256.Sum256([]byte(k))
			for deadline := time.Now().Add(10 * time.Second); c.waiters(e.a, d) < 31; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					close(hold)
					t.Fatalf("%d lookups joined the load under way, want 31", c.waiters(e.a, d))
				}
			}
			e.s.hold.Store(nil)
			close(hold)
			wg.Wait()
			n, m := e.s.bySecret.Load()-before, e.s.other.Load()-other
			if n != 1 || (!c.otherReads && m != 0) {
				t.Fatalf("32 concurrent lookups of one uncached key made %d loads and %d other reads, want 1 and 0", n, m)
			}
		})
	}
}

// TestStaleWhileRevalidate: past half its TTL (how far past depends on the key) a cached key is
// answered from its entry while one background load refreshes it; past the TTL it is loaded
// before answering; a revocation is refused at once, whatever the entry's age.
func TestStaleWhileRevalidate(t *testing.T) {
	t.Parallel()
	for _, c := range lookupCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newIssuedEnv(t, nil, Options{CacheTTL: 10 * time.Second})
			k := e.create(t, "hot")
			c.use(e, k)
			e.advance(9500 * time.Millisecond) // past the latest age at which an entry refreshes (9 s)
			hold := make(chan struct{})
			e.s.hold.Store(&hold)
			before := e.s.bySecret.Load()
			for range 10 {
				if got := c.use(e, k); got != keyward.CodeValid { // answered while the refresh waits
					t.Fatalf("aging key: %s", got)
				}
			}
			e.s.hold.Store(nil)
			close(hold)
			e.a.refreshes.Wait()
			if n := e.s.bySecret.Load() - before; n != 1 {
				t.Fatalf("10 lookups of an aging key made %d loads, want 1 (in the background)", n)
			}
			e.advance(time.Second) // 10.5 s after the first load, 1 s after the refresh
			before = e.s.bySecret.Load()
			c.use(e, k)
			if n := e.s.bySecret.Load() - before; n != 0 {
				t.Fatalf("a refreshed entry was loaded again (%d)", n)
			}
			if _, err := e.a.RevokeCredential(e.admin, keyward.SystemProject, "hot"); err != nil {
				t.Fatal(err)
			}
			if got := c.use(e, k); got != c.revoked {
				t.Fatalf("revoked key: %s, want %s", got, c.revoked)
			}
		})
	}
}

// TestIssuedMemory measures the set's memory per million issued secrets.
func TestIssuedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a million digests")
	}
	const n = 1_000_000
	digests := make([][]byte, n)
	for i := range digests {
		var b [16]byte
		rand.Read(b[:])
		d := sha256.Sum256(b[:])
		digests[i] = d[:]
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	s := newIssued()
	s.load(context.Background(), digestPages(digests))
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := float64(m1.HeapAlloc-m0.HeapAlloc) / n
	t.Logf("MEASURED set of issued secrets: %.1f bytes per secret, %.1f MB per million", per, per)
	if s.len() != n {
		t.Fatalf("set holds %d, want %d", s.len(), n)
	}
	if per > 12 {
		t.Fatalf("%.1f bytes per secret, want about 8", per)
	}
	runtime.KeepAlive(digests)
}

// digestPages serves SecretDigests from unsorted digests, as pages in any order would do.
type digestPages [][]byte

func (p digestPages) SecretDigests(_ context.Context, after []byte, limit int) ([][]byte, error) {
	if after != nil {
		return nil, nil
	}
	return p, nil
}
