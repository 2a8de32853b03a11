package voltmx_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/dialect/voltmx"
	"github.com/keyward/keyward/token"
)

// TestSeedModify sends the Modify App API Key document's requests (testdata/ holds it): every
// input parameter it lists, every output field and its sample response's shape and message,
// every status of its table and every 400 reason it gives.
func TestSeedModify(t *testing.T) {
	t.Parallel()
	seed := readSeed(t)
	e := start(t, voltmx.Options{})
	key := e.create(t, e.admin, "acme", "description", "first")
	path := voltmx.Path + "/" + key
	modify := func(t *testing.T, caller, body string) *response {
		t.Helper()
		return e.do(t, req{method: "POST", path: path, auth: caller, contentType: formCT, body: body})
	}
	values := map[string]string{
		"expiresOn":    "06/30/2030 08:00:00",
		"neverExpires": "true",
		"description":  "testing with modified description",
	}
	wantOutputs := slices.Sorted(slices.Values(seed.outputs))

	t.Run("EveryInputParameter", func(t *testing.T) {
		for _, in := range seed.inputs {
			v, ok := values[in]
			if !ok {
				t.Fatalf("the seed's input %q has no test value", in)
			}
			r := modify(t, e.admin, form(in, v))
			if r.status != http.StatusOK {
				t.Fatalf("%s alone: %d %s", in, r.status, r.body)
			}
			m := r.decode(t)
			if got := keysOf(m); !slices.Equal(got, wantOutputs) || !slices.Equal(got, keysOf(seed.sample)) {
				t.Fatalf("response fields %v; the seed lists %v and its sample has %v", got, wantOutputs, keysOf(seed.sample))
			}
			if got, want := m["message"], seed.sample["message"]; got != want {
				t.Fatalf("message = %v, want the seed's %v", got, want)
			}
			if got, want := m["id"], key; got != want {
				t.Fatalf("id = %v, want the key", got)
			}
		}
		golden(t, "modify_ok", modify(t, e.admin, form("description", values["description"])))
		d := e.details(t, e.admin, key)
		if d["description"] != values["description"] || d["neverExpires"] != true || d["expiresOn"] != nil {
			t.Fatalf("details after the changes = %v", d)
		}
	})
	t.Run("ExpiresOnExtends", func(t *testing.T) {
		if r := modify(t, e.admin, form("expiresOn", "12/31/2031 23:59:59")); r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		d := e.details(t, e.admin, key)
		if d["expiresOn"] != "12/31/2031 23:59:59 UTC" || d["neverExpires"] != false {
			t.Fatalf("details = %v; want it to expire on 12/31/2031 23:59:59 UTC", d)
		}
	})
	t.Run("NeverExpiresWins", func(t *testing.T) {
		// The seed's note: expiresOn and neverExpires together: the key never expires, even
		// when expiresOn is not a date at all ("invalid once you set this to true").
		for _, on := range []string{"06/30/2030 08:00:00", "soon"} {
			if r := modify(t, e.admin, form("expiresOn", on, "neverExpires", "true")); r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if d := e.details(t, e.admin, key); d["neverExpires"] != true || d["expiresOn"] != nil {
				t.Fatalf("details = %v; want never expires", d)
			}
		}
	})
	t.Run("Status400", func(t *testing.T) {
		unknown, err := token.New(keyward.Live)
		if err != nil {
			t.Fatal(err)
		}
		before := e.details(t, e.admin, key)
		for _, c := range []struct {
			name, path, body, message, field string
		}{
			{"not_found", voltmx.Path + "/" + unknown, form("description", "x"), "App API key not found for modification", ""},
			{"not_found_malformed", voltmx.Path + "/not-a-key", form("description", "x"), "App API key not found for modification", ""},
			{"description_too_long", path, form("description", strings.Repeat("d", 101)), "", "description"},
			{"date_in_the_past", path, form("expiresOn", "12/31/2029 12:00:00"), "", "expiresOn"},
			{"date_now", path, form("expiresOn", "01/01/2030 12:00:00"), "", "expiresOn"},
			{"date_unparseable", path, form("expiresOn", "2030-13-45"), "", "expiresOn"},
			{"date_without_time", path, form("expiresOn", "06/30/2030"), "", "expiresOn"},
			{"date_impossible", path, form("expiresOn", "02/30/2030 10:00:00"), "", "expiresOn"},
			{"date_too_far", path, form("expiresOn", "01/02/2040 12:00:00"), "", "expiresOn"},
			{"missing", path, "", "Required data is missing: description, expiresOn, neverExpires, regenerate", ""},
			{"never_expires_false_alone", path, form("neverExpires", "false"), "Required data is missing: expiresOn", "expiresOn"},
			{"never_expires_not_boolean", path, form("neverExpires", "sometimes"), "", "neverExpires"},
			{"unknown_parameter", path, form("neverExpire", "true"), "", "neverExpire"},
			{"duplicate_parameter", path, form("description", "a", "description", "b"), "", "description"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := e.do(t, req{method: "POST", path: c.path, auth: e.admin, contentType: formCT, body: c.body})
				if r.status != http.StatusBadRequest {
					t.Fatalf("%d %s; want 400", r.status, r.body)
				}
				m := r.decode(t)
				if c.message != "" && m["message"] != c.message {
					t.Fatalf("message = %v, want %q", m["message"], c.message)
				}
				if errs, _ := m["errors"].(map[string]any); c.field != "" && errs[c.field] == nil {
					t.Fatalf("errors = %v; want one for %s", m["errors"], c.field)
				}
				golden(t, "modify_400_"+c.name, r)
			})
		}
		if after := e.details(t, e.admin, key); after["updatedOn"] != before["updatedOn"] || after["description"] != before["description"] {
			t.Fatalf("a refused modification changed the key: %v, then %v", before, after)
		}
		if r := modify(t, e.admin, form("description", strings.Repeat("d", 100))); r.status != http.StatusOK {
			t.Fatalf("100 characters: %d %s", r.status, r.body)
		}
	})
	t.Run("Status401", func(t *testing.T) {
		for name, caller := range map[string]string{"none": "", "unknown": "kw_live_0000", "viewer": e.vera} {
			t.Run(name, func(t *testing.T) {
				r := modify(t, caller, form("description", "nope"))
				if r.status != http.StatusUnauthorized {
					t.Fatalf("%d %s; want 401", r.status, r.body)
				}
				if m := r.decode(t); !strings.HasPrefix(m["message"].(string), "Unauthorized request") {
					t.Fatalf("message = %v", m["message"])
				}
				if name == "none" {
					golden(t, "unauthorized", r)
				}
			})
		}
		if d := e.details(t, e.admin, key); d["description"] == "nope" {
			t.Fatal("an unauthorized request changed the key")
		}
	})
	t.Run("Status500", func(t *testing.T) {
		e.store.failWrites.Store(true)
		r := modify(t, e.admin, form("description", "fails"))
		e.store.failWrites.Store(false)
		if r.status != http.StatusInternalServerError {
			t.Fatalf("%d %s; want 500", r.status, r.body)
		}
		m := r.decode(t)
		if m["message"] != "Server failure to process request" || strings.Contains(string(r.body), "disk") {
			t.Fatalf("body %s: want the vendor's message and no detail", r.body)
		}
		id, _ := m["requestId"].(string)
		if id == "" || !strings.Contains(e.dialectLog.String(), id) || !strings.Contains(e.dialectLog.String(), "disk on fire") {
			t.Fatalf("the log does not hold the detail under request id %q:\n%s", id, e.dialectLog.String())
		}
		if strings.Contains(e.dialectLog.String(), key) {
			t.Fatal("the dialect's log holds the key")
		}
		golden(t, "server_failure", r)
	})
	t.Run("EveryStatus", func(t *testing.T) {
		for _, s := range seed.statuses {
			if !e.produced[s] {
				t.Errorf("the seed's status %d was never produced", s)
			}
		}
	})
}
