// Package client is the Go client of the keyward native API (/v1).
//
// A Client sends every request with the bearer token it was created with and decodes the
// answers into the types of package keyward. A refusal by the server (any status outside 2xx)
// comes back as a *keyward.Error whose Code, Message, Fields and RetryAfter are taken from the
// server's application/problem+json body, or whose Code follows from the status when the body
// is not a problem document. An empty project or credential reference is refused before
// anything is sent, with keyward.EInvalid. A failure to talk to the server at all (connection,
// timeout, unreadable answer) comes back as a *TransportError. No error ever holds the client's
// token, a key given to Verify or VerifyPermissions, a password given to Login, CreateUser or
// SetPassword, the PKCS#12 password given to CreateCredential or RollCredential, or the client
// CA key given to CreateCluster.
//
// Login needs no token: a Client created with an empty one can log in, and a Client created
// with the session token that Login returned acts as the user until the session expires or
// Logout ends it.
//
// Usage:
//
//	c := client.New("https://keyward.example.com", os.Getenv("KEYWARD_TOKEN"))
//	days := int64(30)
//	issued, err := c.CreateCredential(ctx, "acme-prod", keyward.CreateCredentialInput{
//		Name:           "ci-deploy",
//		ExpirationDays: &days,
//	})
//	var kerr *keyward.Error
//	switch {
//	case errors.As(err, &kerr) && kerr.Code == keyward.EConflict:
//		// the name is taken in the project
//	case err != nil:
//		return err
//	}
//	fmt.Println(issued.Key) // shown once: store it now
//
//	for cred, err := range c.AllCredentials(ctx, "acme-prod", client.ListCredentialsOptions{}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(cred.Name, cred.State)
//	}
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// DefaultUserAgent is the User-Agent header a Client sends unless WithUserAgent says otherwise.
const DefaultUserAgent = "keyward-go-client/1"

// DefaultTimeout bounds each request of a Client created without WithHTTPClient.
const DefaultTimeout = 30 * time.Second

// maxResponse bounds the size of a success body the client decodes; maxErrorBody that of an
// error body.
const (
	maxResponse  = 32 << 20
	maxErrorBody = 64 << 10
)

// Client calls the keyward native API. It is safe for concurrent use.
type Client struct {
	base      string
	token     string
	http      *http.Client
	userAgent string
}

// Option configures a Client in New.
type Option func(*Client)

// WithHTTPClient makes the Client send its requests through hc, for its transport, TLS
// configuration or timeout. A nil hc is ignored.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithUserAgent sets the User-Agent header of every request. An empty ua is ignored.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// New returns a Client for the keyward server at baseURL (such as "https://keyward.example.com",
// optionally with a path prefix) that authenticates with token. Without WithHTTPClient it uses an
// http.Client whose timeout is DefaultTimeout.
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{
		base:      strings.TrimRight(baseURL, "/"),
		token:     token,
		http:      &http.Client{Timeout: DefaultTimeout},
		userAgent: DefaultUserAgent,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// TransportError reports that a request got no usable answer from the server: it could not be
// built or sent, the connection failed or timed out, or the response could not be read or
// decoded. It never holds the client's token.
type TransportError struct {
	Method string // the request's method
	URL    string // the request's URL, without its query
	Err    error  // the underlying failure
}

// Error describes the failure with the request's method and URL.
func (e *TransportError) Error() string {
	return fmt.Sprintf("keyward: %s %s: %v", e.Method, e.URL, e.Err)
}

// Unwrap returns the underlying failure, so that errors.Is(err, context.DeadlineExceeded) works.
func (e *TransportError) Unwrap() error { return e.Err }

// ListCredentialsOptions filters and pages ListCredentials. Zero fields select everything.
type ListCredentialsOptions struct {
	Type        keyward.CredentialType // only credentials of this type
	Environment keyward.Environment    // only credentials of this environment
	State       keyward.State          // only credentials in this state now
	Cursor      string                 // the NextCursor of the previous page; "" for the first
	Limit       int                    // the page size; 0 for the server's default
}

// ListEventsOptions filters and pages ListEvents. Zero fields select everything the caller may
// read.
type ListEventsOptions struct {
	Project      string // only events of this project (slug)
	CredentialID int64  // only events about this credential
	Cursor       string // the NextCursor of the previous page; "" for the newest
	Limit        int    // the page size; 0 for the server's default
}

// CreateProject creates a project.
func (c *Client) CreateProject(ctx context.Context, in keyward.CreateProjectInput) (*keyward.Project, error) {
	var out keyward.Project
	if err := c.do(ctx, request{method: http.MethodPost, path: "/v1/projects", body: in}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListProjects returns one page of the projects the caller may read, by ascending id.
func (c *Client) ListProjects(ctx context.Context, cursor string, limit int) (*keyward.Page[keyward.Project], error) {
	var out keyward.Page[keyward.Project]
	q := pageQuery(cursor, limit)
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/projects", query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllProjects returns an iterator over every project the caller may read, fetching pages of
// limit (0 for the server's default) as it goes. It stops after yielding the first error.
func (c *Client) AllProjects(ctx context.Context, limit int) iter.Seq2[keyward.Project, error] {
	return all(func(cursor string) (*keyward.Page[keyward.Project], error) {
		return c.ListProjects(ctx, cursor, limit)
	}, "")
}

// Project returns the project ref names: its slug or its numeric id.
func (c *Client) Project(ctx context.Context, ref string) (*keyward.Project, error) {
	p, err := projectPath(ref)
	if err != nil {
		return nil, err
	}
	var out keyward.Project
	if err := c.do(ctx, request{method: http.MethodGet, path: p}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateCredential creates a credential in project (slug or id). The server shows its secret
// this once: Key for an API token; Data for an API_CERTIFICATE (a base64 PKCS#12 bundle
// encrypted with in.Password) or a KUBE_CONFIG (a base64 kubeconfig YAML).
func (c *Client) CreateCredential(ctx context.Context, project string, in keyward.CreateCredentialInput) (*keyward.IssuedCredential, error) {
	p, err := projectPath(project)
	if err != nil {
		return nil, err
	}
	var out keyward.IssuedCredential
	r := request{method: http.MethodPost, path: p + "/credentials", body: in, passwords: []string{in.Password}}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListCredentials returns one page of the credentials of project (slug or id) that match f,
// by ascending id.
func (c *Client) ListCredentials(ctx context.Context, project string, f ListCredentialsOptions) (*keyward.Page[keyward.Credential], error) {
	p, err := projectPath(project)
	if err != nil {
		return nil, err
	}
	q := pageQuery(f.Cursor, f.Limit)
	if f.Type != "" {
		q.Set("type", string(f.Type))
	}
	if f.Environment != "" {
		q.Set("environment", string(f.Environment))
	}
	if f.State != "" {
		q.Set("state", string(f.State))
	}
	var out keyward.Page[keyward.Credential]
	if err := c.do(ctx, request{method: http.MethodGet, path: p + "/credentials", query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllCredentials returns an iterator over every credential of project that matches f, starting
// at f.Cursor and following the pages' cursors. It stops after yielding the first error.
func (c *Client) AllCredentials(ctx context.Context, project string, f ListCredentialsOptions) iter.Seq2[keyward.Credential, error] {
	return all(func(cursor string) (*keyward.Page[keyward.Credential], error) {
		g := f
		g.Cursor = cursor
		return c.ListCredentials(ctx, project, g)
	}, f.Cursor)
}

// Credential returns the credential ref (its id or its name) of project (slug or id).
func (c *Client) Credential(ctx context.Context, project, ref string) (*keyward.Credential, error) {
	p, err := credentialPath(project, ref)
	if err != nil {
		return nil, err
	}
	var out keyward.Credential
	if err := c.do(ctx, request{method: http.MethodGet, path: p}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Usage returns the verifications of project over window ("24h", the default when "", or
// "30d") by bucket and code, with its most used and its unused credentials.
func (c *Client) Usage(ctx context.Context, project, window string) (*keyward.UsageReport, error) {
	p, err := projectPath(project)
	if err != nil {
		return nil, err
	}
	return c.usage(ctx, p+"/usage", window)
}

// CredentialUsage returns the verifications of credential ref (a name or an id) of project
// over window, as Usage does.
func (c *Client) CredentialUsage(ctx context.Context, project, ref, window string) (*keyward.UsageReport, error) {
	p, err := credentialPath(project, ref)
	if err != nil {
		return nil, err
	}
	return c.usage(ctx, p+"/usage", window)
}

func (c *Client) usage(ctx context.Context, path, window string) (*keyward.UsageReport, error) {
	q := url.Values{}
	if window != "" {
		q.Set("window", window)
	}
	var out keyward.UsageReport
	if err := c.do(ctx, request{method: http.MethodGet, path: path, query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateCredential changes the fields of credential ref that in sets. When in.Version is not 0
// it is sent as If-Match, and the server refuses with EConflict if the credential has changed
// since that version was read (and with EInvalid a version below 1).
func (c *Client) UpdateCredential(ctx context.Context, project, ref string, in keyward.UpdateCredentialInput) (*keyward.Credential, error) {
	p, err := credentialPath(project, ref)
	if err != nil {
		return nil, err
	}
	r := request{method: http.MethodPatch, path: p, body: in}
	if in.Version != 0 {
		r.header = http.Header{"If-Match": {`"` + strconv.FormatInt(in.Version, 10) + `"`}}
	}
	var out keyward.Credential
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RenewCredential moves the expiry of credential ref.
func (c *Client) RenewCredential(ctx context.Context, project, ref string, in keyward.RenewInput) (*keyward.Credential, error) {
	p, err := credentialPath(project, ref)
	if err != nil {
		return nil, err
	}
	var out keyward.Credential
	if err := c.do(ctx, request{method: http.MethodPost, path: p + "/renew", body: in}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RollCredential gives credential ref a new secret, returned this once: Key for an API token,
// whose old secret keeps verifying for in.GraceSeconds; Data for a certificate credential,
// re-issued with a new certificate and key (an API_CERTIFICATE's bundle encrypted with
// in.Password) while the previous certificate is revoked at once.
func (c *Client) RollCredential(ctx context.Context, project, ref string, in keyward.RollInput) (*keyward.IssuedCredential, error) {
	p, err := credentialPath(project, ref)
	if err != nil {
		return nil, err
	}
	var out keyward.IssuedCredential
	r := request{method: http.MethodPost, path: p + "/roll", body: in, passwords: []string{in.Password}}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeCredential revokes credential ref for good and returns it. Revoking a revoked
// credential succeeds and changes nothing.
func (c *Client) RevokeCredential(ctx context.Context, project, ref string) (*keyward.Credential, error) {
	p, err := credentialPath(project, ref)
	if err != nil {
		return nil, err
	}
	var out keyward.Credential
	if err := c.do(ctx, request{method: http.MethodDelete, path: p}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Verify asks whether key is a valid credential. An invalid key is not an error: the answer's
// Valid is false and its Code says why (keyward.CodeExpired, say).
func (c *Client) Verify(ctx context.Context, key string) (*keyward.Verification, error) {
	return c.VerifyPermissions(ctx, key)
}

// VerifyPermissions asks whether key is a valid credential that holds every one of perms in its
// project, so that an API behind keyward can ask "may this key do X". A valid key that lacks one
// of them is answered with Valid false and Code keyward.CodeForbidden; the answer's Permissions
// are the key's effective permissions whenever the key was found. With no perms it is Verify.
func (c *Client) VerifyPermissions(ctx context.Context, key string, perms ...keyward.Permission) (*keyward.Verification, error) {
	in := keyward.VerifyInput{Key: key}
	if len(perms) > 0 {
		in.Permission = keyward.PermissionList(perms)
	}
	var out keyward.Verification
	r := request{method: http.MethodPost, path: "/v1/verify", body: in, secret: key}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ReportLeaks reports tokens found exposed (in a commit, a paste, a log): every one that is a
// live key of the server is revoked, or disabled under its project's policy, at once. The
// answer says per token, in the order given, whether it was a key the server issued and what
// the report did, never whose it is. No error shows the tokens.
func (c *Client) ReportLeaks(ctx context.Context, in keyward.LeakReportInput) (*keyward.LeakResult, error) {
	var out keyward.LeakResult
	r := request{method: http.MethodPost, path: "/v1/leaks", body: in}
	for _, tok := range in.Tokens {
		if len(tok) >= minRedact { // shorter text is no token, and would redact innocent words
			r.passwords = append(r.passwords, tok)
		}
	}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Whoami describes the caller: its user, the credential it authenticated with and its
// permissions per project.
func (c *Client) Whoami(ctx context.Context) (*keyward.Whoami, error) {
	var out keyward.Whoami
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/whoami"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListEvents returns one page of the audit events that match f, newest first.
func (c *Client) ListEvents(ctx context.Context, f ListEventsOptions) (*keyward.Page[keyward.Event], error) {
	q := pageQuery(f.Cursor, f.Limit)
	if f.Project != "" {
		q.Set("project", f.Project)
	}
	if f.CredentialID != 0 {
		q.Set("credential", strconv.FormatInt(f.CredentialID, 10))
	}
	var out keyward.Page[keyward.Event]
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/audit", query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllEvents returns an iterator over every audit event that matches f, newest first, starting
// at f.Cursor and following the pages' cursors. It stops after yielding the first error.
func (c *Client) AllEvents(ctx context.Context, f ListEventsOptions) iter.Seq2[keyward.Event, error] {
	return all(func(cursor string) (*keyward.Page[keyward.Event], error) {
		g := f
		g.Cursor = cursor
		return c.ListEvents(ctx, g)
	}, f.Cursor)
}

// all iterates over the items of the pages that fetch returns, from cursor on.
func all[T any](fetch func(cursor string) (*keyward.Page[T], error), cursor string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			page, err := fetch(cursor)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range page.Items {
				if !yield(it, nil) {
					return
				}
			}
			// A cursor that does not move would loop for ever.
			if page.NextCursor == "" || page.NextCursor == cursor {
				return
			}
			cursor = page.NextCursor
		}
	}
}

func pageQuery(cursor string, limit int) url.Values {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit != 0 { // a negative one too: the server says what is wrong with it
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}

// segment escapes one path segment, refusing those that are empty or that a server would
// resolve as a relative path.
func segment(field, s string) (string, error) {
	switch s {
	case "":
		return "", keyward.Invalid(field, "must not be empty")
	case ".", "..":
		return "", keyward.Invalid(field, "must not be "+strconv.Quote(s))
	}
	return url.PathEscape(s), nil
}

func projectPath(project string) (string, error) {
	p, err := segment("project", project)
	if err != nil {
		return "", err
	}
	return "/v1/projects/" + p, nil
}

func credentialPath(project, ref string) (string, error) {
	p, err := projectPath(project)
	if err != nil {
		return "", err
	}
	r, err := segment("credential", ref)
	if err != nil {
		return "", err
	}
	return p + "/credentials/" + r, nil
}

// request is one call to the API.
type request struct {
	method string
	path   string // escaped, from the root of the API
	query  url.Values
	body   any // encoded as JSON when not nil
	header http.Header
	secret string // a secret besides the token that no error may show (verify's key)
	// passwords are secrets that no error may show, whatever their length.
	passwords []string
	noAuth    bool // send no Authorization header (login)
	// accept is the media type of a success answer that is not JSON (a PEM file, a DER CRL);
	// its body is then returned as is, into an out of type *[]byte.
	accept string
}

// do sends r and decodes a 2xx answer's JSON body into out.
func (c *Client) do(ctx context.Context, r request, out any) error {
	u := c.base + r.path
	terr := func(err error) error {
		// A url.Error would repeat the method and URL that TransportError names.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &TransportError{Method: r.method, URL: c.redact(u, &r), Err: c.redactErr(err, &r)}
	}
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("keyward: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	full := u
	if len(r.query) > 0 {
		full += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, full, body)
	if err != nil {
		return terr(err)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if c.token != "" && !r.noAuth {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if r.accept != "" {
		req.Header.Set("Accept", r.accept+", application/problem+json")
	} else {
		req.Header.Set("Accept", "application/json, application/problem+json")
	}
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return terr(err)
	}
	defer func() {
		// Drain what is left so that the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
	}()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.responseError(resp, &r)
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
		if err == nil && len(b) > maxResponse {
			err = fmt.Errorf("the answer is larger than %d bytes", maxResponse)
		}
		if err != nil {
			return terr(fmt.Errorf("read %d response: %w", resp.StatusCode, err))
		}
		*raw = b
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(out); err != nil {
		return terr(fmt.Errorf("decode %d response: %w", resp.StatusCode, err))
	}
	return nil
}

// problem is an RFC 9457 problem document as the keyward server writes it.
type problem struct {
	Type   string          `json:"type"`
	Title  string          `json:"title"`
	Status int             `json:"status"`
	Detail string          `json:"detail"`
	Code   keyward.Code    `json:"code"`
	Errors json.RawMessage `json:"errors"`
}

var knownCodes = map[keyward.Code]bool{
	keyward.ENotFound: true, keyward.EConflict: true, keyward.EInvalid: true,
	keyward.EUnauthenticated: true, keyward.EForbidden: true, keyward.ERateLimited: true,
	keyward.EUnavailable: true, keyward.ETimeout: true, keyward.ETooLarge: true,
	keyward.EUnsupported: true, keyward.EInternal: true,
}

// responseError turns a response with an error status into a *keyward.Error.
func (c *Client) responseError(resp *http.Response, r *request) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &keyward.Error{Code: codeForStatus(resp.StatusCode)}

	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case mt == "application/problem+json" || mt == "application/json":
		var p problem
		if json.Unmarshal(b, &p) != nil {
			break
		}
		if knownCodes[p.Code] {
			e.Code = p.Code
		}
		e.Message = p.Detail
		if e.Message == "" {
			e.Message = p.Title
		}
		var fields map[string]string
		if len(p.Errors) > 0 && json.Unmarshal(p.Errors, &fields) == nil && len(fields) > 0 {
			e.Fields = make(map[string]string, len(fields))
			for k, v := range fields {
				e.Fields[c.redact(k, r)] = c.redact(v, r)
			}
		}
	case mt == "text/plain":
		// A proxy's or a router's answer ("404 page not found"): worth showing when short.
		if s := strings.TrimSpace(string(b)); s != "" && len(s) <= 200 && !strings.ContainsAny(s, "\r\n") {
			e.Message = s
		}
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
	}
	e.Message = c.redact(e.Message, r)
	e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	return e
}

// codeForStatus is the code of an error response that carries none.
func codeForStatus(status int) keyward.Code {
	switch status {
	case http.StatusBadRequest:
		return keyward.EInvalid
	case http.StatusUnauthorized:
		return keyward.EUnauthenticated
	case http.StatusForbidden:
		return keyward.EForbidden
	case http.StatusNotFound:
		return keyward.ENotFound
	case http.StatusConflict:
		return keyward.EConflict
	case http.StatusRequestEntityTooLarge:
		return keyward.ETooLarge
	case http.StatusUnsupportedMediaType:
		return keyward.EUnsupported
	case http.StatusTooManyRequests:
		return keyward.ERateLimited
	case http.StatusServiceUnavailable:
		return keyward.EUnavailable
	case http.StatusGatewayTimeout:
		return keyward.ETimeout
	}
	return keyward.EInternal
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date. It returns 0 when the
// header is absent, malformed or in the past.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(365*24*3600))) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}

const redacted = "[REDACTED]"

// minRedact is the length below which a string is not treated as a secret to redact: a real
// token is far longer, and a few characters would match innocent text everywhere.
const minRedact = 8

// redact removes the token and the request's secret and passwords from s, so that no error ever
// shows them. A password is removed whatever its length: unlike a token it may be short, and a
// short one is the likeliest to be refused, and so echoed, by the server.
func (c *Client) redact(s string, r *request) string {
	var xs []string
	for _, x := range []string{c.token, r.secret} {
		if len(x) >= minRedact {
			xs = append(xs, x)
		}
	}
	for _, x := range r.passwords {
		if x != "" {
			xs = append(xs, x)
		}
	}
	if len(xs) == 0 {
		return s
	}
	// One pass, longest first, so that a secret inside another, or inside the marker a first
	// replacement wrote, is not replaced twice.
	slices.SortFunc(xs, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(xs))
	for _, x := range xs {
		pairs = append(pairs, x, redacted)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// redactErr returns err, or an error that wraps it with its text redacted when its text shows
// the token or a secret of r.
func (c *Client) redactErr(err error, r *request) error {
	msg := err.Error()
	if r := c.redact(msg, r); r != msg {
		return &redactedError{msg: r, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
