package servicestack

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// expiry is when keys regenerated at t0 expire (keyward's default lifetime).
var expiry = t0.AddDate(0, 0, 90)

var (
	liveKeyRE = regexp.MustCompile(`^kw_live_[0-9A-Za-z]{38}$`)
	testKeyRE = regexp.MustCompile(`^kw_test_[0-9A-Za-z]{38}$`)
)

// checkSeedFields checks that every field of a response is one the seed's sample shows, at the
// same place (Meta maps hold anything).
func checkSeedFields(t *testing.T, path string, got, seed any) {
	t.Helper()
	switch g := got.(type) {
	case map[string]any:
		s, ok := seed.(map[string]any)
		if !ok {
			t.Fatalf("%s is an object; the seed has %T", path, seed)
		}
		for k, v := range g {
			sv, ok := s[k]
			if !ok {
				t.Fatalf("%s.%s is not in the seed's sample", path, k)
			}
			if k != "Meta" {
				checkSeedFields(t, path+"."+k, v, sv)
			}
		}
	case []any:
		s, ok := seed.([]any)
		if !ok || len(s) == 0 {
			t.Fatalf("%s is a list; the seed has %T", path, seed)
		}
		for _, item := range g {
			checkSeedFields(t, path+"[]", item, s[0])
		}
	}
}

// TestSeedExample sends the seed's own sample request (from testdata), with its placeholder
// filled in and as it stands, and checks the answer against the seed's sample response.
func TestSeedExample(t *testing.T) {
	t.Parallel()
	ex := readSeed(t)
	s := startStack(t, Options{})
	s.project(t, "acme", false)
	par := s.user(t, "par", "acme:Partner")
	var seedTree any
	if err := UnmarshalJSV([]byte(ex.responseBody), &seedTree); err != nil {
		t.Fatal(err)
	}
	send := func(t *testing.T, body string) *resp {
		t.Helper()
		h := map[string]string{}
		for _, kv := range ex.requestHeaders {
			switch strings.ToLower(kv[0]) {
			case "host", "content-length": // the test server's, and the real length
			default:
				h[kv[0]] = kv[1]
			}
		}
		return s.do(t, req{method: ex.method, path: ex.path, bearer: par, header: h, body: body})
	}

	t.Run("Routes", func(t *testing.T) {
		got := registered(t)
		for _, r := range ex.routes {
			if !slices.Contains(got, r) {
				t.Fatalf("the seed's route %s is not registered (have %v)", r, got)
			}
		}
		if !slices.Equal(ex.roles, DefaultRoles) {
			t.Fatalf("the seed requires %v; DefaultRoles = %v", ex.roles, DefaultRoles)
		}
	})
	for _, env := range []string{"live", "test"} {
		t.Run("Environment="+env, func(t *testing.T) {
			r := send(t, strings.Replace(ex.requestBody, "String", env, 1))
			if r.status != ex.status {
				t.Fatalf("status %d, the seed's %d: %s", r.status, ex.status, r.body)
			}
			if got, want := r.mediaType(t), ex.header(ex.responseHeaders, "Content-Type"); got != want {
				t.Fatalf("Content-Type %s, the seed's %s", got, want)
			}
			var tree any
			if err := UnmarshalJSV(r.body, &tree); err != nil {
				t.Fatal(err)
			}
			checkSeedFields(t, "response", tree, seedTree)
			var got RegenerateApiKeysResponse
			r.decode(t, &got)
			if got.ResponseStatus != nil || got.Meta != nil {
				t.Fatalf("a success carries ResponseStatus or Meta: %s", r.body)
			}
			re := map[string]*regexp.Regexp{"live": liveKeyRE, "test": testKeyRE}[env]
			if len(got.Results) != 2 {
				t.Fatalf("%d results, want a secret and a publishable key: %s", len(got.Results), r.body)
			}
			for i, kt := range []string{"secret", "publishable"} {
				k := got.Results[i]
				if !re.MatchString(k.Key) || k.KeyType != kt || k.ExpiryDate == nil || !k.ExpiryDate.Time().Equal(expiry) || k.Meta != nil {
					t.Fatalf("result %d = %+v, want a %s %s key expiring %s", i, k, env, kt, expiry)
				}
			}
			golden(t, "seed_regenerate_"+env+".jsv", r)
		})
	}
	t.Run("Verbatim", func(t *testing.T) {
		// "Environment: String", the placeholder itself, is not an environment.
		r := send(t, ex.requestBody)
		if r.status != http.StatusBadRequest {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var tree any
		if err := UnmarshalJSV(r.body, &tree); err != nil {
			t.Fatal(err)
		}
		checkSeedFields(t, "response", tree, seedTree)
		var got RegenerateApiKeysResponse
		r.decode(t, &got)
		rs := got.ResponseStatus
		if rs == nil || rs.ErrorCode != "ArgumentException" || rs.StackTrace != "" || len(rs.Errors) != 1 ||
			!reflect.DeepEqual(rs.Errors[0], ResponseError{ErrorCode: "ArgumentException", FieldName: "Environment", Message: "must be live or test"}) {
			t.Fatalf("error response %s", r.body)
		}
		golden(t, "seed_verbatim.jsv", r)
	})
	t.Run("NoEnvironment", func(t *testing.T) {
		r := send(t, "{\n}")
		var got RegenerateApiKeysResponse
		r.decode(t, &got)
		if r.status != http.StatusOK || len(got.Results) != 4 {
			t.Fatalf("%d %s; want a key of each type in each environment", r.status, r.body)
		}
	})
}

// registered returns the patterns Register mounts.
func registered(t *testing.T) []string {
	t.Helper()
	var got []string
	New(nil, Options{}).Register(func(p string, _ http.Handler) { got = append(got, p) })
	return got
}

func TestRegisteredRoutes(t *testing.T) {
	t.Parallel()
	want := []string{
		"POST /auth/apikeys/regenerate", "POST /auth/apikeys/regenerate.json", "POST /auth/apikeys/regenerate.jsv",
		"POST /auth/apikeys/regenerate/{Environment}",
		"GET /auth/apikeys", "GET /auth/apikeys.json", "GET /auth/apikeys.jsv", "GET /auth/apikeys/{Environment}",
		"/auth/apikeys", "/auth/apikeys.json", "/auth/apikeys.jsv", "/auth/apikeys/{Environment}",
		"/auth/apikeys/regenerate/{Environment}",
		"/api/RegenerateApiKeys", "/json/reply/RegenerateApiKeys", "/jsv/reply/RegenerateApiKeys",
		"/api/RegenerateApiKeyRequest", "/json/reply/RegenerateApiKeyRequest", "/jsv/reply/RegenerateApiKeyRequest",
		"/api/GetApiKeys", "/json/reply/GetApiKeys", "/jsv/reply/GetApiKeys",
		"/api/{request}", "/json/reply/", "/jsv/reply/",
	}
	if got := registered(t); !slices.Equal(got, want) {
		t.Fatalf("Register mounts %v, want %v", got, want)
	}
}

// regenerateAs regenerates and returns the new keys.
func (s *stack) regenerateAs(t *testing.T, key, path string) []UserApiKey {
	t.Helper()
	r := s.do(t, req{method: "POST", path: path, bearer: key})
	if r.status != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, r.status, r.body)
	}
	var got RegenerateApiKeysResponse
	r.decode(t, &got)
	return got.Results
}

func (s *stack) listAs(t *testing.T, key, path string) []UserApiKey {
	t.Helper()
	r := s.do(t, req{method: "GET", path: path, bearer: key})
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	var got GetApiKeysResponse
	r.decode(t, &got)
	return got.Results
}

// masked is how a key that cannot be shown again is listed.
func masked(key string) string { return key[:12] + "********" }

func TestOperations(t *testing.T) {
	t.Parallel()
	s := startStack(t, Options{})
	s.project(t, "acme", false)
	par := s.user(t, "par", "acme:Partner")

	var all []UserApiKey
	t.Run("RegenerateAll", func(t *testing.T) {
		r := s.do(t, req{method: "POST", path: "/auth/apikeys/regenerate", bearer: par})
		golden(t, "regenerate.json", r)
		var got RegenerateApiKeysResponse
		r.decode(t, &got)
		all = got.Results
		want := []struct {
			re *regexp.Regexp
			kt string
		}{{liveKeyRE, "secret"}, {liveKeyRE, "publishable"}, {testKeyRE, "secret"}, {testKeyRE, "publishable"}}
		if len(all) != len(want) {
			t.Fatalf("%d keys: %s", len(all), r.body)
		}
		for i, w := range want {
			if !w.re.MatchString(all[i].Key) || all[i].KeyType != w.kt || !all[i].ExpiryDate.Time().Equal(expiry) {
				t.Fatalf("key %d = %+v", i, all[i])
			}
		}
		// JSON dates are ServiceStack's: "\/Date(<unix ms>)\/".
		if want := `"ExpiryDate":"\/Date(` + strconvMs(expiry) + `)\/"`; !strings.Contains(string(r.body), want) {
			t.Fatalf("body %s lacks %s", r.body, want)
		}
	})
	t.Run("List", func(t *testing.T) {
		r := s.do(t, req{method: "GET", path: "/auth/apikeys", bearer: par})
		golden(t, "list.json", r)
		got := s.listAs(t, par, "/auth/apikeys")
		// Newest first; keys are masked: acme does not keep recoverable keys.
		var want []UserApiKey
		for i := len(all) - 1; i >= 0; i-- {
			k := all[i]
			k.Key = masked(k.Key)
			want = append(want, k)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("listed %+v, want %+v", got, want)
		}
		if got := s.listAs(t, par, "/auth/apikeys/test"); !reflect.DeepEqual(got, want[:2]) {
			t.Fatalf("test keys %+v, want %+v", got, want[:2])
		}
		r = s.do(t, req{method: "GET", path: "/auth/apikeys/live", bearer: par, header: map[string]string{"Accept": "text/jsv"}})
		golden(t, "list_live.jsv", r)
	})
	t.Run("NewKeyAuthenticates", func(t *testing.T) {
		// The live secret key acts for par in its own project, acme: by Bearer and by Basic.
		if got := s.listAs(t, all[0].Key, "/auth/apikeys/live"); len(got) != 2 {
			t.Fatalf("listed %+v with the new key", got)
		}
		r := s.do(t, req{method: "GET", path: "/auth/apikeys/live", basic: &[2]string{all[0].Key, ""}})
		if r.status != http.StatusOK {
			t.Fatalf("Basic with the key as user name: %d %s", r.status, r.body)
		}
	})
	var live []UserApiKey
	t.Run("RegenerateLiveRevokesOldLive", func(t *testing.T) {
		// Called with the live secret key itself, which is cancelled with the others.
		r := s.do(t, req{method: "POST", path: "/auth/apikeys/regenerate/live", bearer: all[0].Key, header: map[string]string{"Accept": "text/jsv"}})
		golden(t, "regenerate_live.jsv", r)
		var got RegenerateApiKeysResponse
		r.decode(t, &got)
		live = got.Results
		if len(live) != 2 || !liveKeyRE.MatchString(live[0].Key) || live[0].Key == all[0].Key {
			t.Fatalf("new live keys %+v", live)
		}
		for i, k := range all {
			r := s.do(t, req{method: "GET", path: "/auth/apikeys", bearer: k.Key})
			if want := map[bool]int{true: http.StatusUnauthorized, false: http.StatusOK}[i < 2]; r.status != want {
				t.Fatalf("old key %d: %d, want %d", i, r.status, want)
			}
		}
		got2 := s.listAs(t, par, "/auth/apikeys")
		var keys []string
		for _, k := range got2 {
			keys = append(keys, k.Key)
		}
		want := []string{masked(live[1].Key), masked(live[0].Key), masked(all[3].Key), masked(all[2].Key)}
		if !slices.Equal(keys, want) {
			t.Fatalf("listed %v, want %v", keys, want)
		}
	})
	t.Run("CrossSurface", func(t *testing.T) {
		// The native API sees the same key, expiry and state; its revocation is honoured here.
		var page struct {
			Items []struct {
				Name, Environment, State string
				KeyType                  string     `json:"key_type"`
				ExpiresAt                *time.Time `json:"expires_at"`
				Start                    string
			}
		}
		if st := s.native(t, "GET", "/v1/projects/acme/credentials?state=active", nil, &page); st != http.StatusOK {
			t.Fatalf("native list: %d", st)
		}
		var names []string
		for _, c := range page.Items {
			names = append(names, c.Name)
			if c.Name == "par-live-secret-2" && (c.Start != live[0].Key[:12] || c.ExpiresAt == nil ||
				!c.ExpiresAt.Equal(live[0].ExpiryDate.Time()) || c.KeyType != "secret" || c.Environment != "live") {
				t.Fatalf("native view of the live secret key: %+v", c)
			}
		}
		want := []string{"par-test-secret-1", "par-test-publishable-1", "par-live-secret-2", "par-live-publishable-2"}
		if !slices.Equal(names, want) {
			t.Fatalf("native API lists %v, want %v", names, want)
		}
		if st := s.native(t, "DELETE", "/v1/projects/acme/credentials/par-live-secret-2", nil, nil); st != http.StatusOK {
			t.Fatalf("native revoke: %d", st)
		}
		if r := s.do(t, req{method: "GET", path: "/auth/apikeys", bearer: live[0].Key}); r.status != http.StatusUnauthorized {
			t.Fatalf("a key revoked through the native API still works here: %d", r.status)
		}
		if got := s.listAs(t, par, "/auth/apikeys/live"); len(got) != 1 || got[0].Key != masked(live[1].Key) {
			t.Fatalf("after the native revoke, live keys %+v", got)
		}
	})
}

func strconvMs(t time.Time) string {
	b, _ := json.Marshal(t.UnixMilli())
	return string(b)
}

// TestRecoverableKeys: in a project that keeps recoverable keys, a caller holding keys:reveal
// lists its keys in full; one without it sees them masked.
func TestRecoverableKeys(t *testing.T) {
	t.Parallel()
	s := startStack(t, Options{})
	s.project(t, "vault", true)
	owner := s.user(t, "own", "vault:Client", "vault:owner") // owner holds keys:reveal
	cli := s.user(t, "cli", "vault:Client")
	for _, tc := range []struct {
		name, key string
		revealed  bool
	}{{"WithKeysReveal", owner, true}, {"WithoutKeysReveal", cli, false}} {
		t.Run(tc.name, func(t *testing.T) {
			keys := s.regenerateAs(t, tc.key, "/auth/apikeys/regenerate/test")
			r := s.do(t, req{method: "GET", path: "/auth/apikeys/test.jsv", bearer: tc.key})
			golden(t, "list_recoverable_"+map[bool]string{true: "revealed", false: "masked"}[tc.revealed]+".jsv", r)
			var got GetApiKeysResponse
			r.decode(t, &got)
			if len(got.Results) != 2 {
				t.Fatalf("%s", r.body)
			}
			for i, k := range got.Results {
				want := keys[1-i].Key
				if !tc.revealed {
					want = masked(want)
				}
				if k.Key != want {
					t.Fatalf("key %d listed as %q, want %q", i, k.Key, want)
				}
			}
		})
	}
}

// TestNegotiation: the response format, as ServiceStack picks it.
func TestNegotiation(t *testing.T) {
	t.Parallel()
	s := startStack(t, Options{})
	s.project(t, "acme", false)
	par := s.user(t, "par", "acme:Partner")
	s.regenerateAs(t, par, "/auth/apikeys/regenerate")
	want := s.listAs(t, par, "/auth/apikeys")
	for _, tc := range []struct {
		name, path, accept, mediaType string
		live                          bool
	}{
		{"Default", "/auth/apikeys", "", "application/json", false},
		{"AcceptJSV", "/auth/apikeys", "text/jsv", "text/jsv", false},
		{"AcceptJSON", "/auth/apikeys", "application/json", "application/json", false},
		{"AcceptTextJSON", "/auth/apikeys", "text/json", "application/json", false},
		{"AcceptQuality", "/auth/apikeys", "application/json;q=0.5, text/jsv", "text/jsv", false},
		{"AcceptBrowser", "/auth/apikeys", "text/html,application/xhtml+xml,*/*;q=0.8", "application/json", false},
		{"FormatJSV", "/auth/apikeys?format=jsv", "", "text/jsv", false},
		{"FormatJSONOverAccept", "/auth/apikeys?format=json", "text/jsv", "application/json", false},
		{"FormatUnknown", "/auth/apikeys?format=xml", "", "application/json", false},
		{"SuffixJSV", "/auth/apikeys.jsv", "", "text/jsv", false},
		{"SuffixJSONOverAccept", "/auth/apikeys.json", "text/jsv", "application/json", false},
		{"FormatOverSuffix", "/auth/apikeys.json?format=jsv", "", "text/jsv", false},
		{"EnvironmentSuffix", "/auth/apikeys/live.jsv", "", "text/jsv", true},
		{"EnvironmentQuery", "/auth/apikeys?Environment=live", "", "application/json", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.accept != "" {
				h["Accept"] = tc.accept
			}
			r := s.do(t, req{method: "GET", path: tc.path, bearer: par, header: h})
			if r.status != http.StatusOK || r.mediaType(t) != tc.mediaType {
				t.Fatalf("%d %s %s, want %s", r.status, r.header.Get("Content-Type"), r.body, tc.mediaType)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("Cache-Control %q", r.header.Get("Cache-Control"))
			}
			var got GetApiKeysResponse
			r.decode(t, &got)
			w := want
			if tc.live {
				w = want[2:]
			}
			if !reflect.DeepEqual(got.Results, w) {
				t.Fatalf("listed %+v, want %+v", got.Results, w)
			}
		})
	}
}

// TestRequestBodies: the Environment of a regeneration from every place ServiceStack reads it.
func TestRequestBodies(t *testing.T) {
	t.Parallel()
	s := startStack(t, Options{})
	s.project(t, "acme", false)
	cli := s.user(t, "cli", "acme:Client")
	for _, tc := range []struct {
		name, path, contentType, body string
	}{
		{"JSON", "/auth/apikeys/regenerate", "application/json", `{"Environment":"test"}`},
		{"JSONAnyCase", "/auth/apikeys/regenerate", "application/json; charset=utf-8", `{"environment":"test","Unknown":1}`},
		{"JSV", "/auth/apikeys/regenerate", "text/jsv", `{Environment:test}`},
		{"JSVIndented", "/auth/apikeys/regenerate", "text/jsv", "{\n\tEnvironment: test\n}"},
		{"Query", "/auth/apikeys/regenerate?Environment=test", "", ""},
		{"Path", "/auth/apikeys/regenerate/test", "", ""},
		{"PathOverBody", "/auth/apikeys/regenerate/test", "application/json", `{"Environment":"live"}`},
		{"PathSuffix", "/auth/apikeys/regenerate/test.json", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.contentType != "" {
				h["Content-Type"] = tc.contentType
			}
			r := s.do(t, req{method: "POST", path: tc.path, bearer: cli, header: h, body: tc.body})
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			var got RegenerateApiKeysResponse
			r.decode(t, &got)
			if len(got.Results) != 2 || !testKeyRE.MatchString(got.Results[0].Key) || !testKeyRE.MatchString(got.Results[1].Key) {
				t.Fatalf("regenerated %+v, want the two test keys", got.Results)
			}
			listed := s.listAs(t, cli, "/auth/apikeys/test")
			if len(listed) != 2 || listed[1].Key != masked(got.Results[0].Key) || listed[0].Key != masked(got.Results[1].Key) {
				t.Fatalf("listed %+v after regenerating %+v", listed, got.Results)
			}
		})
	}
}

// TestErrors: every refusal, in ServiceStack's shape, with the status it documents.
func TestErrors(t *testing.T) {
	t.Parallel()
	s := startStack(t, Options{})
	s.project(t, "acme", false)
	cli := s.user(t, "cli", "acme:Client")
	vwr := s.user(t, "vwr", "acme:viewer")
	out := s.user(t, "out")
	keys := s.regenerateAs(t, cli, "/auth/apikeys/regenerate")
	for _, tc := range []struct {
		name      string
		rq        req
		status    int
		errorCode string
		fields    []string // FieldName of each ResponseError
		allow     string
		golden    string
	}{
		{name: "NoCredentials", rq: req{method: "POST", path: "/auth/apikeys/regenerate"},
			status: 401, errorCode: "Unauthorized", golden: "error_unauthenticated.json"},
		{name: "UnknownKey", rq: req{method: "GET", path: "/auth/apikeys", bearer: "kw_live_" + strings.Repeat("A", 38)},
			status: 401, errorCode: "Unauthorized"},
		{name: "BasicWithPassword", rq: req{method: "GET", path: "/auth/apikeys", basic: &[2]string{keys[0].Key, "secret"}},
			status: 401, errorCode: "Unauthorized"},
		{name: "OtherScheme", rq: req{method: "GET", path: "/auth/apikeys", header: map[string]string{"Authorization": "APIToken " + keys[0].Key}},
			status: 401, errorCode: "Unauthorized"},
		{name: "NotOneOfTheRoles", rq: req{method: "POST", path: "/auth/apikeys/regenerate", bearer: vwr, header: map[string]string{"Accept": "text/jsv"}},
			status: 403, errorCode: "Forbidden", golden: "error_forbidden.jsv"},
		{name: "ListNotOneOfTheRoles", rq: req{method: "GET", path: "/auth/apikeys", bearer: vwr},
			status: 403, errorCode: "Forbidden"},
		{name: "NoProject", rq: req{method: "GET", path: "/auth/apikeys", bearer: out},
			status: 404, errorCode: "NotFound"},
		{name: "BadEnvironment", rq: req{method: "POST", path: "/auth/apikeys/regenerate/prod", bearer: cli},
			status: 400, errorCode: "ArgumentException", fields: []string{"Environment"}, golden: "error_environment.json"},
		{name: "BadEnvironmentJSV", rq: req{method: "POST", path: "/auth/apikeys/regenerate/prod.jsv", bearer: cli},
			status: 400, errorCode: "ArgumentException", fields: []string{"Environment"}, golden: "error_environment.jsv"},
		{name: "ListBadEnvironment", rq: req{method: "GET", path: "/auth/apikeys/staging", bearer: cli},
			status: 400, errorCode: "ArgumentException", fields: []string{"Environment"}},
		{name: "MalformedJSON", rq: req{method: "POST", path: "/auth/apikeys/regenerate", bearer: cli,
			header: map[string]string{"Content-Type": "application/json"}, body: `{"Environment":`},
			status: 400, errorCode: "SerializationException", golden: "error_serialization.json"},
		{name: "WrongJSONType", rq: req{method: "POST", path: "/auth/apikeys/regenerate", bearer: cli,
			header: map[string]string{"Content-Type": "application/json"}, body: `{"Environment":["live"]}`},
			status: 400, errorCode: "SerializationException"},
		{name: "MalformedJSV", rq: req{method: "POST", path: "/auth/apikeys/regenerate", bearer: cli,
			header: map[string]string{"Content-Type": "text/jsv"}, body: `{Environment:"live}`},
			status: 400, errorCode: "SerializationException"},
		{name: "UnsupportedBody", rq: req{method: "POST", path: "/auth/apikeys/regenerate", bearer: cli,
			header: map[string]string{"Content-Type": "application/xml"}, body: `<RegenerateApiKeys/>`},
			status: 415, errorCode: "UnsupportedMediaType"},
		// What a cross-site HTML form sends is refused, even empty: the browser would add its
		// cached Basic credentials.
		{name: "FormBody", rq: req{method: "POST", path: "/auth/apikeys/regenerate", bearer: cli,
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: "Environment=test"},
			status: 415, errorCode: "UnsupportedMediaType"},
		{name: "EmptyFormBody", rq: req{method: "POST", path: "/auth/apikeys/regenerate/live", bearer: cli,
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
			status: 415, errorCode: "UnsupportedMediaType"},
		{name: "TextBody", rq: req{method: "POST", path: "/auth/apikeys/regenerate.jsv", bearer: cli,
			header: map[string]string{"Content-Type": "text/plain"}, body: `{Environment:test}`},
			status: 415, errorCode: "UnsupportedMediaType"},
		{name: "MultipartBody", rq: req{method: "POST", path: "/auth/apikeys/regenerate", bearer: cli,
			header: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, body: "--x--\r\n"},
			status: 415, errorCode: "UnsupportedMediaType"},
		{name: "BodyWithoutContentType", rq: req{method: "POST", path: "/auth/apikeys/regenerate.jsv", bearer: cli, body: `{Environment:test}`},
			status: 415, errorCode: "UnsupportedMediaType"},
		{name: "TooLarge", rq: req{method: "POST", path: "/auth/apikeys/regenerate", bearer: cli,
			header: map[string]string{"Content-Type": "application/json"}, body: `{"Environment":"` + strings.Repeat("x", 2<<20) + `"}`},
			status: 413, errorCode: "RequestEntityTooLarge"},
		{name: "DeleteKeys", rq: req{method: "DELETE", path: "/auth/apikeys", bearer: cli},
			status: 405, errorCode: "MethodNotAllowed", allow: "GET, HEAD", golden: "error_method.json"},
		{name: "PostKeys", rq: req{method: "POST", path: "/auth/apikeys/live", bearer: cli},
			status: 405, errorCode: "MethodNotAllowed", allow: "GET, HEAD"},
		{name: "PutKeysSuffix", rq: req{method: "PUT", path: "/auth/apikeys.jsv", bearer: cli},
			status: 405, errorCode: "MethodNotAllowed", allow: "GET, HEAD"},
		{name: "GetRegenerate", rq: req{method: "GET", path: "/auth/apikeys/regenerate", bearer: cli},
			status: 405, errorCode: "MethodNotAllowed", allow: "POST"},
		{name: "DeleteRegenerate", rq: req{method: "DELETE", path: "/auth/apikeys/regenerate", bearer: cli},
			status: 405, errorCode: "MethodNotAllowed", allow: "POST"},
		{name: "PutRegenerateEnvironment", rq: req{method: "PUT", path: "/auth/apikeys/regenerate/live", bearer: cli},
			status: 405, errorCode: "MethodNotAllowed", allow: "POST"},
		{name: "PostKeysAfterRegeneratePaths", rq: req{method: "POST", path: "/auth/apikeys/test", bearer: cli},
			status: 405, errorCode: "MethodNotAllowed", allow: "GET, HEAD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, tc.rq)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if got := r.header.Get("Allow"); got != tc.allow {
				t.Fatalf("Allow %q, want %q", got, tc.allow)
			}
			if got := r.header.Values("WWW-Authenticate"); (tc.status == 401) != (len(got) > 0) {
				t.Fatalf("WWW-Authenticate %q on a %d", got, tc.status)
			}
			var tree map[string]any
			r.decode(t, &tree)
			if _, ok := tree["ResponseStatus"]; !ok || len(tree) != 1 {
				t.Fatalf("an error body holds only ResponseStatus: %s", r.body)
			}
			var got GetApiKeysResponse
			r.decode(t, &got)
			rs := got.ResponseStatus
			if rs.ErrorCode != tc.errorCode || rs.Message == "" || rs.StackTrace != "" || rs.Errors == nil {
				t.Fatalf("ResponseStatus %+v, want ErrorCode %s, a message, Errors and no stack trace", rs, tc.errorCode)
			}
			var fields []string
			for _, e := range rs.Errors {
				if e.ErrorCode == "" || e.Message == "" {
					t.Fatalf("field error %+v", e)
				}
				fields = append(fields, e.FieldName)
			}
			if !slices.Equal(fields, tc.fields) {
				t.Fatalf("field errors on %v, want %v", fields, tc.fields)
			}
			for _, k := range keys {
				if strings.Contains(string(r.body), k.Key) {
					t.Fatal("an error echoes a key")
				}
			}
			if tc.golden != "" {
				golden(t, tc.golden, r)
			}
		})
	}
	t.Run("NothingChanged", func(t *testing.T) {
		got := s.listAs(t, cli, "/auth/apikeys")
		if len(got) != 4 || got[3].Key != masked(keys[0].Key) {
			t.Fatalf("after the refused requests: %+v", got)
		}
	})
}

// TestOptions: a fixed project, other roles, one key type, never-expiring keys.
func TestOptions(t *testing.T) {
	t.Parallel()
	s := startStack(t, Options{Project: "beta", Roles: []string{"viewer"}, KeyTypes: []keyward.KeyType{keyward.Secret}, NeverExpires: true})
	s.project(t, "alpha", false)
	s.project(t, "beta", false)
	// v is a viewer of both projects; Options.Project settles which one.
	v := s.user(t, "viewer1", "alpha:viewer", "beta:viewer")
	keys := s.regenerateAs(t, v, "/auth/apikeys/regenerate")
	if len(keys) != 2 || keys[0].KeyType != "secret" || keys[1].KeyType != "secret" || keys[0].ExpiryDate != nil {
		t.Fatalf("regenerated %+v, want a never-expiring secret key per environment", keys)
	}
	var c struct{ Project string }
	if st := s.native(t, "GET", "/v1/projects/beta/credentials/viewer1-live-secret-1", nil, &c); st != http.StatusOK || c.Project != "beta" {
		t.Fatalf("the key is not in beta: %d %+v", st, c)
	}
	cli := s.user(t, "client1", "beta:Client")
	if r := s.do(t, req{method: "GET", path: "/auth/apikeys", bearer: cli}); r.status != http.StatusForbidden {
		t.Fatalf("a Client when only viewers may: %d %s", r.status, r.body)
	}
}

// TestConcurrentRegenerations: regenerations that race for one user each succeed or get 409,
// and what is left is exactly the keys one of the successful answers returned.
func TestConcurrentRegenerations(t *testing.T) {
	t.Parallel()
	s := startStack(t, Options{})
	s.project(t, "acme", false)
	cli := s.user(t, "cli", "acme:Client")
	const n = 8
	results := make([]*resp, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i] = s.do(t, req{method: "POST", path: "/auth/apikeys/regenerate", bearer: cli})
		})
	}
	wg.Wait()
	var sets [][]string
	for _, r := range results {
		switch r.status {
		case http.StatusOK:
			var got RegenerateApiKeysResponse
			r.decode(t, &got)
			var set []string
			for _, k := range got.Results {
				set = append(set, masked(k.Key))
			}
			slices.Sort(set)
			sets = append(sets, set)
		case http.StatusConflict:
		default:
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	if len(sets) == 0 {
		t.Fatal("no regeneration succeeded")
	}
	var left []string
	for _, k := range s.listAs(t, cli, "/auth/apikeys") {
		left = append(left, k.Key)
	}
	slices.Sort(left)
	if !slices.ContainsFunc(sets, func(set []string) bool { return slices.Equal(set, left) }) {
		t.Fatalf("active keys %v are not the answer of any of the %d successful regenerations", left, len(sets))
	}
}
