package authority

import (
	"context"
	"encoding/base64"
	"strconv"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/ca"
)

// A KUBE_TOKEN is a keyward token in a kubeconfig. The cluster's API server, configured with
// keyward as its token webhook (--authentication-token-webhook-config-file), asks keyward at
// each request who the token is (ReviewToken). The token opens its own cluster and nothing
// else: no other cluster's review, no /v1/verify or gateway check, no keyward API call.

// Extra attribute names a review answers with: where the credential lives, for the cluster's
// audit log.
const (
	ExtraProject      = "keyward.dev/project"
	ExtraCredential   = "keyward.dev/credential"
	ExtraCredentialID = "keyward.dev/credential-id"
)

// kubeFields are what verification keeps about a KUBE_TOKEN: its cluster and who it is there.
type kubeFields struct {
	cluster  string
	username string
	uid      string
	groups   []string
}

// clusterOf returns the cluster named name, ENotFound naming it when there is none.
func (a *Authority) clusterOf(ctx context.Context, name string) (*keyward.Cluster, error) {
	cl, err := a.store.ClusterByName(ctx, name)
	if isCode(err, keyward.ENotFound) {
		return nil, keyward.Errorf(keyward.ENotFound, "virtual cluster %q not found", name)
	}
	return cl, err
}

// kubeTokenConfig renders the kubeconfig, base64, of KUBE_TOKEN cred created by creator, whose
// token is key.
func (a *Authority) kubeTokenConfig(ctx context.Context, cred *keyward.Credential, creator *keyward.User, key string) (string, error) {
	cl, err := a.clusterOf(ctx, cred.Cluster)
	if err != nil {
		return "", err
	}
	out, err := ca.Kubeconfig(ca.KubeconfigInput{
		ClusterName: cl.Name, Server: cl.Server, ClusterCAPEM: []byte(cl.CAPEM),
		UserName: creator.Name, Token: key, Namespace: cred.Namespace,
	})
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(out), nil
}

// kubeOf is what KUBE_TOKEN cred is at its cluster, from its creator's current bindings: its
// user name (the creator's, as a KUBE_CONFIG certificate's CN) and its groups. Those are the
// names of its roles that the creator is still bound to in its project or globally (as its
// certificate's O; a cluster grants by the role's name, so a role the creator lost stops
// counting at once, even when another binding grants the same permissions: the rule of
// followsCreator), then the same roles qualified by the project, ScopedGroup. bindings are the
// creator's, byID every role by id.
func kubeOf(cred *keyward.Credential, creator *keyward.User, byID map[int64]*keyward.Role, bindings []keyward.RoleBinding) *kubeFields {
	k := &kubeFields{cluster: cred.Cluster, username: creator.Name, uid: "keyward:user:" + strconv.FormatInt(creator.ID, 10)}
	var scoped []string
	for _, id := range cred.RoleIDs {
		r := byID[id]
		if r == nil {
			continue
		}
		for _, b := range bindings {
			if b.RoleID == id && (b.ProjectID == 0 || b.ProjectID == cred.ProjectID) {
				k.groups = append(k.groups, r.Name)
				scoped = append(scoped, ScopedGroup(cred.Project, r.Name))
				break
			}
		}
	}
	k.groups = append(k.groups, scoped...)
	return k
}

// ScopedGroup is the group a KUBE_TOKEN of project with role is in besides the role's plain
// name: role names are global, so a cluster that binds the plain name grants it to holders of
// that role in every project, and one that binds this grants it only to those of project.
// Neither a slug nor a role name holds a ':', so no two pairs give the same group.
func ScopedGroup(project, role string) string { return "keyward:" + project + ":" + role }

// ReviewToken answers a TokenReview of cluster's API server about key: who the key is there,
// or nil when it is not a valid KUBE_TOKEN of that cluster (unknown, of another cluster or no
// cluster, revoked, disabled, expired, its creator disabled or without the rights it gave it,
// rate limited or out of uses), with the verification code, which the cluster must not be told
// (for metrics). It goes through verification (cache, limits, usage) as /v1/verify does. The
// caller needs clusters:review. A review of a cluster that does not exist is ENotFound, so that
// a webhook pointed at a wrong URL is told; that is looked up only for a refused key, so that
// an accepted one costs no store read.
func (a *Authority) ReviewToken(ctx context.Context, cluster, key string) (*keyward.KubeUser, string, error) {
	if err := a.authorize(ctx, keyward.PermClustersReview, nil); err != nil {
		return nil, "", err
	}
	v, e, err := a.verify(ctx, keyward.VerifyInput{Key: key}, func(int64, string) bool { return true }, cluster)
	if err != nil {
		return nil, "", err
	}
	if !v.Valid || e == nil || e.kube() == nil {
		if _, err := a.clusterOf(ctx, cluster); err != nil {
			return nil, "", err
		}
		return nil, v.Code, nil
	}
	k := e.kube()
	return &keyward.KubeUser{
		Username: k.username, UID: k.uid, Groups: append([]string(nil), k.groups...),
		Extra: map[string][]string{
			ExtraProject: {v.Project}, ExtraCredential: {v.Name},
			ExtraCredentialID: {strconv.FormatInt(v.CredentialID, 10)},
		},
	}, v.Code, nil
}
