package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

const token = "kw_live_SECRETtoken0123456789abcdefghijABCDEF"

var (
	t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	t1 = time.Date(2026, 5, 30, 12, 0, 0, 0, time.UTC)
)

func ptr[T any](v T) *T { return &v }

// want describes the request the fake expects and the answer it gives.
type exchange struct {
	method  string
	path    string            // escaped path
	query   url.Values        // nil: no query at all
	body    string            // JSON; "" when the request must have no body
	headers map[string]string // header -> exact value; "" means absent
	noAuth  bool              // the request must carry no Authorization header
	status  int
	rheader map[string]string
	rbody   string
}

// fake serves one exchange and fails the test on any mismatch.
func fake(t *testing.T, ex exchange) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got, want := r.Method, ex.method; got != want {
			t.Errorf("method = %q, want %q", got, want)
		}
		if got, want := r.URL.EscapedPath(), ex.path; got != want {
			t.Errorf("path = %q, want %q", got, want)
		}
		if ex.query == nil {
			if r.URL.RawQuery != "" {
				t.Errorf("query = %q, want none", r.URL.RawQuery)
			}
		} else if got := r.URL.Query(); !reflect.DeepEqual(got, ex.query) {
			t.Errorf("query = %v, want %v", got, ex.query)
		}
		wantAuth := "Bearer " + token
		if ex.noAuth {
			wantAuth = ""
		}
		if got := r.Header.Get("Authorization"); got != wantAuth {
			t.Errorf("Authorization = %q, want %q", got, wantAuth)
		}
		if got := r.Header.Get("Accept"); !strings.Contains(got, "application/problem+json") {
			t.Errorf("Accept = %q, want it to include problem+json", got)
		}
		for k, want := range ex.headers {
			if got := r.Header.Get(k); got != want {
				t.Errorf("header %s = %q, want %q", k, got, want)
			}
		}
		b, _ := io.ReadAll(r.Body)
		switch {
		case ex.body == "" && len(b) != 0:
			t.Errorf("body = %s, want none", b)
		case ex.body != "":
			if got := r.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			var got, want any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Errorf("body %s: %v", b, err)
			}
			if err := json.Unmarshal([]byte(ex.body), &want); err != nil {
				t.Fatalf("test's body %s: %v", ex.body, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body = %s, want %s", b, ex.body)
			}
		}
		for k, v := range ex.rheader {
			w.Header().Set(k, v)
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(ex.status)
		_, _ = io.WriteString(w, ex.rbody)
	}))
	t.Cleanup(srv.Close)
	return srv
}

const credJSON = `{"id":12,"project_id":3,"project":"acme","name":"ci","description":"deploys",
	"type":"API_TOKEN","environment":"live","key_type":"secret","created_by":1,"role_ids":[1],
	"meta":{"team":"infra"},"not_before":null,"expires_at":"2026-05-30T12:00:00Z","active":true,
	"revoked_at":null,"created_at":"2026-03-01T12:00:00Z","updated_at":"2026-03-01T12:00:00Z",
	"last_used_at":null,"version":3,"start":"kw_live_AbCd","state":"active"}`

var cred = keyward.Credential{
	ID: 12, ProjectID: 3, Project: "acme", Name: "ci", Description: "deploys",
	Type: keyward.APIToken, Environment: keyward.Live, KeyType: keyward.Secret, CreatedBy: 1,
	RoleIDs: []int64{1}, Meta: map[string]string{"team": "infra"}, ExpiresAt: &t1, Active: true,
	CreatedAt: t0, UpdatedAt: t0, Version: 3, Start: "kw_live_AbCd", State: keyward.StateActive,
}

func issuedJSON() string { return strings.TrimSuffix(credJSON, "}") + `,"key":"kw_live_NEWKEY"}` }

const projectJSON = `{"id":3,"slug":"acme","name":"Acme","created_at":"2026-03-01T12:00:00Z"}`

var project = keyward.Project{ID: 3, Slug: "acme", Name: "Acme", CreatedAt: t0}

func TestCalls(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		ex   exchange
		call func(c *client.Client) (any, error)
		want any
	}{
		{
			name: "CreateProject",
			ex: exchange{method: "POST", path: "/v1/projects", body: `{"slug":"acme","name":"Acme"}`,
				status: 201, rbody: projectJSON},
			call: func(c *client.Client) (any, error) {
				return c.CreateProject(ctx, keyward.CreateProjectInput{Slug: "acme", Name: "Acme"})
			},
			want: &project,
		},
		{
			name: "ListProjects",
			ex: exchange{method: "GET", path: "/v1/projects", query: url.Values{"cursor": {"c1"}, "limit": {"5"}},
				status: 200, rbody: `{"items":[` + projectJSON + `],"next_cursor":"c2"}`},
			call: func(c *client.Client) (any, error) { return c.ListProjects(ctx, "c1", 5) },
			want: &keyward.Page[keyward.Project]{Items: []keyward.Project{project}, NextCursor: "c2"},
		},
		{
			name: "ListProjectsNoQuery",
			ex:   exchange{method: "GET", path: "/v1/projects", status: 200, rbody: `{"items":[]}`},
			call: func(c *client.Client) (any, error) { return c.ListProjects(ctx, "", 0) },
			want: &keyward.Page[keyward.Project]{Items: []keyward.Project{}},
		},
		{
			name: "ProjectEscaped",
			ex:   exchange{method: "GET", path: "/v1/projects/a%20b%2Fc%3F", status: 200, rbody: projectJSON},
			call: func(c *client.Client) (any, error) { return c.Project(ctx, "a b/c?") },
			want: &project,
		},
		{
			name: "CreateCredential",
			ex: exchange{method: "POST", path: "/v1/projects/acme/credentials",
				body:   `{"name":"ci","description":"deploys","expiration_days":30,"environment":"test","key_type":"publishable","meta":{"team":"infra"}}`,
				status: 201, rheader: map[string]string{"ETag": `"1"`}, rbody: issuedJSON()},
			call: func(c *client.Client) (any, error) {
				return c.CreateCredential(ctx, "acme", keyward.CreateCredentialInput{
					Name: "ci", Description: "deploys", ExpirationDays: ptr(int64(30)),
					Environment: keyward.Test, KeyType: keyward.Publishable, Meta: map[string]string{"team": "infra"},
				})
			},
			want: &keyward.IssuedCredential{Credential: cred, Key: "kw_live_NEWKEY"},
		},
		{
			name: "ListCredentials",
			ex: exchange{method: "GET", path: "/v1/projects/acme/credentials",
				query: url.Values{"type": {"API_TOKEN"}, "environment": {"live"}, "state": {"expired"},
					"cursor": {"a b&c=d"}, "limit": {"50"}},
				status: 200, rbody: `{"items":[` + credJSON + `]}`},
			call: func(c *client.Client) (any, error) {
				return c.ListCredentials(ctx, "acme", client.ListCredentialsOptions{
					Type: keyward.APIToken, Environment: keyward.Live, State: keyward.StateExpired,
					Cursor: "a b&c=d", Limit: 50,
				})
			},
			want: &keyward.Page[keyward.Credential]{Items: []keyward.Credential{cred}},
		},
		{
			name: "ReportLeaks",
			ex: exchange{method: "POST", path: "/v1/leaks",
				body:   `{"tokens":["kw_live_AAAA","x"],"url":"https://paste.example/1","source":"paste"}`,
				status: 200, rbody: `{"tokens":[{"token_hash":"ab","known":true,"status":"revoked"},{"token_hash":"cd","known":false,"status":"not_a_keyward_token"}]}`},
			call: func(c *client.Client) (any, error) {
				return c.ReportLeaks(ctx, keyward.LeakReportInput{Tokens: []string{"kw_live_AAAA", "x"}, URL: "https://paste.example/1", Source: "paste"})
			},
			want: &keyward.LeakResult{Tokens: []keyward.LeakedToken{
				{TokenHash: "ab", Known: true, Status: keyward.LeakStatusRevoked},
				{TokenHash: "cd", Status: keyward.LeakStatusInvalid},
			}},
		},
		{
			name: "Credential",
			ex: exchange{method: "GET", path: "/v1/projects/acme/credentials/ci%2Fx",
				status: 200, rheader: map[string]string{"ETag": `"3"`}, rbody: credJSON},
			call: func(c *client.Client) (any, error) { return c.Credential(ctx, "acme", "ci/x") },
			want: &cred,
		},
		{
			name: "UpdateCredentialIfMatch",
			ex: exchange{method: "PATCH", path: "/v1/projects/acme/credentials/12",
				body:    `{"description":"new","never_expires":true,"active":false}`,
				headers: map[string]string{"If-Match": `"3"`}, status: 200, rbody: credJSON},
			call: func(c *client.Client) (any, error) {
				return c.UpdateCredential(ctx, "acme", "12", keyward.UpdateCredentialInput{
					Description: ptr("new"), NeverExpires: ptr(true), Active: ptr(false), Version: 3,
				})
			},
			want: &cred,
		},
		{
			name: "UpdateCredentialNoVersion",
			ex: exchange{method: "PATCH", path: "/v1/projects/acme/credentials/ci",
				body:    `{"meta":{},"expires_at":"2026-05-30T12:00:00Z"}`,
				headers: map[string]string{"If-Match": ""}, status: 200, rbody: credJSON},
			call: func(c *client.Client) (any, error) {
				return c.UpdateCredential(ctx, "acme", "ci", keyward.UpdateCredentialInput{
					Meta: &map[string]string{}, ExpiresAt: &t1,
				})
			},
			want: &cred,
		},
		{
			name: "RenewCredential",
			ex: exchange{method: "POST", path: "/v1/projects/acme/credentials/ci/renew",
				body: `{"expiration_days":90}`, status: 200, rbody: credJSON},
			call: func(c *client.Client) (any, error) {
				return c.RenewCredential(ctx, "acme", "ci", keyward.RenewInput{ExpirationDays: ptr(int64(90))})
			},
			want: &cred,
		},
		{
			name: "RollCredential",
			ex: exchange{method: "POST", path: "/v1/projects/acme/credentials/ci/roll",
				body: `{"grace_seconds":3600}`, status: 200, rbody: issuedJSON()},
			call: func(c *client.Client) (any, error) {
				return c.RollCredential(ctx, "acme", "ci", keyward.RollInput{GraceSeconds: 3600})
			},
			want: &keyward.IssuedCredential{Credential: cred, Key: "kw_live_NEWKEY"},
		},
		{
			name: "RevokeCredential",
			ex:   exchange{method: "DELETE", path: "/v1/projects/acme/credentials/12", status: 200, rbody: credJSON},
			call: func(c *client.Client) (any, error) { return c.RevokeCredential(ctx, "acme", "12") },
			want: &cred,
		},
		{
			name: "Verify",
			ex: exchange{method: "POST", path: "/v1/verify", body: `{"key":"kw_test_abc"}`, status: 200,
				rbody: `{"valid":false,"code":"EXPIRED","id":12,"name":"ci","project":"acme"}`},
			call: func(c *client.Client) (any, error) { return c.Verify(ctx, "kw_test_abc") },
			want: &keyward.Verification{Code: keyward.CodeExpired, CredentialID: 12, Name: "ci", Project: "acme"},
		},
		{
			name: "Whoami",
			ex: exchange{method: "GET", path: "/v1/whoami", status: 200,
				rbody: `{"user":{"id":1,"name":"admin","disabled":false,"created_at":"2026-03-01T12:00:00Z"},"credential":null,"permissions":{"*":["keys:read"]}}`},
			call: func(c *client.Client) (any, error) { return c.Whoami(ctx) },
			want: &keyward.Whoami{
				User:        &keyward.User{ID: 1, Name: "admin", CreatedAt: t0},
				Permissions: map[string][]keyward.Permission{"*": {keyward.PermKeysRead}},
			},
		},
		{
			name: "ListEvents",
			ex: exchange{method: "GET", path: "/v1/audit",
				query:  url.Values{"project": {"acme"}, "credential": {"12"}, "cursor": {"99"}, "limit": {"2"}},
				status: 200, rbody: `{"items":[{"id":98,"time":"2026-03-01T12:00:00Z","action":"credential.create","outcome":"success"}],"next_cursor":"98"}`},
			call: func(c *client.Client) (any, error) {
				return c.ListEvents(ctx, client.ListEventsOptions{Project: "acme", CredentialID: 12, Cursor: "99", Limit: 2})
			},
			want: &keyward.Page[keyward.Event]{
				Items:      []keyward.Event{{ID: 98, Time: t0, Action: "credential.create", Outcome: "success"}},
				NextCursor: "98",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fake(t, tt.ex)
			got, err := tt.call(client.New(srv.URL+"/", token))
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		ex   exchange
		want *keyward.Error
	}{
		{
			name: "ProblemInvalid",
			ex: exchange{status: 400, rheader: map[string]string{"Content-Type": "application/problem+json"},
				rbody: `{"type":"about:blank","title":"Bad Request","status":400,"detail":"name: must not be empty","code":"invalid","errors":{"name":"must not be empty","expires_at":"in the past"}}`},
			want: &keyward.Error{Code: keyward.EInvalid, Message: "name: must not be empty",
				Fields: map[string]string{"name": "must not be empty", "expires_at": "in the past"}},
		},
		{
			name: "ProblemConflict",
			ex: exchange{status: 409, rheader: map[string]string{"Content-Type": "application/problem+json; charset=utf-8"},
				rbody: `{"title":"Conflict","status":409,"detail":"credential changed since version 3","code":"conflict"}`},
			want: &keyward.Error{Code: keyward.EConflict, Message: "credential changed since version 3"},
		},
		{
			name: "ProblemRateLimited",
			ex: exchange{status: 429, rheader: map[string]string{"Content-Type": "application/problem+json", "Retry-After": "30"},
				rbody: `{"title":"Too Many Requests","status":429,"detail":"slow down","code":"rate_limited"}`},
			want: &keyward.Error{Code: keyward.ERateLimited, Message: "slow down", RetryAfter: 30 * time.Second},
		},
		{
			name: "ProblemTitleOnly",
			ex: exchange{status: 403, rheader: map[string]string{"Content-Type": "application/problem+json"},
				rbody: `{"title":"Forbidden","status":403,"code":"forbidden"}`},
			want: &keyward.Error{Code: keyward.EForbidden, Message: "Forbidden"},
		},
		{
			name: "ProblemUnknownCode",
			ex: exchange{status: 404, rheader: map[string]string{"Content-Type": "application/problem+json"},
				rbody: `{"detail":"no such thing","code":"gone_fishing","errors":["not","a","map"]}`},
			want: &keyward.Error{Code: keyward.ENotFound, Message: "no such thing"},
		},
		{
			name: "TextPlain",
			ex: exchange{status: 404, rheader: map[string]string{"Content-Type": "text/plain; charset=utf-8"},
				rbody: "404 page not found\n"},
			want: &keyward.Error{Code: keyward.ENotFound, Message: "404 page not found"},
		},
		{
			name: "HTMLGateway",
			ex: exchange{status: 502, rheader: map[string]string{"Content-Type": "text/html"},
				rbody: "<html><body>Bad Gateway</body></html>"},
			want: &keyward.Error{Code: keyward.EInternal, Message: "502 Bad Gateway"},
		},
		{
			name: "Unavailable",
			ex:   exchange{status: 503, rheader: map[string]string{"Retry-After": "5"}, rbody: "{}"},
			want: &keyward.Error{Code: keyward.EUnavailable, Message: "503 Service Unavailable", RetryAfter: 5 * time.Second},
		},
		{
			name: "StatusCodes",
			ex:   exchange{status: 415, rheader: map[string]string{"Content-Type": "text/plain"}},
			want: &keyward.Error{Code: keyward.EUnsupported, Message: "415 Unsupported Media Type"},
		},
		{
			name: "TokenEchoed",
			ex: exchange{status: 401, rheader: map[string]string{"Content-Type": "application/problem+json"},
				rbody: `{"detail":"bad token ` + token + `","code":"unauthenticated","errors":{"authorization":"Bearer ` + token + `"}}`},
			want: &keyward.Error{Code: keyward.EUnauthenticated, Message: "bad token [REDACTED]",
				Fields: map[string]string{"authorization": "Bearer [REDACTED]"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ex.method, tt.ex.path = "GET", "/v1/whoami"
			srv := fake(t, tt.ex)
			_, err := client.New(srv.URL, token).Whoami(context.Background())
			var got *keyward.Error
			if !errors.As(err, &got) {
				t.Fatalf("err = %#v, want a *keyward.Error", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("err = %#v\nwant  %#v", got, tt.want)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error %q shows the token", err)
			}
		})
	}
}

func TestStatusCodeMapping(t *testing.T) {
	for status, want := range map[int]keyward.Code{
		400: keyward.EInvalid, 401: keyward.EUnauthenticated, 403: keyward.EForbidden,
		404: keyward.ENotFound, 409: keyward.EConflict, 413: keyward.ETooLarge,
		415: keyward.EUnsupported, 429: keyward.ERateLimited, 503: keyward.EUnavailable,
		504: keyward.ETimeout, 500: keyward.EInternal, 418: keyward.EInternal, 304: keyward.EInternal,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
		}))
		_, err := client.New(srv.URL, token).Whoami(context.Background())
		srv.Close()
		if got := keyward.ErrorCode(err); got != want {
			t.Errorf("status %d: code = %q, want %q (err %v)", status, got, want, err)
		}
	}
}

func TestRetryAfterDate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", time.Now().Add(2*time.Minute).UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	_, err := client.New(srv.URL, token).Whoami(context.Background())
	var e *keyward.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v", err)
	}
	if e.RetryAfter < 100*time.Second || e.RetryAfter > 2*time.Minute {
		t.Errorf("RetryAfter = %v, want about 2m", e.RetryAfter)
	}
}

func TestTransportErrors(t *testing.T) {
	t.Run("Unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL
		srv.Close()
		_, err := client.New(base, token).Verify(context.Background(), "kw_live_theKeyBeingVerified")
		var te *client.TransportError
		if !errors.As(err, &te) {
			t.Fatalf("err = %#v, want a *client.TransportError", err)
		}
		var ke *keyward.Error
		if errors.As(err, &ke) {
			t.Errorf("transport error is also a keyward.Error: %v", err)
		}
		if got, want := te.Method, "POST"; got != want {
			t.Errorf("Method = %q, want %q", got, want)
		}
		for _, s := range []string{token, "theKeyBeingVerified"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q shows a secret", err)
			}
		}
	})
	t.Run("TokenInURL", func(t *testing.T) {
		_, err := client.New("http://x:"+token+"@127.0.0.1:1", token).Whoami(context.Background())
		if err == nil || strings.Contains(err.Error(), token) {
			t.Errorf("err = %v, want an error without the token", err)
		}
	})
	t.Run("BadJSON", func(t *testing.T) {
		srv := fake(t, exchange{method: "GET", path: "/v1/whoami", status: 200, rbody: "<html>"})
		_, err := client.New(srv.URL, token).Whoami(context.Background())
		var te *client.TransportError
		if !errors.As(err, &te) {
			t.Fatalf("err = %#v, want a *client.TransportError", err)
		}
	})
	t.Run("Canceled", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		defer srv.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := client.New(srv.URL, token).Whoami(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}

func TestLocalValidation(t *testing.T) {
	c := client.New("http://127.0.0.1:1", token)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"EmptyProject": func() error { _, err := c.Project(ctx, ""); return err },
		"DotDot":       func() error { _, err := c.Credential(ctx, "acme", ".."); return err },
		"EmptyRef":     func() error { _, err := c.RevokeCredential(ctx, "acme", ""); return err },
	} {
		if got := keyward.ErrorCode(call()); got != keyward.EInvalid {
			t.Errorf("%s: code = %q, want invalid", name, got)
		}
	}
}

func TestOptions(t *testing.T) {
	var gotUA, gotVia string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUA, gotVia = r.Header.Get("User-Agent"), r.Header.Get("X-Via")
		_, _ = io.WriteString(w, `{"valid":true,"code":"VALID"}`)
	}))
	defer srv.Close()
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r.Header.Set("X-Via", "custom")
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := client.New(srv.URL, token, client.WithHTTPClient(hc), client.WithUserAgent("keyward-cli/test"))
	if _, err := c.Verify(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	if gotUA != "keyward-cli/test" {
		t.Errorf("User-Agent = %q", gotUA)
	}
	if gotVia != "custom" {
		t.Errorf("request did not go through the given http.Client")
	}
	if _, err := client.New(srv.URL, token).Verify(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	if gotUA != client.DefaultUserAgent {
		t.Errorf("User-Agent = %q, want %q", gotUA, client.DefaultUserAgent)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestAllCredentials(t *testing.T) {
	pages := map[string]string{
		"":   `{"items":[{"id":1},{"id":2}],"next_cursor":"c2"}`,
		"c2": `{"items":[{"id":3}],"next_cursor":"c3"}`,
		"c3": `{"items":[{"id":4}]}`,
	}
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if got, want := r.URL.Query().Get("state"), "active"; got != want {
			t.Errorf("state = %q, want %q", got, want)
		}
		body, ok := pages[r.URL.Query().Get("cursor")]
		if !ok {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"detail":"bad cursor","code":"invalid"}`)
			return
		}
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	c := client.New(srv.URL, token)
	ctx := context.Background()

	var ids []int64
	for cr, err := range c.AllCredentials(ctx, "acme", client.ListCredentialsOptions{State: keyward.StateActive}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, cr.ID)
	}
	if got, want := ids, []int64{1, 2, 3, 4}; !reflect.DeepEqual(got, want) {
		t.Errorf("ids = %v, want %v", got, want)
	}
	if calls != 3 {
		t.Errorf("calls = %d, want 3", calls)
	}

	calls = 0
	for range c.AllCredentials(ctx, "acme", client.ListCredentialsOptions{State: keyward.StateActive}) {
		break
	}
	if calls != 1 {
		t.Errorf("calls after break = %d, want 1", calls)
	}

	var errs int
	for _, err := range c.AllCredentials(ctx, "acme", client.ListCredentialsOptions{State: keyward.StateActive, Cursor: "bogus"}) {
		if keyward.ErrorCode(err) != keyward.EInvalid {
			t.Errorf("err = %v, want invalid", err)
		}
		errs++
	}
	if errs != 1 {
		t.Errorf("errors yielded = %d, want 1", errs)
	}
}
