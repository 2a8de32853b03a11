package authority_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

// wantPolicyRefusal checks that err is the EInvalid of a policy rule naming its setting.
func wantPolicyRefusal(t *testing.T, err error, rule string) {
	t.Helper()
	var e *keyward.Error
	if !asError(err, &e) || e.Code != keyward.EInvalid || !strings.HasPrefix(e.Message, "project policy: "+rule) {
		t.Fatalf("err = %v; want EInvalid starting %q", err, "project policy: "+rule)
	}
}

func TestPolicyEnforced(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	// Made before the policy: it never expires and lives in live, which the policy forbids.
	if _, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: "old", NeverExpires: true}); err != nil {
		t.Fatal(err)
	}
	pol := keyward.Policy{MaxLifetimeDays: 30, RequireExpiry: true, AllowedTypes: []keyward.CredentialType{keyward.APIToken},
		AllowedEnvironments: []keyward.Environment{keyward.Test}}
	if _, err := f.a.SetProjectPolicy(f.admin, "acme", pol); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: "ok", Environment: keyward.Test, ExpirationDays: days(30)}); err != nil {
		t.Fatalf("a key within the policy: %v", err)
	}
	const maxRule, expiryRule = "max_lifetime_days is 30", "require_expiry is true"
	create := func(in keyward.CreateCredentialInput) error {
		if in.Environment == "" {
			in.Environment = keyward.Test
		}
		_, err := f.a.CreateCredential(f.admin, "acme", in)
		return err
	}
	cases := []struct {
		name string
		do   func() error
		rule string // "" when allowed
	}{
		{"CreateTooLong", func() error { return create(keyward.CreateCredentialInput{Name: "c1", ExpirationDays: days(31)}) }, maxRule},
		{"CreateAtTooLong", func() error {
			return create(keyward.CreateCredentialInput{Name: "c2", ExpiresAt: ptr(t0.AddDate(0, 0, 31))})
		}, maxRule},
		{"CreateNever", func() error { return create(keyward.CreateCredentialInput{Name: "c3", NeverExpires: true}) }, expiryRule},
		{"CreateType", func() error {
			return create(keyward.CreateCredentialInput{Name: "c4", Type: keyward.APICertificate, ExpirationDays: days(1),
				CertificateOptions: keyward.CertificateOptions{Password: "correct horse battery"}})
		}, "allowed_types is API_TOKEN"},
		{"CreateEnvironment", func() error {
			return create(keyward.CreateCredentialInput{Name: "c5", Environment: keyward.Live, ExpirationDays: days(1)})
		}, "allowed_environments is test"},
		{"CreateDefaultExpiryShortened", func() error {
			c, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: "c6", Environment: keyward.Test})
			if err == nil && (c.ExpiresAt == nil || !c.ExpiresAt.Equal(t0.AddDate(0, 0, 30))) {
				t.Errorf("default expiry = %v, want the policy's 30 days", c.ExpiresAt)
			}
			return err
		}, ""},
		{"RenewTooLong", func() error {
			_, err := f.a.RenewCredential(f.admin, "acme", "ok", keyward.RenewInput{ExpirationDays: days(31)})
			return err
		}, maxRule},
		{"RenewWithin", func() error {
			_, err := f.a.RenewCredential(f.admin, "acme", "ok", keyward.RenewInput{ExpirationDays: days(29)})
			return err
		}, ""},
		{"UpdateTooLong", func() error {
			_, err := f.a.UpdateCredential(f.admin, "acme", "ok", keyward.UpdateCredentialInput{ExpiresAt: ptr(t0.AddDate(0, 0, 40))})
			return err
		}, maxRule},
		{"UpdateNever", func() error {
			_, err := f.a.UpdateCredential(f.admin, "acme", "ok", keyward.UpdateCredentialInput{NeverExpires: ptr(true)})
			return err
		}, expiryRule},
		{"ScheduleTooLong", func() error {
			_, err := f.a.ScheduleCredential(f.admin, "acme", "ok", authority.ScheduleInput{ExpiresAt: ptr(t0.AddDate(0, 0, 31))})
			return err
		}, maxRule},
		{"ScheduleWithin", func() error {
			_, err := f.a.ScheduleCredential(f.admin, "acme", "ok", authority.ScheduleInput{ExpiresAt: ptr(t0.AddDate(0, 0, 10))})
			return err
		}, ""},
		{"UpdateAndRollTooLong", func() error {
			_, _, err := f.a.UpdateAndRollCredential(f.admin, "acme", "ok",
				&keyward.UpdateCredentialInput{ExpiresAt: ptr(t0.AddDate(0, 0, 31))}, &keyward.RollInput{})
			return err
		}, maxRule},
		{"ServiceCredentialTooLong", func() error {
			_, err := f.a.CreateServiceCredential(f.admin, "acme", authority.CreateServiceCredentialInput{Name: "svc",
				ExpirationDays: days(31), Access: []authority.ProjectRole{{Project: "acme", Role: "viewer"}}})
			return err
		}, "allowed_environments is test"}, // a service credential is live, which the policy forbids first
		// A key issued before the policy keeps its expiry through changes that leave it alone.
		{"OldKeyDescription", func() error {
			_, err := f.a.UpdateCredential(f.admin, "acme", "old", keyward.UpdateCredentialInput{Description: ptr("kept")})
			return err
		}, ""},
		{"OldKeyRoll", func() error {
			_, err := f.a.RollCredential(f.admin, "acme", "old", keyward.RollInput{})
			return err
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("refused within the policy: %v", err)
				}
				return
			}
			wantPolicyRefusal(t, err, tc.rule)
		})
	}
	if c, err := f.a.Credential(f.admin, "acme", "ok"); err != nil || c.ExpiresAt == nil || !c.ExpiresAt.Equal(t0.AddDate(0, 0, 10)) {
		t.Fatalf("ok = %+v, %v; want only the allowed changes (expiry in 10 days)", c, err)
	}

	t.Run("MaxLifetimeAloneRefusesNever", func(t *testing.T) {
		if _, err := f.a.SetProjectPolicy(f.admin, "globex", keyward.Policy{MaxLifetimeDays: 7}); err != nil {
			t.Fatal(err)
		}
		_, err := f.a.CreateCredential(f.admin, "globex", keyward.CreateCredentialInput{Name: "n", NeverExpires: true})
		wantPolicyRefusal(t, err, "max_lifetime_days is 7")
	})
}

func TestSetProjectPolicy(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	viewer := f.user(t, "pol-viewer", "viewer")

	t.Run("Audited", func(t *testing.T) {
		got, err := f.a.SetProjectPolicy(f.admin, "acme", keyward.Policy{MaxLifetimeDays: 90, AllowedTypes: []keyward.CredentialType{keyward.KubeToken, keyward.APIToken}})
		if err != nil {
			t.Fatal(err)
		}
		if got.LeakAction != keyward.LeakRevoke || len(got.AllowedTypes) != 2 || got.AllowedTypes[0] != keyward.APIToken {
			t.Fatalf("policy = %+v; want normalized (sorted types, leak_action revoke)", got)
		}
		p, err := f.a.Project(f.admin, "acme")
		if err != nil || p.Policy.MaxLifetimeDays != 90 {
			t.Fatalf("project = %+v, %v; want the policy on it", p, err)
		}
		page, err := f.a.ListEvents(f.admin, authority.ListEventsInput{Project: "acme", Limit: authority.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		ev := page.Items[0]
		if ev.Action != "project.policy" || ev.Detail["changed"] != "max_lifetime_days,allowed_types" ||
			ev.Detail["max_lifetime_days"] != "90" || ev.Detail["allowed_types"] != "API_TOKEN,KUBE_TOKEN" {
			t.Fatalf("event = %+v", ev)
		}
		// The same policy again changes nothing and is not audited again.
		if _, err := f.a.SetProjectPolicy(f.admin, "acme", *got); err != nil {
			t.Fatal(err)
		}
		again, _ := f.a.ListEvents(f.admin, authority.ListEventsInput{Project: "acme", Limit: authority.MaxPageSize})
		if again.Items[0].ID != ev.ID {
			t.Fatalf("an unchanged policy wrote %+v", again.Items[0])
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		for _, pol := range []keyward.Policy{
			{MaxLifetimeDays: -1}, {MaxLifetimeDays: keyward.MaxExpirationDays + 1}, {DisableUnusedDays: -5},
			{AllowedTypes: []keyward.CredentialType{keyward.Session}}, {AllowedEnvironments: []keyward.Environment{"prod"}},
			{LeakAction: "shrug"}, {FirstUseGraceSeconds: keyward.MaxGraceSeconds + 1},
		} {
			if _, err := f.a.SetProjectPolicy(f.admin, "globex", pol); keyward.ErrorCode(err) != keyward.EInvalid {
				t.Errorf("SetProjectPolicy(%+v) = %v, want EInvalid", pol, err)
			}
		}
		_, err := f.a.SetProjectPolicy(f.admin, keyward.SystemProject, keyward.Policy{AllowedTypes: []keyward.CredentialType{keyward.APICertificate}})
		if keyward.ErrorCode(err) != keyward.EInvalid {
			t.Errorf("a system project without API tokens = %v, want EInvalid", err)
		}
	})

	t.Run("Permissions", func(t *testing.T) {
		if _, err := f.a.ProjectPolicy(viewer, "acme"); err != nil {
			t.Fatalf("a viewer reads the policy: %v", err)
		}
		if _, err := f.a.SetProjectPolicy(viewer, "acme", keyward.Policy{}); keyward.ErrorCode(err) != keyward.EForbidden {
			t.Fatalf("a viewer sets the policy: %v, want EForbidden", err)
		}
	})
}

func TestDisableUnused(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	mk := func(name string, in keyward.CreateCredentialInput) *keyward.IssuedCredential {
		t.Helper()
		in.Name, in.ExpirationDays = name, days(365)
		c, err := f.a.CreateCredential(f.admin, "acme", in)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	unused, used, reenabled := mk("unused", keyward.CreateCredentialInput{}), mk("used", keyward.CreateCredentialInput{}), mk("reenabled", keyward.CreateCredentialInput{})
	other, err := f.a.CreateCredential(f.admin, "globex", keyward.CreateCredentialInput{Name: "elsewhere", ExpirationDays: days(365)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.SetProjectPolicy(f.admin, "acme", keyward.Policy{DisableUnusedDays: 10}); err != nil {
		t.Fatal(err)
	}
	sweep := func(want int) {
		t.Helper()
		n, err := f.a.DisableUnused(context.Background())
		if err != nil || n != want {
			t.Fatalf("DisableUnused = %d, %v; want %d", n, err, want)
		}
	}
	state := func(project string, c *keyward.IssuedCredential) keyward.State {
		t.Helper()
		got, err := f.a.Credential(f.admin, project, c.Name)
		if err != nil {
			t.Fatal(err)
		}
		return got.State
	}

	f.clock.Add(9 * 24 * time.Hour)
	sweep(0) // nine days: nothing is unused yet
	if got := f.verifyCode(t, used.Key); got != keyward.CodeValid {
		t.Fatalf("used key verifies %s", got)
	}
	f.clock.Add(24*time.Hour + time.Second)
	sweep(2) // ten days since creation: unused and reenabled; used was seen a day ago
	for c, want := range map[*keyward.IssuedCredential]keyward.State{unused: keyward.StateDisabled, reenabled: keyward.StateDisabled, used: keyward.StateActive} {
		if got := state("acme", c); got != want {
			t.Errorf("%s is %s, want %s", c.Name, got, want)
		}
	}
	if got := state("globex", other); got != keyward.StateActive {
		t.Errorf("a key of a project without the rule is %s", got)
	}
	if got := f.verifyCode(t, unused.Key); got != keyward.CodeDisabled {
		t.Errorf("a disabled key verifies %s, want DISABLED", got)
	}
	page, err := f.a.ListEvents(f.admin, authority.ListEventsInput{Project: "acme", Limit: authority.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	disabled := map[int64]int{}
	for _, ev := range page.Items {
		if ev.Action == "credential.auto_disable" {
			disabled[ev.CredentialID]++
			if ev.Detail["disable_unused_days"] != "10" || ev.Actor != "system" {
				t.Errorf("event = %+v", ev)
			}
		}
	}
	if len(disabled) != 2 || disabled[unused.ID] != 1 || disabled[reenabled.ID] != 1 {
		t.Fatalf("auto_disable events by credential = %v, want one for each of %d and %d", disabled, unused.ID, reenabled.ID)
	}

	// An operator enables a key again: the next sweeps count from then, not from its creation.
	if _, err := f.a.UpdateCredential(f.admin, "acme", "reenabled", keyward.UpdateCredentialInput{Active: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	sweep(0)
	if got := state("acme", reenabled); got != keyward.StateActive {
		t.Fatalf("the sweep undid the enable: %s", got)
	}
	f.clock.Add(10*24*time.Hour + time.Second)
	if err := f.a.FlushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	sweep(2) // now reenabled is unused for ten days again, and so is used
	if got := state("acme", reenabled); got != keyward.StateDisabled {
		t.Fatalf("reenabled is %s ten days after its enable, want disabled", got)
	}
}
