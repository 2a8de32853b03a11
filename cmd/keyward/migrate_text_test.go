package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgrestest"
	"github.com/keyward/keyward/sqlite"
)

// TestMigrateCopyInvalidText: a SQLite database written by an older keyward may hold a NUL
// byte or invalid UTF-8, which PostgreSQL cannot store. The copy names every such value and
// copies nothing; --replace-invalid-text copies them repaired.
func TestMigrateCopyInvalidText(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	src, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a := authority.New(src, authority.Options{})
	admin, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	caller, err := a.Authenticate(ctx, admin, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	web, err := a.CreateCredential(keyward.NewContext(ctx, caller), keyward.SystemProject, keyward.CreateCredentialInput{Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	src.Close()

	// What an older keyward let through, written behind the store's back: invalid UTF-8 in a
	// column, a NUL in an event's JSON detail (as the escape \u0000).
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE credentials SET description = 'a' || CAST(X'ff' AS TEXT) || 'b' WHERE id = ?`, web.ID); err != nil {
		t.Fatal(err)
	}
	var eventID int64
	if err := raw.QueryRow(`INSERT INTO events (time, actor_user_id, actor_credential_id, actor, action, project_id,
		credential_id, remote_addr, outcome, detail) VALUES (0, 0, 0, '', 'login', 0, 0, '192.0.2.9', 'denied',
		'{"name":"m\u0000n"}') RETURNING id`).Scan(&eventID); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	wantPlaces := []string{
		"credential " + strconv.FormatInt(web.ID, 10) + " description",
		"event " + strconv.FormatInt(eventID, 10) + " detail",
	}

	pg := postgrestest.SchemaURL(t, postgrestest.URL(t))
	r := runKeyward(t, nil, "migrate", "copy", "--from", "sqlite://"+path, "--to", pg)
	if r.code != 1 || !strings.Contains(r.stderr, "nothing was copied") || !strings.Contains(r.stderr, "--replace-invalid-text") {
		t.Fatalf("copy of invalid text: exit %d, want 1 with a clear report\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, p := range wantPlaces {
		if !strings.Contains(r.stderr, p) {
			t.Errorf("the report does not name %q:\n%s", p, r.stderr)
		}
	}
	if !keyward.ValidText(r.stderr) {
		t.Errorf("the report repeats the bad bytes: %q", r.stderr)
	}

	r = runKeyward(t, nil, "migrate", "copy", "--from", "sqlite://"+path, "--to", pg, "--replace-invalid-text", "-o", "json")
	if r.code != 0 {
		t.Fatalf("copy --replace-invalid-text into the target the refused copy left: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var out struct {
		Replaced []string `json:"replaced_invalid_text"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || strings.Join(out.Replaced, ",") != strings.Join(wantPlaces, ",") {
		t.Fatalf("copy -o json = %s (%v), want the replaced places %v", r.stdout, err, wantPlaces)
	}
	dst, err := postgres.Open(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	c, err := dst.CredentialByID(ctx, web.Credential.ProjectID, web.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Description, "a\uFFFDb"; got != want {
		t.Fatalf("copied description %q, want %q", got, want)
	}
}
