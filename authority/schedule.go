package authority

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/keyward/keyward"
)

// ScheduleInput sets when a credential is valid: from NotBefore until ExpiresAt. Fields left at
// their zero value keep what the credential has. Name and Roles, when set, rename the credential
// and replace its roles in the same write, so that a request changing the window and the rest
// together is applied entirely or not at all.
type ScheduleInput struct {
	// NotBefore moves the start of validity to that instant. An instant at or before the
	// credential's creation is no restriction at all and is stored as none.
	NotBefore *time.Time
	// ClearNotBefore removes the start: the credential is valid from its creation.
	ClearNotBefore bool
	// ExpiresAt moves the expiry to that instant, which must be in the future and at most
	// keyward.MaxExpirationDays ahead; NeverExpires removes the expiry. At most one of the two.
	ExpiresAt    *time.Time
	NeverExpires bool
	// Name renames the credential; the new name must be free in the project.
	Name *string
	// Roles replaces the credential's roles (names or ids); none may exceed the caller's rights
	// in the project. Sending the roles the credential already has changes nothing and so
	// gives nothing away.
	Roles *[]string
	// Version is the version the caller read; 0 skips the check.
	Version int64
}

// ScheduleCredential changes a credential's validity window (not_before and expires_at) and, in
// the same write, its name and roles. It needs keys:update in the project and follows the rules
// of CreateCredential and UpdateCredential: an expiry must be in the future and at most
// keyward.MaxExpirationDays ahead, the start must come before the expiry, a revoked credential
// cannot change, a stale Version is EConflict, and roles may grant nothing the caller lacks.
//
// Only API_TOKEN credentials can be rescheduled: a certificate's validity is signed into it
// (roll to re-issue) and a session's is its login's. A value equal to the current one, to the
// millisecond, is not a change and is not validated again, since JSON clients commonly keep
// milliseconds only: a client that sends back what it read (say, the past expiry of an expired
// key, with a new name) changes only what differs. A request that changes nothing writes
// nothing and returns the credential as it is.
func (a *Authority) ScheduleCredential(ctx context.Context, projectRef, ref string, in ScheduleInput) (*keyward.Credential, error) {
	c, err := a.credential(ctx, projectRef, ref, keyward.PermKeysUpdate)
	if err != nil {
		return nil, err
	}
	if in.Version != 0 && in.Version != c.Version {
		return nil, errStale(c)
	}
	if c.RevokedAt != nil {
		return nil, errRevoked(c)
	}
	now := a.clock()
	fe := fieldErrors{}
	changed := []string{}

	notBefore := c.NotBefore
	switch {
	case in.ClearNotBefore && in.NotBefore != nil:
		fe.add("not_before", "give not_before or clear it, not both")
	case in.ClearNotBefore:
		notBefore = nil
	case in.NotBefore != nil && !in.NotBefore.After(c.CreatedAt):
		notBefore = nil
	case in.NotBefore != nil && !sameMillisecond(in.NotBefore, c.NotBefore):
		notBefore = normTime(in.NotBefore)
	}
	if !sameMillisecond(notBefore, c.NotBefore) {
		changed = append(changed, "not_before")
	} else {
		notBefore = c.NotBefore
	}

	expires := c.ExpiresAt
	switch {
	case in.NeverExpires && in.ExpiresAt != nil:
		fe.add("expires_at", "give expires_at or never_expires, not both")
	case in.NeverExpires:
		expires = nil
	case in.ExpiresAt != nil && !sameMillisecond(in.ExpiresAt, c.ExpiresAt):
		expires = validateExpiry(fe, now, nil, in.ExpiresAt, false, 0)
	}
	if !sameMillisecond(expires, c.ExpiresAt) {
		changed = append(changed, "expires_at")
	} else {
		expires = c.ExpiresAt
	}

	if len(changed) > 0 {
		if c.Type != keyward.APIToken {
			fe.add("type", "only API_TOKEN credentials can be rescheduled; a certificate's validity is signed into it, so roll it to re-issue")
		}
		if notBefore != nil && expires != nil && !notBefore.Before(*expires) {
			fe.add("not_before", "must be before the expiry")
		}
	}
	if in.Name != nil && *in.Name != c.Name {
		if !keyward.ValidName(*in.Name) {
			fe.add("name", keyward.NameRule)
		}
		changed = append(changed, "name")
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	roleIDs, err := a.scheduledRoles(ctx, c, in.Roles)
	if err != nil {
		return nil, err
	}
	if roleIDs != nil {
		changed = append(changed, "roles")
	}
	if len(changed) == 0 {
		return c, nil
	}
	c.NotBefore, c.ExpiresAt, c.UpdatedAt = notBefore, expires, now
	if in.Name != nil {
		c.Name = *in.Name
	}
	if roleIDs != nil {
		c.RoleIDs = roleIDs
	}
	ev := a.event(ctx, "credential.update", c.ProjectID, c.ID, now)
	ev.Detail = map[string]string{"fields": joinComma(changed)}
	if err := a.store.UpdateCredential(ctx, c, ev); err != nil {
		return nil, err
	}
	a.changed(keyward.Invalidation{CredentialIDs: []int64{c.ID}})
	c.State = c.StateAt(now)
	return c, nil
}

// scheduledRoles resolves the roles a ScheduleInput asks for: nil when it asks for none or for
// exactly the ones c has; otherwise the new role ids, each grantable by the caller.
func (a *Authority) scheduledRoles(ctx context.Context, c *keyward.Credential, refs *[]string) ([]int64, error) {
	if refs == nil {
		return nil, nil
	}
	if len(*refs) == 0 {
		return nil, keyward.Invalid("roles", "a credential needs at least one role")
	}
	byID, err := a.roles(ctx)
	if err != nil {
		return nil, err
	}
	asked := make([]int64, 0, len(*refs))
	for _, ref := range *refs {
		r := resolveRole(byID, ref)
		if r == nil {
			return nil, keyward.Invalid("roles", "unknown role "+strconv.Quote(ref))
		}
		asked = append(asked, r.ID)
	}
	slices.Sort(asked)
	asked = slices.Compact(asked)
	have := slices.Clone(c.RoleIDs)
	slices.Sort(have)
	if slices.Equal(asked, have) {
		return nil, nil
	}
	project, err := a.store.ProjectByID(ctx, c.ProjectID)
	if err != nil {
		return nil, err
	}
	return a.grantableRoles(ctx, project, *refs)
}

// sameMillisecond reports whether two optional instants are equal to the millisecond (both
// absent counts as equal).
func sameMillisecond(x, y *time.Time) bool {
	if x == nil || y == nil {
		return x == nil && y == nil
	}
	return x.Truncate(time.Millisecond).Equal(y.Truncate(time.Millisecond))
}
