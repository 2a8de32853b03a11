package keyward_test

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func TestStateAt(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	for _, tc := range []struct {
		name string
		c    keyward.Credential
		want keyward.State
	}{
		{"Active", keyward.Credential{Active: true, ExpiresAt: &future}, keyward.StateActive},
		{"NeverExpires", keyward.Credential{Active: true}, keyward.StateActive},
		{"ExpiresNow", keyward.Credential{Active: true, ExpiresAt: &now}, keyward.StateExpired},
		{"Expired", keyward.Credential{Active: true, ExpiresAt: &past}, keyward.StateExpired},
		{"Pending", keyward.Credential{Active: true, NotBefore: &future}, keyward.StatePending},
		{"StartsNow", keyward.Credential{Active: true, NotBefore: &now}, keyward.StateActive},
		{"Disabled", keyward.Credential{Active: false}, keyward.StateDisabled},
		{"RevokedWinsOverAll", keyward.Credential{Active: false, RevokedAt: &past, ExpiresAt: &past}, keyward.StateRevoked},
		{"DisabledWinsOverExpired", keyward.Credential{Active: false, ExpiresAt: &past}, keyward.StateDisabled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.StateAt(now); got != tc.want {
				t.Fatalf("StateAt = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		s          string
		slug, name bool
	}{
		{"acme-prod", true, true},
		{"Acme", false, true},
		{"web_1.v2", false, true},
		{"123", false, false}, // a numeric slug or name would be mistaken for an id in URLs
		{"", false, false},
		{"-x", false, false},
		{"has space", false, false},
		{"../etc", false, false},
	} {
		if got := keyward.ValidSlug(tc.s); got != tc.slug {
			t.Errorf("ValidSlug(%q) = %v, want %v", tc.s, got, tc.slug)
		}
		if got := keyward.ValidName(tc.s); got != tc.name {
			t.Errorf("ValidName(%q) = %v, want %v", tc.s, got, tc.name)
		}
	}
}
