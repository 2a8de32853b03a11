// Package servicestack serves ServiceStack's API key services over keyward's one core: a user
// regenerates and lists their own API keys, one per environment and key type.
//
//	POST /auth/apikeys/regenerate                 new keys for live and test (the old ones are cancelled)
//	POST /auth/apikeys/regenerate/{Environment}   new keys for one environment
//	GET  /auth/apikeys                            the caller's active keys, both environments
//	GET  /auth/apikeys/{Environment}              the caller's active keys in one environment
//
// The caller authenticates with its key, as ServiceStack's API key provider accepts it:
// Authorization: Bearer <key>, or HTTP Basic with the key as the user name and no password.
// Only callers holding one of the roles Client, Admin or Partner in the project (a global admin
// counts) may call; the authority checks it (authority.OwnKeysScope.AnyRole). The keys live in
// Options.Project or, by default, in the project of the credential the caller authenticated
// with; each is an API_TOKEN credential created by the caller with the caller's roles, marked as
// an own key (keyward.PurposeOwnKey) and named <user>-<environment>-<key type>-<n> (see
// authority/userkeys.go).
//
// Responses are JSON by default and JSV (see jsv.go) when the request says so with ?format=jsv,
// a .jsv suffix on the path, or Accept: text/jsv (?format=json and .json ask for JSON). Request
// bodies may be JSON or JSV, with their Content-Type, or empty; form and text bodies, which a
// cross-site HTML form can send with a browser's cached credentials, are refused. Errors are
// the response DTO with only its ResponseStatus {ErrorCode, Message, Errors: [{ErrorCode,
// FieldName, Message}]}, never a stack trace. docs/dialects/servicestack.md shows every operation with curl.
package servicestack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/httpapi/jsonbody"
	"github.com/keyward/keyward/httpapi/refusal"
	"github.com/keyward/keyward/peer"
)

// The paths served.
const (
	PathKeys       = "/auth/apikeys"
	PathRegenerate = "/auth/apikeys/regenerate"
)

// DefaultRoles are the roles a caller needs one of, as the seed documents the service:
// "Requires any of the roles: Client, Admin, Partner".
var DefaultRoles = []string{"Client", "Admin", "Partner"}

// Options configure a Handler. Zero values pick the defaults.
type Options struct {
	// Logger receives internal errors with their detail, under the request id the caller is
	// given; never a key. Default slog.Default().
	Logger *slog.Logger
	// Project is the slug or id of the project whose keys this API manages, as one
	// ServiceStack application keeps its users' keys. Empty (the default): the project of the
	// credential the caller authenticated with.
	Project string
	// Roles are the roles (names or ids) a caller needs one of. Default DefaultRoles.
	Roles []string
	// KeyTypes are the key types regenerated for each environment. Default secret and
	// publishable.
	KeyTypes []keyward.KeyType
	// ExpirationDays is the lifetime of regenerated keys; 0 means keyward's default
	// (keyward.DefaultExpirationDays). NeverExpires makes keys that never expire, as
	// ServiceStack's provider does unless ExpireKeysAfter is set.
	ExpirationDays int64
	NeverExpires   bool
}

// Handler serves the ServiceStack routes.
type Handler struct {
	a      *authority.Authority
	opts   Options
	logger *slog.Logger
}

// New returns a Handler over a.
func New(a *authority.Authority, opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if len(opts.Roles) == 0 {
		opts.Roles = DefaultRoles
	}
	return &Handler{a: a, opts: opts, logger: opts.Logger}
}

// Register mounts every route; keyward serve passes httpapi's (*Server).Mount, so that they run
// behind the shared middleware. Each operation is also served with a .json or .jsv suffix,
// and every path answers other methods with 405 and Allow.
func (h *Handler) Register(mount func(pattern string, h http.Handler)) {
	regenerate := h.route(regenerateOp, h.serve(regenerateOp, h.regenerate))
	list := h.route(listOp, h.serve(listOp, h.list))
	mount("POST "+PathRegenerate, regenerate)
	mount("POST "+PathRegenerate+".json", regenerate)
	mount("POST "+PathRegenerate+".jsv", regenerate)
	mount("POST "+PathRegenerate+"/{Environment}", regenerate)
	mount("GET "+PathKeys, list)
	mount("GET "+PathKeys+".json", list)
	mount("GET "+PathKeys+".jsv", list)
	mount("GET "+PathKeys+"/{Environment}", list)
	for _, p := range []string{PathKeys, PathKeys + ".json", PathKeys + ".jsv", PathKeys + "/{Environment}"} {
		mount(p, h.route(listOp, h.notAllowed(listOp, "GET, HEAD")))
	}
	mount(PathRegenerate+"/{Environment}", h.route(regenerateOp, h.notAllowed(regenerateOp, "POST")))

	// ServiceStack's predefined routes, which its clients (JsonServiceClient's post and api)
	// use by default: /api/{Request} (JSON unless asked otherwise), /json/reply/{Request} and
	// /jsv/reply/{Request}. The request DTO is named as ServiceStack names it, or as the seed
	// does; a predefined route takes any method. Other names there get ServiceStack's 404.
	for _, dto := range []struct {
		name string
		rt   route
	}{{"RegenerateApiKeys", regenerate}, {"RegenerateApiKeyRequest", regenerate}, {"GetApiKeys", list}} {
		mount("/api/"+dto.name, dto.rt)
		mount("/json/reply/"+dto.name, dto.rt)
		mount("/jsv/reply/"+dto.name, h.route(dto.rt.o, forceJSV(dto.rt.Handler)))
	}
	unknown := func(f format) route {
		return h.route(regenerateOp, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.writeError(w, r, f, regenerateOp, keyward.Errorf(keyward.ENotFound, "no service for this request"))
		}))
	}
	mount("/api/{request}", unknown(formatJSON))
	mount("/json/reply/", unknown(formatJSON))
	mount("/jsv/reply/", unknown(formatJSV))
}

// forceJSV makes a request answered in JSV unless it asks for a format itself: what
// /jsv/reply/ means.
func forceJSV(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("format") == "" {
			r = r.Clone(r.Context())
			q := r.URL.Query()
			q.Set("format", "jsv")
			r.URL.RawQuery = q.Encode()
		}
		next.ServeHTTP(w, r)
	})
}

// route is one mounted route of operation o: it renders errors as o's response DTO for
// httpapi's shared middleware, which refuses hostile bytes and cross-site requests through
// RenderError.
type route struct {
	http.Handler
	h *Handler
	o op
}

func (h *Handler) route(o op, next http.Handler) route { return route{Handler: next, h: h, o: o} }

// RenderError renders err as the operation's response DTO, in the format the request asks for.
func (rt route) RenderError(w http.ResponseWriter, r *http.Request, err error) {
	o := rt.o
	if env, _, _ := cutFormatSuffix(r.PathValue("Environment")); o == listOp && env == "regenerate" {
		o = regenerateOp
	}
	rt.h.writeError(w, r, responseFormat(r), o, err)
}

// op tells which operation a request is for, which decides the DTO its errors come in.
type op int

const (
	listOp op = iota
	regenerateOp
)

// format is a response (or request body) format.
type format int

const (
	formatJSON format = iota
	formatJSV
)

// Content types.
const (
	contentTypeJSON = "application/json; charset=utf-8"
	contentTypeJSV  = "text/jsv; charset=utf-8"
)

// call is one parsed request.
type call struct {
	format      format
	environment string
}

type opFunc func(ctx context.Context, c call) (any, error)

// serve authenticates the caller, parses the request, runs fn and renders its answer or error.
func (h *Handler) serve(o op, fn opFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := call{format: responseFormat(r)}
		env, _, _ := cutFormatSuffix(r.PathValue("Environment"))
		if o == listOp && env == "regenerate" {
			// GET /auth/apikeys/regenerate: the path of the other operation.
			w.Header().Set("Allow", "POST")
			h.writeError(w, r, c.format, o, keyward.Errorf(keyward.EMethodNotAllowed, "method %s is not allowed here", r.Method))
			return
		}
		caller, err := keys.Authenticate(h.a, r)
		if err == nil {
			ctx := keyward.NewContext(r.Context(), caller)
			if c.environment, err = requestEnvironment(r, c.format, env); err == nil {
				var resp any
				if resp, err = fn(ctx, c); err == nil {
					h.write(w, c.format, http.StatusOK, resp)
					return
				}
			}
		}
		h.writeError(w, r, c.format, o, err)
	})
}

func (h *Handler) notAllowed(o op, allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allowed, which := allow, o
		if env, _, _ := cutFormatSuffix(r.PathValue("Environment")); o == listOp && env == "regenerate" {
			allowed, which = "POST", regenerateOp
		}
		w.Header().Set("Allow", allowed)
		h.writeError(w, r, responseFormat(r), which, keyward.Errorf(keyward.EMethodNotAllowed, "method %s is not allowed here", r.Method))
	})
}

// scope is the authority's view of which keys a call is about.
func (h *Handler) scope(env string) authority.OwnKeysScope {
	s := authority.OwnKeysScope{Project: h.opts.Project, AnyRole: h.opts.Roles}
	if env != "" {
		s.Environments = []keyward.Environment{keyward.Environment(env)}
	}
	return s
}

// regenerate serves POST /auth/apikeys/regenerate[/{Environment}].
func (h *Handler) regenerate(ctx context.Context, c call) (any, error) {
	in := authority.RegenerateOwnKeysInput{
		OwnKeysScope: h.scope(c.environment), KeyTypes: h.opts.KeyTypes, NeverExpires: h.opts.NeverExpires,
	}
	if h.opts.ExpirationDays > 0 {
		in.ExpirationDays = &h.opts.ExpirationDays
	}
	keys, err := h.a.RegenerateOwnKeys(ctx, in)
	if err != nil {
		return nil, err
	}
	resp := &RegenerateApiKeysResponse{Results: make([]UserApiKey, 0, len(keys))}
	for _, k := range keys {
		resp.Results = append(resp.Results, userAPIKey(&k.Credential, k.Key))
	}
	return resp, nil
}

// list serves GET /auth/apikeys[/{Environment}].
func (h *Handler) list(ctx context.Context, c call) (any, error) {
	keys, err := h.a.ListOwnKeys(ctx, h.scope(c.environment))
	if err != nil {
		return nil, err
	}
	resp := &GetApiKeysResponse{Results: make([]UserApiKey, 0, len(keys))}
	for _, k := range keys {
		resp.Results = append(resp.Results, userAPIKey(k.Credential, k.Key))
	}
	return resp, nil
}

// userAPIKey renders a credential as ServiceStack's UserApiKey.
func userAPIKey(c *keyward.Credential, key string) UserApiKey {
	k := UserApiKey{Key: key, KeyType: string(c.KeyType), ExpiryDate: NewDate(c.ExpiresAt)}
	if len(c.Meta) > 0 {
		k.Meta = c.Meta
	}
	return k
}

// keys is where the caller's key is: Authorization: Bearer <key>, or Basic with the key as the
// user name and an empty password.
var keys = peer.Keys{
	Schemes: []string{"Bearer", "Basic"},
	Missing: "a valid API key is required: Authorization: Bearer <key>, or Basic with the key as the user name",
}

// responseFormat picks the response format as ServiceStack does: ?format=, then a .json or
// .jsv suffix on the path, then the Accept header (the highest q of application/json, text/json
// and text/jsv), then JSON. A format keyward does not serve (xml, csv, ...) gets JSON.
func responseFormat(r *http.Request) format {
	switch strings.ToLower(r.URL.Query().Get("format")) {
	case "jsv":
		return formatJSV
	case "json":
		return formatJSON
	}
	if strings.HasSuffix(r.URL.Path, ".jsv") {
		return formatJSV
	}
	if strings.HasSuffix(r.URL.Path, ".json") {
		return formatJSON
	}
	best, bestQ := formatJSON, 0.0
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(s, 64); err != nil {
				continue
			}
		}
		var f format
		switch mt {
		case "text/jsv":
			f = formatJSV
		case "application/json", "text/json":
			f = formatJSON
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = f, q
		}
	}
	return best
}

// cutFormatSuffix splits a .json or .jsv suffix off a path segment.
func cutFormatSuffix(s string) (string, format, bool) {
	if base, ok := strings.CutSuffix(s, ".jsv"); ok {
		return base, formatJSV, true
	}
	if base, ok := strings.CutSuffix(s, ".json"); ok {
		return base, formatJSON, true
	}
	return s, formatJSON, false
}

// serializationError is a request body that could not be read: ServiceStack's
// SerializationException.
type serializationError struct{ msg string }

func (e *serializationError) Error() string { return e.msg }

// requestEnvironment returns the request's Environment: from the path, else the query string,
// else the body (JSON or JSV, as its Content-Type says, or empty), as ServiceStack fills a
// request DTO. Property names are matched ignoring case, and unknown ones are ignored.
func requestEnvironment(r *http.Request, f format, fromPath string) (string, error) {
	body, err := jsonbody.Read(r)
	if err != nil {
		return "", jsonbody.Refusal(err, nil)
	}
	if fromPath != "" {
		return fromPath, nil
	}
	for k, v := range r.URL.Query() {
		if strings.EqualFold(k, "Environment") && len(v) > 0 {
			return v[0], nil
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return "", nil
	}
	var dto RegenerateApiKeys
	mt, isJSON := jsonbody.Accepts(r, "application/json", "text/json", "+json")
	switch {
	case mt == "":
		return "", keyward.Errorf(keyward.EUnsupported, "a request body needs its Content-Type: application/json or text/jsv")
	case isJSON:
		if err := jsonbody.Unmarshal(body, &dto, false); err != nil {
			return "", &serializationError{"the request body is not a JSON RegenerateApiKeys object"}
		}
	case mt == "text/jsv":
		if err := UnmarshalJSV(body, &dto); err != nil {
			return "", &serializationError{"the request body is not a JSV RegenerateApiKeys object"}
		}
	default:
		// Form and text bodies are refused: a cross-site HTML form sends them with the
		// browser's credentials (cached Basic auth).
		return "", keyward.Errorf(keyward.EUnsupported, "the request body must be application/json or text/jsv")
	}
	return dto.Environment, nil
}

// write renders v in format f.
func (h *Handler) write(w http.ResponseWriter, f format, status int, v any) {
	var (
		body []byte
		err  error
		ct   string
	)
	if f == formatJSV {
		body, err = MarshalJSV(v)
		ct = contentTypeJSV
	} else {
		// ServiceStack does not escape <, > and & in JSON.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		err = enc.Encode(v)
		body, ct = bytes.TrimSuffix(buf.Bytes(), []byte("\n")), contentTypeJSON
	}
	if err != nil {
		h.logger.Error("rendering a response failed", "request_id", w.Header().Get("X-Request-Id"), "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ct)
	// Responses carry keys; no intermediary may keep them.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Add("Vary", "Accept")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// errorResponse is the one mapping from keyward's errors to ServiceStack's: the HTTP status, and
// the ResponseStatus with ErrorCode as ServiceStack names it (the HTTP status's name for an
// HttpError, ArgumentException for an invalid argument with one ResponseError per field,
// SerializationException for a body that cannot be read). The message is keyward's caller-safe
// message; an internal error says only "internal error".
func errorResponse(err error) (int, *ResponseStatus) {
	var se *serializationError
	if errors.As(err, &se) {
		return http.StatusBadRequest, &ResponseStatus{ErrorCode: "SerializationException", Message: se.msg, Errors: []ResponseError{}}
	}
	err = refusal.Normalize(err)
	code := keyward.ErrorCode(err)
	rs := &ResponseStatus{Message: keyward.ErrorMessage(err), Errors: []ResponseError{}}
	var status int
	switch code {
	case keyward.EInvalid:
		status, rs.ErrorCode = http.StatusBadRequest, "ArgumentException"
		fields, names := refusal.Fields(err)
		for _, f := range names {
			rs.Errors = append(rs.Errors, ResponseError{ErrorCode: "ArgumentException", FieldName: pascalCase(f), Message: fields[f]})
		}
	case keyward.EUnauthenticated:
		status, rs.ErrorCode = http.StatusUnauthorized, "Unauthorized"
	case keyward.EForbidden:
		status, rs.ErrorCode = http.StatusForbidden, "Forbidden"
	case keyward.ENotFound:
		status, rs.ErrorCode = http.StatusNotFound, "NotFound"
	case keyward.EMethodNotAllowed:
		status, rs.ErrorCode = http.StatusMethodNotAllowed, "MethodNotAllowed"
	case keyward.EConflict:
		status, rs.ErrorCode = http.StatusConflict, "Conflict"
	case keyward.ETooLarge:
		status, rs.ErrorCode = http.StatusRequestEntityTooLarge, "RequestEntityTooLarge"
	case keyward.EUnsupported:
		status, rs.ErrorCode = http.StatusUnsupportedMediaType, "UnsupportedMediaType"
	case keyward.ERateLimited:
		status, rs.ErrorCode = http.StatusTooManyRequests, "TooManyRequests"
	case keyward.EUnavailable:
		status, rs.ErrorCode = http.StatusServiceUnavailable, "ServiceUnavailable"
	case keyward.ETimeout:
		status, rs.ErrorCode = http.StatusGatewayTimeout, "GatewayTimeout"
	default:
		status, rs.ErrorCode, rs.Message = http.StatusInternalServerError, "InternalServerError", "internal error"
	}
	return status, rs
}

// writeError renders err as the operation's response DTO holding only its ResponseStatus.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, f format, o op, err error) {
	status, rs := errorResponse(err)
	if status == http.StatusInternalServerError {
		h.logger.Error("internal error", "request_id", w.Header().Get("X-Request-Id"), "method", r.Method, "path", r.URL.Path, "err", err)
	}
	refusal.SetRetryAfter(w.Header(), err)
	if status == http.StatusUnauthorized {
		w.Header().Add("WWW-Authenticate", `Bearer realm="/auth/apikey"`)
		w.Header().Add("WWW-Authenticate", `Basic realm="/auth/apikey"`)
	}
	var body any = &GetApiKeysResponse{ResponseStatus: rs}
	if o == regenerateOp {
		body = &RegenerateApiKeysResponse{ResponseStatus: rs}
	}
	h.write(w, f, status, body)
}

// pascalCase turns keyward's field names (environment, key_type) into ServiceStack's property
// names (Environment, KeyType).
func pascalCase(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if r == '_' {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
