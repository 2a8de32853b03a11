package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/snapshot"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/token"
)

// benchSnapshot holds n active API tokens in the system project, created by admin, and one
// more for the admin itself; it returns the n tokens and the admin's. Seeding goes through the
// store's own Import, since creating a million credentials one durable transaction at a time
// would take an hour.
func benchSnapshot(n int, schemaVersion int64) (*snapshot.Snapshot, []string, string) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	snap := &snapshot.Snapshot{
		SchemaVersion: schemaVersion,
		Projects:      []keyward.Project{{ID: 1, Slug: keyward.SystemProject, Name: "System", CreatedAt: now}},
		Users:         []snapshot.User{{User: keyward.User{ID: 1, Name: keyward.AdminUser, CreatedAt: now, UpdatedAt: now}}},
		RoleBindings:  []keyward.RoleBinding{{UserID: 1, RoleID: 1}},
	}
	for _, r := range authority.BuiltinRoles() {
		snap.Roles = append(snap.Roles, *r)
	}
	admin := ""
	keys := make([]string, 0, n)
	for i := 0; i <= n; i++ {
		tok, err := token.New(keyward.Live)
		if err != nil {
			fatalf("%v", err)
		}
		id := int64(i + 1)
		name := "bench-" + strconv.Itoa(i)
		if i == n {
			admin, name = tok, "bench-admin"
		} else {
			keys = append(keys, tok)
		}
		snap.Credentials = append(snap.Credentials, keyward.Credential{
			ID: id, ProjectID: 1, Name: name, Type: keyward.APIToken, Environment: keyward.Live,
			KeyType: keyward.Secret, CreatedBy: 1, RoleIDs: []int64{1}, Meta: map[string]string{"tier": "bench"},
			Active: true, CreatedAt: now, UpdatedAt: now, Version: 1, Start: token.Start(tok),
		})
		snap.Secrets = append(snap.Secrets, keyward.CredentialSecret{Digest: token.Digest(tok), CredentialID: id, CreatedAt: now})
	}
	return snap, keys, admin
}

// seedSQLite creates <dir>/keyward.db holding benchSnapshot(n) and returns it open.
func seedSQLite(dir string, n int) (*sqlite.Store, []string, string) {
	ctx := context.Background()
	snap, keys, admin := benchSnapshot(n, sqlite.LatestSchemaVersion())
	store, err := sqlite.Open(ctx, filepath.Join(dir, "keyward.db"))
	if err != nil {
		fatalf("opening SQLite: %v", err)
	}
	if err := store.Import(ctx, snap); err != nil {
		fatalf("seeding SQLite: %v", err)
	}
	return store, keys, admin
}

// seedPostgres fills the empty database dbURL names with benchSnapshot(n).
func seedPostgres(dbURL string, n int) ([]string, string) {
	ctx := context.Background()
	snap, keys, admin := benchSnapshot(n, postgres.LatestSchemaVersion())
	store, err := postgres.Open(ctx, dbURL)
	if err != nil {
		fatalf("opening PostgreSQL: %v", err)
	}
	defer store.Close()
	if err := store.Import(ctx, snap); err != nil {
		fatalf("seeding PostgreSQL: %v", err)
	}
	return keys, admin
}

// createDatabase creates a database of this run's own on the server adminURL names (which
// must allow CREATE DATABASE) and registers its drop; it returns its URL.
func createDatabase(adminURL string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	name := fmt.Sprintf("keyward_bench_%d_%s", time.Now().Unix(), hex.EncodeToString(b))
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		fatalf("connecting to PostgreSQL (KEYWARD_TEST_POSTGRES_URL; run scripts/test-services.sh): %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		fatalf("creating database %s: %v", name, err)
	}
	atExit(func() { dropDatabase(adminURL, name) })
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		fatalf("KEYWARD_TEST_POSTGRES_URL must be a postgres:// URL")
	}
	u.Path, u.RawPath = "/"+name, ""
	return u.String()
}

// dropDatabase drops name with any session still on it; idempotent.
func dropDatabase(adminURL, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		fmt.Printf("(could not drop database %s: %v)\n", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
		fmt.Printf("(could not drop database %s: %v)\n", name, err)
	}
}
