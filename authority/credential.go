package authority

import (
	"context"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/token"
)

// Limits on a credential's meta map, so one key cannot bloat every verification answer.
const (
	MaxMetaEntries  = 32
	MaxMetaKeyLen   = 64
	MaxMetaValueLen = 512
)

// fieldErrors collects every problem of a request into one EInvalid error.
type fieldErrors map[string]string

func (f fieldErrors) add(field, problem string) {
	if _, ok := f[field]; !ok {
		f[field] = problem
	}
}

func (f fieldErrors) err() error {
	if len(f) == 0 {
		return nil
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	msg := "invalid request:"
	for i, k := range keys {
		if i > 0 {
			msg += ";"
		}
		msg += " " + k + " " + f[k]
	}
	return &keyward.Error{Code: keyward.EInvalid, Message: msg, Fields: f}
}

// validateExpiry checks the one-of expiry fields of a create or renew and returns the resulting
// expiry (nil for never).
func validateExpiry(fe fieldErrors, now time.Time, days *int64, at *time.Time, never bool, defaultDays int64) *time.Time {
	given := 0
	for _, b := range []bool{days != nil, at != nil, never} {
		if b {
			given++
		}
	}
	if given > 1 {
		fe.add("expiration_days", "give only one of expiration_days, expires_at and never_expires")
		return nil
	}
	switch {
	case never:
		return nil
	case at != nil:
		t := normTime(at)
		if !t.After(now) {
			fe.add("expires_at", "must be in the future")
		} else if t.After(now.AddDate(0, 0, keyward.MaxExpirationDays)) {
			fe.add("expires_at", "must be at most "+strconv.Itoa(keyward.MaxExpirationDays)+" days ahead; use never_expires for longer")
		}
		return t
	case days != nil:
		if *days <= 0 || *days > keyward.MaxExpirationDays {
			fe.add("expiration_days", "must be between 1 and "+strconv.Itoa(keyward.MaxExpirationDays))
			return nil
		}
		t := now.AddDate(0, 0, int(*days))
		return &t
	case defaultDays > 0:
		t := now.AddDate(0, 0, int(defaultDays))
		return &t
	}
	fe.add("expiration_days", "give one of expiration_days and expires_at")
	return nil
}

func validateMeta(fe fieldErrors, meta map[string]string) {
	if len(meta) > MaxMetaEntries {
		fe.add("meta", "must have at most "+strconv.Itoa(MaxMetaEntries)+" entries")
		return
	}
	for k, v := range meta {
		if k == "" || len(k) > MaxMetaKeyLen || !utf8.ValidString(k) {
			fe.add("meta", "keys must be 1-"+strconv.Itoa(MaxMetaKeyLen)+" bytes of UTF-8")
			return
		}
		if len(v) > MaxMetaValueLen || !utf8.ValidString(v) {
			fe.add("meta", "values must be at most "+strconv.Itoa(MaxMetaValueLen)+" bytes of UTF-8")
			return
		}
	}
}

func validateDescription(fe fieldErrors, d string) {
	if utf8.RuneCountInString(d) > keyward.MaxDescription {
		fe.add("description", "must be at most "+strconv.Itoa(keyward.MaxDescription)+" characters")
	}
}

// CreateCredential issues a credential in the project and returns it with its key, which is
// never shown again. Its roles are the ones asked for, or by default the caller's; either way
// none may grant what the caller lacks in the project (DESIGN rule 2).
func (a *Authority) CreateCredential(ctx context.Context, projectRef string, in keyward.CreateCredentialInput) (*keyward.IssuedCredential, error) {
	project, err := a.resolveProject(ctx, projectRef, keyward.PermKeysCreate)
	if err != nil {
		return nil, err
	}
	c, _ := caller(ctx)
	now := a.clock()
	fe := fieldErrors{}
	if in.Type == "" {
		in.Type = keyward.APIToken
	}
	validateKind(fe, in.Type, in.CertificateOptions, in.VirtualK8sName, in.VirtualK8sNamespace)
	if in.Type.Certificate() && in.NeverExpires {
		fe.add("never_expires", "a certificate must expire; give expiration_days or expires_at")
	}
	if !keyward.ValidName(in.Name) {
		fe.add("name", keyward.NameRule)
	}
	validateDescription(fe, in.Description)
	expires := validateExpiry(fe, now, in.ExpirationDays, in.ExpiresAt, in.NeverExpires, defaultDays(project.Policy))
	notBefore := normTime(in.NotBefore)
	if notBefore != nil && expires != nil && !notBefore.Before(*expires) {
		fe.add("not_before", "must be before the expiry")
	}
	if in.Environment == "" {
		in.Environment = keyward.Live
	}
	if !in.Environment.Valid() {
		fe.add("environment", "must be live or test")
	}
	if in.KeyType == "" {
		in.KeyType = keyward.Secret
	}
	if !in.KeyType.Valid() {
		fe.add("key_type", "must be secret or publishable")
	}
	validateMeta(fe, in.Meta)
	validateLimits(fe, in.RateLimit, in.Remaining, in.Refill)
	if in.Refill != nil && in.Remaining == nil {
		in.Remaining = &in.Refill.Amount // a refill counts uses from its first amount
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	if err := checkKind(project.Policy, in.Type, in.Environment); err != nil {
		return nil, err
	}
	if err := checkExpiry(project.Policy, now, expires, expiryField(in.ExpirationDays, in.ExpiresAt, in.NeverExpires)); err != nil {
		return nil, err
	}
	roleIDs, err := a.grantableRoles(ctx, project, in.Roles)
	if err != nil {
		return nil, err
	}
	meta := in.Meta
	if meta == nil {
		meta = map[string]string{}
	}
	cred := &keyward.Credential{
		ProjectID: project.ID, Project: project.Slug, Name: in.Name, Description: in.Description,
		Type: in.Type, Environment: in.Environment, KeyType: in.KeyType, CreatedBy: c.User.ID,
		RoleIDs: roleIDs, Meta: meta, NotBefore: notBefore, ExpiresAt: expires, Active: true,
		CreatedAt: now, UpdatedAt: now, Cluster: in.VirtualK8sName, Namespace: in.VirtualK8sNamespace,
		RateLimit: in.RateLimit, Remaining: in.Remaining, Refill: in.Refill,
	}
	if in.Refill != nil {
		from := refillFrom(in.Refill, now)
		cred.LastRefillAt = &from
	}
	ev := a.event(ctx, "credential.create", project.ID, 0, now)
	ev.Detail = map[string]string{"name": in.Name, "type": string(in.Type)}
	start := now
	if notBefore != nil {
		start = *notBefore
	}
	issued, secret, err := a.issueSecret(ctx, project, cred, c.User, in.CertificateOptions, start)
	if err != nil {
		return nil, err
	}
	if err := a.store.CreateCredential(ctx, cred, secret, ev); err != nil {
		return nil, err
	}
	cred.State = cred.StateAt(now)
	issued.Credential = *cred
	return issued, nil
}

// validateKind checks what depends on a new credential's type: its certificate options and
// its cluster, adding problems to fe. CreateCredential and CreateServiceCredential share it.
func validateKind(fe fieldErrors, t keyward.CredentialType, opts keyward.CertificateOptions, cluster, namespace string) {
	if !t.Valid() {
		fe.add("type", keyward.TypeRule)
		return
	}
	if t.Certificate() {
		validateCertificateOptions(fe, t, opts)
	} else if opts.Password != "" || opts.KeyAlgorithm != "" || opts.Encoding != "" {
		fe.add("password", "password, key_algorithm and encoding apply to certificate credentials only")
	}
	if t.ForCluster() {
		if cluster == "" {
			fe.add("virtual_k8s_name", "is required for a "+string(t))
		}
		if namespace == "" {
			fe.add("virtual_k8s_namespace", "is required for a "+string(t))
		}
	} else if cluster != "" || namespace != "" {
		fe.add("virtual_k8s_name", "applies to KUBE_CONFIG and KUBE_TOKEN credentials only")
	}
}

// issueSecret makes the secret of a new credential cred (every field but the secret's set),
// created by creator and valid from start: a token, and for a KUBE_TOKEN the kubeconfig that
// carries it, or a certificate. It sets cred's Start and Recoverable, or Serial and
// Fingerprint; it writes nothing. secret is nil for a certificate.
func (a *Authority) issueSecret(ctx context.Context, project *keyward.Project, cred *keyward.Credential, creator *keyward.User, opts keyward.CertificateOptions, start time.Time) (*keyward.IssuedCredential, *keyward.CredentialSecret, error) {
	issued := &keyward.IssuedCredential{}
	if cred.Type.Certificate() {
		var err error
		if issued.Data, err = a.issueCertificate(ctx, cred, creator, opts, start, *cred.ExpiresAt); err != nil {
			return nil, nil, err
		}
		return issued, nil, nil
	}
	return a.newToken(ctx, project, cred, creator, cred.CreatedAt)
}

// newToken makes a new token for cred (a token credential) at now, and for a KUBE_TOKEN the
// kubeconfig that carries it, for creator (unused for other types). It sets cred's Start and
// Recoverable and writes nothing.
func (a *Authority) newToken(ctx context.Context, project *keyward.Project, cred *keyward.Credential, creator *keyward.User, now time.Time) (*keyward.IssuedCredential, *keyward.CredentialSecret, error) {
	key, secret, err := a.newSecret(project, cred.Environment, now)
	if err != nil {
		return nil, nil, err
	}
	cred.Start, cred.Recoverable = token.Start(key), secret.Sealed != nil
	issued := &keyward.IssuedCredential{Key: key}
	if cred.Type == keyward.KubeToken {
		if issued.Data, err = a.kubeTokenConfig(ctx, cred, creator, key); err != nil {
			return nil, nil, err
		}
	}
	return issued, secret, nil
}

// newSecret makes a token for env and the stored trace of it, sealed when the project keeps
// recoverable keys.
func (a *Authority) newSecret(project *keyward.Project, env keyward.Environment, now time.Time) (string, *keyward.CredentialSecret, error) {
	tok, err := token.New(env)
	if err != nil {
		return "", nil, err
	}
	sealed, err := a.sealToken(project, tok)
	if err != nil {
		return "", nil, err
	}
	return tok, &keyward.CredentialSecret{Digest: token.Digest(tok), CreatedAt: now, Sealed: sealed}, nil
}

// credential resolves a project and a credential in it (by id or name) and checks p and, for
// every p but keys:read, that the caller dominates the credential (see dominance.go).
func (a *Authority) credential(ctx context.Context, projectRef, ref string, p keyward.Permission) (*keyward.Credential, error) {
	project, err := a.resolveProject(ctx, projectRef, p)
	if err != nil {
		return nil, err
	}
	c, err := a.credentialIn(ctx, project, ref)
	if err != nil {
		return nil, err
	}
	if p != keyward.PermKeysRead {
		// Every permission but reading yields or changes the credential: the dominance rule.
		if err := a.checkDominance(ctx, c, p); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// credentialIn reads a credential of project by id or name, with its State; no permission is
// checked.
func (a *Authority) credentialIn(ctx context.Context, project *keyward.Project, ref string) (*keyward.Credential, error) {
	var (
		c   *keyward.Credential
		err error
	)
	if id, convErr := strconv.ParseInt(ref, 10, 64); convErr == nil {
		c, err = a.store.CredentialByID(ctx, project.ID, id)
	} else {
		c, err = a.store.CredentialByName(ctx, project.ID, ref)
	}
	c, err = hideSession(c, err) // a session is its user's, never a project's (session.go)
	if isCode(err, keyward.ENotFound) {
		return nil, keyward.Errorf(keyward.ENotFound, "credential %q not found in project %q", ref, project.Slug)
	} else if err != nil {
		return nil, err
	}
	c.State = c.StateAt(a.clock())
	return c, nil
}

// Credential returns one credential of a project by id or name.
func (a *Authority) Credential(ctx context.Context, projectRef, ref string) (*keyward.Credential, error) {
	return a.credential(ctx, projectRef, ref, keyward.PermKeysRead)
}

// ListCredentialsInput filters a credential listing.
type ListCredentialsInput struct {
	Type        keyward.CredentialType
	Environment keyward.Environment
	State       keyward.State
	// NotRevoked leaves revoked credentials out (vendor APIs that call revoking deleting).
	NotRevoked bool
	Cursor     string
	Limit      int
}

// ListCredentials returns a project's credentials, a page at a time, oldest first.
func (a *Authority) ListCredentials(ctx context.Context, projectRef string, in ListCredentialsInput) (*keyward.Page[*keyward.Credential], error) {
	project, err := a.resolveProject(ctx, projectRef, keyward.PermKeysRead)
	if err != nil {
		return nil, err
	}
	fe := fieldErrors{}
	if in.Type != "" && !in.Type.Valid() {
		fe.add("type", keyward.TypeRule)
	}
	if in.Environment != "" && !in.Environment.Valid() {
		fe.add("environment", "must be live or test")
	}
	if in.State != "" && !in.State.Valid() {
		fe.add("state", "must be active, expired, revoked, disabled or pending")
	}
	after, err := decodeCursor(in.Cursor)
	if err != nil {
		fe.add("cursor", "is not a cursor this server issued")
	}
	limit, err := pageSize(in.Limit)
	if err != nil {
		fe.add("limit", "must be between 1 and "+strconv.Itoa(MaxPageSize))
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	now := a.clock()
	cs, err := a.store.ListCredentials(ctx, keyward.CredentialFilter{
		ProjectID: project.ID, Type: in.Type, Environment: in.Environment, State: in.State,
		NotRevoked: in.NotRevoked, Now: now, AfterID: after, Limit: limit + 1,
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

// errRevoked refuses changes to a revoked credential: revocation is final.
func errRevoked(c *keyward.Credential) error {
	return keyward.Errorf(keyward.EConflict, "credential %q is revoked and cannot change", c.Name)
}

func errStale(c *keyward.Credential) error {
	return keyward.Errorf(keyward.EConflict, "credential %q has changed since version you read; read it again", c.Name)
}

// UpdateCredential changes a credential's description, meta, expiry or active flag. A non-zero
// in.Version must equal the stored version.
// The change and the uses left (SetRemaining) are written in one transaction.
func (a *Authority) UpdateCredential(ctx context.Context, projectRef, ref string, in keyward.UpdateCredentialInput) (*keyward.Credential, error) {
	if !names(in) {
		return nil, keyward.Errorf(keyward.EInvalid, "nothing to change: give name, description, meta, expires_at, never_expires, not_before, active, roles, ratelimit, remaining or refill")
	}
	return a.patch(ctx, projectRef, ref, in)
}

// patch is UpdateCredential without the check that in names a field: a request whose every
// value equals the current one writes nothing and returns the credential as it is.
func (a *Authority) patch(ctx context.Context, projectRef, ref string, in keyward.UpdateCredentialInput) (*keyward.Credential, error) {
	c, err := a.credential(ctx, projectRef, ref, keyward.PermKeysUpdate)
	if err != nil {
		return nil, err
	}
	plan, err := a.planUpdate(ctx, c, in)
	if err != nil {
		return nil, err
	}
	if plan.empty() {
		out := *plan.c
		out.State = out.StateAt(plan.now)
		return &out, nil
	}
	var out *keyward.Credential
	if err := a.inTx(ctx, func(u *unit) error {
		var err error
		out, err = plan.write(ctx, a, u)
		return err
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// updatePlan is a checked UpdateCredential, ready to write.
type updatePlan struct {
	c            *keyward.Credential // as it will be stored, at the version read
	changed      []string            // the fields that change; none when only remaining does
	setRemaining bool
	remaining    *int64
	now          time.Time
}

// planUpdate validates in against c (which it does not modify) and checks the roles it gives:
// everything UpdateCredential refuses is refused here, before any write. It is the one patch of
// a credential (ScheduleCredential is a form of it): a value equal to the current one (times to
// the millisecond, which JSON clients commonly keep; roles as a set) is not a change and is not
// validated again, so a client that sends back what it read changes only what differs.
func (a *Authority) planUpdate(ctx context.Context, orig *keyward.Credential, in keyward.UpdateCredentialInput) (*updatePlan, error) {
	cc := *orig
	c := &cc
	if in.Version != 0 && in.Version != c.Version {
		return nil, errStale(c)
	}
	if c.RevokedAt != nil {
		return nil, errRevoked(c)
	}
	now := a.clock()
	fe := fieldErrors{}
	changed := []string{}
	if in.Name != nil && *in.Name != c.Name {
		if !keyward.ValidName(*in.Name) {
			fe.add("name", keyward.NameRule)
		}
		c.Name = *in.Name
		changed = append(changed, "name")
	}
	if in.Description != nil && *in.Description != c.Description {
		validateDescription(fe, *in.Description)
		c.Description = *in.Description
		changed = append(changed, "description")
	}
	if in.Meta != nil && !sameMeta(*in.Meta, c.Meta) {
		validateMeta(fe, *in.Meta)
		c.Meta = *in.Meta
		if c.Meta == nil {
			c.Meta = map[string]string{}
		}
		changed = append(changed, "meta")
	}
	notBefore, expires := c.NotBefore, c.ExpiresAt
	switch {
	case in.ClearNotBefore && in.NotBefore != nil:
		fe.add("not_before", "give not_before or clear_not_before, not both")
	case in.ClearNotBefore:
		notBefore = nil
	case in.NotBefore != nil && !in.NotBefore.After(c.CreatedAt):
		notBefore = nil // a start at or before creation restricts nothing
	case in.NotBefore != nil && !sameMillisecond(in.NotBefore, c.NotBefore):
		notBefore = normTime(in.NotBefore)
	}
	never := in.NeverExpires != nil && *in.NeverExpires
	switch {
	case never && in.ExpiresAt != nil:
		fe.add("expires_at", "give expires_at or never_expires, not both")
	case in.NeverExpires != nil && !never && in.ExpiresAt == nil:
		fe.add("never_expires", "false needs expires_at")
	case never:
		expires = nil
	case in.ExpiresAt != nil && !sameMillisecond(in.ExpiresAt, c.ExpiresAt):
		expires = validateExpiry(fe, now, nil, in.ExpiresAt, false, 0)
	}
	nbChanged, expChanged := !sameMillisecond(notBefore, c.NotBefore), !sameMillisecond(expires, c.ExpiresAt)
	if nbChanged || expChanged {
		field := "expires_at"
		if !expChanged {
			field = "not_before"
		}
		if c.Type.Certificate() {
			fe.add(field, "a certificate's validity is signed into it; roll the credential to re-issue it")
		} else if notBefore != nil && expires != nil && !notBefore.Before(*expires) {
			if nbChanged {
				fe.add("not_before", "must be before the expiry")
			} else {
				fe.add("expires_at", "must be after not_before")
			}
		}
		if nbChanged {
			c.NotBefore = notBefore
			changed = append(changed, "not_before")
		}
		if expChanged {
			c.ExpiresAt = expires
			changed = append(changed, "expires_at")
		}
	}
	if in.Active != nil && *in.Active != c.Active {
		c.Active = *in.Active
		if c.Active {
			c.EnabledAt = &now // the unused-key sweep counts from here (DisableUnused)
		}
		changed = append(changed, "active")
	}
	validateLimits(fe, in.RateLimit, in.Remaining, in.Refill)
	switch {
	case in.ClearRateLimit && in.RateLimit != nil:
		fe.add("ratelimit", "give ratelimit or clear_ratelimit, not both")
	case in.ClearRateLimit:
		c.RateLimit = nil
		changed = append(changed, "ratelimit")
	case in.RateLimit != nil:
		c.RateLimit = in.RateLimit
		changed = append(changed, "ratelimit")
	}
	switch {
	case in.ClearRefill && in.Refill != nil:
		fe.add("refill", "give refill or clear_refill, not both")
	case in.ClearRefill:
		c.Refill = nil
		changed = append(changed, "refill")
	case in.Refill != nil:
		c.Refill = in.Refill
		changed = append(changed, "refill")
	}
	setRemaining := in.Remaining != nil || in.ClearRemaining
	if in.Remaining != nil && in.ClearRemaining {
		fe.add("remaining", "give remaining or clear_remaining, not both")
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	if !sameMillisecond(c.ExpiresAt, orig.ExpiresAt) {
		// Only a new expiry answers to the policy: keys issued before it keep theirs.
		if err := a.checkPolicyExpiry(ctx, c.ProjectID, now, c.ExpiresAt, expiryField(nil, nil, never)); err != nil {
			return nil, err
		}
	}
	roleIDs, err := a.changedRoles(ctx, c, in.Roles)
	if err != nil {
		return nil, err
	}
	if roleIDs != nil {
		c.RoleIDs = roleIDs
		changed = append(changed, "roles")
	}
	if len(changed) > 0 {
		c.UpdatedAt = now
	}
	return &updatePlan{c: c, changed: changed, setRemaining: setRemaining, remaining: in.Remaining, now: now}, nil
}

// names reports whether in asks for any change at all (equal to the current value or not).
func names(in keyward.UpdateCredentialInput) bool {
	return in.Name != nil || in.Description != nil || in.Meta != nil || in.ExpiresAt != nil || in.NeverExpires != nil ||
		in.NotBefore != nil || in.ClearNotBefore || in.Active != nil || in.Roles != nil || in.RateLimit != nil ||
		in.ClearRateLimit || in.Remaining != nil || in.ClearRemaining || in.Refill != nil || in.ClearRefill
}

// sameMeta reports whether two meta maps hold the same pairs (nil is empty).
func sameMeta(x, y map[string]string) bool { return maps.Equal(x, y) }

// sameMillisecond reports whether two optional instants are equal to the millisecond.
func sameMillisecond(x, y *time.Time) bool {
	if x == nil || y == nil {
		return x == nil && y == nil
	}
	return x.Truncate(time.Millisecond).Equal(y.Truncate(time.Millisecond))
}

// changedRoles resolves the roles a patch asks for: nil when it asks for none or for exactly the
// ones c has (which gives nothing away); otherwise the new role ids, each grantable by the
// caller in c's project.
func (a *Authority) changedRoles(ctx context.Context, c *keyward.Credential, refs *[]string) ([]int64, error) {
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

// empty reports whether the plan changes nothing.
func (p *updatePlan) empty() bool { return len(p.changed) == 0 && !p.setRemaining }

// write stores the plan in u and returns the credential as stored. It starts from the plan's
// values each time, so that a re-run transaction writes the same.
func (p *updatePlan) write(ctx context.Context, a *Authority, u *unit) (*keyward.Credential, error) {
	c := *p.c
	if len(p.changed) > 0 {
		ev := a.event(ctx, "credential.update", c.ProjectID, c.ID, p.now)
		ev.Detail = map[string]string{"fields": strings.Join(p.changed, ",")}
		if err := u.store.UpdateCredential(ctx, &c, ev); err != nil {
			return nil, err
		}
	}
	if p.setRemaining {
		ev := a.event(ctx, "credential.remaining", c.ProjectID, c.ID, p.now)
		ev.Detail = map[string]string{"remaining": "unlimited"}
		if p.remaining != nil {
			ev.Detail["remaining"] = strconv.FormatInt(*p.remaining, 10)
		}
		if err := u.store.SetRemaining(ctx, c.ID, p.remaining, ev); err != nil {
			return nil, err
		}
		c.Remaining = p.remaining
	}
	u.changed(keyward.Invalidation{CredentialIDs: []int64{c.ID}})
	c.State = c.StateAt(p.now)
	return &c, nil
}

// RenewCredential moves an API token's expiry to now + days or to the given instant. A renewed
// expired token becomes valid again; a revoked one stays revoked.
func (a *Authority) RenewCredential(ctx context.Context, projectRef, ref string, in keyward.RenewInput) (*keyward.Credential, error) {
	c, err := a.credential(ctx, projectRef, ref, keyward.PermKeysRenew)
	if err != nil {
		return nil, err
	}
	if c.Type.Certificate() {
		return nil, keyward.Invalid("type", "only API_TOKEN and KUBE_TOKEN credentials renew; a certificate's expiry is signed into it, so roll it to re-issue")
	}
	if c.RevokedAt != nil {
		return nil, errRevoked(c)
	}
	now := a.clock()
	fe := fieldErrors{}
	if in.ExpirationDays == nil && in.ExpiresAt == nil {
		fe.add("expiration_days", "give expiration_days or expires_at")
	}
	expires := validateExpiry(fe, now, in.ExpirationDays, in.ExpiresAt, false, 0)
	if expires != nil && c.NotBefore != nil && !c.NotBefore.Before(*expires) {
		fe.add("expires_at", "must be after not_before")
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	if err := a.checkPolicyExpiry(ctx, c.ProjectID, now, expires, expiryField(in.ExpirationDays, in.ExpiresAt, false)); err != nil {
		return nil, err
	}
	c.ExpiresAt, c.UpdatedAt = expires, now
	ev := a.event(ctx, "credential.renew", c.ProjectID, c.ID, now)
	ev.Detail = map[string]string{"expires_at": expires.Format(time.RFC3339)}
	if err := a.store.UpdateCredential(ctx, c, ev); err != nil {
		return nil, err
	}
	a.changed(keyward.Invalidation{CredentialIDs: []int64{c.ID}})
	c.State = c.StateAt(now)
	return c, nil
}

// RollCredential gives a credential a new secret and returns it once. An API token's old
// secret keeps verifying for in.GraceSeconds (0: it stops at once). A certificate credential
// gets a new certificate and key; its previous certificate is revoked at once.
func (a *Authority) RollCredential(ctx context.Context, projectRef, ref string, in keyward.RollInput) (*keyward.IssuedCredential, error) {
	c, err := a.credential(ctx, projectRef, ref, keyward.PermKeysRoll)
	if err != nil {
		return nil, err
	}
	plan, err := a.planRoll(ctx, c, in)
	if err != nil {
		return nil, err
	}
	var issued *keyward.IssuedCredential
	if err := a.inTx(ctx, func(u *unit) error {
		var err error
		issued, err = plan.write(ctx, u, plan.c.Version)
		return err
	}); err != nil {
		return nil, err
	}
	return issued, nil
}

// rollPlan is a checked RollCredential with its new secret or certificate, ready to write.
type rollPlan struct {
	c          *keyward.Credential // as it will be stored
	secret     *keyward.CredentialSecret
	graceUntil time.Time
	ev         *keyward.Event
	issued     keyward.IssuedCredential // Key or Data; Credential is set by write
	now        time.Time
}

// planRoll validates in against c (which it does not modify) and makes the new secret or
// certificate: everything RollCredential refuses is refused here, before any write.
func (a *Authority) planRoll(ctx context.Context, orig *keyward.Credential, in keyward.RollInput) (*rollPlan, error) {
	cc := *orig
	c := &cc
	if c.RevokedAt != nil {
		return nil, errRevoked(c)
	}
	if in.GraceSeconds < 0 || in.GraceSeconds > keyward.MaxGraceSeconds {
		return nil, keyward.Invalid("grace_seconds", "must be between 0 and "+strconv.Itoa(keyward.MaxGraceSeconds))
	}
	now := a.clock()
	issued := &keyward.IssuedCredential{}
	var secret *keyward.CredentialSecret
	ev := a.event(ctx, "credential.roll", c.ProjectID, c.ID, now)
	if !c.Type.Certificate() {
		if in.ExpirationDays != nil || in.Password != "" || in.KeyAlgorithm != "" || in.Encoding != "" {
			return nil, keyward.Invalid("password", "expiration_days, password, key_algorithm and encoding apply to certificate credentials; renew moves a token's expiry")
		}
		project, err := a.store.ProjectByID(ctx, c.ProjectID)
		if err != nil {
			return nil, err
		}
		var creator *keyward.User
		if c.Type == keyward.KubeToken {
			if creator, err = a.store.UserByID(ctx, c.CreatedBy); err != nil {
				return nil, err
			}
		}
		if issued, secret, err = a.newToken(ctx, project, c, creator, now); err != nil {
			return nil, err
		}
		ev.Detail = map[string]string{"grace_seconds": strconv.FormatInt(in.GraceSeconds, 10)}
	} else {
		fe := fieldErrors{}
		validateCertificateOptions(fe, c.Type, in.CertificateOptions)
		if in.GraceSeconds != 0 {
			fe.add("grace_seconds", "a rolled certificate is revoked at once; there is no grace period")
		}
		expires := c.ExpiresAt
		if in.ExpirationDays != nil {
			expires = validateExpiry(fe, now, in.ExpirationDays, nil, false, 0)
		} else if expires == nil || !expires.After(now) {
			fe.add("expiration_days", "the credential has expired; give expiration_days for the new certificate")
		}
		if err := fe.err(); err != nil {
			return nil, err
		}
		if in.ExpirationDays != nil {
			// A new certificate's lifetime is a new expiry: it answers to the policy.
			if err := a.checkPolicyExpiry(ctx, c.ProjectID, now, expires, "expiration_days"); err != nil {
				return nil, err
			}
		}
		creator, err := a.store.UserByID(ctx, c.CreatedBy)
		if err != nil {
			return nil, err
		}
		c.ExpiresAt, c.NotBefore = expires, nil
		if issued.Data, err = a.issueCertificate(ctx, c, creator, in.CertificateOptions, now, *expires); err != nil {
			return nil, err
		}
		ev.Detail = map[string]string{"serial": c.Serial}
	}
	c.UpdatedAt = now
	return &rollPlan{c: c, secret: secret, graceUntil: now.Add(time.Duration(in.GraceSeconds) * time.Second),
		ev: ev, issued: *issued, now: now}, nil
}

// write stores the plan in u over the credential at version and returns what was issued. It
// starts from the plan's values each time, so that a re-run transaction writes the same.
func (p *rollPlan) write(ctx context.Context, u *unit, version int64) (*keyward.IssuedCredential, error) {
	c := *p.c
	c.Version = version
	ev := *p.ev
	if err := u.store.RollCredential(ctx, &c, p.secret, p.graceUntil, &ev); err != nil {
		return nil, err
	}
	u.changed(keyward.Invalidation{CredentialIDs: []int64{c.ID}})
	c.State = c.StateAt(p.now)
	issued := p.issued
	issued.Credential = c
	return &issued, nil
}

// RevokeCredential revokes a credential for good, in one transaction with its audit event (a
// service credential with its service user and all it created: revokeOne). Revoking a revoked
// credential changes nothing and succeeds. A concurrent change to the same credential must not
// make a revocation fail, so a stale write is retried on the fresh record (revokeIn).
func (a *Authority) RevokeCredential(ctx context.Context, projectRef, ref string) (*keyward.Credential, error) {
	c, err := a.credential(ctx, projectRef, ref, keyward.PermKeysRevoke)
	if err != nil || c.RevokedAt != nil {
		return c, err
	}
	var out keyward.Credential
	if err := a.inTx(ctx, func(u *unit) error {
		out = *c // a re-run starts from what was read
		return a.revokeOne(ctx, u, &out)
	}); err != nil {
		return nil, err
	}
	out.State = out.StateAt(a.clock())
	return &out, nil
}

// UpdateAndRollCredential applies update (when not nil) and then rolls the credential (when
// roll is not nil), for vendor operations that do both in one request (Volt MX modify with
// regenerate). Every permission both steps need, and the dominance rule, are checked before the
// first write, so that a refused request changes nothing; both steps are one transaction.
func (a *Authority) UpdateAndRollCredential(ctx context.Context, projectRef, ref string, update *keyward.UpdateCredentialInput, roll *keyward.RollInput) (*keyward.Credential, *keyward.IssuedCredential, error) {
	if update == nil && roll == nil {
		return nil, nil, keyward.Errorf(keyward.EInvalid, "nothing to change")
	}
	var c *keyward.Credential
	for _, step := range []struct {
		want bool
		perm keyward.Permission
	}{{update != nil, keyward.PermKeysUpdate}, {roll != nil, keyward.PermKeysRoll}} {
		if !step.want {
			continue
		}
		var err error
		if c, err = a.credential(ctx, projectRef, ref, step.perm); err != nil {
			return nil, nil, err
		}
	}
	if c.RevokedAt != nil {
		return nil, nil, errRevoked(c)
	}
	var (
		up *updatePlan
		rp *rollPlan
	)
	if update != nil {
		var err error
		if up, err = a.planUpdate(ctx, c, *update); err != nil {
			return nil, nil, err
		}
		c = up.c // the roll applies to the credential as updated
	}
	if roll != nil {
		var err error
		if rp, err = a.planRoll(ctx, c, *roll); err != nil {
			return nil, nil, err
		}
	}
	var (
		out    *keyward.Credential
		issued *keyward.IssuedCredential
	)
	err := a.inTx(ctx, func(u *unit) error {
		out, issued = c, nil
		version := c.Version
		if up != nil {
			updated, err := up.write(ctx, a, u)
			if err != nil {
				return err
			}
			out, version = updated, updated.Version
		}
		if rp != nil {
			var err error
			if issued, err = rp.write(ctx, u, version); err != nil {
				return err
			}
			out = &issued.Credential
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, issued, nil
}
