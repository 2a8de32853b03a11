package authority_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func TestRateLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	k := f.create(t, keyward.CreateCredentialInput{Name: "limited",
		RateLimit: &keyward.RateLimit{Limit: 3, Duration: time.Minute}})
	for i := 0; i < 3; i++ {
		v, err := f.a.Verify(f.admin, keyward.VerifyInput{Key: k.Key})
		if err != nil || v.Code != keyward.CodeValid || v.RateLimit == nil || v.RateLimit.Remaining != 2-i {
			t.Fatalf("verification %d: %+v %v", i, v, err)
		}
	}
	v, err := f.a.Verify(f.admin, keyward.VerifyInput{Key: k.Key})
	if err != nil || v.Valid || v.Code != keyward.CodeRateLimited || v.RateLimit.Reset != 20*time.Second {
		t.Fatalf("4th verification: %+v %v; want RATE_LIMITED, reset 20s", v, err)
	}
	f.clock.Add(20 * time.Second)
	if v, _ := f.a.Verify(f.admin, keyward.VerifyInput{Key: k.Key}); v.Code != keyward.CodeValid {
		t.Fatalf("after one interval: %s", v.Code)
	}
	// Another key is not affected, and a key without a limit carries no limit state.
	other := f.create(t, keyward.CreateCredentialInput{Name: "free"})
	if v, _ := f.a.Verify(f.admin, keyward.VerifyInput{Key: other.Key}); v.Code != keyward.CodeValid || v.RateLimit != nil {
		t.Fatalf("unlimited key: %+v", v)
	}
	// Removing the limit takes effect at once.
	if _, err := f.a.UpdateCredential(f.admin, keyward.SystemProject, "limited", keyward.UpdateCredentialInput{ClearRateLimit: true}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if v, _ := f.a.Verify(f.admin, keyward.VerifyInput{Key: k.Key}); v.Code != keyward.CodeValid {
			t.Fatalf("after clearing the limit: %s", v.Code)
		}
	}
}

func TestCredits(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	five := int64(5)
	k := f.create(t, keyward.CreateCredentialInput{Name: "metered", Remaining: &five})
	for i := 4; i >= 0; i-- {
		v, err := f.a.Verify(f.admin, keyward.VerifyInput{Key: k.Key})
		if err != nil || v.Code != keyward.CodeValid || v.Remaining == nil || *v.Remaining != int64(i) {
			t.Fatalf("use %d: %+v %v", 5-i, v, err)
		}
	}
	if v, _ := f.a.Verify(f.admin, keyward.VerifyInput{Key: k.Key}); v.Valid || v.Code != keyward.CodeUsageExceeded {
		t.Fatalf("6th use: %+v, want USAGE_EXCEEDED", v)
	}
	// Setting the counter gives uses back; clearing it makes the key unlimited.
	two := int64(2)
	if _, err := f.a.UpdateCredential(f.admin, keyward.SystemProject, "metered", keyward.UpdateCredentialInput{Remaining: &two}); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.a.Verify(f.admin, keyward.VerifyInput{Key: k.Key}); v.Code != keyward.CodeValid || *v.Remaining != 1 {
		t.Fatalf("after setting 2: %+v", v)
	}
	if _, err := f.a.UpdateCredential(f.admin, keyward.SystemProject, "metered", keyward.UpdateCredentialInput{ClearRemaining: true}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if v, _ := f.a.Verify(f.admin, keyward.VerifyInput{Key: k.Key}); v.Code != keyward.CodeValid || v.Remaining != nil {
			t.Fatalf("unlimited again: %+v", v)
		}
	}
}

func TestCreditsRefill(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	k := f.create(t, keyward.CreateCredentialInput{Name: "daily", Refill: &keyward.Refill{Interval: keyward.RefillDaily, Amount: 2}})
	for i := 0; i < 2; i++ {
		if v, _ := f.a.Verify(f.admin, keyward.VerifyInput{Key: k.Key}); v.Code != keyward.CodeValid {
			t.Fatalf("use %d: %s", i, v.Code)
		}
	}
	if v, _ := f.a.Verify(f.admin, keyward.VerifyInput{Key: k.Key}); v.Code != keyward.CodeUsageExceeded {
		t.Fatalf("3rd use the same day: %s", v.Code)
	}
	f.clock.Add(12 * time.Hour) // t0 is noon: this is the next day
	if v, _ := f.a.Verify(f.admin, keyward.VerifyInput{Key: k.Key}); v.Code != keyward.CodeValid || *v.Remaining != 1 {
		t.Fatalf("next day: %+v", v)
	}
}

// N concurrent verifications of a key with K uses succeed exactly K times.
func TestCreditsExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n, k = 60, 25
	credits := int64(k)
	key := f.create(t, keyward.CreateCredentialInput{Name: "contended", Remaining: &credits})
	var valid, exceeded atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := f.a.Verify(f.admin, keyward.VerifyInput{Key: key.Key})
			switch {
			case err != nil:
				t.Error(err)
			case v.Code == keyward.CodeValid:
				valid.Add(1)
			case v.Code == keyward.CodeUsageExceeded:
				exceeded.Add(1)
			}
		}()
	}
	wg.Wait()
	if valid.Load() != k || exceeded.Load() != n-k {
		t.Fatalf("%d valid, %d exceeded; want exactly %d and %d", valid.Load(), exceeded.Load(), k, n-k)
	}
}

func TestLimitsInvalid(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	neg := int64(-1)
	for _, tc := range []struct {
		name  string
		in    keyward.CreateCredentialInput
		field string
	}{
		{"ErrLimitZero", keyward.CreateCredentialInput{Name: "a", RateLimit: &keyward.RateLimit{Limit: 0, Duration: time.Second}}, "ratelimit"},
		{"ErrDurationTiny", keyward.CreateCredentialInput{Name: "a", RateLimit: &keyward.RateLimit{Limit: 1, Duration: time.Millisecond}}, "ratelimit"},
		{"ErrRemainingNegative", keyward.CreateCredentialInput{Name: "a", Remaining: &neg}, "remaining"},
		{"ErrRefillInterval", keyward.CreateCredentialInput{Name: "a", Refill: &keyward.Refill{Interval: "hourly", Amount: 1}}, "refill"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.a.CreateCredential(f.admin, keyward.SystemProject, tc.in)
			var e *keyward.Error
			if !asError(err, &e) || e.Code != keyward.EInvalid || e.Fields[tc.field] == "" {
				t.Fatalf("err = %v; want EInvalid naming %s", err, tc.field)
			}
		})
	}
}
