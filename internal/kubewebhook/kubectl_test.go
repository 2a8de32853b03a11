package kubewebhook_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/plugin/pkg/authenticator/token/webhook"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/proctest"
)

// apiServer is a stand-in for kube-apiserver that authenticates bearer tokens only through
// the webhook authenticator w, as kube-apiserver does with its token webhook, and answers what
// "kubectl auth whoami" asks (a SelfSubjectReview, which echoes the authenticated user).
func apiServer(t *testing.T, w *webhook.WebhookTokenAuthenticator) *httptest.Server {
	t.Helper()
	write := func(rw http.ResponseWriter, code int, v any) {
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(code)
		_ = json.NewEncoder(rw).Encode(v)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if ok {
			resp, authed, _ := w.AuthenticateToken(r.Context(), tok)
			ok = authed
			if ok && r.Method == "POST" && r.URL.Path == "/apis/authentication.k8s.io/v1/selfsubjectreviews" {
				u := resp.User
				info := authenticationv1.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups(),
					Extra: map[string]authenticationv1.ExtraValue{}}
				for k, v := range u.GetExtra() {
					info.Extra[k] = v
				}
				write(rw, http.StatusCreated, &authenticationv1.SelfSubjectReview{
					TypeMeta: metav1.TypeMeta{Kind: "SelfSubjectReview", APIVersion: "authentication.k8s.io/v1"},
					Status:   authenticationv1.SelfSubjectReviewStatus{UserInfo: info},
				})
				return
			}
		}
		st := &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure}
		if !ok {
			st.Code, st.Reason, st.Message = http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "Unauthorized"
		} else {
			st.Code, st.Reason, st.Message = http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource"
		}
		write(rw, int(st.Code), st)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestKubectl: a KUBE_TOKEN kubeconfig, as keyward mints it, works with the real kubectl
// against an API server that delegates to keyward's webhook, and stops at once when revoked.
func TestKubectl(t *testing.T) {
	t.Parallel()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl is needed by this test (make test runs scripts/test-tools.sh, which installs it)")
	}
	ctx := context.Background()
	s := startServer(t)
	adm := s.admin
	must(adm.CreateRole(ctx, keyward.RoleInput{Name: "k8s-review", Permissions: []keyward.Permission{keyward.PermClustersReview}}))(t)
	reviewer := must(adm.CreateCredential(ctx, keyward.SystemProject, keyward.CreateCredentialInput{Name: "kube-apiserver", Roles: []string{"k8s-review"}}))(t)
	api := apiServer(t, s.authenticatorFor(t, "kind", reviewer.Key, "v1"))
	must(adm.CreateCluster(ctx, keyward.ClusterInput{Name: "kind", Server: api.URL,
		CertificateAuthority: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw}))}))(t)
	ic := must(adm.CreateCredential(ctx, keyward.SystemProject, keyward.CreateCredentialInput{
		Type: keyward.KubeToken, Name: "laptop", VirtualK8sName: "kind", VirtualK8sNamespace: "default",
	}))(t)
	doc, err := base64.StdEncoding.DecodeString(ic.Data)
	if err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	whoami := func() (*authenticationv1.SelfSubjectReview, string, error) {
		cmd := proctest.Command(t, kubectl, "--kubeconfig", kc, "auth", "whoami", "-o", "json")
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no cache or config of the machine's
		out, err := cmd.CombinedOutput()
		if err != nil {
			return nil, string(out), err
		}
		var r authenticationv1.SelfSubjectReview
		return &r, string(out), json.Unmarshal(out, &r)
	}
	r, out, err := whoami()
	if err != nil {
		t.Fatalf("kubectl auth whoami: %v\n%s", err, out)
	}
	if u := r.Status.UserInfo; u.Username != keyward.AdminUser || !slices.Equal(u.Groups, []string{keyward.RoleAdmin, "keyward:system:admin"}) {
		t.Errorf("kubectl auth whoami: %+v", u)
	}
	must(adm.RevokeCredential(ctx, keyward.SystemProject, "laptop"))(t)
	if _, out, err := whoami(); err == nil || !strings.Contains(out, "Unauthorized") {
		t.Errorf("kubectl with a revoked KUBE_TOKEN: %v\n%s", err, out)
	}
}
