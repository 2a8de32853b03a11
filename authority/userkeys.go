package authority

import (
	"context"
	"crypto/rand"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/token"
)

// A user's own keys are the self-service model of API key providers: in a project, a user holds
// one API key per environment and key type, and replaces them all at once. They are ordinary
// API_TOKEN credentials created by the user, with the user's roles, and marked as own keys
// (Purpose keyward.PurposeOwnKey) when this file creates them: that stored mark, never a name,
// tells them apart from the other credentials the user may have created, which are never
// listed or revoked here, and from credentials of others that take their names. They are named
//
//	<user>-<environment>-<key type>-<n>
//
// (n counts the regenerations of that environment and key type) or, when someone else holds
// that name, <user>-<environment>-<key type>-<10 random characters>, which nobody can take
// beforehand. A user name longer than ownKeyPrefixMax is cut and followed by ".<user id>" so
// that every name stays within the 128 characters a credential name may have.

// OwnKeysScope names a caller's own keys and who may manage them.
type OwnKeysScope struct {
	// Project is the project's slug or numeric id. "" means the project of the credential the
	// caller authenticated with, except for a login session, which is not tied to a tenant:
	// then the one project where the user holds one of AnyRole (any role when AnyRole is
	// empty) through a binding of that project; with none, a project the user is a member of
	// (where the role check refuses it) or else the session's own project (where a global
	// binding may qualify); with several, EInvalid, since the caller must say which (by
	// authenticating with a key of that project).
	Project string
	// Environments are the environments concerned; none means live and test.
	Environments []keyward.Environment
	// AnyRole, when not empty, admits only callers that hold at least one of these roles
	// (names or ids) in the project, through a binding there or a global one, and through the
	// credential they authenticated with (a login session carries all of its user's roles).
	// The built-in admin role, which holds every permission, satisfies every such requirement.
	// When empty, any caller with some access to the project may manage its own keys there:
	// the keys never carry more than the caller's own roles.
	AnyRole []string
}

// RegenerateOwnKeysInput replaces a caller's own keys.
type RegenerateOwnKeysInput struct {
	OwnKeysScope
	// KeyTypes are the key types made for each environment; none means secret and publishable.
	KeyTypes []keyward.KeyType
	// ExpirationDays and NeverExpires set the new keys' expiry as in CreateCredentialInput; with
	// neither they expire after keyward.DefaultExpirationDays.
	ExpirationDays *int64
	NeverExpires   bool
}

// OwnKey is one of a caller's own keys as it may be shown again.
type OwnKey struct {
	Credential *keyward.Credential
	// Key is the key itself when it is recoverable and the caller holds keys:reveal in its
	// project (the reveal is audited, see DisplayKey), its masked form otherwise.
	Key string
}

// ownKeyPrefixMax bounds the user-name part of an own key's name.
const ownKeyPrefixMax = 96

// ownKeyPrefix is the first part of the names of a user's own keys.
func ownKeyPrefix(u *keyward.User) string {
	if len(u.Name) <= ownKeyPrefixMax {
		return u.Name
	}
	return u.Name[:80] + "." + strconv.FormatInt(u.ID, 10)
}

func ownKeyName(prefix string, env keyward.Environment, kt keyward.KeyType, n int64) string {
	return prefix + "-" + string(env) + "-" + string(kt) + "-" + strconv.FormatInt(n, 10)
}

// parseOwnKeyName reports whether name is one of prefix's numbered own key names, and its parts.
// It only numbers the next key: what makes a credential an own key is its Purpose.
func parseOwnKeyName(prefix, name string) (keyward.Environment, keyward.KeyType, int64, bool) {
	rest, ok := strings.CutPrefix(name, prefix+"-")
	if !ok {
		return "", "", 0, false
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 3 {
		return "", "", 0, false
	}
	env, kt := keyward.Environment(parts[0]), keyward.KeyType(parts[1])
	n, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != parts[2] ||
		!env.Valid() || !kt.Valid() {
		return "", "", 0, false
	}
	return env, kt, n, true
}

// ownEnvironments validates a list of environments: none means live and test.
func ownEnvironments(fe fieldErrors, envs []keyward.Environment) []keyward.Environment {
	if len(envs) == 0 {
		return []keyward.Environment{keyward.Live, keyward.Test}
	}
	var out []keyward.Environment
	for _, e := range envs {
		if !e.Valid() {
			fe.add("environment", "must be live or test")
			continue
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// ownKeyTypes validates a list of key types: none means secret and publishable.
func ownKeyTypes(fe fieldErrors, kts []keyward.KeyType) []keyward.KeyType {
	if len(kts) == 0 {
		return []keyward.KeyType{keyward.Secret, keyward.Publishable}
	}
	var out []keyward.KeyType
	for _, k := range kts {
		if !k.Valid() {
			fe.add("key_type", "must be secret or publishable")
			continue
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// ownKeysProject resolves the project of an own-keys call and checks the caller's roles there.
func (a *Authority) ownKeysProject(ctx context.Context, scope OwnKeysScope) (*keyward.Caller, *keyward.Project, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, nil, err
	}
	var project *keyward.Project
	ref := scope.Project
	switch id, convErr := strconv.ParseInt(ref, 10, 64); {
	case ref == "":
		if c.Credential == nil {
			return nil, nil, keyward.Invalid("project", "is required when the caller has no credential")
		}
		id := c.Credential.ProjectID
		if c.Credential.Type == keyward.Session {
			if id, err = a.sessionProject(ctx, c, scope.AnyRole); err != nil {
				return nil, nil, err
			}
		}
		project, err = a.store.ProjectByID(ctx, id)
		ref = strconv.FormatInt(id, 10)
	case convErr == nil:
		project, err = a.store.ProjectByID(ctx, id)
	case keyward.ValidSlug(ref):
		project, err = a.store.ProjectBySlug(ctx, ref)
	default:
		return nil, nil, errProjectNotFound(ref)
	}
	if isCode(err, keyward.ENotFound) {
		return nil, nil, errProjectNotFound(ref)
	} else if err != nil {
		return nil, nil, err
	}
	if len(c.Grants[0]) == 0 && len(c.Grants[project.ID]) == 0 {
		return nil, nil, errProjectNotFound(project.Slug)
	}
	if err := a.requireAnyRole(ctx, c, project, scope.AnyRole); err != nil {
		return nil, nil, err
	}
	return c, project, nil
}

// sessionProject picks the project of an own-keys call made with a login session: the one
// project where the user is bound to one of refs (to any role when refs is empty); when there
// is none, a project the user is bound in at all (where it is refused for lacking the role),
// else the session's own project; when there are several, EInvalid.
func (a *Authority) sessionProject(ctx context.Context, c *keyward.Caller, refs []string) (int64, error) {
	byID, err := a.roles(ctx)
	if err != nil {
		return 0, err
	}
	want := map[int64]bool{}
	for _, ref := range refs {
		if r := resolveRole(byID, ref); r != nil {
			want[r.ID] = true
		}
	}
	bindings, err := a.store.RoleBindings(ctx, c.User.ID)
	if err != nil {
		return 0, err
	}
	var ids, member []int64
	for _, b := range bindings {
		if b.ProjectID == 0 {
			continue
		}
		if (len(refs) == 0 || want[b.RoleID]) && !slices.Contains(ids, b.ProjectID) {
			ids = append(ids, b.ProjectID)
		}
		if !slices.Contains(member, b.ProjectID) {
			member = append(member, b.ProjectID)
		}
	}
	switch {
	case len(ids) == 1:
		return ids[0], nil
	case len(ids) == 0 && len(member) > 0:
		// None qualifies: a project the user is a member of, where it is told which role it lacks.
		return slices.Min(member), nil
	case len(ids) == 0:
		return c.Credential.ProjectID, nil
	}
	var slugs []string
	for _, id := range ids {
		p, err := a.store.ProjectByID(ctx, id)
		if err != nil {
			return 0, err
		}
		slugs = append(slugs, p.Slug)
	}
	slices.Sort(slugs)
	return 0, keyward.Invalid("project", "you hold the required roles in several projects ("+strings.Join(slugs, ", ")+
		"); authenticate with a key of the project you mean")
}

// requireAnyRole checks that the caller holds one of refs in project (see OwnKeysScope.AnyRole)
// and audits a refusal.
func (a *Authority) requireAnyRole(ctx context.Context, c *keyward.Caller, project *keyward.Project, refs []string) error {
	if len(refs) == 0 {
		return nil
	}
	byID, err := a.roles(ctx)
	if err != nil {
		return err
	}
	want := map[int64]bool{}
	names := make([]string, 0, len(refs))
	for _, ref := range refs {
		if r := resolveRole(byID, ref); r != nil {
			want[r.ID] = true
			names = append(names, r.Name)
		} else {
			names = append(names, ref)
		}
	}
	bindings, err := a.store.RoleBindings(ctx, c.User.ID)
	if err != nil {
		return err
	}
	carried := map[int64]bool{}
	if c.Credential != nil {
		for _, id := range c.Credential.RoleIDs {
			carried[id] = true
		}
	}
	session := c.Credential != nil && c.Credential.Type == keyward.Session
	for _, b := range bindings {
		if b.ProjectID != 0 && b.ProjectID != project.ID {
			continue
		}
		if !session && !carried[b.RoleID] {
			continue
		}
		r := byID[b.RoleID]
		if want[b.RoleID] || (r != nil && r.BuiltIn && r.Name == keyward.RoleAdmin) {
			return nil
		}
	}
	return a.deny(ctx, project.ID, map[string]string{"roles": strings.Join(names, ",")},
		keyward.Errorf(keyward.EForbidden, "one of the roles %s is required", strings.Join(names, ", ")))
}

// ownKeys returns the user's own keys in project (in state, "" for any), by ascending id: the
// credentials the user created as own keys, whatever their names.
func (a *Authority) ownKeys(ctx context.Context, u *keyward.User, project *keyward.Project, state keyward.State, now time.Time) ([]*keyward.Credential, error) {
	var out []*keyward.Credential
	var after int64
	for {
		page, err := a.store.ListCredentials(ctx, keyward.CredentialFilter{
			ProjectID: project.ID, CreatedBy: u.ID, Type: keyward.APIToken, State: state,
			Now: now, AfterID: after, Limit: MaxPageSize,
		})
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			if c.Purpose == keyward.PurposeOwnKey {
				c.State = c.StateAt(now)
				out = append(out, c)
			}
		}
		if len(page) < MaxPageSize {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

// ListOwnKeys returns the caller's own keys that are active now in the scope's environments,
// newest first, each with its key as the caller may see it: recoverable keys in full for a
// caller holding keys:reveal (each reveal audited), masked otherwise.
func (a *Authority) ListOwnKeys(ctx context.Context, scope OwnKeysScope) ([]OwnKey, error) {
	c, project, err := a.ownKeysProject(ctx, scope)
	if err != nil {
		return nil, err
	}
	fe := fieldErrors{}
	envs := ownEnvironments(fe, scope.Environments)
	if err := fe.err(); err != nil {
		return nil, err
	}
	creds, err := a.ownKeys(ctx, c.User, project, keyward.StateActive, a.clock())
	if err != nil {
		return nil, err
	}
	out := []OwnKey{}
	for i := len(creds) - 1; i >= 0; i-- {
		cred := creds[i]
		if !slices.Contains(envs, cred.Environment) {
			continue
		}
		key, err := a.DisplayKey(ctx, cred)
		if err != nil {
			return nil, err
		}
		out = append(out, OwnKey{Credential: cred, Key: key})
	}
	return out, nil
}

// RegenerateOwnKeys replaces the caller's own keys in the scope's environments: it creates one
// new key per environment and key type, with the caller's roles in the project (as
// CreateCredential gives them by default), then revokes every earlier own key of the caller in
// those environments, and returns the new keys, which are never shown again in full unless the
// project keeps recoverable keys. Keys of other environments, and credentials that are not own
// keys, are left alone. The key the caller authenticated with is revoked too when it is one of
// them.
//
// It is one store transaction with its audit events: when a step fails nothing of it remains,
// and both generations never stay live together. Two regenerations that race for the same user
// and environment collide on the new keys' names: the loser changes nothing and gets
// EConflict. (A name that any other credential holds is passed over for a random one instead.)
func (a *Authority) RegenerateOwnKeys(ctx context.Context, in RegenerateOwnKeysInput) ([]*keyward.IssuedCredential, error) {
	c, project, err := a.ownKeysProject(ctx, in.OwnKeysScope)
	if err != nil {
		return nil, err
	}
	now := a.clock()
	fe := fieldErrors{}
	envs := ownEnvironments(fe, in.Environments)
	kts := ownKeyTypes(fe, in.KeyTypes)
	expires := validateExpiry(fe, now, in.ExpirationDays, nil, in.NeverExpires, defaultDays(project.Policy))
	if err := fe.err(); err != nil {
		return nil, err
	}
	for _, env := range envs {
		if err := checkKind(project.Policy, keyward.APIToken, env); err != nil {
			return nil, err
		}
	}
	if err := checkExpiry(project.Policy, now, expires, expiryField(in.ExpirationDays, nil, in.NeverExpires)); err != nil {
		return nil, err
	}
	roleIDs, err := a.grantableRoles(ctx, project, nil)
	if err != nil {
		return nil, err
	}
	existing, err := a.ownKeys(ctx, c.User, project, "", now)
	if err != nil {
		return nil, err
	}
	// A weaker key of the user must not remove the user's stronger keys (dominance.go): check
	// every key this regeneration revokes before its first write.
	for _, cred := range existing {
		if cred.RevokedAt == nil && slices.Contains(envs, cred.Environment) {
			if err := a.checkDominance(ctx, cred, keyward.PermKeysRevoke); err != nil {
				return nil, err
			}
		}
	}
	prefix := ownKeyPrefix(c.User)
	last := map[string]int64{}
	for _, cred := range existing {
		if env, kt, n, ok := parseOwnKeyName(prefix, cred.Name); ok {
			if k := string(env) + "/" + string(kt); n > last[k] {
				last[k] = n
			}
		}
	}
	var created []*keyward.IssuedCredential
	err = a.inTx(ctx, func(u *unit) error {
		created = nil
		for _, env := range envs {
			for _, kt := range kts {
				issued, err := a.createOwnKeyAfter(ctx, u, c, project, prefix, env, kt, last[string(env)+"/"+string(kt)], roleIDs, expires, now)
				if err != nil {
					return err
				}
				created = append(created, issued)
			}
		}
		for _, cred := range existing {
			if cred.RevokedAt != nil || !slices.Contains(envs, cred.Environment) {
				continue
			}
			old := *cred // a re-run starts from what was read, not from this run's result
			if err := a.revokeIn(ctx, u, &old, func(r *keyward.Credential, now time.Time) *keyward.Event {
				ev := a.event(ctx, "credential.revoke", r.ProjectID, r.ID, now)
				ev.Detail = map[string]string{"reason": "regenerated"}
				return ev
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}

// maxOwnKeyNameTries bounds how many names a new own key tries: the numbered one, then random
// ones, of which a taken one is only ever a 1 in 2^50 accident.
const maxOwnKeyNameTries = 4

// createOwnKeyAfter creates the own key that follows number n of its environment and key type.
// When its numbered name is taken by a credential that is not one of the caller's own keys (a
// credential of someone else, or an ordinary one of the caller's), it takes a random name
// instead, so that nobody can block another user's regeneration by taking names; when the
// caller's own key holds it, another regeneration got there first: EConflict.
func (a *Authority) createOwnKeyAfter(ctx context.Context, u *unit, c *keyward.Caller, project *keyward.Project, prefix string,
	env keyward.Environment, kt keyward.KeyType, n int64, roleIDs []int64, expires *time.Time, now time.Time) (*keyward.IssuedCredential, error) {
	name := ownKeyName(prefix, env, kt, n+1)
	for try := 1; ; try++ {
		issued, err := a.createOwnKey(ctx, u, c, project, name, env, kt, roleIDs, expires, now)
		if !isCode(err, keyward.EConflict) {
			return issued, err
		}
		holder, lerr := u.store.CredentialByName(ctx, project.ID, name)
		if lerr != nil && !isCode(lerr, keyward.ENotFound) {
			return nil, lerr
		}
		if (holder != nil && holder.CreatedBy == c.User.ID && holder.Purpose == keyward.PurposeOwnKey) || try >= maxOwnKeyNameTries {
			return nil, keyward.Errorf(keyward.EConflict, "the keys were regenerated by another request at the same time; try again")
		}
		name = prefix + "-" + string(env) + "-" + string(kt) + "-" + strings.ToLower(rand.Text()[:10])
	}
}

// createOwnKey stores one own key and returns it with its token.
func (a *Authority) createOwnKey(ctx context.Context, u *unit, c *keyward.Caller, project *keyward.Project, name string,
	env keyward.Environment, kt keyward.KeyType, roleIDs []int64, expires *time.Time, now time.Time) (*keyward.IssuedCredential, error) {
	tok, secret, err := a.newSecret(project, env, now)
	if err != nil {
		return nil, err
	}
	cred := &keyward.Credential{
		ProjectID: project.ID, Project: project.Slug, Name: name,
		Description: "per-user " + string(env) + " " + string(kt) + " key",
		Type:        keyward.APIToken, Environment: env, KeyType: kt, CreatedBy: c.User.ID,
		RoleIDs: slices.Clone(roleIDs), Meta: map[string]string{}, ExpiresAt: expires, Active: true,
		CreatedAt: now, UpdatedAt: now, Start: token.Start(tok), Recoverable: secret.Sealed != nil,
		Purpose: keyward.PurposeOwnKey,
	}
	ev := a.event(ctx, "credential.create", project.ID, 0, now)
	ev.Detail = map[string]string{"name": name, "type": string(keyward.APIToken), "own_key": "true"}
	if err := u.store.CreateCredential(ctx, cred, secret, ev); err != nil {
		return nil, err
	}
	cred.State = cred.StateAt(now)
	return &keyward.IssuedCredential{Credential: *cred, Key: tok}, nil
}
