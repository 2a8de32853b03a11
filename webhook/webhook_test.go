package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/internal/authoritytest"
	"github.com/keyward/keyward/internal/testclock"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgrestest"
	"github.com/keyward/keyward/snapshot"
	"github.com/keyward/keyward/webhook"
)

// receiver is a webhook receiver on loopback that verifies every delivery with the Standard
// Webhooks library, as a user's would, and counts what it got by webhook-id.
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	wh         *standardwebhooks.Webhook
	status     int                 // answered to every request; 0 is 200 after verification
	attempts   map[string]int      // requests per webhook-id
	delivered  map[string]int      // deliveries processed per webhook-id (duplicates dropped)
	duplicates int                 // verified requests for an id already processed
	bodies     map[string][]byte   // the verified body per webhook-id
	inflight   map[string]int      // requests being handled per webhook-id
	overlaps   int                 // requests for an id that arrived while another was in flight
	ignoreTS   bool                // verify without the timestamp tolerance (clock far from now)
	hold       func(*http.Request) // called before answering, when set
	errs       []error
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, attempts: map[string]int{}, delivered: map[string]int{}, bodies: map[string][]byte{},
		inflight: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	id := req.Header.Get(standardwebhooks.HeaderWebhookID)
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.attempts[id]++
	if r.inflight[id] > 0 {
		r.overlaps++
	}
	r.inflight[id]++
	hold, status, wh, ignoreTS := r.hold, r.status, r.wh, r.ignoreTS
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inflight[id]--
		r.mu.Unlock()
	}()
	if hold != nil {
		hold(req)
	}
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	verify := wh.Verify
	if ignoreTS {
		verify = wh.VerifyIgnoringTimestamp
	}
	if err := verify(body, req.Header); err != nil {
		r.mu.Lock()
		r.errs = append(r.errs, err)
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	// Dedupe by webhook-id, as the specification asks of receivers: a delivery whose answer
	// was lost is sent again with the same id.
	if r.delivered[id] > 0 {
		r.duplicates++
	} else {
		r.delivered[id]++
		r.bodies[id] = body
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) set(f func(r *receiver)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

// check fails t unless the receiver verified every delivery it accepted, saw no attempt
// overlap another of the same id, and got each of ids exactly once.
func (r *receiver) check(t *testing.T, ids ...string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range r.errs {
		t.Errorf("receiver: signature: %v", err)
	}
	if r.overlaps != 0 {
		t.Errorf("receiver: %d attempts arrived while another of the same delivery was in flight", r.overlaps)
	}
	for _, id := range ids {
		if got := r.delivered[id]; got != 1 {
			t.Errorf("receiver: delivery %s processed %d times, want exactly 1", id, got)
		}
	}
	if got, want := len(r.delivered), len(ids); got != want {
		t.Errorf("receiver: %d distinct deliveries accepted, want %d", got, want)
	}
}

// fixture is an authority on a store, an admin caller, a project and an endpoint subscribed to
// the receiver.
type fixture struct {
	token    string // the bootstrap admin's
	store    keyward.Store
	auth     *authority.Authority
	clock    *testclock.Clock
	ctx      context.Context
	recv     *receiver
	endpoint *keyward.WebhookWithSecret
}

func newFixture(t *testing.T, store keyward.Store, clock *testclock.Clock, mk *masterkey.Key, types ...string) *fixture {
	t.Helper()
	auth := authoritytest.New(t, store, authority.Options{Now: clock.Now, MasterKey: mk})
	ctx := t.Context()
	tok, err := auth.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	caller, err := auth.Authenticate(ctx, tok, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{token: tok, store: store, auth: auth, clock: clock, ctx: keyward.NewContext(ctx, caller), recv: newReceiver(t)}
	if _, err := auth.CreateProject(f.ctx, keyward.CreateProjectInput{Slug: "acme"}); err != nil {
		t.Fatal(err)
	}
	if len(types) == 0 {
		types = keyward.WebhookTypes
	}
	f.endpoint = f.subscribe(t, f.recv.srv.URL+"/hooks?token=receivers-own", types...)
	wh, err := standardwebhooks.NewWebhook(f.endpoint.Secret)
	if err != nil {
		t.Fatal(err)
	}
	f.recv.wh = wh
	return f
}

func (f *fixture) subscribe(t *testing.T, url string, types ...string) *keyward.WebhookWithSecret {
	t.Helper()
	e, err := f.auth.CreateWebhook(f.ctx, "acme", keyward.CreateWebhookInput{URL: url, Types: types})
	if err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	if !strings.HasPrefix(e.Secret, "whsec_") {
		t.Fatalf("secret %q is not a whsec_ secret", e.Secret[:6])
	}
	return e
}

func (f *fixture) credential(t *testing.T, name string, days int64) *keyward.IssuedCredential {
	t.Helper()
	c, err := f.auth.CreateCredential(f.ctx, "acme", keyward.CreateCredentialInput{Name: name, ExpirationDays: &days})
	if err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	return c
}

func (f *fixture) deliveries(t *testing.T, e *keyward.WebhookWithSecret) []*keyward.WebhookDelivery {
	t.Helper()
	ds, err := f.store.ListWebhookDeliveries(f.ctx, keyward.WebhookDeliveryFilter{EndpointID: e.ID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func (f *fixture) only(t *testing.T) *keyward.WebhookDelivery {
	t.Helper()
	ds := f.deliveries(t, f.endpoint)
	if len(ds) != 1 {
		t.Fatalf("%d deliveries, want 1", len(ds))
	}
	return ds[0]
}

func (f *fixture) dispatcher(o webhook.Options) *webhook.Dispatcher {
	o.Open, o.Now, o.AllowPrivate = f.auth.OpenWebhookSecret, f.clock.Now, true // the receiver is on loopback
	if o.Jitter == nil {
		o.Jitter = func(d time.Duration) time.Duration { return d }
	}
	return webhook.New(f.store, o)
}

func sqliteFixture(t *testing.T, start time.Time, types ...string) *fixture {
	return newFixture(t, authoritytest.Store(t), testclock.New(start), nil, types...)
}

func total(ds []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s
}

// TestDelivered: a change makes exactly one delivery per subscribed endpoint, which arrives
// signed (verified by the library) with the credential's description and never a secret.
func TestDelivered(t *testing.T) {
	t.Parallel()
	f := sqliteFixture(t, time.Now(), keyward.WebhookCredentialCreated, keyward.WebhookCredentialRevoked)
	other := f.subscribe(t, f.recv.srv.URL+"/other", keyward.WebhookCredentialRevoked)
	paused, err := f.auth.CreateWebhook(f.ctx, "acme", keyward.CreateWebhookInput{URL: f.recv.srv.URL + "/paused",
		Types: keyward.WebhookTypes, Enabled: new(bool)})
	if err != nil {
		t.Fatal(err)
	}
	issued := f.credential(t, "ci", 30)
	d := f.only(t)
	if got := len(f.deliveries(t, other)) + len(f.deliveries(t, &keyward.WebhookWithSecret{WebhookEndpoint: paused.WebhookEndpoint})); got != 0 {
		t.Fatalf("%d deliveries to endpoints not subscribed or disabled, want 0", got)
	}
	if d.State != keyward.DeliveryPending || d.Type != keyward.WebhookCredentialCreated || !strings.HasPrefix(d.ID, "msg_") {
		t.Fatalf("delivery = %+v", d)
	}
	if n, err := f.dispatcher(webhook.Options{}).RunOnce(f.ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v; want 1", n, err)
	}
	f.recv.check(t, d.ID)
	var p keyward.WebhookPayload
	if err := json.Unmarshal(f.recv.bodies[d.ID], &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != keyward.WebhookCredentialCreated || p.Data.Credential != issued.ID || p.Data.Name != "ci" ||
		p.Data.Project != "acme" || p.Data.State != keyward.StateActive || p.Data.ExpiresAt == nil {
		t.Fatalf("payload = %+v", p)
	}
	if body := string(f.recv.bodies[d.ID]); strings.Contains(body, issued.Key) || strings.Contains(body, "whsec_") {
		t.Fatal("the payload holds a secret")
	}
	if got := f.only(t); got.State != keyward.DeliveryDelivered || got.Attempts != 1 || got.LastStatus != 204 || got.DeliveredAt == nil {
		t.Fatalf("after delivery: %+v", got)
	}
	if n, _ := f.dispatcher(webhook.Options{}).RunOnce(f.ctx); n != 0 {
		t.Fatalf("a delivered delivery was claimed again")
	}

	// Disable and enable are told apart; revocation goes to both subscribed endpoints.
	if _, err := f.auth.UpdateCredential(f.ctx, "acme", "ci", keyward.UpdateCredentialInput{Active: new(bool)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.auth.RevokeCredential(f.ctx, "acme", "ci"); err != nil {
		t.Fatal(err)
	}
	if got := len(f.deliveries(t, f.endpoint)); got != 2 {
		t.Fatalf("%d deliveries to the first endpoint, want 2 (created, revoked; not disabled)", got)
	}
	if ds := f.deliveries(t, other); len(ds) != 1 || ds[0].Type != keyward.WebhookCredentialRevoked {
		t.Fatalf("deliveries to the revoked-only endpoint: %+v", ds)
	}
}

// TestRolledBack: a change that rolls back leaves no delivery.
func TestRolledBack(t *testing.T) {
	t.Parallel()
	f := sqliteFixture(t, time.Now())
	p, err := f.store.ProjectBySlug(f.ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	boom := errors.New("rolled back")
	err = f.store.WithTx(f.ctx, func(tx keyward.Store) error {
		c := &keyward.Credential{ProjectID: p.ID, Name: "doomed", Type: keyward.APIToken, Environment: keyward.Live,
			KeyType: keyward.Secret, CreatedBy: 1, Active: true, CreatedAt: now, UpdatedAt: now}
		ev := &keyward.Event{Time: now, Action: "credential.create", Outcome: keyward.OutcomeSuccess}
		if err := tx.CreateCredential(f.ctx, c, &keyward.CredentialSecret{Digest: make([]byte, 32), CreatedAt: now}, ev); err != nil {
			return err
		}
		if n := len(f.deliveriesIn(t, tx)); n != 1 {
			t.Errorf("inside the transaction: %d deliveries, want 1", n)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WithTx = %v", err)
	}
	if ds := f.deliveries(t, f.endpoint); len(ds) != 0 {
		t.Fatalf("%d deliveries after a rollback, want 0", len(ds))
	}
}

func (f *fixture) deliveriesIn(t *testing.T, s keyward.Store) []*keyward.WebhookDelivery {
	ds, err := s.ListWebhookDeliveries(f.ctx, keyward.WebhookDeliveryFilter{EndpointID: f.endpoint.ID})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// advance moves the clock to the delivery's next attempt and runs one round.
func (f *fixture) advance(t *testing.T, d *webhook.Dispatcher) *keyward.WebhookDelivery {
	t.Helper()
	cur := f.only(t)
	if cur.NextAttemptAt == nil {
		t.Fatalf("no next attempt: %+v", cur)
	}
	if cur.NextAttemptAt.After(f.clock.Now()) {
		// Just before it: nothing is due yet.
		f.clock.Set(cur.NextAttemptAt.Add(-time.Millisecond))
		if n, err := d.RunOnce(f.ctx); err != nil || n != 0 {
			t.Fatalf("before the next attempt, RunOnce = %d, %v", n, err)
		}
		f.clock.Set(*cur.NextAttemptAt)
	}
	if n, err := d.RunOnce(f.ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v; want 1", n, err)
	}
	return f.only(t)
}

// TestReceiverOutage: a receiver that refuses connections, then answers 503, then works gets
// the delivery exactly once, after retries on the schedule.
func TestReceiverOutage(t *testing.T) {
	t.Parallel()
	schedule := webhook.DefaultSchedule
	// The clock starts as far in the past as the retries take, so that the successful attempt's
	// webhook-timestamp is within the library's tolerance of the receiver's real clock.
	start := time.Now().Add(-(schedule[0] + schedule[1] + schedule[2]))
	f := sqliteFixture(t, start.Truncate(time.Microsecond))

	// A port with nothing listening: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	down := f.subscribe(t, "http://"+addr+"/hooks", keyward.WebhookCredentialCreated)
	if err := f.auth.DeleteWebhook(f.ctx, "acme", itoa(f.endpoint.ID)); err != nil {
		t.Fatal(err)
	}
	f.endpoint = down
	wh, err := standardwebhooks.NewWebhook(down.Secret)
	if err != nil {
		t.Fatal(err)
	}
	f.recv.set(func(r *receiver) { r.wh = wh })
	f.credential(t, "ci", 30)
	d := f.dispatcher(webhook.Options{Timeout: 2 * time.Second})

	got := f.advance(t, d)
	if got.State != keyward.DeliveryFailed || got.Attempts != 1 || got.LastStatus != 0 || got.LastError == "" {
		t.Fatalf("after a refused connection: %+v", got)
	}
	if want := f.clock.Now().Add(schedule[0]); !got.NextAttemptAt.Equal(want) {
		t.Fatalf("next attempt at %v, want %v", got.NextAttemptAt, want)
	}
	if strings.Contains(got.LastError, "/hooks") {
		t.Fatalf("the error shows the URL: %q", got.LastError)
	}

	// The receiver comes up on that address, answering 503 at first.
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the address was taken meanwhile: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(f.recv.serve)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	f.recv.set(func(r *receiver) { r.status = http.StatusServiceUnavailable })
	if got = f.advance(t, d); got.State != keyward.DeliveryFailed || got.Attempts != 2 || got.LastStatus != 503 {
		t.Fatalf("after a 503: %+v", got)
	}
	if got = f.advance(t, d); got.State != keyward.DeliveryFailed || got.Attempts != 3 {
		t.Fatalf("after a second 503: %+v", got)
	}
	f.recv.set(func(r *receiver) { r.status = 0 })
	if got = f.advance(t, d); got.State != keyward.DeliveryDelivered || got.Attempts != 4 || got.LastError != "" {
		t.Fatalf("after the receiver recovered: %+v", got)
	}
	f.clock.Add(48 * time.Hour)
	if n, _ := d.RunOnce(f.ctx); n != 0 {
		t.Fatal("a delivered delivery was claimed again")
	}
	f.recv.check(t, got.ID)
	if a, dup := f.recv.attempts[got.ID], f.recv.duplicates; a != 3 || dup != 0 { // the first never reached it
		t.Fatalf("the receiver saw %d attempts and %d duplicates, want 3 and 0", a, dup)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestDeadThenReplay: a receiver that always fails makes the delivery dead after the whole
// schedule (more than a day); a replay sends it again, and it arrives once.
func TestDeadThenReplay(t *testing.T) {
	t.Parallel()
	schedule := webhook.DefaultSchedule
	if total(schedule) < 24*time.Hour {
		t.Fatalf("the retries cover %v, less than a day", total(schedule))
	}
	f := sqliteFixture(t, time.Now().Add(-total(schedule)).Truncate(time.Microsecond))
	f.recv.set(func(r *receiver) { r.status = http.StatusInternalServerError })
	f.credential(t, "ci", 30)
	d := f.dispatcher(webhook.Options{})
	first := f.clock.Now()
	var got *keyward.WebhookDelivery
	for i := range len(schedule) + 1 {
		got = f.advance(t, d)
		if i < len(schedule) && got.State != keyward.DeliveryFailed {
			t.Fatalf("attempt %d: %+v", i+1, got)
		}
	}
	if got.State != keyward.DeliveryDead || got.Attempts != len(schedule)+1 || got.NextAttemptAt != nil {
		t.Fatalf("after the schedule: %+v", got)
	}
	if span := f.clock.Now().Sub(first); span < 24*time.Hour {
		t.Fatalf("dead after %v, less than a day", span)
	}
	f.clock.Add(72 * time.Hour)
	if n, _ := d.RunOnce(f.ctx); n != 0 {
		t.Fatal("a dead delivery was claimed")
	}
	f.clock.Add(-72 * time.Hour)

	if _, err := f.auth.ReplayWebhookDelivery(f.ctx, "acme", itoa(f.endpoint.ID), "msg_nope"); keyward.ErrorCode(err) != keyward.ENotFound {
		t.Fatalf("replay of an unknown delivery = %v", err)
	}
	f.recv.set(func(r *receiver) { r.status = 0 })
	re, err := f.auth.ReplayWebhookDelivery(f.ctx, "acme", itoa(f.endpoint.ID), got.ID)
	if err != nil || re.State != keyward.DeliveryPending || re.Attempts != 0 {
		t.Fatalf("replay = %+v, %v", re, err)
	}
	if _, err := f.auth.ReplayWebhookDelivery(f.ctx, "acme", itoa(f.endpoint.ID), got.ID); keyward.ErrorCode(err) != keyward.EConflict {
		t.Fatalf("replay of a pending delivery = %v, want EConflict", err)
	}
	if got = f.advance(t, d); got.State != keyward.DeliveryDelivered {
		t.Fatalf("after the replay: %+v", got)
	}
	f.recv.check(t, got.ID)
}

// TestExpirySweep: the sweep announces a credential's expiring once when it enters the lead
// time and its expiry once when it passes, however many servers sweep; a renewal re-arms it.
func TestExpirySweep(t *testing.T) {
	t.Parallel()
	store := authoritytest.Store(t)
	clock := testclock.New(time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC))
	mk, _ := masterkey.Generate()
	f := newFixture(t, store, clock, mk, keyward.WebhookCredentialExpiring, keyward.WebhookCredentialExpired)
	other := authoritytest.New(t, store, authority.Options{Now: clock.Now, MasterKey: mk}) // a second server
	f.credential(t, "soon", 10)
	f.credential(t, "later", 60)
	lead := 7 * 24 * time.Hour
	sweep := func(want int) {
		t.Helper()
		var wg sync.WaitGroup
		counts := make([]int, 2)
		for i, a := range []*authority.Authority{f.auth, other} {
			wg.Go(func() {
				n, err := a.SweepExpiries(t.Context(), lead)
				if err != nil {
					t.Errorf("SweepExpiries: %v", err)
				}
				counts[i] = n
			})
		}
		wg.Wait()
		if got := counts[0] + counts[1]; got != want {
			t.Fatalf("the sweeps announced %d, want %d", got, want)
		}
	}
	types := func() []string {
		var out []string
		for _, d := range f.deliveries(t, f.endpoint) {
			var p keyward.WebhookPayload
			if err := json.Unmarshal(d.Payload, &p); err != nil {
				t.Fatal(err)
			}
			out = append([]string{d.Type + ":" + p.Data.Name}, out...)
		}
		return out
	}
	sweep(0)
	clock.Add(4 * 24 * time.Hour) // "soon" expires in 6 days
	sweep(1)
	sweep(0)
	clock.Add(7 * 24 * time.Hour) // "soon" has expired
	sweep(1)
	sweep(0)
	days := int64(20)
	if _, err := f.auth.RenewCredential(f.ctx, "acme", "soon", keyward.RenewInput{ExpirationDays: &days}); err != nil {
		t.Fatal(err)
	}
	clock.Add(15 * 24 * time.Hour) // the renewed "soon" expires in 5 days
	sweep(1)
	want := []string{"credential.expiring:soon", "credential.expired:soon", "credential.expiring:soon"}
	if got := types(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("deliveries %v, want %v", got, want)
	}
	evs, err := store.ListEvents(t.Context(), keyward.EventFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Action == keyward.ActionCredentialExpiring || ev.Action == keyward.ActionCredentialExpired {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d expiry events, want 3", n)
	}
}

// TestReplicaKilledMidDelivery runs two servers' dispatchers on one PostgreSQL database: each
// attempt is made by exactly one of them, and a delivery whose server is stopped while sending
// is sent by the other once the lease expires, arriving once (by webhook-id).
func TestReplicaKilledMidDelivery(t *testing.T) {
	t.Parallel()
	url := postgrestest.URL(t)
	open := func() keyward.Store {
		s, err := postgres.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	storeA, storeB := open(), open()
	mk, err := masterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	clock := testclock.New(time.Now().Truncate(time.Microsecond))
	f := newFixture(t, storeA, clock, mk)
	authB := authoritytest.New(t, storeB, authority.Options{Now: clock.Now, MasterKey: mk})
	lease := 30 * time.Second
	dispA := f.dispatcher(webhook.Options{Lease: lease, Timeout: 10 * time.Second})
	dispB := webhook.New(storeB, webhook.Options{Open: authB.OpenWebhookSecret, Now: clock.Now, Lease: lease, AllowPrivate: true,
		Timeout: 10 * time.Second, Jitter: func(d time.Duration) time.Duration { return d }, Batch: 3})

	// Many deliveries, both servers claiming at once: each is sent once, never by both.
	var ids []string
	for i := range 12 {
		f.credential(t, "bulk-"+itoa(int64(i)), 30)
	}
	for _, d := range f.deliveries(t, f.endpoint) {
		ids = append(ids, d.ID)
	}
	f.recv.set(func(r *receiver) { r.hold = func(*http.Request) { time.Sleep(5 * time.Millisecond) } })
	var wg sync.WaitGroup
	for _, d := range []*webhook.Dispatcher{dispA, dispB} {
		wg.Go(func() {
			for range 10 {
				if _, err := d.RunOnce(t.Context()); err != nil {
					t.Errorf("RunOnce: %v", err)
				}
			}
		})
	}
	wg.Wait()
	f.recv.check(t, ids...)
	if f.recv.duplicates != 0 {
		t.Fatalf("%d duplicates while both servers claimed", f.recv.duplicates)
	}
	for _, id := range ids {
		if n := f.recv.attempts[id]; n != 1 {
			t.Fatalf("delivery %s was attempted %d times, want 1", id, n)
		}
	}

	// A server stopped mid-delivery: A claims, the receiver has its request, A is killed.
	f.credential(t, "killed", 30)
	killed := f.deliveries(t, f.endpoint)[0]
	arrived := make(chan struct{})
	var once sync.Once
	f.recv.set(func(r *receiver) {
		r.hold = func(req *http.Request) {
			once.Do(func() {
				close(arrived)
				<-req.Context().Done() // A never answers: it is killed first
			})
		}
	})
	actx, kill := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		dispA.RunOnce(actx)
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("A's attempt never arrived")
	}
	kill()
	<-done
	if d := f.deliveryByID(t, killed.ID); d.State != keyward.DeliveryDelivering || d.Attempts != 1 {
		t.Fatalf("after A was killed: %+v", d)
	}
	// B does not touch it while A's lease lasts...
	clock.Add(lease - time.Second)
	if n, err := dispB.RunOnce(t.Context()); err != nil || n != 0 {
		t.Fatalf("during A's lease B claimed %d (%v)", n, err)
	}
	// ...and sends it once the lease has expired.
	clock.Add(time.Second)
	if n, err := dispB.RunOnce(t.Context()); err != nil || n != 1 {
		t.Fatalf("after the lease B claimed %d (%v), want 1", n, err)
	}
	if d := f.deliveryByID(t, killed.ID); d.State != keyward.DeliveryDelivered || d.Attempts != 2 {
		t.Fatalf("after B: %+v", d)
	}
	f.recv.check(t, append(ids, killed.ID)...)
	if n := f.recv.attempts[killed.ID]; n != 2 {
		t.Fatalf("the killed delivery was attempted %d times, want 2 (A's, then B's)", n)
	}
}

func (f *fixture) deliveryByID(t *testing.T, id string) *keyward.WebhookDelivery {
	t.Helper()
	for _, d := range f.deliveries(t, f.endpoint) {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("no delivery %s", id)
	return nil
}

// TestCopyAndRotate: endpoints, deliveries (a delivering one with its lease) and expiry marks
// survive "migrate copy" to PostgreSQL and back, and a master key rotation reseals the signing
// secrets: the copy, under the new key, delivers a replayed dead delivery that verifies.
func TestCopyAndRotate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	schedule := []time.Duration{time.Second}
	start := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	mk, err := masterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	src := authoritytest.Store(t)
	f := newFixture(t, src, testclock.New(start), mk)
	f.credential(t, "soon", 3) // expiring within the lead: swept below
	f.credential(t, "dead", 30)
	if n, err := f.auth.SweepExpiries(ctx, 0); err != nil || n != 1 {
		t.Fatalf("SweepExpiries = %d, %v", n, err)
	}
	f.recv.set(func(r *receiver) { r.status = http.StatusServiceUnavailable })
	d := f.dispatcher(webhook.Options{Schedule: schedule})
	for range 3 {
		if _, err := d.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		f.clock.Add(2 * time.Second)
	}
	f.credential(t, "leased", 30)
	if _, err := src.ClaimWebhookDeliveries(ctx, f.clock.Now(), time.Hour, 1); err != nil { // a server holds it
		t.Fatal(err)
	}
	pg, err := postgres.Open(ctx, postgrestest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	want, err := snapshot.Copy(ctx, src.(snapshot.Exporter), pg)
	if err != nil {
		t.Fatalf("copy to PostgreSQL: %v", err)
	}
	if len(want.WebhookEndpoints) != 1 || len(want.WebhookDeliveries) != 4 || len(want.ExpiryMarks) != 1 {
		t.Fatalf("export: %d endpoints, %d deliveries, %d marks; want 1, 4, 1",
			len(want.WebhookEndpoints), len(want.WebhookDeliveries), len(want.ExpiryMarks))
	}
	states := map[string]int{}
	for _, wd := range want.WebhookDeliveries {
		states[wd.State]++
		if wd.State == keyward.DeliveryDelivering && (wd.LeaseToken == "" || wd.LeaseUntil == nil) {
			t.Fatalf("the export lost a lease: %+v", wd)
		}
	}
	if states[keyward.DeliveryDead] != 3 || states[keyward.DeliveryDelivering] != 1 {
		t.Fatalf("states before the copy: %v", states)
	}
	back := authoritytest.Store(t)
	got, err := snapshot.Copy(ctx, pg, back.(interface {
		snapshot.Exporter
		snapshot.Importer
	}))
	if err != nil {
		t.Fatalf("copy back to SQLite: %v", err)
	}
	if diff := snapshot.Diff(want, got); diff != nil {
		t.Fatalf("the round trip differs: %v", diff)
	}

	// Rotate the copy's master key, then serve it with the new key only.
	old := authoritytest.New(t, pg, authority.Options{Now: f.clock.Now, MasterKey: mk})
	if err := old.InitCA(ctx); err != nil {
		t.Fatal(err)
	}
	next, err := masterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := old.RotateMasterKey(ctx, next); err != nil {
		t.Fatalf("RotateMasterKey: %v", err)
	}
	rotated := authoritytest.New(t, pg, authority.Options{Now: f.clock.Now, MasterKey: next})
	caller, err := rotated.Authenticate(ctx, mustToken(t, f), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	actx := keyward.NewContext(ctx, caller)
	var dead string
	for _, wd := range want.WebhookDeliveries {
		if wd.State == keyward.DeliveryDead {
			dead = wd.ID
			break
		}
	}
	if _, err := rotated.ReplayWebhookDelivery(actx, "acme", itoa(f.endpoint.ID), dead); err != nil {
		t.Fatalf("replay on the copy: %v", err)
	}
	f.clock.Set(time.Now().Truncate(time.Microsecond))
	f.recv.set(func(r *receiver) { r.status = 0 })
	dispatch := webhook.New(pg, webhook.Options{Open: rotated.OpenWebhookSecret, Now: f.clock.Now, AllowPrivate: true})
	if n, err := dispatch.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce on the copy = %d, %v; want 1", n, err)
	}
	f.recv.check(t, dead)
	// New rows in the copy take new ids.
	if _, err := rotated.CreateCredential(actx, "acme", keyward.CreateCredentialInput{Name: "after-copy"}); err != nil {
		t.Fatalf("a change on the copy: %v", err)
	}
}

// mustToken returns the bootstrap admin's token of f, which the fixture authenticated with.
func mustToken(t *testing.T, f *fixture) string {
	t.Helper()
	return f.token
}

// TestPrivateAddresses: by default no delivery goes to a loopback, private or link-local
// address, whatever name the URL gives; the attempt fails and says why.
func TestPrivateAddresses(t *testing.T) {
	t.Parallel()
	f := sqliteFixture(t, time.Now().Truncate(time.Microsecond), keyward.WebhookCredentialCreated)
	f.credential(t, "ci", 30)
	d := webhook.New(f.store, webhook.Options{Open: f.auth.OpenWebhookSecret, Now: f.clock.Now})
	if n, err := d.RunOnce(f.ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	if got := f.only(t); got.State != keyward.DeliveryFailed || !strings.Contains(got.LastError, "loopback") {
		t.Fatalf("a delivery to loopback: %+v", got)
	}
	if a := f.recv.attempts; len(a) != 0 {
		t.Fatalf("the receiver on loopback was reached: %v", a)
	}
	for _, c := range []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", false}, {"::1", false}, {"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, {"fd00::1", false}, {"0.0.0.0", false}, {"::ffff:127.0.0.1", false},
		{"224.0.0.1", false}, {"93.184.216.34", true}, {"2606:2800:220:1::1", true},
	} {
		if got := webhook.Public(netip.MustParseAddr(c.ip)); got != c.want {
			t.Errorf("Public(%s) = %v, want %v", c.ip, got, c.want)
		}
	}
}
