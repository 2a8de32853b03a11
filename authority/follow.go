package authority

import (
	"context"
	"time"

	"github.com/keyward/keyward"
)

// The changes to a user that its credentials follow: the reason a credential.revoke event
// records in Detail["reason"] when a credential is revoked with one of them.
const (
	reasonUserDisable   = "user.disable"
	reasonUserDelete    = "user.delete"
	reasonBindingRemove = "binding.remove"
)

// followsCreator is the one rule by which credentials follow their creator: it reports whether
// a change to the creator (reason) revokes credential c, given the creator's role bindings
// before and after the change. keyward itself re-reads the creator on every use, so this is
// about what lives outside it: a certificate is signed once and read by servers (a Kubernetes
// API server) that never ask keyward, so it must go into the CRL as soon as its creator no
// longer backs it.
//
//   - user.delete: every credential not revoked yet, tokens and sessions included;
//   - user.disable: every certificate credential (API_CERTIFICATE, KUBE_CONFIG) not revoked
//     yet; tokens are only refused while the user stays disabled;
//   - any change of bindings (binding.remove): a certificate credential not revoked yet, when
//     a role it names (its roles: the O of a kubeconfig's certificate) was bound to the creator
//     in the credential's project or globally before the change and is not after it, or when
//     its effective permissions in its own project (its roles met with the creator's bindings
//     there and global ones, as grantsOf computes) lose any permission.
//
// Revocation is final: enabling the user or binding the role again restores nothing.
func followsCreator(c *keyward.Credential, reason string, before, after []keyward.RoleBinding, byID map[int64]*keyward.Role) bool {
	if c.RevokedAt != nil {
		return false
	}
	if reason == reasonUserDelete {
		return true
	}
	if !c.Type.Certificate() {
		return false
	}
	if reason == reasonUserDisable {
		return true
	}
	for _, id := range c.RoleIDs {
		if boundIn(before, id, c.ProjectID) && !boundIn(after, id, c.ProjectID) {
			return true
		}
	}
	had := effective(grantsOf(c, before, byID), c.ProjectID)
	has := effective(grantsOf(c, after, byID), c.ProjectID)
	for p := range had {
		if !has[p] {
			return true
		}
	}
	return false
}

// boundIn reports whether bindings bind role in project or globally.
func boundIn(bindings []keyward.RoleBinding, role, project int64) bool {
	for _, b := range bindings {
		if b.RoleID == role && (b.ProjectID == 0 || b.ProjectID == project) {
			return true
		}
	}
	return false
}

// followCreator returns the Revocation through which a change to u (reason) takes with it, in
// its own transaction, what followsCreator picks; each revocation is audited as
// credential.revoke in the credential's project, by the caller, with the reason and detail.
func (a *Authority) followCreator(ctx context.Context, u *keyward.User, reason string, detail map[string]string, now time.Time) (keyward.Revocation, error) {
	var byID map[int64]*keyward.Role
	if reason == reasonBindingRemove {
		var err error
		if byID, err = a.roles(ctx); err != nil {
			return keyward.Revocation{}, err
		}
	}
	who := keyward.CallerFrom(ctx)
	return keyward.Revocation{
		Select: func(created []*keyward.Credential, before, after []keyward.RoleBinding) ([]*keyward.Credential, error) {
			var out []*keyward.Credential
			for _, c := range created {
				if !followsCreator(c, reason, before, after, byID) {
					continue
				}
				// The dominance rule: a project admin who unbinds a member may not thereby
				// revoke a certificate holding more than she does (users:admin, which disable
				// and delete need, holds everything a user can get anyway).
				if reason == reasonBindingRemove && who != nil && !dominates(who.Grants, c, grantsOf(c, before, byID), byID) {
					return nil, keyward.Errorf(keyward.EForbidden, "removing this binding would revoke credential %q, which holds rights you do not hold", c.Name)
				}
				out = append(out, c)
			}
			return out, nil
		},
		Event: func(c *keyward.Credential) *keyward.Event {
			ev := a.event(ctx, "credential.revoke", c.ProjectID, c.ID, now)
			ev.Detail = map[string]string{"reason": reason, "user": u.Name}
			for k, v := range detail {
				ev.Detail[k] = v
			}
			return ev
		},
	}, nil
}

// writeUser stores u's new state with ev; disabling revokes, in the same transaction, the
// certificate credentials u created.
func (a *Authority) writeUser(ctx context.Context, u *keyward.User, ev *keyward.Event, now time.Time) error {
	var revoked []int64
	if u.Disabled {
		rv, err := a.followCreator(ctx, u, reasonUserDisable, nil, now)
		if err != nil {
			return err
		}
		if revoked, err = a.store.UpdateUserRevoking(ctx, u, ev, rv); err != nil {
			return err
		}
	} else if err := a.store.UpdateUser(ctx, u, ev); err != nil {
		return err
	}
	a.changed(keyward.Invalidation{UserIDs: []int64{u.ID}, CredentialIDs: revoked})
	return nil
}

// deleteUser deletes u with ev, in one transaction with what the deletion takes along: first
// every credential u created is revoked, each with its own event (the store refuses to delete
// a user who still has live credentials), then the store deletes u, its name, password hash
// and bindings. The cascade is decided here, not in the stores.
func (a *Authority) deleteUser(ctx context.Context, u *keyward.User, ev *keyward.Event, now time.Time) error {
	rv, err := a.followCreator(ctx, u, reasonUserDelete, nil, now)
	if err != nil {
		return err
	}
	var revoked []int64
	err = a.store.WithTx(ctx, func(tx keyward.Store) error {
		var err error
		if revoked, err = tx.RevokeCreated(ctx, u.ID, now, rv); err != nil {
			return err
		}
		return tx.DeleteUser(ctx, u.ID, now, ev)
	})
	if err != nil {
		return err
	}
	a.changed(keyward.Invalidation{UserIDs: []int64{u.ID}, CredentialIDs: revoked})
	return nil
}

// unbind removes binding b of u to r with ev, revoking in the same transaction the
// certificate credentials of u that no longer stand without it.
func (a *Authority) unbind(ctx context.Context, u *keyward.User, r *keyward.Role, b keyward.RoleBinding, ev *keyward.Event) error {
	scope := "project"
	if b.ProjectID == 0 {
		scope = "global"
	}
	rv, err := a.followCreator(ctx, u, reasonBindingRemove, map[string]string{"role": r.Name, "scope": scope}, ev.Time)
	if err != nil {
		return err
	}
	revoked, err := a.store.DeleteRoleBindingRevoking(ctx, b, ev.Time, ev, rv)
	if isCode(err, keyward.EForbidden) {
		return a.deny(ctx, b.ProjectID, map[string]string{"rule": "dominance", "binding": r.Name}, err)
	} else if err != nil {
		return err
	}
	a.changed(keyward.Invalidation{UserIDs: []int64{u.ID}, CredentialIDs: revoked})
	return nil
}
