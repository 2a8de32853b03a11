package keyward

import (
	"encoding/json"
	"time"
)

// The webhook event types a project's endpoints subscribe to. Each is derived from one audit
// event by WebhookType, the one home of that mapping.
const (
	WebhookCredentialCreated      = "credential.created"
	WebhookCredentialRenewed      = "credential.renewed"
	WebhookCredentialRolled       = "credential.rolled"
	WebhookCredentialRevoked      = "credential.revoked"
	WebhookCredentialDisabled     = "credential.disabled"
	WebhookCredentialEnabled      = "credential.enabled"
	WebhookCredentialAutoDisabled = "credential.auto_disabled"
	WebhookCredentialExpiring     = "credential.expiring"
	WebhookCredentialExpired      = "credential.expired"
	WebhookCredentialLeaked       = "credential.leaked"
)

// WebhookTypes lists every webhook event type, in a stable order (validation, OpenAPI enums).
var WebhookTypes = []string{
	WebhookCredentialCreated, WebhookCredentialRenewed, WebhookCredentialRolled, WebhookCredentialRevoked,
	WebhookCredentialDisabled, WebhookCredentialEnabled, WebhookCredentialAutoDisabled,
	WebhookCredentialExpiring, WebhookCredentialExpired, WebhookCredentialLeaked,
}

// ValidWebhookType reports whether s is one of WebhookTypes.
func ValidWebhookType(s string) bool {
	for _, t := range WebhookTypes {
		if s == t {
			return true
		}
	}
	return false
}

// Audit actions that webhooks are made of and that the lifecycle's own methods do not write:
// the expiry sweep's, the auto-disable policy's and the leak reports'.
const (
	ActionCredentialExpiring    = "credential.expiring"
	ActionCredentialExpired     = "credential.expired"
	ActionCredentialAutoDisable = "credential.auto_disable"
	ActionCredentialLeaked      = "credential.leaked"
)

// DetailActive is the detail of a credential.update event that turned the credential off
// ("false") or on ("true"); an update that did neither does not carry it.
const DetailActive = "active"

// WebhookType returns the webhook event type that the audit event ev stands for, or "" when it
// stands for none: only successful events about one credential of a project are sent. The
// store calls it on every event it writes, in the event's transaction (the outbox).
func WebhookType(ev *Event) string {
	if ev == nil || ev.Outcome != OutcomeSuccess || ev.ProjectID == 0 || ev.CredentialID == 0 {
		return ""
	}
	switch ev.Action {
	case "credential.create":
		return WebhookCredentialCreated
	case "credential.renew":
		return WebhookCredentialRenewed
	case "credential.roll":
		return WebhookCredentialRolled
	case "credential.revoke":
		return WebhookCredentialRevoked
	case "credential.update":
		switch ev.Detail[DetailActive] {
		case "false":
			return WebhookCredentialDisabled
		case "true":
			return WebhookCredentialEnabled
		}
	case ActionCredentialAutoDisable:
		return WebhookCredentialAutoDisabled
	case ActionCredentialExpiring:
		return WebhookCredentialExpiring
	case ActionCredentialExpired:
		return WebhookCredentialExpired
	case ActionCredentialLeaked:
		return WebhookCredentialLeaked
	}
	return ""
}

// WebhookPayload is the body of one webhook delivery, as the Standard Webhooks specification
// shapes it: a type, the instant of the change and the data. It never carries a secret.
type WebhookPayload struct {
	Type      string      `json:"type"`
	Timestamp time.Time   `json:"timestamp"`
	Data      WebhookData `json:"data"`
}

// WebhookData describes the credential a webhook is about, as it was when the event was
// written.
type WebhookData struct {
	Project     string         `json:"project"`
	Credential  int64          `json:"credential"`
	Name        string         `json:"name"`
	Type        CredentialType `json:"type"`
	Environment Environment    `json:"environment"`
	State       State          `json:"state"`
	ExpiresAt   *time.Time     `json:"expires_at"`
}

// NewWebhookPayload returns the JSON body of the webhook of type typ for ev about c, which the
// store read in ev's transaction. It returns nil for a login session, which is its user's and
// no project's credential.
func NewWebhookPayload(typ string, ev *Event, c *Credential) ([]byte, error) {
	if c == nil || c.Type == Session {
		return nil, nil
	}
	return json.Marshal(WebhookPayload{Type: typ, Timestamp: ev.Time.UTC(), Data: WebhookData{
		Project: c.Project, Credential: c.ID, Name: c.Name, Type: c.Type, Environment: c.Environment,
		State: c.StateAt(ev.Time), ExpiresAt: c.ExpiresAt,
	}})
}

// WebhookEndpoint is a URL of a project that receives the webhooks of the types it subscribes
// to, signed with its own secret. The secret is kept sealed under the master key, since
// signing needs it; it is shown once, at creation and at each roll.
type WebhookEndpoint struct {
	ID          int64     `json:"id"`
	ProjectID   int64     `json:"project_id"`
	Project     string    `json:"project"` // the project's slug, filled by the store
	URL         string    `json:"url"`
	Description string    `json:"description"`
	Types       []string  `json:"types"`
	Enabled     bool      `json:"enabled"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// SealedSecret is the signing secret sealed under the master key; never rendered.
	SealedSecret []byte `json:"-"`
}

// Subscribes reports whether the endpoint takes webhooks of type typ.
func (e *WebhookEndpoint) Subscribes(typ string) bool {
	for _, t := range e.Types {
		if t == typ {
			return true
		}
	}
	return false
}

// The states of a webhook delivery: pending (due at NextAttemptAt, not tried yet or replayed),
// delivering (a server holds its lease and is sending it), delivered, failed (an attempt
// failed; the next is due at NextAttemptAt) and dead (every attempt failed: only a replay sends
// it again).
const (
	DeliveryPending    = "pending"
	DeliveryDelivering = "delivering"
	DeliveryDelivered  = "delivered"
	DeliveryFailed     = "failed"
	DeliveryDead       = "dead"
)

// DeliveryStates lists the delivery states, in a stable order.
var DeliveryStates = []string{DeliveryPending, DeliveryDelivering, DeliveryDelivered, DeliveryFailed, DeliveryDead}

// WebhookDelivery is one webhook on its way to one endpoint: the outbox row written with the
// change, and the record of its attempts. ID is the webhook-id header, the same on every
// attempt, by which a receiver drops what it already processed.
type WebhookDelivery struct {
	ID            string          `json:"id"`
	EndpointID    int64           `json:"endpoint_id"`
	EventID       int64           `json:"event_id"`
	Type          string          `json:"type"`
	Payload       json.RawMessage `json:"payload"`
	State         string          `json:"state"`
	Attempts      int             `json:"attempts"`
	NextAttemptAt *time.Time      `json:"next_attempt_at"`
	LastStatus    int             `json:"last_status,omitempty"`
	LastError     string          `json:"last_error,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	DeliveredAt   *time.Time      `json:"delivered_at,omitempty"`
	// Seq orders deliveries as they were written (the store's own counter), for paging.
	Seq int64 `json:"-"`
}

// MaxDeliveryError bounds the last error a delivery keeps, in bytes.
const MaxDeliveryError = 300

// WebhookClaim is a delivery one server leased to send: the delivery, where to and with what
// sealed secret, and the lease token that its outcome must present.
type WebhookClaim struct {
	Delivery     *WebhookDelivery
	URL          string
	SealedSecret []byte
	Lease        string
}

// WebhookOutcome is what an attempt came to: State is DeliveryDelivered, DeliveryFailed (with
// NextAttemptAt) or DeliveryDead.
type WebhookOutcome struct {
	State         string
	NextAttemptAt time.Time
	Status        int    // the receiver's HTTP status, 0 when none came
	Error         string // why it failed, bounded to MaxDeliveryError bytes; never a secret
	At            time.Time
}

// ExpiryDue is a credential whose expiry the sweep has not announced yet: Action is
// ActionCredentialExpiring or ActionCredentialExpired.
type ExpiryDue struct {
	Credential *Credential
	Action     string
}

// WebhookDeliveryFilter selects deliveries for ListWebhookDeliveries: one endpoint's, newest
// first.
type WebhookDeliveryFilter struct {
	EndpointID int64
	State      string // "" for any
	BeforeSeq  int64  // 0 starts at the newest
	Limit      int
}
