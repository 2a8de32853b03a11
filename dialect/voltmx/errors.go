package voltmx

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi/refusal"
)

// StatusOf maps a keyward error code to the status this dialect answers with: the vendor's
// table (400 for a key or application not found and for invalid or missing data, 401 for an
// unauthorized request, 500 for a server failure), and the standard status for what the
// vendor does not cover (405, 409, 413, 415, 429).
func StatusOf(code keyward.Code) int {
	switch code {
	case keyward.EInvalid, keyward.ENotFound:
		return http.StatusBadRequest
	case keyward.EUnauthenticated, keyward.EForbidden:
		return http.StatusUnauthorized
	case keyward.EConflict:
		return http.StatusConflict
	case keyward.EMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case keyward.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case keyward.EUnsupported:
		return http.StatusUnsupportedMediaType
	case keyward.ERateLimited:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// errorBody is the error shape: the status and a message, with the fields at fault for a 400
// and the request id the access log carries.
type errorBody struct {
	Status    int               `json:"status"`
	Message   string            `json:"message"`
	Errors    map[string]string `json:"errors,omitempty"`
	RequestID string            `json:"requestId,omitempty"`
}

// The vendor's messages.
const (
	msgUnauthorized  = "Unauthorized request"
	msgServerFailure = "Server failure to process request"
	msgMissing       = "Required data is missing"
)

// notFoundMessage is the vendor's wording for a key that is not there, per operation. It never
// names the key.
func notFoundMessage(o op) string {
	switch o {
	case opModify:
		return "App API key not found for modification"
	case opDelete:
		return "App API key not found for deletion"
	}
	return "App API key not found"
}

// nativeNames turns the native API's field names, which the authority's messages use, into
// this API's parameter names.
var nativeNames = strings.NewReplacer(
	"expires_at", "expiresOn", "never_expires", "neverExpires", "expiration_days", "expiresOn",
)

// writeError renders err: the one place where keyward's codes become this API's statuses and
// messages. Internal errors are logged with their detail and shown only as a server failure.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, o op, err error) {
	requestID := w.Header().Get("X-Request-Id")
	err = refusal.Normalize(err)
	code := keyward.ErrorCode(err)
	body := errorBody{Status: StatusOf(code), RequestID: requestID}
	var e *keyward.Error
	errors.As(err, &e)
	switch code {
	case keyward.ENotFound:
		body.Message = notFoundMessage(o)
		if o == opCreate {
			body.Message = "Application not found"
		}
	case keyward.EInvalid:
		body.Message = "Invalid request: " + nativeNames.Replace(strings.TrimPrefix(e.Message, "invalid request: "))
		if len(e.Fields) > 0 {
			body.Errors = map[string]string{}
			var problems []string
			for k, v := range e.Fields {
				k, v = nativeNames.Replace(k), nativeNames.Replace(v)
				body.Errors[k] = v
				problems = append(problems, k+" "+v)
			}
			sort.Strings(problems)
			body.Message = "Invalid request: " + strings.Join(problems, "; ")
		}
		if strings.HasPrefix(e.Message, msgMissing) {
			body.Message = e.Message
		}
	case keyward.EUnauthenticated:
		body.Message = msgUnauthorized
	case keyward.EForbidden:
		body.Message = msgUnauthorized + ": " + e.Message
	case keyward.EInternal:
		h.logger.Error("internal error", "request_id", requestID, "method", r.Method, "route", routeOf(o), "err", err)
		body.Message = msgServerFailure
	case keyward.EUnavailable, keyward.ETimeout:
		h.logger.Warn("request failed", "request_id", requestID, "route", routeOf(o), "err", err)
		body.Message = msgServerFailure + ": " + e.Message
	default:
		body.Message = e.Message
	}
	refusal.SetRetryAfter(w.Header(), err)
	writeJSON(w, body.Status, body)
}

// missing is the vendor's "Required data is missing", naming what is.
func missing(fields ...string) error {
	sort.Strings(fields)
	e := &keyward.Error{Code: keyward.EInvalid, Message: msgMissing + ": " + strings.Join(fields, ", "), Fields: map[string]string{}}
	for _, f := range fields {
		e.Fields[f] = "is required"
	}
	return e
}

// routeOf names an operation's route for the log: the path pattern, never the key.
func routeOf(o op) string {
	switch o {
	case opCreate:
		return "POST " + Path
	case opGet:
		return "GET " + Path + "/{appKey}"
	case opModify:
		return "POST " + Path + "/{appKey}"
	case opDelete:
		return "DELETE " + Path + "/{appKey}"
	}
	return Path
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	// Responses may carry a key; no intermediary may keep them.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
