package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/sqlite"
)

// TestRecoverToken: with the database and its master key, recover-token mints a working admin
// token, audited as an offline recovery; with a wrong key it changes nothing.
func TestRecoverToken(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "master.key")
	db := offlineDB(t, dir, keyFile)
	dbURL := "sqlite://" + db

	other := filepath.Join(dir, "other.key")
	mk, _ := masterkey.Generate()
	if err := mk.WriteFile(other); err != nil {
		t.Fatal(err)
	}
	if r := runOffline(t, nil, "recover-token", "--database", dbURL, "--master-key-file", other); r.code != 1 || !strings.Contains(r.stderr, "is not the one") || r.stdout != "" {
		t.Fatalf("wrong key: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := runOffline(t, nil, "recover-token", "--database", dbURL, "--master-key-file", keyFile, "--expiration-days", "31"); r.code == 0 {
		t.Fatalf("31 days: exit 0, want a refusal")
	}
	if r := runOffline(t, nil, "recover-token", "--database", dbURL, "--master-key-file", keyFile, "--user", "nobody"); r.code == 0 {
		t.Fatalf("unknown user: exit 0, want a refusal")
	}

	r := runOffline(t, nil, "recover-token", "--database", dbURL, "--master-key-file", keyFile)
	tok := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(tok, "kw_live_") {
		t.Fatalf("recover-token: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	ctx := context.Background()
	store, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := authority.New(store, authority.Options{})
	defer a.Close()
	caller, err := a.Authenticate(ctx, tok, "127.0.0.1")
	if err != nil {
		t.Fatalf("the recovered token does not authenticate: %v", err)
	}
	if !caller.Can(keyward.PermUsersAdmin, 0) || caller.User.Name != keyward.AdminUser {
		t.Fatalf("recovered token acts as %s with %v; want the admin with every right", caller.User.Name, caller.Grants)
	}
	page, err := a.ListEvents(keyward.NewContext(ctx, caller), authority.ListEventsInput{Project: keyward.SystemProject})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range page.Items {
		found = found || (ev.Action == "credential.create" && ev.Detail["recovery"] == "offline")
	}
	if !found {
		t.Fatal("no credential.create event with recovery=offline")
	}
	if strings.Contains(r.stderr, tok) {
		t.Fatal("the token was written to stderr")
	}
}
