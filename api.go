package keyward

import (
	"encoding/json"
	"time"
)

// The types below are the native API's request and response bodies, shared by the authority,
// the HTTP server and the Go client so that there is one definition of each.

// CreateProjectInput creates a project.
type CreateProjectInput struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// CreateCredentialInput creates a credential. At most one of ExpirationDays, ExpiresAt and
// NeverExpires may be given; with none the credential expires after DefaultExpirationDays.
type CreateCredentialInput struct {
	Type           CredentialType    `json:"type,omitempty"`
	Name           string            `json:"name"`
	Description    string            `json:"description,omitempty"`
	ExpirationDays *int64            `json:"expiration_days,omitempty"`
	ExpiresAt      *time.Time        `json:"expires_at,omitempty"`
	NeverExpires   bool              `json:"never_expires,omitempty"`
	NotBefore      *time.Time        `json:"not_before,omitempty"`
	Environment    Environment       `json:"environment,omitempty"`
	KeyType        KeyType           `json:"key_type,omitempty"`
	Meta           map[string]string `json:"meta,omitempty"`
	// Roles are role names or numeric ids; by default the creator's roles in the project. Each
	// must grant nothing the creator lacks there.
	Roles []string `json:"roles,omitempty"`
	// RateLimit, Remaining and Refill bound the key's use (see Credential).
	RateLimit *RateLimit `json:"ratelimit,omitempty"`
	Remaining *int64     `json:"remaining,omitempty"`
	Refill    *Refill    `json:"refill,omitempty"`
	CertificateOptions
	// VirtualK8sName and VirtualK8sNamespace place a KUBE_CONFIG or KUBE_TOKEN credential: the
	// cluster (see /v1/clusters) and the namespace of its context.
	VirtualK8sName      string `json:"virtual_k8s_name,omitempty"`
	VirtualK8sNamespace string `json:"virtual_k8s_namespace,omitempty"`
}

// CertificateOptions shape the certificate of an API_CERTIFICATE (and the key of a KUBE_CONFIG)
// credential, at creation and at each roll.
type CertificateOptions struct {
	// Password protects the PKCS#12 bundle of an API_CERTIFICATE; required there, never
	// stored, logged or echoed.
	Password string `json:"password,omitempty"`
	// KeyAlgorithm is "ecdsa-p256" (default), "rsa-2048" or "rsa-3072".
	KeyAlgorithm string `json:"key_algorithm,omitempty"`
	// Encoding of the PKCS#12 bundle: "modern" (default, AES-256 and PBKDF2) or "legacy" (3DES,
	// for old keychains).
	Encoding string `json:"encoding,omitempty"`
}

// DefaultExpirationDays is the lifetime of a credential created without an expiry.
const DefaultExpirationDays = 90

// MaxExpirationDays bounds expiration_days (ten years); longer lifetimes must say never_expires.
const MaxExpirationDays = 3650

// UpdateCredentialInput changes a credential; nil fields stay as they are. Version is the
// version the caller read (If-Match); 0 skips the check.
type UpdateCredentialInput struct {
	// Name renames the credential; the new name must be free in the project.
	Name         *string            `json:"name,omitempty"`
	Description  *string            `json:"description,omitempty"`
	Meta         *map[string]string `json:"meta,omitempty"`
	ExpiresAt    *time.Time         `json:"expires_at,omitempty"`
	NeverExpires *bool              `json:"never_expires,omitempty"`
	// NotBefore moves the start of validity (an instant at or before the credential's creation
	// means none); ClearNotBefore removes it. API tokens only.
	NotBefore      *time.Time `json:"not_before,omitempty"`
	ClearNotBefore bool       `json:"clear_not_before,omitempty"`
	Active         *bool      `json:"active,omitempty"`
	// Roles replaces the credential's roles (names or ids); none may exceed the caller's rights.
	Roles *[]string `json:"roles,omitempty"`
	// RateLimit and Refill replace the key's limits; ClearRateLimit / ClearRefill remove them.
	// Remaining sets the uses left (ClearRemaining: unlimited).
	RateLimit      *RateLimit `json:"ratelimit,omitempty"`
	ClearRateLimit bool       `json:"clear_ratelimit,omitempty"`
	Remaining      *int64     `json:"remaining,omitempty"`
	ClearRemaining bool       `json:"clear_remaining,omitempty"`
	Refill         *Refill    `json:"refill,omitempty"`
	ClearRefill    bool       `json:"clear_refill,omitempty"`
	Version        int64      `json:"-"`
}

// RenewInput moves a credential's expiry: exactly one of the two fields.
type RenewInput struct {
	ExpirationDays *int64     `json:"expiration_days,omitempty"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
}

// RollInput replaces a credential's secret; an API token's old secret keeps verifying for
// GraceSeconds. A certificate credential is re-issued: a new certificate and key (and, for an
// API_CERTIFICATE, a new password), valid until ExpirationDays from now or, by default, the
// credential's current expiry.
type RollInput struct {
	GraceSeconds int64 `json:"grace_seconds,omitempty"`
	// GraceUntilFirstUse keeps an API token's old secret working until the new one is first
	// seen by a verification or an authentication, GraceSeconds at most (its hard limit; 0:
	// the project policy's first_use_grace_seconds, else DefaultFirstUseGraceSeconds).
	GraceUntilFirstUse bool   `json:"grace_until_first_use,omitempty"`
	ExpirationDays     *int64 `json:"expiration_days,omitempty"`
	CertificateOptions
}

// MaxGraceSeconds bounds a roll's grace period (seven days).
const MaxGraceSeconds = 7 * 24 * 3600

// IssuedCredential is a credential with its secret, returned once by create and roll: Key for
// a token (API_TOKEN, KUBE_TOKEN); Data, base64, for the others and for a KUBE_TOKEN (a PKCS#12
// bundle or a kubeconfig YAML).
type IssuedCredential struct {
	Credential
	Key  string `json:"key,omitempty"`
	Data string `json:"data,omitempty"`
}

// UpdateProjectInput changes a project; nil fields stay as they are.
type UpdateProjectInput struct {
	Name            *string `json:"name,omitempty"`
	RecoverableKeys *bool   `json:"recoverable_keys,omitempty"`
}

// RevealedKey is a recoverable key read again.
type RevealedKey struct {
	CredentialID int64  `json:"id"`
	Key          string `json:"key"`
}

// ClusterInput registers a virtual cluster. ClientCACert and ClientCAKey (PEM) import a CA that
// signs this cluster's client certificates; without them keyward's own CA signs them.
type ClusterInput struct {
	Name                 string `json:"name"`
	Server               string `json:"server"`
	CertificateAuthority string `json:"certificate_authority,omitempty"`
	ClientCACert         string `json:"client_ca_cert,omitempty"`
	ClientCAKey          string `json:"client_ca_key,omitempty"`
}

// KubeUser is who a KUBE_TOKEN is at its cluster, as a TokenReview answers: the user that
// created it, the groups of its roles that the creator still holds in full, and extra
// attributes naming the credential.
type KubeUser struct {
	Username string
	UID      string
	Groups   []string
	Extra    map[string][]string
}

// VerifyInput asks whether a key is valid and, optionally, whether it holds every permission
// listed ("permission" takes one name or a list).
type VerifyInput struct {
	Key        string         `json:"key"`
	Permission PermissionList `json:"permission,omitempty"`
}

// PermissionList is a list of permissions that JSON may give as one string or an array.
type PermissionList []Permission

// UnmarshalJSON accepts "keys:read" as well as ["keys:read", "keys:roll"].
func (l *PermissionList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = PermissionList{Permission(one)}
		return nil
	}
	var many []Permission
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

// The verification codes.
const (
	CodeValid         = "VALID"
	CodeNotFound      = "NOT_FOUND"
	CodeExpired       = "EXPIRED"
	CodeNotYetValid   = "NOT_YET_VALID"
	CodeRevoked       = "REVOKED"
	CodeDisabled      = "DISABLED"
	CodeForbidden     = "FORBIDDEN"
	CodeRateLimited   = "RATE_LIMITED"
	CodeUsageExceeded = "USAGE_EXCEEDED"
)

// VerificationCodes lists every verification code.
var VerificationCodes = []string{CodeValid, CodeNotFound, CodeExpired, CodeNotYetValid, CodeRevoked,
	CodeDisabled, CodeForbidden, CodeRateLimited, CodeUsageExceeded}

// Verification is the answer to a verify call. The credential's fields are present only when
// the key was found.
type Verification struct {
	Valid        bool              `json:"valid"`
	Code         string            `json:"code"`
	CredentialID int64             `json:"id,omitempty"`
	Name         string            `json:"name,omitempty"`
	Project      string            `json:"project,omitempty"`
	Environment  Environment       `json:"environment,omitempty"`
	KeyType      KeyType           `json:"key_type,omitempty"`
	Meta         map[string]string `json:"meta,omitempty"`
	ExpiresAt    *time.Time        `json:"expires_at,omitempty"`
	// Permissions are the key's effective permissions in its project, when it was found.
	Permissions []Permission `json:"permissions,omitempty"`
	// Roles are the names of the key's roles.
	Roles []string `json:"roles,omitempty"`
	// RateLimit is the state of the key's rate limit after this verification, when it has one.
	RateLimit *RateLimitState `json:"ratelimit,omitempty"`
	// Remaining is how many uses the key has left, when its uses are counted.
	Remaining *int64 `json:"remaining,omitempty"`
}

// RateLimitState is a key's rate limit as one verification left it. Reset is how long until
// the full limit is available again (JSON: milliseconds).
type RateLimitState struct {
	Limit     int           `json:"limit"`
	Remaining int           `json:"remaining"`
	Reset     time.Duration `json:"-"`
}

type rateLimitStateJSON struct {
	Limit     int   `json:"limit"`
	Remaining int   `json:"remaining"`
	Reset     int64 `json:"reset"`
}

// MarshalJSON writes Reset in milliseconds.
func (s RateLimitState) MarshalJSON() ([]byte, error) {
	return json.Marshal(rateLimitStateJSON{Limit: s.Limit, Remaining: s.Remaining, Reset: s.Reset.Milliseconds()})
}

// UnmarshalJSON reads Reset in milliseconds.
func (s *RateLimitState) UnmarshalJSON(b []byte) error {
	var j rateLimitStateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	s.Limit, s.Remaining, s.Reset = j.Limit, j.Remaining, time.Duration(j.Reset)*time.Millisecond
	return nil
}

// Whoami describes the caller.
type Whoami struct {
	User        *User                   `json:"user"`
	Credential  *Credential             `json:"credential"`
	Permissions map[string][]Permission `json:"permissions"` // by project slug, "*" for all
}

// Page is one page of a list; NextCursor is empty on the last page.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// CreateUserInput creates a user; without a password the user cannot log in until one is set.
type CreateUserInput struct {
	Name     string `json:"name"`
	Password string `json:"password,omitempty"`
}

// UpdateUserInput disables or enables a user.
type UpdateUserInput struct {
	Disabled *bool `json:"disabled,omitempty"`
}

// SetPasswordInput sets a user's password. A user changing their own password gives the
// current one too; a users:admin caller setting another user's does not.
type SetPasswordInput struct {
	Password        string `json:"password"`
	CurrentPassword string `json:"current_password,omitempty"`
}

// LoginInput exchanges a user name and password for a session token.
type LoginInput struct {
	Name       string `json:"name"`
	Password   string `json:"password"`
	TTLSeconds int64  `json:"ttl_seconds,omitempty"` // default DefaultSessionTTL
}

// RevokedSessions is what ending a user's sessions did: the ids of the sessions it revoked,
// ascending, and the one it kept (the caller's own, 0 for none).
type RevokedSessions struct {
	Revoked []int64 `json:"revoked"`
	Kept    int64   `json:"kept,omitempty"`
}

// Session lifetimes: a session lives DefaultSessionTTL unless its login asks otherwise, and
// never longer than MaxSessionTTL from its creation, whatever its expiry says.
const (
	DefaultSessionTTL = 12 * time.Hour
	MaxSessionTTL     = 7 * 24 * time.Hour
)

// RoleInput creates or changes a custom role. ID may be given at creation (the numeric roleId
// of a dialect); Name and Permissions are required there, optional on update.
type RoleInput struct {
	ID          int64        `json:"id,omitempty"`
	Name        string       `json:"name,omitempty"`
	Permissions []Permission `json:"permissions,omitempty"`
}

// BindingInput grants a role to a user: in a project (members endpoint) or globally (the
// user's roles endpoint). User and Role are names or numeric ids.
type BindingInput struct {
	User string `json:"user,omitempty"`
	Role string `json:"role"`
}

// Binding is a role binding as the API shows it, with names beside the ids. Project is "*"
// for a global binding.
type Binding struct {
	UserID    int64  `json:"user_id"`
	User      string `json:"user"`
	ProjectID int64  `json:"project_id"`
	Project   string `json:"project"`
	RoleID    int64  `json:"role_id"`
	Role      string `json:"role"`
}

// CreateWebhookInput subscribes a URL of a project to webhook event types. Enabled defaults to
// true.
type CreateWebhookInput struct {
	URL         string   `json:"url"`
	Description string   `json:"description,omitempty"`
	Types       []string `json:"types"`
	Enabled     *bool    `json:"enabled,omitempty"`
}

// UpdateWebhookInput changes an endpoint; nil fields stay as they are.
type UpdateWebhookInput struct {
	URL         *string   `json:"url,omitempty"`
	Description *string   `json:"description,omitempty"`
	Types       *[]string `json:"types,omitempty"`
	Enabled     *bool     `json:"enabled,omitempty"`
}

// WebhookWithSecret is an endpoint with its signing secret ("whsec_" and base64), shown once:
// when the endpoint is created and when its secret is rolled.
type WebhookWithSecret struct {
	WebhookEndpoint
	Secret string `json:"secret"`
}

// LeakReportInput reports keyward tokens found exposed (POST /v1/leaks): each token, and where
// they were found: a public URL (may be empty) and what kind of place it is ("commit",
// "paste", ...; at most 64 bytes).
type LeakReportInput struct {
	Tokens []string `json:"tokens"`
	URL    string   `json:"url,omitempty"`
	Source string   `json:"source,omitempty"`
}

// The statuses of a reported token.
const (
	// LeakStatusInvalid: not a keyward token (its format or checksum is wrong).
	LeakStatusInvalid = "not_a_keyward_token"
	// LeakStatusUnknown: a well-formed token this server never issued (or no longer stores).
	LeakStatusUnknown = "unknown"
	// LeakStatusRevoked and LeakStatusDisabled: the report revoked or disabled the key.
	LeakStatusRevoked  = "revoked"
	LeakStatusDisabled = "disabled"
	// LeakStatusAlreadyRevoked and LeakStatusAlreadyDisabled: the key was ended already; the
	// report changed nothing.
	LeakStatusAlreadyRevoked  = "already_revoked"
	LeakStatusAlreadyDisabled = "already_disabled"
)

// LeakStatuses lists every status of a reported token.
var LeakStatuses = []string{LeakStatusInvalid, LeakStatusUnknown, LeakStatusRevoked, LeakStatusDisabled,
	LeakStatusAlreadyRevoked, LeakStatusAlreadyDisabled}

// LeakResult answers a leak report: one entry per token, in the order of the report. It says
// whether each token was a key this server issued and what the report did to it, never whose
// it is.
type LeakResult struct {
	Tokens []LeakedToken `json:"tokens"`
}

// LeakedToken is the answer about one reported token: the SHA-256 of the token in hex (the
// answer never repeats a token), whether it is a key this server issued, and its status.
type LeakedToken struct {
	TokenHash string `json:"token_hash"`
	Known     bool   `json:"known"`
	Status    string `json:"status"`
}
