package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseDatabase(t *testing.T) {
	data := filepath.Join("some", "data")
	for _, tc := range []struct {
		name, url string
		kind      string
		path      string // SQLite
		shown     string // String(): what a log line says
		usage     bool   // a usage error
	}{
		{"Default", "", kindSQLite, filepath.Join(data, "keyward.db"), "sqlite://" + filepath.Join(data, "keyward.db"), false},
		{"DefaultBlank", "  ", kindSQLite, filepath.Join(data, "keyward.db"), "", false},
		{"SQLiteAbsolute", "sqlite:///var/lib/keyward/k.db", kindSQLite, "/var/lib/keyward/k.db", "sqlite:///var/lib/keyward/k.db", false},
		{"SQLiteRelative", "sqlite://k.db", kindSQLite, "k.db", "sqlite://k.db", false},
		{"SQLiteRelativeDir", "sqlite://dir/k.db", kindSQLite, filepath.Join("dir", "k.db"), "", false},
		{"Postgres", "postgres://keyward@db.internal:5432/keyward?sslmode=require", kindPostgres, "", "postgres://keyward@db.internal:5432/keyward?sslmode=require", false},
		{"PostgreSQL", "postgresql://db.internal/keyward", kindPostgres, "", "postgresql://db.internal/keyward", false},
		{"PostgresPasswordRedacted", "postgres://keyward:s3cret@db.internal/keyward", kindPostgres, "", "postgres://keyward:xxxxx@db.internal/keyward", false},
		{"PostgresPasswordParamRedacted", "postgres://keyward@db.internal/keyward?password=s3cret&sslmode=disable", kindPostgres, "", "postgres://keyward@db.internal/keyward?password=xxxxx&sslmode=disable", false},
		{"PostgresSocketHost", "postgres:///keyward?host=/run/postgresql", kindPostgres, "", "", false},
		{"ErrPostgresNoHost", "postgres:///keyward", "", "", "", true},
		{"ErrSQLiteNoPath", "sqlite://", "", "", "", true},
		{"ErrSQLiteRoot", "sqlite:///", "", "", "", true},
		{"ErrSQLiteQuery", "sqlite://k.db?mode=ro", "", "", "", true},
		{"ErrScheme", "mysql://db/keyward", "", "", "", true},
		{"ErrBarePath", "/var/lib/keyward/k.db", "", "", "", true},
		{"ErrBadURL", "postgres://keyward:s3cret@db.internal:port/keyward", "", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := parseDatabase(tc.url, data)
			if tc.usage {
				var ue *usageError
				if !errors.As(err, &ue) {
					t.Fatalf("parseDatabase(%q) = %+v, %v; want a usage error", tc.url, db, err)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseDatabase(%q): %v", tc.url, err)
			}
			if got, want := db.kind, tc.kind; got != want {
				t.Fatalf("kind = %q, want %q", got, want)
			}
			if got, want := db.path, tc.path; got != want {
				t.Fatalf("path = %q, want %q", got, want)
			}
			if tc.kind == kindPostgres && db.url != strings.TrimSpace(tc.url) {
				t.Fatalf("url = %q, want the URL as given", db.url)
			}
			if tc.shown != "" && db.String() != tc.shown {
				t.Fatalf("String() = %q, want %q", db.String(), tc.shown)
			}
			if strings.Contains(db.String(), "s3cret") {
				t.Fatalf("String() shows the password: %q", db.String())
			}
		})
	}
}
