package projectkeys

import (
	"encoding/json"
	"net/http"
	"sort"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi/refusal"
)

// envelope is the body of every response, success or failure.
type envelope struct {
	Success    bool     `json:"success"`
	Errors     []string `json:"errors"`
	Messages   []string `json:"messages"`
	Result     any      `json:"result"`
	ResultInfo string   `json:"resultInfo"`
	StatusCode int      `json:"statusCode"`
}

func writeEnvelope(w http.ResponseWriter, status int, e envelope) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	// Responses may carry a key; no intermediary may keep them.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}

// fieldNames translates the native field names an authority error may name into this API's.
var fieldNames = map[string]string{
	"not_before":    "startDate",
	"expires_at":    "expireDate",
	"never_expires": "hasExpireTime",
	"roles":         "roleId",
}

// writeError is the dialect's one mapping from keyward's error codes to the vendor's status
// and body. The vendor lists 400, 401, 403, 404, 500 and 503, so the codes it has no status for
// become the nearest one it has: a conflict (a taken name, a stale or revoked key), a body too
// large and a wrong media type are 400; a rate limit and a timeout are 503, with Retry-After
// when known. A wrong method is 405 with Allow. Internal errors are logged with their detail
// and say only "internal error".
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	err = refusal.Normalize(err)
	code := keyward.ErrorCode(err)
	var status int
	var title string
	switch code {
	case keyward.EInvalid, keyward.EConflict, keyward.ETooLarge, keyward.EUnsupported:
		status, title = http.StatusBadRequest, "Bad Request"
	case keyward.EUnauthenticated:
		status, title = http.StatusUnauthorized, "Unauthorized"
		w.Header().Set("WWW-Authenticate", `Bearer realm="keyward"`)
	case keyward.EForbidden:
		status, title = http.StatusForbidden, "Forbidden"
	case keyward.ENotFound:
		status, title = http.StatusNotFound, "Result Not Found"
	case keyward.EMethodNotAllowed:
		status, title = http.StatusMethodNotAllowed, "Method Not Allowed"
	case keyward.EUnavailable, keyward.ERateLimited, keyward.ETimeout:
		status, title = http.StatusServiceUnavailable, "Backend Fetch Failed"
	default:
		status, title = http.StatusInternalServerError, "Internal Server Error"
		h.logger.Error("internal error", "request_id", w.Header().Get("X-Request-Id"),
			"method", r.Method, "path", r.URL.Path, "err", err)
	}
	errs := []string{keyward.ErrorMessage(err)}
	if status == http.StatusInternalServerError {
		errs[0] = "internal error"
	}
	if fields, _ := refusal.Fields(err); len(fields) > 0 && status != http.StatusInternalServerError {
		errs = errs[:0]
		for field, problem := range fields {
			if name, ok := fieldNames[field]; ok {
				field = name
			}
			errs = append(errs, field+": "+problem)
		}
		sort.Strings(errs) // sorted as renamed
	}
	refusal.SetRetryAfter(w.Header(), err)
	writeEnvelope(w, status, envelope{
		Success: false, Errors: errs, Messages: []string{title}, Result: nil, StatusCode: status,
	})
}
