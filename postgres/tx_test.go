package postgres_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/postgrestest"
)

// TestWithTxRetriesDeadlock: two transactions that lock two rows in opposite orders deadlock;
// PostgreSQL aborts one (40P01), and WithTx runs its fn again once the other committed, so both
// succeed and neither caller sees the deadlock.
func TestWithTxRetriesDeadlock(t *testing.T) {
	url := postgrestest.SchemaURL(t, postgrestest.URL(t))
	s := MustOpen(t, url)
	ctx := t.Context()
	for _, k := range []string{"x", "y"} {
		if err := s.PutSetting(ctx, k, []byte("0"), nil); err != nil {
			t.Fatal(err)
		}
	}
	var (
		runs    atomic.Int64
		barrier sync.WaitGroup
		done    sync.WaitGroup
		errs    [2]error
	)
	barrier.Add(2)
	done.Add(2)
	for i, order := range [][2]string{{"x", "y"}, {"y", "x"}} {
		go func() {
			defer done.Done()
			first := true
			errs[i] = s.WithTx(ctx, func(tx keyward.Store) error {
				runs.Add(1)
				if err := tx.PutSetting(ctx, order[0], []byte{byte('a' + i)}, nil); err != nil {
					return err
				}
				if first { // both hold their first row before either asks for its second
					first = false
					barrier.Done()
					barrier.Wait()
				}
				return tx.PutSetting(ctx, order[1], []byte{byte('a' + i)}, nil)
			})
		}()
	}
	done.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	// At least one re-run; PostgreSQL may abort the re-run once more while the winner still holds
	// its locks, within WithTx's bounded attempts.
	if got := runs.Load(); got < 3 {
		t.Fatalf("fn ran %d times, want at least 3 (a re-run after the deadlock)", got)
	}
	x, err := s.Setting(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	y, err := s.Setting(ctx, "y")
	if err != nil {
		t.Fatal(err)
	}
	if string(x) != string(y) {
		t.Fatalf("x = %q, y = %q: the re-run transaction did not write both", x, y)
	}
}
