package authority

import (
	"testing"

	"github.com/keyward/keyward"
)

func TestDominates(t *testing.T) {
	t.Parallel()
	const p, q = 10, 20
	perms := func(ps ...keyward.Permission) map[keyward.Permission]bool {
		m := map[keyward.Permission]bool{}
		for _, x := range ps {
			m[x] = true
		}
		return m
	}
	byID := map[int64]*keyward.Role{
		1: {ID: 1, Name: "admin", Permissions: keyward.AllPermissions},
		4: {ID: 4, Name: "Client", Permissions: []keyward.Permission{keyward.PermKeysCreate, keyward.PermKeysRead, keyward.PermKeysRoll}},
		6: {ID: 6, Name: "viewer", Permissions: []keyward.Permission{keyward.PermKeysRead}},
	}
	client := perms(keyward.PermKeysCreate, keyward.PermKeysRead, keyward.PermKeysRoll)
	all := perms(keyward.AllPermissions...)
	viewer := perms(keyward.PermKeysRead)
	for _, tc := range []struct {
		name    string
		have    Rights
		roles   []int64
		cRights Rights
		want    bool
	}{
		{"EqualInProject", Rights{p: client}, []int64{4}, Rights{p: client}, true},
		{"WeakerInProject", Rights{p: client}, []int64{6}, Rights{p: viewer}, true},
		{"ClientRollsAdminKey", Rights{p: client}, []int64{1}, Rights{p: all}, false},
		{"GlobalAdminKeyFromProjectOwner", Rights{p: all}, []int64{1}, Rights{0: all}, false},
		{"GlobalCallerCoversProject", Rights{0: all}, []int64{1}, Rights{p: all}, true},
		{"GlobalCallerCoversGlobal", Rights{0: all}, []int64{1}, Rights{0: all}, true},
		{"ReachIntoAnotherProject", Rights{p: client}, []int64{6}, Rights{p: viewer, q: viewer}, false},
		{"BothProjects", Rights{p: client, q: viewer}, []int64{6}, Rights{p: viewer, q: viewer}, true},
		// The creator lost the rights (grants are empty) but the roles would come back with them.
		{"DisarmedButStrongerRoles", Rights{p: viewer}, []int64{1}, Rights{}, false},
		{"DeletedRoleGrantsNothing", Rights{p: viewer}, []int64{99}, Rights{}, true},
		{"NoRights", Rights{}, []int64{6}, Rights{p: viewer}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &keyward.Credential{ProjectID: p, RoleIDs: tc.roles}
			if got := dominates(tc.have, c, tc.cRights, byID); got != tc.want {
				t.Fatalf("dominates = %v, want %v", got, tc.want)
			}
		})
	}
}
