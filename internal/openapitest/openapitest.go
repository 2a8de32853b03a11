// Package openapitest holds the native API to its OpenAPI document (httpapi/openapi.json) in
// tests: Handler and Transport check every request and response that passes through them with
// libopenapi-validator and fail the test on a mismatch, so that the document cannot drift from
// what the server does.
package openapitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	valerrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/keyward/keyward/httpapi"
)

// contract is the parsed document, built once per test binary: parsing and compiling the
// schemas costs far more than checking an exchange.
type contract struct {
	model     *v3.Document
	validator validator.Validator
	problem   *base.Schema
	schemas   schema_validation.SchemaValidator
	// schemaMu serialises schemas: unlike validator, whose schemas are compiled up front, it
	// renders the schema on each call and races with itself.
	schemaMu sync.Mutex
}

var (
	loadOnce sync.Once
	loaded   *contract
	loadErr  error
)

func load() (*contract, error) {
	loadOnce.Do(func() {
		doc, err := libopenapi.NewDocument(httpapi.OpenAPI())
		if err != nil {
			loadErr = fmt.Errorf("parsing httpapi/openapi.json: %w", err)
			return
		}
		v, errs := validator.NewValidator(doc, config.WithAuthenticationFunc(authenticated))
		if len(errs) > 0 {
			loadErr = fmt.Errorf("building httpapi/openapi.json: %w", errors.Join(errs...))
			return
		}
		m, err := doc.BuildV3Model()
		if err != nil {
			loadErr = fmt.Errorf("building httpapi/openapi.json: %w", err)
			return
		}
		c := &contract{model: &m.Model, validator: v, schemas: schema_validation.NewSchemaValidator()}
		if ok, errs := c.validator.ValidateDocument(); !ok {
			loadErr = fmt.Errorf("httpapi/openapi.json is not a valid OpenAPI document: %s", describe(errs))
			return
		}
		if p := m.Model.Components.Schemas.GetOrZero("Problem"); p != nil {
			c.problem = p.Schema()
		}
		if c.problem == nil {
			loadErr = errors.New("httpapi/openapi.json has no Problem schema")
			return
		}
		loaded = c
	})
	return loaded, loadErr
}

// Document returns the parsed document, failing t if it does not parse or is not valid
// OpenAPI.
func Document(t testing.TB) *v3.Document {
	t.Helper()
	c, err := load()
	if err != nil {
		t.Fatal(err)
	}
	return c.model
}

// Operations lists every operation of the document as "METHOD /path".
func Operations(t testing.TB) []string {
	t.Helper()
	var ops []string
	for path, item := range Document(t).Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			ops = append(ops, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(ops)
	return ops
}

// authenticated says whether a request presents what a security scheme of the document
// names: it checks the form of the credential, the server checks the credential itself.
func authenticated(_ context.Context, in *config.AuthenticationInput) error {
	r, s := in.Request, in.SecurityScheme
	switch strings.ToLower(s.Type) {
	case "http":
		scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, s.Scheme) {
			return fmt.Errorf("no Authorization %s", s.Scheme)
		}
	case "apikey":
		if r.Header.Get(s.Name) == "" {
			return fmt.Errorf("no %s header", s.Name)
		}
	case "mutualtls":
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			return errors.New("no client certificate")
		}
	default:
		return fmt.Errorf("unknown security scheme type %q", s.Type)
	}
	return nil
}

// Exchange is one request and the response it got, with both bodies read.
type Exchange struct {
	Request      *http.Request // its Body is ignored; RequestBody is used
	RequestBody  []byte
	Status       int
	Header       http.Header
	ResponseBody []byte
}

// Check returns what in ex contradicts the document, empty when nothing does. The request is
// checked only when the server accepted it (2xx): tests send malformed requests on purpose,
// and what matters then is that the refusal is documented. The response is always checked
// against the operation and status. A path or method that the document lacks must be answered
// 404 or 405 with a problem document: anything else is an undocumented endpoint.
func Check(ex Exchange) []string {
	c, err := load()
	if err != nil {
		return []string{err.Error()}
	}
	req := validationRequest(ex.Request, ex.RequestBody)
	res := &http.Response{StatusCode: ex.Status, Header: ex.Header, Body: io.NopCloser(bytes.NewReader(ex.ResponseBody)), Request: req}
	if req.Method == http.MethodHead {
		// A HEAD response has the headers of the GET it stands for and no body.
		res.Header = res.Header.Clone()
		res.Header.Del("Content-Type")
	}
	// The synchronous request check: the other spawns goroutines, which -race makes dear.
	_, errs := c.validator.ValidateHttpResponse(req, res)
	if ex.Status >= 200 && ex.Status < 300 {
		_, reqErrs := c.validator.ValidateHttpRequestSync(req)
		errs = append(errs, reqErrs...)
	}
	if len(errs) > 0 && slices.ContainsFunc(errs, func(e *valerrors.ValidationError) bool {
		return e.IsPathMissingError() || e.IsOperationMissingError()
	}) {
		return c.undocumented(ex)
	}
	if len(errs) == 0 {
		return nil
	}
	return []string{describe(errs)}
}

// undocumented checks the answer to a request for a path or method the document lacks.
func (c *contract) undocumented(ex Exchange) []string {
	if ex.Status != http.StatusNotFound && ex.Status != http.StatusMethodNotAllowed {
		return []string{"the document has no such path and method, and the server answered it"}
	}
	if mt, _, _ := mime.ParseMediaType(ex.Header.Get("Content-Type")); mt != "application/problem+json" {
		return []string{fmt.Sprintf("an undocumented path answered %q, not a problem document", ex.Header.Get("Content-Type"))}
	}
	c.schemaMu.Lock()
	ok, errs := c.schemas.ValidateSchemaBytes(c.problem, ex.ResponseBody)
	c.schemaMu.Unlock()
	if !ok {
		return []string{"the problem document of an undocumented path: " + describe(errs)}
	}
	return nil
}

// validationRequest is a copy of r with body, as the validator reads it. The server matches
// /v1/auth/{path...}, any number of segments, where OpenAPI has one: the rest of such a path
// becomes one segment.
func validationRequest(r *http.Request, body []byte) *http.Request {
	v := r.Clone(r.Context())
	v.Body = io.NopCloser(bytes.NewReader(body))
	v.ContentLength = int64(len(body))
	if rest, ok := strings.CutPrefix(v.URL.Path, "/v1/auth/"); ok && strings.Contains(rest, "/") {
		v.URL.Path, v.URL.RawPath = "/v1/auth/"+strings.ReplaceAll(rest, "/", "_"), ""
	}
	return v
}

// describe renders validation errors with the validator's reasons.
func describe(errs []*valerrors.ValidationError) string {
	var b strings.Builder
	for i, e := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Message)
		if e.Reason != "" {
			b.WriteString(": " + e.Reason)
		}
		for _, s := range e.SchemaValidationErrors {
			b.WriteString(" [" + s.Error() + "]")
		}
	}
	return b.String()
}

// report fails t with each problem of ex.
func report(t testing.TB, ex Exchange, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Errorf("openapi: %s %s -> %d: %s", ex.Request.Method, ex.Request.URL.RequestURI(), ex.Status, p)
	}
}

// Handler returns h with every request it serves and every response it writes checked against
// the document; a mismatch fails t. skip, when not nil, names requests that are not the native
// API's (a mounted dialect's) and are left alone.
func Handler(t testing.TB, h http.Handler, skip func(*http.Request) bool) http.Handler {
	if _, err := load(); err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if skip != nil && skip(r) {
			h.ServeHTTP(w, r)
			return
		}
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		req := r.Clone(r.Context())
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.WriteHeader(http.StatusOK)
		}
		ex := Exchange{Request: req, RequestBody: body, Status: rec.status, Header: rec.header, ResponseBody: rec.body.Bytes()}
		report(t, ex, Check(ex))
	})
}

// recorder passes a response through and keeps a copy of it.
type recorder struct {
	http.ResponseWriter
	status int
	header http.Header
	body   bytes.Buffer
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status, w.header = code, w.ResponseWriter.Header().Clone()
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

// Transport returns a RoundTripper that sends through base (http.DefaultTransport when nil) and
// checks every exchange against the document, for tests that reach the server over the
// network; a mismatch fails t. A client certificate is invisible from here: a request
// authenticated by one alone counts as unauthenticated, so such clients use Handler.
func Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if _, err := load(); err != nil {
		t.Fatal(err)
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper{t: t, base: base}
}

type roundTripper struct {
	t    testing.TB
	base http.RoundTripper
}

func (rt roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		r.Body.Close()
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	res, err := rt.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resBody, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(resBody))
	ex := Exchange{Request: r, RequestBody: body, Status: res.StatusCode, Header: res.Header, ResponseBody: resBody}
	report(rt.t, ex, Check(ex))
	return res, nil
}
