package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func testProjectPolicy(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("ZeroByDefault", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		got, err := f.s.ProjectByID(t.Context(), p.ID)
		if err != nil {
			t.Fatalf("ProjectByID: %v", err)
		}
		if want := (keyward.Policy{}).Normalize(); !reflect.DeepEqual(got.Policy, want) {
			t.Fatalf("Policy = %+v, want %+v", got.Policy, want)
		}
	})

	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		pol := keyward.Policy{
			MaxLifetimeDays: 90, RequireExpiry: true, DisableUnusedDays: 30, FirstUseGraceSeconds: 600,
			AllowedTypes:        []keyward.CredentialType{keyward.KubeToken, keyward.APIToken, keyward.APIToken},
			AllowedEnvironments: []keyward.Environment{keyward.Test},
			LeakAction:          keyward.LeakDisable,
		}
		ev := f.event("project.policy")
		ev.ProjectID = p.ID
		if err := f.s.UpdateProjectPolicy(t.Context(), p.ID, pol, ev); err != nil {
			t.Fatalf("UpdateProjectPolicy: %v", err)
		}
		for _, read := range []func() (*keyward.Project, error){
			func() (*keyward.Project, error) { return f.s.ProjectByID(t.Context(), p.ID) },
			func() (*keyward.Project, error) { return f.s.ProjectBySlug(t.Context(), "acme") },
			func() (*keyward.Project, error) {
				ps, err := f.s.ListProjects(t.Context(), keyward.ProjectFilter{IDs: []int64{p.ID}})
				if err != nil || len(ps) != 1 {
					t.Fatalf("ListProjects = %v, %v", ps, err)
				}
				return ps[0], nil
			},
		} {
			got, err := read()
			if err != nil {
				t.Fatal(err)
			}
			if want := pol.Normalize(); !reflect.DeepEqual(got.Policy, want) {
				t.Fatalf("Policy = %+v, want %+v", got.Policy, want)
			}
			if got.Name != p.Name || got.RecoverableKeys != p.RecoverableKeys {
				t.Fatalf("project = %+v, want only the policy changed from %+v", got, p)
			}
		}
		evs := f.events(t)
		checkEvent(t, evs[0], ev)

		// UpdateProject leaves the policy alone.
		p.Name = "renamed"
		p.Policy = keyward.Policy{}
		if err := f.s.UpdateProject(t.Context(), p, f.event("project.update")); err != nil {
			t.Fatalf("UpdateProject: %v", err)
		}
		got, err := f.s.ProjectByID(t.Context(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := pol.Normalize(); got.Name != "renamed" || !reflect.DeepEqual(got.Policy, want) {
			t.Fatalf("after UpdateProject: %+v, want the name changed and policy %+v", got, want)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		before := len(f.events(t))
		err := f.s.UpdateProjectPolicy(t.Context(), 999999, keyward.Policy{RequireExpiry: true}, f.event("project.policy"))
		wantCode(t, err, keyward.ENotFound)
		if got := len(f.events(t)); got != before {
			t.Fatalf("%d events after a failed update, want %d", got, before)
		}
	})
}

func testFirstUseGrace(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		c, old := f.credential(t, f.system, "k", nil)
		hard := at(time.Hour)
		sec := f.roll(t, c, "second", at(time.Minute), hard)
		if err := f.s.MarkFirstUseGrace(t.Context(), c.ID, at(time.Minute)); err != nil {
			t.Fatalf("MarkFirstUseGrace: %v", err)
		}
		_, os, err := f.s.CredentialBySecret(t.Context(), old.Digest)
		if err != nil || !os.EndsAtFirstUse || os.EndsOthersAtFirstUse {
			t.Fatalf("old secret = %+v, %v; want it marked", os, err)
		}
		_, cs, err := f.s.CredentialBySecret(t.Context(), sec.Digest)
		if err != nil || cs.EndsAtFirstUse || !cs.EndsOthersAtFirstUse {
			t.Fatalf("current secret = %+v, %v; want it to end the others", cs, err)
		}
		rec, err := f.s.VerificationBySecret(t.Context(), sec.Digest)
		if err != nil || !rec.Secret.EndsOthersAtFirstUse {
			t.Fatalf("VerificationBySecret = %+v, %v; want EndsOthersAtFirstUse", rec, err)
		}
		before := len(f.events(t))
		end := at(2 * time.Minute)
		ev := f.event("credential.grace_end")
		ended, err := f.s.EndFirstUseGrace(t.Context(), c.ID, end, ev)
		if err != nil || !ended {
			t.Fatalf("EndFirstUseGrace = %v, %v; want true", ended, err)
		}
		if got := f.secretUntil(t, c, old.Digest); !sameTime(got, &end) {
			t.Fatalf("old secret ends %v, want %v", got, end)
		}
		if ev.ProjectID != f.system.ID || ev.CredentialID != c.ID || ev.ID == 0 {
			t.Fatalf("event = %+v; want its ids filled", ev)
		}
		if got := len(f.events(t)); got != before+1 {
			t.Fatalf("%d events, want %d", got, before+1)
		}
		_, cs, err = f.s.CredentialBySecret(t.Context(), sec.Digest)
		if err != nil || cs.EndsOthersAtFirstUse {
			t.Fatalf("current secret after the end = %+v, %v; want nothing waiting", cs, err)
		}
		// Again: nothing waits, nothing is written.
		if ended, err := f.s.EndFirstUseGrace(t.Context(), c.ID, at(3*time.Minute), f.event("credential.grace_end")); err != nil || ended {
			t.Fatalf("second EndFirstUseGrace = %v, %v; want false", ended, err)
		}
		if got := len(f.events(t)); got != before+1 {
			t.Fatalf("%d events after a second end, want %d", got, before+1)
		}
	})

	t.Run("AfterHardLimit", func(t *testing.T) {
		f := setup(t, open)
		c, old := f.credential(t, f.system, "k", nil)
		hard := at(time.Hour)
		sec := f.roll(t, c, "second", at(time.Minute), hard)
		if err := f.s.MarkFirstUseGrace(t.Context(), c.ID, at(time.Minute)); err != nil {
			t.Fatal(err)
		}
		before := len(f.events(t))
		ended, err := f.s.EndFirstUseGrace(t.Context(), c.ID, at(2*time.Hour), f.event("credential.grace_end"))
		if err != nil || ended {
			t.Fatalf("EndFirstUseGrace past the hard limit = %v, %v; want false", ended, err)
		}
		if got := f.secretUntil(t, c, old.Digest); !sameTime(got, &hard) {
			t.Fatalf("old secret ends %v, want its hard limit %v", got, hard)
		}
		if got := len(f.events(t)); got != before {
			t.Fatalf("%d events, want %d", got, before)
		}
		if _, cs, err := f.s.CredentialBySecret(t.Context(), sec.Digest); err != nil || cs.EndsOthersAtFirstUse {
			t.Fatalf("current secret = %+v, %v; want the marks cleared", cs, err)
		}
	})
}

func testEnabledAt(t *testing.T, open func(t *testing.T) keyward.Store) {
	f := setup(t, open)
	c, _ := f.credential(t, f.system, "k", nil)
	if c.EnabledAt != nil {
		t.Fatalf("EnabledAt = %v on a new credential, want nil", c.EnabledAt)
	}
	when := at(time.Hour)
	c.EnabledAt, c.UpdatedAt = &when, when
	if err := f.s.UpdateCredential(t.Context(), c, f.event("credential.update")); err != nil {
		t.Fatal(err)
	}
	if got := f.reread(t, c).EnabledAt; !sameTime(got, &when) {
		t.Fatalf("EnabledAt = %v, want %v", got, when)
	}
}
