package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/keyward"
)

// forwardAuth answers a gateway's question "may this request through?" (nginx auth_request,
// Traefik ForwardAuth, Envoy ext_authz over HTTP). The key comes from the forwarded request's
// headers; ?project= restricts it to one project and ?permission= (repeatable) to keys that
// hold those permissions. 200 carries who the key is in X-Keyward-* headers for the upstream;
// 401, 403 and 429 are the refusals a gateway passes on, with the verification code in
// X-Keyward-Code. nginx's auth_request passes on only 401 and 403, so ?limited_status=403 makes a
// rate-limited or used-up key answer 403, for the nginx config to turn back into 429.
func (s *Server) forwardAuth(w http.ResponseWriter, r *http.Request) error {
	in := keyward.VerifyInput{Key: s.gatewayKey(r)}
	var project string
	limited403 := false
	if r.URL.RawQuery != "" {
		q := r.URL.Query()
		for _, p := range q["permission"] {
			in.Permission = append(in.Permission, keyward.Permission(p))
		}
		project, limited403 = q.Get("project"), q.Get("limited_status") == "403"
	}
	v, memo, err := s.authority.VerifyForGateway(r.Context(), in, project)
	if err != nil {
		return err
	}
	noteCode(w, v.Code)
	h := w.Header()
	h["Cache-Control"] = valueNoStore
	status := http.StatusOK
	switch v.Code {
	case keyward.CodeValid:
		validHeaders(v, memo).set(h)
	case keyward.CodeForbidden:
		status = http.StatusForbidden
	case keyward.CodeRateLimited, keyward.CodeUsageExceeded:
		status = http.StatusTooManyRequests
	default:
		status = http.StatusUnauthorized
		h["Www-Authenticate"] = valueBearer
	}
	if status == http.StatusTooManyRequests && limited403 {
		status = http.StatusForbidden
	}
	code, body := codeValues[v.Code], gatewayBodies[v.Code]
	if code == nil { // a code this build does not list: rendered, not looked up
		code = []string{v.Code}
		body = []byte(`{"valid":` + strconv.FormatBool(v.Valid) + `,"code":"` + v.Code + `"}` + "\n")
	}
	h["X-Keyward-Code"] = code
	setRateLimitHeaders(h, v)
	h["Content-Type"] = valueJSON
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}

// setRateLimitHeaders sends the IETF RateLimit headers (and Retry-After when refused) for a key
// with a rate limit.
func setRateLimitHeaders(h http.Header, v *keyward.Verification) {
	rl := v.RateLimit
	if rl == nil {
		return
	}
	reset := int64((rl.Reset + time.Second - 1) / time.Second)
	h.Set("RateLimit-Limit", strconv.Itoa(rl.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(rl.Remaining))
	h.Set("RateLimit-Reset", strconv.FormatInt(reset, 10))
	if v.Code == keyward.CodeRateLimited {
		h.Set("Retry-After", strconv.FormatInt(reset, 10))
	}
}

// gatewayKey finds the key in the forwarded request: the configured headers first, then the
// native ones.
func (s *Server) gatewayKey(r *http.Request) string {
	keys := nativeKeys
	keys.Headers = s.keyHeaders
	key, _ := keys.Key(r) // nativeKeys refuses no scheme
	return key
}
