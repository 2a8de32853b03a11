package ratelimit

import (
	"context"
	"testing"
	"time"
)

func TestMemory(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMemory(func() time.Time { return now })
	ctx := context.Background()
	r := Rate{Limit: 5, Period: 15 * time.Minute}

	for i := 0; i < 5; i++ {
		res, _ := m.Allow(ctx, "alice", r)
		if !res.Allowed || res.Remaining != 4-i {
			t.Fatalf("event %d: %+v, want allowed with %d remaining", i, res, 4-i)
		}
	}
	res, _ := m.Allow(ctx, "alice", r)
	if res.Allowed || res.RetryAfter != 3*time.Minute {
		t.Fatalf("6th event: %+v, want refused for 3m", res)
	}
	if p, _ := m.Peek(ctx, "alice", r); p.Allowed {
		t.Fatal("Peek allows while the limit holds")
	}
	if p, _ := m.Peek(ctx, "bob", r); !p.Allowed || p.Remaining != 4 {
		t.Fatalf("another key is limited: %+v", p)
	}
	// Peek records nothing.
	for i := 0; i < 10; i++ {
		m.Peek(ctx, "carol", r)
	}
	if res, _ := m.Allow(ctx, "carol", r); !res.Allowed || res.Remaining != 4 {
		t.Fatalf("Peek consumed: %+v", res)
	}

	now = now.Add(3 * time.Minute)
	if res, _ := m.Allow(ctx, "alice", r); !res.Allowed || res.Remaining != 0 {
		t.Fatalf("after one interval: %+v, want one allowed", res)
	}
	now = now.Add(15 * time.Minute)
	if res, _ := m.Allow(ctx, "alice", r); !res.Allowed || res.Remaining != 4 {
		t.Fatalf("after a full period: %+v, want the full burst back", res)
	}
	now = now.Add(time.Hour)
	m.Peek(ctx, "zed", r) // triggers the sweep
	if n := m.len(); n != 0 {
		t.Fatalf("%d lapsed keys kept", n)
	}
}

// A refund gives back exactly one recorded event, and never more than the full burst.
func TestMemoryRefund(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMemory(func() time.Time { return now })
	testRefund(t, m)
}

// testRefund runs the refund rules on a limiter whose clock stands still for the test (an hour
// long period keeps Redis's real clock out of it).
func testRefund(t *testing.T, l Limiter) {
	t.Helper()
	ctx := context.Background()
	r := Rate{Limit: 5, Period: time.Hour}
	allowed := func(key string, n int) int {
		t.Helper()
		got := 0
		for range n {
			res, err := l.Allow(ctx, key, r)
			if err != nil {
				t.Fatal(err)
			}
			if res.Allowed {
				got++
			}
		}
		return got
	}
	if got := allowed("alice", 6); got != 5 {
		t.Fatalf("%d of 6 allowed, want 5", got)
	}
	if err := l.Refund(ctx, "alice", r); err != nil {
		t.Fatal(err)
	}
	if got := allowed("alice", 3); got != 1 {
		t.Fatalf("after one refund %d of 3 allowed, want 1", got)
	}
	// Refunding more than was recorded gives back the full burst, no more.
	for range 20 {
		if err := l.Refund(ctx, "alice", r); err != nil {
			t.Fatal(err)
		}
	}
	if got := allowed("alice", 10); got != 5 {
		t.Fatalf("after refunding everything %d of 10 allowed, want the burst of 5", got)
	}
	// A key never seen stays as it is.
	if err := l.Refund(ctx, "bob", r); err != nil {
		t.Fatal(err)
	}
	if got := allowed("bob", 10); got != 5 {
		t.Fatalf("refund of an unknown key: %d of 10 allowed, want 5", got)
	}
}
