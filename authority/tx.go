package authority

import (
	"context"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

// unit is one operation's store transaction: the store bound to it, and what the operation
// changed for the verification cache, dropped only once the transaction commits.
type unit struct {
	store keyward.Store
	invs  []keyward.Invalidation
}

// changed records an invalidation to apply after commit.
func (u *unit) changed(inv keyward.Invalidation) { u.invs = append(u.invs, inv) }

// inTx runs fn in one store transaction (keyward.Store.WithTx), so that every write of the
// operation, with its audit events, commits together or not at all, and then applies the
// invalidations fn recorded: never before the commit, so that no replica re-caches a state
// about to change, and never after a rollback. Every permission and the dominance rule must be
// checked before inTx: fn must not call what may audit a refusal through a.store (on SQLite
// that write would wait for the connection the transaction holds). WithTx may run fn again
// on contention, so fn starts from the values it was given each time, never from its own
// earlier run.
func (a *Authority) inTx(ctx context.Context, fn func(u *unit) error) error {
	var u *unit
	err := a.store.WithTx(ctx, func(st keyward.Store) error {
		u = &unit{store: st}
		return fn(u)
	})
	if err != nil {
		return err
	}
	for _, inv := range u.invs {
		a.changed(inv)
	}
	return nil
}

// revokeIn revokes cred in u, audited by the event event returns (one per attempt), retrying
// on the fresh record when a concurrent change made the write stale. A credential revoked
// meanwhile is left as it is. The fresh record must carry the roles the caller was checked
// against (the dominance rule ran on them before the transaction): otherwise EConflict. On
// success *cred is the revoked credential.
func (a *Authority) revokeIn(ctx context.Context, u *unit, cred *keyward.Credential, event func(c *keyward.Credential, now time.Time) *keyward.Event) error {
	checked := cred.RoleIDs
	cur := cred
	for attempt := 0; ; attempt++ {
		if cur.RevokedAt != nil {
			*cred = *cur
			return nil
		}
		now := a.clock()
		c := *cur
		c.RevokedAt, c.UpdatedAt = &now, now
		err := u.store.UpdateCredential(ctx, &c, event(&c, now))
		if isCode(err, keyward.EConflict) && attempt < 5 {
			fresh, err := u.store.CredentialByID(ctx, c.ProjectID, c.ID)
			if err != nil {
				return err
			}
			if !slices.Equal(fresh.RoleIDs, checked) {
				return keyward.Errorf(keyward.EConflict, "credential %q changed while it was being revoked; try again", c.Name)
			}
			cur = fresh
			continue
		} else if err != nil {
			return err
		}
		u.changed(keyward.Invalidation{CredentialIDs: []int64{c.ID}})
		c.State = c.StateAt(now)
		*cred = c
		return nil
	}
}
