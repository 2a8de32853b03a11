// Package sqlitetest gives tests an SQLite database file that keyward's store opens as a new,
// empty one, without migrating it again: the first call migrates a database once per test
// binary and keeps its bytes, and every call writes a copy into the test's temporary directory.
// Under -race migrating a new file costs a noticeable fraction of a second, and most tests open
// a store of their own; migrating from scratch is sqlite's own TestMigrations' business.
package sqlitetest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/keyward/keyward/sqlite"
)

var (
	once     sync.Once
	files    map[string][]byte // suffix ("" for the database, "-wal") -> contents
	firstErr error
)

// Path writes a freshly migrated, empty database to keyward.db in tb's temporary directory
// and returns its path, for sqlite.Open.
func Path(tb testing.TB) string {
	tb.Helper()
	once.Do(func() { files, firstErr = migrated() })
	if firstErr != nil {
		tb.Fatalf("sqlitetest: %v", firstErr)
	}
	path := filepath.Join(tb.TempDir(), "keyward.db")
	for suffix, b := range files {
		if err := os.WriteFile(path+suffix, b, 0o600); err != nil {
			tb.Fatalf("sqlitetest: %v", err)
		}
	}
	return path
}

// migrated opens a new database in a directory of its own, closes it and returns its files'
// contents; the directory is removed.
func migrated() (map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "keyward-sqlitetest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "keyward.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		return nil, err
	}
	if err := s.Close(); err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[suffix] = b
	}
	return out, nil
}
