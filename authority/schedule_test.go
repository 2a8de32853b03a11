package authority_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

func TestScheduleCredential(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	callers := map[string]context.Context{
		"admin":    f.admin,
		"owner":    f.user(t, "sched-owner", "owner"),
		"viewer":   f.user(t, "sched-viewer", "viewer"),
		"outsider": f.user(t, "sched-outsider", ""),
	}
	if _, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: "taken"}); err != nil {
		t.Fatal(err)
	}
	session := keyward.CallerFrom(callers["owner"]).Credential
	expiry := t0.AddDate(0, 0, 30) // every case's credential expires then, unless setup says otherwise

	cases := []struct {
		name  string
		setup keyward.CreateCredentialInput // Name, ExpirationDays and Roles are filled in when empty
		as    string                        // "admin" when empty
		by    string                        // who creates the credential; "admin" when empty
		at    time.Time                     // the clock during the call, t0 when zero
		// in builds the input from the credential as created.
		in        func(c *keyward.Credential) authority.ScheduleInput
		project   string // "acme" when empty
		ref       func(c *keyward.Credential) string
		wantCode  keyward.Code
		wantField string
		// check looks at the credential as stored afterwards (on success and on failure).
		check func(t *testing.T, c *keyward.Credential)
	}{
		{
			name: "MoveStart",
			in: func(*keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{NotBefore: ptr(t0.Add(time.Hour))}
			},
			check: func(t *testing.T, c *keyward.Credential) {
				if c.NotBefore == nil || !c.NotBefore.Equal(t0.Add(time.Hour)) || c.State != keyward.StatePending || c.Version != 2 {
					t.Errorf("not_before = %v, state %s, version %d; want %v, pending, 2", c.NotBefore, c.State, c.Version, t0.Add(time.Hour))
				}
			},
		},
		{
			name:  "StartAtCreationIsNone",
			setup: keyward.CreateCredentialInput{NotBefore: ptr(t0.Add(time.Hour))},
			in: func(c *keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{NotBefore: ptr(c.CreatedAt)}
			},
			check: func(t *testing.T, c *keyward.Credential) {
				if c.NotBefore != nil || c.State != keyward.StateActive {
					t.Errorf("not_before = %v, state %s; want none, active", c.NotBefore, c.State)
				}
			},
		},
		{
			name: "StartBeforeCreationUnchanged",
			in: func(*keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{NotBefore: ptr(t0.Add(-time.Hour))}
			},
			check: func(t *testing.T, c *keyward.Credential) {
				if c.NotBefore != nil || c.Version != 1 {
					t.Errorf("not_before = %v, version %d; want none and no write", c.NotBefore, c.Version)
				}
			},
		},
		{
			name:  "ClearStart",
			setup: keyward.CreateCredentialInput{NotBefore: ptr(t0.Add(time.Hour))},
			in: func(*keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{ClearNotBefore: true}
			},
			check: func(t *testing.T, c *keyward.Credential) {
				if c.NotBefore != nil || c.State != keyward.StateActive || c.Version != 2 {
					t.Errorf("not_before = %v, state %s, version %d", c.NotBefore, c.State, c.Version)
				}
			},
		},
		{
			name: "StartAndClear",
			in: func(*keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{NotBefore: ptr(t0.Add(time.Hour)), ClearNotBefore: true}
			},
			wantCode: keyward.EInvalid, wantField: "not_before",
		},
		{
			name: "MoveExpiry",
			in: func(*keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{ExpiresAt: ptr(t0.AddDate(0, 0, 10))}
			},
			check: func(t *testing.T, c *keyward.Credential) {
				if c.ExpiresAt == nil || !c.ExpiresAt.Equal(t0.AddDate(0, 0, 10)) {
					t.Errorf("expires_at = %v, want %v", c.ExpiresAt, t0.AddDate(0, 0, 10))
				}
			},
		},
		{
			name: "NeverExpires",
			in:   func(*keyward.Credential) authority.ScheduleInput { return authority.ScheduleInput{NeverExpires: true} },
			check: func(t *testing.T, c *keyward.Credential) {
				if c.ExpiresAt != nil {
					t.Errorf("expires_at = %v, want none", c.ExpiresAt)
				}
			},
		},
		{
			name: "ExpiryInThePast",
			in: func(*keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{ExpiresAt: ptr(t0.Add(-time.Second))}
			},
			wantCode: keyward.EInvalid, wantField: "expires_at",
		},
		{
			name: "ExpiryTooFar",
			in: func(*keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{ExpiresAt: ptr(t0.AddDate(0, 0, keyward.MaxExpirationDays+1))}
			},
			wantCode: keyward.EInvalid, wantField: "expires_at",
		},
		{
			name: "ExpiryAndNever",
			in: func(*keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{ExpiresAt: ptr(t0.AddDate(0, 0, 10)), NeverExpires: true}
			},
			wantCode: keyward.EInvalid, wantField: "expires_at",
		},
		{
			name: "StartAfterExpiry",
			in: func(*keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{NotBefore: ptr(expiry)}
			},
			wantCode: keyward.EInvalid, wantField: "not_before",
		},
		{
			name: "SameMillisecondIsNoChange",
			in: func(c *keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{ExpiresAt: ptr(c.ExpiresAt.Add(500 * time.Microsecond)), NotBefore: ptr(t0.Add(-time.Minute))}
			},
			check: func(t *testing.T, c *keyward.Credential) {
				if c.Version != 1 || !c.ExpiresAt.Equal(expiry) {
					t.Errorf("version %d, expires_at %v: want no write", c.Version, c.ExpiresAt)
				}
			},
		},
		{
			name: "ExpiredKeyKeepsItsExpiryAndRenames",
			at:   expiry.Add(time.Hour),
			in: func(c *keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{ExpiresAt: c.ExpiresAt, Name: ptr("renamed-expired")}
			},
			check: func(t *testing.T, c *keyward.Credential) {
				if c.Name != "renamed-expired" || !c.ExpiresAt.Equal(expiry) || c.Version != 2 {
					t.Errorf("name %q, expires_at %v, version %d", c.Name, c.ExpiresAt, c.Version)
				}
			},
		},
		{
			name: "NameTakenChangesNothing",
			in: func(*keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{Name: ptr("taken"), ExpiresAt: ptr(t0.AddDate(0, 0, 5)), NotBefore: ptr(t0.Add(time.Hour))}
			},
			wantCode: keyward.EConflict,
			check: func(t *testing.T, c *keyward.Credential) {
				if c.Version != 1 || c.NotBefore != nil || !c.ExpiresAt.Equal(expiry) {
					t.Errorf("a refused update changed the window: %v..%v, version %d", c.NotBefore, c.ExpiresAt, c.Version)
				}
			},
		},
		{
			name:     "NameInvalid",
			in:       func(*keyward.Credential) authority.ScheduleInput { return authority.ScheduleInput{Name: ptr("12345")} },
			wantCode: keyward.EInvalid, wantField: "name",
		},
		{
			name: "ReplaceRoles",
			by:   "owner",
			as:   "owner",
			in: func(*keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{Roles: &[]string{"Client"}}
			},
			check: func(t *testing.T, c *keyward.Credential) {
				if len(c.RoleIDs) != 1 || c.RoleIDs[0] != 4 {
					t.Errorf("role ids = %v, want [4]", c.RoleIDs)
				}
			},
		},
		{
			name:     "RolesEmpty",
			in:       func(*keyward.Credential) authority.ScheduleInput { return authority.ScheduleInput{Roles: &[]string{}} },
			wantCode: keyward.EInvalid, wantField: "roles",
		},
		{
			name: "RoleUnknown",
			in: func(*keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{Roles: &[]string{"999"}}
			},
			wantCode: keyward.EInvalid, wantField: "roles",
		},
		{
			name: "RoleEscalation",
			as:   "owner",
			in: func(*keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{Roles: &[]string{"admin"}, Name: ptr("escalated")}
			},
			wantCode: keyward.EForbidden,
			check: func(t *testing.T, c *keyward.Credential) {
				if c.Name == "escalated" || len(c.RoleIDs) != 1 || c.RoleIDs[0] != 6 {
					t.Errorf("a refused escalation changed the credential: %q %v", c.Name, c.RoleIDs)
				}
			},
		},
		{
			name:  "SameRolesGiveNothing",
			setup: keyward.CreateCredentialInput{Roles: []string{"Client"}},
			by:    "owner",
			as:    "owner",
			in: func(*keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{Roles: &[]string{"4"}, Name: ptr("kept-client")}
			},
			check: func(t *testing.T, c *keyward.Credential) {
				if c.Name != "kept-client" || len(c.RoleIDs) != 1 || c.RoleIDs[0] != 4 {
					t.Errorf("name %q, roles %v", c.Name, c.RoleIDs)
				}
			},
		},
		{
			// The dominance rule: an owner of acme may not change the admin's admin key.
			name:  "StrongerKeyRefused",
			setup: keyward.CreateCredentialInput{Roles: []string{"admin"}},
			as:    "owner",
			in: func(*keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{Name: ptr("hijacked")}
			},
			wantCode: keyward.EForbidden,
			check: func(t *testing.T, c *keyward.Credential) {
				if c.Version != 1 || c.Name == "hijacked" {
					t.Errorf("a refused update changed the key: name %q, version %d", c.Name, c.Version)
				}
			},
		},
		{
			name: "StaleVersion",
			in: func(c *keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{NeverExpires: true, Version: c.Version + 1}
			},
			wantCode: keyward.EConflict,
		},
		{
			name: "CurrentVersion",
			in: func(c *keyward.Credential) authority.ScheduleInput {
				return authority.ScheduleInput{NeverExpires: true, Version: c.Version}
			},
		},
		{
			// A session is its user's: through a project it does not exist (session.go).
			name:     "SessionIsNotFound",
			project:  keyward.SystemProject,
			ref:      func(*keyward.Credential) string { return strconv.FormatInt(session.ID, 10) },
			in:       func(*keyward.Credential) authority.ScheduleInput { return authority.ScheduleInput{NeverExpires: true} },
			wantCode: keyward.ENotFound, // a session is its user's, not a project credential
		},
		{
			name: "NothingToChange",
			in:   func(*keyward.Credential) authority.ScheduleInput { return authority.ScheduleInput{} },
			check: func(t *testing.T, c *keyward.Credential) {
				if c.Version != 1 {
					t.Errorf("version = %d, want 1", c.Version)
				}
			},
		},
		{
			name:     "WithoutKeysUpdate",
			as:       "viewer",
			in:       func(*keyward.Credential) authority.ScheduleInput { return authority.ScheduleInput{NeverExpires: true} },
			wantCode: keyward.EForbidden,
		},
		{
			name:     "OtherTenant",
			as:       "outsider",
			in:       func(*keyward.Credential) authority.ScheduleInput { return authority.ScheduleInput{NeverExpires: true} },
			wantCode: keyward.ENotFound,
		},
		{
			name:     "UnknownCredential",
			ref:      func(*keyward.Credential) string { return "99999" },
			in:       func(*keyward.Credential) authority.ScheduleInput { return authority.ScheduleInput{NeverExpires: true} },
			wantCode: keyward.ENotFound,
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.clock.Set(t0)
			setup := tc.setup
			if setup.Name == "" {
				setup.Name = "sched-" + strconv.Itoa(i)
			}
			if setup.ExpiresAt == nil {
				setup.ExpiresAt = &expiry
			}
			if setup.Roles == nil {
				setup.Roles = []string{"viewer"}
			}
			by := callers["admin"]
			if tc.by != "" {
				by = callers[tc.by]
			}
			created, err := f.a.CreateCredential(by, "acme", setup)
			if err != nil {
				t.Fatal(err)
			}
			project, ref := "acme", strconv.FormatInt(created.ID, 10)
			if tc.project != "" {
				project = tc.project
			}
			if tc.ref != nil {
				ref = tc.ref(&created.Credential)
			}
			as := callers["admin"]
			if tc.as != "" {
				as = callers[tc.as]
			}
			if !tc.at.IsZero() {
				f.clock.Set(tc.at)
			}
			got, err := f.a.ScheduleCredential(as, project, ref, tc.in(&created.Credential))
			f.clock.Set(t0)
			if code := keyward.ErrorCode(err); code != tc.wantCode {
				t.Fatalf("ScheduleCredential: %v, want code %q", err, tc.wantCode)
			}
			if tc.wantField != "" {
				var e *keyward.Error
				if !errors.As(err, &e) || e.Fields[tc.wantField] == "" {
					t.Fatalf("error %v does not name field %s", err, tc.wantField)
				}
			}
			if tc.check == nil {
				return
			}
			stored, err := f.a.Credential(f.admin, "acme", strconv.FormatInt(created.ID, 10))
			if err != nil {
				t.Fatal(err)
			}
			if got != nil && (got.Version != stored.Version || got.Name != stored.Name) {
				t.Errorf("returned version %d %q, stored %d %q", got.Version, got.Name, stored.Version, stored.Name)
			}
			tc.check(t, stored)
		})
	}
}

// A rescheduled key takes effect at once, on this server's verification cache too, and the
// change is audited.
func TestScheduleCredentialTakesEffect(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	c, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: "live-key", ExpirationDays: days(30)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.Authenticate(context.Background(), c.Key, ""); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	start := t0.Add(time.Hour)
	if _, err := f.a.ScheduleCredential(f.admin, "acme", "live-key", authority.ScheduleInput{NotBefore: &start}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.Authenticate(context.Background(), c.Key, ""); keyward.ErrorCode(err) != keyward.EUnauthenticated {
		t.Fatalf("a key whose start moved ahead still authenticates: %v", err)
	}
	f.clock.Set(start)
	defer f.clock.Set(t0)
	if _, err := f.a.Authenticate(context.Background(), c.Key, ""); err != nil {
		t.Fatalf("at its new start: %v", err)
	}
	page, err := f.a.ListEvents(f.admin, authority.ListEventsInput{Project: "acme", CredentialID: c.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) == 0 || page.Items[0].Action != "credential.update" || page.Items[0].Detail["fields"] != "not_before" {
		t.Fatalf("newest event = %+v, want credential.update of not_before", page.Items[0])
	}
}
