package authority

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward"
)

// webhookLabel binds a sealed webhook signing secret to its purpose (see masterkey).
const webhookLabel = "keyward-webhook-secret"

// Webhook limits.
const (
	maxWebhookURL = 2048
	// DefaultExpiringLead is how long before expires_at the sweep announces credential.expiring.
	DefaultExpiringLead = 7 * 24 * time.Hour
	// expiredWindow bounds how late the sweep announces credential.expired: a server that
	// starts after a long pause, or a store copied from elsewhere, does not announce every key
	// that expired in years past.
	expiredWindow = 7 * 24 * time.Hour
)

// webhookURLRule says what an endpoint URL must be, for the error that refuses one.
const webhookURLRule = "must be an absolute http:// or https:// URL with a host, without user or password, at most 2048 characters"

// validWebhookURL reports whether s may be an endpoint: only http and https are sent to, and
// credentials in the URL would be shown to every reader of the endpoint.
func validWebhookURL(s string) bool {
	if s == "" || len(s) > maxWebhookURL || !keyward.ValidText(s) || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil && u.Hostname() != ""
}

// webhookTypes checks the types an endpoint subscribes to and returns them in WebhookTypes'
// order without duplicates.
func webhookTypes(fe fieldErrors, types []string) []string {
	if len(types) == 0 {
		fe.add("types", "subscribe to at least one of "+strings.Join(keyward.WebhookTypes, ", "))
		return nil
	}
	for _, t := range types {
		if !keyward.ValidWebhookType(t) {
			fe.add("types", "unknown type "+strconv.Quote(t)+"; the types are "+strings.Join(keyward.WebhookTypes, ", "))
			return nil
		}
	}
	out := []string{}
	for _, t := range keyward.WebhookTypes {
		if slices.Contains(types, t) {
			out = append(out, t)
		}
	}
	return out
}

func checkWebhookDescription(fe fieldErrors, d string) {
	if !keyward.ValidText(d) || utf8.RuneCountInString(d) > keyward.MaxDescription {
		fe.add("description", "must be at most 100 characters")
	}
}

// newWebhookSecret returns a new signing secret, as Standard Webhooks writes one, and it sealed.
func (a *Authority) newWebhookSecret() (string, []byte, error) {
	if a.mk == nil {
		return "", nil, keyward.Errorf(keyward.EUnavailable, "this server has no master key to keep webhook secrets with")
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	secret := "whsec_" + base64.StdEncoding.EncodeToString(b[:])
	sealed, err := a.mk.Seal([]byte(secret), webhookLabel)
	if err != nil {
		return "", nil, err
	}
	return secret, sealed, nil
}

// OpenWebhookSecret opens an endpoint's sealed signing secret, for the dispatcher that signs
// its deliveries.
func (a *Authority) OpenWebhookSecret(sealed []byte) (string, error) {
	if a.mk == nil {
		return "", keyward.Errorf(keyward.EUnavailable, "this server has no master key to open webhook secrets with")
	}
	b, err := a.mk.Open(sealed, webhookLabel)
	return string(b), err
}

// CreateWebhook subscribes a URL of the project to webhook types and returns the endpoint with
// its signing secret, shown this once. It needs projects:admin there.
func (a *Authority) CreateWebhook(ctx context.Context, projectRef string, in keyward.CreateWebhookInput) (*keyward.WebhookWithSecret, error) {
	p, err := a.resolveProject(ctx, projectRef, keyward.PermProjectsAdmin)
	if err != nil {
		return nil, err
	}
	fe := fieldErrors{}
	if !validWebhookURL(in.URL) {
		fe.add("url", webhookURLRule)
	}
	checkWebhookDescription(fe, in.Description)
	types := webhookTypes(fe, in.Types)
	if err := fe.err(); err != nil {
		return nil, err
	}
	secret, sealed, err := a.newWebhookSecret()
	if err != nil {
		return nil, err
	}
	now := a.clock()
	e := &keyward.WebhookEndpoint{ProjectID: p.ID, URL: in.URL, Description: in.Description, Types: types,
		Enabled: in.Enabled == nil || *in.Enabled, CreatedAt: now, UpdatedAt: now, SealedSecret: sealed}
	ev := a.event(ctx, "webhook.create", p.ID, 0, now)
	ev.Detail = map[string]string{"types": strings.Join(types, ",")}
	if err := a.store.CreateWebhookEndpoint(ctx, e, ev); err != nil {
		return nil, err
	}
	return &keyward.WebhookWithSecret{WebhookEndpoint: *e, Secret: secret}, nil
}

// webhook returns the endpoint ref (its id) of the project, for a caller with projects:admin
// there.
func (a *Authority) webhook(ctx context.Context, projectRef, ref string) (*keyward.WebhookEndpoint, error) {
	p, err := a.resolveProject(ctx, projectRef, keyward.PermProjectsAdmin)
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseInt(ref, 10, 64)
	if err != nil || id <= 0 {
		return nil, keyward.Errorf(keyward.ENotFound, "webhook endpoint %s not found", strconv.Quote(ref))
	}
	e, err := a.store.WebhookEndpointByID(ctx, p.ID, id)
	if isCode(err, keyward.ENotFound) {
		return nil, keyward.Errorf(keyward.ENotFound, "webhook endpoint %d not found", id)
	}
	return e, err
}

// Webhook returns one endpoint of the project. It needs projects:admin there.
func (a *Authority) Webhook(ctx context.Context, projectRef, ref string) (*keyward.WebhookEndpoint, error) {
	return a.webhook(ctx, projectRef, ref)
}

// ListWebhooks returns the project's endpoints. It needs projects:admin there.
func (a *Authority) ListWebhooks(ctx context.Context, projectRef string) (*keyward.Page[*keyward.WebhookEndpoint], error) {
	p, err := a.resolveProject(ctx, projectRef, keyward.PermProjectsAdmin)
	if err != nil {
		return nil, err
	}
	es, err := a.store.ListWebhookEndpoints(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return &keyward.Page[*keyward.WebhookEndpoint]{Items: es}, nil
}

// UpdateWebhook changes an endpoint's URL, description, types or enabled. It needs
// projects:admin in the project. Deliveries already written keep their payload; disabling an
// endpoint pauses its deliveries, enabling it resumes them.
func (a *Authority) UpdateWebhook(ctx context.Context, projectRef, ref string, in keyward.UpdateWebhookInput) (*keyward.WebhookEndpoint, error) {
	e, err := a.webhook(ctx, projectRef, ref)
	if err != nil {
		return nil, err
	}
	if in.URL == nil && in.Description == nil && in.Types == nil && in.Enabled == nil {
		return nil, keyward.Errorf(keyward.EInvalid, "nothing to change: give url, description, types or enabled")
	}
	fe := fieldErrors{}
	if in.URL != nil {
		if !validWebhookURL(*in.URL) {
			fe.add("url", webhookURLRule)
		}
		e.URL = *in.URL
	}
	if in.Description != nil {
		checkWebhookDescription(fe, *in.Description)
		e.Description = *in.Description
	}
	if in.Types != nil {
		e.Types = webhookTypes(fe, *in.Types)
	}
	if in.Enabled != nil {
		e.Enabled = *in.Enabled
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	e.UpdatedAt = a.clock()
	ev := a.event(ctx, "webhook.update", e.ProjectID, 0, e.UpdatedAt)
	ev.Detail = map[string]string{"webhook_id": strconv.FormatInt(e.ID, 10), "enabled": boolString(e.Enabled),
		"types": strings.Join(e.Types, ",")}
	if err := a.store.UpdateWebhookEndpoint(ctx, e, ev); err != nil {
		return nil, err
	}
	return e, nil
}

// RollWebhookSecret gives an endpoint a new signing secret, returned this once; deliveries
// sent from then on, retries included, are signed with it.
func (a *Authority) RollWebhookSecret(ctx context.Context, projectRef, ref string) (*keyward.WebhookWithSecret, error) {
	e, err := a.webhook(ctx, projectRef, ref)
	if err != nil {
		return nil, err
	}
	secret, sealed, err := a.newWebhookSecret()
	if err != nil {
		return nil, err
	}
	e.SealedSecret, e.UpdatedAt = sealed, a.clock()
	ev := a.event(ctx, "webhook.roll_secret", e.ProjectID, 0, e.UpdatedAt)
	ev.Detail = map[string]string{"webhook_id": strconv.FormatInt(e.ID, 10)}
	if err := a.store.UpdateWebhookEndpoint(ctx, e, ev); err != nil {
		return nil, err
	}
	return &keyward.WebhookWithSecret{WebhookEndpoint: *e, Secret: secret}, nil
}

// DeleteWebhook removes an endpoint and its deliveries. It needs projects:admin in the project.
func (a *Authority) DeleteWebhook(ctx context.Context, projectRef, ref string) error {
	e, err := a.webhook(ctx, projectRef, ref)
	if err != nil {
		return err
	}
	ev := a.event(ctx, "webhook.delete", e.ProjectID, 0, a.clock())
	ev.Detail = map[string]string{"webhook_id": strconv.FormatInt(e.ID, 10)}
	return a.store.DeleteWebhookEndpoint(ctx, e.ProjectID, e.ID, ev)
}

// ListWebhookDeliveriesInput pages an endpoint's deliveries, newest first.
type ListWebhookDeliveriesInput struct {
	State  string // "" for any
	Cursor string
	Limit  int
}

// ListWebhookDeliveries returns an endpoint's deliveries and their attempts, newest first. It
// needs projects:admin in the project.
func (a *Authority) ListWebhookDeliveries(ctx context.Context, projectRef, ref string, in ListWebhookDeliveriesInput) (*keyward.Page[*keyward.WebhookDelivery], error) {
	e, err := a.webhook(ctx, projectRef, ref)
	if err != nil {
		return nil, err
	}
	if in.State != "" && !slices.Contains(keyward.DeliveryStates, in.State) {
		return nil, keyward.Invalid("state", "must be one of "+strings.Join(keyward.DeliveryStates, ", "))
	}
	before, err := decodeCursor(in.Cursor)
	if err != nil {
		return nil, err
	}
	limit, err := pageSize(in.Limit)
	if err != nil {
		return nil, err
	}
	ds, err := a.store.ListWebhookDeliveries(ctx, keyward.WebhookDeliveryFilter{EndpointID: e.ID, State: in.State,
		BeforeSeq: before, Limit: limit + 1})
	if err != nil {
		return nil, err
	}
	return paginate(ds, limit, func(d *keyward.WebhookDelivery) int64 { return d.Seq }), nil
}

// ReplayWebhookDelivery sends a failed or dead delivery again, from the first attempt of the
// schedule, with the same webhook-id (a receiver that processed it drops it). It needs
// projects:admin in the project.
func (a *Authority) ReplayWebhookDelivery(ctx context.Context, projectRef, ref, delivery string) (*keyward.WebhookDelivery, error) {
	e, err := a.webhook(ctx, projectRef, ref)
	if err != nil {
		return nil, err
	}
	now := a.clock()
	ev := a.event(ctx, "webhook.replay", e.ProjectID, 0, now)
	ev.Detail = map[string]string{"webhook_id": strconv.FormatInt(e.ID, 10), "delivery": delivery}
	if !keyward.ValidText(delivery) || len(delivery) > 64 {
		return nil, keyward.Errorf(keyward.ENotFound, "webhook delivery not found")
	}
	return a.store.ReplayWebhookDelivery(ctx, e.ID, delivery, now, ev)
}

// SweepExpiries announces, once per credential and expiry, the credentials whose expires_at
// comes within lead (credential.expiring; DefaultExpiringLead when lead is 0) and those whose
// expires_at has passed in the last week (credential.expired), each as an audit event written
// with its mark, and so with its webhooks. Servers sweeping at once announce each expiry once:
// the mark is written once. It returns how many it announced.
func (a *Authority) SweepExpiries(ctx context.Context, lead time.Duration) (int, error) {
	if lead <= 0 {
		lead = DefaultExpiringLead
	}
	const batch = 200
	now := a.clock()
	n := 0
	for range 1000 { // at most 200,000 per sweep; the next sweep goes on
		due, err := a.store.DueExpiries(ctx, now, lead, expiredWindow, batch)
		if err != nil {
			return n, err
		}
		for _, d := range due {
			c := d.Credential
			ev := &keyward.Event{Time: now, Actor: "system", Action: d.Action, ProjectID: c.ProjectID, CredentialID: c.ID,
				Outcome: keyward.OutcomeSuccess, Detail: map[string]string{"expires_at": c.ExpiresAt.UTC().Format(time.RFC3339Nano)}}
			err := a.store.MarkExpiry(ctx, c.ID, d.Action, *c.ExpiresAt, ev)
			switch {
			case isCode(err, keyward.EConflict), isCode(err, keyward.ENotFound):
				continue // another server announced it, or the credential is gone
			case err != nil:
				return n, err
			}
			n++
		}
		if len(due) < batch {
			break
		}
	}
	return n, nil
}
