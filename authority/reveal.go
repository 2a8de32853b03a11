package authority

import (
	"context"
	"strings"

	"github.com/keyward/keyward"
)

// sealToken seals a new token when the project keeps recoverable keys.
func (a *Authority) sealToken(p *keyward.Project, tok string) ([]byte, error) {
	if !p.RecoverableKeys || a.mk == nil {
		return nil, nil
	}
	return a.mk.Seal([]byte(tok), tokenLabel)
}

// RevealKey returns a recoverable key again. It needs keys:reveal in the project, and every
// reveal is audited before the key is returned.
func (a *Authority) RevealKey(ctx context.Context, projectRef, ref string) (*keyward.RevealedKey, error) {
	c, err := a.credential(ctx, projectRef, ref, keyward.PermKeysReveal)
	if err != nil {
		return nil, err
	}
	blob, err := a.store.SealedSecret(ctx, c.ID)
	if isCode(err, keyward.ENotFound) {
		return nil, keyward.Errorf(keyward.ENotFound, "credential %q is not recoverable: turn on recoverable_keys in its project and roll it", c.Name)
	} else if err != nil {
		return nil, err
	}
	if a.mk == nil { // a sealed secret from a run with a master key, on a server started without one
		return nil, keyward.Errorf(keyward.EUnavailable, "this server has no master key to open sealed keys with")
	}
	tok, err := a.mk.Open(blob, tokenLabel)
	if err != nil {
		return nil, err
	}
	ev := a.event(ctx, "credential.reveal", c.ProjectID, c.ID, a.clock())
	if err := a.store.AppendEvent(ctx, ev); err != nil {
		return nil, err
	}
	return &keyward.RevealedKey{CredentialID: c.ID, Key: string(tok)}, nil
}

// MaskedKey is how a key that cannot be shown again is shown: its recognisable start, then
// a mask, as Stripe shows a key.
func MaskedKey(c *keyward.Credential) string {
	if c.Start == "" {
		return ""
	}
	return c.Start + strings.Repeat("*", 8)
}
