package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/snapshot"
)

// This file is the webhook outbox: endpoints, the deliveries written in the transaction of the
// event they announce (enqueueWebhooks, called by insertEvent), their claims by the servers'
// dispatchers, and the marks of the expiry sweep.

const endpointColumns = `w.id, w.project_id, p.slug, w.url, w.description, w.types, w.enabled, w.secret,
	w.created_at, w.updated_at`

const endpointFrom = ` FROM webhook_endpoints w JOIN projects p ON p.id = w.project_id`

func scanEndpoint(row rowScanner) (*keyward.WebhookEndpoint, error) {
	var e keyward.WebhookEndpoint
	var types string
	var created, updated Time
	if err := row.Scan(&e.ID, &e.ProjectID, &e.Project, &e.URL, &e.Description, &types, &e.Enabled,
		&e.SealedSecret, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(types), &e.Types); err != nil {
		return nil, fmt.Errorf("sqlstore: webhook endpoint %d types: %w", e.ID, err)
	}
	if e.Types == nil {
		e.Types = []string{}
	}
	e.CreatedAt, e.UpdatedAt = created.T, updated.T
	return &e, nil
}

func typesJSON(types []string) (string, error) {
	if types == nil {
		types = []string{}
	}
	b, err := json.Marshal(types)
	return string(b), err
}

// checkEndpoint refuses what no endpoint may hold.
func checkEndpoint(e *keyward.WebhookEndpoint) error {
	if err := keyward.CheckText(e); err != nil {
		return err
	}
	if len(e.SealedSecret) == 0 {
		return keyward.Invalid("secret", "an endpoint needs its sealed secret")
	}
	return nil
}

// CreateWebhookEndpoint stores e and ev; see keyward.WebhookStore.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, e *keyward.WebhookEndpoint, ev *keyward.Event) error {
	if err := checkEndpoint(e); err != nil {
		return err
	}
	types, err := typesJSON(e.Types)
	if err != nil {
		return err
	}
	ne, nev := *e, *ev
	err = s.change(ctx, "create webhook endpoint", &nev, func(tx *txn) error {
		if err := tx.QueryRowContext(ctx, `SELECT slug FROM projects WHERE id = ?`, ne.ProjectID).Scan(&ne.Project); errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENotFound, "project not found")
		} else if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO webhook_endpoints (project_id, url, description, types, enabled,
			secret, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			ne.ProjectID, ne.URL, ne.Description, types, ne.Enabled, ne.SealedSecret, ne.CreatedAt, ne.UpdatedAt).Scan(&ne.ID); err != nil {
			return err
		}
		nev = withDetailID(nev, "webhook_id", ne.ID)
		if nev.ProjectID == 0 {
			nev.ProjectID = ne.ProjectID
		}
		return nil
	})
	if err != nil {
		return err
	}
	if ne.Types == nil {
		ne.Types = []string{}
	}
	*e, *ev = ne, nev
	return nil
}

// WebhookEndpointByID returns one endpoint of the project. ENotFound.
func (s *Store) WebhookEndpointByID(ctx context.Context, projectID, id int64) (*keyward.WebhookEndpoint, error) {
	e, err := scanEndpoint(s.reader().QueryRowContext(ctx, `SELECT `+endpointColumns+endpointFrom+`
		WHERE w.id = ? AND w.project_id = ?`, id, projectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "webhook endpoint not found")
	}
	return e, s.fail(ctx, "webhook endpoint by id", err)
}

// ListWebhookEndpoints returns the project's endpoints by ascending id; never nil.
func (s *Store) ListWebhookEndpoints(ctx context.Context, projectID int64) ([]*keyward.WebhookEndpoint, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT `+endpointColumns+endpointFrom+` WHERE w.project_id = ? ORDER BY w.id`, projectID)
	es, err := scanRows(rows, err, scanEndpoint)
	return es, s.fail(ctx, "list webhook endpoints", err)
}

// UpdateWebhookEndpoint writes e's mutable fields and ev. ENotFound.
func (s *Store) UpdateWebhookEndpoint(ctx context.Context, e *keyward.WebhookEndpoint, ev *keyward.Event) error {
	if err := checkEndpoint(e); err != nil {
		return err
	}
	types, err := typesJSON(e.Types)
	if err != nil {
		return err
	}
	return s.change(ctx, "update webhook endpoint", ev, func(tx *txn) error {
		ok, err := oneRow(tx.ExecContext(ctx, `UPDATE webhook_endpoints SET url = ?, description = ?, types = ?, enabled = ?,
			secret = ?, updated_at = ? WHERE id = ? AND project_id = ?`,
			e.URL, e.Description, types, e.Enabled, e.SealedSecret, e.UpdatedAt, e.ID, e.ProjectID))
		if err == nil && !ok {
			return keyward.Errorf(keyward.ENotFound, "webhook endpoint not found")
		}
		return err
	})
}

// DeleteWebhookEndpoint deletes an endpoint, its deliveries with it, and writes ev. ENotFound.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, projectID, id int64, ev *keyward.Event) error {
	return s.change(ctx, "delete webhook endpoint", ev, func(tx *txn) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE endpoint_id IN
			(SELECT id FROM webhook_endpoints WHERE id = ? AND project_id = ?)`, id, projectID); err != nil {
			return err
		}
		ok, err := oneRow(tx.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE id = ? AND project_id = ?`, id, projectID))
		if err == nil && !ok {
			return keyward.Errorf(keyward.ENotFound, "webhook endpoint not found")
		}
		return err
	})
}

const deliveryColumns = `d.seq, d.id, d.endpoint_id, d.event_id, d.type, d.payload, d.state, d.attempts,
	d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.updated_at, d.delivered_at`

// deliveryScan reads deliveryColumns, and the lease when asked (the dump's columns).
type deliveryScan struct {
	d                                 keyward.WebhookDelivery
	payload                           string
	next, created, updated, delivered Time
}

func (ds *deliveryScan) dest() []any {
	return []any{&ds.d.Seq, &ds.d.ID, &ds.d.EndpointID, &ds.d.EventID, &ds.d.Type, &ds.payload, &ds.d.State,
		&ds.d.Attempts, &ds.next, &ds.d.LastStatus, &ds.d.LastError, &ds.created, &ds.updated, &ds.delivered}
}

// delivery returns what was scanned. NextAttemptAt is shown only while an attempt is to come.
func (ds *deliveryScan) delivery() *keyward.WebhookDelivery {
	d := ds.d
	d.Payload = json.RawMessage(ds.payload)
	d.CreatedAt, d.UpdatedAt, d.DeliveredAt = ds.created.T, ds.updated.T, ds.delivered.Ptr()
	switch d.State {
	case keyward.DeliveryPending, keyward.DeliveryFailed, keyward.DeliveryDelivering:
		d.NextAttemptAt = ds.next.Ptr()
	}
	return &d
}

func scanDelivery(row rowScanner) (*keyward.WebhookDelivery, error) {
	var ds deliveryScan
	if err := row.Scan(ds.dest()...); err != nil {
		return nil, err
	}
	return ds.delivery(), nil
}

// ListWebhookDeliveries returns an endpoint's deliveries, newest first; never nil.
func (s *Store) ListWebhookDeliveries(ctx context.Context, f keyward.WebhookDeliveryFilter) ([]*keyward.WebhookDelivery, error) {
	q := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries d WHERE d.endpoint_id = ?`
	args := []any{f.EndpointID}
	if f.State != "" {
		q += ` AND d.state = ?`
		args = append(args, f.State)
	}
	if f.BeforeSeq > 0 {
		q += ` AND d.seq < ?`
		args = append(args, f.BeforeSeq)
	}
	q += ` ORDER BY d.seq DESC LIMIT ?`
	args = append(args, limit(f.Limit))
	rows, err := s.reader().QueryContext(ctx, q, args...)
	ds, err := scanRows(rows, err, scanDelivery)
	return ds, s.fail(ctx, "list webhook deliveries", err)
}

// ReplayWebhookDelivery puts a failed or dead delivery back to pending. ENotFound, EConflict.
func (s *Store) ReplayWebhookDelivery(ctx context.Context, endpointID int64, id string, at time.Time, ev *keyward.Event) (*keyward.WebhookDelivery, error) {
	if !keyward.ValidText(id) {
		return nil, keyward.Errorf(keyward.ENotFound, "webhook delivery not found")
	}
	var out *keyward.WebhookDelivery
	err := s.change(ctx, "replay webhook delivery", ev, func(tx *txn) error {
		var state string
		err := tx.QueryRowContext(ctx, `SELECT state FROM webhook_deliveries WHERE id = ? AND endpoint_id = ?`+tx.forUpdate(""),
			id, endpointID).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENotFound, "webhook delivery not found")
		} else if err != nil {
			return err
		}
		if state != keyward.DeliveryFailed && state != keyward.DeliveryDead {
			return keyward.Errorf(keyward.EConflict, "only a failed or dead delivery can be replayed; this one is %s", state)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = ?, attempts = 0, next_attempt_at = ?,
			lease_until = NULL, lease_token = NULL, updated_at = ? WHERE id = ?`, keyward.DeliveryPending, at, at, id); err != nil {
			return err
		}
		out, err = scanDelivery(tx.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d WHERE d.id = ?`, id))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ClaimWebhookDeliveries leases due deliveries; see keyward.WebhookStore. On PostgreSQL the
// rows are taken FOR UPDATE SKIP LOCKED, so concurrent claimers split them instead of waiting
// for each other; SQLite serializes its writers, so the UPDATE alone decides.
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, now time.Time, lease time.Duration, n int) ([]*keyward.WebhookClaim, error) {
	token, err := randomID("lease_")
	if err != nil {
		return nil, err
	}
	var claims []*keyward.WebhookClaim
	err = s.inTx(ctx, "claim webhook deliveries", func(tx *txn) error {
		lock := tx.forUpdate("d")
		if lock != "" {
			lock += " SKIP LOCKED"
		}
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1,
			lease_until = ?, lease_token = ?, updated_at = ?
			WHERE seq IN (SELECT d.seq FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
				WHERE w.enabled AND ((d.state IN (?, ?) AND d.next_attempt_at <= ?) OR (d.state = ? AND d.lease_until <= ?))
				ORDER BY d.next_attempt_at, d.seq LIMIT ?`+lock+`)`,
			keyward.DeliveryDelivering, now.Add(lease), token, now,
			keyward.DeliveryPending, keyward.DeliveryFailed, now, keyward.DeliveryDelivering, now, limit(n))
		if err != nil {
			return err
		}
		if k, err := res.RowsAffected(); err != nil || k == 0 {
			claims = []*keyward.WebhookClaim{}
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+deliveryColumns+`, w.url, w.secret
			FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
			WHERE d.lease_token = ? ORDER BY d.seq`, token)
		claims, err = scanRows(rows, err, func(row rowScanner) (*keyward.WebhookClaim, error) {
			var ds deliveryScan
			c := &keyward.WebhookClaim{Lease: token}
			if err := row.Scan(append(ds.dest(), &c.URL, &c.SealedSecret)...); err != nil {
				return nil, err
			}
			c.Delivery = ds.delivery()
			return c, nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// FinishWebhookDelivery records an attempt's outcome under its lease; see keyward.WebhookStore.
func (s *Store) FinishWebhookDelivery(ctx context.Context, id, lease string, o keyward.WebhookOutcome) (bool, error) {
	switch o.State {
	case keyward.DeliveryDelivered, keyward.DeliveryFailed, keyward.DeliveryDead:
	default:
		return false, keyward.Invalid("state", "must be delivered, failed or dead")
	}
	msg := boundError(o.Error)
	next := o.NextAttemptAt
	if o.State != keyward.DeliveryFailed || next.IsZero() {
		next = o.At
	}
	var delivered *time.Time
	if o.State == keyward.DeliveryDelivered {
		delivered = &o.At
	}
	var ok bool
	err := s.inTx(ctx, "finish webhook delivery", func(tx *txn) error {
		var err error
		ok, err = oneRow(tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = ?, next_attempt_at = ?, lease_until = NULL,
			lease_token = NULL, last_status = ?, last_error = ?, updated_at = ?, delivered_at = ?
			WHERE id = ? AND lease_token = ? AND state = ?`,
			o.State, next, o.Status, msg, o.At, delivered, id, lease, keyward.DeliveryDelivering))
		return err
	})
	return ok, err
}

// boundError keeps a delivery's error short and storable on both engines.
func boundError(s string) string {
	s = snapshot.ValidText(s)
	if len(s) > keyward.MaxDeliveryError {
		s = strings.ToValidUTF8(s[:keyward.MaxDeliveryError], "")
	}
	return s
}

// enqueueWebhooks writes the outbox rows of the event ev (stored as eventID) in its
// transaction: one pending delivery per enabled endpoint of its project subscribed to its type.
func enqueueWebhooks(ctx context.Context, tx *txn, ev *keyward.Event, eventID int64) error {
	typ := keyward.WebhookType(ev)
	if typ == "" {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, types FROM webhook_endpoints WHERE project_id = ? AND enabled ORDER BY id`, ev.ProjectID)
	type sub struct {
		id    int64
		types string
	}
	subs, err := scanRows(rows, err, func(row rowScanner) (sub, error) {
		var s sub
		err := row.Scan(&s.id, &s.types)
		return s, err
	})
	if err != nil {
		return err
	}
	var endpoints []int64
	for _, s := range subs {
		e := keyward.WebhookEndpoint{}
		if err := json.Unmarshal([]byte(s.types), &e.Types); err != nil {
			return fmt.Errorf("sqlstore: webhook endpoint %d types: %w", s.id, err)
		}
		if e.Subscribes(typ) {
			endpoints = append(endpoints, s.id)
		}
	}
	if len(endpoints) == 0 {
		return nil
	}
	c, err := scanCredential(tx.QueryRowContext(ctx, `SELECT `+tx.e.credentialColumns+credentialFrom+`
		WHERE c.id = ? AND c.project_id = ?`, ev.CredentialID, ev.ProjectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil // an event about a credential that is not there announces nothing
	} else if err != nil {
		return err
	}
	payload, err := keyward.NewWebhookPayload(typ, ev, c)
	if err != nil || payload == nil {
		return err
	}
	for _, ep := range endpoints {
		id, err := randomID("msg_")
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, endpoint_id, event_id, type, payload, state,
			attempts, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
			id, ep, eventID, typ, string(payload), keyward.DeliveryPending, ev.Time, ev.Time, ev.Time); err != nil {
			return err
		}
	}
	return nil
}

// randomID returns prefix and 26 base32 characters of crypto/rand (130 bits): a webhook-id,
// unique without coordination between servers, or a lease token.
func randomID(prefix string) (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	var b [26]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return prefix + string(b[:]), nil
}

// DueExpiries returns the credentials whose expiry the sweep has to announce; see
// keyward.WebhookStore.
func (s *Store) DueExpiries(ctx context.Context, now time.Time, lead, window time.Duration, n int) ([]keyward.ExpiryDue, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT `+s.e.credentialColumns+credentialFrom+`
		WHERE c.revoked_at IS NULL AND c.type <> ? AND c.expires_at IS NOT NULL AND (
			(c.expires_at > ? AND c.expires_at <= ? AND NOT EXISTS (SELECT 1 FROM webhook_expiry_marks m
				WHERE m.credential_id = c.id AND m.action = ? AND m.expires_at = c.expires_at))
			OR (c.expires_at <= ? AND c.expires_at > ? AND NOT EXISTS (SELECT 1 FROM webhook_expiry_marks m
				WHERE m.credential_id = c.id AND m.action = ? AND m.expires_at = c.expires_at)))
		ORDER BY c.id LIMIT ?`,
		string(keyward.Session), now, now.Add(lead), keyward.ActionCredentialExpiring,
		now, now.Add(-window), keyward.ActionCredentialExpired, limit(n))
	cs, err := scanRows(rows, err, scanCredential)
	if err != nil {
		return nil, s.fail(ctx, "due expiries", err)
	}
	out := make([]keyward.ExpiryDue, 0, len(cs))
	for _, c := range cs {
		action := keyward.ActionCredentialExpired
		if c.ExpiresAt.After(now) {
			action = keyward.ActionCredentialExpiring
		}
		out = append(out, keyward.ExpiryDue{Credential: c, Action: action})
	}
	return out, nil
}

// MarkExpiry records an announced expiry and writes ev with it; EConflict when it was
// announced before.
func (s *Store) MarkExpiry(ctx context.Context, credentialID int64, action string, expiresAt time.Time, ev *keyward.Event) error {
	if action != keyward.ActionCredentialExpiring && action != keyward.ActionCredentialExpired {
		return keyward.Invalid("action", "must be credential.expiring or credential.expired")
	}
	return s.change(ctx, "mark expiry", ev, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO webhook_expiry_marks (credential_id, action, expires_at) VALUES (?, ?, ?)`,
			credentialID, action, expiresAt)
		if tx.isUnique(err) {
			return keyward.Errorf(keyward.EConflict, "the expiry was announced before")
		}
		if tx.isForeignKey(err) {
			return keyward.Errorf(keyward.ENotFound, "credential not found")
		}
		return err
	})
}
