package authority

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strconv"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/password"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/token"
)

// Failed-login limits: per user name and per source address. Each attempt reserves one event
// before its password is checked and gives it back when it succeeds (see password.go), so a
// failure costs one event, a user who keeps getting it right is never slowed, and no burst of
// parallel guesses gets more than the limit evaluated.
var (
	DefaultLoginUserRate = ratelimit.Rate{Limit: 5, Period: 15 * time.Minute}
	DefaultLoginAddrRate = ratelimit.Rate{Limit: 20, Period: 15 * time.Minute}
)

// errLogin is the one answer to every failed login, so that it never tells whether the user
// exists, is disabled, or has no password.
var errLogin = keyward.Errorf(keyward.EUnauthenticated, "invalid user name or password")

// resolveRole finds a role by name or numeric id among byID.
func resolveRole(byID map[int64]*keyward.Role, ref string) *keyward.Role {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return byID[id]
	}
	for _, r := range byID {
		if r.Name == ref {
			return r
		}
	}
	return nil
}

// grantableRoles resolves the roles a new or updated credential in project gets: refs (names or
// ids), or by default the caller's own. Every one must grant only what the caller holds in the
// project, or nothing is changed and the refusal is audited.
func (a *Authority) grantableRoles(ctx context.Context, project *keyward.Project, refs []string) ([]int64, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	byID, err := a.roles(ctx)
	if err != nil {
		return nil, err
	}
	have := effective(c.Grants, project.ID)
	var ids []int64
	if len(refs) == 0 {
		candidates := c.Credential.RoleIDs
		if c.Credential.Type == keyward.Session {
			bindings, err := a.store.RoleBindings(ctx, c.User.ID)
			if err != nil {
				return nil, err
			}
			candidates = nil
			for _, b := range bindings {
				if b.ProjectID == 0 || b.ProjectID == project.ID {
					candidates = append(candidates, b.RoleID)
				}
			}
		}
		for _, id := range candidates {
			if r := byID[id]; r != nil && within(r, have) {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			return nil, a.deny(ctx, project.ID, map[string]string{"roles": "default"},
				keyward.Errorf(keyward.EForbidden, "none of your roles can be given to a credential in project %q; name roles explicitly", project.Slug))
		}
	}
	for _, ref := range refs {
		r := resolveRole(byID, ref)
		if r == nil {
			return nil, keyward.Invalid("roles", "unknown role "+strconv.Quote(ref))
		}
		if !within(r, have) {
			return nil, a.deny(ctx, project.ID, map[string]string{"role": r.Name},
				keyward.Errorf(keyward.EForbidden, "role %q grants permissions you do not hold in project %q", r.Name, project.Slug))
		}
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// resolveUser finds a user by name or id. The caller must be that user or hold users:admin;
// anyone else is told the user does not exist.
func (a *Authority) resolveUser(ctx context.Context, ref string, selfAllowed bool) (*keyward.User, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var u *keyward.User
	if id, convErr := strconv.ParseInt(ref, 10, 64); convErr == nil {
		u, err = a.store.UserByID(ctx, id)
		if err == nil && u.DeletedAt != nil {
			err = keyward.Errorf(keyward.ENotFound, "deleted")
		}
	} else {
		u, err = a.store.UserByName(ctx, ref)
	}
	notFound := keyward.Errorf(keyward.ENotFound, "user %q not found", ref)
	if isCode(err, keyward.ENotFound) {
		return nil, notFound
	} else if err != nil {
		return nil, err
	}
	if selfAllowed && u.ID == c.User.ID {
		return u, nil
	}
	if !c.Can(keyward.PermUsersAdmin, 0) {
		if u.ID == c.User.ID {
			return nil, a.authorize(ctx, keyward.PermUsersAdmin, nil)
		}
		return nil, notFound
	}
	return u, nil
}

// CreateUser creates a user, with a password when one is given. It needs users:admin.
func (a *Authority) CreateUser(ctx context.Context, in keyward.CreateUserInput) (*keyward.User, error) {
	if err := a.authorize(ctx, keyward.PermUsersAdmin, nil); err != nil {
		return nil, err
	}
	if !keyward.ValidName(in.Name) {
		return nil, keyward.Invalid("name", keyward.NameRule)
	}
	hash := ""
	if in.Password != "" {
		if err := password.Validate(in.Password, in.Name); err != nil {
			return nil, err
		}
		release, err := a.hashSlot()
		if err != nil {
			return nil, err
		}
		hash, err = password.Hash(in.Password, a.passwordParams)
		release()
		if err != nil {
			return nil, err
		}
	}
	now := a.clock()
	u := &keyward.User{Name: in.Name, CreatedAt: now, UpdatedAt: now}
	ev := a.event(ctx, "user.create", 0, 0, now)
	ev.Detail = map[string]string{"user": in.Name}
	if err := a.store.CreateUser(ctx, u, hash, ev); err != nil {
		return nil, err
	}
	return u, nil
}

// User returns a user: the caller itself, or anyone for users:admin.
func (a *Authority) User(ctx context.Context, ref string) (*keyward.User, error) {
	return a.resolveUser(ctx, ref, true)
}

// ListUsers returns users a page at a time. It needs users:admin.
func (a *Authority) ListUsers(ctx context.Context, cursor string, limit int) (*keyward.Page[*keyward.User], error) {
	if err := a.authorize(ctx, keyward.PermUsersAdmin, nil); err != nil {
		return nil, err
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, err
	}
	if limit, err = pageSize(limit); err != nil {
		return nil, err
	}
	us, err := a.store.ListUsers(ctx, keyward.UserFilter{AfterID: after, Limit: limit + 1})
	if err != nil {
		return nil, err
	}
	page := paginate(us, limit, func(x *keyward.User) int64 { return x.ID })
	return page, nil
}

// UpdateUser disables or enables a user. Disabling takes effect on the user's next request and
// on the next verification of every key it created, and revokes its certificate credentials
// into the CRL (followsCreator); enabling it again restores no certificate. It needs
// users:admin; nobody disables themselves, so that the last admin cannot lock everyone out by
// accident.
func (a *Authority) UpdateUser(ctx context.Context, ref string, in keyward.UpdateUserInput) (*keyward.User, error) {
	u, err := a.resolveUser(ctx, ref, false)
	if err != nil {
		return nil, err
	}
	if in.Disabled == nil {
		return nil, keyward.Invalid("disabled", "is required")
	}
	c, _ := caller(ctx)
	if *in.Disabled && u.ID == c.User.ID {
		return nil, keyward.Invalid("disabled", "you cannot disable yourself")
	}
	if err := a.checkUserDominance(ctx, u, "disable or enable them"); err != nil {
		return nil, err
	}
	now := a.clock()
	u.Disabled, u.UpdatedAt = *in.Disabled, now
	action := "user.enable"
	if u.Disabled {
		action = "user.disable"
	}
	ev := a.event(ctx, action, 0, 0, now)
	ev.Detail = map[string]string{"user": u.Name}
	if err := a.writeUser(ctx, u, ev, now); err != nil {
		return nil, err
	}
	return u, nil
}

// DeleteUser deletes a user: its bindings go, every credential it created is revoked (each
// with a credential.revoke event in its project), and its name is free again. It needs
// users:admin and cannot be done to oneself.
func (a *Authority) DeleteUser(ctx context.Context, ref string) (*keyward.User, error) {
	u, err := a.resolveUser(ctx, ref, false)
	if err != nil {
		return nil, err
	}
	c, _ := caller(ctx)
	if u.ID == c.User.ID {
		return nil, keyward.Invalid("user", "you cannot delete yourself")
	}
	if err := a.checkUserDominance(ctx, u, "delete them"); err != nil {
		return nil, err
	}
	now := a.clock()
	ev := a.event(ctx, "user.delete", 0, 0, now)
	ev.Detail = map[string]string{"user": u.Name}
	if err := a.deleteUser(ctx, u, ev, now); err != nil {
		return nil, err
	}
	return a.store.UserByID(ctx, u.ID)
}

// SetPassword sets a user's password. With users:admin (globally) a caller sets anyone's,
// its own included, without the current password: a reset. Without it, a user changes only
// its own, from a login session, giving the current password (mismatches are throttled like
// failed logins); so an API key, whatever its roles, never turns into a login, and a user
// without a password gets a first one from an admin only. Service users have no password.
// The change ends the user's other sessions (all of them on a reset of someone else) in the
// same transaction, each audited.
func (a *Authority) SetPassword(ctx context.Context, ref string, in keyward.SetPasswordInput) error {
	u, err := a.resolveUser(ctx, ref, true)
	if err != nil {
		return err
	}
	c, _ := caller(ctx)
	if IsServiceUser(u.Name) {
		return a.deny(ctx, 0, map[string]string{"user": u.Name, "password": "service user"},
			keyward.Errorf(keyward.EForbidden, "a service user has no password: it acts through its credential only"))
	}
	reset := c.Can(keyward.PermUsersAdmin, 0)
	if !reset {
		// resolveUser let a caller without users:admin through for itself only.
		session := c.Credential != nil && c.Credential.Type == keyward.Session
		if !session || !u.HasPassword {
			return a.deny(ctx, 0, map[string]string{"user": u.Name, "password": "own change without a session"},
				keyward.Errorf(keyward.EForbidden, "changing your own password needs a login session and your current password; setting a password without it needs users:admin"))
		}
		if in.CurrentPassword == "" {
			return keyward.Invalid("current_password", "is required to change your own password")
		}
		if len(in.CurrentPassword) > password.MaxLength {
			return keyward.Invalid("current_password", "does not match") // no password is that long
		}
	}
	if reset {
		if err := a.checkUserDominance(ctx, u, "set their password"); err != nil {
			return err
		}
	}
	if err := password.Validate(in.Password, u.Name); err != nil {
		return err
	}
	var held *reservation
	if !reset {
		if held, err = a.reserve(ctx, []limitKey{a.userKey(u.Name)}); err != nil {
			return err
		}
	}
	hash, err := a.checkAndHash(ctx, u, reset, in)
	if err != nil {
		if held != nil && !isCode(err, keyward.EInvalid) {
			held.refund(ctx) // not evaluated: it does not count
		}
		return err
	}
	if held != nil {
		held.refund(ctx)
	}
	now := a.clock()
	ev := a.event(ctx, "user.password", 0, 0, now)
	ev.Detail = map[string]string{"user": u.Name}
	// The session making the change, if it is the user's, goes on.
	end := a.sessionEnd(ctx, u, now, ownSession(c, u), "password changed")
	ids, err := a.store.SetPasswordHash(ctx, u.ID, hash, ev, end)
	if err != nil {
		return err
	}
	a.changed(keyward.Invalidation{CredentialIDs: ids})
	return nil
}

// checkAndHash checks in.CurrentPassword against u's (unless reset) and hashes in.Password,
// within one hash slot. A mismatch is EInvalid.
func (a *Authority) checkAndHash(ctx context.Context, u *keyward.User, reset bool, in keyward.SetPasswordInput) (string, error) {
	release, err := a.hashSlot()
	if err != nil {
		return "", err
	}
	defer release()
	if !reset {
		old, err := a.store.PasswordHash(ctx, u.ID)
		if err != nil {
			return "", err
		}
		if ok, err := a.checkPassword(in.CurrentPassword, old); err != nil || !ok {
			return "", keyward.Invalid("current_password", "does not match")
		}
	}
	return password.Hash(in.Password, a.passwordParams)
}

// ListSessions lists a user's login sessions, newest last.
func (a *Authority) ListSessions(ctx context.Context, ref, cursor string, limit int) (*keyward.Page[*keyward.Credential], error) {
	u, err := a.resolveUser(ctx, ref, true)
	if err != nil {
		return nil, err
	}
	system, err := a.store.ProjectBySlug(ctx, keyward.SystemProject)
	if err != nil {
		return nil, err
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, err
	}
	if limit, err = pageSize(limit); err != nil {
		return nil, err
	}
	now := a.clock()
	cs, err := a.store.ListCredentials(ctx, keyward.CredentialFilter{
		ProjectID: system.ID, CreatedBy: u.ID, Type: keyward.Session, Now: now, AfterID: after, Limit: limit + 1,
	})
	if err != nil {
		return nil, err
	}
	page := paginate(cs, limit, func(x *keyward.Credential) int64 { return x.ID })
	for _, c := range page.Items {
		c.State = c.StateAt(now)
	}
	return page, nil
}

// Login exchanges a user name and password for a session token. Unknown users, wrong
// passwords, disabled users and users without a password all get the same answer after the same
// argon2 work; a name or password that cannot be valid gets it before any work. Attempts are
// reserved per name and per source address before the password is checked, and given back
// when they succeed (see password.go). Service users cannot log in.
func (a *Authority) Login(ctx context.Context, in keyward.LoginInput, remoteAddr string) (*keyward.IssuedCredential, error) {
	ttl := keyward.DefaultSessionTTL
	if in.TTLSeconds != 0 {
		ttl = time.Duration(in.TTLSeconds) * time.Second
		if ttl < time.Minute || ttl > keyward.MaxSessionTTL {
			return nil, keyward.Invalid("ttl_seconds", "must be between 60 and "+strconv.Itoa(int(keyward.MaxSessionTTL/time.Second)))
		}
	}
	if !loginCandidate(in.Name, in.Password) {
		return nil, errLogin
	}
	held, err := a.reserve(ctx, a.loginKeys(in.Name, remoteAddr))
	if err != nil {
		return nil, err
	}
	u, ok, err := a.checkLogin(ctx, in)
	if err != nil {
		held.refund(ctx) // not evaluated: it does not count
		return nil, err
	}
	now := a.clock()
	if !ok {
		ev := &keyward.Event{Time: now, Action: "user.login", RemoteAddr: remoteAddr, Outcome: keyward.OutcomeDenied,
			Detail: map[string]string{"user": in.Name}}
		if u != nil {
			ev.ActorUserID, ev.Actor = u.ID, u.Name
		}
		if err := a.store.AppendEvent(ctx, boundEvent(ev)); err != nil {
			a.logger.Warn("auditing a failed login failed", "err", err)
		}
		return nil, errLogin
	}
	held.refund(ctx)
	system, err := a.store.ProjectBySlug(ctx, keyward.SystemProject)
	if err != nil {
		return nil, err
	}
	tok, err := token.New(keyward.Live)
	if err != nil {
		return nil, err
	}
	var suffix [8]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return nil, err
	}
	expires := now.Add(ttl)
	cred := &keyward.Credential{
		ProjectID: system.ID, Project: system.Slug, Name: "session-" + hex.EncodeToString(suffix[:]),
		Description: "login session of " + u.Name, Type: keyward.Session, Environment: keyward.Live,
		KeyType: keyward.Secret, CreatedBy: u.ID, RoleIDs: []int64{}, Meta: map[string]string{},
		ExpiresAt: &expires, Active: true, CreatedAt: now, UpdatedAt: now, Start: token.Start(tok),
	}
	ev := &keyward.Event{Time: now, ActorUserID: u.ID, Actor: u.Name, Action: "user.login", ProjectID: system.ID,
		RemoteAddr: remoteAddr, Outcome: keyward.OutcomeSuccess}
	if err := a.store.CreateCredential(ctx, cred, &keyward.CredentialSecret{Digest: token.Digest(tok), CreatedAt: now}, boundEvent(ev)); err != nil {
		return nil, err
	}
	cred.State = cred.StateAt(now)
	return &keyward.IssuedCredential{Credential: *cred, Key: tok}, nil
}

// checkLogin finds the user and checks the password within one hash slot: ok only for an
// enabled user (not a service user) whose password matches. u is the user when one has the
// name. An unknown name costs the same argon2 run as a wrong password.
func (a *Authority) checkLogin(ctx context.Context, in keyward.LoginInput) (u *keyward.User, ok bool, err error) {
	release, err := a.hashSlot()
	if err != nil {
		return nil, false, err
	}
	defer release()
	u, err = a.store.UserByName(ctx, in.Name)
	if err != nil && !isCode(err, keyward.ENotFound) {
		return nil, false, err
	}
	if u == nil || !u.HasPassword || IsServiceUser(u.Name) {
		a.checkDummy(in.Password)
		return u, false, nil
	}
	hash, err := a.store.PasswordHash(ctx, u.ID)
	if err != nil {
		return nil, false, err
	}
	ok, _ = a.checkPassword(in.Password, hash)
	return u, ok && !u.Disabled, nil
}

// Logout revokes the session the caller is using.
func (a *Authority) Logout(ctx context.Context) (*keyward.Credential, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if c.Credential.Type != keyward.Session {
		return nil, keyward.Invalid("credential", "logout ends a login session; revoke an API key with DELETE instead")
	}
	cred := *c.Credential
	now := a.clock()
	cred.RevokedAt, cred.UpdatedAt = &now, now
	ev := a.event(ctx, "user.logout", cred.ProjectID, cred.ID, now)
	if err := a.store.UpdateCredential(ctx, &cred, ev); err != nil {
		return nil, err
	}
	a.changed(keyward.Invalidation{CredentialIDs: []int64{cred.ID}})
	cred.State = cred.StateAt(now)
	return &cred, nil
}
