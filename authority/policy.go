package authority

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// ProjectPolicy returns a project's key policy. It needs what reading the project needs
// (projects:read), since the project itself carries it.
func (a *Authority) ProjectPolicy(ctx context.Context, ref string) (*keyward.Policy, error) {
	p, err := a.resolveProject(ctx, ref, keyward.PermProjectsRead)
	if err != nil {
		return nil, err
	}
	return &p.Policy, nil
}

// SetProjectPolicy replaces a project's key policy with pol. It needs projects:admin there and
// is audited as project.policy, with the fields that changed and their new values. The policy
// applies to what is written from then on: existing keys keep their expiry, type and
// environment until they change (DisableUnused acts on them, being about use, not issue).
func (a *Authority) SetProjectPolicy(ctx context.Context, ref string, pol keyward.Policy) (*keyward.Policy, error) {
	p, err := a.resolveProject(ctx, ref, keyward.PermProjectsAdmin)
	if err != nil {
		return nil, err
	}
	if err := pol.Check(); err != nil {
		return nil, err
	}
	pol = pol.Normalize()
	if p.Slug == keyward.SystemProject && !pol.AllowsType(keyward.APIToken) {
		// The system project holds the admin's tokens; refusing them would lock the server out.
		return nil, keyward.Invalid("allowed_types", "the system project must allow API_TOKEN")
	}
	detail := policyDiff(p.Policy.Normalize(), pol)
	if len(detail) == 0 {
		return &pol, nil // nothing changes: nothing to write or audit
	}
	ev := a.event(ctx, "project.policy", p.ID, 0, a.clock())
	ev.Detail = detail
	if err := a.store.UpdateProjectPolicy(ctx, p.ID, pol, ev); err != nil {
		return nil, err
	}
	return &pol, nil
}

// policyDiff describes what changes from old to new for the audit: each changed field with its
// new value, and "changed", the changed fields' names.
func policyDiff(old, new keyward.Policy) map[string]string {
	d := map[string]string{}
	var names []string
	set := func(name string, changed bool, value string) {
		if changed {
			d[name] = value
			names = append(names, name)
		}
	}
	set("max_lifetime_days", old.MaxLifetimeDays != new.MaxLifetimeDays, strconv.FormatInt(new.MaxLifetimeDays, 10))
	set("require_expiry", old.RequireExpiry != new.RequireExpiry, boolString(new.RequireExpiry))
	set("allowed_types", !slices.Equal(old.AllowedTypes, new.AllowedTypes), joinStrings(new.AllowedTypes))
	set("allowed_environments", !slices.Equal(old.AllowedEnvironments, new.AllowedEnvironments), joinStrings(new.AllowedEnvironments))
	set("disable_unused_days", old.DisableUnusedDays != new.DisableUnusedDays, strconv.FormatInt(new.DisableUnusedDays, 10))
	set("first_use_grace_seconds", old.FirstUseGraceSeconds != new.FirstUseGraceSeconds, strconv.FormatInt(new.FirstUseGraceSeconds, 10))
	set("leak_action", old.LeakAction != new.LeakAction, new.LeakAction)
	if len(names) == 0 {
		return nil
	}
	d["changed"] = strings.Join(names, ",")
	return d
}

func joinStrings[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}

// policyRefusal is the EInvalid a policy rule answers with: its message names the rule and
// its setting ("project policy: max_lifetime_days is 90"), then what the request must do.
func policyRefusal(rule, setting, field, problem string) error {
	return &keyward.Error{
		Code:    keyward.EInvalid,
		Message: "project policy: " + rule + " is " + setting + "; " + field + " " + problem,
		Fields:  map[string]string{field: problem},
	}
}

// checkExpiry refuses an expiry a project's policy does not allow: none (never) under
// require_expiry, or one further than max_lifetime_days from now. field names the request
// field that set it.
func checkExpiry(pol keyward.Policy, now time.Time, expires *time.Time, field string) error {
	if expires == nil {
		if pol.RequireExpiry || pol.MaxLifetimeDays > 0 {
			rule, setting := "require_expiry", "true"
			if !pol.RequireExpiry {
				rule, setting = "max_lifetime_days", strconv.FormatInt(pol.MaxLifetimeDays, 10)
			}
			return policyRefusal(rule, setting, field, "must give an expiry: keys of this project must expire")
		}
		return nil
	}
	if pol.MaxLifetimeDays > 0 && expires.After(now.AddDate(0, 0, int(pol.MaxLifetimeDays))) {
		days := strconv.FormatInt(pol.MaxLifetimeDays, 10)
		return policyRefusal("max_lifetime_days", days, field, "must be at most "+days+" days ahead")
	}
	return nil
}

// checkKind refuses a type or environment a project's policy does not allow.
func checkKind(pol keyward.Policy, t keyward.CredentialType, env keyward.Environment) error {
	if !pol.AllowsType(t) {
		return policyRefusal("allowed_types", joinStrings(pol.AllowedTypes), "type", "must be one of them, not "+string(t))
	}
	if !pol.AllowsEnvironment(env) {
		return policyRefusal("allowed_environments", joinStrings(pol.AllowedEnvironments), "environment", "must be one of them, not "+string(env))
	}
	return nil
}

// defaultDays is the lifetime a new key gets when the request gives none: keyward's default,
// shortened to the policy's maximum.
func defaultDays(pol keyward.Policy) int64 {
	if pol.MaxLifetimeDays > 0 && pol.MaxLifetimeDays < keyward.DefaultExpirationDays {
		return pol.MaxLifetimeDays
	}
	return keyward.DefaultExpirationDays
}

// expiryField names the request field an expiry came from, for a policy refusal.
func expiryField(days *int64, at *time.Time, never bool) string {
	switch {
	case days != nil:
		return "expiration_days"
	case never:
		return "never_expires"
	}
	return "expires_at"
}

// checkPolicyExpiry reads the policy of project id and checks a new expiry against it.
func (a *Authority) checkPolicyExpiry(ctx context.Context, projectID int64, now time.Time, expires *time.Time, field string) error {
	p, err := a.store.ProjectByID(ctx, projectID)
	if err != nil {
		return err
	}
	return checkExpiry(p.Policy, now, expires, field)
}
