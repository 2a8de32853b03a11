package storetest

import (
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// This file checks the storage of per-credential rate limits and usage credits: the columns
// round-trip, UpdateCredential leaves the counters alone, ConsumeCredit counts down, refills
// and is exact under concurrency, SetRemaining. RunShared repeats the concurrency checks across
// two stores on one database.

// The starts of refill periods the tests use: the day of t0 and the next, and two months.
var (
	day0   = time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	day1   = day0.Add(24 * time.Hour)
	day2   = day1.Add(24 * time.Hour)
	month0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	month1 = time.Date(2030, 2, 1, 0, 0, 0, 0, time.UTC)
)

// n returns a pointer to x.
func n(x int64) *int64 { return &x }

// withLimits returns a newCredential mod that sets the credential's rate limit, uses left,
// refill and last refill.
func withLimits(rl *keyward.RateLimit, remaining *int64, refill *keyward.Refill, lastRefill *time.Time) func(*keyward.Credential) {
	return func(c *keyward.Credential) {
		c.RateLimit, c.Remaining, c.Refill, c.LastRefillAt = rl, remaining, refill, lastRefill
	}
}

// consume calls ConsumeCredit and fails t on an error.
func (f *fixture) consume(t *testing.T, id int64, refillFrom time.Time) (*int64, bool) {
	t.Helper()
	left, ok, err := f.s.ConsumeCredit(t.Context(), id, refillFrom)
	if err != nil {
		t.Fatalf("ConsumeCredit(%d, %v): %v", id, refillFrom, err)
	}
	return left, ok
}

// wantConsume fails t unless ConsumeCredit returned left and ok.
func wantConsume(t *testing.T, gotLeft *int64, gotOK bool, left *int64, ok bool) {
	t.Helper()
	if !samePtr(gotLeft, left) || gotOK != ok {
		t.Fatalf("ConsumeCredit = (%s, %v), want (%s, %v)", show(gotLeft), gotOK, show(left), ok)
	}
}

func testCredentialLimits(t *testing.T, open func(t *testing.T) keyward.Store) {
	for _, tc := range []struct {
		name       string
		rateLimit  *keyward.RateLimit
		remaining  *int64
		refill     *keyward.Refill
		lastRefill *time.Time
	}{
		{name: "None"},
		{name: "RateLimit", rateLimit: &keyward.RateLimit{Limit: 100, Duration: 1500 * time.Millisecond}},
		{name: "Remaining", remaining: n(5)},
		{name: "ZeroRemaining", remaining: n(0)},
		{name: "ZeroRateLimit", rateLimit: &keyward.RateLimit{}},
		{name: "RefillDaily", remaining: n(1000), refill: &keyward.Refill{Interval: keyward.RefillDaily, Amount: 1000},
			lastRefill: ptr(day0)},
		{name: "RefillNeverRefilled", remaining: n(3), refill: &keyward.Refill{Interval: keyward.RefillMonthly, Amount: 50}},
		{name: "RefillUncounted", refill: &keyward.Refill{Interval: keyward.RefillDaily, Amount: 7}},
		{name: "All", rateLimit: &keyward.RateLimit{Limit: math.MaxInt32, Duration: 24 * time.Hour}, remaining: n(math.MaxInt64),
			refill: &keyward.Refill{Interval: keyward.RefillMonthly, Amount: 1 << 40}, lastRefill: ptr(at(-time.Microsecond))},
	} {
		t.Run("OK"+tc.name, func(t *testing.T) {
			f := setup(t, open)
			p := f.project(t, "acme")
			c, sec := f.newCredential(p, "k", withLimits(tc.rateLimit, tc.remaining, tc.refill, tc.lastRefill))
			sent := clone(c)
			if err := f.s.CreateCredential(t.Context(), c, sec, f.event("credential.create")); err != nil {
				t.Fatalf("CreateCredential: %v", err)
			}
			want := sent
			want.ID, want.Version, want.Project = c.ID, 1, p.Slug
			checkCredential(t, c, want)
			checkCredential(t, f.reread(t, c), want)
			got, err := f.s.CredentialByName(t.Context(), p.ID, "k")
			if err != nil {
				t.Fatalf("CredentialByName: %v", err)
			}
			checkCredential(t, got, want)
			got, _, err = f.s.CredentialBySecret(t.Context(), sec.Digest)
			if err != nil {
				t.Fatalf("CredentialBySecret: %v", err)
			}
			checkCredential(t, got, want)
			cs, err := f.s.ListCredentials(t.Context(), keyward.CredentialFilter{ProjectID: p.ID, Now: t0})
			if err != nil {
				t.Fatalf("ListCredentials: %v", err)
			}
			if len(cs) != 1 {
				t.Fatalf("ListCredentials returned %d credentials, want 1", len(cs))
			}
			checkCredential(t, cs[0], want)
		})
	}

	t.Run("OKOthersUnlimited", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		limited, _ := f.credential(t, p, "limited", withLimits(&keyward.RateLimit{Limit: 1, Duration: time.Second}, n(1),
			&keyward.Refill{Interval: keyward.RefillDaily, Amount: 1}, ptr(day0)))
		plain, _ := f.credential(t, p, "plain", nil)
		cs, err := f.s.ListCredentials(t.Context(), keyward.CredentialFilter{ProjectID: p.ID, Now: t0})
		if err != nil {
			t.Fatalf("ListCredentials: %v", err)
		}
		if len(cs) != 2 {
			t.Fatalf("ListCredentials returned %d credentials, want 2", len(cs))
		}
		checkCredential(t, cs[0], limited)
		checkCredential(t, cs[1], plain)
		if b := f.reread(t, f.b.Credential); b.RateLimit != nil || b.Remaining != nil || b.Refill != nil || b.LastRefillAt != nil {
			t.Fatalf("bootstrap credential limits = %s %s %s %v, want none", show(b.RateLimit), show(b.Remaining), show(b.Refill), b.LastRefillAt)
		}
	})

	t.Run("ErrRateLimitRange", func(t *testing.T) {
		f := setup(t, open)
		before := len(f.events(t))
		c, sec := f.newCredential(f.system, "k", withLimits(&keyward.RateLimit{Limit: math.MaxInt32 + 1, Duration: time.Second}, nil, nil, nil))
		err := f.s.CreateCredential(t.Context(), c, sec, f.event("credential.create"))
		wantCode(t, err, keyward.EInvalid)
		if c.ID != 0 {
			t.Fatalf("ID = %d after a refused create, want 0", c.ID)
		}
		_, err = f.s.CredentialByName(t.Context(), f.system.ID, "k")
		wantCode(t, err, keyward.ENotFound)
		if got := len(f.events(t)); got != before {
			t.Fatalf("a refused create wrote %d events", got-before)
		}
	})
}

func testUpdateCredentialLimits(t *testing.T, open func(t *testing.T) keyward.Store) {
	rlA := &keyward.RateLimit{Limit: 10, Duration: time.Second}
	rlB := &keyward.RateLimit{Limit: 20, Duration: 2500 * time.Millisecond}
	rfA := &keyward.Refill{Interval: keyward.RefillDaily, Amount: 100}
	rfB := &keyward.Refill{Interval: keyward.RefillMonthly, Amount: 500}
	for _, tc := range []struct {
		name                  string
		before                func(*keyward.Credential)
		rateLimit             *keyward.RateLimit
		refill                *keyward.Refill
		sentRemaining         *int64     // what the struct passed to UpdateCredential carries
		sentLastRefill        *time.Time // likewise
		wantRemaining         *int64
		wantLastRefillUnmoved bool
	}{
		{name: "Set", before: nil, rateLimit: rlA, refill: rfA, sentRemaining: n(7), sentLastRefill: ptr(day1),
			wantRemaining: nil},
		{name: "Change", before: withLimits(rlA, n(50), rfA, ptr(day0)), rateLimit: rlB, refill: rfB,
			sentRemaining: n(999), sentLastRefill: ptr(day2), wantRemaining: n(50)},
		{name: "Clear", before: withLimits(rlA, n(3), rfA, ptr(day0)), rateLimit: nil, refill: nil,
			sentRemaining: nil, sentLastRefill: nil, wantRemaining: n(3)},
		{name: "KeepRemainingZero", before: withLimits(nil, n(0), nil, nil), rateLimit: rlB, refill: nil,
			sentRemaining: n(10), wantRemaining: n(0)},
	} {
		t.Run("OK"+tc.name, func(t *testing.T) {
			f := setup(t, open)
			c, _ := f.credential(t, f.system, "k", tc.before)
			stored := clone(c)
			c.RateLimit, c.Refill = tc.rateLimit, tc.refill
			c.Remaining, c.LastRefillAt = tc.sentRemaining, tc.sentLastRefill
			c.UpdatedAt = at(time.Minute)
			sent := clone(c)
			ev := f.event("credential.update")
			if err := f.s.UpdateCredential(t.Context(), c, ev); err != nil {
				t.Fatalf("UpdateCredential: %v", err)
			}
			want := sent
			want.Version = 2
			want.Remaining, want.LastRefillAt = tc.wantRemaining, stored.LastRefillAt
			checkCredential(t, f.reread(t, c), want)
			checkEvent(t, f.events(t)[0], ev)
		})
	}

	// A use taken between the caller's read and its write is not undone by the write.
	t.Run("OKAfterConsume", func(t *testing.T) {
		f := setup(t, open)
		c, sec := f.credential(t, f.system, "k", withLimits(rlA, n(5), rfA, ptr(day0)))
		read := f.reread(t, c)
		f.consume(t, c.ID, day0)
		f.consume(t, c.ID, day0)
		read.RateLimit = rlB
		read.UpdatedAt = at(time.Minute)
		if err := f.s.UpdateCredential(t.Context(), read, f.event("credential.update")); err != nil {
			t.Fatalf("UpdateCredential: %v", err)
		}
		got, _, err := f.s.CredentialBySecret(t.Context(), sec.Digest)
		if err != nil {
			t.Fatalf("CredentialBySecret: %v", err)
		}
		want := clone(read)
		want.Remaining = n(3)
		checkCredential(t, got, want)
	})

	t.Run("OKRoll", func(t *testing.T) {
		f := setup(t, open)
		c, _ := f.credential(t, f.system, "k", withLimits(rlA, n(4), rfA, ptr(day0)))
		c.RateLimit, c.Refill, c.Remaining, c.LastRefillAt = rlB, rfB, n(40), ptr(day1)
		sent := clone(c)
		nsec := f.roll(t, c, "k2", at(time.Minute), at(time.Hour))
		got, _, err := f.s.CredentialBySecret(t.Context(), nsec.Digest)
		if err != nil {
			t.Fatalf("CredentialBySecret: %v", err)
		}
		if !samePtr(got.RateLimit, sent.RateLimit) || !samePtr(got.Refill, sent.Refill) {
			t.Fatalf("after a roll: RateLimit %s Refill %s, want %s %s", show(got.RateLimit), show(got.Refill),
				show(sent.RateLimit), show(sent.Refill))
		}
		if !samePtr(got.Remaining, n(4)) || !sameTime(got.LastRefillAt, ptr(day0)) {
			t.Fatalf("after a roll: Remaining %s LastRefillAt %v, want 4 %v", show(got.Remaining), got.LastRefillAt, day0)
		}
	})

	t.Run("ErrRateLimitRange", func(t *testing.T) {
		f := setup(t, open)
		c, _ := f.credential(t, f.system, "k", withLimits(rlA, nil, nil, nil))
		before := len(f.events(t))
		c.RateLimit = &keyward.RateLimit{Limit: math.MinInt32 - 1, Duration: time.Second}
		err := f.s.UpdateCredential(t.Context(), c, f.event("credential.update"))
		wantCode(t, err, keyward.EInvalid)
		if c.Version != 1 {
			t.Fatalf("Version = %d after a refused update, want 1", c.Version)
		}
		if got := f.reread(t, c); !samePtr(got.RateLimit, rlA) || got.Version != 1 {
			t.Fatalf("after a refused update: RateLimit %s version %d", show(got.RateLimit), got.Version)
		}
		if got := len(f.events(t)); got != before {
			t.Fatalf("a refused update wrote %d events", got-before)
		}
	})
}

func testConsumeCredit(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OKCountsDown", func(t *testing.T) {
		f := setup(t, open)
		c, _ := f.credential(t, f.system, "k", withLimits(nil, n(3), nil, nil))
		before := len(f.events(t))
		for _, want := range []int64{2, 1, 0} {
			left, ok := f.consume(t, c.ID, day0)
			wantConsume(t, left, ok, n(want), true)
		}
		for range 2 {
			left, ok := f.consume(t, c.ID, day0)
			wantConsume(t, left, ok, n(0), false)
		}
		want := clone(c)
		want.Remaining = n(0)
		checkCredential(t, f.reread(t, c), want) // version, updated_at and the rest unchanged
		if got := len(f.events(t)); got != before {
			t.Fatalf("ConsumeCredit wrote %d events, want none", got-before)
		}
	})

	refill := func(amount int64) *keyward.Refill {
		return &keyward.Refill{Interval: keyward.RefillDaily, Amount: amount}
	}
	for _, tc := range []struct {
		name       string
		remaining  *int64
		refill     *keyward.Refill
		lastRefill *time.Time
		refillFrom time.Time
		left       *int64 // what ConsumeCredit returns
		ok         bool
		stored     *int64     // Remaining afterwards
		lastAfter  *time.Time // LastRefillAt afterwards
	}{
		{"NotDueSamePeriod", n(5), refill(10), ptr(day1), day1, n(4), true, n(4), ptr(day1)},
		{"DueNewDay", n(0), refill(10), ptr(day0), day1, n(9), true, n(9), ptr(day1)},
		{"DueReplacesLeftover", n(7), refill(3), ptr(day0), day1, n(2), true, n(2), ptr(day1)},
		{"DueNeverRefilled", n(2), refill(10), nil, day1, n(9), true, n(9), ptr(day1)},
		{"DueMonthly", n(0), &keyward.Refill{Interval: keyward.RefillMonthly, Amount: 100}, ptr(month0), month1, n(99), true, n(99), ptr(month1)},
		{"DueAmountOne", n(0), refill(1), ptr(day0), day1, n(0), true, n(0), ptr(day1)},
		{"ErrDueAmountZero", n(3), refill(0), ptr(day0), day1, n(0), false, n(3), ptr(day0)},
		{"ErrDueAmountNegative", n(3), refill(-1), nil, day1, n(0), false, n(3), nil},
		{"ErrEmptyNotDue", n(0), refill(10), ptr(day1), day1, n(0), false, n(0), ptr(day1)},
		{"ErrRefilledLater", n(0), refill(10), ptr(day2), day1, n(0), false, n(0), ptr(day2)},
		{"RefillFromZeroNeverDue", n(2), refill(10), ptr(day0), time.Time{}, n(1), true, n(1), ptr(day0)},
		{"ErrRefillFromZeroEmpty", n(0), refill(10), nil, time.Time{}, n(0), false, n(0), nil},
		{"NoRefill", n(1), nil, nil, day1, n(0), true, n(0), nil},
		{"ErrNegative", n(-2), nil, nil, day1, n(0), false, n(-2), nil},
		{"Unlimited", nil, nil, nil, day1, nil, true, nil, nil},
		{"UnlimitedWithRefill", nil, refill(10), nil, day1, nil, true, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, open)
			c, _ := f.credential(t, f.system, "k", withLimits(nil, tc.remaining, tc.refill, tc.lastRefill))
			before := len(f.events(t))
			left, ok := f.consume(t, c.ID, tc.refillFrom)
			wantConsume(t, left, ok, tc.left, tc.ok)
			want := clone(c)
			want.Remaining, want.LastRefillAt = tc.stored, tc.lastAfter
			checkCredential(t, f.reread(t, c), want)
			if got := len(f.events(t)); got != before {
				t.Fatalf("ConsumeCredit wrote %d events, want none", got-before)
			}
		})
	}

	t.Run("OKRefillOncePerPeriod", func(t *testing.T) {
		f := setup(t, open)
		c, _ := f.credential(t, f.system, "k", withLimits(nil, n(0), refill(3), ptr(day0)))
		for _, step := range []struct {
			from time.Time
			left int64
			ok   bool
		}{
			{day0, 0, false}, // day0's refill is spent
			{day1, 2, true},  // the first use of day1 refills
			{day1, 1, true},  // the later ones do not
			{day1, 0, true},
			{day1, 0, false},
			{day1, 0, false},
			{day2, 2, true},
		} {
			left, ok := f.consume(t, c.ID, step.from)
			wantConsume(t, left, ok, n(step.left), step.ok)
		}
		got := f.reread(t, c)
		if !samePtr(got.Remaining, n(2)) || !sameTime(got.LastRefillAt, ptr(day2)) || got.Version != 1 {
			t.Fatalf("after the uses: Remaining %s LastRefillAt %v Version %d, want 2 %v 1",
				show(got.Remaining), got.LastRefillAt, got.Version, day2)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		_, _, err := f.s.ConsumeCredit(t.Context(), 999999, day1)
		wantCode(t, err, keyward.ENotFound)
		_, _, err = f.s.ConsumeCredit(t.Context(), 999999, time.Time{})
		wantCode(t, err, keyward.ENotFound)
	})

	t.Run("Concurrent", func(t *testing.T) {
		f := setup(t, open)
		c, _ := f.credential(t, f.system, "k", withLimits(nil, n(20), nil, nil))
		consumeConcurrently(t, []keyward.Store{f.s}, c.ID, day0, 50, 20)
		if got := f.reread(t, c); !samePtr(got.Remaining, n(0)) || got.Version != 1 {
			t.Fatalf("after the uses: Remaining %s Version %d, want 0 1", show(got.Remaining), got.Version)
		}
	})

	t.Run("ConcurrentRefill", func(t *testing.T) {
		f := setup(t, open)
		c, _ := f.credential(t, f.system, "k", withLimits(nil, n(0), refill(20), ptr(day0)))
		consumeConcurrently(t, []keyward.Store{f.s}, c.ID, day1, 50, 20)
		if got := f.reread(t, c); !samePtr(got.Remaining, n(0)) || !sameTime(got.LastRefillAt, ptr(day1)) {
			t.Fatalf("after the uses: Remaining %s LastRefillAt %v, want 0 %v", show(got.Remaining), got.LastRefillAt, day1)
		}
	})
}

// consumeConcurrently makes calls ConsumeCredit calls on credential id at once, spread over
// stores in turn, and fails t unless exactly want of them succeed, each returning a different
// count of uses left, want-1 down to 0.
func consumeConcurrently(t *testing.T, stores []keyward.Store, id int64, refillFrom time.Time, calls, want int) {
	t.Helper()
	var (
		mu    sync.Mutex
		lefts []int64
		wg    sync.WaitGroup
	)
	start := make(chan struct{})
	errs := make(chan error, calls)
	for i := range calls {
		s := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			left, ok, err := s.ConsumeCredit(t.Context(), id, refillFrom)
			switch {
			case err != nil:
				errs <- err
			case ok && left == nil:
				t.Errorf("ConsumeCredit = (nil, true) on a counted credential")
			case ok:
				mu.Lock()
				lefts = append(lefts, *left)
				mu.Unlock()
			case left == nil || *left != 0:
				t.Errorf("a refused ConsumeCredit returned %s left, want 0", show(left))
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent ConsumeCredit: %v", err)
	}
	if len(lefts) != want {
		t.Fatalf("%d of %d concurrent uses succeeded, want exactly %d", len(lefts), calls, want)
	}
	slices.Sort(lefts)
	for i, l := range lefts {
		if l != int64(i) {
			t.Fatalf("uses left returned = %v, want each of 0..%d once", lefts, want-1)
		}
	}
}

func testSetRemaining(t *testing.T, open func(t *testing.T) keyward.Store) {
	for _, tc := range []struct {
		name   string
		before *int64
		set    *int64
	}{
		{"Count", nil, n(10)},
		{"Uncount", n(5), nil},
		{"Zero", n(5), n(0)},
		{"Raise", n(0), n(math.MaxInt64)},
		{"Same", n(3), n(3)},
	} {
		t.Run("OK"+tc.name, func(t *testing.T) {
			f := setup(t, open)
			p := f.project(t, "acme")
			c, sec := f.credential(t, p, "k", withLimits(nil, tc.before, &keyward.Refill{Interval: keyward.RefillDaily, Amount: 9}, ptr(day0)))
			ev := f.event("credential.remaining")
			ev.ProjectID, ev.CredentialID = p.ID, c.ID
			ev.Detail = map[string]string{"remaining": show(tc.set)}
			sent := *ev
			if err := f.s.SetRemaining(t.Context(), c.ID, tc.set, ev); err != nil {
				t.Fatalf("SetRemaining: %v", err)
			}
			if ev.ID <= 0 {
				t.Fatalf("event ID = %d, want > 0", ev.ID)
			}
			sent.ID = ev.ID
			checkEvent(t, ev, &sent)
			checkEvent(t, f.events(t)[0], ev)
			want := clone(c)
			want.Remaining = tc.set
			checkCredential(t, f.reread(t, c), want) // no version bump, LastRefillAt kept
			got, _, err := f.s.CredentialBySecret(t.Context(), sec.Digest)
			if err != nil {
				t.Fatalf("CredentialBySecret: %v", err)
			}
			checkCredential(t, got, want)
		})
	}

	t.Run("OKThenConsume", func(t *testing.T) {
		f := setup(t, open)
		c, _ := f.credential(t, f.system, "k", nil)
		left, ok := f.consume(t, c.ID, day0)
		wantConsume(t, left, ok, nil, true)
		if err := f.s.SetRemaining(t.Context(), c.ID, n(2), f.event("credential.remaining")); err != nil {
			t.Fatalf("SetRemaining: %v", err)
		}
		for _, step := range []struct {
			left int64
			ok   bool
		}{{1, true}, {0, true}, {0, false}} {
			left, ok := f.consume(t, c.ID, day0)
			wantConsume(t, left, ok, n(step.left), step.ok)
		}
		if err := f.s.SetRemaining(t.Context(), c.ID, nil, f.event("credential.remaining")); err != nil {
			t.Fatalf("SetRemaining: %v", err)
		}
		left, ok = f.consume(t, c.ID, day0)
		wantConsume(t, left, ok, nil, true)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		before := len(f.events(t))
		ev := f.event("credential.remaining")
		err := f.s.SetRemaining(t.Context(), 999999, n(1), ev)
		wantCode(t, err, keyward.ENotFound)
		if ev.ID != 0 {
			t.Fatalf("event ID = %d after a failed SetRemaining, want 0", ev.ID)
		}
		if got := len(f.events(t)); got != before {
			t.Fatalf("a failed SetRemaining wrote %d events", got-before)
		}
	})
}

// testShared runs the checks of stores that share a database: uses counted on either are
// counted once, and each sees what the other wrote.
func testShared(t *testing.T, open func(t *testing.T) (keyward.Store, keyward.Store)) {
	setupTwo := func(t *testing.T) (*fixture, keyward.Store) {
		t.Helper()
		a, b := open(t)
		if a == nil || b == nil {
			t.Fatal("open returned a nil store")
		}
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		f := setup(t, func(*testing.T) keyward.Store { return a }) // which closes a
		return f, b
	}

	t.Run("ConsumeCredit", func(t *testing.T) {
		f, other := setupTwo(t)
		c, _ := f.credential(t, f.system, "k", withLimits(nil, n(20), nil, nil))
		consumeConcurrently(t, []keyward.Store{f.s, other}, c.ID, day0, 50, 20)
		for _, s := range []keyward.Store{f.s, other} {
			got, err := s.CredentialByID(t.Context(), c.ProjectID, c.ID)
			if err != nil {
				t.Fatalf("CredentialByID: %v", err)
			}
			if !samePtr(got.Remaining, n(0)) || got.Version != 1 {
				t.Fatalf("after the uses: Remaining %s Version %d, want 0 1", show(got.Remaining), got.Version)
			}
		}
	})

	t.Run("ConsumeCreditRefill", func(t *testing.T) {
		f, other := setupTwo(t)
		c, _ := f.credential(t, f.system, "k", withLimits(nil, n(0), &keyward.Refill{Interval: keyward.RefillDaily, Amount: 20}, ptr(day0)))
		consumeConcurrently(t, []keyward.Store{other, f.s}, c.ID, day1, 50, 20)
		got, err := other.CredentialByID(t.Context(), c.ProjectID, c.ID)
		if err != nil {
			t.Fatalf("CredentialByID: %v", err)
		}
		if !samePtr(got.Remaining, n(0)) || !sameTime(got.LastRefillAt, ptr(day1)) {
			t.Fatalf("after the uses: Remaining %s LastRefillAt %v, want 0 %v", show(got.Remaining), got.LastRefillAt, day1)
		}
	})

	t.Run("SetRemaining", func(t *testing.T) {
		f, other := setupTwo(t)
		c, _ := f.credential(t, f.system, "k", nil)
		if err := other.SetRemaining(t.Context(), c.ID, n(1), f.event("credential.remaining")); err != nil {
			t.Fatalf("SetRemaining: %v", err)
		}
		left, ok := f.consume(t, c.ID, day0)
		wantConsume(t, left, ok, n(0), true)
		left, ok, err := other.ConsumeCredit(t.Context(), c.ID, day0)
		if err != nil {
			t.Fatalf("ConsumeCredit: %v", err)
		}
		wantConsume(t, left, ok, n(0), false)
	})
}
