package httpapi_test

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/openapitest"
	"github.com/keyward/keyward/metrics"
)

// TestOpenAPIServed: /v1/openapi.json answers without authentication with the embedded
// document, which parses as OpenAPI 3.1.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	e := start(t, 0)
	r := e.do(t, "GET", "/v1/openapi.json", "", "", "Authorization", "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" || r.header.Get("Cache-Control") == "" {
		t.Fatalf("GET /v1/openapi.json: %d %v", r.status, r.header)
	}
	if !bytes.Equal(r.body, httpapi.OpenAPI()) {
		t.Fatal("GET /v1/openapi.json does not serve the embedded document")
	}
	doc, err := libopenapi.NewDocument(r.body)
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi version %q, want 3.1.x", v)
	}
	if _, err := doc.BuildV3Model(); err != nil {
		t.Fatal(err)
	}
	openapitest.Document(t) // and the validator accepts it as a valid OpenAPI document
}

// TestOpenAPICoversRoutes: every endpoint the server registers (with /metrics served here) is
// an operation of the document, and every operation an endpoint.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	api := httpapi.New(nil, nil, httpapi.Options{Metrics: metrics.New(nil)})
	var served []string
	for _, ep := range api.Endpoints() {
		// OpenAPI has no path parameter of several segments: {path...} is {path} there.
		served = append(served, ep.Method+" "+strings.ReplaceAll(ep.Path, "...}", "}"))
	}
	slices.Sort(served)
	documented := openapitest.Operations(t)
	for _, op := range served {
		if !slices.Contains(documented, op) {
			t.Errorf("endpoint %s is not in httpapi/openapi.json", op)
		}
	}
	for _, op := range documented {
		if !slices.Contains(served, op) {
			t.Errorf("httpapi/openapi.json documents %s, which the server does not serve", op)
		}
	}
}

// TestOpenAPIEnums: every list of permissions or credential types in the document is Go's
// (keyward.AllPermissions, keyward.CredentialTypes), and the leak statuses are keyward.LeakStatuses, so that a new one cannot be served
// undocumented.
func TestOpenAPIEnums(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var perms, types []string
	for _, p := range keyward.AllPermissions {
		perms = append(perms, string(p))
	}
	for _, ct := range keyward.CredentialTypes {
		types = append(types, string(ct))
	}
	var seenPerms, seenTypes, seenHooks, seenStates int
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(path+"/"+k, x)
			}
		case []any:
			var values []string
			for _, x := range v {
				if s, ok := x.(string); ok {
					values = append(values, s)
				}
				walk(path, x)
			}
			if !strings.HasSuffix(path, "/enum") {
				return
			}
			switch {
			case slices.Contains(values, "keys:create"):
				seenPerms++
				if !slices.Equal(values, perms) {
					t.Errorf("%s lists %q, want keyward.AllPermissions %q", path, values, perms)
				}
			case slices.Contains(values, keyward.WebhookCredentialCreated):
				seenHooks++
				if !slices.Equal(values, keyward.WebhookTypes) {
					t.Errorf("%s lists %q, want keyward.WebhookTypes %q", path, values, keyward.WebhookTypes)
				}
			case slices.Contains(values, keyward.DeliveryDelivering):
				seenStates++
				if !slices.Equal(values, keyward.DeliveryStates) {
					t.Errorf("%s lists %q, want keyward.DeliveryStates %q", path, values, keyward.DeliveryStates)
				}
			case slices.Contains(values, keyward.LeakStatusInvalid):
				if !slices.Equal(values, keyward.LeakStatuses) {
					t.Errorf("%s lists %q, want keyward.LeakStatuses %q", path, values, keyward.LeakStatuses)
				}
			case slices.Contains(values, "API_TOKEN"):
				seenTypes++
				// The credential type schema also names SESSION, a login session's type.
				if got := slices.DeleteFunc(slices.Clone(values), func(s string) bool { return s == string(keyward.Session) }); !slices.Equal(got, types) {
					t.Errorf("%s lists %q, want keyward.CredentialTypes %q", path, values, types)
				}
			}
		}
	}
	walk("", doc)
	if seenPerms == 0 || seenTypes == 0 || seenHooks == 0 || seenStates == 0 {
		t.Fatalf("the document lists permissions %d times, credential types %d times, webhook types %d times and delivery states %d times, want each",
			seenPerms, seenTypes, seenHooks, seenStates)
	}
}
