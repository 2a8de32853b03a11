package authority

import (
	"context"
	"strconv"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/token"
)

// errKeyNotFound is the one answer for every key a caller may not look up, whatever the reason,
// so that presenting a key teaches the caller nothing about keys it may not see.
var errKeyNotFound = keyward.Errorf(keyward.ENotFound, "API key not found")

// CredentialByKey returns the API token credential that key opens: by its current secret, or
// by a secret that a roll replaced and whose grace period has not ended. It needs keys:read in
// the credential's project. Every other case is ENotFound with one and the same message: a
// malformed or unknown key, a rolled secret past its grace period, a login session's token
// (sessions are not keys: see ListSessions), and a key of a project where the caller may not
// read keys. A refusal of a key that exists is audited in the key's project, without the key.
//
// The credential is read from the store, not the verification cache, so that what is returned
// is current, and is returned in whatever state it is in (expired, disabled and revoked
// included), with State set, as Credential returns it. Vendor APIs that address a key by its
// value (Volt MX's /applications/key/{appKey}) resolve it here, then act on the credential by
// its id with the usual methods, which check their own permissions.
func (a *Authority) CredentialByKey(ctx context.Context, key string) (*keyward.Credential, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if !token.Valid(key) {
		return nil, errKeyNotFound
	}
	cred, secret, err := a.store.CredentialBySecret(ctx, token.Digest(key))
	if isCode(err, keyward.ENotFound) {
		return nil, errKeyNotFound
	} else if err != nil {
		return nil, err
	}
	now := a.clock()
	if cred.Type != keyward.APIToken || !secretLive(secret.ValidUntil, now) {
		return nil, errKeyNotFound
	}
	if !c.Can(keyward.PermKeysRead, cred.ProjectID) {
		ev := a.event(ctx, "authorize", cred.ProjectID, cred.ID, now)
		ev.Outcome = keyward.OutcomeDenied
		ev.Detail = map[string]string{"permission": string(keyward.PermKeysRead), "lookup": "by_key"}
		if aerr := a.store.AppendEvent(ctx, ev); aerr != nil {
			a.logger.Warn("auditing a denied key lookup failed", "err", aerr)
		}
		return nil, errKeyNotFound
	}
	cred.State = cred.StateAt(now)
	return cred, nil
}

// DisplayKey returns how a credential's key is shown when it is read again: the key itself
// when it is recoverable (its project keeps recoverable keys and it was created or rolled
// since), the caller holds keys:reveal in its project and dominates it, the reveal audited exactly as
// RevealKey audits it; otherwise MaskedKey(c). A caller that may not reveal the key is not
// refused, and nothing is audited for it: it asked to read the credential, which c shows it
// may, and gets the masked form. Only c.ID and c.ProjectID are trusted; the rest is re-read.
func (a *Authority) DisplayKey(ctx context.Context, c *keyward.Credential) (string, error) {
	who, err := caller(ctx)
	if err != nil {
		return "", err
	}
	if !c.Recoverable || a.mk == nil || !who.Can(keyward.PermKeysReveal, c.ProjectID) {
		return MaskedKey(c), nil
	}
	// A key with more rights than the caller's is shown masked, not refused: the caller asked
	// to read, which it may (the dominance rule, dominance.go).
	if ok, err := a.callerDominates(ctx, c); err != nil {
		return "", err
	} else if !ok {
		return MaskedKey(c), nil
	}
	rk, err := a.RevealKey(ctx, strconv.FormatInt(c.ProjectID, 10), strconv.FormatInt(c.ID, 10))
	switch keyward.ErrorCode(err) {
	case "":
		return rk.Key, nil
	case keyward.ENotFound, keyward.EForbidden:
		// Rolled to a secret that is not sealed, or a right lost, since c was read.
		return MaskedKey(c), nil
	}
	return "", err
}
