package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi/jsonbody"
)

// This file is the one place where every surface (the native API and each mounted dialect)
// refuses what no handler should see: text keyward cannot store (a NUL byte or invalid UTF-8 in
// the path, the query or the body) and what a cross-site HTML form can send with the browser's
// ambient credentials (a client certificate, cached Basic auth).

// ErrorRenderer is implemented by a surface served with Mount that renders errors in its own
// shape: the shared middleware then renders its refusals through it. Without it they are
// problem+json documents.
type ErrorRenderer interface {
	RenderError(w http.ResponseWriter, r *http.Request, err error)
}

// FormSurface is implemented by a mounted surface whose vendor documents HTML-form bodies
// (application/x-www-form-urlencoded), such as Volt MX. Its state-changing requests may then be
// forms: only the origin check (Sec-Fetch-Site, Origin) keeps cross-site ones out.
type FormSurface interface {
	AcceptsFormBodies() bool
}

// surface is what the middleware knows of the handler it guards.
type surface struct {
	render func(w http.ResponseWriter, r *http.Request, err error)
	forms  bool
}

// surfaceOf describes a handler given to Mount.
func (s *Server) surfaceOf(h http.Handler) surface {
	sf := surface{render: s.renderNative}
	if er, ok := h.(ErrorRenderer); ok {
		sf.render = er.RenderError
	}
	if fs, ok := h.(FormSurface); ok {
		sf.forms = fs.AcceptsFormBodies()
	}
	return sf
}

func (s *Server) renderNative(w http.ResponseWriter, r *http.Request, err error) {
	s.writeError(w, r, w.Header().Get("X-Request-Id"), err)
}

// formTypes are the media types an HTML form (or a script's no-cors request) sends across
// sites without a CORS preflight. keyward answers no preflight, so every other type is safe
// from cross-site pages.
var formTypes = map[string]bool{
	"application/x-www-form-urlencoded": true,
	"multipart/form-data":               true,
	"text/plain":                        true,
}

// mediaType returns the essence of a Content-Type ("text/plain" of "Text/Plain;charset=x"),
// read as leniently as a browser writes it, so that no odd spelling slips past formTypes.
func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// safeMethod reports whether m never changes state.
func safeMethod(m string) bool { return m == "GET" || m == "HEAD" || m == "OPTIONS" }

// guard refuses a request that must not reach a handler: a cross-site request that changes
// state (EForbidden), a state-changing request with a form's content type on a surface whose
// vendor documents none (EUnsupported), and a NUL byte or invalid UTF-8 in the decoded path, a
// query key or value, or the body (EInvalid, naming the field). It reads a body of at most
// MaxBodyBytes into memory and puts it back for the handler; a larger one is left for the
// handler to refuse.
func (s *Server) guard(r *http.Request, sf surface) error {
	if !safeMethod(r.Method) {
		if err := s.crossOrigin.Check(r); err != nil {
			return keyward.Errorf(keyward.EForbidden, "cross-origin request refused: a request that changes state must come from this server's own origin or from a client that is not a browser")
		}
		if mt := mediaType(r.Header.Get("Content-Type")); !sf.forms && formTypes[mt] {
			return keyward.Errorf(keyward.EUnsupported, "a request that changes state must be JSON, not %s, which any web page can send", mt)
		}
	}
	if !keyward.ValidText(r.URL.Path) {
		return keyward.Invalid("path", keyward.TextRule)
	}
	if r.URL.RawQuery != "" {
		query, _ := url.ParseQuery(r.URL.RawQuery) // a malformed pair is dropped here as by every handler
		if err := checkValues("query", query); err != nil {
			return err
		}
	}
	return checkBody(r)
}

// checkValues refuses a key or value that ValidText refuses: a bad key as where, a bad value
// as its key.
func checkValues(where string, vs url.Values) error {
	for k, list := range vs {
		if !keyward.ValidText(k) {
			return keyward.Invalid(where, keyward.TextRule)
		}
		for _, v := range list {
			if !keyward.ValidText(v) {
				return keyward.Invalid(k, keyward.TextRule)
			}
		}
	}
	return nil
}

// checkBody reads r's body (already bounded by MaxBytesReader), refuses a NUL byte or invalid
// UTF-8 in it, raw or as a form or JSON escape decodes it, and puts it back.
func checkBody(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	body, err := readBody(r)
	if err != nil {
		// Too large or cut off: the handler reads the same error and answers it as it does.
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		return nil
	}
	r.Body = jsonbody.NewBuffered(body) // read once: jsonbody.Read hands the handler these bytes
	if len(body) == 0 {
		return nil
	}
	if !keyward.ValidTextBytes(body) {
		return keyward.Invalid("body", keyward.TextRule)
	}
	if mediaType(r.Header.Get("Content-Type")) == "application/x-www-form-urlencoded" {
		form, _ := url.ParseQuery(string(body))
		if err := checkValues("body", form); err != nil {
			return err
		}
	}
	// Some surfaces read JSON whatever the content type says: any body that is JSON is
	// checked as JSON, for the strings its escapes (\u0000) decode to.
	return jsonbody.Refusal(jsonbody.CheckText(body), nil)
}

// readBody reads r's body, in one allocation when its length is known.
func readBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= MaxBodyBytes {
		body := make([]byte, n)
		read, err := io.ReadFull(r.Body, body) // a short body is io.ErrUnexpectedEOF, as ReadAll says
		return body[:read], err
	}
	return io.ReadAll(r.Body)
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
