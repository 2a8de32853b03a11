// Package f5xc serves the credential API of F5 Distributed Cloud (F5 XC, formerly Volterra)
// over keyward: /api/web/namespaces/{namespace}/api_credentials, its renew, revoke, activate and
// bulk_revoke verbs, and the same verbs for service_credentials. A namespace is a keyward
// project, named by its slug ("system" always exists). See docs/dialects/f5xc.md for every
// operation, and for what keyward puts in the fields F5 XC fills from data keyward does not
// have (user_email, uid).
package f5xc

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/httpapi/jsonbody"
	"github.com/keyward/keyward/httpapi/refusal"
	"github.com/keyward/keyward/peer"
)

// Prefix is the path every route of the dialect is under.
const Prefix = "/api/web/"

// ConsolePrefix starts the longer URLs of F5 XC's own examples, which name the console's
// environment, region and tenant namespace before Prefix:
// /api/v1/api/{environment}/{region}/namespaces/{tenant}/api/web/... A client configured with
// such a base URL reaches the same routes.
const ConsolePrefix = "/api/v1/api/"

// Options configure a Handler. Zero values pick the defaults.
type Options struct {
	// Logger receives internal errors with their detail; never a secret. Default slog.Default().
	Logger *slog.Logger
}

// Handler serves the dialect.
type Handler struct {
	a         *authority.Authority
	logger    *slog.Logger
	mux       *http.ServeMux
	endpoints []Endpoint
}

// Endpoint is one method and path pattern the dialect answers.
type Endpoint struct{ Method, Path string }

// New returns a Handler over a.
func New(a *authority.Authority, opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Handler{a: a, logger: opts.Logger, mux: http.NewServeMux()}
	for _, k := range []*kind{apiCredentials, serviceCredentials} {
		ns := "/api/web/namespaces/{namespace}/"
		h.route(ns+k.collection, map[string]handlerFunc{"POST": k.create, "GET": k.list})
		h.route(ns+k.collection+"/{name}", map[string]handlerFunc{"GET": k.get})
		h.route(ns+"renew/"+k.collection, map[string]handlerFunc{"POST": renew})
		h.route(ns+"revoke/"+k.collection, map[string]handlerFunc{"POST": revoke})
		h.route(ns+"activate/"+k.collection, map[string]handlerFunc{"POST": activate})
		h.route(ns+"bulk_revoke/"+k.collection, map[string]handlerFunc{"POST": k.bulkRevoke})
	}
	h.mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, keyward.Errorf(keyward.ENotFound, "no such endpoint"))
	})
	return h
}

// Register mounts the dialect; keyward serve passes httpapi's (*Server).Mount, so every route
// runs behind the shared middleware.
func (h *Handler) Register(mount func(pattern string, h http.Handler)) {
	mount(Prefix, h)
	mount(ConsolePrefix, h)
}

// ServeHTTP implements http.Handler. A path under ConsolePrefix is served as the /api/web/ path
// it ends with; any other path there is the dialect's 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, ConsolePrefix) {
		path, raw, ok := consolePath(r.URL)
		if !ok {
			h.writeError(w, r, keyward.Errorf(keyward.ENotFound, "no such endpoint"))
			return
		}
		r = r.Clone(r.Context())
		r.URL.Path, r.URL.RawPath = path, raw
	}
	h.mux.ServeHTTP(w, r)
}

// consolePath returns the /api/web/ path that a console URL's path ends with (and its escaped
// form, when it has one), if it has the four segments environment, region, "namespaces" and a
// tenant namespace before it.
func consolePath(u *url.URL) (path, raw string, ok bool) {
	cut := func(p string) (string, bool) {
		parts := strings.SplitN(strings.TrimPrefix(p, ConsolePrefix), "/", 5)
		if len(parts) != 5 || parts[0] == "" || parts[1] == "" || parts[2] != "namespaces" || parts[3] == "" {
			return "", false
		}
		rest := "/" + parts[4]
		return rest, strings.HasPrefix(rest, Prefix)
	}
	if path, ok = cut(u.Path); !ok {
		return "", "", false
	}
	if u.RawPath != "" {
		if raw, ok = cut(u.RawPath); !ok {
			return "", "", false
		}
	}
	return path, raw, true
}

// RenderError renders err in the dialect's error shape: httpapi's shared middleware renders
// its refusals (hostile bytes, cross-site requests) through it.
func (h *Handler) RenderError(w http.ResponseWriter, r *http.Request, err error) {
	h.writeError(w, r, err)
}

// Endpoints lists every endpoint in registration order.
func (h *Handler) Endpoints() []Endpoint { return append([]Endpoint(nil), h.endpoints...) }

// handlerFunc serves one authenticated request for the authority and returns its error for
// the handler to render.
type handlerFunc func(a *authority.Authority, w http.ResponseWriter, r *http.Request) error

func (h *Handler) route(path string, methods map[string]handlerFunc) {
	allow := make([]string, 0, len(methods))
	for _, m := range []string{"GET", "POST"} {
		fn, ok := methods[m]
		if !ok {
			continue
		}
		allow = append(allow, m)
		h.endpoints = append(h.endpoints, Endpoint{Method: m, Path: path})
		h.mux.HandleFunc(m+" "+path, func(w http.ResponseWriter, r *http.Request) {
			caller, err := keys.Authenticate(h.a, r)
			if err == nil {
				err = fn(h.a, w, r.WithContext(keyward.NewContext(r.Context(), caller)))
			}
			if err != nil {
				h.writeError(w, r, err)
			}
		})
	}
	h.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		h.writeError(w, r, keyward.Errorf(keyward.EMethodNotAllowed, "method %s is not allowed here", r.Method))
	})
}

// keys is where F5 XC's caller presents itself: "Authorization: APIToken <token>" (or Bearer)
// or, without that header, the client certificate of the TLS connection (an API_CERTIFICATE's
// bundle).
var keys = peer.Keys{
	Schemes:     []string{"APIToken", "Bearer"},
	WrongScheme: "the Authorization header must be APIToken <token>",
	Certificate: true,
	Missing:     "an API token (Authorization: APIToken <token>) or an API certificate is required",
}

// Error is the body of every error: the gRPC status code F5 XC's gateway puts in "code" and a
// message that is safe to show.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// statusOf maps a keyward error code to the HTTP status and gRPC code F5 XC answers with. It
// is the dialect's one table; every status is one the F5 XC API documents (and 405 for a
// method a path does not take).
func statusOf(code keyward.Code) (status, grpc int) {
	switch code {
	case keyward.EInvalid, keyward.ETooLarge, keyward.EUnsupported:
		return http.StatusBadRequest, 3 // InvalidArgument
	case keyward.EUnauthenticated:
		return http.StatusUnauthorized, 16 // Unauthenticated
	case keyward.EForbidden:
		return http.StatusForbidden, 7 // PermissionDenied
	case keyward.ENotFound:
		return http.StatusNotFound, 5 // NotFound
	case keyward.EMethodNotAllowed:
		return http.StatusMethodNotAllowed, 12 // Unimplemented
	case keyward.EConflict:
		return http.StatusConflict, 6 // AlreadyExists
	case keyward.ERateLimited:
		return http.StatusTooManyRequests, 8 // ResourceExhausted
	case keyward.EUnavailable:
		return http.StatusServiceUnavailable, 14 // Unavailable
	case keyward.ETimeout:
		return http.StatusGatewayTimeout, 4 // DeadlineExceeded
	}
	return http.StatusInternalServerError, 13 // Internal
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	err = refusal.Normalize(err)
	code := keyward.ErrorCode(err)
	if code == keyward.EInternal {
		h.logger.Error("internal error", "request_id", w.Header().Get("X-Request-Id"), "method", r.Method, "path", r.URL.Path, "err", err)
	}
	refusal.SetRetryAfter(w.Header(), err)
	if code == keyward.EUnauthenticated {
		w.Header().Set("WWW-Authenticate", `APIToken realm="keyward"`)
	}
	status, grpc := statusOf(code)
	writeJSON(w, status, Error{Code: grpc, Message: keyward.ErrorMessage(err)})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	// Create responses carry a secret; no intermediary may keep any response.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// decode reads the JSON body strictly into v: one object, no unknown fields. The body must say
// it is JSON, as F5 XC documents every request (Content-Type: application/json): a text/plain
// or form body read as JSON anyway is what a cross-site HTML form sends.
func decode(r *http.Request, v any) error {
	return jsonbody.Refusal(jsonbody.Decode(r, v, jsonbody.Rules{Types: jsonbody.JSON, Strict: true}), nil)
}

// namespace returns the path's namespace (the project), refusing a body whose own namespace
// names another one: the request would otherwise act where its sender did not mean it to.
func namespace(r *http.Request, body string) (string, error) {
	ns := r.PathValue("namespace")
	if body != "" && body != ns {
		return "", keyward.Invalid("namespace", fmt.Sprintf("is %q in the body but %q in the path", body, ns))
	}
	return ns, nil
}

// timestamp renders t in RFC 3339, UTC; "" for none.
func timestamp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// uid renders a keyward id in the UUID layout F5 XC's uid fields have: the id in hexadecimal,
// zero-padded to 32 digits. It is stable and tells the id back (0x2a is id 42).
func uid(id int64) string {
	s := fmt.Sprintf("%032x", uint64(id))
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// days turns F5 XC's expiration_days into keyward's: 0, proto3's "not set", is nil, so that
// keyward's default lifetime applies.
func days(n int64) *int64 {
	if n == 0 {
		return nil
	}
	return &n
}
