package authority

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

// UsageInput selects a usage report.
type UsageInput struct {
	// Credential is a credential's name or id; "" reports the whole project.
	Credential string
	// Window is keyward.UsageWindowDay ("24h", hourly buckets, the default) or
	// keyward.UsageWindow30d ("30d", daily buckets).
	Window string
}

// Bounds of a usage report's lists.
const (
	// UsageTop is how many of the most used credentials a report lists.
	UsageTop = 10
	// UsageUnused is how many unused credentials a project's report lists at most: the longest
	// unused first among the first 1,000 (by id) that qualify.
	UsageUnused = 100
)

// Usage reports the verifications of a project, or of one of its credentials, over a window
// that ends with the current bucket (the clock's hour, or its UTC day), by bucket and code.
// Every bucket of the window is in the series, empty ones included. It needs keys:read in the
// project; a credential's report follows the rules of reading that credential (a login
// session, or a credential of another project, is not found). Unknown keys (NOT_FOUND) are
// counted nowhere: they belong to no credential, hence to no project.
func (a *Authority) Usage(ctx context.Context, projectRef string, in UsageInput) (*keyward.UsageReport, error) {
	window := in.Window
	if window == "" {
		window = keyward.UsageWindowDay
	}
	var (
		step    time.Duration
		buckets int
		bucket  string
	)
	switch window {
	case keyward.UsageWindowDay:
		step, buckets, bucket = time.Hour, 24, keyward.UsageBucketHour
	case keyward.UsageWindow30d:
		step, buckets, bucket = 24*time.Hour, 30, keyward.UsageBucketDay
	default:
		return nil, keyward.Invalid("window", "must be 24h or 30d")
	}
	project, err := a.resolveProject(ctx, projectRef, keyward.PermKeysRead)
	if err != nil {
		return nil, err
	}
	var cred *keyward.Credential
	if in.Credential != "" {
		if cred, err = a.credentialIn(ctx, project, in.Credential); err != nil {
			return nil, err
		}
	}
	now := a.clock()
	// Truncate works on UTC days: the zero time is a UTC midnight.
	to := now.Truncate(step).Add(step)
	from := to.Add(-time.Duration(buckets) * step)
	r := &keyward.UsageReport{Project: project.Slug, Window: window, From: from, To: to, Bucket: bucket,
		Series: make([]keyward.UsageBucket, buckets), Totals: map[string]int64{},
		Top: []keyward.UsageKey{}, Unused: []keyward.UsageKey{}}
	for i := range r.Series {
		r.Series[i] = keyward.UsageBucket{Start: from.Add(time.Duration(i) * step), Counts: map[string]int64{}}
	}
	f := keyward.UsageFilter{ProjectID: project.ID, From: from, To: to, Sum: keyward.UsageByHour}
	if cred != nil {
		f.CredentialID, r.CredentialID, r.Credential = cred.ID, cred.ID, cred.Name
	}
	hours, err := a.store.Usage(ctx, f)
	if err != nil {
		return nil, err
	}
	for _, h := range hours {
		i := int(h.Hour.Sub(from) / step)
		if i < 0 || i >= buckets {
			continue // the store selected [from, to): cannot happen
		}
		r.Series[i].Counts[h.Code] += h.Count
		r.Totals[h.Code] += h.Count
	}
	f.Sum = keyward.UsageByCredential
	perCred, err := a.store.Usage(ctx, f)
	if err != nil {
		return nil, err
	}
	used := map[int64]*keyward.UsageKey{}
	for _, c := range perCred {
		k := used[c.CredentialID]
		if k == nil {
			k = &keyward.UsageKey{ID: c.CredentialID}
			used[c.CredentialID] = k
		}
		if c.Code == keyward.CodeValid {
			k.Valid += c.Count
		} else {
			k.Refused += c.Count
		}
	}
	if r.Top, err = a.usageTop(ctx, project, used); err != nil {
		return nil, err
	}
	if cred == nil {
		if r.Unused, err = a.usageUnused(ctx, project, now, used); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// usageTop returns the UsageTop most used of used, named, most used first.
func (a *Authority) usageTop(ctx context.Context, project *keyward.Project, used map[int64]*keyward.UsageKey) ([]keyward.UsageKey, error) {
	keys := make([]*keyward.UsageKey, 0, len(used))
	for _, k := range used {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y *keyward.UsageKey) int {
		if c := cmp.Compare(y.Valid+y.Refused, x.Valid+x.Refused); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	top := []keyward.UsageKey{}
	for _, k := range keys {
		if len(top) == UsageTop {
			break
		}
		c, err := hideSession(a.store.CredentialByID(ctx, project.ID, k.ID))
		if isCode(err, keyward.ENotFound) {
			continue // a session's counts from before they were left out
		} else if err != nil {
			return nil, err
		}
		top = append(top, usageKeyOf(c, k, a.clock()))
	}
	return top, nil
}

// usageUnused returns the project's credentials, not revoked, that nobody used for
// keyward.UnusedAfter or more (or never, created that long ago): never used first, then the
// longest unused.
func (a *Authority) usageUnused(ctx context.Context, project *keyward.Project, now time.Time, used map[int64]*keyward.UsageKey) ([]keyward.UsageKey, error) {
	cs, err := a.store.ListCredentials(ctx, keyward.CredentialFilter{ProjectID: project.ID, NotRevoked: true,
		IdleSince: now.Add(-keyward.UnusedAfter), Now: now, Limit: 1000})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(cs, func(x, y *keyward.Credential) int {
		switch {
		case x.LastUsedAt == nil && y.LastUsedAt == nil:
			return x.CreatedAt.Compare(y.CreatedAt)
		case x.LastUsedAt == nil:
			return -1
		case y.LastUsedAt == nil:
			return 1
		}
		return x.LastUsedAt.Compare(*y.LastUsedAt)
	})
	out := []keyward.UsageKey{}
	for _, c := range cs[:min(len(cs), UsageUnused)] {
		k := used[c.ID] // a use in the window not yet written to last_used_at
		if k == nil {
			k = &keyward.UsageKey{}
		}
		out = append(out, usageKeyOf(c, k, now))
	}
	return out, nil
}

func usageKeyOf(c *keyward.Credential, counts *keyward.UsageKey, now time.Time) keyward.UsageKey {
	return keyward.UsageKey{ID: c.ID, Name: c.Name, State: c.StateAt(now), Valid: counts.Valid, Refused: counts.Refused,
		CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt}
}
