package authority

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/cacheline"
	"github.com/keyward/keyward/ratelimit"
)

// touchStore records the batches of last_used_at and of hourly counts the recorder writes;
// every other method is the nil Store's, which the recorder never calls. Its transaction is
// itself.
type touchStore struct {
	keyward.Store
	mu      sync.Mutex
	batches []map[int64]time.Time
	counts  [][]keyward.UsageCount
	prunes  []time.Time
}

func (s *touchStore) WithTx(_ context.Context, fn func(keyward.Store) error) error { return fn(s) }

func (s *touchStore) TouchCredentials(_ context.Context, used map[int64]time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(used) > 0 {
		s.batches = append(s.batches, used)
	}
	return nil
}

func (s *touchStore) AddUsage(_ context.Context, counts []keyward.UsageCount) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(counts) > 0 {
		s.counts = append(s.counts, counts)
	}
	return nil
}

func (s *touchStore) PruneUsage(_ context.Context, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prunes = append(s.prunes, before)
	return 0, nil
}

// benchRecorder returns a recorder whose timer never fires during a benchmark.
func benchRecorder(b *testing.B) *usageRecorder {
	u := newUsageRecorder(&touchStore{}, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now, time.Hour)
	b.Cleanup(func() { u.close() })
	return u
}

// BenchmarkUsageRecord is the recorder's part of every valid verification, from all Ps at once:
// on many credentials, and on one hot credential that every request names. "touch" is what a
// verification paid before usage was counted (last_used_at only, as a session's use still
// does); "record" adds the hourly count by code: the difference is the counting's cost.
func BenchmarkUsageRecord(b *testing.B) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, mode := range []struct {
		name string
		use  func(u *usageRecorder, id int64, at time.Time)
	}{
		{"touch", (*usageRecorder).touch},
		{"record", (*usageRecorder).record},
	} {
		b.Run("ManyKeys/"+mode.name, func(b *testing.B) {
			u := benchRecorder(b)
			var next atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine walks its own stretch of 100,000 ids, as a verifier's clients do.
				id := next.Add(1) * 7919
				i := 0
				for pb.Next() {
					i++
					mode.use(u, 1+(id+int64(i))%100_000, t0.Add(time.Duration(i)))
				}
			})
		})
		b.Run("OneKey/"+mode.name, func(b *testing.B) {
			u := benchRecorder(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					mode.use(u, 42, t0.Add(time.Duration(i)))
				}
			})
		})
	}
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
			u := newUsageRecorder(store, logger, time.Now, time.Hour)
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

// WithTx runs fn on the failing store itself, whose TouchCredentials fails.
func (s *failingStore) WithTx(_ context.Context, fn func(keyward.Store) error) error { return fn(s) }

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
	u := newUsageRecorder(store, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now, time.Hour)
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

// use is one thing a test tells the recorder: a valid use (record), a refusal with code
// (refused) or a session's uncounted use (touch).
type use struct {
	id   int64
	at   time.Time
	code string // "" for a session's touch
}

func (u use) apply(r *usageRecorder) {
	switch u.code {
	case "":
		r.touch(u.id, u.at)
	case keyward.CodeValid:
		r.record(u.id, u.at)
	default:
		r.refused(u.id, u.at, u.code)
	}
}

// counts returns every count the store was asked to add, summed per credential, hour and code.
func (s *touchStore) summed() map[usageKey]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[usageKey]int64{}
	for _, b := range s.counts {
		for _, c := range b {
			out[usageKey{c.CredentialID, unixHour(c.Hour), usageCode(c.Code)}] += c.Count
		}
	}
	return out
}

// One flush writes exactly the counts of what was recorded, by credential, hour (of the clock
// the caller passed, truncated to the hour, UTC) and code, sorted; NOT_FOUND and unknown codes
// are not counted, refusals and sessions' uses are not counted as valid, and only valid uses
// and sessions' uses move last_used_at.
func TestUsageCounts(t *testing.T) {
	t.Parallel()
	h10 := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	type row struct {
		id   int64
		hour time.Time
		code string
		n    int64
	}
	for _, tc := range []struct {
		name     string
		uses     []use
		want     []row
		wantUsed map[int64]time.Time
	}{
		{"HourBoundary",
			[]use{{1, h10.Add(-time.Microsecond), keyward.CodeValid}, {1, h10, keyward.CodeValid}, {1, h10.Add(time.Hour - time.Microsecond), keyward.CodeValid}, {1, h10.Add(time.Hour), keyward.CodeValid}},
			[]row{{1, h10.Add(-time.Hour), keyward.CodeValid, 1}, {1, h10, keyward.CodeValid, 2}, {1, h10.Add(time.Hour), keyward.CodeValid, 1}},
			map[int64]time.Time{1: h10.Add(time.Hour)}},
		{"OtherZone",
			// The authority's clock is UTC; a time in another zone still counts in its UTC hour.
			[]use{{1, h10.Add(30 * time.Minute).In(time.FixedZone("+0530", 5*3600+1800)), keyward.CodeValid}},
			[]row{{1, h10, keyward.CodeValid, 1}},
			map[int64]time.Time{1: h10.Add(30 * time.Minute)}},
		{"EveryRefusal",
			[]use{{2, h10, keyward.CodeDisabled}, {2, h10, keyward.CodeRevoked}, {2, h10, keyward.CodeExpired},
				{2, h10, keyward.CodeNotYetValid}, {2, h10, keyward.CodeRateLimited}, {2, h10, keyward.CodeRateLimited},
				{2, h10, keyward.CodeUsageExceeded}, {2, h10, keyward.CodeForbidden},
				{2, h10, keyward.CodeNotFound}, {2, h10, "NO_SUCH_CODE"}},
			[]row{{2, h10, keyward.CodeDisabled, 1}, {2, h10, keyward.CodeExpired, 1}, {2, h10, keyward.CodeForbidden, 1},
				{2, h10, keyward.CodeNotYetValid, 1}, {2, h10, keyward.CodeRateLimited, 2}, {2, h10, keyward.CodeRevoked, 1},
				{2, h10, keyward.CodeUsageExceeded, 1}},
			map[int64]time.Time{}},
		{"SessionTouch",
			[]use{{3, h10, ""}, {3, h10.Add(time.Minute), ""}},
			nil,
			map[int64]time.Time{3: h10.Add(time.Minute)}},
		{"ManyCredentialsSorted",
			[]use{{900, h10, keyward.CodeValid}, {5, h10.Add(time.Hour), keyward.CodeExpired}, {5, h10, keyward.CodeValid}, {77, h10, keyward.CodeForbidden}},
			[]row{{5, h10, keyward.CodeValid, 1}, {5, h10.Add(time.Hour), keyward.CodeExpired, 1}, {77, h10, keyward.CodeForbidden, 1}, {900, h10, keyward.CodeValid, 1}},
			map[int64]time.Time{5: h10, 900: h10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := &touchStore{}
			u := newUsageRecorder(store, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now, time.Hour)
			t.Cleanup(func() { u.close() })
			for _, x := range tc.uses {
				x.apply(u)
			}
			if err := u.flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			var got []row
			for _, b := range store.counts {
				for _, c := range b {
					if c.Hour.Location() != time.UTC || c.Hour.Truncate(time.Hour) != c.Hour {
						t.Fatalf("hour %v is not a UTC hour", c.Hour)
					}
					got = append(got, row{c.CredentialID, c.Hour, c.Code, c.Count})
				}
			}
			if len(store.counts) > 1 {
				t.Fatalf("%d batches of counts, want at most 1", len(store.counts))
			}
			if !slices.EqualFunc(got, tc.want, func(a, b row) bool {
				return a.id == b.id && a.hour.Equal(b.hour) && a.code == b.code && a.n == b.n
			}) {
				t.Fatalf("counts written:\n%v\nwant\n%v", got, tc.want)
			}
			used := map[int64]time.Time{}
			for _, b := range store.written() {
				maps.Copy(used, b)
			}
			if !maps.EqualFunc(used, tc.wantUsed, time.Time.Equal) {
				t.Fatalf("last_used_at written: %v, want %v", used, tc.wantUsed)
			}
		})
	}
}

// countFailStore refuses its first transaction (the whole flush: last_used_at and counts).
type countFailStore struct {
	touchStore
	fail atomic.Bool
}

func (s *countFailStore) WithTx(ctx context.Context, fn func(keyward.Store) error) error {
	if s.fail.Swap(false) {
		return keyward.Errorf(keyward.EUnavailable, "store down")
	}
	return fn(&s.touchStore)
}

// Counts the store refused go back into the shards and add to what is counted meanwhile: the
// retry writes each total once.
func TestUsageCountsPutBack(t *testing.T) {
	t.Parallel()
	h := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	store := &countFailStore{}
	store.fail.Store(true)
	u := newUsageRecorder(store, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now, time.Hour)
	t.Cleanup(func() { u.close() })
	want := map[usageKey]int64{}
	add := func(id int64, at time.Time, code string, n int) {
		for range n {
			use{id, at, code}.apply(u)
		}
		want[usageKey{id, unixHour(at), usageCode(code)}] += int64(n)
	}
	for id := int64(1); id <= 200; id++ {
		add(id, h, keyward.CodeValid, int(id%3)+1)
		add(id, h.Add(time.Hour), keyward.CodeExpired, 1)
	}
	if err := u.flush(context.Background()); keyward.ErrorCode(err) != keyward.EUnavailable {
		t.Fatalf("flush on a failing store: %v", err)
	}
	if got := store.summed(); len(got) != 0 {
		t.Fatalf("a refused flush wrote %d counts", len(got))
	}
	add(7, h, keyward.CodeValid, 5)       // an existing counter: adds
	add(7, h, keyward.CodeRateLimited, 2) // a new one
	add(500, h.Add(2*time.Hour), keyward.CodeValid, 1)
	if err := u.close(); err != nil {
		t.Fatal(err)
	}
	if len(store.counts) != 1 {
		t.Fatalf("%d batches after the retry, want 1", len(store.counts))
	}
	if got := store.summed(); !maps.Equal(got, want) {
		t.Fatalf("after the retry the store got %d counts, want the %d totals exactly", len(got), len(want))
	}
}

// Counting a verification of a key already counted this hour allocates nothing, for a valid
// use and for a refusal alike: it is on the hot path.
func TestUsageRecordNoAlloc(t *testing.T) {
	u := newUsageRecorder(&touchStore{}, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now, time.Hour)
	t.Cleanup(func() { u.close() })
	at := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	u.record(42, at)
	u.refused(42, at, keyward.CodeRateLimited)
	if n := testing.AllocsPerRun(1000, func() {
		at = at.Add(time.Microsecond)
		u.record(42, at)
		u.refused(42, at, keyward.CodeRateLimited)
	}); n != 0 {
		t.Fatalf("counting allocates %v times per verification", n)
	}
}

// Old counts are pruned at the first tick and then at most once an hour of the injected clock
// (again at once when the clock goes back), each time before now - UsageRetention, on an hour.
func TestUsagePrune(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 6, 1, 10, 30, 0, 0, time.UTC)
	store := &touchStore{}
	u := newUsageRecorder(store, slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return now }, time.Hour)
	t.Cleanup(func() { u.close() })
	for _, step := range []struct {
		move  time.Duration
		prune bool
	}{{0, true}, {time.Minute, false}, {58 * time.Minute, false}, {time.Minute, true}, {-2 * time.Hour, true}, {time.Minute, false}} {
		now = now.Add(step.move)
		n := len(store.prunes)
		if err := u.prune(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := len(store.prunes) > n; got != step.prune {
			t.Fatalf("at %v: pruned %v, want %v", now, got, step.prune)
		}
		if step.prune {
			if got, want := store.prunes[n], now.Add(-UsageRetention).Truncate(time.Hour); !got.Equal(want) {
				t.Fatalf("pruned before %v, want %v", got, want)
			}
		}
	}
}

// TestUsageFlushWhileRecording: a shard with counts but no last use (a refusal only) is
// flushed while verifications of its keys go on; the race detector holds the flush to reading
// only the maps it swapped out, and every count arrives exactly once.
func TestUsageFlushWhileRecording(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	store := &touchStore{}
	u := newUsageRecorder(store, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now, time.Hour)
	t.Cleanup(func() { u.close() })
	const rounds = 2000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range rounds {
			u.refused(7, t0, keyward.CodeExpired)
			u.record(7, t0.Add(time.Duration(i)*time.Millisecond))
		}
	}()
	for {
		if err := u.flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
			if err := u.flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			var valid, expired int64
			store.mu.Lock()
			for _, batch := range store.counts {
				for _, c := range batch {
					switch c.Code {
					case keyward.CodeValid:
						valid += c.Count
					case keyward.CodeExpired:
						expired += c.Count
					}
				}
			}
			store.mu.Unlock()
			if valid != rounds || expired != rounds {
				t.Fatalf("counted %d VALID and %d EXPIRED, want %d of each", valid, expired, rounds)
			}
			return
		default:
		}
	}
}
