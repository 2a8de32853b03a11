package openapitest

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// exchange builds an Exchange of a request to path and a JSON answer.
func exchange(method, target, auth, reqBody string, status int, contentType, resBody string) Exchange {
	r := httptest.NewRequest(method, target, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if reqBody != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return Exchange{Request: r, RequestBody: []byte(reqBody), Status: status, Header: h, ResponseBody: []byte(resBody)}
}

const (
	project = `{"id":2,"slug":"acme","name":"","created_at":"2030-01-02T15:04:05Z","recoverable_keys":false}`
	problem = `{"type":"urn:keyward:error:invalid","title":"Bad Request","status":400,"detail":"x","code":"invalid"}`
)

// TestCheck: the checker passes what the document says and names each way of contradicting it,
// so that the tests that rely on it cannot pass by checking nothing.
func TestCheck(t *testing.T) {
	t.Parallel()
	const js, pj = "application/json", "application/problem+json"
	bearer := "Bearer kw_live_x"
	for _, tc := range []struct {
		name string
		ex   Exchange
		want string // a part of the problem reported; "" for none
	}{
		{"Documented", exchange("POST", "/v1/projects", bearer, `{"slug":"acme"}`, 201, js, project), ""},
		{"ExtraResponseField", exchange("POST", "/v1/projects", bearer, `{"slug":"acme"}`, 201, js, strings.TrimSuffix(project, "}")+`,"colour":"red"}`), "colour"},
		{"MissingResponseField", exchange("GET", "/v1/projects/acme", bearer, "", 200, js, `{"id":2,"slug":"acme"}`), "missing"},
		{"UndocumentedStatus", exchange("GET", "/v1/projects/acme", bearer, "", 418, pj, problem), "418"},
		{"WrongContentType", exchange("GET", "/v1/projects/acme", bearer, "", 200, "text/plain", "hi"), "text/plain"},
		{"ErrorNotAProblem", exchange("GET", "/v1/projects/acme", bearer, "", 404, pj, `{"error":"no"}`), "error"},
		{"UndocumentedEndpointAnswered", exchange("GET", "/v1/secret-admin", bearer, "", 200, js, `{}`), "no such path"},
		{"UndocumentedMethodAnswered", exchange("PUT", "/v1/projects", bearer, `{}`, 200, js, `{}`), "no such path"},
		{"UndocumentedEndpointRefused", exchange("GET", "/v1/nothing", bearer, "", 404, pj, problem), ""},
		{"UndocumentedMethodRefused", exchange("PUT", "/v1/projects", bearer, `{}`, 405, pj, problem), ""},
		{"UndocumentedEndpointOddRefusal", exchange("GET", "/v1/nothing", bearer, "", 404, "text/plain", "404 page not found"), "text/plain"},
		// A request the server refused is not checked; one it accepted is.
		{"MalformedRequestRefused", exchange("POST", "/v1/projects", bearer, `{"slug":42,"colour":"red"}`, 400, pj, problem), ""},
		{"MalformedRequestAccepted", exchange("POST", "/v1/projects", bearer, `{"slug":42}`, 201, js, project), "slug"},
		{"UnauthenticatedAccepted", exchange("GET", "/v1/projects/acme", "", "", 200, js, project), "Authentication failed"},
		{"PublicWithoutKey", exchange("GET", "/healthz", "", "", 200, js, `{"status":"ok"}`), ""},
		{"GatewayManySegments", exchange("GET", "/v1/auth/upstream/orders/7", "", "", 401, js, `{"valid":false,"code":"NOT_FOUND"}`), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := strings.Join(Check(tc.ex), "\n")
			switch {
			case tc.want == "" && got != "":
				t.Fatalf("Check reported %s", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Fatalf("Check reported %q, want a problem naming %q", got, tc.want)
			}
		})
	}
	t.Run("MutualTLS", func(t *testing.T) {
		t.Parallel()
		ex := exchange("GET", "/v1/projects/acme", "", "", 200, js, project)
		ex.Request.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{}}}
		if got := Check(ex); len(got) > 0 {
			t.Fatalf("a client certificate does not satisfy the document: %v", got)
		}
	})
}

// TestOperations: the document lists the native API's operations and no dialect's.
func TestOperations(t *testing.T) {
	t.Parallel()
	ops := strings.Join(Operations(t), "\n")
	for _, want := range []string{"POST /v1/projects", "GET /v1/openapi.json", "HEAD /v1/auth/{path}", "GET /healthz"} {
		if !strings.Contains(ops, want) {
			t.Errorf("Operations lacks %s", want)
		}
	}
	if strings.Contains(ops, "/api/") {
		t.Error("Operations lists a dialect's path")
	}
}
