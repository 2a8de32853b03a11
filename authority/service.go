package authority

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// Service credentials are keys for machines with exactly the roles asked for, project by
// project. A credential acts with its creator's rights (DESIGN rule 2), so each service
// credential gets a creator of its own: a service user, made for it, without a password, bound
// to the roles asked for in the projects asked for and nowhere else. The person who asks gives
// away nothing they lack: every role is checked against their rights in its project before
// anything is written. From then on the credential no longer depends on that person: it keeps
// working when they lose their rights or leave, which is what a service credential is for.
// Revoking it is final, like any revocation; its service user stays, with its bindings, as the
// record of what the credential could do.

// ServiceUserPrefix starts the name of every service user, "svc:<project>:<credential>".
// keyward.ValidName allows no ':' in the names CreateUser takes, nor does a deleted person's
// freed name ("<name>~deleted~<id>") have one, so no person's name can start with it.
const ServiceUserPrefix = "svc:"

// ProjectRole names one role (by name or id) in one project (by slug or id).
type ProjectRole struct {
	Project string `json:"project"`
	Role    string `json:"role"`
}

// CreateServiceCredentialInput creates a service credential: a live secret key of Type, named
// Name in its project, whose service user holds the roles in Access. It expires after
// ExpirationDays, at ExpiresAt, or by default after keyward.DefaultExpirationDays.
type CreateServiceCredentialInput struct {
	Type           keyward.CredentialType
	Name           string
	Description    string
	ExpirationDays *int64
	ExpiresAt      *time.Time
	keyward.CertificateOptions
	VirtualK8sName      string
	VirtualK8sNamespace string
	Access              []ProjectRole
}

// CreateServiceCredential issues a service credential in the project and returns it with its
// secret, shown once. It needs keys:create in the project; each role of in.Access must grant
// only what the caller holds in that role's project, which the caller must be able to see
// (projects:read). All of that is checked before anything is written: a refusal creates
// nothing. The service user, its bindings and the credential are written in one transaction.
func (a *Authority) CreateServiceCredential(ctx context.Context, projectRef string, in CreateServiceCredentialInput) (*keyward.IssuedCredential, error) {
	project, err := a.resolveProject(ctx, projectRef, keyward.PermKeysCreate)
	if err != nil {
		return nil, err
	}
	now := a.clock()
	fe := fieldErrors{}
	if in.Type == "" {
		in.Type = keyward.APIToken
	}
	validateKind(fe, in.Type, in.CertificateOptions, in.VirtualK8sName, in.VirtualK8sNamespace)
	if !keyward.ValidName(in.Name) {
		fe.add("name", keyward.NameRule)
	}
	validateDescription(fe, in.Description)
	expires := validateExpiry(fe, now, in.ExpirationDays, in.ExpiresAt, false, defaultDays(project.Policy))
	if len(in.Access) == 0 {
		fe.add("access", "a service credential needs at least one role in one project")
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	if err := checkKind(project.Policy, in.Type, keyward.Live); err != nil {
		return nil, err
	}
	if err := checkExpiry(project.Policy, now, expires, expiryField(in.ExpirationDays, in.ExpiresAt, false)); err != nil {
		return nil, err
	}
	bindings, roleIDs, err := a.serviceAccess(ctx, in.Access)
	if err != nil {
		return nil, err
	}
	if _, err := a.store.CredentialByName(ctx, project.ID, in.Name); err == nil {
		return nil, keyward.Errorf(keyward.EConflict, "a credential named %q exists in project %q", in.Name, project.Slug)
	} else if !isCode(err, keyward.ENotFound) {
		return nil, err
	}
	user, err := a.newServiceUser(ctx, project, in.Name, now)
	if err != nil {
		return nil, err
	}
	cred := &keyward.Credential{
		ProjectID: project.ID, Project: project.Slug, Name: in.Name, Description: in.Description,
		Type: in.Type, Environment: keyward.Live, KeyType: keyward.Secret, RoleIDs: roleIDs,
		Meta: map[string]string{}, ExpiresAt: expires, Active: true, CreatedAt: now, UpdatedAt: now,
		Cluster: in.VirtualK8sName, Namespace: in.VirtualK8sNamespace,
	}
	// Everything that can be refused (an unknown cluster, say) happens before the first write.
	issued, secret, err := a.issueSecret(ctx, project, cred, user, in.CertificateOptions, now)
	if err != nil {
		return nil, err
	}
	var stored keyward.Credential
	err = a.inTx(ctx, func(u *unit) error {
		// A re-run starts from the unsaved values, not from this run's ids.
		su, cr := *user, *cred
		stored = keyward.Credential{}
		if err := writeServiceCredential(ctx, a, u, &su, bindings, &cr, secret, now); err != nil {
			return err
		}
		stored = cr
		return nil
	})
	if err != nil {
		return nil, err
	}
	stored.State = stored.StateAt(now)
	issued.Credential = stored
	return issued, nil
}

// writeServiceCredential stores, in u, the service user, its bindings and its credential, each
// with its event.
func writeServiceCredential(ctx context.Context, a *Authority, u *unit, user *keyward.User, bindings []keyward.RoleBinding, cred *keyward.Credential, secret *keyward.CredentialSecret, now time.Time) error {
	ev := a.event(ctx, "service_user.create", cred.ProjectID, 0, now)
	ev.Detail = map[string]string{"user": user.Name, "credential": cred.Name}
	if err := u.store.CreateUser(ctx, user, "", ev); err != nil {
		return err
	}
	for _, b := range bindings {
		b.UserID = user.ID
		ev := a.event(ctx, "binding.create", b.ProjectID, 0, now)
		ev.Detail = map[string]string{"user": user.Name, "role_id": strconv.FormatInt(b.RoleID, 10)}
		if err := u.store.CreateRoleBinding(ctx, b, ev); err != nil {
			return err
		}
	}
	cred.CreatedBy = user.ID
	ev = a.event(ctx, "credential.create", cred.ProjectID, 0, now)
	ev.Detail = map[string]string{"name": cred.Name, "type": string(cred.Type), "service_user": user.Name}
	return u.store.CreateCredential(ctx, cred, secret, ev)
}

// serviceAccess resolves a service credential's roles into bindings (user not yet set) and the
// credential's role ids, refusing the whole request at the first role the caller may not give.
func (a *Authority) serviceAccess(ctx context.Context, access []ProjectRole) ([]keyward.RoleBinding, []int64, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, nil, err
	}
	byID, err := a.roles(ctx)
	if err != nil {
		return nil, nil, err
	}
	var (
		bindings []keyward.RoleBinding
		roleIDs  []int64
	)
	for _, pr := range access {
		if pr.Project == "" || pr.Role == "" {
			return nil, nil, keyward.Invalid("access", "every entry needs a project and a role")
		}
		project, err := a.resolveProject(ctx, pr.Project, keyward.PermProjectsRead)
		if err != nil {
			return nil, nil, err
		}
		r := resolveRole(byID, pr.Role)
		if r == nil {
			return nil, nil, keyward.Invalid("access", "unknown role "+strconv.Quote(pr.Role))
		}
		if !within(r, effective(c.Grants, project.ID)) {
			return nil, nil, a.deny(ctx, project.ID, map[string]string{"role": r.Name, "service_credential": "access"},
				keyward.Errorf(keyward.EForbidden, "role %q grants permissions you do not hold in project %q", r.Name, project.Slug))
		}
		b := keyward.RoleBinding{ProjectID: project.ID, RoleID: r.ID}
		if !slices.Contains(bindings, b) {
			bindings = append(bindings, b)
		}
		roleIDs = append(roleIDs, r.ID)
	}
	slices.Sort(roleIDs)
	return bindings, slices.Compact(roleIDs), nil
}

// newServiceUser returns the (unsaved) service user of credential name in project:
// "svc:<project>:<name>", with a random suffix when a renamed credential left that name taken.
func (a *Authority) newServiceUser(ctx context.Context, project *keyward.Project, name string, now time.Time) (*keyward.User, error) {
	userName := ServiceUserPrefix + project.Slug + ":" + name
	if _, err := a.store.UserByName(ctx, userName); err == nil {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		userName += ":" + hex.EncodeToString(b[:])
	} else if !isCode(err, keyward.ENotFound) {
		return nil, err
	}
	return &keyward.User{Name: userName, CreatedAt: now, UpdatedAt: now}, nil
}

// IsServiceUser reports whether a user name is that of a service user.
func IsServiceUser(name string) bool { return strings.HasPrefix(name, ServiceUserPrefix) }

// CredentialKind selects credentials by the kind of user they act as.
type CredentialKind string

// The kinds. Login sessions are of neither kind: they are not API credentials.
const (
	AnyKind     CredentialKind = ""
	UserKind    CredentialKind = "user"    // created by a person, acting with that person's rights
	ServiceKind CredentialKind = "service" // held by a service user (CreateServiceCredential)
)

// Holder is the user a credential acts as: its creator.
type Holder struct {
	UserID  int64
	Name    string // "" when the user cannot be found
	Service bool
	// Access lists a service user's bindings, in the projects the caller can see.
	Access []keyward.Binding
}

// HeldCredential is a credential with its holder.
type HeldCredential struct {
	*keyward.Credential
	Holder Holder
}

// HeldCredential returns one credential of a project (by id or name) with its holder, when it
// is of the kind asked for; otherwise, and for a login session, ENotFound. It needs keys:read.
func (a *Authority) HeldCredential(ctx context.Context, projectRef, ref string, kind CredentialKind) (*HeldCredential, error) {
	c, err := a.credential(ctx, projectRef, ref, keyward.PermKeysRead)
	if err != nil {
		return nil, err
	}
	holders := map[int64]*Holder{}
	h, err := a.heldAs(ctx, c, kind, holders)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, keyward.Errorf(keyward.ENotFound, "credential %q not found in project %q", ref, c.Project)
	}
	return h, nil
}

// ListHeldCredentials returns every credential of the kind in a project, oldest first, with
// its holder; login sessions are left out. It needs keys:read in the project.
func (a *Authority) ListHeldCredentials(ctx context.Context, projectRef string, kind CredentialKind) ([]*HeldCredential, error) {
	project, err := a.resolveProject(ctx, projectRef, keyward.PermKeysRead)
	if err != nil {
		return nil, err
	}
	var out []*HeldCredential
	holders := map[int64]*Holder{}
	err = a.eachCredential(ctx, project, func(c *keyward.Credential) error {
		h, err := a.heldAs(ctx, c, kind, holders)
		if h != nil {
			out = append(out, h)
		}
		return err
	})
	return out, err
}

// eachCredential calls fn for every credential of project, a page at a time, with State set.
func (a *Authority) eachCredential(ctx context.Context, project *keyward.Project, fn func(*keyward.Credential) error) error {
	now := a.clock()
	var after int64
	for {
		cs, err := a.store.ListCredentials(ctx, keyward.CredentialFilter{ProjectID: project.ID, Now: now, AfterID: after, Limit: MaxPageSize})
		if err != nil {
			return err
		}
		for _, c := range cs {
			c.State = c.StateAt(now)
			if err := fn(c); err != nil {
				return err
			}
		}
		if len(cs) < MaxPageSize {
			return nil
		}
		after = cs[len(cs)-1].ID
	}
}

// heldAs returns c with its holder when it is of kind, nil when it is not (or is a session).
// holders caches holders by user id across calls.
func (a *Authority) heldAs(ctx context.Context, c *keyward.Credential, kind CredentialKind, holders map[int64]*Holder) (*HeldCredential, error) {
	if c.Type == keyward.Session {
		return nil, nil
	}
	h := holders[c.CreatedBy]
	if h == nil {
		var err error
		if h, err = a.holder(ctx, c.CreatedBy); err != nil {
			return nil, err
		}
		holders[c.CreatedBy] = h
	}
	if (kind == UserKind && h.Service) || (kind == ServiceKind && !h.Service) {
		return nil, nil
	}
	return &HeldCredential{Credential: c, Holder: *h}, nil
}

// holder describes user id for the caller of ctx.
func (a *Authority) holder(ctx context.Context, id int64) (*Holder, error) {
	u, err := a.store.UserByID(ctx, id)
	if isCode(err, keyward.ENotFound) {
		return &Holder{UserID: id}, nil
	} else if err != nil {
		return nil, err
	}
	h := &Holder{UserID: id, Name: u.Name, Service: IsServiceUser(u.Name)}
	if !h.Service {
		return h, nil
	}
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	bs, err := a.store.RoleBindings(ctx, id)
	if err != nil {
		return nil, err
	}
	// A project the caller has no access to stays unnamed, as everywhere else.
	visible := bs[:0]
	for _, b := range bs {
		if len(c.Grants[0]) > 0 || len(c.Grants[b.ProjectID]) > 0 {
			visible = append(visible, b)
		}
	}
	if h.Access, err = a.bindingViews(ctx, visible); err != nil {
		return nil, err
	}
	return h, nil
}

// revokeService revokes c when it is a service credential (its creator a service user), and
// reports whether it did: the service user, which exists for c alone, is disabled and everything
// it created (c and any key c minted) is revoked, in one transaction, each with its
// credential.revoke event. So revoking a service credential is final for all it could reach.
// On success c is updated to its revoked state.
func (a *Authority) revokeService(ctx context.Context, u *unit, c *keyward.Credential, now time.Time) (bool, error) {
	return a.revokeServiceWith(ctx, u, c, now, func(r *keyward.Credential, now time.Time) *keyward.Event {
		return a.event(ctx, "credential.revoke", r.ProjectID, r.ID, now)
	})
}

// revokeServiceWith is revokeService with c's own event made by own (a leak report's
// credential.leaked); what c created is audited as revokeService audits it.
func (a *Authority) revokeServiceWith(ctx context.Context, u *unit, c *keyward.Credential, now time.Time, own func(r *keyward.Credential, now time.Time) *keyward.Event) (bool, error) {
	creator, err := u.store.UserByID(ctx, c.CreatedBy)
	if isCode(err, keyward.ENotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if !IsServiceUser(creator.Name) {
		return false, nil
	}
	su := *creator
	su.Disabled, su.UpdatedAt = true, now
	ev := a.event(ctx, "user.disable", 0, 0, now)
	ev.Detail = map[string]string{"user": su.Name, "reason": "service credential revoked"}
	rv := keyward.Revocation{
		Select: func(created []*keyward.Credential, _, _ []keyward.RoleBinding) ([]*keyward.Credential, error) {
			return created, nil
		},
		Event: func(r *keyward.Credential) *keyward.Event {
			if r.ID == c.ID {
				return own(r, now)
			}
			e := a.event(ctx, "credential.revoke", r.ProjectID, r.ID, now)
			e.Detail = map[string]string{"reason": "service credential revoked", "service_credential": c.Name}
			return e
		},
	}
	revoked, err := u.store.UpdateUserRevoking(ctx, &su, ev, rv)
	if err != nil {
		return false, err
	}
	u.changed(keyward.Invalidation{UserIDs: []int64{su.ID}, CredentialIDs: revoked})
	c.RevokedAt, c.UpdatedAt, c.Version = &now, now, c.Version+1
	c.State = c.StateAt(now)
	return true, nil
}
