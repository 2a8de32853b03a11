package authority

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlitetest"
)

// singleServer is a counting SQLite store that keeps the embedded store's feed and its
// keyward.SingleServer answer, which countingStore's embedded interface hides.
type singleServer struct {
	*countingStore
	live *sqlite.Store
}

func (s singleServer) Watch(ctx context.Context, fn func(keyward.Invalidation)) error {
	return s.live.Watch(ctx, fn)
}

func (s singleServer) SingleServer() bool { return s.live.SingleServer() }

// On the embedded SQLite a key the server never heard of costs no store read, and a key that
// another process writes into the live file (keyward recover-token beside a running server)
// verifies once the store's feed sees the commit (within sqlite.PollInterval).
func TestExternalWriteSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := sqlitetest.Path(t)
	live, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	counted := &countingStore{Store: live}
	server := New(singleServer{counted, live}, Options{UsageFlushInterval: time.Hour})
	defer server.Close()
	tok, err := server.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := server.Authenticate(ctx, tok, "")
	if err != nil {
		t.Fatal(err)
	}
	admin := keyward.NewContext(ctx, c)
	if err := server.WaitIssued(ctx); err != nil {
		t.Fatal(err)
	}
	before := counted.bySecret.Load()
	for range 200 {
		if v, err := server.Verify(admin, keyward.VerifyInput{Key: newKey(t)}); err != nil || v.Code != keyward.CodeNotFound {
			t.Fatalf("never-issued key: %+v, %v", v, err)
		}
	}
	if n := counted.bySecret.Load() - before; n != 0 {
		t.Fatalf("200 never-issued keys made %d store reads, want 0", n)
	}

	// The other process: its own connections to the same file, and its own authority.
	other, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	offline := New(other, Options{UsageFlushInterval: time.Hour})
	defer offline.Close()
	issued, err := offline.RecoverAdminToken(ctx, RecoverInput{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * sqlite.PollInterval)
	for {
		v, err := server.Verify(admin, keyward.VerifyInput{Key: issued.Key})
		if err != nil {
			t.Fatal(err)
		}
		if v.Valid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the key written by another process still answers %s", v.Code)
		}
		time.Sleep(sqlite.PollInterval / 10)
	}
}
