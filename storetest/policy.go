package storetest

import (
	"reflect"
	"testing"

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
