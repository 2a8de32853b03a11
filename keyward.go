// Package keyward holds the domain of the keyward credential service: projects, users, roles,
// credentials and audit events, the Store interface that persists them, and the Error type
// every layer returns. It depends on the standard library only; every other package depends on it.
package keyward

import (
	"encoding/json"
	"regexp"
	"time"
)

// SystemProject is the slug of the project created on first start; it always exists.
const SystemProject = "system"

// AdminUser is the name of the user created on first start and bound globally to RoleAdmin.
const AdminUser = "admin"

// Project is a tenant: every credential lives in exactly one.
type Project struct {
	ID        int64     `json:"id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// RecoverableKeys makes new API tokens of the project readable again later: they are also
	// kept sealed under the master key, and each reveal needs keys:reveal and is audited.
	RecoverableKeys bool `json:"recoverable_keys"`
	// Policy is the project's rules for its keys; the zero Policy imposes nothing.
	Policy Policy `json:"policy"`
}

// User is a human or service principal. Its role bindings decide what it, and every credential it
// created, may do.
type User struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Disabled  bool       `json:"disabled"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
	// HasPassword tells whether the user can log in with a password.
	HasPassword bool `json:"has_password"`
}

// Permission names one action a caller may take.
type Permission string

// The permissions known to keyward. Roles are sets of these.
const (
	PermKeysCreate    Permission = "keys:create"
	PermKeysRead      Permission = "keys:read"
	PermKeysUpdate    Permission = "keys:update"
	PermKeysRenew     Permission = "keys:renew"
	PermKeysRoll      Permission = "keys:roll"
	PermKeysRevoke    Permission = "keys:revoke"
	PermKeysVerify    Permission = "keys:verify"
	PermProjectsRead  Permission = "projects:read"
	PermProjectsAdmin Permission = "projects:admin"
	PermKeysReveal    Permission = "keys:reveal"
	PermUsersAdmin    Permission = "users:admin"
	PermRolesAdmin    Permission = "roles:admin"
	PermAuditRead     Permission = "audit:read"
	PermClustersAdmin Permission = "clusters:admin"
	// PermClustersReview lets a cluster's API server ask keyward who a KUBE_TOKEN is (the
	// TokenReview webhook); it is checked globally, like clusters:admin.
	PermClustersReview Permission = "clusters:review"
)

// AllPermissions lists every permission, in a stable order.
var AllPermissions = []Permission{
	PermKeysCreate, PermKeysRead, PermKeysUpdate, PermKeysRenew, PermKeysRoll, PermKeysRevoke,
	PermKeysVerify, PermKeysReveal, PermProjectsRead, PermProjectsAdmin, PermUsersAdmin, PermRolesAdmin,
	PermAuditRead, PermClustersAdmin, PermClustersReview,
}

// ValidPermission reports whether p is a permission keyward knows.
func ValidPermission(p Permission) bool {
	for _, q := range AllPermissions {
		if p == q {
			return true
		}
	}
	return false
}

// RoleAdmin is the built-in role that holds every permission.
const RoleAdmin = "admin"

// Role is a named set of permissions with a numeric id.
type Role struct {
	ID          int64        `json:"id"`
	Name        string       `json:"name"`
	Permissions []Permission `json:"permissions"`
	BuiltIn     bool         `json:"built_in"`
}

// Has reports whether the role grants p.
func (r *Role) Has(p Permission) bool {
	for _, q := range r.Permissions {
		if q == p {
			return true
		}
	}
	return false
}

// RoleBinding grants a user a role in one project, or in every project when ProjectID is 0.
type RoleBinding struct {
	UserID    int64 `json:"user_id"`
	ProjectID int64 `json:"project_id"`
	RoleID    int64 `json:"role_id"`
}

// CredentialType is the kind of material a credential carries.
type CredentialType string

// The credential types. Session is what a password login returns: it acts with all of its
// user's current rights and lives in the system project.
const (
	APIToken       CredentialType = "API_TOKEN"
	APICertificate CredentialType = "API_CERTIFICATE"
	KubeConfig     CredentialType = "KUBE_CONFIG"
	// KubeToken is a kubeconfig whose user presents a keyward token, which the cluster's API
	// server has keyward review at each request (TokenReview webhook): revocation and the
	// creator's lost rights take effect at once, where a KUBE_CONFIG certificate lives on until
	// it expires or the API server reads a CRL.
	KubeToken CredentialType = "KUBE_TOKEN"
	Session   CredentialType = "SESSION"
)

// CredentialTypes lists every type a project credential may have, in a stable order.
var CredentialTypes = []CredentialType{APIToken, APICertificate, KubeConfig, KubeToken}

// TypeRule says which types a project credential may have, for the error that refuses one.
const TypeRule = "must be API_TOKEN, API_CERTIFICATE, KUBE_CONFIG or KUBE_TOKEN"

// Valid reports whether t is a credential type a project credential may have (a login session
// is its user's and no project credential's type).
func (t CredentialType) Valid() bool {
	return t == APIToken || t == APICertificate || t == KubeConfig || t == KubeToken
}

// Certificate reports whether t's secret is a certificate keyward signs (whose validity is
// signed into it), rather than a token keyward looks up.
func (t CredentialType) Certificate() bool { return t == APICertificate || t == KubeConfig }

// ForCluster reports whether a credential of type t is a kubeconfig for a virtual cluster.
func (t CredentialType) ForCluster() bool { return t == KubeConfig || t == KubeToken }

// Environment separates live keys from test keys; it is part of the token's prefix.
type Environment string

// The environments.
const (
	Live Environment = "live"
	Test Environment = "test"
)

// Valid reports whether e is live or test.
func (e Environment) Valid() bool { return e == Live || e == Test }

// KeyType tells whether a key is secret or may be published (in a browser, say).
type KeyType string

// The key types.
const (
	Secret      KeyType = "secret"
	Publishable KeyType = "publishable"
)

// Valid reports whether k is secret or publishable.
func (k KeyType) Valid() bool { return k == Secret || k == Publishable }

// State is a credential's condition at one instant.
type State string

// The states, in the order they are checked.
const (
	StateRevoked  State = "revoked"
	StateDisabled State = "disabled"
	StatePending  State = "pending" // not_before is in the future
	StateExpired  State = "expired"
	StateActive   State = "active"
)

// Valid reports whether s is one of the states.
func (s State) Valid() bool {
	switch s {
	case StateRevoked, StateDisabled, StatePending, StateExpired, StateActive:
		return true
	}
	return false
}

// Credential is an API token, certificate or kubeconfig issued to a project. It never holds the
// secret: the store keeps only the secret's digest, in a CredentialSecret.
type Credential struct {
	ID          int64             `json:"id"`
	ProjectID   int64             `json:"project_id"`
	Project     string            `json:"project"` // the project's slug, filled by the store
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Type        CredentialType    `json:"type"`
	Environment Environment       `json:"environment"`
	KeyType     KeyType           `json:"key_type"`
	CreatedBy   int64             `json:"created_by"`
	RoleIDs     []int64           `json:"role_ids"`
	Meta        map[string]string `json:"meta"`
	NotBefore   *time.Time        `json:"not_before"`
	ExpiresAt   *time.Time        `json:"expires_at"`
	Active      bool              `json:"active"`
	RevokedAt   *time.Time        `json:"revoked_at"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	LastUsedAt  *time.Time        `json:"last_used_at"`
	// EnabledAt is when the credential was last enabled after being disabled; nil when never.
	// The sweep of unused keys counts from it, so it does not undo an operator's enable.
	EnabledAt *time.Time `json:"enabled_at,omitempty"`
	Version   int64      `json:"version"`
	// Start is the token's prefix and first characters ("kw_live_AbCd"), enough for a person
	// to recognise a key, far too little to use it.
	Start string `json:"start"`
	// Serial and Fingerprint identify the current certificate of an API_CERTIFICATE or
	// KUBE_CONFIG credential: the serial in lower-case hex, the SHA-256 of its DER in hex.
	Serial      string `json:"serial,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// Cluster and Namespace name the virtual cluster of a KUBE_CONFIG or KUBE_TOKEN credential.
	Cluster   string `json:"virtual_k8s_name,omitempty"`
	Namespace string `json:"virtual_k8s_namespace,omitempty"`
	// Recoverable tells that the key is kept sealed and can be revealed again.
	Recoverable bool `json:"recoverable"`
	// RateLimit bounds how often the credential verifies; nil for no limit.
	RateLimit *RateLimit `json:"ratelimit,omitempty"`
	// Remaining counts the uses left (each successful verification takes one); nil for
	// unlimited. Refill tops it up periodically.
	Remaining    *int64     `json:"remaining,omitempty"`
	Refill       *Refill    `json:"refill,omitempty"`
	LastRefillAt *time.Time `json:"last_refill_at,omitempty"`
	// State is computed by the authority from the fields above at the moment of reading.
	State State `json:"state"`
	// Purpose marks a credential that the authority made for a purpose of its own, never set
	// through a create or update request: PurposeOwnKey, or "" for an ordinary credential.
	Purpose string `json:"purpose,omitempty"`
}

// PurposeOwnKey marks one of a user's own keys (the self-service keys a user regenerates all
// at once), which belong to the user that created them. Only the authority sets it, so a
// credential is an own key because it was made as one, never because of its name.
const PurposeOwnKey = "own_key"

// RateLimit allows Limit verifications per Duration (in JSON, duration is in milliseconds).
type RateLimit struct {
	Limit    int           `json:"limit"`
	Duration time.Duration `json:"-"`
}

type rateLimitJSON struct {
	Limit    int   `json:"limit"`
	Duration int64 `json:"duration"`
}

// MarshalJSON writes the duration in milliseconds.
func (r RateLimit) MarshalJSON() ([]byte, error) {
	return json.Marshal(rateLimitJSON{Limit: r.Limit, Duration: r.Duration.Milliseconds()})
}

// UnmarshalJSON reads the duration in milliseconds.
func (r *RateLimit) UnmarshalJSON(b []byte) error {
	var j rateLimitJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	r.Limit, r.Duration = j.Limit, time.Duration(j.Duration)*time.Millisecond
	return nil
}

// The refill intervals: at 00:00 UTC every day, or on the first of every month.
const (
	RefillDaily   = "daily"
	RefillMonthly = "monthly"
)

// Refill sets a credential's remaining uses to Amount at the start of every Interval.
type Refill struct {
	Interval string `json:"interval"`
	Amount   int64  `json:"amount"`
}

// Certificate is one certificate a credential was issued: the current one, or one that a roll
// or a revocation ended, which the CRL lists until it expires.
type Certificate struct {
	Serial       string     `json:"serial"`
	CredentialID int64      `json:"credential_id"`
	Fingerprint  string     `json:"fingerprint"`
	NotAfter     time.Time  `json:"not_after"`
	RevokedAt    *time.Time `json:"revoked_at"`
	CreatedAt    time.Time  `json:"created_at"`
}

// Cluster is a virtual Kubernetes cluster that KUBE_CONFIG and KUBE_TOKEN credentials point at.
type Cluster struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Server string `json:"server"` // the API server URL, https
	// CAPEM is the cluster's CA bundle: what kubectl trusts for the server.
	CAPEM string `json:"certificate_authority"`
	// ClientCA is the sealed state of a per-cluster client-signing CA; nil when keyward's own CA
	// signs the cluster's client certificates.
	ClientCA  []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// StateAt returns the credential's state at now.
func (c *Credential) StateAt(now time.Time) State {
	st := StateOf(c.RevokedAt != nil, c.Active, c.NotBefore, c.ExpiresAt, now)
	if st == StateActive && c.Type == Session && !now.Before(c.CreatedAt.Add(MaxSessionTTL)) {
		// The cap holds whatever expires_at says, so no write anywhere can extend a session.
		return StateExpired
	}
	return st
}

// StateOf is the one definition of a credential's state at now, in the order the states are
// checked: revoked, disabled (not active), pending (before not_before), expired (at or after
// expires_at), else active. The verification cache, which holds the fields in another shape,
// calls it directly.
func StateOf(revoked, active bool, notBefore, expiresAt *time.Time, now time.Time) State {
	switch {
	case revoked:
		return StateRevoked
	case !active:
		return StateDisabled
	case notBefore != nil && now.Before(*notBefore):
		return StatePending
	case expiresAt != nil && !now.Before(*expiresAt):
		return StateExpired
	}
	return StateActive
}

// CredentialSecret is the stored trace of one secret of a credential: its SHA-256 digest. A
// rolled credential's old secret keeps a row with ValidUntil set to the end of its grace period.
type CredentialSecret struct {
	Digest       []byte
	CredentialID int64
	ValidUntil   *time.Time // nil for the current secret
	CreatedAt    time.Time
	// Sealed is the token sealed under the master key, only in projects with recoverable keys.
	Sealed []byte
	// EndsAtFirstUse tells that this rolled-away secret ends, before ValidUntil (its hard
	// limit), as soon as the credential's current secret is first seen.
	EndsAtFirstUse bool
}

// Event is one audit record. Every mutation writes one in the same transaction as the change.
type Event struct {
	ID                int64             `json:"id"`
	Time              time.Time         `json:"time"`
	ActorUserID       int64             `json:"actor_user_id"`
	ActorCredentialID int64             `json:"actor_credential_id"`
	Actor             string            `json:"actor"` // the acting user's name
	Action            string            `json:"action"`
	ProjectID         int64             `json:"project_id"`
	CredentialID      int64             `json:"credential_id"`
	RemoteAddr        string            `json:"remote_addr"`
	Outcome           string            `json:"outcome"` // "success" or "denied"
	Detail            map[string]string `json:"detail,omitempty"`
}

// The outcomes an Event records.
const (
	OutcomeSuccess = "success"
	OutcomeDenied  = "denied"
)

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidSlug reports whether s can name a project: lower-case letters, digits and dashes, at most
// 63 characters, not starting with a dash, and not all digits (URLs take a slug or an id).
func ValidSlug(s string) bool { return slugRE.MatchString(s) && !allDigits(s) }

// NameRule says what ValidName accepts, for the error that refuses a name.
const NameRule = "must be 1-128 letters, digits, '.', '_' or '-', start with a letter or digit, and not be all digits"

// ValidName reports whether s can name a credential or user: letters, digits, '.', '_' and '-',
// at most 128 characters, starting with a letter or digit. Names must not look like numeric ids,
// since URLs accept either.
func ValidName(s string) bool { return nameRE.MatchString(s) && !allDigits(s) }

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// MaxDescription is the longest description a credential may carry, in characters.
const MaxDescription = 100
