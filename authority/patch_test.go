package authority_test

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

// TestOnePatch: UpdateCredential and ScheduleCredential are one patch operation: a value equal to
// the current one is no change (no write, no version), not_before moves through either, and only
// UpdateCredential refuses a request that names nothing.
func TestOnePatch(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	c, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: "p", Description: "same", Roles: []string{"viewer"}})
	if err != nil {
		t.Fatal(err)
	}
	ref := "p"
	desc, on := "same", true
	got, err := f.a.UpdateCredential(f.admin, "acme", ref, keyward.UpdateCredentialInput{
		Description: &desc, Active: &on, ExpiresAt: c.ExpiresAt, Roles: &[]string{"viewer"},
	})
	if err != nil || got.Version != c.Version {
		t.Fatalf("equal values: version %d -> %v, %v; want no write", c.Version, got, err)
	}
	if _, err := f.a.UpdateCredential(f.admin, "acme", ref, keyward.UpdateCredentialInput{}); keyward.ErrorCode(err) != keyward.EInvalid {
		t.Fatalf("empty update: %v, want invalid", err)
	}
	if got, err := f.a.ScheduleCredential(f.admin, "acme", ref, authority.ScheduleInput{}); err != nil || got.Version != c.Version {
		t.Fatalf("empty schedule: %v, %v; want the credential unchanged", got, err)
	}
	start := f.clock.Now().Add(time.Hour)
	got, err = f.a.UpdateCredential(f.admin, "acme", ref, keyward.UpdateCredentialInput{NotBefore: &start})
	if err != nil || got.State != keyward.StatePending || got.Version != c.Version+1 {
		t.Fatalf("not_before through PATCH: %+v, %v; want pending at the next version", got, err)
	}
	got, err = f.a.UpdateCredential(f.admin, "acme", ref, keyward.UpdateCredentialInput{ClearNotBefore: true})
	if err != nil || got.State != keyward.StateActive || got.NotBefore != nil {
		t.Fatalf("clear_not_before: %+v, %v; want active", got, err)
	}
	late := c.ExpiresAt.Add(time.Hour)
	if _, err := f.a.UpdateCredential(f.admin, "acme", ref, keyward.UpdateCredentialInput{NotBefore: &late}); keyward.ErrorCode(err) != keyward.EInvalid {
		t.Fatalf("not_before after the expiry: %v, want invalid", err)
	}
}
