package storetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// testPurpose: a credential's purpose is set at creation, returned by every read, and never
// changed afterwards, whatever the struct given to UpdateCredential or RollCredential holds.
func testPurpose(t *testing.T, open func(t *testing.T) keyward.Store) {
	f := setup(t, open)
	p := f.project(t, "acme")
	own, sec := f.credential(t, p, "own", func(c *keyward.Credential) { c.Purpose = keyward.PurposeOwnKey })
	plain, _ := f.credential(t, p, "plain", nil)

	got := f.reread(t, own)
	checkCredential(t, got, own)
	if got.Purpose != keyward.PurposeOwnKey {
		t.Fatalf("Purpose = %q, want %q", got.Purpose, keyward.PurposeOwnKey)
	}
	if byName, err := f.s.CredentialByName(t.Context(), p.ID, "own"); err != nil || byName.Purpose != keyward.PurposeOwnKey {
		t.Fatalf("CredentialByName: %v, %v", byName, err)
	}
	if bySecret, _, err := f.s.CredentialBySecret(t.Context(), sec.Digest); err != nil || bySecret.Purpose != keyward.PurposeOwnKey {
		t.Fatalf("CredentialBySecret: %v, %v", bySecret, err)
	}
	list, err := f.s.ListCredentials(t.Context(), keyward.CredentialFilter{ProjectID: p.ID})
	if err != nil || len(list) != 2 || list[0].Purpose != keyward.PurposeOwnKey || list[1].Purpose != "" {
		t.Fatalf("ListCredentials: %v, %v", list, err)
	}

	// Neither an update nor a roll moves it, either way.
	up := clone(got)
	up.Purpose, up.Description, up.UpdatedAt = "", "changed", at(time.Minute)
	if err := f.s.UpdateCredential(t.Context(), up, f.event("credential.update")); err != nil {
		t.Fatal(err)
	}
	up = clone(f.reread(t, plain))
	up.Purpose, up.Description, up.UpdatedAt = keyward.PurposeOwnKey, "changed", at(time.Minute)
	if err := f.s.UpdateCredential(t.Context(), up, f.event("credential.update")); err != nil {
		t.Fatal(err)
	}
	rolled := clone(f.reread(t, own))
	rolled.Purpose = ""
	f.roll(t, rolled, "own-2", at(2*time.Minute), at(2*time.Minute))
	if got := f.reread(t, own).Purpose; got != keyward.PurposeOwnKey {
		t.Fatalf("after an update and a roll, Purpose = %q, want %q", got, keyward.PurposeOwnKey)
	}
	if got := f.reread(t, plain).Purpose; got != "" {
		t.Fatalf("after an update, a plain credential's Purpose = %q, want none", got)
	}
}
