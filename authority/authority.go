// Package authority is keyward's lifecycle: it creates, reads, renews, rolls, revokes and
// verifies credentials and decides who may do so. It is the only package that holds business
// rules; the HTTP API and the dialects parse, call one method here, and render.
package authority

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/ca"
	"github.com/keyward/keyward/internal/cacheline"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/password"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/token"
)

// Authority implements the credential lifecycle over a Store.
type Authority struct {
	store          keyward.Store
	now            func() time.Time
	logger         *slog.Logger
	usage          *usageRecorder
	graceEnds      *graceEnder // ends first-use roll graces off the verification path
	limiter        ratelimit.Limiter
	loginUserRate  ratelimit.Rate
	loginAddrRate  ratelimit.Rate
	passwordParams password.Params
	hashSlots      chan struct{} // bounds concurrent argon2 runs: see hashSlot
	dummyOnce      sync.Once     // makes dummyHash: see checkDummy
	// checkPassword is password.Check; a test counts through it that every login attempt costs
	// one argon2id run at one cost, whatever the name (timing parity without timing).
	checkPassword func(pass, encoded string) (bool, error)
	dummyHash     string
	cache         *cache
	storeTimeout  time.Duration // see Options.StoreTimeout
	metrics       stats
	mk            *masterkey.Key
	chainReady    atomic.Bool // InitAuditChain did its work
	ca            atomic.Pointer[ca.CA]
	stopWatch     context.CancelFunc
	watchDone     chan struct{}

	issued        *issued       // every issued secret's digest prefix: see issued.go
	unknownBudget *lookupBudget // nil without a change feed: the set is exact then
	issuedWant    chan struct{}
	stopIssued    context.CancelFunc
	issuedDone    chan struct{}
	loads         flights[entry]       // one store load per key at a time
	callerLoads   flights[callerEntry] // the same for authentication entries
	refreshMu     sync.Mutex           // guards closed against refreshes starting while Close waits
	closed        bool
	refreshes     sync.WaitGroup
	refreshing    atomic.Int64 // background refreshes under way (maxRefreshes)
	roleSnap      atomic.Pointer[roleSnapshot]
	roleGen       atomic.Uint64 // counts invalidations of everything: see snapshotRoles
}

// stats counts what the hot path does, for metrics. Each count is split over statShards
// counters, each on its own cache line and picked by the key's digest, so that verifications
// on different cores do not take turns owning one line; a read sums them.
type stats struct {
	shards [statShards]statShard
}

const statShards = 16

type statShard struct {
	hits, misses atomic.Uint64
	_            [cacheline.Pad - 16]byte
}

func (s *stats) cacheHit(d *[32]byte)  { s.shards[d[31]%statShards].hits.Add(1) }
func (s *stats) cacheMiss(d *[32]byte) { s.shards[d[31]%statShards].misses.Add(1) }

func (s *stats) read() (hits, misses uint64) {
	for i := range s.shards {
		hits += s.shards[i].hits.Load()
		misses += s.shards[i].misses.Load()
	}
	return hits, misses
}

// Stats are counters of the verification cache.
type Stats struct {
	CacheHits, CacheMisses uint64
	CacheEntries           int
}

// Stats returns the cache's counters.
func (a *Authority) Stats() Stats {
	hits, misses := a.metrics.read()
	return Stats{CacheHits: hits, CacheMisses: misses, CacheEntries: a.cache.len()}
}

// Options configure an Authority. Zero values pick the defaults.
type Options struct {
	// Now is the clock; tests inject one. Default time.Now.
	Now func() time.Time
	// Logger receives operational messages; never a secret. Default slog.Default().
	Logger *slog.Logger
	// UsageFlushInterval is how often last_used_at and the hourly usage counts are written, in
	// one batch. Default 1s.
	UsageFlushInterval time.Duration
	// Limiter throttles failed logins. Default: in memory, per process.
	Limiter ratelimit.Limiter
	// LoginUserRate and LoginAddrRate bound failed logins per user name and per source
	// address. Defaults DefaultLoginUserRate and DefaultLoginAddrRate.
	LoginUserRate, LoginAddrRate ratelimit.Rate
	// PasswordParams is the argon2id cost of new password hashes. Default password.Default.
	PasswordParams password.Params
	// MaxConcurrentHashes bounds the password hashes (logins, password changes, new users with
	// a password) computed at once, each holding PasswordParams.Memory; one more is refused at
	// once with EUnavailable. Default DefaultMaxConcurrentHashes().
	MaxConcurrentHashes int
	// CacheTTL bounds how long a verification result is reused without asking the store: the
	// worst case for a change to reach this server when change notifications are lost.
	// Default DefaultCacheTTL.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached secrets for verification; the cache of API callers
	// (authentication, with their full records) holds at most min(CacheSize, 10,000).
	// Default DefaultCacheSize.
	CacheSize int
	// StoreTimeout bounds the store and rate-limiter calls of a verification or an
	// authentication (an earlier deadline of the context wins): the hot HTTP endpoints set no
	// deadline of their own, since a cached answer needs no timer. Default DefaultStoreTimeout.
	StoreTimeout time.Duration
	// MasterKey seals the CA's keys, recoverable tokens and the audit chain key. Without it the
	// authority issues API tokens only and its events carry no MAC; InitAuditChain and InitCA
	// then load or create the chain key and the CA.
	MasterKey *masterkey.Key
}

// Cache defaults.
const (
	DefaultCacheTTL  = 10 * time.Second
	DefaultCacheSize = 100_000
	// DefaultStoreTimeout is the default Options.StoreTimeout.
	DefaultStoreTimeout = 30 * time.Second
)

// New returns an Authority over store and starts its background usage writer; Close stops it.
func New(store keyward.Store, opts Options) *Authority {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.UsageFlushInterval <= 0 {
		opts.UsageFlushInterval = time.Second
	}
	if opts.Limiter == nil {
		opts.Limiter = ratelimit.NewMemory(opts.Now)
	}
	if opts.LoginUserRate.Limit <= 0 {
		opts.LoginUserRate = DefaultLoginUserRate
	}
	if opts.LoginAddrRate.Limit <= 0 {
		opts.LoginAddrRate = DefaultLoginAddrRate
	}
	if opts.PasswordParams.Memory == 0 {
		opts.PasswordParams = password.Default
	}
	if opts.MaxConcurrentHashes <= 0 {
		opts.MaxConcurrentHashes = DefaultMaxConcurrentHashes()
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = DefaultStoreTimeout
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	a := &Authority{
		store: store, now: opts.Now, logger: opts.Logger, limiter: opts.Limiter,
		loginUserRate: opts.LoginUserRate, loginAddrRate: opts.LoginAddrRate, passwordParams: opts.PasswordParams,
		cache: newCache(opts.CacheTTL, opts.CacheSize), mk: opts.MasterKey, storeTimeout: opts.StoreTimeout,
		hashSlots: make(chan struct{}, opts.MaxConcurrentHashes), checkPassword: password.Check,
	}
	a.issued = newIssued()
	a.store = issuingStore{Store: store, added: a.issued.add}
	a.usage = newUsageRecorder(store, opts.Logger, opts.Now, opts.UsageFlushInterval)
	a.graceEnds = newGraceEnder(store, opts.Logger, a.changed)
	ictx, icancel := context.WithCancel(context.Background())
	a.issuedWant, a.stopIssued, a.issuedDone = make(chan struct{}, 1), icancel, make(chan struct{})
	go a.loadIssued(ictx, a.issuedWant, a.issuedDone)
	if feed, ok := store.(keyward.ChangeFeed); ok {
		// The feed's first invalidation of everything loads the set. Where other servers write
		// too, a key not yet announced may exist: look a few such keys up (see issued).
		if ss, ok := store.(keyward.SingleServer); !ok || !ss.SingleServer() {
			a.unknownBudget = &lookupBudget{limit: unknownKeyLookups}
		}
		ctx, cancel := context.WithCancel(context.Background())
		a.stopWatch, a.watchDone = cancel, make(chan struct{})
		go a.watch(ctx, feed)
	} else {
		a.reloadIssued()
	}
	return a
}

// applyChange applies a change another server (or this one) committed, as the change feed
// announces it: new secrets join the set of issued secrets, and what inv names leaves the
// cache. An invalidation of everything may mean the feed missed changes, new secrets
// included: the set is reloaded.
func (a *Authority) applyChange(inv keyward.Invalidation) {
	a.issued.add(inv.Secrets...)
	if inv.All {
		a.reloadIssued()
	}
	if inv.All || len(inv.CredentialIDs) > 0 || len(inv.UserIDs) > 0 {
		a.changed(inv)
	}
}

// watch applies other servers' changes to the cache for as long as the Authority lives,
// reconnecting after failures; the feed reports a possible gap as an invalidation of all.
func (a *Authority) watch(ctx context.Context, feed keyward.ChangeFeed) {
	defer close(a.watchDone)
	for ctx.Err() == nil {
		err := feed.Watch(ctx, a.applyChange)
		if ctx.Err() != nil {
			return
		}
		// Secrets created elsewhere meanwhile are not announced: look every unknown key up
		// until the reload that the feed's reconnection starts has ended.
		a.issued.stale()
		// Changes may have been missed while the feed was down. If the database answers, drop
		// everything; if it does not, nothing can change there, so cached keys keep answering
		// (for at most the TTL) and the feed flushes the cache when it is back.
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if a.store.Ping(pctx) == nil {
			a.cache.invalidate(keyward.Invalidation{All: true})
		}
		cancel()
		a.logger.Warn("change feed interrupted; the cache TTL bounds staleness until it is back", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// Close writes the pending usage batch and stops the background writer. It does not close the
// store, which the caller owns.
func (a *Authority) Close() error {
	if a.stopWatch != nil {
		a.stopWatch()
		<-a.watchDone
	}
	a.stopIssued()
	<-a.issuedDone
	a.refreshMu.Lock()
	a.closed = true
	a.refreshMu.Unlock()
	a.refreshes.Wait()
	a.graceEnds.close()
	return a.usage.close()
}

// clock returns the current time at the store's precision, so that what is returned equals what
// a later read returns.
func (a *Authority) clock() time.Time { return a.now().UTC().Truncate(time.Microsecond) }

func normTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

// Bootstrap performs the first start: the system project, the built-in roles, the admin user and
// its never-expiring token, which it returns. On a store bootstrapped before it returns "" and
// no error.
func (a *Authority) Bootstrap(ctx context.Context) (string, error) {
	now := a.clock()
	tok, err := token.New(keyward.Live)
	if err != nil {
		return "", err
	}
	b := &keyward.Bootstrap{
		Project: &keyward.Project{Slug: keyward.SystemProject, Name: "System", CreatedAt: now},
		Roles:   BuiltinRoles(),
		Admin:   &keyward.User{Name: keyward.AdminUser, CreatedAt: now},
		Credential: &keyward.Credential{
			Name: "bootstrap-admin", Description: "created on first start",
			Type: keyward.APIToken, Environment: keyward.Live, KeyType: keyward.Secret,
			Meta: map[string]string{}, Active: true, CreatedAt: now, UpdatedAt: now, Start: token.Start(tok),
		},
		Secret: &keyward.CredentialSecret{Digest: token.Digest(tok), CreatedAt: now},
		Event:  &keyward.Event{Time: now, Actor: keyward.AdminUser, Action: "system.bootstrap", Outcome: keyward.OutcomeSuccess},
	}
	if err := a.store.Bootstrap(ctx, b); err != nil {
		if keyward.ErrorCode(err) == keyward.EConflict {
			return "", nil
		}
		return "", err
	}
	return tok, nil
}

// event returns an audit event for the caller in ctx.
func (a *Authority) event(ctx context.Context, action string, projectID, credentialID int64, now time.Time) *keyward.Event {
	ev := &keyward.Event{Time: now, Action: action, ProjectID: projectID, CredentialID: credentialID, Outcome: keyward.OutcomeSuccess}
	if c := keyward.CallerFrom(ctx); c != nil {
		ev.ActorUserID, ev.Actor, ev.RemoteAddr = c.User.ID, c.User.Name, c.RemoteAddr
		if c.Credential != nil {
			ev.ActorCredentialID = c.Credential.ID
		}
	}
	return ev
}

// Cursors are opaque to callers: the last id of a page, base64-encoded.
func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(id, 10)))
}

func decodeCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		if id, err := strconv.ParseInt(string(b), 10, 64); err == nil && id > 0 {
			return id, nil
		}
	}
	return 0, keyward.Invalid("cursor", "is not a cursor this server issued")
}

// Page sizes: the default and the largest a caller may ask for.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

func pageSize(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultPageSize, nil
	case limit < 0 || limit > MaxPageSize:
		return 0, keyward.Invalid("limit", "must be between 1 and "+strconv.Itoa(MaxPageSize))
	}
	return limit, nil
}

// paginate cuts rows fetched with limit+1 into a page, with the cursor of the next page when
// there is one.
func paginate[T any](rows []T, limit int, id func(T) int64) *keyward.Page[T] {
	page := &keyward.Page[T]{Items: rows}
	if len(rows) > limit {
		page.Items = rows[:limit]
		page.NextCursor = encodeCursor(id(rows[limit-1]))
	}
	return page
}

// usageRecorder batches last_used_at and the hourly counts of verifications by result code
// (keyward.UsageCount), so that a verification never writes to the database. Its state is split
// into shards by credential id, each under its own lock, so that verifications of different
// keys on different cores do not queue on one mutex.
type usageRecorder struct {
	store  keyward.Store
	logger *slog.Logger
	now    func() time.Time
	shards [usageShards]usageShard
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	pruned time.Time // when the loop last pruned old counts (the loop's own)
}

// usageShards is a fixed power of two, not a multiple of GOMAXPROCS (which may change while the
// process runs): 64 spreads the cores of any machine keyward runs on, for 8 KiB.
const (
	usageShardBits = 6
	usageShards    = 1 << usageShardBits
)

// UsageRetention is how long hourly usage counts are kept: the recorder deletes older hours
// once an hour. A little over a year, so that a month compares with the same month last year.
const UsageRetention = 400 * 24 * time.Hour

// usageKey names one hourly counter: a credential, an hour (unix seconds / 3600) and a result
// code (its index in keyward.VerificationCodes). Small and free of pointers, so that bumping an
// existing counter allocates nothing.
type usageKey struct {
	id   int64
	hour int64
	code uint8
}

// usageState is one shard's share of the pending usage: the latest use of each credential and
// its counts by hour and code, under one mu, swapped out together by a flush.
type usageState struct {
	mu     sync.Mutex
	used   map[int64]time.Time
	counts map[usageKey]int64
}

type usageShard struct {
	usageState
	_ [cacheline.Pad - unsafe.Sizeof(usageState{})%cacheline.Pad]byte
}

func newUsageRecorder(store keyward.Store, logger *slog.Logger, now func() time.Time, every time.Duration) *usageRecorder {
	u := &usageRecorder{store: store, logger: logger, now: now, stop: make(chan struct{}), done: make(chan struct{})}
	for i := range u.shards {
		u.shards[i].used = map[int64]time.Time{}
		u.shards[i].counts = map[usageKey]int64{}
	}
	go u.loop(every)
	return u
}

// shard returns the shard of credential id. Ids are mixed first (Fibonacci hashing) so that ids
// handed out with a stride (e.g. a sequence cached per server) still spread over all shards.
func (u *usageRecorder) shard(id int64) *usageShard {
	return &u.shards[(uint64(id)*0x9E3779B97F4A7C15)>>(64-usageShardBits)]
}

// The indexes of the codes in keyward.VerificationCodes that the recorder counts.
var (
	usageValid = usageCode(keyward.CodeValid)
	usageNone  = uint8(len(keyward.VerificationCodes)) // a code that is not counted
)

// usageCode returns code's index in keyward.VerificationCodes, usageNone for NOT_FOUND (no
// credential to count it for) and for an unknown code.
func usageCode(code string) uint8 {
	if code == keyward.CodeNotFound {
		return usageNone
	}
	for i, c := range keyward.VerificationCodes {
		if c == code {
			return uint8(i)
		}
	}
	return usageNone
}

// unixHour is t's hour since the epoch, floored (t is UTC: the authority's clock).
func unixHour(t time.Time) int64 {
	s := t.Unix()
	if s < 0 {
		return (s - 3599) / 3600
	}
	return s / 3600
}

// record notes that credential id was verified, or authenticated, at at with a valid answer:
// its last use (the latest time wins) and one more VALID in at's hour. It always takes the
// shard's lock: skipping it when the time would not change needs a read of the map without the
// lock, and on a real clock every verification's time is newer anyway.
func (u *usageRecorder) record(id int64, at time.Time) {
	s := u.shard(id)
	k := usageKey{id, unixHour(at), usageValid}
	s.mu.Lock()
	if at.After(s.used[id]) {
		s.used[id] = at
	}
	s.counts[k]++
	s.mu.Unlock()
}

// touch notes a use of credential id at at without counting it: a login session's (its uses
// are its user's, not a project's, and are not counted).
func (u *usageRecorder) touch(id int64, at time.Time) {
	s := u.shard(id)
	s.mu.Lock()
	if at.After(s.used[id]) {
		s.used[id] = at
	}
	s.mu.Unlock()
}

// refused counts one verification of credential id at at that was refused with code (a
// refusal is not a use: last_used_at does not move).
func (u *usageRecorder) refused(id int64, at time.Time, code string) {
	c := usageCode(code)
	if c == usageNone {
		return
	}
	s := u.shard(id)
	k := usageKey{id, unixHour(at), c}
	s.mu.Lock()
	s.counts[k]++
	s.mu.Unlock()
}

func (u *usageRecorder) loop(every time.Duration) {
	defer close(u.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := u.flush(ctx); err != nil {
				u.logger.Warn("writing usage (last_used_at, hourly counts) failed; will retry", "err", err)
			}
			if err := u.prune(ctx); err != nil {
				u.logger.Warn("pruning old usage counts failed; will retry", "err", err)
			}
			cancel()
		case <-u.stop:
			return
		}
	}
}

// prune deletes the hourly counts older than UsageRetention, at most once an hour (and at the
// loop's first tick), so that the table stops growing.
func (u *usageRecorder) prune(ctx context.Context) error {
	now := u.now().UTC()
	if !u.pruned.IsZero() && now.Sub(u.pruned) < time.Hour && now.After(u.pruned) {
		return nil
	}
	if _, err := u.store.PruneUsage(ctx, now.Add(-UsageRetention).Truncate(time.Hour)); err != nil {
		return err
	}
	u.pruned = now
	return nil
}

// pending is what a flush swapped out of the shards.
type pending struct {
	used   map[int64]time.Time
	counts []keyward.UsageCount
}

// take swaps the pending usage out of every shard. Each shard is swapped under its own lock
// only, so verifications never wait for the merge or the write.
func (u *usageRecorder) take() pending {
	var p pending
	for i := range u.shards {
		s := &u.shards[i]
		// Only maps swapped out under the lock are read after it: an empty map that stays
		// in the shard is verifications' to write again, and is left alone (nil here).
		var used map[int64]time.Time
		var counts map[usageKey]int64
		s.mu.Lock()
		if len(s.used) > 0 {
			used, s.used = s.used, map[int64]time.Time{}
		}
		if len(s.counts) > 0 {
			counts, s.counts = s.counts, map[usageKey]int64{}
		}
		s.mu.Unlock()
		switch {
		case used == nil:
		case p.used == nil:
			p.used = used // the first shard's map becomes the batch: one copy fewer
		default:
			for id, at := range used {
				p.used[id] = at // every id lives in one shard: nothing to compare
			}
		}
		for k, n := range counts {
			p.counts = append(p.counts, keyward.UsageCount{CredentialID: k.id,
				Hour: time.Unix(k.hour*3600, 0).UTC(), Code: keyward.VerificationCodes[k.code], Count: n})
		}
	}
	// One order for every server: replicas that add to the same rows lock them in that order.
	slices.SortFunc(p.counts, func(a, b keyward.UsageCount) int {
		if c := cmp.Compare(a.CredentialID, b.CredentialID); c != 0 {
			return c
		}
		if c := a.Hour.Compare(b.Hour); c != 0 {
			return c
		}
		return strings.Compare(a.Code, b.Code)
	})
	return p
}

// putBack returns a batch the store refused to the shards, for the next flush: counts add to
// what was counted meanwhile, and newer uses win.
func (u *usageRecorder) putBack(p pending) {
	for id, at := range p.used {
		s := u.shard(id)
		s.mu.Lock()
		if at.After(s.used[id]) {
			s.used[id] = at
		}
		s.mu.Unlock()
	}
	for _, c := range p.counts {
		s := u.shard(c.CredentialID)
		s.mu.Lock()
		s.counts[usageKey{c.CredentialID, unixHour(c.Hour), usageCode(c.Code)}] += c.Count
		s.mu.Unlock()
	}
}

// flush writes what was recorded since the last flush in one batch: last_used_at and the
// hourly counts in one transaction, so that they are written, or retried, together.
func (u *usageRecorder) flush(ctx context.Context) error {
	p := u.take()
	if len(p.used) == 0 && len(p.counts) == 0 {
		return nil
	}
	err := u.store.WithTx(ctx, func(tx keyward.Store) error {
		if err := tx.TouchCredentials(ctx, p.used); err != nil {
			return err
		}
		return tx.AddUsage(ctx, p.counts)
	})
	if err != nil {
		u.putBack(p) // the next tick retries it
		return err
	}
	return nil
}

func (u *usageRecorder) close() error {
	var err error
	u.once.Do(func() {
		close(u.stop)
		<-u.done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = u.flush(ctx)
	})
	return err
}

// isCode reports whether err is a keyward error with code.
func isCode(err error, code keyward.Code) bool {
	if err == nil {
		return false // the hot path: no allocation for errors.As's target
	}
	var e *keyward.Error
	return errors.As(err, &e) && e.Code == code
}
