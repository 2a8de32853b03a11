package authority

import (
	"context"
	"strconv"
	"time"

	"github.com/keyward/keyward"
)

// MaxRevokeNames bounds the names one RevokeCredentials call takes.
const MaxRevokeNames = 200

// RevokeManyInput selects the credentials of a project that RevokeCredentials revokes: those
// named in Names (names or ids) and, when Expired is set, every credential whose expiry has
// passed and that is not revoked yet, of Type ("" for every type) and of Kind.
type RevokeManyInput struct {
	Names   []string
	Expired bool
	Type    keyward.CredentialType
	Kind    CredentialKind
}

// RevokeFailure is a credential RevokeCredentials could not revoke, and why.
type RevokeFailure struct {
	Name   string
	Reason string
}

// RevokeManyResult tells what RevokeCredentials did, in the order of the input (named
// credentials first, then the expired ones).
type RevokeManyResult struct {
	Revoked []string
	Failed  []RevokeFailure
}

// RevokeCredentials revokes several credentials of a project, each as RevokeCredential does (a
// credential revoked already counts as revoked). It needs keys:revoke in the project, checked
// once for the whole request, and the caller must dominate every credential it names or selects
// (dominance.go), checked before the first write. A credential that cannot be revoked (not
// found, say) is reported in Failed and the others go on. Every revocation is in one
// transaction: a store failure stops the call with its error and revokes none.
func (a *Authority) RevokeCredentials(ctx context.Context, projectRef string, in RevokeManyInput) (*RevokeManyResult, error) {
	project, err := a.resolveProject(ctx, projectRef, keyward.PermKeysRevoke)
	if err != nil {
		return nil, err
	}
	fe := fieldErrors{}
	switch {
	case len(in.Names) == 0 && !in.Expired:
		fe.add("names", "name at least one credential, or ask for the expired ones")
	case len(in.Names) > MaxRevokeNames:
		fe.add("names", "at most "+strconv.Itoa(MaxRevokeNames)+" names per request")
	}
	for _, n := range in.Names {
		if n == "" {
			fe.add("names", "must not be empty")
		}
	}
	if in.Type != "" && !in.Type.Valid() {
		fe.add("type", keyward.TypeRule)
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	type target struct{ ref, name string }
	var targets []target
	seen := map[string]bool{}
	for _, n := range in.Names {
		if !seen[n] {
			seen[n] = true
			targets = append(targets, target{n, n})
		}
	}
	if in.Expired {
		now := a.clock()
		holders := map[int64]*Holder{}
		err := a.eachCredential(ctx, project, func(c *keyward.Credential) error {
			if c.StateAt(now) != keyward.StateExpired || seen[c.Name] ||
				(in.Type != "" && c.Type != in.Type) {
				return nil
			}
			h, err := a.heldAs(ctx, c, in.Kind, holders)
			if h != nil {
				targets = append(targets, target{strconv.FormatInt(c.ID, 10), c.Name})
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	// The dominance rule, for every target before the first write: a request naming one
	// credential the caller may not remove revokes none.
	found := make([]*keyward.Credential, len(targets))
	missing := make([]error, len(targets))
	for i, t := range targets {
		c, err := a.credentialIn(ctx, project, t.ref)
		if isCode(err, keyward.ENotFound) {
			missing[i] = err // reported per name below
			continue
		} else if err != nil {
			return nil, err
		}
		if err := a.checkDominance(ctx, c, keyward.PermKeysRevoke); err != nil {
			return nil, err
		}
		found[i] = c
	}
	var res *RevokeManyResult
	err = a.inTx(ctx, func(u *unit) error {
		res = &RevokeManyResult{Revoked: []string{}, Failed: []RevokeFailure{}}
		for i, t := range targets {
			err := missing[i]
			if err == nil {
				c := *found[i] // a re-run starts from what was read
				err = a.revokeOne(ctx, u, &c)
			}
			switch keyward.ErrorCode(err) {
			case "":
				res.Revoked = append(res.Revoked, t.name)
			case keyward.ENotFound, keyward.EConflict, keyward.EInvalid:
				res.Failed = append(res.Failed, RevokeFailure{Name: t.name, Reason: keyward.ErrorMessage(err)})
			default:
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// revokeOne revokes c in u as RevokeCredential does: a service credential with its service
// user and all it created, any other alone. A revoked credential is left as it is.
func (a *Authority) revokeOne(ctx context.Context, u *unit, c *keyward.Credential) error {
	if c.RevokedAt != nil {
		return nil
	}
	if done, err := a.revokeService(ctx, u, c, a.clock()); done || err != nil {
		return err
	}
	return a.revokeIn(ctx, u, c, func(r *keyward.Credential, now time.Time) *keyward.Event {
		return a.event(ctx, "credential.revoke", r.ProjectID, r.ID, now)
	})
}
