// Package postgrestest gives tests a PostgreSQL database of their own on the server that
// KEYWARD_TEST_POSTGRES_URL names (default postgres://postgres@127.0.0.1:5432/postgres with
// trust authentication, what scripts/test-services.sh provides).
//
// URL creates a fresh database per call and drops it (WITH FORCE) when the test ends. Creating
// a database costs a few hundred milliseconds, so a test that needs many empty stores takes one
// database and a fresh schema per subtest from SchemaURL, which puts the schema on the URL's
// search_path. A test never skips for want of a server: it fails and says what to run.
//
// Proxy sits between a store and the server so that a test can cut the database off (refused
// connections, dropped sessions) or make it hang, and bring it back.
package postgrestest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable that points the tests at a server; its URL must let
// the tests create databases.
const EnvURL = "KEYWARD_TEST_POSTGRES_URL"

// DefaultURL is the server the tests use when EnvURL is empty.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// namePrefix starts the name of every database this package creates; the unix time that
// follows it lets a later run drop what a killed run left behind.
const namePrefix = "kwtest_"

// staleAfter is the age past which a leftover test database is dropped.
const staleAfter = 6 * time.Hour

// ServerURL returns the URL of the test server (EnvURL, else DefaultURL) once it answers; when
// it does not, tb fails with what to run.
func ServerURL(tb testing.TB) string {
	tb.Helper()
	u := serverURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		tb.Fatalf("postgrestest: no PostgreSQL answers at %s: %v\n"+
			"The PostgreSQL tests need a server. Run scripts/test-services.sh (it uses the one on "+
			"127.0.0.1:5432 or starts a throwaway cluster, installing Debian's postgresql package "+
			"with apt-get when initdb is missing) and export the %s it prints, or run `make test`, "+
			"which does both. By hand: apt-get install postgresql.", Redact(u), err, EnvURL)
	}
	conn.Close(ctx)
	return u
}

func serverURL() string {
	if u := strings.TrimSpace(os.Getenv(EnvURL)); u != "" {
		return u
	}
	return DefaultURL
}

// URL creates a new, empty database on the test server and returns its URL; the database is
// dropped, with any session still on it, when tb ends.
func URL(tb testing.TB) string {
	tb.Helper()
	admin := ServerURL(tb)
	name := fmt.Sprintf("%s%d_%s", namePrefix, time.Now().Unix(), randomHex(6))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("postgrestest: connect to %s: %v", Redact(admin), err)
	}
	defer conn.Close(ctx)
	dropStale(ctx, conn)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("postgrestest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Errorf("postgrestest: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if err := dropDatabase(ctx, conn, name); err != nil {
			tb.Errorf("postgrestest: drop database %s: %v", name, err)
		}
	})
	u, err := withDatabase(admin, name)
	if err != nil {
		tb.Fatalf("postgrestest: %v", err)
	}
	return u
}

// SchemaURL creates a new, empty schema in the database dbURL names and returns dbURL with the
// schema as its search_path: a store opened on it sees only that schema. The schema is dropped
// when tb ends.
func SchemaURL(tb testing.TB, dbURL string) string {
	tb.Helper()
	name, u, err := createSchema(dbURL)
	if err != nil {
		tb.Fatalf("postgrestest: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			tb.Errorf("postgrestest: drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			tb.Errorf("postgrestest: drop schema %s: %v", name, err)
		}
	})
	return u
}

// Schemas hands out the schemas of one database to subtests that run in parallel: each Get
// returns a schema no other running test holds, empty (Reset) when it was used before, and
// takes it back when the test ends. Reusing schemas keeps the cost of migrating one per test
// off the suite; the database, and every schema with it, is dropped when the parent test ends.
type Schemas struct {
	db   string
	mu   sync.Mutex
	free []string
}

// NewSchemas creates a database for tb's subtests to take schemas from with Get.
func NewSchemas(tb testing.TB) *Schemas {
	tb.Helper()
	return &Schemas{db: URL(tb)}
}

// Get returns the URL of a schema that t holds until it ends: new, or emptied by Reset.
func (p *Schemas) Get(t testing.TB) string {
	t.Helper()
	p.mu.Lock()
	var u string
	if n := len(p.free); n > 0 {
		u, p.free = p.free[n-1], p.free[:n-1]
	}
	p.mu.Unlock()
	if u != "" {
		Reset(t, u)
	} else {
		var err error
		if _, u, err = createSchema(p.db); err != nil {
			t.Fatalf("postgrestest: %v", err)
		}
	}
	// Registered first, so it runs after the cleanups of whatever t opens on the schema.
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.free = append(p.free, u)
	})
	return u
}

// createSchema creates a new schema in the database dbURL names and returns its name and dbURL
// with the schema as its search_path; dropping the database drops it.
func createSchema(dbURL string) (name, u string, err error) {
	name = "kw_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", "", fmt.Errorf("connect to %s: %v", Redact(dbURL), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", "", fmt.Errorf("create schema %s: %v", name, err)
	}
	u, err = WithParam(dbURL, "search_path", name)
	if err == nil {
		u, err = WithParam(u, "synchronous_commit", "off")
	}
	return name, u, err
}

// Exec runs sql on the database dbURL names, outside any store: for a test that must tamper
// with a database or look at it directly.
func Exec(tb testing.TB, dbURL, sql string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		tb.Fatalf("postgrestest: connect to %s: %v", Redact(dbURL), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("postgrestest: exec: %v", err)
	}
}

// Reset empties every table of the schema that url's search_path selects, but
// schema_migrations, and restarts their identity sequences: the schema is then as a freshly
// migrated one. Emptying a migrated schema takes milliseconds where migrating a new one takes a
// tenth of a second or more, so a suite that opens a store per subtest resets one schema
// between them. Reset keeps one connection per url for the life of the test binary.
func Reset(tb testing.TB, url string) {
	tb.Helper()
	resetMu.Lock()
	defer resetMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := resetConns[url]
	if conn == nil || conn.Ping(ctx) != nil {
		var err error
		if conn, err = pgx.Connect(ctx, url); err != nil {
			tb.Fatalf("postgrestest: connect to %s: %v", Redact(url), err)
		}
		resetConns[url] = conn
	}
	if err := reset(ctx, conn); err != nil {
		conn.Close(ctx)
		delete(resetConns, url)
		tb.Fatalf("postgrestest: reset %s: %v", Redact(url), err)
	}
}

var (
	resetMu    sync.Mutex
	resetConns = map[string]*pgx.Conn{}
)

// reset deletes the rows of every table in the current schema but schema_migrations, those
// that reference others first, and restarts every identity sequence, in one transaction. DELETE
// on a test's few rows is much cheaper than TRUNCATE, which replaces every table's files.
func reset(ctx context.Context, conn *pgx.Conn) error {
	rows, err := conn.Query(ctx, `SELECT c.relname,
		COALESCE((SELECT array_agg(DISTINCT r.relname::text) FROM pg_constraint f JOIN pg_class r ON r.oid = f.confrelid
			WHERE f.conrelid = c.oid AND f.contype = 'f' AND f.confrelid <> c.oid), '{}')
		FROM pg_class c
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND c.relname <> 'schema_migrations'`)
	if err != nil {
		return err
	}
	refs := map[string][]string{}
	var tables []string
	for rows.Next() {
		var name string
		var to []string
		if err := rows.Scan(&name, &to); err != nil {
			rows.Close()
			return err
		}
		refs[name] = to
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	sort.Strings(tables)
	// Delete a table only after every table that references it: visit referencing tables first.
	var order []string
	done := map[string]bool{}
	var visit func(string)
	visit = func(t string) {
		if done[t] {
			return
		}
		done[t] = true
		for _, other := range tables {
			if slices.Contains(refs[other], t) {
				visit(other)
			}
		}
		order = append(order, t)
	}
	for _, t := range tables {
		visit(t)
	}
	b := &pgx.Batch{}
	for _, t := range order {
		b.Queue(`DELETE FROM ` + pgx.Identifier{t}.Sanitize())
	}
	b.Queue(`SELECT setval(pg_get_serial_sequence(quote_ident(c.relname), a.attname), 1, false)
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND a.attidentity <> ''`)
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
}

// dropDatabase drops name with every session on it.
func dropDatabase(ctx context.Context, conn *pgx.Conn, name string) error {
	id := pgx.Identifier{name}.Sanitize()
	_, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+id+` WITH (FORCE)`)
	if err != nil && strings.Contains(err.Error(), "syntax error") {
		// Before PostgreSQL 13: end the sessions, then drop.
		if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name); err != nil {
			return err
		}
		_, err = conn.Exec(ctx, `DROP DATABASE IF EXISTS `+id)
	}
	return err
}

// dropStale drops the test databases that runs killed before their cleanup left behind. It is
// best effort: a failure costs only disk.
func dropStale(ctx context.Context, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'kwtest\_%'`)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		stamp, _, ok := strings.Cut(strings.TrimPrefix(n, namePrefix), "_")
		sec, err := strconv.ParseInt(stamp, 10, 64)
		if !ok || err != nil || time.Since(time.Unix(sec, 0)) < staleAfter {
			continue
		}
		_ = dropDatabase(ctx, conn, n)
	}
}

// withDatabase returns u pointing at database name instead.
func withDatabase(u, name string) (string, error) {
	if isURL(u) {
		p, err := url.Parse(u)
		if err != nil {
			return "", fmt.Errorf("parse %s: %v", EnvURL, err)
		}
		p.Path = "/" + name
		p.RawPath = ""
		return p.String(), nil
	}
	return u + " dbname=" + name, nil
}

// WithParam returns the connection string u with the run-time parameter key set to value (a
// URL query parameter, or a key=value pair); pgx sends unknown keys such as search_path to the
// server at connect time.
func WithParam(u, key, value string) (string, error) {
	if isURL(u) {
		p, err := url.Parse(u)
		if err != nil {
			return "", fmt.Errorf("parse database URL: %v", err)
		}
		q := p.Query()
		q.Set(key, value)
		p.RawQuery = q.Encode()
		return p.String(), nil
	}
	return u + " " + key + "=" + value, nil
}

func isURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// Redact returns u with its password, if any, replaced, for messages.
func Redact(u string) string {
	if isURL(u) {
		if p, err := url.Parse(u); err == nil {
			q := p.Query()
			if q.Has("password") {
				q.Set("password", "xxxxx")
				p.RawQuery = q.Encode()
			}
			return p.Redacted()
		}
		return "(unparsable URL)"
	}
	var out []string
	for _, f := range strings.Fields(u) {
		if strings.HasPrefix(f, "password=") {
			f = "password=xxxxx"
		}
		out = append(out, f)
	}
	return strings.Join(out, " ")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
