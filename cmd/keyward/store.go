package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/sqlite"
)

// The database a command works on is named by one URL (--database, $KEYWARD_DATABASE_URL):
//
//	postgres://user:pass@host:5432/db?sslmode=...   PostgreSQL (postgresql:// too)
//	sqlite:///var/lib/keyward/keyward.db            SQLite at an absolute path
//	sqlite://keyward.db                              SQLite at a path relative to the working directory
//	(empty)                                          SQLite at <data>/keyward.db, the embedded default

const databaseHelp = "database URL: postgres://user@host/db, or sqlite:///abs/path.db or sqlite://relative.db (env KEYWARD_DATABASE_URL); default SQLite at <data>/keyward.db"

// Database kinds.
const (
	kindSQLite   = "sqlite"
	kindPostgres = "postgres"
)

// database is a parsed database URL.
type database struct {
	kind string
	path string // SQLite: the file
	url  string // PostgreSQL: the URL as given, password included: never log it, log String()
}

// String names the database for a log line or a message: the SQLite path, or the PostgreSQL
// URL without its password.
func (d database) String() string {
	if d.kind == kindSQLite {
		return "sqlite://" + d.path
	}
	return redactDatabaseURL(d.url)
}

// parseDatabase reads a database URL; dataDir places the default SQLite file. A URL it cannot
// use is a usage error.
func parseDatabase(databaseURL, dataDir string) (database, error) {
	raw := strings.TrimSpace(databaseURL)
	switch {
	case raw == "":
		return database{kind: kindSQLite, path: filepath.Join(dataDir, "keyward.db")}, nil
	case strings.HasPrefix(raw, "sqlite://"):
		p := strings.TrimPrefix(raw, "sqlite://")
		if p == "" || p == "/" {
			return database{}, usageErrorf("--database %q names no file: use sqlite:///abs/path.db or sqlite://relative.db", raw)
		}
		if strings.ContainsAny(p, "?#") {
			return database{}, usageErrorf("--database %q: a sqlite:// URL takes a plain path, without ? or #", raw)
		}
		return database{kind: kindSQLite, path: filepath.Clean(p)}, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		u, err := url.Parse(raw)
		if err != nil {
			return database{}, usageErrorf("--database is not a valid URL") // err would quote the password
		}
		if u.Host == "" && u.Query().Get("host") == "" {
			return database{}, usageErrorf("--database %s names no host", redactDatabaseURL(raw))
		}
		return database{kind: kindPostgres, url: raw}, nil
	}
	scheme, _, _ := strings.Cut(raw, ":")
	return database{}, usageErrorf("--database must start with postgres://, postgresql:// or sqlite://, not %q", scheme+":")
}

// openStore opens (and migrates) the store databaseURL names; see parseDatabase. A SQLite
// file's directory is created (0700) when missing.
func openStore(ctx context.Context, databaseURL, dataDir string) (keyward.Store, database, error) {
	db, err := parseDatabase(databaseURL, dataDir)
	if err != nil {
		return nil, db, err
	}
	switch db.kind {
	case kindSQLite:
		if err := os.MkdirAll(filepath.Dir(db.path), 0o700); err != nil {
			return nil, db, fmt.Errorf("creating the directory of %s: %w", db.path, err)
		}
		s, err := sqlite.Open(ctx, db.path)
		if err != nil {
			return nil, db, err
		}
		return s, db, nil
	default:
		s, err := postgres.Open(ctx, db.url)
		if err != nil {
			return nil, db, err
		}
		return s, db, nil
	}
}

// redactDatabaseURL returns a PostgreSQL URL with its password (in the userinfo or a password
// query parameter) replaced by "xxxxx".
func redactDatabaseURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a database URL that does not parse)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
