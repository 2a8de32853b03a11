package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func testAppendEvent(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		ev := &keyward.Event{
			Time: at(time.Second), ActorUserID: f.admin.ID, ActorCredentialID: f.b.Credential.ID,
			Actor: f.admin.Name, Action: "credential.revoke", ProjectID: f.system.ID,
			CredentialID: 424242, RemoteAddr: "[2001:db8::1]:443", Outcome: keyward.OutcomeDenied,
			Detail: map[string]string{"reason": "forbidden", "permission": "keys:revoke"},
		}
		if err := f.s.AppendEvent(t.Context(), ev); err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
		if ev.ID <= 0 {
			t.Fatalf("ID = %d, want > 0", ev.ID)
		}
		checkEvent(t, f.events(t)[0], ev)
	})

	t.Run("ZeroIDs", func(t *testing.T) {
		f := setup(t, open)
		// An unauthenticated attempt knows no user, credential or project.
		ev := &keyward.Event{Time: t0, Action: "auth", RemoteAddr: "198.51.100.7", Outcome: keyward.OutcomeDenied}
		if err := f.s.AppendEvent(t.Context(), ev); err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
		got := f.events(t)[0]
		checkEvent(t, got, ev)
		if got.Detail != nil {
			t.Fatalf("Detail = %#v, want nil", got.Detail)
		}
	})
}

func testListEvents(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("EveryMutation", func(t *testing.T) {
		f := setup(t, open)
		ctx := t.Context()
		var want []*keyward.Event
		ev := f.event("project.create")
		p := &keyward.Project{Slug: "acme", Name: "ACME", CreatedAt: t0}
		if err := f.s.CreateProject(ctx, p, ev); err != nil {
			t.Fatalf("CreateProject: %v", err)
		}
		want = append(want, ev)

		c, sec := f.newCredential(p, "k", nil)
		ev = f.event("credential.create")
		if err := f.s.CreateCredential(ctx, c, sec, ev); err != nil {
			t.Fatalf("CreateCredential: %v", err)
		}
		want = append(want, ev)

		ev = f.event("credential.update")
		ev.ProjectID, ev.CredentialID = p.ID, c.ID
		c.Description = "updated"
		if err := f.s.UpdateCredential(ctx, c, ev); err != nil {
			t.Fatalf("UpdateCredential: %v", err)
		}
		want = append(want, ev)

		ev = f.event("credential.roll")
		ev.ProjectID, ev.CredentialID = p.ID, c.ID
		ev.Detail = map[string]string{"grace_seconds": "0"}
		if err := f.s.RollCredential(ctx, c, &keyward.CredentialSecret{Digest: digest("rolled"), CreatedAt: t0}, t0, ev); err != nil {
			t.Fatalf("RollCredential: %v", err)
		}
		want = append(want, ev)

		u := &keyward.User{Name: "bob", CreatedAt: t0}
		ev = f.event("user.create")
		if err := f.s.CreateUser(ctx, u, "hash", ev); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		want = append(want, ev)

		ev = f.event("user.update")
		u.Disabled, u.UpdatedAt = true, at(time.Minute)
		if err := f.s.UpdateUser(ctx, u, ev); err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		want = append(want, ev)

		ev = f.event("user.password")
		if _, err := f.s.SetPasswordHash(ctx, u.ID, "other hash", ev, f.sessionEnd(t0, 0)); err != nil {
			t.Fatalf("SetPasswordHash: %v", err)
		}
		want = append(want, ev)

		r := &keyward.Role{Name: "deployer", Permissions: []keyward.Permission{keyward.PermKeysCreate}}
		ev = f.event("role.create")
		if err := f.s.CreateRole(ctx, r, ev); err != nil {
			t.Fatalf("CreateRole: %v", err)
		}
		want = append(want, ev)

		ev = f.event("role.update")
		r.Permissions = append(r.Permissions, keyward.PermKeysRead)
		if err := f.s.UpdateRole(ctx, r, ev); err != nil {
			t.Fatalf("UpdateRole: %v", err)
		}
		want = append(want, ev)

		rb := keyward.RoleBinding{UserID: u.ID, ProjectID: p.ID, RoleID: r.ID}
		ev = f.event("binding.create")
		ev.ProjectID = p.ID
		if err := f.s.CreateRoleBinding(ctx, rb, ev); err != nil {
			t.Fatalf("CreateRoleBinding: %v", err)
		}
		want = append(want, ev)

		ev = f.event("binding.delete")
		ev.ProjectID = p.ID
		if err := f.s.DeleteRoleBinding(ctx, rb, ev); err != nil {
			t.Fatalf("DeleteRoleBinding: %v", err)
		}
		want = append(want, ev)

		ev = f.event("role.delete")
		if err := f.s.DeleteRole(ctx, r.ID, ev); err != nil {
			t.Fatalf("DeleteRole: %v", err)
		}
		want = append(want, ev)

		ev = f.event("user.delete")
		if err := f.s.DeleteUser(ctx, u.ID, at(time.Hour), ev); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		want = append(want, ev)

		ev = f.event("credential.revoke")
		ev.Outcome = keyward.OutcomeDenied
		if err := f.s.AppendEvent(ctx, ev); err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
		want = append(want, ev)

		got := f.events(t)
		if got, want := len(got), len(want)+1; got != want { // and the bootstrap's
			t.Fatalf("%d events, want %d", got, want)
		}
		for i, w := range want {
			g := got[len(want)-1-i]
			checkEvent(t, g, w)
		}
		for i := 1; i < len(got); i++ {
			if got[i-1].ID <= got[i].ID {
				t.Fatalf("events not newest first: %d before %d", got[i-1].ID, got[i].ID)
			}
		}
	})

	t.Run("Filters", func(t *testing.T) {
		f := setup(t, open)
		a, b := f.project(t, "a"), f.project(t, "b")
		ca, _ := f.credential(t, a, "ka", nil)
		cb, _ := f.credential(t, b, "kb", nil)
		for i, target := range []*keyward.Credential{ca, cb, ca} {
			ev := f.event(fmt.Sprintf("credential.verify.%d", i))
			ev.ProjectID, ev.CredentialID = target.ProjectID, target.ID
			if err := f.s.AppendEvent(t.Context(), ev); err != nil {
				t.Fatalf("AppendEvent: %v", err)
			}
		}
		// An unauthenticated attempt names no project: its ProjectID 0 is a value like any other.
		if err := f.s.AppendEvent(t.Context(), &keyward.Event{Time: t0, Action: "auth", Outcome: keyward.OutcomeDenied}); err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
		all := f.events(t)
		for _, tc := range []struct {
			name   string
			filter keyward.EventFilter
			want   func(*keyward.Event) bool
		}{
			{"All", keyward.EventFilter{}, func(*keyward.Event) bool { return true }},
			{"CredentialID", keyward.EventFilter{CredentialID: ca.ID}, func(e *keyward.Event) bool { return e.CredentialID == ca.ID }},
			{"ProjectIDs", keyward.EventFilter{ProjectIDs: []int64{b.ID}}, func(e *keyward.Event) bool { return e.ProjectID == b.ID }},
			{"ProjectIDsTwo", keyward.EventFilter{ProjectIDs: []int64{a.ID, b.ID}}, func(e *keyward.Event) bool { return e.ProjectID == a.ID || e.ProjectID == b.ID }},
			{"ProjectIDsZero", keyward.EventFilter{ProjectIDs: []int64{0}}, func(e *keyward.Event) bool { return e.ProjectID == 0 }},
			{"ProjectIDsEmpty", keyward.EventFilter{ProjectIDs: []int64{}}, func(*keyward.Event) bool { return false }},
			{"ProjectAndCredential", keyward.EventFilter{ProjectIDs: []int64{a.ID}, CredentialID: cb.ID}, func(*keyward.Event) bool { return false }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := f.s.ListEvents(t.Context(), tc.filter)
				if err != nil {
					t.Fatalf("ListEvents: %v", err)
				}
				if got == nil {
					t.Fatal("ListEvents returned nil, want an empty slice")
				}
				var want []int64
				for _, e := range all {
					if tc.want(e) {
						want = append(want, e.ID)
					}
				}
				var ids []int64
				for _, e := range got {
					ids = append(ids, e.ID)
				}
				if !slices.Equal(ids, want) {
					t.Fatalf("ids = %v, want %v", ids, want)
				}
			})
		}
	})

	t.Run("Pagination", func(t *testing.T) {
		f := setup(t, open)
		for i := range 6 {
			if err := f.s.AppendEvent(t.Context(), f.event(fmt.Sprintf("e%d", i))); err != nil {
				t.Fatalf("AppendEvent: %v", err)
			}
		}
		all := f.events(t) // 7: the bootstrap's and six
		var want, got []int64
		for _, e := range all {
			want = append(want, e.ID)
		}
		before := int64(0)
		for pages := 0; ; pages++ {
			if pages > 4 {
				t.Fatalf("more than 4 pages of 2 for 7 events: %v", got)
			}
			evs, err := f.s.ListEvents(t.Context(), keyward.EventFilter{BeforeID: before, Limit: 2})
			if err != nil {
				t.Fatalf("ListEvents: %v", err)
			}
			if len(evs) > 2 {
				t.Fatalf("page of %d, want at most 2", len(evs))
			}
			if len(evs) == 0 {
				break
			}
			for _, e := range evs {
				got = append(got, e.ID)
			}
			before = evs[len(evs)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Fatalf("ids = %v, want %v", got, want)
		}
	})

	t.Run("DefaultLimit", func(t *testing.T) {
		f := setup(t, open)
		for i := range 100 {
			if err := f.s.AppendEvent(t.Context(), f.event(fmt.Sprintf("e%d", i))); err != nil {
				t.Fatalf("AppendEvent: %v", err)
			}
		}
		evs, err := f.s.ListEvents(t.Context(), keyward.EventFilter{})
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		if got, want := len(evs), 100; got != want {
			t.Fatalf("%d events with Limit 0, want %d", got, want)
		}
		if got, want := evs[0].Action, "e99"; got != want {
			t.Fatalf("newest = %q, want %q", got, want)
		}
	})
}
