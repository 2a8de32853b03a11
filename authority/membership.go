package authority

import (
	"context"

	"github.com/keyward/keyward"
)

// bindableRole checks, before the user of a members call is looked up, that the caller may give
// (or take) role roleRef in project: an unknown role is ENotFound and a role granting more than
// the caller holds there is EForbidden, audited, whatever userRef names. A project owner thus
// learns nothing about which user names exist on the server from a refusal; only a call it is
// allowed to make tells whether the user exists.
func (a *Authority) bindableRole(ctx context.Context, project *keyward.Project, roleRef, userRef string) error {
	c, err := caller(ctx)
	if err != nil {
		return err
	}
	r, err := a.Role(ctx, roleRef)
	if err != nil {
		return err
	}
	if !within(r, effective(c.Grants, project.ID)) {
		return a.deny(ctx, project.ID, boundDetail(map[string]string{"role": r.Name, "user": userRef}),
			keyward.Errorf(keyward.EForbidden, "role %q grants permissions you do not hold there", r.Name))
	}
	return nil
}
