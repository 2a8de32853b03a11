package keyward_test

import (
	"testing"

	"github.com/keyward/keyward"
)

func TestWebhookType(t *testing.T) {
	ok := func(action string, detail map[string]string) *keyward.Event {
		return &keyward.Event{Action: action, ProjectID: 2, CredentialID: 3, Outcome: keyward.OutcomeSuccess, Detail: detail}
	}
	for _, tc := range []struct {
		name string
		ev   *keyward.Event
		want string
	}{
		{"Created", ok("credential.create", nil), keyward.WebhookCredentialCreated},
		{"Renewed", ok("credential.renew", nil), keyward.WebhookCredentialRenewed},
		{"Rolled", ok("credential.roll", nil), keyward.WebhookCredentialRolled},
		{"Revoked", ok("credential.revoke", nil), keyward.WebhookCredentialRevoked},
		{"Disabled", ok("credential.update", map[string]string{"fields": "active", "active": "false"}), keyward.WebhookCredentialDisabled},
		{"Enabled", ok("credential.update", map[string]string{"fields": "active,name", "active": "true"}), keyward.WebhookCredentialEnabled},
		{"OtherUpdate", ok("credential.update", map[string]string{"fields": "name"}), ""},
		{"AutoDisabled", ok("credential.auto_disable", nil), keyward.WebhookCredentialAutoDisabled},
		{"Expiring", ok("credential.expiring", nil), keyward.WebhookCredentialExpiring},
		{"Expired", ok("credential.expired", nil), keyward.WebhookCredentialExpired},
		{"Leaked", ok("credential.leaked", nil), keyward.WebhookCredentialLeaked},
		{"Reveal", ok("credential.reveal", nil), ""},
		{"Denied", &keyward.Event{Action: "credential.create", ProjectID: 2, CredentialID: 3, Outcome: keyward.OutcomeDenied}, ""},
		{"NoCredential", &keyward.Event{Action: "credential.create", ProjectID: 2, Outcome: keyward.OutcomeSuccess}, ""},
		{"NoProject", &keyward.Event{Action: "credential.revoke", CredentialID: 3, Outcome: keyward.OutcomeSuccess}, ""},
		{"Nil", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := keyward.WebhookType(tc.ev); got != tc.want {
				t.Fatalf("WebhookType = %q, want %q", got, tc.want)
			}
			if tc.want != "" && !keyward.ValidWebhookType(tc.want) {
				t.Fatalf("%q is not in WebhookTypes", tc.want)
			}
		})
	}
}
