package storetest

import (
	"cmp"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// role creates a custom role with a store-chosen id.
func (f *fixture) role(t *testing.T, name string, perms ...keyward.Permission) *keyward.Role {
	t.Helper()
	r := &keyward.Role{Name: name, Permissions: perms}
	if err := f.s.CreateRole(t.Context(), r, f.event("role.create")); err != nil {
		t.Fatalf("CreateRole(%q): %v", name, err)
	}
	return r
}

// roles returns every stored role.
func (f *fixture) roles(t *testing.T) []*keyward.Role {
	t.Helper()
	rs, err := f.s.Roles(t.Context())
	if err != nil {
		t.Fatalf("Roles: %v", err)
	}
	return rs
}

// bind stores b.
func (f *fixture) bind(t *testing.T, b keyward.RoleBinding) {
	t.Helper()
	if err := f.s.CreateRoleBinding(t.Context(), b, f.event("binding.create")); err != nil {
		t.Fatalf("CreateRoleBinding(%+v): %v", b, err)
	}
}

// bindings returns the user's bindings.
func (f *fixture) bindings(t *testing.T, userID int64) []keyward.RoleBinding {
	t.Helper()
	bs, err := f.s.RoleBindings(t.Context(), userID)
	if err != nil {
		t.Fatalf("RoleBindings(%d): %v", userID, err)
	}
	if bs == nil {
		t.Fatal("RoleBindings returned nil, want an empty slice")
	}
	return bs
}

// projectBindings returns the project's bindings.
func (f *fixture) projectBindings(t *testing.T, projectID int64) []keyward.RoleBinding {
	t.Helper()
	bs, err := f.s.ProjectBindings(t.Context(), projectID)
	if err != nil {
		t.Fatalf("ProjectBindings(%d): %v", projectID, err)
	}
	if bs == nil {
		t.Fatal("ProjectBindings returned nil, want an empty slice")
	}
	return bs
}

// wantRoles fails t unless the stored roles equal want.
func (f *fixture) wantRoles(t *testing.T, want []*keyward.Role) {
	t.Helper()
	if got := f.roles(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("Roles = %v, want %v", got, want)
	}
}

// withRole returns rs with r added or replaced (by id), by ascending id.
func withRole(rs []*keyward.Role, r *keyward.Role) []*keyward.Role {
	out := slices.DeleteFunc(slices.Clone(rs), func(x *keyward.Role) bool { return x.ID == r.ID })
	c := *r
	c.Permissions = slices.Clone(r.Permissions)
	out = append(out, &c)
	slices.SortFunc(out, func(a, b *keyward.Role) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// byUserRole orders bindings by user id, then project id, then role id.
func byUserRole(a, b keyward.RoleBinding) int {
	return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.ProjectID, b.ProjectID), cmp.Compare(a.RoleID, b.RoleID))
}

func testRoles(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		roles := f.roles(t)
		if got, want := len(roles), 3; got != want {
			t.Fatalf("%d roles, want %d", got, want)
		}
		for i := 1; i < len(roles); i++ {
			if roles[i-1].ID >= roles[i].ID {
				t.Fatalf("roles not by ascending id: %d before %d", roles[i-1].ID, roles[i].ID)
			}
		}
		byName := map[string]*keyward.Role{}
		for _, r := range roles {
			byName[r.Name] = r
		}
		for _, want := range []*keyward.Role{f.adminRole, f.viewerRole, f.customRole} {
			if got := byName[want.Name]; !reflect.DeepEqual(got, want) {
				t.Fatalf("role %q = %+v, want %+v", want.Name, got, want)
			}
		}
		if !byName[keyward.RoleAdmin].Has(keyward.PermUsersAdmin) {
			t.Fatal("admin role lacks users:admin")
		}
	})
}

func testCreateRole(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		for _, tc := range []struct {
			name string
			role keyward.Role
		}{
			{"AutoID", keyward.Role{Name: "deployer", Permissions: []keyward.Permission{keyward.PermKeysCreate, keyward.PermKeysRead}}},
			{"ExplicitID", keyward.Role{ID: 1000, Name: "Partner", Permissions: []keyward.Permission{keyward.PermKeysVerify}, BuiltIn: true}},
			{"NoPermissions", keyward.Role{Name: "nothing"}},
			{"PermissionOrderKept", keyward.Role{Name: "auditor", Permissions: []keyward.Permission{keyward.PermAuditRead, keyward.PermKeysRead}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := f.roles(t)
				r := tc.role
				ev := f.event("role.create")
				if err := f.s.CreateRole(t.Context(), &r, ev); err != nil {
					t.Fatalf("CreateRole: %v", err)
				}
				if tc.role.ID != 0 {
					if got, want := r.ID, tc.role.ID; got != want {
						t.Fatalf("ID = %d, want the given %d", got, want)
					}
				}
				for _, o := range before {
					if o.ID == r.ID {
						t.Fatalf("ID %d is role %q's", r.ID, o.Name)
					}
				}
				if r.ID <= 0 {
					t.Fatalf("ID = %d, want > 0", r.ID)
				}
				want := tc.role
				want.ID = r.ID
				if want.Permissions == nil {
					want.Permissions = []keyward.Permission{}
				}
				f.wantRoles(t, withRole(before, &want))
				if got, want := ev.Detail["role_id"], strconv.FormatInt(r.ID, 10); got != want {
					t.Fatalf("event Detail[role_id] = %q, want %q", got, want)
				}
				f.wantNewestEvent(t, ev)
			})
		}
	})

	// Ids the store picks never meet ids given earlier (the bootstrap gave 7 and 8, and one
	// more is given here just above the store's last).
	t.Run("AutoIDAfterExplicit", func(t *testing.T) {
		f := setup(t, open)
		explicit := &keyward.Role{ID: f.customRole.ID + 2, Name: "explicit"}
		if err := f.s.CreateRole(t.Context(), explicit, f.event("role.create")); err != nil {
			t.Fatalf("CreateRole(explicit): %v", err)
		}
		seen := map[int64]bool{}
		for _, r := range f.roles(t) {
			seen[r.ID] = true
		}
		for i := range 12 {
			r := f.role(t, "auto"+strconv.Itoa(i), keyward.PermKeysRead)
			if seen[r.ID] {
				t.Fatalf("auto role %d got the taken id %d", i, r.ID)
			}
			seen[r.ID] = true
		}
	})

	t.Run("ErrConflict", func(t *testing.T) {
		f := setup(t, open)
		for _, tc := range []struct {
			name string
			role keyward.Role
		}{
			{"ErrNameTaken", keyward.Role{Name: f.viewerRole.Name}},
			{"ErrAdminNameTaken", keyward.Role{Name: keyward.RoleAdmin, Permissions: []keyward.Permission{keyward.PermKeysRead}}},
			{"ErrIDTaken", keyward.Role{ID: f.adminRole.ID, Name: "fresh"}},
			{"ErrAutoIDTaken", keyward.Role{ID: f.customRole.ID, Name: "fresh"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before, events := f.roles(t), len(f.events(t))
				r := tc.role
				ev := f.event("role.create")
				wantCode(t, f.s.CreateRole(t.Context(), &r, ev), keyward.EConflict)
				if got, want := r.ID, tc.role.ID; got != want {
					t.Fatalf("failed create set ID %d, want %d", got, want)
				}
				f.wantRoles(t, before)
				f.wantNoEvent(t, events, ev)
			})
		}
	})
}

func testUpdateRole(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		for _, tc := range []struct {
			name string
			role func() keyward.Role
		}{
			{"NameAndPermissions", func() keyward.Role {
				r := *f.customRole
				r.Name, r.Permissions = "renamed", []keyward.Permission{keyward.PermAuditRead, keyward.PermKeysRead}
				return r
			}},
			{"SameName", func() keyward.Role {
				r := *f.viewerRole
				r.Permissions = []keyward.Permission{keyward.PermKeysRead}
				return r
			}},
			{"NoPermissions", func() keyward.Role {
				r := *f.customRole
				r.Permissions = nil
				return r
			}},
			{"BuiltInNotWritten", func() keyward.Role {
				r := *f.viewerRole
				r.BuiltIn = false
				r.Permissions = []keyward.Permission{keyward.PermProjectsRead}
				return r
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := f.roles(t)
				var old *keyward.Role
				r := tc.role()
				for _, o := range before {
					if o.ID == r.ID {
						old = o
					}
				}
				ev := f.event("role.update")
				if err := f.s.UpdateRole(t.Context(), &r, ev); err != nil {
					t.Fatalf("UpdateRole: %v", err)
				}
				want := keyward.Role{ID: r.ID, Name: r.Name, Permissions: r.Permissions, BuiltIn: old.BuiltIn}
				if want.Permissions == nil {
					want.Permissions = []keyward.Permission{}
				}
				f.wantRoles(t, withRole(before, &want))
				f.wantNewestEvent(t, ev)
			})
		}
	})

	t.Run("ErrNameTaken", func(t *testing.T) {
		f := setup(t, open)
		before, events := f.roles(t), len(f.events(t))
		r := *f.customRole
		r.Name, r.Permissions = f.viewerRole.Name, []keyward.Permission{keyward.PermKeysRead}
		ev := f.event("role.update")
		wantCode(t, f.s.UpdateRole(t.Context(), &r, ev), keyward.EConflict)
		f.wantRoles(t, before)
		f.wantNoEvent(t, events, ev)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		before, events := f.roles(t), len(f.events(t))
		ev := f.event("role.update")
		r := &keyward.Role{ID: 999999, Name: "ghost", Permissions: []keyward.Permission{keyward.PermKeysRead}}
		wantCode(t, f.s.UpdateRole(t.Context(), r, ev), keyward.ENotFound)
		f.wantRoles(t, before)
		f.wantNoEvent(t, events, ev)
	})
}

func testDeleteRole(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		before := f.roles(t)
		r := f.role(t, "temp", keyward.PermKeysRead)
		ev := f.event("role.delete")
		if err := f.s.DeleteRole(t.Context(), r.ID, ev); err != nil {
			t.Fatalf("DeleteRole: %v", err)
		}
		f.wantRoles(t, before)
		f.wantNewestEvent(t, ev)
		// The name is free again; the id is not handed out again.
		again := f.role(t, "temp")
		if again.ID == r.ID {
			t.Fatalf("a new role got the deleted role's id %d", r.ID)
		}
	})

	t.Run("ErrInUse", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		bob := f.user(t, "bob", "")
		for _, tc := range []struct {
			name string
			// use makes role r used and returns a func that stops that use.
			use func(t *testing.T, r *keyward.Role) (free func())
		}{
			{"GlobalBinding", func(t *testing.T, r *keyward.Role) func() {
				b := keyward.RoleBinding{UserID: bob.ID, RoleID: r.ID}
				f.bind(t, b)
				return func() { f.unbind(t, b) }
			}},
			{"ProjectBinding", func(t *testing.T, r *keyward.Role) func() {
				b := keyward.RoleBinding{UserID: bob.ID, ProjectID: p.ID, RoleID: r.ID}
				f.bind(t, b)
				return func() { f.unbind(t, b) }
			}},
			{"Credential", func(t *testing.T, r *keyward.Role) func() {
				c, _ := f.credential(t, p, "k-"+r.Name, func(c *keyward.Credential) { c.RoleIDs = []int64{r.ID} })
				return func() { f.setRoles(t, c, nil) }
			}},
			{"RevokedCredential", func(t *testing.T, r *keyward.Role) func() {
				c, _ := f.credential(t, p, "k-"+r.Name, func(c *keyward.Credential) {
					c.RoleIDs, c.RevokedAt = []int64{r.ID, f.viewerRole.ID}, ptr(t0)
				})
				return func() { f.setRoles(t, c, []int64{f.viewerRole.ID}) }
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := f.role(t, "r-"+tc.name, keyward.PermKeysRead)
				free := tc.use(t, r)
				roles, events := f.roles(t), len(f.events(t))
				bobs, members := f.bindings(t, bob.ID), f.projectBindings(t, p.ID)
				ev := f.event("role.delete")
				err := f.s.DeleteRole(t.Context(), r.ID, ev)
				wantCode(t, err, keyward.EConflict)
				f.wantRoles(t, roles)
				f.wantNoEvent(t, events, ev)
				if got := f.bindings(t, bob.ID); !slices.Equal(got, bobs) {
					t.Fatalf("bindings = %v, want the untouched %v", got, bobs)
				}
				if got := f.projectBindings(t, p.ID); !slices.Equal(got, members) {
					t.Fatalf("project bindings = %v, want the untouched %v", got, members)
				}
				// Once nothing uses it, it goes.
				free()
				ev = f.event("role.delete")
				if err := f.s.DeleteRole(t.Context(), r.ID, ev); err != nil {
					t.Fatalf("DeleteRole once unused: %v", err)
				}
				f.wantNewestEvent(t, ev)
			})
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		gone := f.role(t, "gone")
		if err := f.s.DeleteRole(t.Context(), gone.ID, f.event("role.delete")); err != nil {
			t.Fatalf("DeleteRole: %v", err)
		}
		for _, tc := range []struct {
			name string
			id   int64
		}{
			{"Missing", 999999},
			{"Deleted", gone.ID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before, events := f.roles(t), len(f.events(t))
				ev := f.event("role.delete")
				wantCode(t, f.s.DeleteRole(t.Context(), tc.id, ev), keyward.ENotFound)
				f.wantRoles(t, before)
				f.wantNoEvent(t, events, ev)
			})
		}
	})
}

// unbind deletes b.
func (f *fixture) unbind(t *testing.T, b keyward.RoleBinding) {
	t.Helper()
	if err := f.s.DeleteRoleBinding(t.Context(), b, f.event("binding.delete")); err != nil {
		t.Fatalf("DeleteRoleBinding(%+v): %v", b, err)
	}
}

// setRoles replaces c's role ids.
func (f *fixture) setRoles(t *testing.T, c *keyward.Credential, ids []int64) {
	t.Helper()
	c.RoleIDs = ids
	if err := f.s.UpdateCredential(t.Context(), c, f.event("credential.update")); err != nil {
		t.Fatalf("UpdateCredential: %v", err)
	}
}

func testRoleBindings(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		if got, want := f.bindings(t, f.admin.ID), []keyward.RoleBinding{{UserID: f.admin.ID, RoleID: f.adminRole.ID}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("RoleBindings = %v, want %v", got, want)
		}
	})

	// Global bindings first (ProjectID 0), then by project id, then by role id.
	t.Run("Order", func(t *testing.T) {
		f := setup(t, open)
		a, b := f.project(t, "a"), f.project(t, "b")
		bob := f.user(t, "bob", "")
		carol := f.user(t, "carol", "")
		bs := []keyward.RoleBinding{
			{UserID: bob.ID, ProjectID: b.ID, RoleID: f.customRole.ID},
			{UserID: bob.ID, ProjectID: a.ID, RoleID: f.customRole.ID},
			{UserID: bob.ID, ProjectID: 0, RoleID: f.viewerRole.ID},
			{UserID: bob.ID, ProjectID: a.ID, RoleID: f.viewerRole.ID},
			{UserID: bob.ID, ProjectID: 0, RoleID: f.adminRole.ID},
			{UserID: carol.ID, ProjectID: a.ID, RoleID: f.viewerRole.ID},
		}
		for _, x := range bs {
			f.bind(t, x)
		}
		want := slices.Clone(bs[:5])
		slices.SortFunc(want, byUserRole)
		if got := f.bindings(t, bob.ID); !slices.Equal(got, want) {
			t.Fatalf("RoleBindings = %v, want %v", got, want)
		}
	})

	t.Run("None", func(t *testing.T) {
		f := setup(t, open)
		if got, want := len(f.bindings(t, 999999)), 0; got != want {
			t.Fatalf("%d bindings of an unknown user, want %d", got, want)
		}
	})
}

func testProjectBindings(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		a, b, empty := f.project(t, "a"), f.project(t, "b"), f.project(t, "empty")
		bob, carol, dave := f.user(t, "bob", ""), f.user(t, "carol", ""), f.user(t, "dave", "")
		inA := []keyward.RoleBinding{
			{UserID: dave.ID, ProjectID: a.ID, RoleID: f.viewerRole.ID},
			{UserID: bob.ID, ProjectID: a.ID, RoleID: f.customRole.ID},
			{UserID: carol.ID, ProjectID: a.ID, RoleID: f.customRole.ID},
			{UserID: bob.ID, ProjectID: a.ID, RoleID: f.viewerRole.ID},
			{UserID: bob.ID, ProjectID: a.ID, RoleID: f.adminRole.ID},
		}
		inB := []keyward.RoleBinding{{UserID: carol.ID, ProjectID: b.ID, RoleID: f.viewerRole.ID}}
		global := []keyward.RoleBinding{
			{UserID: carol.ID, ProjectID: 0, RoleID: f.viewerRole.ID},
			{UserID: bob.ID, ProjectID: 0, RoleID: f.customRole.ID},
		}
		for _, x := range slices.Concat(inA[:2], global, inB, inA[2:]) {
			f.bind(t, x)
		}
		slices.SortFunc(inA, byUserRole)
		for _, tc := range []struct {
			name    string
			project int64
			want    []keyward.RoleBinding
		}{
			{"ByUserThenRole", a.ID, inA},
			{"OtherProject", b.ID, inB},
			{"Empty", empty.ID, []keyward.RoleBinding{}},
			{"NotGlobal", 0, []keyward.RoleBinding{}},
			{"MissingProject", 999999, []keyward.RoleBinding{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := f.projectBindings(t, tc.project); !slices.Equal(got, tc.want) {
					t.Fatalf("ProjectBindings = %v, want %v", got, tc.want)
				}
			})
		}
	})
}

func testCreateRoleBinding(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		a, b := f.project(t, "a"), f.project(t, "b")
		bob := f.user(t, "bob", "")
		var want []keyward.RoleBinding
		for _, tc := range []struct {
			name    string
			binding keyward.RoleBinding
		}{
			{"Global", keyward.RoleBinding{UserID: bob.ID, ProjectID: 0, RoleID: f.viewerRole.ID}},
			{"ProjectSameRole", keyward.RoleBinding{UserID: bob.ID, ProjectID: a.ID, RoleID: f.viewerRole.ID}},
			{"OtherProject", keyward.RoleBinding{UserID: bob.ID, ProjectID: b.ID, RoleID: f.viewerRole.ID}},
			{"OtherRole", keyward.RoleBinding{UserID: bob.ID, ProjectID: a.ID, RoleID: f.customRole.ID}},
			{"GlobalAdmin", keyward.RoleBinding{UserID: bob.ID, ProjectID: 0, RoleID: f.adminRole.ID}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ev := f.event("binding.create")
				if err := f.s.CreateRoleBinding(t.Context(), tc.binding, ev); err != nil {
					t.Fatalf("CreateRoleBinding: %v", err)
				}
				want = append(want, tc.binding)
				slices.SortFunc(want, byUserRole)
				if got := f.bindings(t, bob.ID); !slices.Equal(got, want) {
					t.Fatalf("RoleBindings = %v, want %v", got, want)
				}
				f.wantNewestEvent(t, ev)
			})
		}
	})

	t.Run("ErrExists", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		bob := f.user(t, "bob", "")
		global := keyward.RoleBinding{UserID: bob.ID, RoleID: f.viewerRole.ID}
		inP := keyward.RoleBinding{UserID: bob.ID, ProjectID: p.ID, RoleID: f.viewerRole.ID}
		f.bind(t, global)
		f.bind(t, inP)
		for _, tc := range []struct {
			name    string
			binding keyward.RoleBinding
		}{
			{"Global", global},
			{"Project", inP},
			{"AdminGlobal", keyward.RoleBinding{UserID: f.admin.ID, RoleID: f.adminRole.ID}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				bobs, events := f.bindings(t, bob.ID), len(f.events(t))
				ev := f.event("binding.create")
				wantCode(t, f.s.CreateRoleBinding(t.Context(), tc.binding, ev), keyward.EConflict)
				f.wantNoEvent(t, events, ev)
				if got := f.bindings(t, bob.ID); !slices.Equal(got, bobs) {
					t.Fatalf("RoleBindings = %v, want the untouched %v", got, bobs)
				}
			})
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		bob := f.user(t, "bob", "")
		gone := f.user(t, "gone", "")
		f.deleteUser(t, gone, at(time.Hour))
		for _, tc := range []struct {
			name    string
			binding keyward.RoleBinding
		}{
			{"MissingUser", keyward.RoleBinding{UserID: 999999, ProjectID: p.ID, RoleID: f.viewerRole.ID}},
			{"MissingUserGlobal", keyward.RoleBinding{UserID: 999999, RoleID: f.viewerRole.ID}},
			{"DeletedUser", keyward.RoleBinding{UserID: gone.ID, ProjectID: p.ID, RoleID: f.viewerRole.ID}},
			{"DeletedUserGlobal", keyward.RoleBinding{UserID: gone.ID, RoleID: f.viewerRole.ID}},
			{"MissingProject", keyward.RoleBinding{UserID: bob.ID, ProjectID: 999999, RoleID: f.viewerRole.ID}},
			{"MissingRole", keyward.RoleBinding{UserID: bob.ID, ProjectID: p.ID, RoleID: 999999}},
			{"MissingRoleGlobal", keyward.RoleBinding{UserID: bob.ID, RoleID: 999999}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				events := len(f.events(t))
				ev := f.event("binding.create")
				wantCode(t, f.s.CreateRoleBinding(t.Context(), tc.binding, ev), keyward.ENotFound)
				f.wantNoEvent(t, events, ev)
				for _, u := range []int64{bob.ID, gone.ID, 999999} {
					if got := f.bindings(t, u); len(got) != 0 {
						t.Fatalf("user %d has bindings %v, want none", u, got)
					}
				}
				if got := f.projectBindings(t, p.ID); len(got) != 0 {
					t.Fatalf("ProjectBindings = %v, want none", got)
				}
			})
		}
	})
}

func testDeleteRoleBinding(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		bob := f.user(t, "bob", "")
		global := keyward.RoleBinding{UserID: bob.ID, RoleID: f.viewerRole.ID}
		inP := keyward.RoleBinding{UserID: bob.ID, ProjectID: p.ID, RoleID: f.viewerRole.ID}
		other := keyward.RoleBinding{UserID: bob.ID, ProjectID: p.ID, RoleID: f.customRole.ID}
		for _, b := range []keyward.RoleBinding{global, inP, other} {
			f.bind(t, b)
		}
		for _, tc := range []struct {
			name    string
			binding keyward.RoleBinding
			left    []keyward.RoleBinding
		}{
			{"Global", global, []keyward.RoleBinding{inP, other}},
			{"Project", inP, []keyward.RoleBinding{other}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ev := f.event("binding.delete")
				if err := f.s.DeleteRoleBinding(t.Context(), tc.binding, ev); err != nil {
					t.Fatalf("DeleteRoleBinding: %v", err)
				}
				if got := f.bindings(t, bob.ID); !slices.Equal(got, tc.left) {
					t.Fatalf("RoleBindings = %v, want %v", got, tc.left)
				}
				f.wantNewestEvent(t, ev)
			})
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		a, b := f.project(t, "a"), f.project(t, "b")
		bob := f.user(t, "bob", "")
		global := keyward.RoleBinding{UserID: bob.ID, RoleID: f.viewerRole.ID}
		inB := keyward.RoleBinding{UserID: bob.ID, ProjectID: b.ID, RoleID: f.customRole.ID}
		f.bind(t, global)
		f.bind(t, inB)
		bobs := f.bindings(t, bob.ID)
		for _, tc := range []struct {
			name    string
			binding keyward.RoleBinding
		}{
			{"Never", keyward.RoleBinding{UserID: bob.ID, ProjectID: a.ID, RoleID: f.adminRole.ID}},
			{"GlobalAsProject", keyward.RoleBinding{UserID: bob.ID, ProjectID: a.ID, RoleID: f.viewerRole.ID}},
			{"ProjectAsGlobal", keyward.RoleBinding{UserID: bob.ID, RoleID: f.customRole.ID}},
			{"OtherProject", keyward.RoleBinding{UserID: bob.ID, ProjectID: a.ID, RoleID: f.customRole.ID}},
			{"MissingUser", keyward.RoleBinding{UserID: 999999, RoleID: f.viewerRole.ID}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				events := len(f.events(t))
				ev := f.event("binding.delete")
				wantCode(t, f.s.DeleteRoleBinding(t.Context(), tc.binding, ev), keyward.ENotFound)
				f.wantNoEvent(t, events, ev)
				if got := f.bindings(t, bob.ID); !slices.Equal(got, bobs) {
					t.Fatalf("RoleBindings = %v, want the untouched %v", got, bobs)
				}
			})
		}
		// Deleting twice: the second time it is gone.
		f.unbind(t, global)
		events := len(f.events(t))
		ev := f.event("binding.delete")
		wantCode(t, f.s.DeleteRoleBinding(t.Context(), global, ev), keyward.ENotFound)
		f.wantNoEvent(t, events, ev)
	})
}
