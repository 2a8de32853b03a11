package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func testBootstrap(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		ctx := t.Context()
		b := f.b

		if got, want := b.Project.ID > 0, true; got != want {
			t.Fatalf("Project.ID = %d, want > 0", b.Project.ID)
		}
		p, err := f.s.ProjectBySlug(ctx, keyward.SystemProject)
		if err != nil {
			t.Fatalf("ProjectBySlug: %v", err)
		}
		if got, want := *p, *b.Project; !reflect.DeepEqual(got, want) {
			t.Fatalf("system project = %+v, want %+v", got, want)
		}

		if got, want := b.Roles[0].ID, int64(7); got != want {
			t.Fatalf("admin role ID = %d, want the given %d", got, want)
		}
		if got, want := b.Roles[1].ID, int64(8); got != want {
			t.Fatalf("viewer role ID = %d, want the given %d", got, want)
		}
		if id := b.Roles[2].ID; id <= 0 || id == 7 || id == 8 {
			t.Fatalf("custom role ID = %d, want a new positive id", id)
		}
		roles, err := f.s.Roles(ctx)
		if err != nil {
			t.Fatalf("Roles: %v", err)
		}
		want := slices.Clone(b.Roles)
		slices.SortFunc(want, func(a, b *keyward.Role) int { return int(a.ID - b.ID) })
		if !reflect.DeepEqual(roles, want) {
			t.Fatalf("Roles = %v, want %v", roles, want)
		}

		u, err := f.s.UserByID(ctx, b.Admin.ID)
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		if got, want := *u, *b.Admin; got != want {
			t.Fatalf("admin = %+v, want %+v", got, want)
		}
		bs, err := f.s.RoleBindings(ctx, b.Admin.ID)
		if err != nil {
			t.Fatalf("RoleBindings: %v", err)
		}
		if got, want := bs, []keyward.RoleBinding{{UserID: b.Admin.ID, ProjectID: 0, RoleID: f.adminRole.ID}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("RoleBindings = %v, want %v", got, want)
		}

		c := b.Credential
		if got, want := c.ProjectID, b.Project.ID; got != want {
			t.Fatalf("Credential.ProjectID = %d, want %d", got, want)
		}
		if got, want := c.CreatedBy, b.Admin.ID; got != want {
			t.Fatalf("Credential.CreatedBy = %d, want %d", got, want)
		}
		if got, want := c.RoleIDs, []int64{f.adminRole.ID}; !slices.Equal(got, want) {
			t.Fatalf("Credential.RoleIDs = %v, want %v", got, want)
		}
		if got, want := c.Version, int64(1); got != want {
			t.Fatalf("Credential.Version = %d, want %d", got, want)
		}
		gc, gs, err := f.s.CredentialBySecret(ctx, b.Secret.Digest)
		if err != nil {
			t.Fatalf("CredentialBySecret: %v", err)
		}
		wc := clone(c)
		wc.Project = keyward.SystemProject
		wc.Meta = map[string]string{}
		checkCredential(t, gc, wc)
		if got, want := gs.CredentialID, c.ID; got != want {
			t.Fatalf("secret CredentialID = %d, want %d", got, want)
		}

		ev := b.Event
		if ev.ID <= 0 || ev.ProjectID != b.Project.ID || ev.CredentialID != c.ID || ev.ActorUserID != b.Admin.ID {
			t.Fatalf("event = %+v, want ID > 0, ProjectID %d, CredentialID %d, ActorUserID %d",
				ev, b.Project.ID, c.ID, b.Admin.ID)
		}
		evs := f.events(t)
		if got, want := len(evs), 1; got != want {
			t.Fatalf("%d events, want %d", got, want)
		}
		checkEvent(t, evs[0], ev)
	})

	t.Run("ErrBootstrapped", func(t *testing.T) {
		f := setup(t, open)
		ctx := t.Context()
		b := newBootstrap("2")
		wantCode(t, f.s.Bootstrap(ctx, b), keyward.EConflict)

		ps, err := f.s.ListProjects(ctx, keyward.ProjectFilter{})
		if err != nil {
			t.Fatalf("ListProjects: %v", err)
		}
		if got, want := len(ps), 1; got != want {
			t.Fatalf("%d projects, want %d", got, want)
		}
		roles, err := f.s.Roles(ctx)
		if err != nil {
			t.Fatalf("Roles: %v", err)
		}
		if got, want := len(roles), len(f.b.Roles); got != want {
			t.Fatalf("%d roles, want %d", got, want)
		}
		for _, r := range roles {
			if got, want := r.Name, b.Roles[1].Name; got == want {
				t.Fatalf("role %q was written", got)
			}
		}
		if got, want := len(f.events(t)), 1; got != want {
			t.Fatalf("%d events, want %d", got, want)
		}
		_, _, err = f.s.CredentialBySecret(ctx, b.Secret.Digest)
		wantCode(t, err, keyward.ENotFound)
		c, err := f.s.CredentialByID(ctx, f.system.ID, f.b.Credential.ID)
		if err != nil {
			t.Fatalf("CredentialByID: %v", err)
		}
		if got, want := c.Name, f.b.Credential.Name; got != want {
			t.Fatalf("bootstrap credential name = %q, want %q", got, want)
		}
	})
}

func testCreateProject(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		p := &keyward.Project{Slug: "acme-prod", Name: "ACME production", CreatedAt: at(time.Second)}
		ev := f.event("project.create")
		if err := f.s.CreateProject(t.Context(), p, ev); err != nil {
			t.Fatalf("CreateProject: %v", err)
		}
		if p.ID <= 0 || p.ID == f.system.ID {
			t.Fatalf("ID = %d, want a new positive id", p.ID)
		}
		if got, want := ev.ProjectID, p.ID; got != want {
			t.Fatalf("event ProjectID = %d, want %d", got, want)
		}
		if ev.ID <= 0 {
			t.Fatalf("event ID = %d, want > 0", ev.ID)
		}
		got, err := f.s.ProjectByID(t.Context(), p.ID)
		if err != nil {
			t.Fatalf("ProjectByID: %v", err)
		}
		if got, want := *got, *p; !reflect.DeepEqual(got, want) {
			t.Fatalf("project = %+v, want %+v", got, want)
		}
		evs := f.events(t)
		checkEvent(t, evs[0], ev)
	})

	t.Run("ErrSlugTaken", func(t *testing.T) {
		f := setup(t, open)
		f.project(t, "acme")
		before := len(f.events(t))
		err := f.s.CreateProject(t.Context(), &keyward.Project{Slug: "acme", Name: "other", CreatedAt: t0},
			f.event("project.create"))
		wantCode(t, err, keyward.EConflict)
		if got, want := len(f.events(t)), before; got != want {
			t.Fatalf("%d events after a failed create, want %d", got, want)
		}
		p, err := f.s.ProjectBySlug(t.Context(), "acme")
		if err != nil {
			t.Fatalf("ProjectBySlug: %v", err)
		}
		if got, want := p.Name, "Project acme"; got != want {
			t.Fatalf("Name = %q, want %q", got, want)
		}
	})
}

func testProjectByID(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		got, err := f.s.ProjectByID(t.Context(), p.ID)
		if err != nil {
			t.Fatalf("ProjectByID: %v", err)
		}
		if got, want := *got, *p; !reflect.DeepEqual(got, want) {
			t.Fatalf("project = %+v, want %+v", got, want)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		_, err := f.s.ProjectByID(t.Context(), 999999)
		wantCode(t, err, keyward.ENotFound)
	})
}

func testProjectBySlug(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		got, err := f.s.ProjectBySlug(t.Context(), "acme")
		if err != nil {
			t.Fatalf("ProjectBySlug: %v", err)
		}
		if got, want := *got, *p; !reflect.DeepEqual(got, want) {
			t.Fatalf("project = %+v, want %+v", got, want)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		_, err := f.s.ProjectBySlug(t.Context(), "nope")
		wantCode(t, err, keyward.ENotFound)
	})
}

// projectIDs returns the ids of ps, in order.
func projectIDs(ps []*keyward.Project) []int64 {
	ids := []int64{}
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	return ids
}

func testListProjects(t *testing.T, open func(t *testing.T) keyward.Store) {
	// fiveProjects returns the store's ids: the system project's and four more.
	fiveProjects := func(t *testing.T) (*fixture, []int64) {
		t.Helper()
		f := setup(t, open)
		ids := []int64{f.system.ID}
		for i := range 4 {
			ids = append(ids, f.project(t, fmt.Sprintf("p%d", i)).ID)
		}
		return f, ids
	}

	t.Run("OK", func(t *testing.T) {
		f, ids := fiveProjects(t)
		ps, err := f.s.ListProjects(t.Context(), keyward.ProjectFilter{})
		if err != nil {
			t.Fatalf("ListProjects: %v", err)
		}
		if got, want := projectIDs(ps), ids; !slices.Equal(got, want) {
			t.Fatalf("ids = %v, want %v", got, want)
		}
	})

	t.Run("Pagination", func(t *testing.T) {
		f, ids := fiveProjects(t)
		var got []int64
		after := int64(0)
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatalf("more than 3 pages of 2 for 5 projects: %v", got)
			}
			ps, err := f.s.ListProjects(t.Context(), keyward.ProjectFilter{AfterID: after, Limit: 2})
			if err != nil {
				t.Fatalf("ListProjects: %v", err)
			}
			if len(ps) > 2 {
				t.Fatalf("page of %d, want at most 2", len(ps))
			}
			if len(ps) == 0 {
				break
			}
			got = append(got, projectIDs(ps)...)
			after = ps[len(ps)-1].ID
		}
		if want := ids; !slices.Equal(got, want) {
			t.Fatalf("ids = %v, want %v", got, want)
		}
	})

	t.Run("IDs", func(t *testing.T) {
		f, ids := fiveProjects(t)
		for _, tc := range []struct {
			name   string
			filter keyward.ProjectFilter
			want   []int64
		}{
			{"Some", keyward.ProjectFilter{IDs: []int64{ids[3], ids[1], 999999}}, []int64{ids[1], ids[3]}},
			{"Empty", keyward.ProjectFilter{IDs: []int64{}}, []int64{}},
			{"AfterID", keyward.ProjectFilter{IDs: []int64{ids[1], ids[3]}, AfterID: ids[1]}, []int64{ids[3]}},
			{"Limit", keyward.ProjectFilter{IDs: []int64{ids[1], ids[3], ids[4]}, Limit: 2}, []int64{ids[1], ids[3]}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ps, err := f.s.ListProjects(t.Context(), tc.filter)
				if err != nil {
					t.Fatalf("ListProjects: %v", err)
				}
				if ps == nil {
					t.Fatal("ListProjects returned nil, want an empty slice")
				}
				if got, want := projectIDs(ps), tc.want; !slices.Equal(got, want) {
					t.Fatalf("ids = %v, want %v", got, want)
				}
			})
		}
	})

	t.Run("DefaultLimit", func(t *testing.T) {
		f := setup(t, open)
		for i := range 100 {
			f.project(t, fmt.Sprintf("p%d", i))
		}
		ps, err := f.s.ListProjects(t.Context(), keyward.ProjectFilter{})
		if err != nil {
			t.Fatalf("ListProjects: %v", err)
		}
		if got, want := len(ps), 100; got != want {
			t.Fatalf("%d projects with Limit 0, want %d", got, want)
		}
	})
}
