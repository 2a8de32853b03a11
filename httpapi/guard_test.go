package httpapi_test

import (
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi"
)

// TestGuardHostileBytes: a NUL byte or invalid UTF-8 anywhere in a request is refused with 400
// naming the field, before authentication (an anonymous login too), and nothing is written;
// what only looks like one (an escaped backslash) and valid Unicode pass.
func TestGuardHostileBytes(t *testing.T) {
	t.Parallel()
	e := start(t, 0)
	const js = "application/json"
	for _, tc := range []struct {
		name, method, path, contentType, body string
		noKey                                 bool
		status                                int
		field                                 string
	}{
		{name: "LoginName", method: "POST", path: "/v1/login", contentType: js, body: `{"name":"admin\u0000","password":"x"}`, noKey: true, status: 400, field: "name"},
		{name: "LoginRawInvalid", method: "POST", path: "/v1/login", contentType: js, body: "{\"name\":\"adm\xffin\",\"password\":\"x\"}", noKey: true, status: 400, field: "body"},
		{name: "PathSegment", method: "GET", path: credPath + "/we%00b", status: 400, field: "path"},
		{name: "PathInvalidUTF8", method: "GET", path: credPath + "/we%C3", status: 400, field: "path"},
		{name: "PathUnauthenticated", method: "GET", path: "/v1/projects/%FF", noKey: true, status: 400, field: "path"},
		{name: "QueryValue", method: "GET", path: credPath + "?cursor=%00", status: 400, field: "cursor"},
		{name: "QueryKey", method: "GET", path: credPath + "?%FF=1", status: 400, field: "query"},
		{name: "NestedValue", method: "POST", path: credPath, contentType: js, body: `{"name":"a","meta":{"team":"x\u0000"}}`, status: 400, field: "meta.team"},
		{name: "NestedKey", method: "POST", path: credPath, contentType: js, body: `{"name":"a","meta":{"t\u0000":"x"}}`, status: 400, field: "meta"},
		{name: "ArrayElement", method: "POST", path: credPath, contentType: js, body: `{"name":"a","roles":["viewer","x\u0000"]}`, status: 400, field: "roles[1]"},
		{name: "RawNUL", method: "POST", path: credPath, contentType: js, body: "{\"name\":\"a\",\"description\":\"x\x00\"}", status: 400, field: "body"},
		{name: "TooLargeStill413", method: "POST", path: credPath, contentType: js, body: `{"name":"a","description":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + "\u0000\"}", status: 413},
		{name: "EscapedBackslashIsText", method: "POST", path: credPath, contentType: js, body: `{"name":"lit","description":"\\u0000 is text"}`, status: 201},
		{name: "Unicode", method: "POST", path: credPath, contentType: js, body: `{"name":"uni","description":"clé ✓ 鍵 \ud83d\udd11","meta":{"ü":"ß"}}`, status: 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds, events := e.counts(t)
			var header []string
			if tc.noKey {
				header = []string{"Authorization", ""}
			}
			r := e.do(t, tc.method, tc.path, tc.contentType, tc.body, header...)
			if r.status != tc.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 201 {
				return
			}
			var p httpapi.Problem
			r.json(t, &p)
			if tc.field != "" && (p.Code != keyward.EInvalid || p.Errors[tc.field] != keyward.TextRule || len(p.Errors) != 1) {
				t.Fatalf("problem %+v, want invalid with errors {%q: %q}", p, tc.field, keyward.TextRule)
			}
			if c2, e2 := e.counts(t); c2 != creds || e2 != events {
				t.Fatalf("refused request changed the store: credentials %d->%d, events %d->%d", creds, c2, events, e2)
			}
		})
	}
}
