package authority_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlitetest"
)

// gateStore holds every login of a user whose name starts with prefix where the password is
// about to be checked (UserByName, inside the login's hash slot) until release closes, and
// counts them: each held login is one password evaluation.
type gateStore struct {
	keyward.Store
	prefix  string
	entered atomic.Int64
	release chan struct{}
}

func (s *gateStore) UserByName(ctx context.Context, name string) (*keyward.User, error) {
	if s.prefix != "" && strings.HasPrefix(name, s.prefix) {
		s.entered.Add(1)
		<-s.release
	}
	return s.Store.UserByName(ctx, name)
}

// countingLimiter counts the limiter calls, to show that some requests make none.
type countingLimiter struct {
	ratelimit.Limiter
	calls atomic.Int64
}

func (l *countingLimiter) Allow(ctx context.Context, key string, r ratelimit.Rate) (ratelimit.Result, error) {
	l.calls.Add(1)
	return l.Limiter.Allow(ctx, key, r)
}

func (l *countingLimiter) Peek(ctx context.Context, key string, r ratelimit.Rate) (ratelimit.Result, error) {
	l.calls.Add(1)
	return l.Limiter.Peek(ctx, key, r)
}

// newLoginRBAC is newRBAC over a gateStore (holding nothing until its prefix is set), with opts.
func newLoginRBAC(t *testing.T, opts authority.Options) (*rbacFixture, *gateStore) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	gs := &gateStore{Store: s, release: make(chan struct{})}
	cs := &countingStore{Store: gs}
	clk := &clock{t: t0}
	opts.Now, opts.UsageFlushInterval, opts.PasswordParams = clk.Now, time.Hour, fastHash
	a := authority.New(cs, opts)
	t.Cleanup(func() { a.Close() })
	tok, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	caller, err := a.Authenticate(ctx, tok, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	f := &rbacFixture{&fixture{a: a, store: cs, clock: clk, admin: keyward.NewContext(ctx, caller)}}
	if _, err := a.CreateProject(f.admin, keyward.CreateProjectInput{Slug: "acme"}); err != nil {
		t.Fatal(err)
	}
	return f, gs
}

// flood starts the logins of ins at once and returns when every one is either held at its
// password check (the count returned: each is one evaluation) or has returned. Holding makes
// the outcome independent of scheduling: every login has decided to evaluate or to refuse
// before any evaluation ends. finish lets the held logins go, waits for all, and returns each
// login's error; a cleanup does the same, so that no login outlives the test.
func flood(t *testing.T, f *rbacFixture, gs *gateStore, prefix string, ins []keyward.LoginInput, addr func(i int) string) (held int, finish func() []error) {
	t.Helper()
	gs.entered.Store(0)
	gs.prefix, gs.release = prefix, make(chan struct{})
	errs := make([]error, len(ins))
	var returned atomic.Int64
	var wg sync.WaitGroup
	for i, in := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer returned.Add(1)
			_, errs[i] = f.a.Login(context.Background(), in, addr(i))
		}()
	}
	var once sync.Once
	finish = func() []error {
		once.Do(func() {
			close(gs.release)
			wg.Wait()
			gs.prefix = ""
		})
		return errs
	}
	t.Cleanup(func() { finish() })
	deadline := time.Now().Add(30 * time.Second) // a safety net against a hang, not a timing assertion
	for gs.entered.Load()+returned.Load() < int64(len(ins)) {
		if time.Now().After(deadline) {
			t.Fatalf("flood stuck: %d held, %d returned of %d", gs.entered.Load(), returned.Load(), len(ins))
		}
		time.Sleep(time.Millisecond)
	}
	return int(gs.entered.Load()), finish
}

// burst is flood, finished at once.
func burst(t *testing.T, f *rbacFixture, gs *gateStore, prefix string, ins []keyward.LoginInput, addr func(i int) string) ([]error, int) {
	t.Helper()
	evaluated, finish := flood(t, f, gs, prefix, ins, addr)
	return finish(), evaluated
}

// 41 parallel guesses at one name (one of them right): only the name's limit of them is
// evaluated; the rest are refused with 429 before any hash. Likewise per address.
func TestLoginReservesBeforeHashing(t *testing.T) {
	t.Parallel()
	f, gs := newLoginRBAC(t, authority.Options{MaxConcurrentHashes: 64})
	f.user(t, "victim", "viewer")
	ins := make([]keyward.LoginInput, 41)
	for i := range ins {
		ins[i] = keyward.LoginInput{Name: "victim", Password: fmt.Sprintf("guess number %02d", i)}
	}
	ins[17].Password = pw
	errs, evaluated := burst(t, f, gs, "victim", ins, func(i int) string { return fmt.Sprintf("10.1.0.%d", i) })
	limited := 0
	for _, err := range errs {
		switch keyward.ErrorCode(err) {
		case "", keyward.EUnauthenticated:
		case keyward.ERateLimited:
			limited++
		default:
			t.Fatalf("guess: %v", err)
		}
	}
	if limit := authority.DefaultLoginUserRate.Limit; evaluated != limit || limited != len(ins)-limit {
		t.Fatalf("%d guesses at one name: %d evaluated, %d refused with 429; want %d evaluated, the rest 429",
			len(ins), evaluated, limited, limit)
	}

	t.Run("PerAddress", func(t *testing.T) {
		ins := make([]keyward.LoginInput, 41)
		for i := range ins {
			ins[i] = keyward.LoginInput{Name: fmt.Sprintf("spray-%02d", i), Password: "some guessed password"}
		}
		errs, evaluated := burst(t, f, gs, "spray-", ins, func(int) string { return "10.2.0.1" })
		limited := 0
		for _, err := range errs {
			if keyward.ErrorCode(err) == keyward.ERateLimited {
				limited++
			}
		}
		if limit := authority.DefaultLoginAddrRate.Limit; evaluated != limit || limited != len(ins)-limit {
			t.Fatalf("%d guesses from one address: %d evaluated, %d refused; want %d evaluated", len(ins), evaluated, limited, limit)
		}
	})

	t.Run("SuccessGivesItsReservationBack", func(t *testing.T) {
		f.user(t, "regular", "viewer")
		for i := range 3 * authority.DefaultLoginUserRate.Limit {
			if _, err := f.a.Login(context.Background(), keyward.LoginInput{Name: "regular", Password: pw}, "10.3.0.1"); err != nil {
				t.Fatalf("login %d of a user who gets it right: %v", i, err)
			}
		}
	})
}

// Password hashes run at most MaxConcurrentHashes at once, for every kind of password work;
// one more is refused at once with EUnavailable and Retry-After, never queued.
func TestPasswordHashesAreBounded(t *testing.T) {
	t.Parallel()
	const bound = 4
	f, gs := newLoginRBAC(t, authority.Options{MaxConcurrentHashes: bound,
		LoginUserRate: bigRate, LoginAddrRate: bigRate})
	ins := make([]keyward.LoginInput, 3*bound)
	for i := range ins {
		ins[i] = keyward.LoginInput{Name: fmt.Sprintf("flood-%02d", i), Password: "whatever password"}
	}
	held, finish := flood(t, f, gs, "flood-", ins, func(int) string { return "10.4.0.1" })
	if held != bound {
		t.Fatalf("%d logins hashing at once, want the bound %d", held, bound)
	}
	// While the slots are taken, the other password work is refused at once too.
	_, errCreate := f.a.CreateUser(f.admin, keyward.CreateUserInput{Name: "newcomer", Password: pw})
	errReset := f.a.SetPassword(f.admin, "admin", keyward.SetPasswordInput{Password: "a root passphrase"})
	errs := finish()
	busy := 0
	for i, err := range append(errs, errCreate, errReset) {
		var e *keyward.Error
		if asError(err, &e) && e.Code == keyward.EUnavailable {
			if e.RetryAfter <= 0 {
				t.Fatalf("refusal %d has no Retry-After", i)
			}
			busy++
		}
	}
	if want := len(ins) - bound + 2; busy != want {
		t.Fatalf("%d refused as busy, want %d (every login beyond the bound, the new user and the reset)", busy, want)
	}
	// The slots are free again.
	if _, err := f.a.CreateUser(f.admin, keyward.CreateUserInput{Name: "newcomer", Password: pw}); err != nil {
		t.Fatalf("CreateUser after the flood: %v", err)
	}
}

// A login name or password that cannot be valid is refused before any work: no limiter key,
// no store read, no hash, no audit event. What a failed login audits is bounded.
func TestLoginRefusesImpossibleInputFirst(t *testing.T) {
	t.Parallel()
	lim := &countingLimiter{Limiter: ratelimit.NewMemory(nil)}
	f, _ := newLoginRBAC(t, authority.Options{Limiter: lim})
	f.user(t, "alice", "viewer")
	events := func() int {
		page, err := f.a.ListEvents(f.admin, authority.ListEventsInput{Limit: authority.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Items)
	}
	before, calls, writes := events(), lim.calls.Load(), f.store.writes.Load()
	for name, in := range map[string]keyward.LoginInput{
		"HugeName":     {Name: strings.Repeat("a", 1<<20), Password: pw},
		"InvalidName":  {Name: "alice bob", Password: pw},
		"ColonName":    {Name: "svc:acme:deployer", Password: pw},
		"HugePassword": {Name: "alice", Password: strings.Repeat("p", 1<<20)},
		"NoPassword":   {Name: "alice"},
	} {
		if _, err := f.a.Login(context.Background(), in, "10.5.0.1"); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("%s: %v, want the one login failure", name, err)
		}
	}
	if got := lim.calls.Load() - calls; got != 0 {
		t.Fatalf("impossible logins made %d limiter calls", got)
	}
	if got := f.store.writes.Load() - writes; got != 0 || events() != before {
		t.Fatalf("impossible logins wrote %d times", got)
	}
	// A possible one that fails is audited, each field at most 128 bytes.
	long := strings.Repeat("n", 128)
	if _, err := f.a.Login(context.Background(), keyward.LoginInput{Name: long, Password: "wrong password!"}, strings.Repeat("9", 4096)); keyward.ErrorCode(err) != keyward.EUnauthenticated {
		t.Fatalf("failed login: %v", err)
	}
	page, err := f.a.ListEvents(f.admin, authority.ListEventsInput{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	ev := page.Items[0]
	if ev.Action != "user.login" || ev.Outcome != keyward.OutcomeDenied || ev.Detail["user"] != long {
		t.Fatalf("newest event = %+v, want the denied login", ev)
	}
	if len(ev.RemoteAddr) > 128 {
		t.Fatalf("audited address of %d bytes, want at most 128", len(ev.RemoteAddr))
	}
}
