package httpapi

import (
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

// This file is what the verification endpoints (/v1/verify, /v1/auth and its Envoy form) do
// differently from the rest of the API, to cost little more than a bare handler: no request
// timer (a cached answer is memory work; the authority bounds its own store calls), access
// lines for refusals and errors and a sample of successes, metrics resolved at start, static
// header values, and answers rendered once per cache entry (authority.Memo).

// DefaultAccessLogSample is the share of successful verifications written to the access log
// when Options.AccessLogSample is zero.
const DefaultAccessLogSample = 0.01

// hotOpts returns the route options of the verification endpoint named surface.
func (s *Server) hotOpts(surface string, public bool) routeOpts {
	return routeOpts{public: public, guarded: true, hot: s.metrics.Surface(surface), surface: surface}
}

// noteCode tells the middleware (finish) how a verification ended.
func noteCode(w http.ResponseWriter, code string) {
	if sw, ok := w.(*statusWriter); ok {
		sw.code = code
	}
}

// finish observes a verification's metrics and writes the request's access line: every one,
// but on a hot endpoint a success only as often as the sample says.
func (s *Server) finish(w *statusWriter, r *http.Request, id string, o routeOpts, d time.Duration) {
	if o.surface != "" {
		if w.code != "" {
			o.hot.Observe(w.code, d)
		}
		if w.status < 400 && (w.code == "" || w.code == keyward.CodeValid) && !s.sampled() {
			return
		}
	}
	attrs := [...]slog.Attr{
		slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", RedactKeys(r.URL.Path)),
		slog.Int("status", w.status), slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("code", w.code),
	}
	n := len(attrs)
	if w.code == "" {
		n--
	}
	s.logger.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs[:n]...)
}

// sampled reports whether this success goes to the access log.
func (s *Server) sampled() bool {
	return s.sample >= 1 || (s.sample > 0 && rand.Float64() < s.sample)
}

// Header values every answer of a hot endpoint shares, as net/http never changes a value
// slice it is given (and a cap of 1 makes an Add copy it).
var (
	valueJSON       = []string{"application/json"}
	valueNoStore    = []string{"no-store"}
	valueBearer     = []string{`Bearer realm="keyward"`}
	codeValues      = map[string][]string{}
	gatewayBodies   = map[string][]byte{}
	headerKeywardID = http.CanonicalHeaderKey("X-Keyward-Credential-Id")
)

func init() {
	for _, c := range keyward.VerificationCodes {
		codeValues[c] = []string{c}
		gatewayBodies[c] = []byte(`{"valid":` + strconv.FormatBool(c == keyward.CodeValid) + `,"code":"` + c + `"}` + "\n")
	}
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request) error {
	var in keyward.VerifyInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	if in.Key == "" {
		return keyward.Invalid("key", "is required")
	}
	v, memo, err := s.authority.VerifyMemo(r.Context(), in)
	if err != nil {
		return err
	}
	noteCode(w, v.Code)
	h := w.Header()
	if v.RateLimit != nil {
		setRateLimitHeaders(h, v)
	}
	h["Content-Type"] = valueJSON
	h["Cache-Control"] = valueNoStore // responses may carry a key's meta; no intermediary keeps them
	body, err := verifyBody(v, memo)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	return err
}

// verifyBody is v in JSON, from its memo when v is shared.
func verifyBody(v *keyward.Verification, memo *authority.Memo) ([]byte, error) {
	if memo != nil {
		if b, ok := memo.Load(authority.MemoVerifyBody).([]byte); ok {
			return b, nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	b = append(b, '\n')
	if memo != nil {
		memo.Store(authority.MemoVerifyBody, b)
	}
	return b, nil
}

// gatewayHeader is one header of a valid key's /v1/auth answer.
type gatewayHeader struct {
	key    string
	values []string
}

// validHeaders are the X-Keyward-* headers that say who a valid key is, from its memo when v
// is shared.
func validHeaders(v *keyward.Verification, memo *authority.Memo) []gatewayHeader {
	if memo != nil {
		if hs, ok := memo.Load(authority.MemoGatewayHeaders).([]gatewayHeader); ok {
			return hs
		}
	}
	hs := []gatewayHeader{
		{headerKeywardID, []string{strconv.FormatInt(v.CredentialID, 10)}},
		{"X-Keyward-Credential-Name", []string{v.Name}},
		{"X-Keyward-Project", []string{v.Project}},
		{"X-Keyward-Environment", []string{string(v.Environment)}},
		{"X-Keyward-Roles", []string{strings.Join(v.Roles, ",")}},
	}
	if memo != nil {
		memo.Store(authority.MemoGatewayHeaders, hs)
	}
	return hs
}
