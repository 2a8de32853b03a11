package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgrestest"
	"github.com/keyward/keyward/snapshot"
	"github.com/keyward/keyward/sqlite"
)

// runKeyward runs the CLI with env as its whole environment.
func runKeyward(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := runEnv(args, strings.NewReader(""), &out, &errb, func(k string) string { return env[k] })
	return result{code, out.String(), errb.String()}
}

func TestMigrateUpStatus(t *testing.T) {
	t.Parallel()
	pg := postgrestest.SchemaURL(t, postgrestest.URL(t))
	latest := postgres.LatestSchemaVersion()

	t.Run("PostgresEmpty", func(t *testing.T) {
		r := runKeyward(t, nil, "migrate", "status", "--database", pg, "-o", "json")
		if r.code != 0 {
			t.Fatalf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		var st struct {
			Current, Latest int64
			State           string
		}
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatalf("status -o json: %v\n%s", err, r.stdout)
		}
		if st.Current != 0 || st.Latest != latest || !strings.Contains(st.State, "empty") {
			t.Fatalf("status = %+v, want current 0, latest %d, empty", st, latest)
		}
	})

	t.Run("PostgresUp", func(t *testing.T) {
		// The URL may come from the environment, as it does for serve.
		r := runKeyward(t, map[string]string{"KEYWARD_DATABASE_URL": pg}, "migrate", "up")
		if r.code != 0 || !strings.Contains(r.stdout, "migrated from schema version 0 to") {
			t.Fatalf("up: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		r = runKeyward(t, nil, "migrate", "up", "--database", pg)
		if r.code != 0 || !strings.Contains(r.stdout, "up to date") {
			t.Fatalf("second up: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		r = runKeyward(t, nil, "migrate", "status", "--database", pg)
		if r.code != 0 || !strings.Contains(r.stdout, "up to date") {
			t.Fatalf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("PostgresNewer", func(t *testing.T) {
		url := postgrestest.SchemaURL(t, postgrestest.URL(t))
		if _, err := postgres.Migrate(t.Context(), url); err != nil {
			t.Fatal(err)
		}
		postgrestest.Exec(t, url, `INSERT INTO schema_migrations (version, name) VALUES ($1, 'future.sql')`, latest+1)
		r := runKeyward(t, nil, "migrate", "status", "--database", url)
		if r.code != 1 || !strings.Contains(r.stderr, "newer") || !strings.Contains(r.stdout, "upgrade keyward") {
			t.Fatalf("status of a newer schema: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
		}
		r = runKeyward(t, nil, "migrate", "up", "--database", url)
		if r.code != 1 || !strings.Contains(r.stderr, "newer") {
			t.Fatalf("up on a newer schema: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("SQLite", func(t *testing.T) {
		data := t.TempDir()
		r := runKeyward(t, map[string]string{"KEYWARD_DATA": data}, "migrate", "status")
		if r.code != 0 || !strings.Contains(r.stdout, "empty") {
			t.Fatalf("status of a missing file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(data, "keyward.db")); !os.IsNotExist(err) {
			t.Fatalf("status created the database file (%v)", err)
		}
		r = runKeyward(t, map[string]string{"KEYWARD_DATA": data}, "migrate", "up")
		if r.code != 0 || !strings.Contains(r.stdout, "migrated from schema version 0 to") {
			t.Fatalf("up: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		path := filepath.Join(t.TempDir(), "sub", "k.db")
		r = runKeyward(t, nil, "migrate", "up", "--database", "sqlite://"+path)
		if r.code != 0 {
			t.Fatalf("up on sqlite://%s: exit %d\n%s%s", path, r.code, r.stdout, r.stderr)
		}
		r = runKeyward(t, nil, "migrate", "status", "--database", "sqlite://"+path)
		if r.code != 0 || !strings.Contains(r.stdout, "up to date") {
			t.Fatalf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("ErrUsage", func(t *testing.T) {
		for _, args := range [][]string{
			{"migrate", "status", "--database", "mysql://x/y"},
			{"migrate", "up", "extra"},
			{"migrate", "copy", "--to", pg},
			{"migrate", "copy", "--from", pg, "--to", pg},
		} {
			if r := runKeyward(t, nil, args...); r.code != exitUsage {
				t.Fatalf("%v: exit %d, want %d\n%s", args, r.code, exitUsage, r.stderr)
			}
		}
	})
}

// TestMigrateCopy fills a SQLite store through the authority (bootstrap, a project, a key
// rolled with a grace period, a revoked key), copies it to PostgreSQL with "keyward migrate
// copy", and checks that every row round-trips and that the keys issued before the copy
// authenticate, and verify as before, on PostgreSQL.
func TestMigrateCopy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "keyward.db")
	src, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a := authority.New(src, authority.Options{})
	admin, err := a.Bootstrap(ctx)
	if err != nil || admin == "" {
		t.Fatalf("Bootstrap: %q, %v", admin, err)
	}
	caller, err := a.Authenticate(ctx, admin, "192.0.2.1")
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	actx := keyward.NewContext(ctx, caller)
	if _, err := a.CreateProject(actx, keyward.CreateProjectInput{Slug: "acme"}); err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	web, err := a.CreateCredential(actx, "acme", keyward.CreateCredentialInput{Name: "web", Meta: map[string]string{"team": "web"}})
	if err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	rolled, err := a.RollCredential(actx, "acme", "web", keyward.RollInput{GraceSeconds: 3600})
	if err != nil {
		t.Fatalf("RollCredential: %v", err)
	}
	gone, err := a.CreateCredential(actx, "acme", keyward.CreateCredentialInput{Name: "gone"})
	if err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	if _, err := a.RevokeCredential(actx, "acme", "gone"); err != nil {
		t.Fatalf("RevokeCredential: %v", err)
	}
	if _, err := a.Authenticate(ctx, web.Key, "192.0.2.1"); err != nil { // records a use
		t.Fatalf("Authenticate with the pre-roll key: %v", err)
	}
	if err := a.Close(); err != nil { // writes last_used_at
		t.Fatal(err)
	}
	want, err := src.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src.Close()

	pg := postgrestest.SchemaURL(t, postgrestest.URL(t))
	r := runKeyward(t, nil, "migrate", "copy", "--from", "sqlite://"+path, "--to", pg)
	if r.code != 0 {
		t.Fatalf("copy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, want.Summary()) || !strings.Contains(r.stdout, "matches") {
		t.Fatalf("copy output = %q, want the summary %q", r.stdout, want.Summary())
	}

	dst, err := postgres.Open(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	got, err := dst.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := snapshot.Diff(want, got); d != nil {
		t.Fatalf("PostgreSQL holds other rows than SQLite did: %v", d)
	}
	b := authority.New(dst, authority.Options{})
	defer b.Close()
	for _, key := range []string{admin, web.Key, rolled.Key} {
		if _, err := b.Authenticate(ctx, key, "192.0.2.1"); err != nil {
			t.Fatalf("a key issued before the copy does not authenticate on PostgreSQL: %v", err)
		}
	}
	if _, err := b.Authenticate(ctx, gone.Key, "192.0.2.1"); keyward.ErrorCode(err) != keyward.EUnauthenticated {
		t.Fatalf("the revoked key on PostgreSQL: %v, want unauthenticated", err)
	}

	t.Run("ErrNotEmpty", func(t *testing.T) {
		r := runKeyward(t, nil, "migrate", "copy", "--from", "sqlite://"+path, "--to", pg)
		if r.code != 1 || !strings.Contains(r.stderr, "not empty") {
			t.Fatalf("copy into a full database: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("BackToSQLite", func(t *testing.T) {
		back := filepath.Join(t.TempDir(), "back.db")
		r := runKeyward(t, nil, "migrate", "copy", "--from", pg, "--to", "sqlite://"+back, "-o", "json")
		if r.code != 0 {
			t.Fatalf("copy back: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out["credentials"] != float64(len(want.Credentials)) {
			t.Fatalf("copy -o json = %q (%v)", r.stdout, err)
		}
	})
}

// TestServePostgres runs "keyward serve --database postgres://..." as a newcomer would: it
// bootstraps on PostgreSQL, answers the API, never logs the database password, and a second
// start finds the data it wrote.
func TestServePostgres(t *testing.T) {
	t.Parallel()
	pg := postgrestest.SchemaURL(t, postgrestest.URL(t))
	// The test server's trust authentication ignores a password; one is put in the URL to be
	// kept out of the log. A URL that brings its own password keeps it.
	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	password, ok := u.User.Password()
	if !ok {
		password = "s3cret-pw"
		u.User = url.UserPassword(u.User.Username(), password)
	}
	withPassword := u.String()
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	keyFile := filepath.Join(t.TempDir(), "master.key") // replicas on PostgreSQL share a given key
	mk, err := masterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := mk.WriteFile(keyFile); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, t.TempDir(), "--database", withPassword, "--bootstrap-token-file", tokenFile, "--master-key-file", keyFile)
	raw, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatalf("bootstrap token file: %v\n%s", err, srv.stderr.String())
	}
	admin := strings.TrimSpace(string(raw))
	c := client.New(srv.url, admin)
	who, err := c.Whoami(context.Background())
	if err != nil || who.User == nil || who.User.Name != keyward.AdminUser {
		t.Fatalf("whoami = %+v, %v", who, err)
	}
	srv.stop(t)
	log := srv.stderr.String()
	if strings.Contains(log, password) {
		t.Fatalf("the log shows the database password:\n%s", log)
	}
	if !strings.Contains(log, "database opened") || !strings.Contains(log, "xxxxx@") {
		t.Fatalf("the log does not name the database (redacted):\n%s", log)
	}

	// A second start on the same database finds it bootstrapped and the token still works.
	srv = startServer(t, t.TempDir(), "--database", pg, "--master-key-file", keyFile)
	if _, err := client.New(srv.url, admin).Whoami(context.Background()); err != nil {
		t.Fatalf("whoami after a restart: %v", err)
	}
	srv.stop(t)
}
