package projectkeys_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/token"
)

// TestSeedDocument checks that the copy of the vendor document says what the other tests take
// from it.
func TestSeedDocument(t *testing.T) {
	t.Parallel()
	s := loadSeed(t)
	if got, want := s.Method, http.MethodPut; got != want {
		t.Errorf("method = %q, want %q", got, want)
	}
	if got, want := s.Path, "/api/projects/projectId/api-keys"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
	if got, want := fmt.Sprint(s.Params), "[{projectId string}]"; got != want {
		t.Errorf("URL parameters = %s, want %s", got, want)
	}
	for _, f := range s.RequestFields {
		if _, ok := s.Request[f.Name]; !ok {
			t.Errorf("documented request field %q is not in the example body", f.Name)
		}
	}
	for _, f := range s.ResponseFields {
		_, inEnvelope := s.Response[f.Name]
		_, inResult := s.Response["result"].(map[string]any)[f.Name]
		if !inEnvelope && !inResult {
			t.Errorf("documented response field %q is not in the example response", f.Name)
		}
	}
	if got, want := fmt.Sprint(s.Success), "[200 201]"; got != want {
		t.Errorf("success statuses = %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(s.Errors), "[400 401 403 404 500 503]"; got != want {
		t.Errorf("error statuses = %s, want %s", got, want)
	}
}

// createKey issues an API key in project through the authority, as the owner (a login session).
func (s *stack) createKey(t testing.TB, project string, in keyward.CreateCredentialInput) *keyward.IssuedCredential {
	t.Helper()
	c, err := s.a.CreateCredential(s.owner, project, in)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// native reads a credential through the native API, as the admin.
func (s *stack) native(t testing.TB, project string, id int64) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/v1/projects/%s/credentials/%d", s.url, project, id), nil)
	req.Header.Set("Authorization", "Bearer "+s.tokens["admin"])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("native GET: %d %v", res.StatusCode, err)
	}
	return m
}

// TestSeedExample sends the seed's own PUT: first exactly as written, then with the values a
// real server needs (an existing id and role, an expiry after the start) and every other field,
// the seed's startDate and name included, as the seed gives them.
func TestSeedExample(t *testing.T) {
	t.Parallel()
	s := loadSeed(t)
	st := newStack(t)
	path := s.path("acme")
	key := st.createKey(t, "acme", keyward.CreateCredentialInput{Name: "to-update", Roles: []string{"viewer"}})

	t.Run("Literal", func(t *testing.T) {
		// id 0 names no key: the seed's placeholder values cannot succeed anywhere.
		r := st.as(t, "owner", s.Method, path, s.RequestRaw)
		if got, want := r.status, http.StatusNotFound; got != want {
			t.Fatalf("status = %d, want %d: %s", got, want, r.raw)
		}
		golden(t, "put_seed_literal", r.raw)
	})

	const expire = "2022-09-23T12:48:29.365Z"
	body := s.body(t, map[string]any{"id": key.ID, "expireDate": expire, "roleId": roleClient})
	for _, attempt := range []string{"OK", "Again"} {
		t.Run(attempt, func(t *testing.T) {
			r := st.as(t, "owner", s.Method, path, body)
			if !slices.Contains(s.Success, r.status) || r.status != http.StatusOK {
				t.Fatalf("status = %d, want 200: %s", r.status, r.raw)
			}
			sameShape(t, "envelope", r.env, s.Response)
			sameShape(t, "result", r.result(t), s.Response["result"].(map[string]any))
			res := r.result(t)
			for _, f := range s.ResponseFields {
				v, ok := r.env[f.Name]
				if !ok {
					v = res[f.Name]
				}
				checkType(t, f.Name, f.Type, v)
			}
			want := map[string]any{
				"id": float64(key.ID), "name": s.Request["name"], "startDate": s.Request["startDate"],
				"expireDate": expire, "hasExpireTime": true, "roleId": float64(roleClient),
			}
			for k, w := range want {
				if fmt.Sprint(res[k]) != fmt.Sprint(w) {
					t.Errorf("result.%s = %v, want %v", k, res[k], w)
				}
			}
			if got := res["apiKey"].(string); !maskedWant.MatchString(got) || got != authority.MaskedKey(&key.Credential) {
				t.Errorf("apiKey = %q, want the masked key %q", got, authority.MaskedKey(&key.Credential))
			}
			if got, want := fmt.Sprint(r.env["errors"]), "[]"; got != want {
				t.Errorf("errors = %s, want %s", got, want)
			}
			if got, want := fmt.Sprint(r.env["messages"]), "[API key updated]"; got != want {
				t.Errorf("messages = %s, want %s", got, want)
			}
			golden(t, "put_seed_example", r.raw)

			// The same change, seen through the native API.
			n := st.native(t, "acme", key.ID)
			for k, w := range map[string]any{
				"name": "string", "not_before": "2022-08-24T12:48:29.365Z", "expires_at": expire,
				"role_ids": "[4]", "state": "pending", "version": "2",
			} {
				if got := fmt.Sprint(n[k]); got != fmt.Sprint(w) {
					t.Errorf("native %s = %s, want %v", k, got, w)
				}
			}
		})
	}
}

// TestOperations runs the companions of the seed's PUT: create, list, read, delete.
func TestOperations(t *testing.T) {
	t.Parallel()
	st := newStack(t)
	base := "/api/projects/acme/api-keys"
	var created map[string]any

	t.Run("Create", func(t *testing.T) {
		r := st.as(t, "owner", "POST", base, `{"name":"ci-deploy","expireDate":"2022-11-22T12:00:00.000Z","hasExpireTime":true,"roleId":4}`)
		if got, want := r.status, http.StatusCreated; got != want {
			t.Fatalf("status = %d, want %d: %s", got, want, r.raw)
		}
		created = r.result(t)
		for k, w := range map[string]any{
			"name": "ci-deploy", "startDate": "2022-08-24T12:00:00.000Z", "expireDate": "2022-11-22T12:00:00.000Z",
			"hasExpireTime": true, "roleId": float64(roleClient),
		} {
			if fmt.Sprint(created[k]) != fmt.Sprint(w) {
				t.Errorf("result.%s = %v, want %v", k, created[k], w)
			}
		}
		apiKey := created["apiKey"].(string)
		if !token.Valid(apiKey) {
			t.Fatalf("apiKey = %q, want the new key itself", apiKey)
		}
		golden(t, "post", r.raw)
		// The new key works, with the rights of its role: Client may read keys in acme but
		// not administer it.
		who := st.do(t, "GET", base, "Bearer "+apiKey, nil)
		if got, want := who.status, http.StatusForbidden; got != want {
			t.Errorf("the new Client key listing keys: %d, want %d", got, want)
		}
	})
	t.Run("CreateDefaults", func(t *testing.T) {
		r := st.as(t, "owner", "POST", base, `{"name":"defaults"}`)
		if got, want := r.status, http.StatusCreated; got != want {
			t.Fatalf("status = %d, want %d: %s", got, want, r.raw)
		}
		res := r.result(t)
		want := map[string]any{
			"startDate": "2022-08-24T12:00:00.000Z", "hasExpireTime": true, "roleId": float64(roleOwner),
			"expireDate": t0.AddDate(0, 0, keyward.DefaultExpirationDays).Format(time.RFC3339Nano)[:19] + ".000Z",
		}
		for k, w := range want {
			if fmt.Sprint(res[k]) != fmt.Sprint(w) {
				t.Errorf("result.%s = %v, want %v", k, res[k], w)
			}
		}
	})
	t.Run("CreateNeverExpires", func(t *testing.T) {
		r := st.as(t, "owner", "POST", base, `{"name":"forever","hasExpireTime":false,"expireDate":"2023-01-01T00:00:00.000Z","startDate":"2022-09-01T00:00:00Z"}`)
		if got, want := r.status, http.StatusCreated; got != want {
			t.Fatalf("status = %d, want %d: %s", got, want, r.raw)
		}
		res := r.result(t)
		if res["expireDate"] != nil || res["hasExpireTime"] != false || res["startDate"] != "2022-09-01T00:00:00.000Z" {
			t.Errorf("result = %v, want no expiry and the start given", res)
		}
		golden(t, "post_never_expires", r.raw)
	})
	t.Run("List", func(t *testing.T) {
		r := st.as(t, "owner", "GET", base, nil)
		if got, want := r.status, http.StatusOK; got != want {
			t.Fatalf("status = %d, want %d: %s", got, want, r.raw)
		}
		items, ok := r.env["result"].([]any)
		if !ok {
			t.Fatalf("result is %T, want an array", r.env["result"])
		}
		var names []string
		for _, it := range items {
			m := it.(map[string]any)
			names = append(names, m["name"].(string))
			if !maskedWant.MatchString(m["apiKey"].(string)) {
				t.Errorf("%s: apiKey = %q, want the masked form", m["name"], m["apiKey"])
			}
		}
		if got, want := strings.Join(names, ","), "owner-key,ci-deploy,defaults,forever"; got != want {
			t.Errorf("keys = %s, want %s", got, want)
		}
		if got, want := r.env["resultInfo"], ""; got != want {
			t.Errorf("resultInfo = %v, want %q on the last page", got, want)
		}
		golden(t, "list", r.raw)
	})
	t.Run("ListPages", func(t *testing.T) {
		var names []string
		cursor := ""
		for page := 0; ; page++ {
			r := st.as(t, "owner", "GET", base+"?limit=3&cursor="+url.QueryEscape(cursor), nil)
			if r.status != http.StatusOK || page > 3 {
				t.Fatalf("page %d: %d %s", page, r.status, r.raw)
			}
			for _, it := range r.env["result"].([]any) {
				names = append(names, it.(map[string]any)["name"].(string))
			}
			if cursor = r.env["resultInfo"].(string); cursor == "" {
				break
			}
		}
		if got, want := strings.Join(names, ","), "owner-key,ci-deploy,defaults,forever"; got != want {
			t.Errorf("paged keys = %s, want %s", got, want)
		}
	})
	item := fmt.Sprintf("%s/%v", base, created["id"])
	t.Run("Get", func(t *testing.T) {
		r := st.as(t, "owner", "GET", item, nil)
		if got, want := r.status, http.StatusOK; got != want {
			t.Fatalf("status = %d, want %d: %s", got, want, r.raw)
		}
		res := r.result(t)
		for _, k := range []string{"id", "name", "startDate", "expireDate", "hasExpireTime", "roleId"} {
			if fmt.Sprint(res[k]) != fmt.Sprint(created[k]) {
				t.Errorf("result.%s = %v, created %v", k, res[k], created[k])
			}
		}
		apiKey := created["apiKey"].(string)
		if got, want := res["apiKey"], apiKey[:len("kw_live_")+4]+"********"; got != want {
			t.Errorf("apiKey = %v, want %v (acme does not keep recoverable keys)", got, want)
		}
		golden(t, "get", r.raw)
	})
	t.Run("Delete", func(t *testing.T) {
		r := st.as(t, "owner", "DELETE", item, nil)
		if got, want := r.status, http.StatusOK; got != want {
			t.Fatalf("status = %d, want %d: %s", got, want, r.raw)
		}
		if got, want := r.result(t)["name"], "ci-deploy"; got != want {
			t.Errorf("result.name = %v, want %v", got, want)
		}
		golden(t, "delete", r.raw)
		if n := st.native(t, "acme", int64(created["id"].(float64))); n["state"] != "revoked" {
			t.Errorf("native state = %v, want revoked", n["state"])
		}
		if r := st.as(t, "owner", "GET", item, nil); r.status != http.StatusNotFound {
			t.Errorf("GET after DELETE: %d, want 404", r.status)
		}
		r = st.as(t, "owner", "GET", base, nil)
		for _, it := range r.env["result"].([]any) {
			if it.(map[string]any)["name"] == "ci-deploy" {
				t.Errorf("the list still shows the deleted key")
			}
		}
		// The deleted key opens nothing, here or on the native API.
		if r := st.do(t, "GET", base, "Bearer "+created["apiKey"].(string), nil); r.status != http.StatusUnauthorized {
			t.Errorf("the deleted key authenticates: %d", r.status)
		}
		// DELETE is idempotent.
		if r := st.as(t, "owner", "DELETE", item, nil); r.status != http.StatusOK {
			t.Errorf("second DELETE: %d, want 200", r.status)
		}
	})
}

// TestErrors covers every error status of the seed, on every operation where it can occur.
func TestErrors(t *testing.T) {
	t.Parallel()
	s := loadSeed(t)
	st := newStack(t)
	base := s.path("acme")
	key := st.createKey(t, "acme", keyward.CreateCredentialInput{Name: "target", Roles: []string{"viewer"}})
	st.createKey(t, "acme", keyward.CreateCredentialInput{Name: "taken"})
	revoked := st.createKey(t, "acme", keyward.CreateCredentialInput{Name: "gone", Roles: []string{"owner"}})
	if _, err := st.a.RevokeCredential(st.admin, "acme", strconv.FormatInt(revoked.ID, 10)); err != nil {
		t.Fatal(err)
	}
	item := fmt.Sprintf("%s/%d", base, key.ID)
	put := func(replace map[string]any) string {
		m := map[string]any{"id": key.ID, "expireDate": "2022-09-23T12:48:29.365Z", "roleId": roleClient}
		for k, v := range replace {
			m[k] = v
		}
		return s.body(t, m)
	}
	const owner = "owner"
	cases := []struct {
		name         string
		user         string // "" sends auth as the Authorization header
		auth         string
		method, path string
		body         any
		ctype        string // the Content-Type, when not application/json
		fault        error
		status       int
		err          string // a substring of errors[0]
		golden       bool
	}{
		{name: "BadJSON", user: owner, method: "PUT", path: base, body: `{"id":`, status: 400, err: "not valid JSON", golden: true},
		{name: "NotAnObject", user: owner, method: "PUT", path: base, body: `[1]`, status: 400, err: "must be a JSON object"},
		{name: "NoBody", user: owner, method: "PUT", path: base, body: ` `, status: 400, err: "a JSON request body is required"},
		{name: "IDMissing", user: owner, method: "PUT", path: base, body: `{"name":"x"}`, status: 400, err: "id: is required"},
		{name: "IDNotInteger", user: owner, method: "PUT", path: base, body: `{"id":"seven"}`, status: 400, err: "id: must be an integer"},
		{name: "RoleIDNotInteger", user: owner, method: "PUT", path: base, body: put(map[string]any{"roleId": 1.5}), status: 400, err: "roleId: must be an integer"},
		{name: "HasExpireTimeNotBool", user: owner, method: "PUT", path: base, body: put(map[string]any{"hasExpireTime": "yes"}), status: 400, err: "hasExpireTime: must be true or false"},
		{name: "SeedDatesEqual", user: owner, method: "PUT", path: base, body: put(map[string]any{"expireDate": s.Request["expireDate"]}), status: 400, err: "startDate: must be before the expiry", golden: true},
		{name: "ExpirePast", user: owner, method: "PUT", path: base, body: put(map[string]any{"expireDate": "2021-01-01T00:00:00.000Z"}), status: 400, err: "expireDate: must be in the future"},
		{name: "ExpireTooFar", user: owner, method: "PUT", path: base, body: put(map[string]any{"expireDate": "2040-01-01T00:00:00.000Z"}), status: 400, err: "expireDate: must be at most 3650 days ahead"},
		{name: "ExpireUnparseable", user: owner, method: "PUT", path: base, body: put(map[string]any{"expireDate": "next tuesday"}), status: 400, err: "expireDate: must be an ISO 8601 date-time"},
		{name: "StartNotString", user: owner, method: "PUT", path: base, body: put(map[string]any{"startDate": 12}), status: 400, err: "startDate: must be a date string"},
		{name: "ExpireRequired", user: owner, method: "PUT", path: base, body: fmt.Sprintf(`{"id":%d,"hasExpireTime":true}`, key.ID), status: 400, err: "expireDate: is required when hasExpireTime is true"},
		{name: "RoleUnknown", user: owner, method: "PUT", path: base, body: put(map[string]any{"roleId": 999}), status: 400, err: `roleId: unknown role "999"`},
		{name: "NameTaken", user: owner, method: "PUT", path: base, body: put(map[string]any{"name": "taken"}), status: 400, err: "name already taken"},
		{name: "NameInvalid", user: owner, method: "PUT", path: base, body: put(map[string]any{"name": "no spaces"}), status: 400, err: "name: must be 1-128"},
		{name: "Deleted", user: owner, method: "PUT", path: base, body: fmt.Sprintf(`{"id":%d,"name":"back"}`, revoked.ID), status: 400, err: "is revoked and cannot change"},
		{name: "CreateNoName", user: owner, method: "POST", path: base, body: `{"roleId":4}`, status: 400, err: "name: must be 1-128"},
		{name: "CreateMediaType", user: owner, method: "POST", path: base, body: "name=x", ctype: "application/x-www-form-urlencoded", status: 400, err: "must be JSON"},
		{name: "CreateTooLarge", user: owner, method: "POST", path: base, body: `{"name":"` + strings.Repeat("a", 1<<20) + `"}`, status: 400, err: "larger than"},
		{name: "ItemIDNotInteger", user: owner, method: "GET", path: base + "/abc", status: 400, err: "id: must be an integer"},
		{name: "LimitNotInteger", user: owner, method: "GET", path: base + "?limit=many", status: 400, err: "limit: must be an integer"},
		{name: "LimitTooLarge", user: owner, method: "GET", path: base + "?limit=100000", status: 400, err: "limit: must be between 1 and 500"},
		{name: "CursorForged", user: owner, method: "GET", path: base + "?cursor=forged", status: 400, err: "cursor: is not a cursor"},

		{name: "NoAuthorization", method: "PUT", path: base, body: put(nil), status: 401, err: "an Authorization header", golden: true},
		{name: "UnknownKey", auth: "Bearer kw_live_00000000000000000000000000000000000000", method: "GET", path: base, status: 401, err: "a valid API key is required"},
		{name: "OtherScheme", auth: "Basic b3duZXI6cGFzcw==", method: "GET", path: base, status: 401, err: `"Bearer <key>" or the key itself`},
		{name: "DeletedKey", auth: "Bearer " + revoked.Key, method: "GET", path: base, status: 401, err: "a valid API key is required"},

		{name: "KeysButNotOwner", user: "svcadmin", method: "PUT", path: base, body: put(nil), status: 403, err: "permission projects:admin is required", golden: true},
		{name: "KeysButNotOwnerCreate", user: "svcadmin", method: "POST", path: base, body: `{"name":"x"}`, status: 403, err: "permission projects:admin is required"},
		{name: "KeysButNotOwnerList", user: "svcadmin", method: "GET", path: base, status: 403, err: "permission projects:admin is required"},
		{name: "KeysButNotOwnerGet", user: "svcadmin", method: "GET", path: item, status: 403, err: "permission projects:admin is required"},
		{name: "KeysButNotOwnerDelete", user: "svcadmin", method: "DELETE", path: item, status: 403, err: "permission projects:admin is required"},
		{name: "Viewer", user: "viewer", method: "GET", path: base, status: 403, err: "permission projects:admin is required"},
		{name: "EscalateOnUpdate", user: owner, method: "PUT", path: base, body: put(map[string]any{"roleId": roleAdmin}), status: 403, err: `role "admin" grants permissions you do not hold`},
		{name: "EscalateOnCreate", user: owner, method: "POST", path: base, body: `{"name":"too-strong","roleId":1}`, status: 403, err: `role "admin" grants permissions you do not hold`},

		{name: "SeedLiteralID", user: owner, method: "PUT", path: base, body: s.RequestRaw, status: 404, err: `credential "0" not found`},
		{name: "UnknownID", user: owner, method: "PUT", path: base, body: put(map[string]any{"id": 99999}), status: 404, err: `credential "99999" not found`, golden: true},
		{name: "UnknownItem", user: owner, method: "GET", path: base + "/99999", status: 404, err: `credential "99999" not found`},
		{name: "DeletedItem", user: owner, method: "GET", path: fmt.Sprintf("%s/%d", base, revoked.ID), status: 404, err: "was deleted"},
		{name: "DeleteUnknown", user: owner, method: "DELETE", path: base + "/99999", status: 404, err: `credential "99999" not found`},
		{name: "UnknownProject", user: owner, method: "GET", path: s.path("nope"), status: 404, err: `project "nope" not found`},
		{name: "ProjectByNumericID", user: owner, method: "GET", path: s.path("999"), status: 404, err: `project "999" not found`},
		{name: "OtherTenant", user: "outsider", method: "PUT", path: base, body: put(nil), status: 404, err: `project "acme" not found`},
		{name: "NoSuchEndpoint", user: owner, method: "GET", path: "/api/projects/acme/secrets", status: 404, err: "no such endpoint"},

		{name: "Internal", user: owner, method: "PUT", path: base, body: put(nil), fault: errors.New("disk on fire at /var/lib/secret"), status: 500, err: "internal error", golden: true},
		{name: "InternalList", user: owner, method: "GET", path: base, fault: errors.New("disk on fire at /var/lib/secret"), status: 500, err: "internal error"},
		{name: "Unavailable", user: owner, method: "PUT", path: base, body: put(nil), fault: &keyward.Error{Code: keyward.EUnavailable, Message: "database unavailable", RetryAfter: 5 * time.Second}, status: 503, err: "database unavailable", golden: true},
		{name: "UnavailableCreate", user: owner, method: "POST", path: base, body: `{"name":"x"}`, fault: &keyward.Error{Code: keyward.EUnavailable, Message: "database unavailable"}, status: 503, err: "database unavailable"},

		{name: "MethodNotAllowed", user: owner, method: "PATCH", path: base, body: `{}`, status: 405, err: "method PATCH is not allowed here"},
	}
	seen := map[int]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			auth := c.auth
			if c.user != "" {
				auth = "Bearer " + st.tokens[c.user]
			}
			st.store.setFault(c.fault)
			r := st.doType(t, c.method, c.path, auth, c.ctype, c.body)
			st.store.setFault(nil)
			if r.status != c.status {
				t.Fatalf("status = %d, want %d: %s", r.status, c.status, r.raw)
			}
			seen[r.status] = true
			errs := r.env["errors"].([]any)
			if len(errs) == 0 || !strings.Contains(errs[0].(string), c.err) {
				t.Errorf("errors = %v, want one containing %q", errs, c.err)
			}
			if strings.Contains(string(r.raw), "disk on fire") || strings.Contains(string(r.raw), st.tokens[owner]) {
				t.Errorf("the body leaks an internal detail or a key: %s", r.raw)
			}
			if c.golden {
				golden(t, "error_"+strconv.Itoa(c.status)+"_"+c.name, r.raw)
			}
		})
	}
	for _, code := range s.Errors {
		if !seen[code] {
			t.Errorf("no case answered %d, which the seed lists", code)
		}
	}
	t.Run("Headers", func(t *testing.T) {
		r := st.do(t, "GET", base, "", nil)
		if got, want := r.header.Get("WWW-Authenticate"), `Bearer realm="keyward"`; got != want {
			t.Errorf("WWW-Authenticate = %q, want %q", got, want)
		}
		st.store.setFault(&keyward.Error{Code: keyward.EUnavailable, Message: "database unavailable", RetryAfter: 5 * time.Second})
		r = st.as(t, owner, "GET", base, nil)
		st.store.setFault(nil)
		if got, want := r.header.Get("Retry-After"), "5"; got != want {
			t.Errorf("Retry-After = %q, want %q", got, want)
		}
		r = st.as(t, owner, "PATCH", base, `{}`)
		if got, want := r.header.Get("Allow"), "GET, HEAD, POST, PUT"; got != want {
			t.Errorf("Allow = %q, want %q", got, want)
		}
		if !strings.Contains(st.log.String(), "disk on fire") {
			t.Errorf("the internal error's detail is not in the log")
		}
	})
	t.Run("NothingChanged", func(t *testing.T) {
		// The refused requests above left the target as it was.
		n := st.native(t, "acme", key.ID)
		if got, want := fmt.Sprintf("%v %v %v", n["name"], n["role_ids"], n["version"]), "target [6] 1"; got != want {
			t.Errorf("target = %s, want %s", got, want)
		}
	})
}

// TestAuthorizationHeader accepts "Bearer <key>" in any case and the bare key.
func TestAuthorizationHeader(t *testing.T) {
	t.Parallel()
	st := newStack(t)
	tok := st.tokens["owner"]
	for _, auth := range []string{"Bearer " + tok, "bearer " + tok, "BEARER  " + tok, tok, " " + tok + " "} {
		if r := st.do(t, "GET", "/api/projects/acme/api-keys", auth, nil); r.status != http.StatusOK {
			t.Errorf("Authorization %q: %d, want 200", strings.Replace(auth, tok, "<key>", 1), r.status)
		}
	}
}

// TestAdmins: a global admin manages every project's keys; the project is named by slug or id.
func TestAdmins(t *testing.T) {
	t.Parallel()
	st := newStack(t)
	p, err := st.a.Project(st.admin, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"acme", strconv.FormatInt(p.ID, 10)} {
		r := st.as(t, "admin", "POST", "/api/projects/"+ref+"/api-keys", fmt.Sprintf(`{"name":"by-admin-%s","roleId":1}`, ref))
		if r.status != http.StatusCreated {
			t.Fatalf("admin creating an admin key in %s: %d %s", ref, r.status, r.raw)
		}
		if got, want := r.result(t)["roleId"], float64(roleAdmin); got != want {
			t.Errorf("roleId = %v, want %v", got, want)
		}
	}
}

// TestRecoverableKeys: in a project that keeps recoverable keys, apiKey is the key itself
// whenever the caller may reveal it (each reveal audited), else the masked form.
func TestRecoverableKeys(t *testing.T) {
	t.Parallel()
	st := newStack(t)
	base := "/api/projects/vault/api-keys"
	r := st.as(t, "owner", "POST", base, `{"name":"kept","roleId":6}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	res := r.result(t)
	apiKey := res["apiKey"].(string)
	item := fmt.Sprintf("%s/%v", base, res["id"])
	reveals := func() int {
		page, err := st.a.ListEvents(st.admin, authority.ListEventsInput{Project: "vault", Limit: authority.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range page.Items {
			if ev.Action == "credential.reveal" {
				n++
			}
		}
		return n
	}
	cases := []struct {
		name, user, method, path, body string
		revealed                       bool
	}{
		{"Get", "owner", "GET", item, "", true},
		{"List", "owner", "GET", base, "", true},
		{"Update", "owner", "PUT", base, fmt.Sprintf(`{"id":%v,"name":"kept-renamed"}`, res["id"]), true},
		{"NoRevealRight", "keymaster", "GET", item, "", false},
		{"NoRevealRightList", "keymaster", "GET", base, "", false},
		{"Admin", "admin", "GET", item, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := reveals()
			var body any
			if c.body != "" {
				body = c.body
			}
			r := st.as(t, c.user, c.method, c.path, body)
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			got, ok := r.env["result"].(map[string]any)
			if !ok {
				got = r.env["result"].([]any)[0].(map[string]any)
			}
			want, wantReveals := apiKey[:len("kw_live_")+4]+"********", before
			if c.revealed {
				want, wantReveals = apiKey, before+1
			}
			if got["apiKey"] != want {
				t.Errorf("apiKey = %v, want %v", got["apiKey"], want)
			}
			if n := reveals(); n != wantReveals {
				t.Errorf("reveal events = %d, want %d", n, wantReveals)
			}
		})
	}
	t.Run("Delete", func(t *testing.T) {
		r := st.as(t, "owner", "DELETE", item, nil)
		if got, want := r.result(t)["apiKey"], apiKey[:len("kw_live_")+4]+"********"; got != want {
			t.Errorf("apiKey of a deleted key = %v, want the masked %v", got, want)
		}
	})
}

// TestDates: how instants are read and written, and that a client that sends back what it
// read changes nothing.
func TestDates(t *testing.T) {
	t.Parallel()
	st := newStack(t)
	base := "/api/projects/acme/api-keys"
	create := func(t *testing.T, body string) map[string]any {
		t.Helper()
		r := st.as(t, "owner", "POST", base, body)
		if r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", body, r.status, r.raw)
		}
		return r.result(t)
	}
	cases := []struct{ name, in, out string }{
		{"UTC", "2022-08-25T12:48:29.365Z", "2022-08-25T12:48:29.365Z"},
		{"Offset", "2022-08-25T14:48:29.365+02:00", "2022-08-25T12:48:29.365Z"},
		{"NoZoneIsUTC", "2022-08-25T12:48:29", "2022-08-25T12:48:29.000Z"},
		{"DateOnly", "2022-08-26", "2022-08-26T00:00:00.000Z"},
		{"Microseconds", "2022-08-25T12:48:29.365999Z", "2022-08-25T12:48:29.365Z"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := create(t, fmt.Sprintf(`{"name":"d%d","startDate":%q,"expireDate":%q}`, i, c.in, c.in[:3]+"3"+c.in[4:]))
			if got := res["startDate"]; got != c.out {
				t.Errorf("startDate = %v, want %v", got, c.out)
			}
			if got, want := res["expireDate"], c.out[:3]+"3"+c.out[4:]; got != want {
				t.Errorf("expireDate = %v, want %v", got, want)
			}
		})
	}
	t.Run("RoundTrip", func(t *testing.T) {
		res := create(t, `{"name":"round","expireDate":"2022-09-01T00:00:00.123456Z"}`)
		id := int64(res["id"].(float64))
		back, _ := json.Marshal(res) // what a client read, sent back as it is
		r := st.as(t, "owner", "PUT", base, string(back))
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		got := r.result(t)
		if !maskedWant.MatchString(got["apiKey"].(string)) {
			t.Errorf("apiKey = %v, want the masked form", got["apiKey"])
		}
		got["apiKey"] = res["apiKey"]
		if !equalJSON(mustJSON(t, got), back) {
			t.Errorf("PUT of what GET read changed it: %s, sent %s", r.raw, back)
		}
		if got := st.native(t, "acme", id)["version"]; got != float64(1) {
			t.Errorf("version = %v, want 1: nothing was written", got)
		}
		// Expired: the past expiry sent back is no change, so a rename still works.
		st.clock.Set(time.Date(2022, 9, 2, 0, 0, 0, 0, time.UTC))
		defer st.clock.Set(t0)
		res["name"] = "round-renamed"
		r = st.as(t, "owner", "PUT", base, res)
		if r.status != http.StatusOK || r.result(t)["name"] != "round-renamed" || r.result(t)["expireDate"] != "2022-09-01T00:00:00.123Z" {
			t.Fatalf("rename of an expired key: %d %s", r.status, r.raw)
		}
	})
	t.Run("StartAndExpiry", func(t *testing.T) {
		res := create(t, `{"name":"window","startDate":"2022-08-24T13:00:00Z","roleId":2}`)
		id := res["id"]
		steps := []struct {
			body              string
			start, expire     any
			hasExpire         bool
			nativeNotBeforeIs any
		}{
			{`{"id":%v,"startDate":null}`, "2022-08-24T12:00:00.000Z", "2022-11-22T12:00:00.000Z", true, nil},
			{`{"id":%v,"startDate":"2022-08-24T15:00:00.000Z","hasExpireTime":false}`, "2022-08-24T15:00:00.000Z", nil, false, "2022-08-24T15:00:00Z"},
			{`{"id":%v,"startDate":"2022-08-24T12:00:00.000Z","hasExpireTime":true,"expireDate":"2022-12-01T00:00:00.000Z"}`, "2022-08-24T12:00:00.000Z", "2022-12-01T00:00:00.000Z", true, nil},
		}
		for i, s := range steps {
			r := st.as(t, "owner", "PUT", base, fmt.Sprintf(s.body, id))
			if r.status != http.StatusOK {
				t.Fatalf("step %d: %d %s", i, r.status, r.raw)
			}
			got := r.result(t)
			if got["startDate"] != s.start || got["expireDate"] != s.expire || got["hasExpireTime"] != s.hasExpire {
				t.Errorf("step %d: result = %v, want start %v, expire %v, hasExpireTime %v", i, got, s.start, s.expire, s.hasExpire)
			}
			if n := st.native(t, "acme", int64(id.(float64))); n["not_before"] != s.nativeNotBeforeIs {
				t.Errorf("step %d: native not_before = %v, want %v", i, n["not_before"], s.nativeNotBeforeIs)
			}
		}
	})
	t.Run("StartDateIsNotBefore", func(t *testing.T) {
		res := create(t, `{"name":"later","startDate":"2022-08-24T13:00:00.000Z","roleId":2}`)
		issued := res["apiKey"].(string)
		if r := st.do(t, "GET", base, "Bearer "+issued, nil); r.status != http.StatusUnauthorized {
			t.Errorf("before its startDate: %d, want 401", r.status)
		}
		st.clock.Set(time.Date(2022, 8, 24, 13, 0, 0, 0, time.UTC))
		defer st.clock.Set(t0)
		if r := st.do(t, "GET", base, "Bearer "+issued, nil); r.status != http.StatusOK {
			t.Errorf("at its startDate: %d, want 200: %s", r.status, r.raw)
		}
	})
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestListSkipsDeletedInQuery: deleted (revoked) keys are left out by the query, not after it,
// so that every page but the last is full and a next cursor never leads to an empty page.
func TestListSkipsDeletedInQuery(t *testing.T) {
	s := loadSeed(t)
	st := newStack(t)
	base := strings.TrimSuffix(s.path("vault"), "/")
	for i := range 6 {
		k := st.createKey(t, "vault", keyward.CreateCredentialInput{Name: fmt.Sprintf("k%d", i), Roles: []string{"viewer"}})
		if i%2 == 0 {
			if _, err := st.a.RevokeCredential(st.owner, "vault", fmt.Sprint(k.ID)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var names []string
	cursor := ""
	for page := 0; ; page++ {
		r := st.as(t, "owner", "GET", base+"?limit=2&cursor="+url.QueryEscape(cursor), nil)
		if r.status != http.StatusOK || page > 3 {
			t.Fatalf("page %d: %d %s", page, r.status, r.raw)
		}
		items := r.env["result"].([]any)
		cursor = r.env["resultInfo"].(string)
		if cursor != "" && len(items) != 2 {
			t.Fatalf("page %d holds %d keys and a next cursor; want a full page", page, len(items))
		}
		for _, it := range items {
			names = append(names, it.(map[string]any)["name"].(string))
		}
		if cursor == "" {
			break
		}
	}
	if got, want := strings.Join(names, ","), "k1,k3,k5"; got != want {
		t.Fatalf("keys = %s, want %s", got, want)
	}
}
