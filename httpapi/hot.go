package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
	valueJSON     = []string{"application/json"}
	valueNoStore  = []string{"no-store"}
	valueBearer   = []string{`Bearer realm="keyward"`}
	codeValues    = map[string][]string{}
	gatewayBodies = map[string][]byte{}
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
	if _, err = w.Write(body.head); err == nil && body.tail != nil {
		_, err = w.Write(body.tail)
	}
	return err
}

// renderedVerify is a /v1/verify answer in JSON, in two parts: what is the key's own, and the
// part from "permissions" on, which every key with the same roles shares (internedTails).
type renderedVerify struct {
	head, tail []byte
}

// verifyBody is v in JSON, from its memo when v is shared.
func verifyBody(v *keyward.Verification, memo *authority.Memo) (renderedVerify, error) {
	if memo != nil {
		if b, ok := memo.Load(authority.MemoVerifyBody).(renderedVerify); ok {
			return b, nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return renderedVerify{}, err
	}
	b = append(b, '\n')
	if memo == nil {
		return renderedVerify{head: b}, nil
	}
	// Meta's values are strings, so `,"permissions":[` can only open the permissions field.
	out := renderedVerify{head: b}
	if i := bytes.LastIndex(b, permissionsField); i >= 0 {
		out = renderedVerify{head: bytes.Clone(b[:i]), tail: tails.intern(b[i:])}
	}
	memo.Store(authority.MemoVerifyBody, out)
	return out, nil
}

var permissionsField = []byte(`,"permissions":[`)

// tails interns the shared parts of rendered answers, so that a cached key keeps only its
// own. Bounded: a full table starts over (what was handed out stays valid).
var tails = &internedTails{m: map[string][]byte{}}

type internedTails struct {
	mu sync.Mutex
	m  map[string][]byte
}

const maxTails = 1024

func (t *internedTails) intern(b []byte) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	if got, ok := t.m[string(b)]; ok {
		return got
	}
	if len(t.m) >= maxTails {
		clear(t.m)
	}
	b = bytes.Clone(b)
	t.m[string(b)] = b
	return b
}

// gatewayHeaders are the values of the X-Keyward-* headers that say who a valid key is, each
// in an array of one so that a header's value slice points into it.
type gatewayHeaders struct {
	id, name, project, environment, roles [1]string
}

// set sets g's headers on h.
func (g *gatewayHeaders) set(h http.Header) {
	h["X-Keyward-Credential-Id"] = g.id[:]
	h["X-Keyward-Credential-Name"] = g.name[:]
	h["X-Keyward-Project"] = g.project[:]
	h["X-Keyward-Environment"] = g.environment[:]
	h["X-Keyward-Roles"] = g.roles[:]
}

// validHeaders are a valid key's X-Keyward-* headers, from its memo when v is shared.
func validHeaders(v *keyward.Verification, memo *authority.Memo) *gatewayHeaders {
	if memo != nil {
		if g, ok := memo.Load(authority.MemoGatewayHeaders).(*gatewayHeaders); ok {
			return g
		}
	}
	g := &gatewayHeaders{id: [1]string{strconv.FormatInt(v.CredentialID, 10)}, name: [1]string{v.Name},
		project: [1]string{v.Project}, environment: [1]string{string(v.Environment)}, roles: [1]string{strings.Join(v.Roles, ",")}}
	if memo != nil {
		memo.Store(authority.MemoGatewayHeaders, g)
	}
	return g
}
