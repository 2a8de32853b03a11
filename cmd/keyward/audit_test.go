package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/postgrestest"
)

// headRE finds the head "keyward audit verify" prints.
var headRE = regexp.MustCompile(`Head: (\d+:[0-9a-f]{64})`)

// verifyOK runs audit verify on db with the key in keyFile, wants it to pass and returns the
// head it prints.
func verifyOK(t *testing.T, db, keyFile string, extra ...string) string {
	t.Helper()
	r := runOffline(t, nil, append([]string{"audit", "verify", "--database", db, "--master-key-file", keyFile}, extra...)...)
	m := headRE.FindStringSubmatch(r.stdout)
	if r.code != 0 || !strings.Contains(r.stdout, "OK: the audit chain of") || m == nil {
		t.Fatalf("audit verify %s: exit %d\n%s%s", db, r.code, r.stdout, r.stderr)
	}
	return m[1]
}

// TestAuditVerify: "keyward audit verify" passes on what keyward wrote, after a master key
// rotation and after "migrate copy" to PostgreSQL and back, and names the event a hand in the
// database changed, on either store.
func TestAuditVerify(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "master.key")
	path := offlineDB(t, dir, key)
	db := "sqlite://" + path

	head := verifyOK(t, db, key)
	t.Run("JSON", func(t *testing.T) {
		r := runOffline(t, nil, "-o", "json", "audit", "verify", "--database", db, "--master-key-file", key)
		var out struct {
			OK     bool
			Events int64
			Head   string
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 || !out.OK || out.Head != head || out.Events < 2 {
			t.Fatalf("exit %d, %+v (%v)\n%s", r.code, out, err, r.stdout)
		}
	})
	t.Run("Anchor", func(t *testing.T) {
		verifyOK(t, db, key, "--anchor", head)
		r := runOffline(t, nil, "audit", "verify", "--database", db, "--master-key-file", key, "--anchor", "1:"+strings.Repeat("00", 32))
		if r.code != 1 || !strings.Contains(r.stdout, "anchor") {
			t.Fatalf("a wrong anchor: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		r = runOffline(t, nil, "audit", "verify", "--database", db, "--master-key-file", key, "--anchor", "x")
		if r.code != 2 {
			t.Fatalf("a malformed anchor: exit %d\n%s", r.code, r.stderr)
		}
	})
	t.Run("Refusals", func(t *testing.T) {
		other := filepath.Join(dir, "other.key")
		mk, _ := masterkey.Generate()
		if err := mk.WriteFile(other); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			args []string
			code int
			msg  string
		}{
			{"WrongKey", []string{"--database", db, "--master-key-file", other}, 1, "is not the one"},
			{"NoDatabase", []string{"--database", "sqlite://" + filepath.Join(dir, "none.db"), "--master-key-file", key}, 2, "no database at"},
			{"NoKey", []string{"--data", t.TempDir()}, 2, "no"},
		} {
			r := runOffline(t, nil, append([]string{"audit", "verify"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.name, r.code, r.stderr, tc.code, tc.msg)
			}
		}
	})

	// A master key rotation reseals the chain key: the chain verifies under the new key.
	newKey := filepath.Join(dir, "new.key")
	if r := runOffline(t, nil, "ca", "rotate-master-key", "--database", db, "--master-key-file", key, "--new-key-file", newKey); r.code != 0 {
		t.Fatalf("rotate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	rotated := verifyOK(t, db, newKey)
	if rotated == head {
		t.Fatalf("head %s after the rotation, want the rotation's event after it", rotated)
	}
	verifyOK(t, db, newKey, "--anchor", head) // what was recorded before still holds

	// migrate copy to PostgreSQL and back keeps the chain and its key.
	pg := postgrestest.SchemaURL(t, postgrestest.URL(t))
	if r := runOffline(t, nil, "migrate", "copy", "--from", db, "--to", pg); r.code != 0 {
		t.Fatalf("copy to postgres: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := verifyOK(t, pg, newKey); got != rotated {
		t.Fatalf("head on PostgreSQL %s, want %s", got, rotated)
	}
	back := "sqlite://" + filepath.Join(t.TempDir(), "back.db")
	if r := runOffline(t, nil, "migrate", "copy", "--from", pg, "--to", back); r.code != 0 {
		t.Fatalf("copy back: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := verifyOK(t, back, newKey); got != rotated {
		t.Fatalf("head after the copy back %s, want %s", got, rotated)
	}

	// A hand in either database is named.
	t.Run("TamperedSQLite", func(t *testing.T) {
		if _, err := rawSQLite(t, strings.TrimPrefix(back, "sqlite://")).Exec(`UPDATE events SET actor = 'mallory' WHERE seq = 2`); err != nil {
			t.Fatal(err)
		}
		r := runOffline(t, nil, "audit", "verify", "--database", back, "--master-key-file", newKey)
		for _, want := range []string{"FAILED", "edited", "Seq:", "content does not match"} {
			if r.code != 1 || !strings.Contains(r.stdout, want) {
				t.Fatalf("exit %d, stdout %q; want 1 and %q", r.code, r.stdout, want)
			}
		}
	})
	t.Run("TamperedPostgres", func(t *testing.T) {
		conn := rawPostgres(t, pg)
		if _, err := conn.Exec(t.Context(), `DELETE FROM events WHERE seq = 2`); err != nil {
			t.Fatal(err)
		}
		r := runOffline(t, nil, "-o", "json", "audit", "verify", "--database", pg, "--master-key-file", newKey)
		var out struct {
			OK      bool
			Problem struct {
				Kind string
				Seq  int64
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 1 || out.OK || out.Problem.Kind != "deleted" || out.Problem.Seq != 3 {
			t.Fatalf("exit %d, %+v (%v)\n%s%s", r.code, out, err, r.stdout, r.stderr)
		}
	})
}

// rawSQLite opens the SQLite file at path past the store, as someone with access to it would.
func rawSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rawPostgres connects to url past the store.
func rawPostgres(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
