package kubewebhook_test

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	webhookutil "k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/apiserver/plugin/pkg/authenticator/token/webhook"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/ca"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlitetest"
)

// apiAudience is the API server's own audience (kube-apiserver's --api-audiences).
const apiAudience = "https://kubernetes.default.svc"

// server is a keyward server over TLS and an admin client of it.
type server struct {
	url   string
	caPEM []byte // what signed the server's TLS certificate
	admin *client.Client
	hc    *http.Client
}

func startServer(t *testing.T) *server {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mk, err := masterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := authority.New(st, authority.Options{MasterKey: mk, Logger: logger})
	t.Cleanup(func() { a.Close() })
	tok, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.InitCA(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(httpapi.New(a, st, httpapi.Options{Logger: logger}))
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return &server{url: srv.URL, caPEM: caPEM, hc: srv.Client(),
		admin: client.New(srv.URL, tok, client.WithHTTPClient(srv.Client()))}
}

// as returns a client that authenticates with key.
func (s *server) as(key string) *client.Client {
	return client.New(s.url, key, client.WithHTTPClient(s.hc))
}

// authenticatorFor writes the webhook kubeconfig that kube-apiserver would be given for
// cluster, with reviewKey as the API server's keyward key, and builds the authenticator from
// that file as kube-apiserver does (webhookutil.LoadKubeconfig, then webhook.New), with no
// token cache in front of it: every AuthenticateToken is one review.
func (s *server) authenticatorFor(t *testing.T, cluster, reviewKey, version string) *webhook.WebhookTokenAuthenticator {
	t.Helper()
	doc, err := ca.Kubeconfig(ca.KubeconfigInput{
		ClusterName: "keyward", Server: s.url + "/v1/clusters/" + cluster + "/tokenreview",
		ClusterCAPEM: s.caPEM, UserName: "kube-apiserver", Token: reviewKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "webhook.kubeconfig")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := webhookutil.LoadKubeconfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// One attempt: a refusal must come back at once, and no test waits on a retry.
	w, err := webhook.New(cfg, version, authenticator.Audiences{apiAudience}, wait.Backoff{Steps: 1, Duration: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// must(f())(t) is f's value, or the end of the test with f's error.
func must[T any](v T, err error) func(testing.TB) T {
	return func(tb testing.TB) T {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v
	}
}

// tokenOf reads the token out of a KUBE_TOKEN's kubeconfig, as kubectl would, and checks it is
// the key issued beside it.
func tokenOf(t *testing.T, ic *keyward.IssuedCredential) string {
	t.Helper()
	doc, err := base64.StdEncoding.DecodeString(ic.Data)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(doc), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "token: "); ok {
			if tok := strings.Trim(v, `"`); tok == ic.Key {
				return tok
			}
			t.Fatalf("the kubeconfig's token is not the issued key")
		}
	}
	t.Fatalf("no token in the kubeconfig:\n%s", doc)
	return ""
}

func TestWebhookAuthenticator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startServer(t)
	adm := s.admin

	for _, name := range []string{"prod", "staging"} {
		must(adm.CreateCluster(ctx, keyward.ClusterInput{Name: name, Server: "https://" + name + ".k8s.example:6443"}))(t)
	}
	must(adm.CreateProject(ctx, keyward.CreateProjectInput{Slug: "team"}))(t)
	// The API server's key: a role holding clusters:review only, given to a key of the system
	// project by the admin, whose global binding makes it global.
	must(adm.CreateRole(ctx, keyward.RoleInput{Name: "k8s-review", Permissions: []keyward.Permission{keyward.PermClustersReview}}))(t)
	reviewer := must(adm.CreateCredential(ctx, keyward.SystemProject, keyward.CreateCredentialInput{Name: "kube-apiserver", Roles: []string{"k8s-review"}}))(t)

	// alice holds Client and viewer in team and mints her kubeconfigs herself.
	const pw = "correct horse battery staple"
	must(adm.CreateUser(ctx, keyward.CreateUserInput{Name: "alice", Password: pw}))(t)
	must(adm.AddMember(ctx, "team", "alice", "Client"))(t)
	must(adm.AddMember(ctx, "team", "alice", "viewer"))(t)
	session := must(s.as("").Login(ctx, keyward.LoginInput{Name: "alice", Password: pw}))(t)
	alice := s.as(session.Key)
	mint := func(t *testing.T, name, cluster string, roles ...string) *keyward.IssuedCredential {
		t.Helper()
		ic := must(alice.CreateCredential(ctx, "team", keyward.CreateCredentialInput{
			Type: keyward.KubeToken, Name: name, VirtualK8sName: cluster, VirtualK8sNamespace: "web", Roles: roles,
		}))(t)
		if ic.Type != keyward.KubeToken || ic.Cluster != cluster || ic.Key == "" || ic.Data == "" {
			t.Fatalf("minted %+v", ic)
		}
		return ic
	}
	deploy := mint(t, "deploy", "prod", "Client", "viewer")
	tok := tokenOf(t, deploy)

	prod := s.authenticatorFor(t, "prod", reviewer.Key, "v1")
	accepted := func(t *testing.T, w *webhook.WebhookTokenAuthenticator, ctx context.Context, tok string) *authenticator.Response {
		t.Helper()
		resp, ok, err := w.AuthenticateToken(ctx, tok)
		if err != nil || !ok {
			t.Fatalf("token refused: ok=%v err=%v", ok, err)
		}
		return resp
	}
	refused := func(t *testing.T, w *webhook.WebhookTokenAuthenticator, tok, why string) {
		t.Helper()
		resp, ok, err := w.AuthenticateToken(ctx, tok)
		if ok || resp != nil {
			t.Fatalf("%s: token accepted as %+v", why, resp.User)
		}
		// The webhook's refusal reaches the API server as this error; it must say nothing
		// about why.
		if err == nil || err.Error() != httpapi.ReviewRefused {
			t.Fatalf("%s: error %v, want %q", why, err, httpapi.ReviewRefused)
		}
	}

	t.Run("OK", func(t *testing.T) {
		u := accepted(t, prod, ctx, tok).User
		if got, want := u.GetName(), "alice"; got != want {
			t.Errorf("username %q, want %q", got, want)
		}
		if got, want := u.GetGroups(), []string{"Client", "viewer", "keyward:team:Client", "keyward:team:viewer"}; !slices.Equal(got, want) {
			t.Errorf("groups %q, want %q", got, want)
		}
		if u.GetUID() == "" {
			t.Error("no uid")
		}
		extra := u.GetExtra()
		if got := extra[authority.ExtraProject]; !slices.Equal(got, []string{"team"}) {
			t.Errorf("extra project %q", got)
		}
		if got := extra[authority.ExtraCredential]; !slices.Equal(got, []string{"deploy"}) {
			t.Errorf("extra credential %q", got)
		}
	})

	t.Run("V1beta1", func(t *testing.T) {
		u := accepted(t, s.authenticatorFor(t, "prod", reviewer.Key, "v1beta1"), ctx, tok).User
		if got := u.GetName(); got != "alice" {
			t.Errorf("username %q", got)
		}
	})

	t.Run("Audiences", func(t *testing.T) {
		// A token for the API server is accepted for its own audience, which the API server
		// implies when keyward names none, and for no other.
		resp := accepted(t, prod, authenticator.WithAudiences(ctx, authenticator.Audiences{apiAudience}), tok)
		if !slices.Equal(resp.Audiences, authenticator.Audiences{apiAudience}) {
			t.Errorf("audiences %q", resp.Audiences)
		}
		if resp, ok, err := prod.AuthenticateToken(authenticator.WithAudiences(ctx, authenticator.Audiences{"vault"}), tok); ok || err != nil {
			t.Errorf("audience vault: ok=%v err=%v resp=%+v", ok, err, resp)
		}
	})

	t.Run("ErrOtherCluster", func(t *testing.T) {
		other := mint(t, "deploy-staging", "staging", "viewer")
		refused(t, prod, other.Key, "a staging token at prod")
		staging := s.authenticatorFor(t, "staging", reviewer.Key, "v1")
		accepted(t, staging, ctx, other.Key)
		refused(t, staging, tok, "a prod token at staging")
	})

	t.Run("ErrNotAKubeToken", func(t *testing.T) {
		key := must(alice.CreateCredential(ctx, "team", keyward.CreateCredentialInput{Name: "plain", Roles: []string{"viewer"}}))(t)
		refused(t, prod, key.Key, "an API_TOKEN")
		refused(t, prod, reviewer.Key, "the reviewer's own key")
		refused(t, prod, session.Key, "a login session")
		refused(t, prod, "kw_live_notatoken", "garbage")
		refused(t, prod, "", "empty")
	})

	t.Run("ErrKubeTokenElsewhere", func(t *testing.T) {
		// The cluster's API server sees every token: one opens that cluster and nothing else.
		if _, err := s.as(tok).Whoami(ctx); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Errorf("keyward API with a KUBE_TOKEN: %v", err)
		}
		v := must(adm.Verify(ctx, tok))(t)
		if v.Valid || v.Code != keyward.CodeNotFound {
			t.Errorf("/v1/verify of a KUBE_TOKEN: %+v", v)
		}
	})

	t.Run("ErrReviewer", func(t *testing.T) {
		// A key without clusters:review is no reviewer: the API server gets an error, not
		// an answer, and the token is not authenticated.
		plain := must(adm.CreateCredential(ctx, keyward.SystemProject, keyward.CreateCredentialInput{Name: "not-a-reviewer", Roles: []string{"viewer"}}))(t)
		w := s.authenticatorFor(t, "prod", plain.Key, "v1")
		if resp, ok, err := w.AuthenticateToken(ctx, tok); ok || err == nil {
			t.Errorf("reviewed by a key without clusters:review: ok=%v err=%v resp=%+v", ok, err, resp)
		}
		w = s.authenticatorFor(t, "no-such-cluster", reviewer.Key, "v1")
		if resp, ok, err := w.AuthenticateToken(ctx, tok); ok || err == nil {
			t.Errorf("review of an unknown cluster: ok=%v err=%v resp=%+v", ok, err, resp)
		}
	})

	t.Run("LostRoleAtOnce", func(t *testing.T) {
		ic := mint(t, "deploy-lost", "prod", "Client", "viewer")
		accepted(t, prod, ctx, ic.Key)
		if err := adm.RemoveMember(ctx, "team", "alice", "Client"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { must(adm.AddMember(ctx, "team", "alice", "Client"))(t) })
		if got, want := accepted(t, prod, ctx, ic.Key).User.GetGroups(), []string{"viewer", "keyward:team:viewer"}; !slices.Equal(got, want) {
			t.Errorf("groups after alice lost Client: %q, want %q", got, want)
		}
	})

	t.Run("RoleByName", func(t *testing.T) {
		// Client grants all that viewer does, but a cluster grants by the role's name: once
		// alice is no longer bound to viewer, her token stops being in the group.
		ic := mint(t, "deploy-named", "prod", "viewer")
		if err := adm.RemoveMember(ctx, "team", "alice", "viewer"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { must(adm.AddMember(ctx, "team", "alice", "viewer"))(t) })
		if got := accepted(t, prod, ctx, ic.Key).User.GetGroups(); len(got) != 0 {
			t.Errorf("groups after alice lost viewer: %q, want none", got)
		}
	})

	t.Run("ErrRevoked", func(t *testing.T) {
		ic := mint(t, "deploy-revoked", "prod", "viewer")
		accepted(t, prod, ctx, ic.Key)
		must(adm.RevokeCredential(ctx, "team", "deploy-revoked"))(t)
		refused(t, prod, ic.Key, "revoked")
	})

	t.Run("ErrDisabled", func(t *testing.T) {
		ic := mint(t, "deploy-disabled", "prod", "viewer")
		accepted(t, prod, ctx, ic.Key)
		off := false
		must(adm.UpdateCredential(ctx, "team", "deploy-disabled", keyward.UpdateCredentialInput{Active: &off}))(t)
		refused(t, prod, ic.Key, "disabled")
	})

	t.Run("ErrUsesSpent", func(t *testing.T) {
		two := int64(2)
		ic := must(alice.CreateCredential(ctx, "team", keyward.CreateCredentialInput{
			Type: keyward.KubeToken, Name: "deploy-counted", VirtualK8sName: "prod", VirtualK8sNamespace: "web",
			Roles: []string{"viewer"}, Remaining: &two,
		}))(t)
		accepted(t, prod, ctx, ic.Key)
		accepted(t, prod, ctx, ic.Key)
		refused(t, prod, ic.Key, "uses spent")
	})

	t.Run("RollAndRenew", func(t *testing.T) {
		ic := mint(t, "deploy-rolled", "prod", "viewer")
		rolled := must(alice.RollCredential(ctx, "team", "deploy-rolled", keyward.RollInput{}))(t)
		refused(t, prod, ic.Key, "the rolled-away token")
		accepted(t, prod, ctx, tokenOf(t, rolled))
		days := int64(7)
		must(adm.RenewCredential(ctx, "team", "deploy-rolled", keyward.RenewInput{ExpirationDays: &days}))(t)
		accepted(t, prod, ctx, rolled.Key)
	})

	// Last: it disables alice, whose tokens the other subtests use.
	t.Run("ErrCreatorDisabled", func(t *testing.T) {
		accepted(t, prod, ctx, tok)
		yes := true
		must(adm.UpdateUser(ctx, "alice", keyward.UpdateUserInput{Disabled: &yes}))(t)
		refused(t, prod, tok, "creator disabled")
	})
}
