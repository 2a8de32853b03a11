package sqlstore

import (
	"slices"
	"testing"
	"time"
)

func TestRebind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`WHERE a = ? AND b = ?`, `WHERE a = $1 AND b = $2`},
		{`SET v = ?2, at = ?3 WHERE k = ?1`, `SET v = $2, at = $3 WHERE k = $1`},
		{`WHERE name = '?' AND id = ?`, `WHERE name = '?' AND id = $1`},         // quoted text stays
		{`SELECT "a?b" FROM t WHERE x = ?`, `SELECT "a?b" FROM t WHERE x = $1`}, // so do identifiers
		{`SELECT ?::jsonb`, `SELECT $1::jsonb`},
	} {
		if got := Rebind(tc.in); got != tc.want {
			t.Errorf("Rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestChanges: what a transaction announces is each changed id once, ascending; a role change
// is everything, and so are too many created secrets; a rolled-back savepoint takes back what it recorded; nothing is nothing.
func TestChanges(t *testing.T) {
	t.Parallel()
	var c changes
	if _, ok := c.invalidation(); ok {
		t.Fatal("an empty transaction announces something")
	}
	c.add(credentialChanged, 7)
	c.add(userChanged, 3)
	m := c.mark()
	c.add(credentialChanged, 9)
	c.add(rolesChanged)
	c.undo(m)
	c.add(credentialChanged, 5, 7)
	inv, ok := c.invalidation()
	if !ok || inv.All || !slices.Equal(inv.CredentialIDs, []int64{5, 7}) || !slices.Equal(inv.UserIDs, []int64{3}) {
		t.Fatalf("invalidation = %+v, %v; want credentials [5 7], user [3]", inv, ok)
	}
	m = c.mark()
	c.secretCreated([]byte{2})
	c.undo(m)
	c.secretCreated([]byte{1})
	if inv, ok := c.invalidation(); !ok || len(inv.Secrets) != 1 || inv.Secrets[0][0] != 1 {
		t.Fatalf("invalidation with a created secret = %+v, %v; want secrets [01]", inv, ok)
	}
	for range maxAnnouncedSecrets {
		c.secretCreated([]byte{3})
	}
	if inv, _ := c.invalidation(); !inv.All {
		t.Fatalf("invalidation after %d created secrets = %+v, want All", maxAnnouncedSecrets+1, inv)
	}
	var roles changes // on its own: c already announces everything
	roles.add(rolesChanged)
	if inv, ok := roles.invalidation(); !ok || !inv.All {
		t.Fatalf("invalidation after a role change = %+v, %v, want All", inv, ok)
	}
}

// TestTimeScan reads both engines' time columns alike, in UTC.
func TestTimeScan(t *testing.T) {
	t.Parallel()
	want := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	for _, v := range []any{want.UnixMicro(), want.In(time.FixedZone("x", 3600))} {
		var got Time
		if err := got.Scan(v); err != nil || !got.Valid || !got.T.Equal(want) || got.T.Location() != time.UTC {
			t.Errorf("Scan(%T) = %v %v, %v; want %v in UTC", v, got.T, got.Valid, err, want)
		}
	}
	var null Time
	if err := null.Scan(nil); err != nil || null.Valid || null.Ptr() != nil {
		t.Errorf("Scan(nil) = %+v, %v; want not valid", null, err)
	}
}
