package sqlite_test

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// TestWithTxRetriesBusy: when another process holds the write lock for longer than the busy
// timeout (5 s), BEGIN IMMEDIATE fails with SQLITE_BUSY and WithTx tries again instead of
// failing the operation.
func TestWithTxRetriesBusy(t *testing.T) {
	t.Parallel() // it waits out the busy timeout
	path := filepath.Join(t.TempDir(), "keyward.db")
	a, b := MustOpen(t, path), MustOpen(t, path) // two processes' stores on one file
	ctx := t.Context()
	holding := make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- a.WithTx(ctx, func(tx keyward.Store) error {
			if err := tx.PutSetting(ctx, "x", []byte("a"), nil); err != nil {
				return err
			}
			close(holding)
			time.Sleep(6 * time.Second) // past b's busy timeout
			return nil
		})
	}()
	<-holding
	var runs atomic.Int64
	err := b.WithTx(ctx, func(tx keyward.Store) error {
		runs.Add(1)
		return tx.PutSetting(ctx, "x", []byte("b"), nil)
	})
	if err != nil {
		t.Fatalf("WithTx while another process held the lock: %v", err)
	}
	if err := <-held; err != nil {
		t.Fatalf("the holder: %v", err)
	}
	if got := runs.Load(); got != 1 {
		t.Fatalf("fn ran %d times, want 1 (BEGIN failed, fn never started)", got)
	}
	if v, err := b.Setting(ctx, "x"); err != nil || string(v) != "b" {
		t.Fatalf("x = %q, %v; want the retried write", v, err)
	}
}
