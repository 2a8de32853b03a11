package authority

import (
	"context"
	"crypto/sha256"
	"strconv"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/token"
)

// errUnauthenticated is the single answer to every authentication failure, so that a caller
// learns nothing about why a key was refused.
var errUnauthenticated = keyward.Errorf(keyward.EUnauthenticated, "a valid API key is required")

// Authenticate resolves a presented key into a Caller. Every failure (malformed, unknown,
// expired, revoked, disabled, creator disabled) is the same EUnauthenticated; store failures are
// returned as they are.
func (a *Authority) Authenticate(ctx context.Context, key, remoteAddr string) (*keyward.Caller, error) {
	if !token.Valid(key) {
		return nil, errUnauthenticated
	}
	now := a.clock()
	d := digestOf(key)
	e, aging := a.cachedCaller(d, now)
	if e == nil || aging {
		dd := d // the load may outlive this call (a refresh): it gets its own copy
		var err error
		e, err = a.callerFor(ctx, dd, now, e, func(ctx context.Context) (*keyward.Credential, *time.Time, error) {
			if !a.mayBeIssued(&dd, a.clock()) {
				return nil, nil, errUnauthenticated
			}
			return a.credentialBySecret(ctx, dd)
		})
		if isCode(err, keyward.ENotFound) {
			return nil, errUnauthenticated
		} else if err != nil {
			return nil, err
		}
	}
	return a.callerOf(e, now, remoteAddr)
}

// digestOf is the SHA-256 of a key that token.Valid accepted (so at most 64 bytes), hashed from
// a stack copy: converting the string would allocate on every verification.
func digestOf(key string) [32]byte {
	var b [64]byte
	n := copy(b[:], key)
	return sha256.Sum256(b[:n])
}

// callerOf turns a cache entry into the Caller it authenticates, if it is valid now.
func (a *Authority) callerOf(e *callerEntry, now time.Time, remoteAddr string) (*keyward.Caller, error) {
	if !secretLive(e.validUntil, now) || e.cred.StateAt(now) != keyward.StateActive || !e.creatorActive() {
		return nil, errUnauthenticated
	}
	if e.cred.Type == keyward.KubeToken {
		// A kubeconfig's token opens its cluster (ReviewToken), never keyward's own API: the
		// cluster's API server sees every token its users send.
		return nil, errUnauthenticated
	}
	if e.cred.Type == keyward.Session {
		a.usage.touch(e.cred.ID, now)
	} else {
		a.usage.record(e.cred.ID, now)
	}
	return &keyward.Caller{User: e.creator, Credential: e.active, Grants: e.grants, RemoteAddr: remoteAddr}, nil
}

// lookup returns what verification needs about the token secret with digest d, from the cache
// or the store; nil and no error when no credential has that secret. A cached entry past half
// the TTL is still answered, while one background load refreshes it (stale-while-revalidate):
// a hot key never waits for the store, and the TTL stays the bound on staleness, since the
// entry is dropped at once by an invalidation and never served past the TTL.
func (a *Authority) lookup(ctx context.Context, d [32]byte, now time.Time) (*entry, error) {
	if e := a.cache.get(d, now); e != nil {
		a.metrics.cacheHit(&d)
		if a.cache.aging(&d, e.loaded, now) {
			a.refresh(d)
		}
		return e, nil
	}
	a.metrics.cacheMiss(&d)
	if !a.mayBeIssued(&d, now) {
		return nil, nil
	}
	return a.loadToken(ctx, d, now)
}

// loadToken is lookup's miss path, apart so that what makes d escape does not allocate on
// every hit: one load per key at a time, shared by whoever asks meanwhile.
func (a *Authority) loadToken(ctx context.Context, d [32]byte, now time.Time) (*entry, error) {
	ctx, cancel := a.bounded(ctx)
	defer cancel()
	fl, leader := a.loads.join(d)
	if !leader {
		e, err := fl.wait(ctx)
		if isCode(err, keyward.ENotFound) {
			return nil, nil
		}
		return e, err
	}
	e, err := a.loadEntry(ctx, d, now)
	a.loads.finish(d, fl, e, err)
	if isCode(err, keyward.ENotFound) {
		return nil, nil
	}
	return e, err
}

// bounded returns ctx bounded by the store timeout (see Options.StoreTimeout), or by its own
// deadline when that comes first: only paths that reach the store pay for the timer.
func (a *Authority) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.storeTimeout)
}

// maxRefreshes bounds the background refreshes under way: past it an aging entry is served
// without starting one, so that a wave of aging keys never queues more reads than the store's
// pool serves at once in front of the requests that must wait for theirs.
const maxRefreshes = 8

// refresh reloads d's verification entry in the background (see refreshIn).
func (a *Authority) refresh(d [32]byte) {
	refreshIn(a, &a.loads, d, func(ctx context.Context, now time.Time) (*entry, error) { return a.loadEntry(ctx, d, now) })
}

// refreshIn reloads the entry under k in the background with load, unless a load of it is
// under way (in loads), maxRefreshes already run (the next request for k tries again; the TTL
// bounds how long it may wait), or the authority is closing.
func refreshIn[E any](a *Authority, loads *flights[E], k [32]byte, load func(context.Context, time.Time) (*E, error)) {
	a.refreshMu.Lock()
	defer a.refreshMu.Unlock()
	if a.closed || a.refreshing.Load() >= maxRefreshes {
		return
	}
	fl, leader := loads.join(k)
	if !leader {
		return
	}
	a.refreshes.Add(1)
	a.refreshing.Add(1)
	go func() {
		defer a.refreshes.Done()
		defer a.refreshing.Add(-1)
		ctx, cancel := context.WithTimeout(context.Background(), a.cache.hardTTL())
		defer cancel()
		e, err := load(ctx, a.clock())
		loads.finish(k, fl, e, err)
		if err != nil && !isCode(err, keyward.ENotFound) && !isCode(err, keyward.EUnauthenticated) {
			a.logger.Warn("refreshing a cached entry failed; it is loaded again when it expires", "err", err)
		}
	}()
}

// loadEntry reads the entry of the secret with digest d from the store, in one query (roles
// come from the snapshot), and caches it. ENotFound when no credential has that secret, or it
// is a session's.
func (a *Authority) loadEntry(ctx context.Context, d [32]byte, now time.Time) (*entry, error) {
	epoch := a.cache.epoch.Load()
	rec, err := a.store.VerificationBySecret(ctx, d[:])
	if err != nil {
		return nil, err
	}
	cred := rec.Credential
	if cred.Type == keyward.Session {
		// A login session signs its user in to keyward; it is no API key, so verification and
		// gateways never accept it (it would otherwise pass as a key of the system project).
		return nil, keyward.Errorf(keyward.ENotFound, "not found")
	}
	creator, byID, grants, err := a.derive(ctx, cred, rec.Creator, rec.Bindings)
	if err != nil {
		return nil, err
	}
	var roles []string
	for _, id := range cred.RoleIDs {
		if r := byID[id]; r != nil {
			roles = append(roles, r.Name)
		}
	}
	var kube *kubeFields
	if cred.Type == keyward.KubeToken {
		kube = kubeOf(cred, creator, byID, rec.Bindings)
	}
	e := a.cache.newEntry(cred, rec.Secret.ValidUntil, creator, grants, roles, kube, now)
	a.cache.put(d, e, epoch)
	return e, nil
}

// credentialBySecret loads the credential that the secret with digest d opens and the end of
// that secret's validity (nil: no end of its own).
func (a *Authority) credentialBySecret(ctx context.Context, d [32]byte) (*keyward.Credential, *time.Time, error) {
	cred, secret, err := a.store.CredentialBySecret(ctx, d[:])
	if err != nil {
		return nil, nil, err
	}
	return cred, secret.ValidUntil, nil
}

// callerLoad reads the credential an authentication entry is built from and the end of the
// presented secret's validity (nil: no end of its own).
type callerLoad func(ctx context.Context) (*keyward.Credential, *time.Time, error)

// cachedCaller returns the cached authentication entry under k (nil when none is fresh),
// counting the hit or miss, and whether the entry is past half its TTL (see lookup).
func (a *Authority) cachedCaller(k [32]byte, now time.Time) (*callerEntry, bool) {
	if e := a.cache.getCaller(k, now); e != nil {
		a.metrics.cacheHit(&k)
		return e, a.cache.aging(&k, e.loaded, now)
	}
	a.metrics.cacheMiss(&k)
	return nil, false
}

// callerFor is what follows cachedCaller when it found no fresh entry or an aging one (e): an
// aging entry is answered while one background load refreshes it; without one, one load per
// key at a time builds it, shared by whoever asks meanwhile. Apart from cachedCaller so that a
// hit makes no closure.
func (a *Authority) callerFor(ctx context.Context, k [32]byte, now time.Time, e *callerEntry, load callerLoad) (*callerEntry, error) {
	if e != nil {
		refreshIn(a, &a.callerLoads, k, func(ctx context.Context, now time.Time) (*callerEntry, error) {
			return a.loadCaller(ctx, k, now, load)
		})
		return e, nil
	}
	ctx, cancel := a.bounded(ctx)
	defer cancel()
	fl, leader := a.callerLoads.join(k)
	if !leader {
		return fl.wait(ctx)
	}
	e, err := a.loadCaller(ctx, k, now, load)
	a.callerLoads.finish(k, fl, e, err)
	return e, err
}

// loadCaller builds the authentication entry under k from what load returns, and caches it.
func (a *Authority) loadCaller(ctx context.Context, k [32]byte, now time.Time, load callerLoad) (*callerEntry, error) {
	epoch := a.cache.epoch.Load()
	cred, validUntil, err := load(ctx)
	if err != nil {
		return nil, err
	}
	creator, _, grants, err := a.resolve(ctx, cred)
	if err != nil {
		return nil, err
	}
	active := *cred // what an authenticated caller sees: the credential as it is while it opens anything
	active.State = keyward.StateActive
	e := &callerEntry{cred: cred, active: &active, validUntil: validUntil, creator: creator, grants: grants, loaded: now.UnixMicro()}
	a.cache.putCaller(k, e, epoch)
	return e, nil
}

// resolve reads what both cache tables derive from a credential: its creator (a disabled
// stand-in when the user no longer exists), every role by id, and the credential's grants.
func (a *Authority) resolve(ctx context.Context, cred *keyward.Credential) (*keyward.User, map[int64]*keyward.Role, map[int64]map[keyward.Permission]bool, error) {
	creator, err := a.store.UserByID(ctx, cred.CreatedBy)
	if isCode(err, keyward.ENotFound) {
		creator = nil
	} else if err != nil {
		return nil, nil, nil, err
	}
	bindings, err := a.store.RoleBindings(ctx, cred.CreatedBy)
	if err != nil {
		return nil, nil, nil, err
	}
	return a.derive(ctx, cred, creator, bindings)
}

// derive is resolve over a creator (nil when the user no longer exists) and its bindings
// already read: the roles come from the snapshot.
func (a *Authority) derive(ctx context.Context, cred *keyward.Credential, creator *keyward.User, bindings []keyward.RoleBinding) (*keyward.User, map[int64]*keyward.Role, map[int64]map[keyward.Permission]bool, error) {
	if creator == nil {
		creator = &keyward.User{ID: cred.CreatedBy, Disabled: true}
	}
	byID, err := a.snapshotRoles(ctx, cred.RoleIDs)
	if err != nil {
		return nil, nil, nil, err
	}
	if !hasRoles(byID, bindingRoles(bindings)) {
		if byID, err = a.freshRoles(ctx); err != nil {
			return nil, nil, nil, err
		}
	}
	return creator, byID, grantsOf(cred, bindings, byID), nil
}

// roleSnapshot is every role by id, as read while roleGen was gen.
type roleSnapshot struct {
	gen  uint64
	byID map[int64]*keyward.Role
}

// snapshotRoles returns every role by id for verification's loads, from a snapshot that every
// invalidation of everything drops (every change or deletion of a role invalidates everything,
// here and through the change feed). A role created since the snapshot invalidates nothing, so
// an id in need that the snapshot lacks reads the roles again. Mutations read roles from the
// store (roles), never from here.
func (a *Authority) snapshotRoles(ctx context.Context, need []int64) (map[int64]*keyward.Role, error) {
	if s := a.roleSnap.Load(); s != nil && s.gen == a.roleGen.Load() && hasRoles(s.byID, need) {
		return s.byID, nil
	}
	return a.freshRoles(ctx)
}

// freshRoles reads every role and keeps them as the snapshot.
func (a *Authority) freshRoles(ctx context.Context) (map[int64]*keyward.Role, error) {
	gen := a.roleGen.Load()
	byID, err := a.roles(ctx)
	if err != nil {
		return nil, err
	}
	a.roleSnap.Store(&roleSnapshot{gen: gen, byID: byID})
	return byID, nil
}

func hasRoles(byID map[int64]*keyward.Role, ids []int64) bool {
	for _, id := range ids {
		if byID[id] == nil {
			return false
		}
	}
	return true
}

func bindingRoles(bindings []keyward.RoleBinding) []int64 {
	ids := make([]int64, len(bindings))
	for i, b := range bindings {
		ids[i] = b.RoleID
	}
	return ids
}

// changed drops what the cache holds about inv on this server; a store with a change feed tells
// the other servers from inside the transaction that made the change.
func (a *Authority) changed(inv keyward.Invalidation) {
	if inv.All {
		a.roleGen.Add(1)
	}
	a.cache.invalidate(inv)
}

// secretLive reports whether a stored secret still opens its credential: the current secret
// always does, a rolled one until its grace period ends.
func secretLive(validUntil *time.Time, now time.Time) bool {
	return validUntil == nil || now.Before(*validUntil)
}

// grantsOf computes a credential's effective permissions under its creator's bindings: per
// project, the permissions the creator holds there (or globally, under 0) that are also in the
// credential's own roles. A session acts with all of its user's rights. byID is every role by
// id.
func grantsOf(c *keyward.Credential, bindings []keyward.RoleBinding, byID map[int64]*keyward.Role) map[int64]map[keyward.Permission]bool {
	allowed := map[keyward.Permission]bool{}
	if c.Type == keyward.Session {
		for _, p := range keyward.AllPermissions {
			allowed[p] = true
		}
	}
	for _, id := range c.RoleIDs {
		if r := byID[id]; r != nil {
			for _, p := range r.Permissions {
				allowed[p] = true
			}
		}
	}
	grants := map[int64]map[keyward.Permission]bool{}
	for _, b := range bindings {
		r := byID[b.RoleID]
		if r == nil {
			continue
		}
		for _, p := range r.Permissions {
			if !allowed[p] {
				continue
			}
			if grants[b.ProjectID] == nil {
				grants[b.ProjectID] = map[keyward.Permission]bool{}
			}
			grants[b.ProjectID][p] = true
		}
	}
	return grants
}

// roles returns every role by id.
func (a *Authority) roles(ctx context.Context) (map[int64]*keyward.Role, error) {
	roles, err := a.store.Roles(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*keyward.Role, len(roles))
	for _, r := range roles {
		byID[r.ID] = r
	}
	return byID, nil
}

// effective returns the permissions grants give in one project (its own and the global ones).
func effective(grants map[int64]map[keyward.Permission]bool, projectID int64) map[keyward.Permission]bool {
	out := map[keyward.Permission]bool{}
	for p := range grants[0] {
		out[p] = true
	}
	for p := range grants[projectID] {
		out[p] = true
	}
	return out
}

// within reports whether every permission of r is in have: the no-escalation test applied to
// every role a caller gives away.
func within(r *keyward.Role, have map[keyward.Permission]bool) bool {
	for _, p := range r.Permissions {
		if !have[p] {
			return false
		}
	}
	return true
}

// caller returns the authenticated caller of ctx or EUnauthenticated.
func caller(ctx context.Context) (*keyward.Caller, error) {
	c := keyward.CallerFrom(ctx)
	if c == nil {
		return nil, errUnauthenticated
	}
	return c, nil
}

// errProjectNotFound hides whether a project exists from callers who may not see it.
func errProjectNotFound(ref string) error {
	return keyward.Errorf(keyward.ENotFound, "project %q not found", ref)
}

// authorize is the one place a permission is checked. A caller with no access at all to the
// project gets ENotFound, so tenants cannot discover each other; one that can see the project
// but lacks p gets EForbidden, and the refusal is audited.
func (a *Authority) authorize(ctx context.Context, p keyward.Permission, project *keyward.Project) error {
	c, err := caller(ctx)
	if err != nil {
		return err
	}
	var projectID int64
	if project != nil {
		projectID = project.ID
	}
	if c.Can(p, projectID) {
		return nil
	}
	if project != nil && len(c.Grants[0]) == 0 && len(c.Grants[projectID]) == 0 {
		return errProjectNotFound(project.Slug)
	}
	return a.deny(ctx, projectID, map[string]string{"permission": string(p)},
		keyward.Errorf(keyward.EForbidden, "permission %s is required", p))
}

// deny audits a refused request (in its own transaction: nothing else was written) and
// returns err.
func (a *Authority) deny(ctx context.Context, projectID int64, detail map[string]string, err error) error {
	ev := a.event(ctx, "authorize", projectID, 0, a.clock())
	ev.Outcome = keyward.OutcomeDenied
	ev.Detail = detail
	if aerr := a.store.AppendEvent(ctx, ev); aerr != nil {
		a.logger.Warn("auditing a denied request failed", "err", aerr)
	}
	return err
}

// resolveProject finds a project by slug or numeric id and checks p on it.
func (a *Authority) resolveProject(ctx context.Context, ref string, p keyward.Permission) (*keyward.Project, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	var (
		project *keyward.Project
		err     error
	)
	if id, convErr := strconv.ParseInt(ref, 10, 64); convErr == nil {
		project, err = a.store.ProjectByID(ctx, id)
	} else if keyward.ValidSlug(ref) {
		project, err = a.store.ProjectBySlug(ctx, ref)
	} else {
		return nil, errProjectNotFound(ref)
	}
	if isCode(err, keyward.ENotFound) {
		return nil, errProjectNotFound(ref)
	} else if err != nil {
		return nil, err
	}
	if err := a.authorize(ctx, p, project); err != nil {
		return nil, err
	}
	return project, nil
}

// Whoami describes the caller of ctx.
func (a *Authority) Whoami(ctx context.Context) (*keyward.Whoami, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	w := &keyward.Whoami{User: c.User, Credential: c.Credential, Permissions: map[string][]keyward.Permission{}}
	for projectID, perms := range c.Grants {
		name := "*"
		if projectID != 0 {
			p, err := a.store.ProjectByID(ctx, projectID)
			if isCode(err, keyward.ENotFound) {
				continue
			} else if err != nil {
				return nil, err
			}
			name = p.Slug
		}
		for _, p := range keyward.AllPermissions {
			if perms[p] {
				w.Permissions[name] = append(w.Permissions[name], p)
			}
		}
	}
	return w, nil
}
