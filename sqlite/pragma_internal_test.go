package sqlite

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPragmas checks that the DSN reaches every pool: durability and foreign keys on the
// writer, query_only on the readers.
func TestPragmas(t *testing.T) {
	// The odd characters check that the path survives the file: URI.
	path := filepath.Join(t.TempDir(), "key ward?#%.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at its path: %v", err)
	}
	for _, tc := range []struct {
		name   string
		pool   string
		pragma string
		want   string
	}{
		{"WriteSynchronousFull", "write", "synchronous", "2"},
		{"WriteForeignKeys", "write", "foreign_keys", "1"},
		{"WriteBusyTimeout", "write", "busy_timeout", "5000"},
		{"WriteJournalMode", "write", "journal_mode", "wal"},
		{"ReadQueryOnly", "read", "query_only", "1"},
		{"ReadBusyTimeout", "read", "busy_timeout", "5000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := s.write
			if tc.pool == "read" {
				db = s.read
			}
			var got string
			if err := db.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
			}
			if got != tc.want {
				t.Fatalf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
			}
		})
	}
	if _, err := s.read.ExecContext(t.Context(), `INSERT INTO events (time, action, outcome) VALUES (0, 'x', 'y')`); err == nil {
		t.Fatal("the read pool accepted a write")
	}
}
