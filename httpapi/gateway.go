package httpapi

import (
	"net/http"
	"strconv"
	"strings"
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
	start := time.Now()
	in := keyward.VerifyInput{Key: s.gatewayKey(r)}
	for _, p := range r.URL.Query()["permission"] {
		in.Permission = append(in.Permission, keyward.Permission(p))
	}
	v, err := s.authority.VerifyForGateway(r.Context(), in, r.URL.Query().Get("project"))
	if err != nil {
		return err
	}
	s.metrics.ObserveVerification("auth", v.Code, time.Since(start))
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	status := http.StatusOK
	switch v.Code {
	case keyward.CodeValid:
		h.Set("X-Keyward-Credential-Id", strconv.FormatInt(v.CredentialID, 10))
		h.Set("X-Keyward-Credential-Name", v.Name)
		h.Set("X-Keyward-Project", v.Project)
		h.Set("X-Keyward-Environment", string(v.Environment))
		h.Set("X-Keyward-Roles", strings.Join(v.Roles, ","))
	case keyward.CodeForbidden:
		status = http.StatusForbidden
	case keyward.CodeRateLimited, keyward.CodeUsageExceeded:
		status = http.StatusTooManyRequests
		s.metrics.RateLimited("key")
	default:
		status = http.StatusUnauthorized
		h.Set("WWW-Authenticate", `Bearer realm="keyward"`)
	}
	if status == http.StatusTooManyRequests && r.URL.Query().Get("limited_status") == "403" {
		status = http.StatusForbidden
	}
	h.Set("X-Keyward-Code", v.Code)
	setRateLimitHeaders(h, v)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write([]byte(`{"valid":` + strconv.FormatBool(v.Valid) + `,"code":"` + v.Code + `"}` + "\n"))
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
