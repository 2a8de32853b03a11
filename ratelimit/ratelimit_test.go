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
	m.mu.Lock()
	n := len(m.tats)
	m.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d lapsed keys kept", n)
	}
}
