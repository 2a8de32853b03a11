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
// verification can have seen them; a new secret's digest is announced all the same, for the
// replicas' sets of issued secrets. Uses (ConsumeCredit, TouchCredentials) are not changes.
type changes struct {
	credentials, users []int64 // appended to only, so that mark and undo are lengths
	secrets            [][]byte
	roles              bool
	// events are the audit events the transaction inserted, chained when it commits (chain.go).
	events []pendingEvent
}

// maxAnnouncedSecrets bounds the digests one notification names (PostgreSQL's payload is
// under 8000 bytes); a transaction that creates more announces All, and replicas reload.
const maxAnnouncedSecrets = 64

// secretCreated records a new secret's digest.
func (c *changes) secretCreated(digest []byte) { c.secrets = append(c.secrets, digest) }

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
	credentials, users, secrets, events int
	roles                               bool
}

func (c *changes) mark() changeMark {
	return changeMark{len(c.credentials), len(c.users), len(c.secrets), len(c.events), c.roles}
}

// undo forgets what was recorded after m: the savepoint it was set for rolled back.
func (c *changes) undo(m changeMark) {
	c.credentials, c.users, c.roles = c.credentials[:m.credentials], c.users[:m.users], m.roles
	c.secrets, c.events = c.secrets[:m.secrets], c.events[:m.events]
}

// invalidation is what the changes invalidate, each id once and ascending; false when nothing.
func (c *changes) invalidation() (keyward.Invalidation, bool) {
	if c.roles || len(c.secrets) > maxAnnouncedSecrets {
		return keyward.Invalidation{All: true}, true
	}
	if len(c.credentials) == 0 && len(c.users) == 0 && len(c.secrets) == 0 {
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
	return keyward.Invalidation{CredentialIDs: ids(c.credentials), UserIDs: ids(c.users),
		Secrets: slices.Clone(c.secrets)}, true
}
