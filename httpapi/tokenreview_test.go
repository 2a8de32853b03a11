package httpapi_test

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/httpapi"
)

// TestTokenReviewShape checks the answer's wire shape, which the Kubernetes client in
// internal/kubewebhook reads through its own types: the request's apiVersion comes back, the
// token does not, and what is not a TokenReview is refused.
func TestTokenReviewShape(t *testing.T) {
	t.Parallel()
	const js = "application/json"
	e := start(t, 0)
	auth := []string{"Authorization", "Bearer " + e.token}
	if r := e.do(t, "POST", "/v1/clusters", js, `{"name":"prod","server":"https://k8s.example:6443"}`, auth...); r.status != 201 {
		t.Fatalf("cluster: %d %s", r.status, r.body)
	}
	const bogus = "kw_live_notarealtoken"
	for _, version := range []string{"authentication.k8s.io/v1", "authentication.k8s.io/v1beta1"} {
		r := e.do(t, "POST", "/v1/clusters/prod/tokenreview", js,
			`{"apiVersion":"`+version+`","kind":"TokenReview","metadata":{"creationTimestamp":null},"spec":{"token":"`+bogus+`","audiences":["a"],"future":1},"status":{"user":{}}}`, auth...)
		var got struct {
			APIVersion, Kind string
			Spec             map[string]any
			Status           map[string]any
		}
		r.json(t, &got)
		if r.status != 200 || got.APIVersion != version || got.Kind != "TokenReview" || strings.Contains(string(r.body), bogus) {
			t.Errorf("%s: %d %s", version, r.status, r.body)
		}
		if got.Status["authenticated"] != false || got.Status["error"] != httpapi.ReviewRefused || got.Status["user"] != nil {
			t.Errorf("%s: status %v", version, got.Status)
		}
	}
	for name, body := range map[string]string{
		"ErrVersion": `{"apiVersion":"authentication.k8s.io/v2","kind":"TokenReview","spec":{"token":"x"}}`,
		"ErrKind":    `{"apiVersion":"authentication.k8s.io/v1","kind":"SubjectAccessReview","spec":{"token":"x"}}`,
		"ErrNotJSON": `not json`,
	} {
		if r := e.do(t, "POST", "/v1/clusters/prod/tokenreview", js, body, auth...); r.status != 400 {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	if r := e.do(t, "POST", "/v1/clusters/nope/tokenreview", js, `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"x"}}`, auth...); r.status != 404 {
		t.Errorf("unknown cluster: %d %s", r.status, r.body)
	}
}
