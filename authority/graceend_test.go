package authority_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgrestest"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlitetest"
)

// TestRollGraceUntilFirstUse: a roll whose old key dies only after the new key's first use.
// The old key verifies after the roll and still does well within the hard limit; once the new
// key verified on one replica, the old one stops on every replica within the bound (the write,
// then the change feed), with one credential.grace_end event; a key whose new secret is never
// used loses its old one at the hard limit.
func TestRollGraceUntilFirstUse(t *testing.T) {
	t.Parallel()
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		s, err := sqlite.Open(context.Background(), sqlitetest.Path(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		clk := &clock{t: t0}
		a := authority.New(s, authority.Options{Now: clk.Now, UsageFlushInterval: time.Hour})
		t.Cleanup(func() { a.Close() })
		testFirstUseGrace(t, clk, a, a)
	})
	t.Run("TwoReplicasOnPostgreSQL", func(t *testing.T) {
		t.Parallel()
		url := postgrestest.SchemaURL(t, postgrestest.URL(t))
		clk := &clock{t: t0}
		var as [2]*authority.Authority
		for i := range as {
			s, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			as[i] = authority.New(s, authority.Options{Now: clk.Now, UsageFlushInterval: time.Hour})
			t.Cleanup(func() { as[i].Close() })
		}
		testFirstUseGrace(t, clk, as[0], as[1])
	})
}

func testFirstUseGrace(t *testing.T, clk *clock, a, b *authority.Authority) {
	ctx := context.Background()
	tok, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	caller, err := a.Authenticate(ctx, tok, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	admin := keyward.NewContext(ctx, caller)
	code := func(x *authority.Authority, key string) string {
		t.Helper()
		v, err := x.Verify(admin, keyward.VerifyInput{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return v.Code
	}
	both := func(key, want, when string) {
		t.Helper()
		for i, x := range []*authority.Authority{a, b} {
			if got := code(x, key); got != want {
				t.Fatalf("%s: replica %d verifies %s, want %s", when, i, got, want)
			}
		}
	}
	issue := func(name string, grace int64) (old, new string) {
		t.Helper()
		c, err := a.CreateCredential(admin, keyward.SystemProject, keyward.CreateCredentialInput{Name: name, ExpirationDays: days(30)})
		if err != nil {
			t.Fatal(err)
		}
		r, err := a.RollCredential(admin, keyward.SystemProject, name, keyward.RollInput{GraceUntilFirstUse: true, GraceSeconds: grace})
		if err != nil {
			t.Fatal(err)
		}
		return c.Key, r.Key
	}

	old, new := issue("rolling", 3600)
	both(old, keyward.CodeValid, "right after the roll")
	clk.Add(50 * time.Minute)
	both(old, keyward.CodeValid, "50 minutes later, the new key never used")

	// The new key's first use, on the first replica only.
	if got := code(a, new); got != keyward.CodeValid {
		t.Fatalf("the new key verifies %s", got)
	}
	// The bound: the end's write, then the change feed reaching the other replica. Both are
	// well under a second here; five is the test's patience on a loaded machine.
	deadline := time.Now().Add(5 * time.Second)
	for code(a, old) != keyward.CodeNotFound || code(b, old) != keyward.CodeNotFound {
		if time.Now().After(deadline) {
			t.Fatalf("the old key still verifies 5s after the new key's first use: %s, %s", code(a, old), code(b, old))
		}
		time.Sleep(20 * time.Millisecond)
	}
	both(new, keyward.CodeValid, "after the grace ended")
	page, err := a.ListEvents(admin, authority.ListEventsInput{Project: keyward.SystemProject, Limit: authority.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range page.Items {
		if ev.Action == "credential.grace_end" {
			n++
			if ev.Detail["reason"] != "first_use" || ev.CredentialID == 0 || ev.ProjectID == 0 {
				t.Errorf("event = %+v", ev)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d credential.grace_end events, want 1", n)
	}

	// The hard limit, when the new key is never used.
	old, _ = issue("unused", 600)
	both(old, keyward.CodeValid, "right after the second roll")
	clk.Add(599 * time.Second)
	both(old, keyward.CodeValid, "a second before the hard limit")
	clk.Add(time.Second)
	both(old, keyward.CodeNotFound, "at the hard limit")
}
