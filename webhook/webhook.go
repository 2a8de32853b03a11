// Package webhook delivers the webhooks that the store's outbox holds: every keyward server runs
// a Dispatcher, which claims due deliveries with a lease (so that exactly one server sends each
// attempt), signs them as the Standard Webhooks specification says (webhook-id,
// webhook-timestamp, webhook-signature: HMAC-SHA256 under the endpoint's secret) and records
// the outcome, retrying failures on a schedule of at least a day before a delivery is dead.
//
// A server stopped or killed while sending leaves its lease, which expires: another server then
// sends the attempt again with the same webhook-id. Delivery is at least once; receivers drop
// what they already processed by webhook-id, as the specification asks of them.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/keyward/keyward"
)

// DefaultSchedule is the wait before each retry after a failed attempt: the first attempt is
// made when the change commits, the last retry some 28 hours later; a delivery whose every
// attempt failed is dead.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Defaults of Options.
const (
	DefaultTimeout  = 15 * time.Second
	DefaultLease    = time.Minute
	DefaultBatch    = 20
	DefaultInterval = time.Second
	// maxResponse bounds how much of a receiver's answer is read (and dropped).
	maxResponse = 64 << 10
	userAgent   = "keyward-webhooks/1"
)

// Store is what a Dispatcher needs of keyward's store.
type Store interface {
	ClaimWebhookDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*keyward.WebhookClaim, error)
	FinishWebhookDelivery(ctx context.Context, id, lease string, o keyward.WebhookOutcome) (bool, error)
}

// Options configure a Dispatcher. Zero values pick the defaults.
type Options struct {
	// Open returns an endpoint's signing secret ("whsec_...") from its sealed form
	// (authority.OpenWebhookSecret). Required.
	Open func(sealed []byte) (string, error)
	// Now is the clock: due times, leases, the webhook-timestamp header. Default time.Now.
	Now func() time.Time
	// Client sends the requests. Default NewClient(Timeout, AllowPrivate): no redirects
	// followed, no proxy from the environment.
	Client *http.Client
	// AllowPrivate lets the default client connect to loopback, private, link-local and
	// unspecified addresses. Off, a project admin cannot make keyward's servers call what
	// only they can reach (a cloud metadata service, an admin port on localhost).
	AllowPrivate bool
	// Timeout bounds one attempt, connection included. Default DefaultTimeout.
	Timeout time.Duration
	// Lease is how long a claim is held: past it another server retries. It must exceed
	// Timeout. Default DefaultLease, or 2*Timeout when that is longer.
	Lease time.Duration
	// Schedule is the wait before each retry. Default DefaultSchedule.
	Schedule []time.Duration
	// Jitter spreads a wait so that the retries of many deliveries do not meet. Default: a
	// random part of up to a tenth of it.
	Jitter func(time.Duration) time.Duration
	// Batch is how many deliveries a server claims at once, and sends in parallel. Default
	// DefaultBatch.
	Batch int
	// Interval is how often Run looks for due deliveries. Default DefaultInterval.
	Interval time.Duration
	Logger   *slog.Logger
}

// Dispatcher sends the outbox's deliveries.
type Dispatcher struct {
	store Store
	o     Options
}

// New returns a Dispatcher on store.
func New(store Store, o Options) *Dispatcher {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Lease <= 0 {
		o.Lease = max(DefaultLease, 2*o.Timeout)
	}
	if o.Schedule == nil {
		o.Schedule = DefaultSchedule
	}
	if o.Jitter == nil {
		o.Jitter = func(d time.Duration) time.Duration { return d + rand.N(d/10+1) }
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Client == nil {
		o.Client = NewClient(o.Timeout, o.AllowPrivate)
	}
	return &Dispatcher{store: store, o: o}
}

// NewClient returns the HTTP client deliveries go through: timeout bounds each request, a
// redirect is answered as it is (never followed, so a receiver cannot send keyward elsewhere),
// no proxy is taken from the environment, and unless allowPrivate it connects only to public
// addresses, checked on the address dialed (after DNS), so a name cannot resolve around it.
func NewClient(timeout time.Duration, allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: min(timeout, 10*time.Second)}
	if !allowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip, err := netip.ParseAddr(host); err != nil || !Public(ip) {
				return errPrivate
			}
			return nil
		}
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   min(timeout, 10*time.Second),
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// errPrivate is the failure of an attempt to an address the client may not reach.
var errPrivate = errors.New("the receiver's address is loopback, private or link-local; keyward serve --webhook-allow-private allows it")

// Public reports whether ip is an address webhooks may be sent to by default: not loopback,
// private (RFC 1918, fc00::/7), link-local, multicast or unspecified.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsValid() && !ip.IsLoopback() && !ip.IsPrivate() && !ip.IsLinkLocalUnicast() &&
		!ip.IsLinkLocalMulticast() && !ip.IsInterfaceLocalMulticast() && !ip.IsMulticast() && !ip.IsUnspecified()
}

// Run sends due deliveries every Interval until ctx ends. An attempt under way when ctx ends is
// abandoned without a record: its lease expires and another server (or this one, restarted)
// sends it again.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(d.o.Interval)
	defer t.Stop()
	for {
		for {
			n, err := d.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				d.o.Logger.Warn("webhook deliveries: claiming failed", "err", err)
			}
			if err != nil || n < d.o.Batch {
				break // a full batch means more may be due at once
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce claims the deliveries due now (at most Batch), sends them in parallel and records
// their outcomes. It returns how many it claimed.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	claims, err := d.store.ClaimWebhookDeliveries(ctx, d.o.Now(), d.o.Lease, d.o.Batch)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, c := range claims {
		wg.Go(func() { d.deliver(ctx, c) })
	}
	wg.Wait()
	return len(claims), nil
}

// deliver makes one attempt of c and records its outcome, unless ctx ended meanwhile.
func (d *Dispatcher) deliver(ctx context.Context, c *keyward.WebhookClaim) {
	status, err := d.send(ctx, c)
	if ctx.Err() != nil {
		return // stopped mid-delivery: the lease expires and the attempt is made again
	}
	o := keyward.WebhookOutcome{State: keyward.DeliveryDelivered, Status: status, At: d.o.Now()}
	if err != nil {
		o.Error = err.Error()
		if n := c.Delivery.Attempts; n > len(d.o.Schedule) {
			o.State = keyward.DeliveryDead
		} else {
			o.State, o.NextAttemptAt = keyward.DeliveryFailed, o.At.Add(d.o.Jitter(d.o.Schedule[n-1]))
		}
	}
	ok, ferr := d.store.FinishWebhookDelivery(context.WithoutCancel(ctx), c.Delivery.ID, c.Lease, o)
	switch {
	case ferr != nil:
		d.o.Logger.Warn("webhook delivery: recording the outcome failed; the lease will expire and the attempt be made again",
			"delivery", c.Delivery.ID, "err", ferr)
	case !ok:
		d.o.Logger.Warn("webhook delivery: the lease expired before the outcome was recorded; another server took it over",
			"delivery", c.Delivery.ID)
	case o.State == keyward.DeliveryDead:
		d.o.Logger.Warn("webhook delivery is dead after its last attempt; replay it once the receiver is fixed",
			"delivery", c.Delivery.ID, "endpoint", c.Delivery.EndpointID, "err", o.Error)
	}
}

// errStatus is a receiver's answer other than 2xx.
type errStatus int

func (e errStatus) Error() string {
	if e >= 300 && e < 400 {
		return "the receiver answered " + strconv.Itoa(int(e)) + " (redirects are not followed)"
	}
	return "the receiver answered " + strconv.Itoa(int(e))
}

// send makes one signed POST of c and returns the receiver's status, with an error unless it
// is 2xx. The error names no URL (it may hold a token of the receiver's) and no secret.
func (d *Dispatcher) send(ctx context.Context, c *keyward.WebhookClaim) (int, error) {
	secret, err := d.o.Open(c.SealedSecret)
	if err != nil {
		return 0, errors.New("the endpoint's secret cannot be opened with this server's master key")
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return 0, errors.New("the endpoint's secret is not a webhook secret")
	}
	ts := d.o.Now()
	sig, err := wh.Sign(c.Delivery.ID, ts, c.Delivery.Payload)
	if err != nil {
		return 0, errors.New("signing failed")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return 0, errors.New("the endpoint's URL is not http or https")
	}
	rctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.URL, bytes.NewReader(c.Delivery.Payload))
	if err != nil {
		return 0, errors.New("the request cannot be made")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(standardwebhooks.HeaderWebhookID, c.Delivery.ID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := d.o.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the method and URL
		}
		if errors.Is(err, context.DeadlineExceeded) || (ue != nil && ue.Timeout()) {
			return 0, errors.New("the receiver did not answer in time")
		}
		if errors.Is(err, errPrivate) {
			return 0, errPrivate
		}
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, errStatus(resp.StatusCode)
	}
	return resp.StatusCode, nil
}
