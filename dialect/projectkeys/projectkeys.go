// Package projectkeys serves the "project API keys" vendor API over keyward's core:
//
//	POST   /api/projects/{projectId}/api-keys        create a key (201)
//	GET    /api/projects/{projectId}/api-keys        list the project's keys
//	PUT    /api/projects/{projectId}/api-keys        update the key whose id is in the body
//	GET    /api/projects/{projectId}/api-keys/{id}   read one key
//	DELETE /api/projects/{projectId}/api-keys/{id}   delete (revoke) one key
//
// projectId is the project's slug or numeric id. Every answer, success or failure, is the
// envelope {success, errors, messages, result, resultInfo, statusCode} with the HTTP status equal
// to statusCode. The caller authenticates with the Authorization header, "Bearer <key>" or the
// bare key.
//
// The vendor reserves these operations to a project's owners. Each one therefore asks the
// authority for two permissions in the project, by calling authority.AdministeredProject
// (projects:admin, held by the built-in owner and admin roles) and then the operation's own
// method (keys:create, keys:read, keys:update or keys:revoke). The dialect checks nothing itself;
// see docs/dialects/projectkeys.md.
package projectkeys

import (
	"log/slog"
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/peer"
)

// The routes' path patterns.
const (
	collectionPath = "/api/projects/{projectId}/api-keys"
	itemPath       = "/api/projects/{projectId}/api-keys/{id}"
	subtreePath    = "/api/projects/"
)

// Options configure a Handler. Zero values pick the defaults.
type Options struct {
	// Logger receives internal errors with their detail (never a key). Default slog.Default().
	Logger *slog.Logger
}

// Handler serves the project API keys routes.
type Handler struct {
	a      *authority.Authority
	logger *slog.Logger
}

// New returns a Handler that translates the vendor's requests onto a.
func New(a *authority.Authority, opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Handler{a: a, logger: opts.Logger}
}

// Register registers every route with mount (httpapi's (*Server).Mount in keyward serve). Paths
// the vendor serves but methods it does not answer 405 with Allow, and any other path under
// /api/projects/ answers 404, both in the envelope.
func (h *Handler) Register(mount func(pattern string, h http.Handler)) {
	mount("POST "+collectionPath, h.route(h.serve(h.create)))
	mount("GET "+collectionPath, h.route(h.serve(h.list)))
	mount("PUT "+collectionPath, h.route(h.serve(h.update)))
	mount("GET "+itemPath, h.route(h.serve(h.get)))
	mount("DELETE "+itemPath, h.route(h.serve(h.delete)))
	mount(collectionPath, h.route(h.fallback("GET, HEAD, POST, PUT")))
	mount(itemPath, h.route(h.fallback("DELETE, GET, HEAD")))
	mount(subtreePath, h.route(h.fallback("")))
}

// route is one mounted route: it renders errors in the envelope for httpapi's shared
// middleware, which refuses hostile bytes and cross-site requests through RenderError.
type route struct {
	http.Handler
	h *Handler
}

func (h *Handler) route(next http.Handler) route { return route{Handler: next, h: h} }

// RenderError renders err in the envelope.
func (rt route) RenderError(w http.ResponseWriter, r *http.Request, err error) {
	rt.h.writeError(w, r, err)
}

// reply is what an operation answers on success.
type reply struct {
	status  int
	message string
	result  any
	info    string
}

// operation is one route's translation: it runs with the caller in the request's context.
type operation func(r *http.Request) (*reply, error)

// serve authenticates the request, runs op and renders its reply or error in the envelope.
func (h *Handler) serve(op operation) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := keys.Authenticate(h.a, r)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		rep, err := op(r.WithContext(keyward.NewContext(r.Context(), caller)))
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		writeEnvelope(w, rep.status, envelope{
			Success: true, Errors: []string{}, Messages: []string{rep.message},
			Result: rep.result, ResultInfo: rep.info, StatusCode: rep.status,
		})
	})
}

// fallback answers a method the path does not serve (allow lists the ones it does) or, with
// allow empty, a path that does not exist.
func (h *Handler) fallback(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allow == "" {
			h.writeError(w, r, keyward.Errorf(keyward.ENotFound, "no such endpoint"))
			return
		}
		w.Header().Set("Allow", allow)
		h.writeError(w, r, keyward.Errorf(keyward.EMethodNotAllowed, "method %s is not allowed here; use %s", r.Method, allow))
	})
}

// keys is where the caller's key is: the Authorization header, "Bearer <key>" or the bare key.
var keys = peer.Keys{
	Schemes:     []string{"Bearer", ""},
	WrongScheme: "the Authorization header must be \"Bearer <key>\" or the key itself",
	Missing:     "an Authorization header with an API key is required",
}
