package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi/jsonbody"
	"github.com/keyward/keyward/httpapi/refusal"
)

// StatusOf maps an error code to the native API's HTTP status. It is the one table of the
// native surface; dialects keep their own.
func StatusOf(code keyward.Code) int {
	switch code {
	case keyward.EInvalid:
		return http.StatusBadRequest
	case keyward.EUnauthenticated:
		return http.StatusUnauthorized
	case keyward.EForbidden:
		return http.StatusForbidden
	case keyward.ENotFound:
		return http.StatusNotFound
	case keyward.EMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case keyward.EConflict:
		return http.StatusConflict
	case keyward.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case keyward.EUnsupported:
		return http.StatusUnsupportedMediaType
	case keyward.ERateLimited:
		return http.StatusTooManyRequests
	case keyward.EUnavailable:
		return http.StatusServiceUnavailable
	case keyward.ETimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// Problem is an RFC 9457 problem document with keyward's stable code and per-field errors.
type Problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail"`
	Code      keyward.Code      `json:"code"`
	Errors    map[string]string `json:"errors,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, requestID string, err error) {
	err = refusal.Normalize(err)
	code := keyward.ErrorCode(err)
	if code == keyward.EInternal {
		// The detail goes to the log only; the caller gets a request id to quote.
		s.logger.Error("internal error", "request_id", requestID, "method", r.Method, "path", RedactKeys(r.URL.Path), "err", err)
	}
	p := Problem{
		Type: "urn:keyward:error:" + string(code), Status: StatusOf(code), Code: code,
		Detail: keyward.ErrorMessage(err), RequestID: requestID,
	}
	p.Title = http.StatusText(p.Status)
	p.Errors, _ = refusal.Fields(err)
	refusal.SetRetryAfter(w.Header(), err)
	if code == keyward.EUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="keyward"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	// Responses may carry a key; no intermediary may keep them.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body strictly into v: one object, no unknown fields, right types. An
// empty body leaves v as it is when optional.
func decode(r *http.Request, v any, optional bool) error { return decodeBody(r, v, optional, true) }

// decodeBody is decode, with unknown fields ignored unless strict: for bodies whose schema
// another project owns and may grow (a Kubernetes TokenReview).
func decodeBody(r *http.Request, v any, optional, strict bool) error {
	err := jsonbody.Decode(r, v, jsonbody.Rules{Types: jsonbody.JSON, Optional: optional, Strict: strict})
	return jsonbody.Refusal(err, nil)
}

// etag renders a credential version as a strong entity tag.
func etag(version int64) string { return fmt.Sprintf(`"%d"`, version) }

// ifMatch parses If-Match into a version: 0 when absent or "*".
func ifMatch(r *http.Request) (int64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	h = strings.TrimPrefix(h, "W/")
	v, err := strconv.ParseInt(strings.Trim(h, `"`), 10, 64)
	if err != nil || v <= 0 {
		return 0, keyward.Invalid("If-Match", "must be the credential's ETag, such as \"3\"")
	}
	return v, nil
}

// queryInt parses an optional integer query parameter.
func queryInt(r *http.Request, name string) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, keyward.Invalid(name, "must be a non-negative integer")
	}
	return v, nil
}
