// Package console is keyward's web console: server-rendered HTML pages over the same authority
// methods as the native API, so that every permission and the dominance rule hold here as
// there. It is a surface like httpapi: handlers parse a form, call one authority method and
// render a template; no business rule lives here. Its assets (templates, CSS, JS and vendored
// libraries) are embedded, so what the binary serves is what the repository holds.
package console

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Patterns are the paths the console answers; Register mounts each. Everything else (/v1/...,
// /metrics, /healthz, the dialects) stays the API's.
var Patterns = []string{
	"/{$}", "/login", "/logout", "/static/", "/projects", "/projects/", "/users", "/users/",
	"/roles", "/clusters", "/audit", "/account", "/account/",
}

// Options configure a Handler. Zero values pick the defaults.
type Options struct {
	// Logger receives internal errors (never a secret). Default slog.Default().
	Logger *slog.Logger
	// Now is the clock for "expires in" and "last used"; tests inject one. Default time.Now.
	Now func() time.Time
}

// Handler serves the console.
type Handler struct {
	authority *authority.Authority
	logger    *slog.Logger
	now       func() time.Time
	mux       *http.ServeMux
	pages     map[string]*template.Template
	static    http.Handler
}

// New returns the console over a.
func New(a *authority.Authority, opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	h := &Handler{authority: a, logger: opts.Logger, now: opts.Now, mux: http.NewServeMux(),
		pages: parsePages(), static: http.StripPrefix("/static/", http.FileServerFS(static))}
	h.routes()
	return h
}

// Register mounts the console's patterns; keyward serve passes httpapi's (*Server).Mount, so
// that its requests get the shared middleware (request id, access log, body limit, deadline and
// the guard that refuses cross-origin writes and hostile bytes).
func (h *Handler) Register(mount func(pattern string, h http.Handler)) {
	for _, p := range Patterns {
		mount(p, h)
	}
}

// AcceptsFormBodies tells the shared guard that the console's writes are HTML forms.
func (h *Handler) AcceptsFormBodies() bool { return true }

// RenderError renders the shared middleware's refusals as a console page.
func (h *Handler) RenderError(w http.ResponseWriter, r *http.Request, err error) {
	securityHeaders(w)
	h.renderError(w, r, err)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	h.mux.ServeHTTP(w, r)
}

// csp allows the console's own files only: no inline script or style anywhere, which is why
// chart data travels in <script type="application/json"> blocks that are never executed.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; " +
	"base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

func securityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
}

// handlerFunc is a console handler that returns its error for renderError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (h *Handler) routes() {
	h.mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") { // files only, no directory listings
			h.renderError(w, r, keyward.Errorf(keyward.ENotFound, "no such file"))
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.static.ServeHTTP(w, r)
	}))
	h.mux.Handle("GET /login", h.public(h.loginPage))
	h.mux.Handle("POST /login", h.public(h.login))
	h.mux.Handle("GET /{$}", h.public(func(w http.ResponseWriter, r *http.Request) error {
		http.Redirect(w, r, "/projects", http.StatusSeeOther)
		return nil
	}))
	h.mux.Handle("POST /logout", h.authed(h.logout))

	h.mux.Handle("GET /projects", h.authed(h.projects))
	h.mux.Handle("POST /projects", h.authed(h.createProject))
	h.mux.Handle("GET /projects/{project}", h.authed(h.credentials))
	h.mux.Handle("GET /projects/{project}/new", h.authed(h.newCredential))
	h.mux.Handle("POST /projects/{project}/credentials", h.authed(h.createCredential))
	h.mux.Handle("GET /projects/{project}/credentials/{ref}", h.authed(h.credential))
	h.mux.Handle("GET /projects/{project}/credentials/{ref}/revoke", h.authed(h.confirmRevoke))
	h.mux.Handle("POST /projects/{project}/credentials/{ref}/{action}", h.authed(h.credentialAction))
	h.mux.Handle("GET /projects/{project}/members", h.authed(h.members))
	h.mux.Handle("POST /projects/{project}/members", h.authed(h.addMember))
	h.mux.Handle("POST /projects/{project}/members/remove", h.authed(h.removeMember))

	h.mux.Handle("GET /users", h.authed(h.users))
	h.mux.Handle("POST /users", h.authed(h.createUser))
	h.mux.Handle("GET /users/{user}", h.authed(h.user))
	h.mux.Handle("POST /users/{user}/{action}", h.authed(h.userAction))
	h.mux.Handle("GET /roles", h.authed(h.roles))
	h.mux.Handle("POST /roles", h.authed(h.createRole))
	h.mux.Handle("GET /clusters", h.authed(h.clusters))
	h.mux.Handle("POST /clusters", h.authed(h.createCluster))
	h.mux.Handle("GET /audit", h.authed(h.audit))
	h.mux.Handle("GET /account", h.authed(h.account))
	h.mux.Handle("POST /account/password", h.authed(h.changePassword))

	h.mux.Handle("/", h.public(func(w http.ResponseWriter, r *http.Request) error {
		return keyward.Errorf(keyward.ENotFound, "no such page")
	}))
}

// public serves a page that needs no session.
func (h *Handler) public(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if err := fn(w, r); err != nil {
			h.renderError(w, r, err)
		}
	})
}

// authed serves a page for a logged-in user: the session cookie authenticates through the
// authority, the caller rides in the context as on the API, and every POST must carry the
// session's CSRF token. Without a session a page redirects to the login form.
func (h *Handler) authed(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		sess, err := h.session(r)
		if err != nil {
			if keyward.ErrorCode(err) != keyward.EUnauthenticated {
				h.renderError(w, r, err)
				return
			}
			clearCookie(w, r)
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			h.renderError(w, r, keyward.Errorf(keyward.EUnauthenticated, "your session has ended: log in again"))
			return
		}
		if r.Method == http.MethodPost && !sess.checkCSRF(r.PostFormValue(csrfField)) {
			h.renderError(w, r, keyward.Errorf(keyward.EForbidden, "this form is out of date or was not sent by the console: reload the page and try again"))
			return
		}
		r = r.WithContext(keyward.NewContext(withSession(r.Context(), sess), sess.caller))
		if err := fn(w, r); err != nil {
			h.renderError(w, r, err)
		}
	})
}

// statusOf maps an error code to the page's status.
func statusOf(code keyward.Code) int {
	switch code {
	case keyward.ENotFound:
		return http.StatusNotFound
	case keyward.EConflict:
		return http.StatusConflict
	case keyward.EInvalid:
		return http.StatusBadRequest
	case keyward.EUnauthenticated:
		return http.StatusUnauthorized
	case keyward.EForbidden:
		return http.StatusForbidden
	case keyward.ERateLimited:
		return http.StatusTooManyRequests
	case keyward.EUnavailable:
		return http.StatusServiceUnavailable
	case keyward.ETimeout:
		return http.StatusGatewayTimeout
	case keyward.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case keyward.EUnsupported:
		return http.StatusUnsupportedMediaType
	case keyward.EMethodNotAllowed:
		return http.StatusMethodNotAllowed
	}
	return http.StatusInternalServerError
}

// renderError shows err's caller-safe message on an error page; an internal error is logged
// and shown as "internal error".
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, err error) {
	code := keyward.ErrorCode(err)
	var ke *keyward.Error
	if !errors.As(err, &ke) {
		h.logger.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Cache-Control", "no-store")
	p := h.newPage(r, "Error")
	p.Status = statusOf(code)
	p.Error = keyward.ErrorMessage(err)
	h.render(w, p, "error.html", nil)
}
