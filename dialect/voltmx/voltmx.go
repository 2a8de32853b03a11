// Package voltmx serves the App API Key API of Volt MX Foundry's Engagement server over
// keyward's one core: create, read, modify (extend, describe, regenerate) and delete an
// application's API keys.
//
//	POST   /api/v1/applications/key           create: appId, expiresOn, neverExpires, description
//	GET    /api/v1/applications/key/{appKey}  {status, result: {appAPIKey, description, ...}}
//	POST   /api/v1/applications/key/{appKey}  modify: expiresOn, neverExpires, description, regenerate
//	DELETE /api/v1/applications/key/{appKey}  {id, message}
//
// An application is a keyward project, named by its slug or numeric id in appId; an App API
// key is an API_TOKEN credential of it, addressed in the path by its value. The caller
// authenticates with X-VoltMX-Authorization (a login session's token or an API token) or
// X-VoltMX-App-API-Key (an API token). Bodies are application/x-www-form-urlencoded, as the
// vendor documents, or a JSON object. Dates are mm/dd/yyyy hh:mm:ss in Options.TimeZone (UTC by
// default). Errors are {status, message} with the vendor's statuses: 400 for a key that is not
// found and for invalid or missing data, 401 for a caller that is not authenticated or not
// allowed, 500 for a server failure. docs/dialects/voltmx.md shows every operation with curl.
package voltmx

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/peer"
)

// Path is where the API is served.
const Path = "/api/v1/applications/key"

// Options configure a Handler. Zero values pick the defaults.
type Options struct {
	// TimeZone is the zone in which expiresOn is read, when it names none, and in which
	// createdOn, updatedOn and expiresOn are written (with the zone's abbreviation, as the
	// vendor writes "09/20/2019 06:44:59 WEST"). Default UTC. time.LoadLocation gives a
	// named zone that follows daylight saving time; the binary must then have the zone
	// database (the system's, or the time/tzdata package).
	TimeZone *time.Location
	// Logger receives internal errors with their detail, under the request id the caller is
	// given; never a key. Default slog.Default().
	Logger *slog.Logger
}

// Handler serves the Volt MX routes.
type Handler struct {
	a      *authority.Authority
	loc    *time.Location
	logger *slog.Logger
	mux    *http.ServeMux
}

// New returns a Handler over a.
func New(a *authority.Authority, opts Options) *Handler {
	if opts.TimeZone == nil {
		opts.TimeZone = time.UTC
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Handler{a: a, loc: opts.TimeZone, logger: opts.Logger, mux: http.NewServeMux()}
	h.mux.Handle("POST "+Path, h.wrap(opCreate, h.create))
	h.mux.Handle("GET "+Path+"/{appKey}", h.wrap(opGet, h.get))
	h.mux.Handle("POST "+Path+"/{appKey}", h.wrap(opModify, h.modify))
	h.mux.Handle("DELETE "+Path+"/{appKey}", h.wrap(opDelete, h.delete))
	h.mux.Handle(Path, h.notAllowed("POST"))
	h.mux.Handle(Path+"/{appKey}", h.notAllowed("DELETE, GET, HEAD, POST"))
	return h
}

// Register mounts the routes; keyward serve passes httpapi's (*Server).Mount, so that they run
// behind the shared middleware.
func (h *Handler) Register(mount func(pattern string, h http.Handler)) {
	mount(Path, h)
	mount(Path+"/{appKey}", h)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// RenderError renders err in the vendor's error shape, worded for the operation r is: httpapi's
// shared middleware renders its refusals (hostile bytes, cross-site requests) through it.
func (h *Handler) RenderError(w http.ResponseWriter, r *http.Request, err error) {
	h.writeError(w, r, opOf(r), err)
}

// AcceptsFormBodies tells httpapi's shared middleware that this API takes HTML-form bodies, as
// the vendor documents (Content-Type: application/x-www-form-urlencoded); cross-site forms are
// then kept out by the origin check alone.
func (h *Handler) AcceptsFormBodies() bool { return true }

// opOf tells which operation a request is for, by its method and path.
func opOf(r *http.Request) op {
	key := r.URL.Path != Path
	switch {
	case r.Method == "POST" && !key:
		return opCreate
	case r.Method == "GET" && key:
		return opGet
	case r.Method == "POST" && key:
		return opModify
	case r.Method == "DELETE" && key:
		return opDelete
	}
	return opOther
}

// op names an operation, for the vendor's wording of its errors.
type op int

const (
	opCreate op = iota
	opGet
	opModify
	opDelete
	opOther
)

// handlerFunc is a handler that returns its error for wrap to render.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// wrap authenticates the caller, runs fn, and renders its error in the vendor's shape.
func (h *Handler) wrap(o op, fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := keys.Authenticate(h.a, r)
		if err == nil {
			err = fn(w, r.WithContext(keyward.NewContext(r.Context(), caller)))
		}
		if err != nil {
			h.writeError(w, r, o, err)
		}
	})
}

func (h *Handler) notAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		h.writeError(w, r, opOther, keyward.Errorf(keyward.EMethodNotAllowed, "method %s is not allowed here", r.Method))
	})
}

// keys is where the caller's token is: X-VoltMX-Authorization (a session or API token), else
// X-VoltMX-App-API-Key, else a standard Authorization: Bearer (or APIToken) header. A scheme
// prefix on the vendor headers is tolerated.
var keys = peer.Keys{
	Headers: []string{"X-VoltMX-Authorization", "X-VoltMX-App-API-Key"},
	Schemes: []string{"Bearer", "APIToken"},
	Missing: "send X-VoltMX-Authorization or X-VoltMX-App-API-Key",
}
