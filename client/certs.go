package client

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"

	"github.com/keyward/keyward"
)

// This file holds the calls of project settings, recoverable keys, the certificate authority
// and virtual clusters.

// The media types of the certificate material the server serves.
const (
	pemType = "application/x-pem-file"
	crlType = "application/pkix-crl"
)

// UpdateProject changes the fields of project (slug or id) that in sets: its name, and whether
// the API tokens created or rolled from then on are recoverable (see RevealKey). It needs
// projects:admin there.
func (c *Client) UpdateProject(ctx context.Context, project string, in keyward.UpdateProjectInput) (*keyward.Project, error) {
	p, err := projectPath(project)
	if err != nil {
		return nil, err
	}
	var out keyward.Project
	if err := c.do(ctx, request{method: http.MethodPatch, path: p, body: in}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevealKey returns the key of credential ref again, when its project keeps recoverable keys
// and the key was created or rolled since. It needs keys:reveal, and the server audits every
// reveal.
func (c *Client) RevealKey(ctx context.Context, project, ref string) (*keyward.RevealedKey, error) {
	p, err := credentialPath(project, ref)
	if err != nil {
		return nil, err
	}
	var out keyward.RevealedKey
	if err := c.do(ctx, request{method: http.MethodPost, path: p + "/reveal"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CAChainPEM returns the certificates of keyward's CA in PEM, signing certificate first: what
// `curl --cacert` trusts for a server certificate issued by keyward, and what verifies the
// client certificates it issues. The endpoint is public.
func (c *Client) CAChainPEM(ctx context.Context) ([]byte, error) {
	return c.fetchPEM(ctx, "/v1/ca.pem", "CERTIFICATE")
}

// ClusterCAPEM returns, in PEM, the chain of the CA that signs the client certificates of the
// KUBE_CONFIG credentials of virtual cluster name: what the cluster's API server must trust
// (kube-apiserver --client-ca-file). It is keyward's own CA unless the cluster was registered
// with a client CA of its own. The endpoint is public.
func (c *Client) ClusterCAPEM(ctx context.Context, name string) ([]byte, error) {
	p, err := clusterPath(name)
	if err != nil {
		return nil, err
	}
	return c.fetchPEM(ctx, p+"/ca.pem", "CERTIFICATE")
}

// CRL returns the certificate revocation list: DER, or PEM when asPEM is true. With an empty
// cluster it is signed by keyward's CA; with a cluster's name, by the CA that signs that
// cluster's client certificates. The endpoint is public.
func (c *Client) CRL(ctx context.Context, cluster string, asPEM bool) ([]byte, error) {
	path, err := crlPath(cluster)
	if err != nil {
		return nil, err
	}
	if asPEM {
		return c.fetchPEM(ctx, path, "X509 CRL")
	}
	r := request{method: http.MethodGet, path: path, accept: crlType}
	var out []byte
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	if _, err := x509.ParseRevocationList(out); err != nil {
		return nil, c.unreadable(r, errors.New("the answer is not a DER CRL"))
	}
	return out, nil
}

// crlPath is the CRL endpoint of keyward's CA, or of cluster's when not empty.
func crlPath(cluster string) (string, error) {
	if cluster == "" {
		return "/v1/crl", nil
	}
	p, err := clusterPath(cluster)
	if err != nil {
		return "", err
	}
	return p + "/crl", nil
}

// CRLChain fetches every CRL of the chain (GET /v1/crl?chain=true, or a cluster's), PEM: what
// a relying party that checks the whole chain (nginx ssl_crl) is given.
func (c *Client) CRLChain(ctx context.Context, cluster string) ([]byte, error) {
	path, err := crlPath(cluster)
	if err != nil {
		return nil, err
	}
	return c.fetchPEM(ctx, path+"?chain=true", "X509 CRL")
}

// fetchPEM fetches a PEM document at path whose first block must be of type block.
func (c *Client) fetchPEM(ctx context.Context, path, block string) ([]byte, error) {
	r := request{method: http.MethodGet, path: path, accept: pemType}
	var out []byte
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	if b, _ := pem.Decode(out); b == nil || b.Type != block {
		return nil, c.unreadable(r, errors.New("the answer is not PEM of type "+block))
	}
	return out, nil
}

// unreadable is the TransportError of a success answer whose body is not what was asked for.
func (c *Client) unreadable(r request, err error) error {
	return &TransportError{Method: r.method, URL: c.redact(c.base+r.path, &r), Err: err}
}

// CreateCluster registers a virtual cluster that KUBE_CONFIG credentials can point at. It needs
// clusters:admin. With in.ClientCACert and in.ClientCAKey (PEM) that CA signs the cluster's
// client certificates; without, keyward's own CA does.
func (c *Client) CreateCluster(ctx context.Context, in keyward.ClusterInput) (*keyward.Cluster, error) {
	var out keyward.Cluster
	r := request{method: http.MethodPost, path: "/v1/clusters", body: in, passwords: []string{in.ClientCAKey}}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Clusters returns every virtual cluster.
func (c *Client) Clusters(ctx context.Context) ([]keyward.Cluster, error) {
	return list[keyward.Cluster](ctx, c, "/v1/clusters")
}

// Cluster returns the virtual cluster name.
func (c *Client) Cluster(ctx context.Context, name string) (*keyward.Cluster, error) {
	p, err := clusterPath(name)
	if err != nil {
		return nil, err
	}
	var out keyward.Cluster
	if err := c.do(ctx, request{method: http.MethodGet, path: p}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteCluster removes the virtual cluster name. It needs clusters:admin.
func (c *Client) DeleteCluster(ctx context.Context, name string) error {
	p, err := clusterPath(name)
	if err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodDelete, path: p}, nil)
}

func clusterPath(name string) (string, error) {
	s, err := segment("cluster", name)
	if err != nil {
		return "", err
	}
	return "/v1/clusters/" + s, nil
}
