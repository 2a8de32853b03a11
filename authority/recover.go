package authority

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strconv"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/token"
)

// RecoverInput says whose admin token RecoverAdminToken mints and for how long.
type RecoverInput struct {
	User           string // default keyward.AdminUser
	ExpirationDays int64  // default 1
}

// MaxRecoverDays bounds a recovery token's lifetime: it is for getting back in, after which the
// operator makes proper keys.
const MaxRecoverDays = 30

// RecoverAdminToken mints a new admin token in the system project for a user who holds the
// built-in admin role globally, when every admin token is lost. It checks no caller: it is for
// the operator who holds the database and the master key (keyward recover-token, offline) and is
// served by no HTTP surface. The token is audited as credential.create with
// detail.recovery=offline, and is shown once.
func (a *Authority) RecoverAdminToken(ctx context.Context, in RecoverInput) (*keyward.IssuedCredential, error) {
	if in.User == "" {
		in.User = keyward.AdminUser
	}
	if in.ExpirationDays == 0 {
		in.ExpirationDays = 1
	}
	if in.ExpirationDays < 1 || in.ExpirationDays > MaxRecoverDays {
		return nil, keyward.Invalid("expiration_days", "must be between 1 and "+strconv.Itoa(MaxRecoverDays))
	}
	if !keyward.ValidName(in.User) {
		return nil, keyward.Invalid("user", keyward.NameRule)
	}
	u, err := a.store.UserByName(ctx, in.User)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, keyward.Errorf(keyward.EConflict, "user %q is disabled: a token of theirs would not work", u.Name)
	}
	byID, err := a.roles(ctx)
	if err != nil {
		return nil, err
	}
	bindings, err := a.store.RoleBindings(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	admin := slices.IndexFunc(bindings, func(b keyward.RoleBinding) bool {
		r := byID[b.RoleID]
		return b.ProjectID == 0 && r != nil && r.BuiltIn && r.Name == keyward.RoleAdmin
	})
	if admin < 0 {
		return nil, keyward.Errorf(keyward.EConflict, "user %q does not hold the admin role globally", u.Name)
	}
	system, err := a.store.ProjectBySlug(ctx, keyward.SystemProject)
	if err != nil {
		return nil, err
	}
	now := a.clock()
	tok, secret, err := a.newSecret(system, keyward.Live, now)
	if err != nil {
		return nil, err
	}
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return nil, err
	}
	expires := now.AddDate(0, 0, int(in.ExpirationDays))
	cred := &keyward.Credential{
		ProjectID: system.ID, Project: system.Slug, Name: "recovered-admin-" + hex.EncodeToString(suffix[:]),
		Description: "minted offline by keyward recover-token", Type: keyward.APIToken, Environment: keyward.Live,
		KeyType: keyward.Secret, CreatedBy: u.ID, RoleIDs: []int64{bindings[admin].RoleID}, Meta: map[string]string{},
		ExpiresAt: &expires, Active: true, CreatedAt: now, UpdatedAt: now, Start: token.Start(tok),
		Recoverable: secret.Sealed != nil,
	}
	ev := &keyward.Event{Time: now, ActorUserID: u.ID, Actor: "offline recovery", Action: "credential.create",
		ProjectID: system.ID, Outcome: keyward.OutcomeSuccess,
		Detail: map[string]string{"name": cred.Name, "type": string(keyward.APIToken), "recovery": "offline", "user": u.Name}}
	if err := a.store.CreateCredential(ctx, cred, secret, ev); err != nil {
		return nil, err
	}
	cred.State = cred.StateAt(now)
	return &keyward.IssuedCredential{Credential: *cred, Key: tok}, nil
}
