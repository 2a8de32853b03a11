package sqlstore

import (
	"slices"

	"github.com/keyward/keyward"
)

// changeKind is what a write changed, as far as a cached verification answer is concerned.
type changeKind int

const (
	// credentialChanged: a credential's row changed (update, roll, revocation, remaining).
	credentialChanged changeKind = iota
	// userChanged: a user's row or role bindings changed (disable, delete, bind, unbind).
	userChanged
	// rolesChanged: a role's permissions changed, or the whole store was replaced (Import): any
	// credential's rights may differ.
	rolesChanged
)

// changes is what a write transaction changed. Writes record it as they happen, and
// invalidation derives, in this one place, what a verification cache must forget when the
// transaction commits. New rows (a created credential, user or role) invalidate nothing: no
// verification can have seen them. Uses (ConsumeCredit, TouchCredentials) are not changes.
type changes struct {
	credentials, users []int64 // appended to only, so that mark and undo are lengths
	roles              bool
}

func (c *changes) add(k changeKind, ids ...int64) {
	switch k {
	case credentialChanged:
		c.credentials = append(c.credentials, ids...)
	case userChanged:
		c.users = append(c.users, ids...)
	case rolesChanged:
		c.roles = true
	}
}

// changeMark is where changes stood when a savepoint was set.
type changeMark struct {
	credentials, users int
	roles              bool
}

func (c *changes) mark() changeMark { return changeMark{len(c.credentials), len(c.users), c.roles} }

// undo forgets what was recorded after m: the savepoint it was set for rolled back.
func (c *changes) undo(m changeMark) {
	c.credentials, c.users, c.roles = c.credentials[:m.credentials], c.users[:m.users], m.roles
}

// invalidation is what the changes invalidate, each id once and ascending; false when nothing.
func (c *changes) invalidation() (keyward.Invalidation, bool) {
	if c.roles {
		return keyward.Invalidation{All: true}, true
	}
	if len(c.credentials) == 0 && len(c.users) == 0 {
		return keyward.Invalidation{}, false
	}
	ids := func(x []int64) []int64 {
		if len(x) == 0 {
			return nil
		}
		x = slices.Clone(x)
		slices.Sort(x)
		return slices.Compact(x)
	}
	return keyward.Invalidation{CredentialIDs: ids(c.credentials), UserIDs: ids(c.users)}, true
}
