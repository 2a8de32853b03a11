// Package authoritytest gives a test what every server test starts from: a new SQLite store and
// an authority on it with a master key of its own, both closed when the test ends.
package authoritytest

import (
	"context"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlitetest"
)

// Store opens a new SQLite store for t.
func Store(t testing.TB) keyward.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// New starts an authority on store with opts, and a new master key when opts has none.
func New(t testing.TB, store keyward.Store, opts authority.Options) *authority.Authority {
	t.Helper()
	if opts.MasterKey == nil {
		mk, err := masterkey.Generate()
		if err != nil {
			t.Fatal(err)
		}
		opts.MasterKey = mk
	}
	a := authority.New(store, opts)
	t.Cleanup(func() { a.Close() })
	return a
}
