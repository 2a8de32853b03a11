package authority

import (
	"context"
	"slices"
	"strconv"

	"github.com/keyward/keyward"
)

// Roles returns every role; any authenticated caller may read them.
func (a *Authority) Roles(ctx context.Context) ([]*keyward.Role, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	return a.store.Roles(ctx)
}

// Role returns one role by name or id.
func (a *Authority) Role(ctx context.Context, ref string) (*keyward.Role, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	byID, err := a.roles(ctx)
	if err != nil {
		return nil, err
	}
	if r := resolveRole(byID, ref); r != nil {
		return r, nil
	}
	return nil, keyward.Errorf(keyward.ENotFound, "role %q not found", ref)
}

// validatePermissions checks a role's permission list and that the caller holds every one
// globally: a role written by someone can never grant more than they have.
func (a *Authority) validatePermissions(ctx context.Context, perms []keyward.Permission) ([]keyward.Permission, error) {
	if len(perms) == 0 {
		return nil, keyward.Invalid("permissions", "a role needs at least one permission")
	}
	c, _ := caller(ctx)
	out := []keyward.Permission{}
	for _, p := range perms {
		if !keyward.ValidPermission(p) {
			return nil, keyward.Invalid("permissions", "unknown permission "+strconv.Quote(string(p)))
		}
		if !c.Can(p, 0) {
			return nil, a.deny(ctx, 0, map[string]string{"permission": string(p)},
				keyward.Errorf(keyward.EForbidden, "you cannot put %s, which you do not hold everywhere, into a role", p))
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// CreateRole creates a custom role. It needs roles:admin.
func (a *Authority) CreateRole(ctx context.Context, in keyward.RoleInput) (*keyward.Role, error) {
	if err := a.authorize(ctx, keyward.PermRolesAdmin, nil); err != nil {
		return nil, err
	}
	if !keyward.ValidName(in.Name) {
		return nil, keyward.Invalid("name", keyward.NameRule)
	}
	if in.ID < 0 {
		return nil, keyward.Invalid("id", "must be positive")
	}
	perms, err := a.validatePermissions(ctx, in.Permissions)
	if err != nil {
		return nil, err
	}
	r := &keyward.Role{ID: in.ID, Name: in.Name, Permissions: perms}
	ev := a.event(ctx, "role.create", 0, 0, a.clock())
	ev.Detail = map[string]string{"role": in.Name}
	if err := a.store.CreateRole(ctx, r, ev); err != nil {
		return nil, err
	}
	return r, nil
}

// customRole resolves a role that may be changed: custom roles only.
func (a *Authority) customRole(ctx context.Context, ref string) (*keyward.Role, error) {
	if err := a.authorize(ctx, keyward.PermRolesAdmin, nil); err != nil {
		return nil, err
	}
	r, err := a.Role(ctx, ref)
	if err != nil {
		return nil, err
	}
	if r.BuiltIn {
		return nil, keyward.Errorf(keyward.EConflict, "role %q is built in and cannot change", r.Name)
	}
	return r, nil
}

// UpdateRole renames a custom role or replaces its permissions; every credential and binding
// that uses it changes with it on its next use. It needs roles:admin.
func (a *Authority) UpdateRole(ctx context.Context, ref string, in keyward.RoleInput) (*keyward.Role, error) {
	if in.Name == "" && in.Permissions == nil {
		return nil, keyward.Errorf(keyward.EInvalid, "nothing to change: give name or permissions")
	}
	r, err := a.customRole(ctx, ref)
	if err != nil {
		return nil, err
	}
	if in.ID != 0 && in.ID != r.ID {
		return nil, keyward.Invalid("id", "a role's id cannot change")
	}
	if in.Name != "" {
		if !keyward.ValidName(in.Name) {
			return nil, keyward.Invalid("name", keyward.NameRule)
		}
		r.Name = in.Name
	}
	if in.Permissions != nil {
		if r.Permissions, err = a.validatePermissions(ctx, in.Permissions); err != nil {
			return nil, err
		}
	}
	ev := a.event(ctx, "role.update", 0, 0, a.clock())
	ev.Detail = map[string]string{"role": r.Name}
	if err := a.store.UpdateRole(ctx, r, ev); err != nil {
		return nil, err
	}
	a.changed(keyward.Invalidation{All: true})
	return r, nil
}

// DeleteRole deletes a custom role that nothing uses. It needs roles:admin.
func (a *Authority) DeleteRole(ctx context.Context, ref string) error {
	r, err := a.customRole(ctx, ref)
	if err != nil {
		return err
	}
	ev := a.event(ctx, "role.delete", 0, 0, a.clock())
	ev.Detail = map[string]string{"role": r.Name}
	if err := a.store.DeleteRole(ctx, r.ID, ev); err != nil {
		return err
	}
	a.changed(keyward.Invalidation{All: true})
	return nil
}

// bindingView names the parts of a binding.
func (a *Authority) bindingView(ctx context.Context, b keyward.RoleBinding, byID map[int64]*keyward.Role, users map[int64]string) (keyward.Binding, error) {
	v := keyward.Binding{UserID: b.UserID, ProjectID: b.ProjectID, RoleID: b.RoleID, Project: "*"}
	if r := byID[b.RoleID]; r != nil {
		v.Role = r.Name
	}
	if name, ok := users[b.UserID]; ok {
		v.User = name
	} else {
		u, err := a.store.UserByID(ctx, b.UserID)
		if err != nil {
			return v, err
		}
		users[b.UserID], v.User = u.Name, u.Name
	}
	if b.ProjectID != 0 {
		p, err := a.store.ProjectByID(ctx, b.ProjectID)
		if err != nil {
			return v, err
		}
		v.Project = p.Slug
	}
	return v, nil
}

func (a *Authority) bindingViews(ctx context.Context, bs []keyward.RoleBinding) ([]keyward.Binding, error) {
	byID, err := a.roles(ctx)
	if err != nil {
		return nil, err
	}
	users := map[int64]string{}
	out := make([]keyward.Binding, 0, len(bs))
	for _, b := range bs {
		v, err := a.bindingView(ctx, b, byID, users)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// UserRoles lists a user's bindings: one's own, or anyone's with users:admin.
func (a *Authority) UserRoles(ctx context.Context, ref string) ([]keyward.Binding, error) {
	u, err := a.resolveUser(ctx, ref, true)
	if err != nil {
		return nil, err
	}
	bs, err := a.store.RoleBindings(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return a.bindingViews(ctx, bs)
}

// bind creates or deletes a binding of user to role in project (nil: globally). The caller
// must hold every permission of the role in that scope, so that nobody hands out, or takes
// away, more than they have.
func (a *Authority) bind(ctx context.Context, project *keyward.Project, u *keyward.User, roleRef string, create bool) (*keyward.Binding, error) {
	c, _ := caller(ctx)
	r, err := a.Role(ctx, roleRef)
	if err != nil {
		return nil, err
	}
	var projectID int64
	if project != nil {
		projectID = project.ID
	}
	if !within(r, effective(c.Grants, projectID)) {
		return nil, a.deny(ctx, projectID, map[string]string{"role": r.Name, "user": u.Name},
			keyward.Errorf(keyward.EForbidden, "role %q grants permissions you do not hold there", r.Name))
	}
	b := keyward.RoleBinding{UserID: u.ID, ProjectID: projectID, RoleID: r.ID}
	action := "binding.create"
	if !create {
		action = "binding.delete"
	}
	ev := a.event(ctx, action, projectID, 0, a.clock())
	ev.Detail = map[string]string{"user": u.Name, "role": r.Name}
	if create {
		if err = a.store.CreateRoleBinding(ctx, b, ev); err == nil {
			a.changed(keyward.Invalidation{UserIDs: []int64{u.ID}})
		}
	} else {
		err = a.unbind(ctx, u, r, b, ev)
	}
	if err != nil {
		return nil, err
	}
	views, err := a.bindingViews(ctx, []keyward.RoleBinding{b})
	if err != nil {
		return nil, err
	}
	return &views[0], nil
}

// GrantGlobalRole binds a user to a role in every project. It needs users:admin.
func (a *Authority) GrantGlobalRole(ctx context.Context, userRef, roleRef string) (*keyward.Binding, error) {
	u, err := a.resolveUser(ctx, userRef, false)
	if err != nil {
		return nil, err
	}
	return a.bind(ctx, nil, u, roleRef, true)
}

// RevokeGlobalRole removes a user's global binding to a role, revoking the user's certificate
// credentials that no longer stand without it (followsCreator). It needs users:admin.
func (a *Authority) RevokeGlobalRole(ctx context.Context, userRef, roleRef string) error {
	u, err := a.resolveUser(ctx, userRef, false)
	if err != nil {
		return err
	}
	_, err = a.bind(ctx, nil, u, roleRef, false)
	return err
}

// memberUser resolves the user named in a members call. Managing a project's members needs
// projects:admin there, not users:admin, so the lookup skips resolveUser's visibility rule.
func (a *Authority) memberUser(ctx context.Context, ref string) (*keyward.User, error) {
	var (
		u   *keyward.User
		err error
	)
	if id, convErr := strconv.ParseInt(ref, 10, 64); convErr == nil {
		u, err = a.store.UserByID(ctx, id)
		if err == nil && u.DeletedAt != nil {
			err = keyward.Errorf(keyward.ENotFound, "deleted")
		}
	} else {
		u, err = a.store.UserByName(ctx, ref)
	}
	if isCode(err, keyward.ENotFound) {
		return nil, keyward.Errorf(keyward.ENotFound, "user %q not found", ref)
	}
	return u, err
}

// Members lists a project's bindings. It needs projects:read there.
func (a *Authority) Members(ctx context.Context, projectRef string) ([]keyward.Binding, error) {
	p, err := a.resolveProject(ctx, projectRef, keyward.PermProjectsRead)
	if err != nil {
		return nil, err
	}
	bs, err := a.store.ProjectBindings(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return a.bindingViews(ctx, bs)
}

// AddMember binds a user to a role in a project. It needs projects:admin there, and the role
// may grant nothing the caller lacks there.
func (a *Authority) AddMember(ctx context.Context, projectRef string, in keyward.BindingInput) (*keyward.Binding, error) {
	p, err := a.resolveProject(ctx, projectRef, keyward.PermProjectsAdmin)
	if err != nil {
		return nil, err
	}
	if in.User == "" || in.Role == "" {
		return nil, keyward.Invalid("user", "user and role are required")
	}
	if err := a.bindableRole(ctx, p, in.Role, in.User); err != nil {
		return nil, err // before the user is looked up: see bindableRole
	}
	u, err := a.memberUser(ctx, in.User)
	if err != nil {
		return nil, err
	}
	return a.bind(ctx, p, u, in.Role, true)
}

// RemoveMember removes a user's binding to a role in a project, revoking the user's
// certificate credentials that no longer stand without it (followsCreator). It needs
// projects:admin there.
func (a *Authority) RemoveMember(ctx context.Context, projectRef, userRef, roleRef string) error {
	p, err := a.resolveProject(ctx, projectRef, keyward.PermProjectsAdmin)
	if err != nil {
		return err
	}
	if err := a.bindableRole(ctx, p, roleRef, userRef); err != nil {
		return err // before the user is looked up: see bindableRole
	}
	u, err := a.memberUser(ctx, userRef)
	if err != nil {
		return err
	}
	_, err = a.bind(ctx, p, u, roleRef, false)
	return err
}
