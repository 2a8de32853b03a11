// Package httpapi is keyward's native HTTP API (/v1). Handlers parse the request, call one
// authority method and render the result; errors become RFC 9457 problem documents through one
// function.
package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/httpapi/jsonbody"
	"github.com/keyward/keyward/metrics"
	"github.com/keyward/keyward/peer"
	"github.com/keyward/keyward/secretscanning"
	"github.com/keyward/keyward/token"
	"github.com/keyward/keyward/version"
)

// MaxBodyBytes is the largest request body accepted; larger ones get 413.
const MaxBodyBytes = jsonbody.MaxBytes

// Server serves the native API.
type Server struct {
	authority  *authority.Authority
	store      keyward.Store
	logger     *slog.Logger
	timeout    time.Duration
	mux        *http.ServeMux
	endpoints  []Endpoint
	metrics    *metrics.Metrics
	keyHeaders []string
	// crossOrigin serves guard (guard.go): the standard library's origin check.
	crossOrigin      *http.CrossOriginProtection
	mounts           []string
	version          string // this build, as /readyz reports it
	metricsElsewhere bool
	metricsToken     string
	sample           float64              // share of hot endpoints' successes logged (hot.go)
	tokenReviews     *metrics.Surface     // the tokenreview endpoint's metrics
	leakKeys         *secretscanning.Keys // who may sign GitHub's leak reports (leaks.go)
}

// Endpoint is one method and path pattern the server answers, for tests and documentation
// that must cover every one.
type Endpoint struct {
	Method, Path string
	Public       bool // served without authentication
}

// Endpoints lists every endpoint of the API in registration order.
func (s *Server) Endpoints() []Endpoint { return append([]Endpoint(nil), s.endpoints...) }

// Options configure a Server. Zero values pick the defaults.
type Options struct {
	// Logger receives one line per request (method, path, status, duration; never a header or
	// a body), but for the successes AccessLogSample leaves out. Default slog.Default().
	Logger *slog.Logger
	// RequestTimeout bounds each request; past it the caller gets 504. Default 30s.
	RequestTimeout time.Duration
	// Metrics, when set, is fed by the verification endpoints and served on /metrics, unless
	// MetricsElsewhere says a listener of its own serves it (MetricsHandler).
	Metrics          *metrics.Metrics
	MetricsElsewhere bool
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string
	// AccessLogSample is the share of successful verifications on /v1/verify and /v1/auth that
	// get an access line (refusals and errors always do): 0 picks DefaultAccessLogSample, 1
	// logs every one, a negative value none.
	AccessLogSample float64
	// GatewayKeyHeaders are extra request headers /v1/auth reads the key from, before the
	// native Authorization and X-API-Key.
	GatewayKeyHeaders []string
	// LeakReportKeys are the public keys GitHub signs its secret scanning reports with; without
	// them POST /v1/leaks/github answers 404.
	LeakReportKeys *secretscanning.Keys
}

// New returns a Server; store is used only for readiness checks.
func New(a *authority.Authority, store keyward.Store, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 30 * time.Second
	}
	s := &Server{authority: a, store: store, logger: opts.Logger, timeout: opts.RequestTimeout, mux: http.NewServeMux(),
		metrics: opts.Metrics, keyHeaders: opts.GatewayKeyHeaders,
		crossOrigin: http.NewCrossOriginProtection(), version: version.Get().String(),
		metricsElsewhere: opts.MetricsElsewhere, metricsToken: opts.MetricsToken, leakKeys: opts.LeakReportKeys}
	switch {
	case opts.AccessLogSample == 0:
		s.sample = DefaultAccessLogSample
	case opts.AccessLogSample > 0:
		s.sample = opts.AccessLogSample
	}
	s.tokenReviews = s.metrics.Surface("tokenreview")
	s.routes()
	return s
}

// handlerFunc is a handler that returns its error for the server to render.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// routeOpts say how the shared middleware (base) treats a route.
type routeOpts struct {
	public  bool             // served without authentication
	guarded bool             // the guard (guard.go) checks the request before its handler
	surface string           // a verification endpoint's name (hot.go): no request timer, sampled access lines
	hot     *metrics.Surface // its metrics (nil without metrics)
}

func (s *Server) routes() {
	s.route("/v1/projects", false, map[string]handlerFunc{"POST": s.createProject, "GET": s.listProjects})
	s.route("/v1/projects/{project}", false, map[string]handlerFunc{"GET": s.getProject, "PATCH": s.updateProject})
	s.route("/v1/projects/{project}/policy", false, map[string]handlerFunc{"GET": s.getProjectPolicy, "PUT": s.setProjectPolicy})
	s.route("/v1/projects/{project}/credentials", false, map[string]handlerFunc{"POST": s.createCredential, "GET": s.listCredentials})
	s.route("/v1/projects/{project}/credentials/{ref}", false, map[string]handlerFunc{
		"GET": s.getCredential, "PATCH": s.updateCredential, "DELETE": s.revokeCredential,
	})
	s.route("/v1/projects/{project}/credentials/{ref}/renew", false, map[string]handlerFunc{"POST": s.renewCredential})
	s.route("/v1/projects/{project}/credentials/{ref}/roll", false, map[string]handlerFunc{"POST": s.rollCredential})
	s.route("/v1/projects/{project}/credentials/{ref}/reveal", false, map[string]handlerFunc{"POST": s.revealKey})
	s.route("/v1/projects/{project}/usage", false, map[string]handlerFunc{"GET": s.usage})
	s.route("/v1/projects/{project}/credentials/{ref}/usage", false, map[string]handlerFunc{"GET": s.usage})
	s.route("/v1/projects/{project}/webhooks", false, map[string]handlerFunc{"POST": s.createWebhook, "GET": s.listWebhooks})
	s.route("/v1/projects/{project}/webhooks/{id}", false, map[string]handlerFunc{
		"GET": s.getWebhook, "PATCH": s.updateWebhook, "DELETE": s.deleteWebhook,
	})
	s.route("/v1/projects/{project}/webhooks/{id}/roll-secret", false, map[string]handlerFunc{"POST": s.rollWebhookSecret})
	s.route("/v1/projects/{project}/webhooks/{id}/deliveries", false, map[string]handlerFunc{"GET": s.listWebhookDeliveries})
	s.route("/v1/projects/{project}/webhooks/{id}/deliveries/{delivery}/replay", false, map[string]handlerFunc{"POST": s.replayWebhookDelivery})
	s.route("/v1/ca.pem", true, map[string]handlerFunc{"GET": s.caPEM})
	s.route("/v1/crl", true, map[string]handlerFunc{"GET": s.crl})
	s.route("/v1/clusters", false, map[string]handlerFunc{"GET": s.listClusters, "POST": s.createCluster})
	s.route("/v1/clusters/{cluster}", false, map[string]handlerFunc{"GET": s.getCluster, "DELETE": s.deleteCluster})
	s.route("/v1/clusters/{cluster}/ca.pem", true, map[string]handlerFunc{"GET": s.clusterCAPEM})
	s.route("/v1/clusters/{cluster}/crl", true, map[string]handlerFunc{"GET": s.crl})
	s.route("/v1/clusters/{cluster}/tokenreview", false, map[string]handlerFunc{"POST": s.reviewToken})
	s.routeWith("/v1/verify", s.hotOpts("verify", false), map[string]handlerFunc{"POST": s.verify})
	s.route("/v1/login", true, map[string]handlerFunc{"POST": s.login})
	s.route("/v1/logout", false, map[string]handlerFunc{"POST": s.logout})
	s.route("/v1/users", false, map[string]handlerFunc{"POST": s.createUser, "GET": s.listUsers})
	s.route("/v1/users/{user}", false, map[string]handlerFunc{"GET": s.getUser, "PATCH": s.updateUser, "DELETE": s.deleteUser})
	s.route("/v1/users/{user}/password", false, map[string]handlerFunc{"PUT": s.setPassword})
	s.route("/v1/users/{user}/sessions", false, map[string]handlerFunc{"GET": s.listSessions, "DELETE": s.revokeSessions})
	s.route("/v1/users/{user}/sessions/{session}", false, map[string]handlerFunc{"DELETE": s.revokeSession})
	s.route("/v1/users/{user}/roles", false, map[string]handlerFunc{"GET": s.userRoles, "POST": s.grantGlobalRole})
	s.route("/v1/users/{user}/roles/{role}", false, map[string]handlerFunc{"DELETE": s.revokeGlobalRole})
	s.route("/v1/roles", false, map[string]handlerFunc{"GET": s.listRoles, "POST": s.createRole})
	s.route("/v1/roles/{role}", false, map[string]handlerFunc{"GET": s.getRole, "PATCH": s.updateRole, "DELETE": s.deleteRole})
	s.route("/v1/projects/{project}/members", false, map[string]handlerFunc{"GET": s.members, "POST": s.addMember})
	s.route("/v1/projects/{project}/members/{user}/roles/{role}", false, map[string]handlerFunc{"DELETE": s.removeMember})
	s.route("/v1/whoami", false, map[string]handlerFunc{"GET": s.whoami})
	s.route("/v1/audit", false, map[string]handlerFunc{"GET": s.listEvents})
	s.route("/v1/leaks", false, map[string]handlerFunc{"POST": s.reportLeaks})
	// GitHub's secret scanning signs its reports: the signature, checked over the raw body
	// before anything reads it, is the request's only credential, and no browser can make one.
	s.routeWith("/v1/leaks/github", routeOpts{public: true}, map[string]handlerFunc{"POST": s.githubLeaks})
	// The gateway check answers about another service's request (Envoy appends that request's
	// path and query), reads no body, is reached by gateways rather than browsers, and takes no
	// ambient credential: the guard leaves it alone.
	gateway := s.hotOpts("auth", true)
	gateway.guarded = false
	s.routeWith("/v1/auth", gateway, map[string]handlerFunc{"GET": s.forwardAuth, "POST": s.forwardAuth, "HEAD": s.forwardAuth})
	// Envoy's ext_authz appends the original path to the service's path prefix.
	s.routeWith("/v1/auth/{path...}", gateway, map[string]handlerFunc{"GET": s.forwardAuth, "POST": s.forwardAuth, "HEAD": s.forwardAuth})
	if s.metrics != nil && !s.metricsElsewhere {
		h := MetricsHandler(s.metrics, s.metricsToken)
		s.route("/metrics", true, map[string]handlerFunc{"GET": func(w http.ResponseWriter, r *http.Request) error {
			h.ServeHTTP(w, r)
			return nil
		}})
	}
	s.route("/v1/openapi.json", true, map[string]handlerFunc{"GET": s.openAPIDoc})
	s.route("/healthz", true, map[string]handlerFunc{"GET": s.healthz})
	s.route("/readyz", true, map[string]handlerFunc{"GET": s.readyz})
	s.mux.Handle("/", s.wrap(routeOpts{public: true, guarded: true}, func(w http.ResponseWriter, r *http.Request) error {
		return keyward.Errorf(keyward.ENotFound, "no such endpoint")
	}))
}

// route registers a guarded route (see routeWith).
func (s *Server) route(path string, public bool, handlers map[string]handlerFunc) {
	s.routeWith(path, routeOpts{public: public, guarded: true}, handlers)
}

// routeWith registers one handler per method and a fallback that answers 405 with the Allow
// header in problem+json, which net/http's own 405 does not.
func (s *Server) routeWith(path string, o routeOpts, handlers map[string]handlerFunc) {
	allow := make([]string, 0, len(handlers))
	for method, h := range handlers {
		s.mux.Handle(method+" "+path, s.wrap(o, h))
		allow = append(allow, method)
	}
	methods := slices.Sorted(maps.Keys(handlers))
	for _, m := range methods {
		s.endpoints = append(s.endpoints, Endpoint{Method: m, Path: path, Public: o.public})
	}
	if _, ok := handlers["GET"]; ok {
		allow = append(allow, "HEAD")
	}
	sort.Strings(allow)
	s.mux.Handle(path, s.wrap(routeOpts{public: true, guarded: o.guarded}, func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return keyward.Errorf(keyward.EMethodNotAllowed, "method %s is not allowed here", r.Method)
	}))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// statusWriter remembers the status for the access log, and a hot endpoint's verification
// code for its metrics and access line.
type statusWriter struct {
	http.ResponseWriter
	status int
	code   string // the verification's code, set by a hot endpoint through noteCode
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// wrap applies the common middleware (see base), then authentication (unless public) and the
// native error rendering.
func (s *Server) wrap(o routeOpts, h handlerFunc) http.Handler {
	return s.base(surface{render: s.renderNative}, o, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !o.public {
			caller, err := s.authenticate(r)
			if err != nil {
				s.renderNative(w, r, err)
				return
			}
			r = r.WithContext(keyward.NewContext(r.Context(), caller))
		}
		if err := h(w, r); err != nil {
			s.renderNative(w, r, err)
		}
	}))
}

// base applies what every surface shares, in order: request id, access log, panic recovery,
// body limit, deadline (not on hot endpoints: see hot.go), and the guard (guard.go) whose
// refusals sf renders.
func (s *Server) base(sf surface, o routeOpts, h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w := &statusWriter{ResponseWriter: rw}
		id := requestID()
		rw.Header()[headerRequestID] = []string{id}
		defer func() {
			if p := recover(); p != nil {
				s.logger.Error("panic serving request", "request_id", id, "panic", p)
				if w.status == 0 {
					s.writeError(w, r, id, keyward.Errorf(keyward.EInternal, "internal error"))
				}
			}
			s.finish(w, r, id, o, time.Since(start))
		}()
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		}
		if o.surface == "" {
			ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		if o.guarded {
			if err := s.guard(r, sf); err != nil {
				sf.render(w, r, err)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// RedactKeys replaces every keyward token in s (some vendor APIs put the key in the URL) by its
// displayable start, so that a log line never holds a key.
func RedactKeys(s string) string {
	if !strings.Contains(s, "kw_") {
		return s
	}
	return token.Pattern.ReplaceAllStringFunc(s, func(k string) string { return token.Start(k) + "..." })
}

// Mount serves another surface (a vendor dialect) under pattern, behind the common middleware
// but with its own authentication and error shapes. The middleware's refusals come in h's
// shape when h is an ErrorRenderer; a FormSurface may take HTML-form bodies.
func (s *Server) Mount(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.base(s.surfaceOf(h), routeOpts{guarded: true}, h))
	s.mounts = append(s.mounts, pattern)
}

// Mounts lists the patterns given to Mount, in order, for tests that must cover every route.
func (s *Server) Mounts() []string { return append([]string(nil), s.mounts...) }

// nativeKeys is where the native API reads a key: Authorization Bearer or APIToken, or
// X-API-Key; without a key, the client certificate authenticates.
var nativeKeys = peer.Keys{
	Schemes:     []string{"Bearer", "APIToken"},
	Fallback:    []string{"X-API-Key"},
	Certificate: true,
	Missing:     "a valid API key or client certificate is required",
}

// authenticate finds the caller (see nativeKeys).
func (s *Server) authenticate(r *http.Request) (*keyward.Caller, error) {
	return nativeKeys.Authenticate(s.authority, r)
}

// headerRequestID is X-Request-Id, set without canonicalizing it on every request.
const headerRequestID = "X-Request-Id"

// requestID returns 16 random hex digits. A request id is no secret, only unguessable enough
// not to be forged into someone else's log search: math/rand/v2's per-thread ChaCha8 serves it
// in nanoseconds, without crypto/rand's system call.
func requestID() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.Ping(r.Context()); err != nil {
		s.logger.Warn("readiness check failed", "err", err)
		return &keyward.Error{Code: keyward.EUnavailable, Message: "database unavailable", RetryAfter: 5 * time.Second}
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "version": s.version})
}

// MetricsHandler serves m's Prometheus exposition, behind a bearer token when token is not
// empty (compared in constant time; a wrong or missing one gets 401 and nothing else).
func MetricsHandler(m *metrics.Metrics, token string) http.Handler {
	h := m.Handler()
	if token == "" {
		return h
	}
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got := peer.Authorization(r)
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "a bearer token is required for /metrics", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
