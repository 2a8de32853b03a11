package authority

import (
	"context"
	"strconv"
	"time"

	"github.com/keyward/keyward"
)

// sweepPage is how many projects or credentials the unused-key sweep reads at a time.
const sweepPage = 500

// DisableUnused disables, in every project whose policy sets disable_unused_days N, each active
// key not used, created nor enabled again for N days: API_TOKEN, KUBE_TOKEN and
// API_CERTIFICATE credentials, whose uses keyward sees (a KUBE_CONFIG is used at its cluster,
// never here, and a login session is no project key). Disabled, never revoked: enabling the key
// again undoes it, and the sweep then counts from that enable. Each key is one conditional
// write (its version) with its credential.auto_disable event, so replicas sweeping at once
// disable it once. It returns how many keys it disabled. It needs no caller: serve runs it.
func (a *Authority) DisableUnused(ctx context.Context) (int, error) {
	// This replica's uses not yet written count too; another's are at most a flush interval
	// (a second by default) behind, far below any day count.
	if err := a.usage.flush(ctx); err != nil {
		return 0, err
	}
	now := a.clock()
	n := 0
	for after := int64(0); ; {
		ps, err := a.store.ListProjects(ctx, keyward.ProjectFilter{AfterID: after, Limit: sweepPage})
		if err != nil {
			return n, err
		}
		for _, p := range ps {
			if p.Policy.DisableUnusedDays <= 0 {
				continue
			}
			k, err := a.disableUnusedIn(ctx, p, now)
			n += k
			if err != nil {
				return n, err
			}
		}
		if len(ps) < sweepPage {
			return n, nil
		}
		after = ps[len(ps)-1].ID
	}
}

// disableUnusedIn is DisableUnused in one project.
func (a *Authority) disableUnusedIn(ctx context.Context, p *keyward.Project, now time.Time) (int, error) {
	days := p.Policy.DisableUnusedDays
	cutoff := now.AddDate(0, 0, -int(days))
	n := 0
	for after := int64(0); ; {
		cs, err := a.store.ListCredentials(ctx, keyward.CredentialFilter{ProjectID: p.ID, State: keyward.StateActive,
			Now: now, AfterID: after, Limit: sweepPage})
		if err != nil {
			return n, err
		}
		for _, c := range cs {
			if !sweptType(c.Type) || unusedSince(c).After(cutoff) {
				continue
			}
			off := *c
			off.Active, off.UpdatedAt = false, now
			ev := &keyward.Event{Time: now, Actor: "system", Action: "credential.auto_disable", ProjectID: c.ProjectID,
				CredentialID: c.ID, Outcome: keyward.OutcomeSuccess, Detail: map[string]string{
					"disable_unused_days": strconv.FormatInt(days, 10),
					"unused_since":        unusedSince(c).UTC().Format(time.RFC3339),
				}}
			err := a.store.UpdateCredential(ctx, &off, ev)
			switch {
			case isCode(err, keyward.EConflict), isCode(err, keyward.ENotFound):
				continue // changed meanwhile (another replica's sweep, an operator): not ours to undo
			case err != nil:
				return n, err
			}
			a.changed(keyward.Invalidation{CredentialIDs: []int64{c.ID}})
			n++
		}
		if len(cs) < sweepPage {
			return n, nil
		}
		after = cs[len(cs)-1].ID
	}
}

// sweptType reports whether DisableUnused acts on credentials of type t: those whose uses
// keyward sees.
func sweptType(t keyward.CredentialType) bool {
	return t == keyward.APIToken || t == keyward.KubeToken || t == keyward.APICertificate
}

// unusedSince is the instant a credential's idle time counts from: the latest of its creation,
// its last use and its last enable.
func unusedSince(c *keyward.Credential) time.Time {
	t := c.CreatedAt
	for _, u := range []*time.Time{c.LastUsedAt, c.EnabledAt} {
		if u != nil && u.After(t) {
			t = *u
		}
	}
	return t
}
