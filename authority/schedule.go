package authority

import (
	"context"
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
	up := keyward.UpdateCredentialInput{
		Name: in.Name, Roles: in.Roles, Version: in.Version,
		NotBefore: in.NotBefore, ClearNotBefore: in.ClearNotBefore, ExpiresAt: in.ExpiresAt,
	}
	if in.NeverExpires {
		up.NeverExpires = &in.NeverExpires
	}
	return a.patch(ctx, projectRef, ref, up)
}
