package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/authoritytest"
	"github.com/keyward/keyward/secretscanning"
	"github.com/keyward/keyward/token"
)

// leakSigner is a GitHub secret scanning signing key for tests: the Keys a server checks
// reports with, and the headers that sign a body.
type leakSigner struct {
	keys *secretscanning.Keys
	id   string
	priv *ecdsa.PrivateKey
}

func newLeakSigner(t *testing.T) *leakSigner {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, _ := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	const id = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a"
	keys, err := secretscanning.Parse([]byte(`{"public_keys":[{"key_identifier":"` + id + `","key":` + string(pemKey) + `,"is_current":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return &leakSigner{keys: keys, id: id, priv: priv}
}

// headers returns the header pairs that sign body.
func (s *leakSigner) headers(t *testing.T, body string) []string {
	t.Helper()
	d := sha256.Sum256([]byte(body))
	sig, err := ecdsa.SignASN1(rand.Reader, s.priv, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return []string{secretscanning.HeaderKeyID, s.id, secretscanning.HeaderSignature, base64.StdEncoding.EncodeToString(sig)}
}

// githubBody is a partner program report of tokens.
func githubBody(tokens ...string) string {
	var b strings.Builder
	b.WriteString("[")
	for i, tok := range tokens {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"token":%q,"type":"keyward_api_token","url":"https://github.com/o/r/blob/c/app.env","source":"content"}`, tok)
	}
	b.WriteString("]")
	return b.String()
}

func startLeaks(t *testing.T, s *leakSigner) *env {
	t.Helper()
	var keys *secretscanning.Keys
	if s != nil {
		keys = s.keys
	}
	e, _ := startOpts(t, &faultyStore{Store: authoritytest.Store(t)}, authority.Options{}, httpapi.Options{LeakReportKeys: keys})
	return e
}

func (e *env) newKey(t *testing.T, name string) *keyward.IssuedCredential {
	t.Helper()
	r := e.do(t, "POST", credPath, "application/json", `{"name":"`+name+`"}`)
	var c keyward.IssuedCredential
	r.json(t, &c)
	if r.status != 201 {
		t.Fatalf("create %s: %d %s", name, r.status, r.body)
	}
	return &c
}

func (e *env) verifyCode(t *testing.T, key string) string {
	t.Helper()
	var v keyward.Verification
	e.do(t, "POST", "/v1/verify", "application/json", `{"key":"`+key+`"}`).json(t, &v)
	return v.Code
}

// leakEvents counts the credential.leaked events in the audit trail.
func (e *env) leakEvents(t *testing.T) int {
	t.Helper()
	var events keyward.Page[keyward.Event]
	e.do(t, "GET", "/v1/audit?limit=500", "", "").json(t, &events)
	n := 0
	for _, ev := range events.Items {
		if ev.Action == "credential.leaked" {
			n++
		}
	}
	return n
}

func TestGitHubLeaks(t *testing.T) {
	t.Parallel()
	s := newLeakSigner(t)
	e := startLeaks(t, s)
	c := e.newKey(t, "leaky")
	unknown, _ := token.New(keyward.Live)
	body := githubBody(c.Key, unknown, "kw_live_short")
	r := e.do(t, "POST", "/v1/leaks/github", "application/json", body, append([]string{"Authorization", ""}, s.headers(t, body)...)...)
	if r.status != 200 {
		t.Fatalf("signed report: %d %s", r.status, r.body)
	}
	var fb []struct {
		TokenHash string `json:"token_hash"`
		TokenType string `json:"token_type"`
		Label     string `json:"label"`
	}
	r.json(t, &fb)
	hash := func(s string) string { return hex.EncodeToString(token.Digest(s)) }
	want := []string{hash(c.Key) + " true_positive", hash(unknown) + " false_positive", hash("kw_live_short") + " false_positive"}
	if len(fb) != len(want) {
		t.Fatalf("feedback %s", r.body)
	}
	for i := range want {
		if got := fb[i].TokenHash + " " + fb[i].Label; got != want[i] || fb[i].TokenType != "keyward_api_token" {
			t.Errorf("feedback %d: %+v, want %s", i, fb[i], want[i])
		}
	}
	for _, s := range []string{c.Name, "system", `"id"`, c.Key} {
		if strings.Contains(string(r.body), s) {
			t.Errorf("the answer to an unauthenticated report holds %q: %s", s, r.body)
		}
	}
	if got := e.verifyCode(t, c.Key); got != keyward.CodeRevoked {
		t.Fatalf("the leaked key verifies %s at once after the report, want REVOKED", got)
	}
	if got := e.leakEvents(t); got != 1 {
		t.Fatalf("%d credential.leaked events, want 1", got)
	}
	// The same report again (GitHub retries): nothing more happens.
	r = e.do(t, "POST", "/v1/leaks/github", "application/json", body, append([]string{"Authorization", ""}, s.headers(t, body)...)...)
	if r.status != 200 || !strings.Contains(string(r.body), "true_positive") {
		t.Fatalf("repeated report: %d %s", r.status, r.body)
	}
	if got := e.leakEvents(t); got != 1 {
		t.Fatalf("%d credential.leaked events after a repeated report, want 1", got)
	}
}

// A report that is not signed by a configured key is refused before its body is read, and
// changes nothing.
func TestGitHubLeaksRefused(t *testing.T) {
	t.Parallel()
	s := newLeakSigner(t)
	other := newLeakSigner(t)
	e := startLeaks(t, s)
	c := e.newKey(t, "target")
	body := githubBody(c.Key)
	good := s.headers(t, body)
	for _, tc := range []struct {
		name    string
		body    string
		headers []string
		status  int
	}{
		{"NoSignature", body, nil, 401},
		{"WrongKeyID", body, []string{good[0], "another-key", good[2], good[3]}, 401},
		{"OtherKeysSignature", body, []string{good[0], s.id, good[2], other.headers(t, body)[3]}, 401},
		{"BadSignature", body, []string{good[0], good[1], good[2], "MEUCIQ" + strings.Repeat("A", 60)}, 401},
		{"TamperedBody", strings.Replace(body, "content", "commit!", 1), good, 401},
		{"NotJSONButSigned", "[{", s.headers(t, "[{"), 400},
		{"SignedNULEscape", `[{"token":"a\u0000b"}]`, s.headers(t, `[{"token":"a\u0000b"}]`), 400},
		{"TooLarge", strings.Repeat(" ", httpapi.MaxBodyBytes+1), nil, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := append([]string{"Authorization", ""}, tc.headers...)
			r := e.do(t, "POST", "/v1/leaks/github", "application/json", tc.body, h...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if got := e.verifyCode(t, c.Key); got != keyward.CodeValid {
				t.Fatalf("after a refused report the key verifies %s", got)
			}
		})
	}
	if got := e.leakEvents(t); got != 0 {
		t.Fatalf("%d credential.leaked events after refused reports, want 0", got)
	}
	// Too many matches, signed: refused whole.
	many := make([]string, authority.MaxLeakTokens+1)
	for i := range many {
		many[i] = c.Key
	}
	big := githubBody(many...)
	if r := e.do(t, "POST", "/v1/leaks/github", "application/json", big, append([]string{"Authorization", ""}, s.headers(t, big)...)...); r.status != 400 {
		t.Fatalf("%d matches: %d, want 400: %.300s", len(many), r.status, r.body)
	}
	if got := e.verifyCode(t, c.Key); got != keyward.CodeValid {
		t.Fatalf("after a refused report the key verifies %s", got)
	}
}

func TestGitHubLeaksNotConfigured(t *testing.T) {
	t.Parallel()
	e := startLeaks(t, nil)
	s := newLeakSigner(t)
	body := githubBody("kw_live_x")
	if r := e.do(t, "POST", "/v1/leaks/github", "application/json", body, append([]string{"Authorization", ""}, s.headers(t, body)...)...); r.status != 404 {
		t.Fatalf("without configured keys: %d, want 404: %s", r.status, r.body)
	}
}

func TestReportLeaksNative(t *testing.T) {
	t.Parallel()
	e := startLeaks(t, nil)
	c := e.newKey(t, "pasted")
	body := `{"tokens":["` + c.Key + `","kw_live_nope"],"url":"https://paste.example/abc","source":"paste"}`
	if r := e.do(t, "POST", "/v1/leaks", "application/json", body, "Authorization", ""); r.status != 401 {
		t.Fatalf("without a key: %d, want 401", r.status)
	}
	r := e.do(t, "POST", "/v1/leaks", "application/json", body)
	if r.status != 200 {
		t.Fatalf("report: %d %s", r.status, r.body)
	}
	var res keyward.LeakResult
	r.json(t, &res)
	if len(res.Tokens) != 2 || !res.Tokens[0].Known || res.Tokens[0].Status != keyward.LeakStatusRevoked ||
		res.Tokens[1].Known || res.Tokens[1].Status != keyward.LeakStatusInvalid {
		t.Fatalf("answer %s", r.body)
	}
	if got := e.verifyCode(t, c.Key); got != keyward.CodeRevoked {
		t.Fatalf("the reported key verifies %s, want REVOKED", got)
	}
	for _, tc := range []struct{ name, body string }{
		{"NoTokens", `{"tokens":[]}`},
		{"UnknownField", `{"tokens":["x"],"colour":"red"}`},
		{"LongSource", `{"tokens":["x"],"source":"` + strings.Repeat("s", 65) + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := e.do(t, "POST", "/v1/leaks", "application/json", tc.body); r.status != 400 {
				t.Fatalf("%d, want 400: %s", r.status, r.body)
			}
		})
	}
}
