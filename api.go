package keyward

import "time"

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
}

// DefaultExpirationDays is the lifetime of a credential created without an expiry.
const DefaultExpirationDays = 90

// MaxExpirationDays bounds expiration_days (ten years); longer lifetimes must say never_expires.
const MaxExpirationDays = 3650

// UpdateCredentialInput changes a credential; nil fields stay as they are. Version is the
// version the caller read (If-Match); 0 skips the check.
type UpdateCredentialInput struct {
	Description  *string            `json:"description,omitempty"`
	Meta         *map[string]string `json:"meta,omitempty"`
	ExpiresAt    *time.Time         `json:"expires_at,omitempty"`
	NeverExpires *bool              `json:"never_expires,omitempty"`
	Active       *bool              `json:"active,omitempty"`
	Version      int64              `json:"-"`
}

// RenewInput moves a credential's expiry: exactly one of the two fields.
type RenewInput struct {
	ExpirationDays *int64     `json:"expiration_days,omitempty"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
}

// RollInput replaces a credential's secret; the old one keeps verifying for GraceSeconds.
type RollInput struct {
	GraceSeconds int64 `json:"grace_seconds,omitempty"`
}

// MaxGraceSeconds bounds a roll's grace period (seven days).
const MaxGraceSeconds = 7 * 24 * 3600

// IssuedCredential is a credential with its secret, returned once by create and roll.
type IssuedCredential struct {
	Credential
	Key string `json:"key"`
}

// VerifyInput asks whether a key is valid.
type VerifyInput struct {
	Key string `json:"key"`
}

// The verification codes.
const (
	CodeValid       = "VALID"
	CodeNotFound    = "NOT_FOUND"
	CodeExpired     = "EXPIRED"
	CodeNotYetValid = "NOT_YET_VALID"
	CodeRevoked     = "REVOKED"
	CodeDisabled    = "DISABLED"
)

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
