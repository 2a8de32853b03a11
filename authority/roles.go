package authority

import (
	"context"
	"slices"

	"github.com/keyward/keyward"
)

// BuiltinRoles are created on first start with these fixed ids, so that the numeric roleId of
// the dialects stays the same on every installation.
//
//	admin    every permission, usually bound globally
//	owner    everything inside a project: its keys (revealing recoverable ones too), members
//	         and audit; nothing outside it
//	Admin    ServiceStack's Admin: every key operation in the project and its audit
//	Client   create, read, roll and verify keys
//	Partner  read and verify keys
//	viewer   read keys and the project
func BuiltinRoles() []*keyward.Role {
	keys := []keyward.Permission{
		keyward.PermKeysCreate, keyward.PermKeysRead, keyward.PermKeysUpdate, keyward.PermKeysRenew,
		keyward.PermKeysRoll, keyward.PermKeysRevoke, keyward.PermKeysVerify,
	}
	with := func(base []keyward.Permission, more ...keyward.Permission) []keyward.Permission {
		return append(append([]keyward.Permission{}, base...), more...)
	}
	return []*keyward.Role{
		{ID: 1, Name: keyward.RoleAdmin, BuiltIn: true, Permissions: append([]keyward.Permission{}, keyward.AllPermissions...)},
		{ID: 2, Name: "owner", BuiltIn: true, Permissions: with(keys, keyward.PermKeysReveal, keyward.PermProjectsRead, keyward.PermProjectsAdmin, keyward.PermAuditRead)},
		{ID: 3, Name: "Admin", BuiltIn: true, Permissions: with(keys, keyward.PermProjectsRead, keyward.PermAuditRead)},
		{ID: 4, Name: "Client", BuiltIn: true, Permissions: []keyward.Permission{keyward.PermKeysCreate, keyward.PermKeysRead, keyward.PermKeysRoll, keyward.PermKeysVerify, keyward.PermProjectsRead}},
		{ID: 5, Name: "Partner", BuiltIn: true, Permissions: []keyward.Permission{keyward.PermKeysRead, keyward.PermKeysVerify, keyward.PermProjectsRead}},
		{ID: 6, Name: "viewer", BuiltIn: true, Permissions: []keyward.Permission{keyward.PermKeysRead, keyward.PermProjectsRead}},
	}
}

// SyncBuiltinRoles brings the stored built-in roles up to this version's definitions, so that
// a permission added in a new release reaches databases created before it.
func (a *Authority) SyncBuiltinRoles(ctx context.Context) error {
	stored, err := a.store.Roles(ctx)
	if err != nil {
		return err
	}
	byID := map[int64]*keyward.Role{}
	for _, r := range stored {
		byID[r.ID] = r
	}
	changed := false
	for _, want := range BuiltinRoles() {
		have := byID[want.ID]
		if have == nil || !have.BuiltIn || slices.Equal(have.Permissions, want.Permissions) {
			continue
		}
		have.Permissions = want.Permissions
		ev := &keyward.Event{Time: a.clock(), Actor: "system", Action: "role.sync", Outcome: keyward.OutcomeSuccess,
			Detail: map[string]string{"role": have.Name}}
		if err := a.store.UpdateRole(ctx, have, ev); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		a.changed(keyward.Invalidation{All: true})
	}
	return nil
}
