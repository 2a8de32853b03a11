package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/keyward/keyward"
)

// The Kubernetes token webhook: a cluster's API server, started with
// --authentication-token-webhook-config-file naming a kubeconfig whose server is
// /v1/clusters/{cluster}/tokenreview and whose user's token is a keyward key holding
// clusters:review, POSTs a TokenReview (authentication.k8s.io/v1 or v1beta1) for each token its
// clients present and gets it back with its status filled (authority.ReviewToken). The shapes
// are written here rather than taken from k8s.io/api, which keyward does not otherwise need.

// The API versions of TokenReview served; both have the same shape.
const (
	tokenReviewV1      = "authentication.k8s.io/v1"
	tokenReviewV1beta1 = "authentication.k8s.io/v1beta1"
)

// ReviewRefused is the error of every TokenReview that does not authenticate its token,
// whatever the reason, so that the cluster (and its logs) learn nothing about keys.
const ReviewRefused = "the token is not valid for this cluster"

type tokenReview struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   json.RawMessage   `json:"metadata,omitempty"`
	Spec       tokenReviewSpec   `json:"spec"`
	Status     tokenReviewStatus `json:"status"`
}

type tokenReviewSpec struct {
	Token     string   `json:"token,omitempty"` // never in an answer: it is the secret
	Audiences []string `json:"audiences,omitempty"`
}

type tokenReviewStatus struct {
	Authenticated bool `json:"authenticated"`
	// User is a pointer so that a refusal carries none, as the Kubernetes API's omitempty
	// does not omit an empty struct.
	User *tokenReviewUser `json:"user,omitempty"`
	// Audiences stays empty: a KUBE_TOKEN is for its cluster's API server and nothing else,
	// which the TokenReview API spells as no audiences (the API server's own are implied).
	Audiences []string `json:"audiences,omitempty"`
	Error     string   `json:"error,omitempty"`
}

type tokenReviewUser struct {
	Username string              `json:"username"`
	UID      string              `json:"uid,omitempty"`
	Groups   []string            `json:"groups,omitempty"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

func (s *Server) reviewToken(w http.ResponseWriter, r *http.Request) error {
	var in tokenReview
	if err := decodeBody(r, &in, false, false); err != nil {
		return err
	}
	if in.APIVersion != tokenReviewV1 && in.APIVersion != tokenReviewV1beta1 {
		return keyward.Invalid("apiVersion", "must be "+tokenReviewV1+" or "+tokenReviewV1beta1)
	}
	if in.Kind != "TokenReview" {
		return keyward.Invalid("kind", "must be TokenReview")
	}
	start := time.Now()
	u, code, err := s.authority.ReviewToken(r.Context(), r.PathValue("cluster"), in.Spec.Token)
	if err != nil {
		return err
	}
	s.tokenReviews.Observe(code, time.Since(start))
	// The spec is not echoed: it holds the token.
	out := tokenReview{APIVersion: in.APIVersion, Kind: in.Kind, Spec: tokenReviewSpec{Audiences: in.Spec.Audiences}}
	if u != nil {
		out.Status = tokenReviewStatus{Authenticated: true, User: &tokenReviewUser{
			Username: u.Username, UID: u.UID, Groups: u.Groups, Extra: u.Extra,
		}}
	} else {
		out.Status.Error = ReviewRefused
	}
	return writeJSON(w, http.StatusOK, out)
}
