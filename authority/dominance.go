package authority

import (
	"context"

	"github.com/keyward/keyward"
)

// The dominance rule (DESIGN rule 2a): a permission to act on a credential is not a right to
// hold it. Nobody obtains, changes or removes a credential whose rights exceed their own in that
// scope. This file is the rule's one home; every operation that yields or changes an existing
// credential reaches it through credential() or checkDominance, on every surface.

// Rights are a credential's or a caller's effective permissions per project id (0: every
// project), as grants computes them.
type Rights = map[int64]map[keyward.Permission]bool

// dominates reports whether a caller with the rights have holds everything the credential c
// does: (a) every permission of every role c carries, in c's project (the caller could have
// created c: this also covers what a certificate signs into its O and what c would regain if
// its creator's rights grew back), and (b) every permission c holds now in every scope, a
// global right of c needing a global right of the caller. byID is every role by id; cRights is
// c's effective rights.
func dominates(have Rights, c *keyward.Credential, cRights Rights, byID map[int64]*keyward.Role) bool {
	inProject := effective(have, c.ProjectID)
	for _, id := range c.RoleIDs {
		r := byID[id]
		if r == nil {
			continue // a deleted custom role grants nothing
		}
		if !within(r, inProject) {
			return false
		}
	}
	for scope, perms := range cRights {
		for p, ok := range perms {
			if !ok {
				continue
			}
			if have[0][p] || (scope != 0 && have[scope][p]) {
				continue
			}
			return false
		}
	}
	return true
}

// callerDominates reports whether the caller of ctx dominates c. (Login sessions never get here:
// no project path reaches them, see hideSession.)
func (a *Authority) callerDominates(ctx context.Context, c *keyward.Credential) (bool, error) {
	who, err := caller(ctx)
	if err != nil {
		return false, err
	}
	_, byID, cRights, err := a.resolve(ctx, c)
	if err != nil {
		return false, err
	}
	return dominates(who.Grants, c, cRights, byID), nil
}

// checkDominance refuses, audited and before any write, an operation on c by a caller that does
// not dominate it: EForbidden when the caller may read the project's keys (it can see c
// exists), else ENotFound, exactly as for a credential that does not exist.
func (a *Authority) checkDominance(ctx context.Context, c *keyward.Credential, op keyward.Permission) error {
	ok, err := a.callerDominates(ctx, c)
	if err != nil || ok {
		return err
	}
	who, _ := caller(ctx)
	refusal := keyward.Errorf(keyward.EForbidden, "credential %q holds rights you do not hold; only a caller with at least its rights may %s it", c.Name, verbOf(op))
	if !who.Can(keyward.PermKeysRead, c.ProjectID) {
		refusal = keyward.Errorf(keyward.ENotFound, "credential %q not found", c.Name)
	}
	return a.deny(ctx, c.ProjectID, map[string]string{"permission": string(op), "rule": "dominance", "credential": c.Name}, refusal)
}

// verbOf names what a permission lets a caller do to a credential, for refusals.
func verbOf(p keyward.Permission) string {
	switch p {
	case keyward.PermKeysRoll:
		return "roll"
	case keyward.PermKeysRenew:
		return "renew"
	case keyward.PermKeysRevoke:
		return "revoke"
	case keyward.PermKeysReveal:
		return "reveal"
	case keyward.PermKeysUpdate:
		return "update"
	}
	return "change"
}

// checkUserDominance refuses, audited and before any write, a change to user u that would let
// the caller take u's place or remove what u holds (a password reset, disabling, enabling,
// deleting) when u holds a right the caller lacks in some scope: a users:admin that is not an
// admin must not reset an admin's password and log in as one. A login session of u itself
// holds all of u's rights and passes; a weaker key of u does not.
func (a *Authority) checkUserDominance(ctx context.Context, u *keyward.User, action string) error {
	who, err := caller(ctx)
	if err != nil {
		return err
	}
	bindings, err := a.store.RoleBindings(ctx, u.ID)
	if err != nil {
		return err
	}
	byID, err := a.roles(ctx)
	if err != nil {
		return err
	}
	userRights := grantsOf(&keyward.Credential{Type: keyward.Session}, bindings, byID) // all u holds
	if dominates(who.Grants, &keyward.Credential{}, userRights, byID) {
		return nil
	}
	return a.deny(ctx, 0, map[string]string{"rule": "dominance", "user": u.Name, "action": action},
		keyward.Errorf(keyward.EForbidden, "user %q holds rights you do not hold; only a caller with at least those rights may %s", u.Name, action))
}
