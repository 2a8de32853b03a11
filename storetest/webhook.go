package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// endpoint stores an endpoint of p subscribed to types.
func (f *fixture) endpoint(t *testing.T, p *keyward.Project, enabled bool, types ...string) *keyward.WebhookEndpoint {
	t.Helper()
	e := &keyward.WebhookEndpoint{ProjectID: p.ID, URL: "https://hooks.example.com/" + p.Slug, Description: "receiver",
		Types: types, Enabled: enabled, CreatedAt: t0, UpdatedAt: t0, SealedSecret: sealed("whsec")}
	if err := f.s.CreateWebhookEndpoint(t.Context(), e, f.event("webhook.create")); err != nil {
		t.Fatalf("CreateWebhookEndpoint: %v", err)
	}
	return e
}

func (f *fixture) deliveries(t *testing.T, e *keyward.WebhookEndpoint) []*keyward.WebhookDelivery {
	t.Helper()
	ds, err := f.s.ListWebhookDeliveries(t.Context(), keyward.WebhookDeliveryFilter{EndpointID: e.ID})
	if err != nil {
		t.Fatalf("ListWebhookDeliveries: %v", err)
	}
	return ds
}

func testWebhookEndpoints(t *testing.T, open func(t *testing.T) keyward.Store) {
	f := setup(t, open)
	ctx := t.Context()
	acme := f.project(t, "acme")
	wantCode(t, f.s.CreateWebhookEndpoint(ctx, &keyward.WebhookEndpoint{ProjectID: 999, URL: "https://x", Types: []string{},
		SealedSecret: sealed("s"), CreatedAt: t0, UpdatedAt: t0}, f.event("webhook.create")), keyward.ENotFound)
	wantCode(t, f.s.CreateWebhookEndpoint(ctx, &keyward.WebhookEndpoint{ProjectID: acme.ID, URL: "https://x\x00",
		SealedSecret: sealed("s"), CreatedAt: t0, UpdatedAt: t0}, f.event("webhook.create")), keyward.EInvalid)
	ev := f.event("webhook.create")
	e := &keyward.WebhookEndpoint{ProjectID: acme.ID, URL: "https://hooks.example.com/a", Description: "d",
		Types: []string{keyward.WebhookCredentialCreated}, Enabled: true, CreatedAt: t0, UpdatedAt: t0, SealedSecret: sealed("one")}
	if err := f.s.CreateWebhookEndpoint(ctx, e, ev); err != nil {
		t.Fatalf("CreateWebhookEndpoint: %v", err)
	}
	if e.ID == 0 || e.Project != "acme" || ev.ID == 0 || ev.ProjectID != acme.ID || ev.Detail["webhook_id"] == "" {
		t.Fatalf("after create: %+v, event %+v", e, ev)
	}
	got, err := f.s.WebhookEndpointByID(ctx, acme.ID, e.ID)
	if err != nil || got.URL != e.URL || string(got.SealedSecret) != "sealed:one" || !got.Enabled || len(got.Types) != 1 ||
		!got.CreatedAt.Equal(t0) {
		t.Fatalf("WebhookEndpointByID = %+v, %v", got, err)
	}
	_, err = f.s.WebhookEndpointByID(ctx, f.system.ID, e.ID)
	wantCode(t, err, keyward.ENotFound)

	e.URL, e.Enabled, e.Types, e.SealedSecret, e.UpdatedAt = "http://other.example/", false, []string{}, sealed("two"), at(time.Hour)
	if err := f.s.UpdateWebhookEndpoint(ctx, e, f.event("webhook.update")); err != nil {
		t.Fatalf("UpdateWebhookEndpoint: %v", err)
	}
	list, err := f.s.ListWebhookEndpoints(ctx, acme.ID)
	if err != nil || len(list) != 1 || list[0].URL != e.URL || list[0].Enabled || string(list[0].SealedSecret) != "sealed:two" ||
		list[0].Types == nil || !list[0].UpdatedAt.Equal(at(time.Hour)) {
		t.Fatalf("ListWebhookEndpoints = %+v, %v", list, err)
	}
	if l, err := f.s.ListWebhookEndpoints(ctx, f.system.ID); err != nil || l == nil || len(l) != 0 {
		t.Fatalf("ListWebhookEndpoints(system) = %v, %v", l, err)
	}
	missing := *e
	missing.ID = 999
	wantCode(t, f.s.UpdateWebhookEndpoint(ctx, &missing, f.event("webhook.update")), keyward.ENotFound)
	wantCode(t, f.s.DeleteWebhookEndpoint(ctx, f.system.ID, e.ID, f.event("webhook.delete")), keyward.ENotFound)
	if err := f.s.DeleteWebhookEndpoint(ctx, acme.ID, e.ID, f.event("webhook.delete")); err != nil {
		t.Fatalf("DeleteWebhookEndpoint: %v", err)
	}
	_, err = f.s.WebhookEndpointByID(ctx, acme.ID, e.ID)
	wantCode(t, err, keyward.ENotFound)
}

// testWebhookOutbox: an event with a webhook type writes one delivery per enabled endpoint of
// its project subscribed to the type, in its transaction, and none when it rolls back.
func testWebhookOutbox(t *testing.T, open func(t *testing.T) keyward.Store) {
	f := setup(t, open)
	ctx := t.Context()
	acme, beta := f.project(t, "acme"), f.project(t, "beta")
	created := f.endpoint(t, acme, true, keyward.WebhookCredentialCreated, keyward.WebhookCredentialRevoked)
	revokedOnly := f.endpoint(t, acme, true, keyward.WebhookCredentialRevoked)
	off := f.endpoint(t, acme, false, keyward.WebhookTypes...)
	elsewhere := f.endpoint(t, beta, true, keyward.WebhookTypes...)

	c, _ := f.credential(t, acme, "web", nil)
	ds := f.deliveries(t, created)
	if len(ds) != 1 {
		t.Fatalf("%d deliveries, want 1", len(ds))
	}
	d := ds[0]
	if d.State != keyward.DeliveryPending || d.Attempts != 0 || d.Type != keyward.WebhookCredentialCreated ||
		d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(t0) || d.EventID == 0 || d.ID == "" || d.EndpointID != created.ID {
		t.Fatalf("delivery = %+v", d)
	}
	var p keyward.WebhookPayload
	if err := json.Unmarshal(d.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != d.Type || p.Data.Credential != c.ID || p.Data.Project != "acme" || p.Data.Name != "web" ||
		p.Data.State != keyward.StateActive || !p.Timestamp.Equal(t0) {
		t.Fatalf("payload = %+v", p)
	}
	for _, e := range []*keyward.WebhookEndpoint{revokedOnly, off, elsewhere} {
		if n := len(f.deliveries(t, e)); n != 0 {
			t.Fatalf("endpoint %d got %d deliveries, want 0", e.ID, n)
		}
	}
	// A denied event, and an event of no webhook type, write none.
	denied := f.event("credential.create")
	denied.Outcome, denied.ProjectID, denied.CredentialID = keyward.OutcomeDenied, acme.ID, c.ID
	if err := f.s.AppendEvent(ctx, denied); err != nil {
		t.Fatal(err)
	}
	// A rolled back change writes none.
	boom := errors.New("boom")
	err := f.s.WithTx(ctx, func(tx keyward.Store) error {
		c.RevokedAt, c.UpdatedAt = ptr(at(time.Minute)), at(time.Minute)
		ev := f.event("credential.revoke")
		ev.ProjectID, ev.CredentialID = acme.ID, c.ID
		if err := tx.UpdateCredential(ctx, c, ev); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WithTx = %v", err)
	}
	if n := len(f.deliveries(t, created)) + len(f.deliveries(t, revokedOnly)); n != 1 {
		t.Fatalf("%d deliveries after a denied event and a rollback, want 1", n)
	}
	c = f.reread(t, c)
	c.RevokedAt, c.UpdatedAt = ptr(at(time.Minute)), at(time.Minute)
	ev := f.event("credential.revoke")
	ev.ProjectID, ev.CredentialID, ev.Time = acme.ID, c.ID, at(time.Minute)
	if err := f.s.UpdateCredential(ctx, c, ev); err != nil {
		t.Fatal(err)
	}
	if n, m := len(f.deliveries(t, created)), len(f.deliveries(t, revokedOnly)); n != 2 || m != 1 {
		t.Fatalf("after the revocation: %d and %d deliveries, want 2 and 1", n, m)
	}
	if err := json.Unmarshal(f.deliveries(t, revokedOnly)[0].Payload, &p); err != nil || p.Data.State != keyward.StateRevoked {
		t.Fatalf("revocation payload = %+v, %v", p, err)
	}
	// Deleting an endpoint deletes its deliveries.
	if err := f.s.DeleteWebhookEndpoint(ctx, acme.ID, created.ID, f.event("webhook.delete")); err != nil {
		t.Fatal(err)
	}
	if n := len(f.deliveries(t, created)); n != 0 {
		t.Fatalf("%d deliveries of a deleted endpoint", n)
	}
}

// testWebhookClaims: claims lease due deliveries to one claimer; outcomes need the lease; a
// replay puts a dead delivery back.
func testWebhookClaims(t *testing.T, open func(t *testing.T) keyward.Store) {
	f := setup(t, open)
	ctx := t.Context()
	acme := f.project(t, "acme")
	e := f.endpoint(t, acme, true, keyward.WebhookCredentialCreated)
	f.credential(t, acme, "web", nil)
	id := f.deliveries(t, e)[0].ID
	claim := func(now time.Time, want int) []*keyward.WebhookClaim {
		t.Helper()
		cs, err := f.s.ClaimWebhookDeliveries(ctx, now, time.Minute, 10)
		if err != nil || len(cs) != want {
			t.Fatalf("ClaimWebhookDeliveries(%v) = %d claims, %v; want %d", now.Sub(t0), len(cs), err, want)
		}
		return cs
	}
	claim(at(-time.Second), 0) // not due yet
	cs := claim(t0, 1)
	c := cs[0]
	if c.Delivery.ID != id || c.Delivery.State != keyward.DeliveryDelivering || c.Delivery.Attempts != 1 ||
		c.URL != e.URL || string(c.SealedSecret) != "sealed:whsec" || c.Lease == "" {
		t.Fatalf("claim = %+v %+v", c, c.Delivery)
	}
	claim(at(59*time.Second), 0) // leased
	re := claim(at(time.Minute), 1)[0]
	if re.Lease == c.Lease || re.Delivery.Attempts != 2 {
		t.Fatalf("reclaim after the lease = %+v", re.Delivery)
	}
	ok, err := f.s.FinishWebhookDelivery(ctx, id, c.Lease, keyward.WebhookOutcome{State: keyward.DeliveryDelivered, At: at(time.Minute)})
	if err != nil || ok {
		t.Fatalf("finish under an expired lease = %v, %v; want false", ok, err)
	}
	long := make([]byte, 2000)
	for i := range long {
		long[i] = 'x'
	}
	ok, err = f.s.FinishWebhookDelivery(ctx, id, re.Lease, keyward.WebhookOutcome{State: keyward.DeliveryFailed, Status: 503,
		Error: string(long) + "\x00", NextAttemptAt: at(2 * time.Hour), At: at(time.Minute)})
	if err != nil || !ok {
		t.Fatalf("finish = %v, %v", ok, err)
	}
	d := f.deliveries(t, e)[0]
	if d.State != keyward.DeliveryFailed || d.LastStatus != 503 || len(d.LastError) > keyward.MaxDeliveryError ||
		d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(at(2*time.Hour)) {
		t.Fatalf("after a failure: %+v", d)
	}
	claim(at(2*time.Hour-time.Second), 0)
	last := claim(at(2*time.Hour), 1)[0]
	if ok, err := f.s.FinishWebhookDelivery(ctx, id, last.Lease, keyward.WebhookOutcome{State: keyward.DeliveryDead, At: at(2 * time.Hour)}); err != nil || !ok {
		t.Fatalf("finish dead = %v, %v", ok, err)
	}
	claim(at(100*time.Hour), 0)
	_, err = f.s.ReplayWebhookDelivery(ctx, e.ID, "msg_missing", at(3*time.Hour), f.event("webhook.replay"))
	wantCode(t, err, keyward.ENotFound)
	rd, err := f.s.ReplayWebhookDelivery(ctx, e.ID, id, at(3*time.Hour), f.event("webhook.replay"))
	if err != nil || rd.State != keyward.DeliveryPending || rd.Attempts != 0 || !rd.NextAttemptAt.Equal(at(3*time.Hour)) {
		t.Fatalf("replay = %+v, %v", rd, err)
	}
	// A disabled endpoint's deliveries wait.
	e.Enabled = false
	if err := f.s.UpdateWebhookEndpoint(ctx, e, f.event("webhook.update")); err != nil {
		t.Fatal(err)
	}
	claim(at(4*time.Hour), 0)
	e.Enabled = true
	if err := f.s.UpdateWebhookEndpoint(ctx, e, f.event("webhook.update")); err != nil {
		t.Fatal(err)
	}
	final := claim(at(4*time.Hour), 1)[0]
	if ok, err := f.s.FinishWebhookDelivery(ctx, id, final.Lease, keyward.WebhookOutcome{State: keyward.DeliveryDelivered, Status: 200, At: at(4 * time.Hour)}); err != nil || !ok {
		t.Fatalf("finish delivered = %v, %v", ok, err)
	}
	d = f.deliveries(t, e)[0]
	if d.State != keyward.DeliveryDelivered || d.DeliveredAt == nil || d.NextAttemptAt != nil || d.Attempts != 1 {
		t.Fatalf("delivered: %+v", d)
	}
	_, err = f.s.ReplayWebhookDelivery(ctx, e.ID, id, at(5*time.Hour), f.event("webhook.replay"))
	wantCode(t, err, keyward.EConflict)
}

// testExpiryMarks: DueExpiries offers an expiry until MarkExpiry records it, once.
func testExpiryMarks(t *testing.T, open func(t *testing.T) keyward.Store) {
	f := setup(t, open)
	ctx := t.Context()
	acme := f.project(t, "acme")
	soon, _ := f.credential(t, acme, "soon", func(c *keyward.Credential) { c.ExpiresAt = ptr(at(3 * 24 * time.Hour)) })
	f.credential(t, acme, "later", func(c *keyward.Credential) { c.ExpiresAt = ptr(at(30 * 24 * time.Hour)) })
	f.credential(t, acme, "never", func(c *keyward.Credential) { c.ExpiresAt = nil })
	lead, window := 7*24*time.Hour, 7*24*time.Hour
	due := func(now time.Time) []keyward.ExpiryDue {
		t.Helper()
		ds, err := f.s.DueExpiries(ctx, now, lead, window, 100)
		if err != nil {
			t.Fatalf("DueExpiries: %v", err)
		}
		return ds
	}
	ds := due(t0)
	if len(ds) != 1 || ds[0].Credential.ID != soon.ID || ds[0].Action != keyward.ActionCredentialExpiring {
		t.Fatalf("DueExpiries = %+v", ds)
	}
	ev := f.event(keyward.ActionCredentialExpiring)
	ev.ProjectID, ev.CredentialID = acme.ID, soon.ID
	if err := f.s.MarkExpiry(ctx, soon.ID, keyward.ActionCredentialExpiring, *soon.ExpiresAt, ev); err != nil || ev.ID == 0 {
		t.Fatalf("MarkExpiry = %v (event %d)", err, ev.ID)
	}
	wantCode(t, f.s.MarkExpiry(ctx, soon.ID, keyward.ActionCredentialExpiring, *soon.ExpiresAt, f.event(keyward.ActionCredentialExpiring)), keyward.EConflict)
	if ds := due(t0); len(ds) != 0 {
		t.Fatalf("after the mark, DueExpiries = %+v", ds)
	}
	ds = due(at(4 * 24 * time.Hour))
	if len(ds) != 1 || ds[0].Action != keyward.ActionCredentialExpired {
		t.Fatalf("after expiry, DueExpiries = %+v", ds)
	}
	if ds := due(at(24 * 24 * time.Hour)); len(ds) != 1 || ds[0].Credential.Name != "later" {
		t.Fatalf("long after expiry (outside the window), DueExpiries = %+v", ds)
	}
	wantCode(t, f.s.MarkExpiry(ctx, soon.ID, "credential.other", *soon.ExpiresAt, f.event("x")), keyward.EInvalid)
}
