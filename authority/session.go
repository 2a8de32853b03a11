package authority

import (
	"context"
	"strconv"
	"time"

	"github.com/keyward/keyward"
)

// Login sessions belong to their user. They are stored as credentials of the system project,
// but no project path reaches them: ListCredentials leaves them out in the store query
// (keyward.CredentialFilter), and a lookup by id or name through a project answers ENotFound
// exactly as for a credential that does not exist (hideSession), so that nobody reads, updates,
// renews, rolls, revokes or reschedules a session as a project's credential. A session is seen
// and ended through its user only (/v1/users/{user}/sessions): by the user and by users:admin.
// Its lifetime is capped at keyward.MaxSessionTTL from its creation whatever its expires_at
// says (keyward.Credential.StateAt).

// hideSession turns a login session that a project path found into the ENotFound of a
// credential that does not exist; anything else passes as it is.
func hideSession(c *keyward.Credential, err error) (*keyward.Credential, error) {
	if err == nil && c.Type == keyward.Session {
		return nil, keyward.Errorf(keyward.ENotFound, "credential not found")
	}
	return c, err
}

// sessionEnd is how a change ends u's sessions at now, but keep (0 for none): each audited as
// session.revoke with the user and the reason.
func (a *Authority) sessionEnd(ctx context.Context, u *keyward.User, now time.Time, keep int64, reason string) keyward.SessionEnd {
	ev := a.event(ctx, "session.revoke", 0, 0, now)
	ev.Detail = map[string]string{"user": u.Name, "reason": reason}
	return keyward.SessionEnd{At: now, Keep: keep, Event: ev}
}

// ownSession is the id of the session the caller is using when it is one of u's, else 0.
func ownSession(c *keyward.Caller, u *keyward.User) int64 {
	if c.Credential != nil && c.Credential.Type == keyward.Session && c.Credential.CreatedBy == u.ID {
		return c.Credential.ID
	}
	return 0
}

// RevokeSession ends one login session (by id) of a user: one's own, or anyone's with
// users:admin. A session that is not that user's, and every user the caller may not see, is
// ENotFound. Revoking a revoked session changes nothing and succeeds.
func (a *Authority) RevokeSession(ctx context.Context, userRef, sessionRef string) (*keyward.Credential, error) {
	u, err := a.resolveUser(ctx, userRef, true)
	if err != nil {
		return nil, err
	}
	if err := a.checkUserDominance(ctx, u, "end their sessions"); err != nil {
		return nil, err
	}
	notFound := keyward.Errorf(keyward.ENotFound, "session %q of user %q not found", sessionRef, u.Name)
	id, err := strconv.ParseInt(sessionRef, 10, 64)
	if err != nil || id <= 0 {
		return nil, notFound
	}
	system, err := a.store.ProjectBySlug(ctx, keyward.SystemProject)
	if err != nil {
		return nil, err
	}
	s, err := a.store.CredentialByID(ctx, system.ID, id)
	if isCode(err, keyward.ENotFound) || (err == nil && (s.Type != keyward.Session || s.CreatedBy != u.ID)) {
		return nil, notFound
	} else if err != nil {
		return nil, err
	}
	var out keyward.Credential
	if err := a.inTx(ctx, func(tx *unit) error {
		out = *s
		return a.revokeIn(ctx, tx, &out, func(r *keyward.Credential, now time.Time) *keyward.Event {
			ev := a.event(ctx, "session.revoke", r.ProjectID, r.ID, now)
			ev.Detail = map[string]string{"user": u.Name, "reason": "revoked"}
			return ev
		})
	}); err != nil {
		return nil, err
	}
	out.State = out.StateAt(a.clock())
	return &out, nil
}

// RevokeSessions ends every live login session of a user but the one the caller is using (a
// "log out everywhere else"; POST /v1/logout ends that one), in one transaction, each audited.
// It is one's own, or anyone's with users:admin; others get ENotFound. It returns what it did.
func (a *Authority) RevokeSessions(ctx context.Context, userRef string) (*keyward.RevokedSessions, error) {
	u, err := a.resolveUser(ctx, userRef, true)
	if err != nil {
		return nil, err
	}
	if err := a.checkUserDominance(ctx, u, "end their sessions"); err != nil {
		return nil, err
	}
	c, _ := caller(ctx)
	keep := ownSession(c, u)
	ids, err := a.store.RevokeSessions(ctx, u.ID, a.sessionEnd(ctx, u, a.clock(), keep, "revoked"))
	if err != nil {
		return nil, err
	}
	a.changed(keyward.Invalidation{CredentialIDs: ids})
	return &keyward.RevokedSessions{Revoked: ids, Kept: keep}, nil
}
