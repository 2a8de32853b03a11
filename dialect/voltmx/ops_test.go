package voltmx_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/dialect/voltmx"
)

const jsonCT = "application/json"

func TestCreate(t *testing.T) {
	t.Parallel()
	e := start(t, voltmx.Options{})
	t.Run("OK", func(t *testing.T) {
		r := e.do(t, req{method: "POST", path: voltmx.Path, auth: e.admin, contentType: formCT,
			body: form("appId", "acme", "expiresOn", "09/28/2030 13:26:18", "description", "push notifications")})
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		golden(t, "create_ok", r)
		key := r.decode(t)["id"].(string)
		d := e.details(t, e.admin, key)
		for field, want := range map[string]any{
			"appAPIKey": key, "description": "push notifications", "neverExpires": false,
			"createdOn": "01/01/2030 12:00:00 UTC", "updatedOn": "01/01/2030 12:00:00 UTC", "expiresOn": "09/28/2030 13:26:18 UTC",
		} {
			if d[field] != want {
				t.Errorf("%s = %v, want %v", field, d[field], want)
			}
		}
		// The key is a working credential: it reads itself.
		r = e.do(t, req{method: "GET", path: voltmx.Path + "/" + key, header: map[string]string{"X-VoltMX-App-API-Key": key}})
		if r.status != http.StatusOK {
			t.Fatalf("the new key reading itself: %d %s", r.status, r.body)
		}
	})
	t.Run("DefaultExpiry90Days", func(t *testing.T) {
		key := e.create(t, e.admin, "acme")
		if got, want := e.details(t, e.admin, key)["expiresOn"], "04/01/2030 12:00:00 UTC"; got != want {
			t.Fatalf("expiresOn = %v, want %s (90 days after creation)", got, want)
		}
	})
	t.Run("NeverExpiresWins", func(t *testing.T) {
		key := e.create(t, e.admin, "acme", "neverExpires", "true", "expiresOn", "09/28/2030 13:26:18")
		if d := e.details(t, e.admin, key); d["neverExpires"] != true || d["expiresOn"] != nil {
			t.Fatalf("details = %v; want never expires", d)
		}
	})
	t.Run("AppByID", func(t *testing.T) {
		key := e.create(t, e.admin, strconv.FormatInt(e.globexID, 10))
		c, err := e.a.CredentialByKey(e.adminCtx, key)
		if err != nil || c.ProjectID != e.globexID || !strings.HasPrefix(c.Name, "voltmx-") {
			t.Fatalf("credential = %+v, %v; want a voltmx-… key in globex", c, err)
		}
	})
	t.Run("JSON", func(t *testing.T) {
		r := e.do(t, req{method: "POST", path: voltmx.Path, auth: e.admin, contentType: jsonCT,
			body: `{"appId": "acme", "neverExpires": true, "description": "from JSON", "expiresOn": null}`})
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		d := e.details(t, e.admin, r.decode(t)["id"].(string))
		if d["description"] != "from JSON" || d["neverExpires"] != true {
			t.Fatalf("details = %v", d)
		}
		r = e.do(t, req{method: "POST", path: voltmx.Path, auth: e.admin, contentType: jsonCT,
			body: `{"appId": "acme", "neverExpires": "false", "expiresOn": "2030-06-30T08:00:00+02:00"}`})
		if r.status != http.StatusOK {
			t.Fatalf("string boolean and RFC 3339: %d %s", r.status, r.body)
		}
		if got := e.details(t, e.admin, r.decode(t)["id"].(string))["expiresOn"]; got != "06/30/2030 06:00:00 UTC" {
			t.Fatalf("expiresOn = %v", got)
		}
	})
	t.Run("Name", func(t *testing.T) {
		key := e.create(t, e.admin, "acme", "name", "mobile-push")
		c, err := e.a.Credential(e.adminCtx, "acme", "mobile-push")
		if err != nil || authority.MaskedKey(c) != key[:12]+"********" {
			t.Fatalf("credential = %+v, %v", c, err)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		for _, c := range []struct {
			name, caller, contentType, body string
			status                          int
			message                         string
		}{
			{"app_not_found", e.admin, formCT, form("appId", "initech"), 400, "Application not found"},
			{"app_of_another_tenant", e.gus, formCT, form("appId", "acme"), 400, "Application not found"},
			{"missing_app", e.admin, formCT, form("description", "x"), 400, "Required data is missing: appId"},
			{"description_too_long", e.admin, formCT, form("appId", "acme", "description", strings.Repeat("x", 101)), 400, ""},
			{"date_in_the_past", e.admin, formCT, form("appId", "acme", "expiresOn", "01/01/2029 00:00:00"), 400, ""},
			{"date_unparseable", e.admin, formCT, form("appId", "acme", "expiresOn", "tomorrow"), 400, ""},
			{"name_taken", e.admin, formCT, form("appId", "acme", "name", "mobile-push"), 409, ""},
			{"json_number", e.admin, jsonCT, `{"appId": 7}`, 400, ""},
			{"json_not_object", e.admin, jsonCT, `["acme"]`, 400, ""},
			{"json_trailing", e.admin, jsonCT, `{"appId": "acme"} {}`, 400, ""},
			{"unsupported_media_type", e.admin, "text/plain", "appId=acme", 415, ""},
			{"no_content_type", e.admin, "", "appId=acme", 415, ""},
			{"viewer", e.vera, formCT, form("appId", "acme"), 401, "Unauthorized request: permission keys:create is required"},
			{"unauthenticated", "", formCT, form("appId", "acme"), 401, "Unauthorized request"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := e.do(t, req{method: "POST", path: voltmx.Path, auth: c.caller, contentType: c.contentType, body: c.body})
				if r.status != c.status {
					t.Fatalf("%d %s; want %d", r.status, r.body, c.status)
				}
				if m := r.decode(t); c.message != "" && m["message"] != c.message {
					t.Fatalf("message = %v, want %q", m["message"], c.message)
				}
				golden(t, "create_"+c.name, r)
			})
		}
	})
	t.Run("TooLarge", func(t *testing.T) {
		r := e.do(t, req{method: "POST", path: voltmx.Path, auth: e.admin, contentType: formCT,
			body: form("appId", "acme", "description", strings.Repeat("x", 2<<20))})
		if r.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("%d %s; want 413", r.status, r.body)
		}
	})
}

func TestGet(t *testing.T) {
	t.Parallel()
	e := start(t, voltmx.Options{})
	acme := e.create(t, e.olga, "acme", "description", "acme's key")
	globex := e.create(t, e.gus, "globex", "neverExpires", "true")
	get := func(caller, key string) *response {
		return e.do(t, req{method: "GET", path: voltmx.Path + "/" + key, auth: caller})
	}
	t.Run("RevealedToOwner", func(t *testing.T) {
		r := get(e.olga, acme)
		golden(t, "get_revealed", r)
		if got := r.decode(t)["result"].(map[string]any)["appAPIKey"]; got != acme {
			t.Fatalf("appAPIKey = %v, want the key: acme keeps recoverable keys and olga may reveal", got)
		}
	})
	t.Run("MaskedToViewer", func(t *testing.T) {
		r := get(e.vera, acme)
		golden(t, "get_masked", r)
		if got := r.decode(t)["result"].(map[string]any)["appAPIKey"]; got != acme[:12]+"********" {
			t.Fatalf("appAPIKey = %v, want the masked key", got)
		}
	})
	t.Run("MaskedWhenNotRecoverable", func(t *testing.T) {
		r := get(e.gus, globex)
		golden(t, "get_never_expires", r)
		res := r.decode(t)["result"].(map[string]any)
		if res["appAPIKey"] != globex[:12]+"********" || res["neverExpires"] != true || res["expiresOn"] != nil {
			t.Fatalf("result = %v", res)
		}
	})
	t.Run("OtherTenant", func(t *testing.T) {
		r := get(e.gus, acme)
		if r.status != http.StatusBadRequest || r.decode(t)["message"] != "App API key not found" {
			t.Fatalf("%d %s; want 400 not found", r.status, r.body)
		}
		golden(t, "get_not_found", r)
	})
	t.Run("Expired", func(t *testing.T) {
		// An expired key can still be read, and then extended: it works again.
		k := e.create(t, e.admin, "acme")
		e.offset.Store(int64(91 * 24 * time.Hour))
		defer e.offset.Store(0)
		if _, err := e.a.Authenticate(context.Background(), k, "127.0.0.1"); err == nil {
			t.Fatal("an expired key authenticates")
		}
		if d := e.details(t, e.admin, k); d["expiresOn"] != "04/01/2030 12:00:00 UTC" {
			t.Fatalf("details = %v", d)
		}
		r := e.do(t, req{method: "POST", path: voltmx.Path + "/" + k, auth: e.admin, contentType: formCT, body: form("expiresOn", "12/31/2030 00:00:00")})
		if r.status != http.StatusOK {
			t.Fatalf("extending an expired key: %d %s", r.status, r.body)
		}
		if _, err := e.a.Authenticate(context.Background(), k, "127.0.0.1"); err != nil {
			t.Fatalf("the extended key does not authenticate: %v", err)
		}
	})
	t.Run("Status500", func(t *testing.T) {
		e.store.failReads.Store(true)
		r := get(e.admin, acme)
		e.store.failReads.Store(false)
		if r.status != http.StatusInternalServerError {
			t.Fatalf("%d %s; want 500", r.status, r.body)
		}
	})
}

func TestRegenerate(t *testing.T) {
	t.Parallel()
	e := start(t, voltmx.Options{})
	old := e.create(t, e.olga, "acme", "description", "before")
	r := e.do(t, req{method: "POST", path: voltmx.Path + "/" + old, auth: e.olga, contentType: formCT,
		body: form("regenerate", "true", "description", "after", "expiresOn", "06/30/2030 08:00:00")})
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	golden(t, "modify_regenerate", r)
	fresh := r.decode(t)["id"].(string)
	if fresh == old {
		t.Fatal("regenerate returned the old key")
	}
	if r := e.do(t, req{method: "GET", path: voltmx.Path + "/" + old, auth: e.olga}); r.status != http.StatusBadRequest {
		t.Fatalf("the old key after regenerate: %d %s; want 400 not found", r.status, r.body)
	}
	if _, err := e.a.Authenticate(context.Background(), old, "127.0.0.1"); err == nil {
		t.Fatal("the old key still authenticates")
	}
	d := e.details(t, e.olga, fresh)
	if d["appAPIKey"] != fresh || d["description"] != "after" || d["expiresOn"] != "06/30/2030 08:00:00 UTC" {
		t.Fatalf("details of the new key = %v", d)
	}
	t.Run("RefusedChangeRegeneratesNothing", func(t *testing.T) {
		r := e.do(t, req{method: "POST", path: voltmx.Path + "/" + fresh, auth: e.olga, contentType: formCT,
			body: form("regenerate", "true", "description", strings.Repeat("x", 101))})
		if r.status != http.StatusBadRequest {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if _, err := e.a.CredentialByKey(e.adminCtx, fresh); err != nil {
			t.Fatalf("the key was regenerated although the request was refused: %v", err)
		}
	})
	t.Run("WithoutKeysRollChangesNothing", func(t *testing.T) {
		// keys:update but not keys:roll: the description must not change before the refusal.
		if _, err := e.a.CreateRole(e.adminCtx, keyward.RoleInput{Name: "editor", Permissions: []keyward.Permission{
			keyward.PermKeysRead, keyward.PermKeysUpdate, keyward.PermKeysCreate, keyward.PermProjectsRead}}); err != nil {
			t.Fatal(err)
		}
		ed := e.user(t, "edna", "acme", "editor")
		mine := e.create(t, ed, "acme", "description", "untouched")
		r := e.do(t, req{method: "POST", path: voltmx.Path + "/" + mine, auth: ed, contentType: formCT,
			body: form("regenerate", "true", "description", "changed")})
		if r.status != http.StatusUnauthorized {
			t.Fatalf("%d %s; want 401", r.status, r.body)
		}
		if d := e.details(t, ed, mine); d["description"] != "untouched" {
			t.Fatalf("a refused modify changed the description: %v", d["description"])
		}
	})
	t.Run("StrongerKeyNotRegenerated", func(t *testing.T) {
		// An owner may not regenerate the global admin's key (the dominance rule).
		adminKey := e.create(t, e.admin, "acme")
		r := e.do(t, req{method: "POST", path: voltmx.Path + "/" + adminKey, auth: e.olga, contentType: formCT, body: form("regenerate", "true")})
		if r.status != http.StatusUnauthorized || strings.Contains(string(r.body), "kw_") {
			t.Fatalf("%d %s; want 401", r.status, r.body)
		}
		if _, err := e.a.Authenticate(context.Background(), adminKey, "127.0.0.1"); err != nil {
			t.Fatalf("the admin's key was regenerated: %v", err)
		}
		if d := e.details(t, e.olga, adminKey); d["appAPIKey"] == adminKey {
			t.Fatal("GET displayed the admin's recoverable key in full to an owner")
		}
	})
	t.Run("ViewerMayNot", func(t *testing.T) {
		r := e.do(t, req{method: "POST", path: voltmx.Path + "/" + fresh, auth: e.vera, contentType: formCT, body: form("regenerate", "true")})
		if r.status != http.StatusUnauthorized {
			t.Fatalf("%d %s; want 401", r.status, r.body)
		}
	})
	t.Run("JSON", func(t *testing.T) {
		r := e.do(t, req{method: "POST", path: voltmx.Path + "/" + fresh, auth: e.olga, contentType: jsonCT, body: `{"regenerate": true}`})
		if r.status != http.StatusOK || r.decode(t)["id"] == fresh {
			t.Fatalf("%d %s; want a new key", r.status, r.body)
		}
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := start(t, voltmx.Options{})
	// An owner may not delete a key of the global admin, which holds more than she does.
	adminKey := e.create(t, e.admin, "acme")
	if r := e.do(t, req{method: "DELETE", path: voltmx.Path + "/" + adminKey, auth: e.olga}); r.status != http.StatusUnauthorized {
		t.Fatalf("owner deleting the admin's key: %d %s; want 401", r.status, r.body)
	}
	if _, err := e.a.Authenticate(context.Background(), adminKey, "127.0.0.1"); err != nil {
		t.Fatalf("a refused delete revoked the key: %v", err)
	}
	key := e.create(t, e.olga, "acme")
	del := func(caller string) *response {
		return e.do(t, req{method: "DELETE", path: voltmx.Path + "/" + key, auth: caller})
	}
	if r := del(e.vera); r.status != http.StatusUnauthorized {
		t.Fatalf("viewer: %d %s; want 401", r.status, r.body)
	}
	r := del(e.olga)
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	golden(t, "delete_ok", r)
	if m := r.decode(t); m["id"] != key || m["message"] != "App API key deleted successfully" {
		t.Fatalf("body = %v", m)
	}
	if _, err := e.a.Authenticate(context.Background(), key, "127.0.0.1"); err == nil {
		t.Fatal("a deleted key still authenticates")
	}
	r = del(e.olga)
	if r.status != http.StatusBadRequest || r.decode(t)["message"] != "App API key not found for deletion" {
		t.Fatalf("deleting again: %d %s; want 400 not found for deletion", r.status, r.body)
	}
	golden(t, "delete_not_found", r)
	for _, q := range []req{
		{method: "GET", path: voltmx.Path + "/" + key, auth: e.olga},
		{method: "POST", path: voltmx.Path + "/" + key, auth: e.olga, contentType: formCT, body: form("description", "x")},
	} {
		if r := e.do(t, q); r.status != http.StatusBadRequest {
			t.Fatalf("%s a deleted key: %d %s; want 400", q.method, r.status, r.body)
		}
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := start(t, voltmx.Options{})
	key := e.create(t, e.admin, "acme")
	path := voltmx.Path + "/" + key
	for _, c := range []struct {
		name   string
		header map[string]string
		status int
	}{
		{"Session", map[string]string{"X-VoltMX-Authorization": e.olga}, 200},
		{"APIToken", map[string]string{"X-VoltMX-Authorization": e.admin}, 200},
		{"BearerPrefix", map[string]string{"X-VoltMX-Authorization": "Bearer " + e.admin}, 200},
		{"AppAPIKey", map[string]string{"X-VoltMX-App-API-Key": key}, 200},
		{"StandardBearer", map[string]string{"Authorization": "Bearer " + e.admin}, 200},
		{"VendorHeaderFirst", map[string]string{"X-VoltMX-Authorization": "kw_live_x", "X-VoltMX-App-API-Key": key}, 401},
		{"None", nil, 401},
		{"Garbage", map[string]string{"X-VoltMX-App-API-Key": "03fb1ae7-5c6b-4ee4-9ac9-47878368b394"}, 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, req{method: "GET", path: path, header: c.header})
			if r.status != c.status {
				t.Fatalf("%d %s; want %d", r.status, r.body, c.status)
			}
		})
	}
	t.Run("LoggedOutSession", func(t *testing.T) {
		s, err := e.a.Login(context.Background(), keyward.LoginInput{Name: "vera", Password: pw}, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		c, err := e.a.Authenticate(context.Background(), s.Key, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.a.Logout(keyward.NewContext(context.Background(), c)); err != nil {
			t.Fatal(err)
		}
		if r := e.do(t, req{method: "GET", path: path, auth: s.Key}); r.status != http.StatusUnauthorized {
			t.Fatalf("%d %s; want 401", r.status, r.body)
		}
	})
}

func TestTimeZone(t *testing.T) {
	t.Parallel()
	west := time.FixedZone("WEST", 3600)
	e := start(t, voltmx.Options{TimeZone: west})
	key := e.create(t, e.admin, "acme", "expiresOn", "09/28/2031 13:26:18")
	c, err := e.a.CredentialByKey(e.adminCtx, key)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.ExpiresAt.UTC(), time.Date(2031, 9, 28, 12, 26, 18, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("stored expiry = %s, want %s", got, want)
	}
	d := e.details(t, e.admin, key)
	if d["expiresOn"] != "09/28/2031 13:26:18 WEST" || d["createdOn"] != "01/01/2030 13:00:00 WEST" {
		t.Fatalf("details = %v; want the vendor's shape in WEST", d)
	}
	modify := func(on string) *response {
		return e.do(t, req{method: "POST", path: voltmx.Path + "/" + key, auth: e.admin, contentType: formCT, body: form("expiresOn", on)})
	}
	// What GET writes, modify reads back; UTC is always understood; another zone is refused.
	for on, want := range map[string]string{
		"09/28/2031 13:26:18 WEST": "09/28/2031 13:26:18 WEST",
		"9/8/2031 7:05:00":         "09/08/2031 07:05:00 WEST",
		"09/28/2031 13:26:18 UTC":  "09/28/2031 14:26:18 WEST",
	} {
		if r := modify(on); r.status != http.StatusOK {
			t.Fatalf("%q: %d %s", on, r.status, r.body)
		}
		if got := e.details(t, e.admin, key)["expiresOn"]; got != want {
			t.Fatalf("%q: expiresOn = %v, want %s", on, got, want)
		}
	}
	if r := modify("09/28/2031 13:26:18 PST"); r.status != http.StatusBadRequest {
		t.Fatalf("another zone: %d %s; want 400", r.status, r.body)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	e := start(t, voltmx.Options{})
	for path, allow := range map[string]string{
		voltmx.Path:          "POST",
		voltmx.Path + "/abc": "DELETE, GET, HEAD, POST",
	} {
		r := e.do(t, req{method: "PUT", path: path, auth: e.admin})
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != allow {
			t.Fatalf("PUT %s: %d, Allow %q; want 405, %q", path, r.status, r.header.Get("Allow"), allow)
		}
	}
}

// TestDocs checks that docs/dialects/voltmx.md covers every route, parameter and status.
func TestDocs(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "dialects", "voltmx.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, want := range []string{
		"POST /api/v1/applications/key`", "GET /api/v1/applications/key/{appKey}", "POST /api/v1/applications/key/{appKey}",
		"DELETE /api/v1/applications/key/{appKey}", "X-VoltMX-Authorization", "X-VoltMX-App-API-Key",
		"`appId`", "`expiresOn`", "`neverExpires`", "`description`", "`name`", "`regenerate`", "voltmx.Options.TimeZone",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("the docs do not mention %s", want)
		}
	}
	for _, code := range []keyward.Code{
		keyward.EInvalid, keyward.ENotFound, keyward.EUnauthenticated, keyward.EForbidden, keyward.EConflict,
		keyward.EMethodNotAllowed, keyward.ETooLarge, keyward.EUnsupported, keyward.ERateLimited, keyward.EInternal,
		keyward.EUnavailable, keyward.ETimeout,
	} {
		if s := strconv.Itoa(voltmx.StatusOf(code)); !strings.Contains(doc, "| "+s+" |") {
			t.Errorf("the docs' status table lacks %s (for %s)", s, code)
		}
	}
}
