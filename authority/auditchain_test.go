package authority_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/internal/testclock"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgrestest"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlitetest"
)

// TestAuditChainRotation, on both stores: a server's whole first start is chained under a MAC
// (the chain key is loaded before anything writes), a master key rotation reseals the chain key
// without touching an event, and the chain verifies under the new master key, not the old one.
// A second server starting on the database adopts the chain key instead of making another.
func TestAuditChainRotation(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(t *testing.T) keyward.Store{
		"SQLite": func(t *testing.T) keyward.Store {
			s, err := sqlite.Open(context.Background(), sqlitetest.Path(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"Postgres": func(t *testing.T) keyward.Store {
			s, err := postgres.Open(context.Background(), postgrestest.SchemaURL(t, postgrestest.URL(t)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := open(t)
			clk := testclock.New(time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC))
			mk, _ := masterkey.Generate()
			a := authority.New(s, authority.Options{Now: clk.Now, MasterKey: mk})
			t.Cleanup(func() { a.Close() })
			if err := a.InitAuditChain(ctx); err != nil {
				t.Fatalf("InitAuditChain: %v", err)
			}
			if _, err := a.Bootstrap(ctx); err != nil {
				t.Fatalf("Bootstrap: %v", err)
			}
			if err := a.InitCA(ctx); err != nil {
				t.Fatalf("InitCA: %v", err)
			}
			// A second server on the same database: the same chain, no second key.
			b := authority.New(s, authority.Options{Now: clk.Now, MasterKey: mk})
			t.Cleanup(func() { b.Close() })
			if err := b.InitCA(ctx); err != nil {
				t.Fatalf("InitCA on a second server: %v", err)
			}
			r, err := a.VerifyAuditChain(ctx, nil)
			if err != nil || !r.OK() || r.Events < 3 {
				t.Fatalf("VerifyAuditChain = %+v, %v; want OK with the start, bootstrap and CA events", r, err)
			}

			next, _ := masterkey.Generate()
			if err := a.RotateMasterKey(ctx, next); err != nil {
				t.Fatalf("RotateMasterKey: %v", err)
			}
			after := authority.New(s, authority.Options{Now: clk.Now, MasterKey: next})
			t.Cleanup(func() { after.Close() })
			got, err := after.VerifyAuditChain(ctx, nil)
			if err != nil || !got.OK() || got.Events != r.Events+1 {
				t.Fatalf("after the rotation VerifyAuditChain = %+v, %v; want OK with %d events", got, err, r.Events+1)
			}
			old := authority.New(s, authority.Options{Now: clk.Now, MasterKey: mk})
			t.Cleanup(func() { old.Close() })
			if _, err := old.VerifyAuditChain(ctx, nil); !errors.Is(err, masterkey.ErrMismatch) {
				t.Fatalf("VerifyAuditChain with the old key = %v, want ErrMismatch", err)
			}
		})
	}
}
