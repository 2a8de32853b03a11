package keyward

import (
	"slices"
	"strconv"
)

// Policy is a project's rules for its keys, enforced by the authority on every surface (native
// API, dialects, CLI) and audited when changed. The zero Policy imposes nothing beyond keyward's
// own limits. Login sessions are not project keys and are never subject to it.
type Policy struct {
	// MaxLifetimeDays bounds how far ahead of now a create, renew, roll or schedule may set a
	// key's expiry; 0 leaves only the global MaxExpirationDays.
	MaxLifetimeDays int64 `json:"max_lifetime_days"`
	// RequireExpiry refuses never-expiring keys.
	RequireExpiry bool `json:"require_expiry"`
	// AllowedTypes lists the credential types the project may create; empty allows all.
	AllowedTypes []CredentialType `json:"allowed_types"`
	// AllowedEnvironments lists the environments the project may create; empty allows all.
	AllowedEnvironments []Environment `json:"allowed_environments"`
	// DisableUnusedDays disables (never revokes) a key not used, created nor re-enabled for
	// that many days; 0 turns the sweep off for the project.
	DisableUnusedDays int64 `json:"disable_unused_days"`
	// FirstUseGraceSeconds is the hard limit of a roll whose old secret ends at the new one's
	// first use, when the roll gives none; 0 means DefaultFirstUseGraceSeconds.
	FirstUseGraceSeconds int64 `json:"first_use_grace_seconds"`
	// LeakAction is what a leak report does to a key of the project: LeakRevoke ("" means it)
	// or LeakDisable.
	LeakAction string `json:"leak_action"`
}

// The leak actions a Policy may name.
const (
	LeakRevoke  = "revoke"
	LeakDisable = "disable"
)

// DefaultFirstUseGraceSeconds is the hard limit of a first-use roll grace when neither the roll
// nor the project's policy gives one: a day.
const DefaultFirstUseGraceSeconds = 24 * 3600

// MaxPolicyDays bounds the day counts of a policy (ten years, as MaxExpirationDays).
const MaxPolicyDays = MaxExpirationDays

// Normalize returns p with its lists sorted and deduplicated, never nil, and LeakAction
// spelled out, so that equal policies compare and store alike.
func (p Policy) Normalize() Policy {
	p.AllowedTypes = sortedUnique(p.AllowedTypes)
	p.AllowedEnvironments = sortedUnique(p.AllowedEnvironments)
	if p.LeakAction == "" {
		p.LeakAction = LeakRevoke
	}
	return p
}

func sortedUnique[T ~string](xs []T) []T {
	out := append([]T{}, xs...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Check returns an EInvalid error naming the first field of p that is out of range, or nil.
func (p Policy) Check() error {
	days := func(field string, v int64) error {
		if v < 0 || v > MaxPolicyDays {
			return Invalid(field, "must be between 0 and "+strconv.Itoa(MaxPolicyDays))
		}
		return nil
	}
	if err := days("max_lifetime_days", p.MaxLifetimeDays); err != nil {
		return err
	}
	if err := days("disable_unused_days", p.DisableUnusedDays); err != nil {
		return err
	}
	if p.FirstUseGraceSeconds < 0 || p.FirstUseGraceSeconds > MaxGraceSeconds {
		return Invalid("first_use_grace_seconds", "must be between 0 and "+strconv.Itoa(MaxGraceSeconds))
	}
	for _, t := range p.AllowedTypes {
		if !t.Valid() {
			return Invalid("allowed_types", TypeRule)
		}
	}
	for _, e := range p.AllowedEnvironments {
		if !e.Valid() {
			return Invalid("allowed_environments", "must be live or test")
		}
	}
	if p.LeakAction != "" && p.LeakAction != LeakRevoke && p.LeakAction != LeakDisable {
		return Invalid("leak_action", "must be revoke or disable")
	}
	return nil
}

// AllowsType reports whether the policy lets the project create a credential of type t.
func (p Policy) AllowsType(t CredentialType) bool {
	return len(p.AllowedTypes) == 0 || slices.Contains(p.AllowedTypes, t)
}

// AllowsEnvironment reports whether the policy lets the project create a credential in e.
func (p Policy) AllowsEnvironment(e Environment) bool {
	return len(p.AllowedEnvironments) == 0 || slices.Contains(p.AllowedEnvironments, e)
}
