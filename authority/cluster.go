package authority

import (
	"context"
	"encoding/pem"
	"net/url"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/ca"
)

// CreateCluster registers a virtual cluster. It needs clusters:admin.
func (a *Authority) CreateCluster(ctx context.Context, in keyward.ClusterInput) (*keyward.Cluster, error) {
	if err := a.authorize(ctx, keyward.PermClustersAdmin, nil); err != nil {
		return nil, err
	}
	fe := fieldErrors{}
	if !keyward.ValidName(in.Name) {
		fe.add("name", keyward.NameRule)
	}
	if u, err := url.Parse(in.Server); err != nil || u.Scheme != "https" || u.Host == "" {
		fe.add("server", "must be an https URL")
	}
	if in.CertificateAuthority != "" {
		if b, _ := pem.Decode([]byte(in.CertificateAuthority)); b == nil || b.Type != "CERTIFICATE" {
			fe.add("certificate_authority", "must be PEM certificates")
		}
	}
	if (in.ClientCACert == "") != (in.ClientCAKey == "") {
		fe.add("client_ca_key", "client_ca_cert and client_ca_key go together")
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	now := a.clock()
	cl := &keyward.Cluster{Name: in.Name, Server: in.Server, CAPEM: in.CertificateAuthority, CreatedAt: now}
	if in.ClientCACert != "" {
		if a.mk == nil {
			return nil, errNoCA
		}
		c, err := ca.Import([]byte(in.ClientCACert), []byte(in.ClientCAKey), a.now)
		if err != nil {
			return nil, err
		}
		if cl.ClientCA, err = c.Marshal(a.mk); err != nil {
			return nil, err
		}
	}
	ev := a.event(ctx, "cluster.create", 0, 0, now)
	ev.Detail = map[string]string{"cluster": in.Name}
	if err := a.store.CreateCluster(ctx, cl, ev); err != nil {
		return nil, err
	}
	return cl, nil
}

// Clusters lists the virtual clusters; any authenticated caller may.
func (a *Authority) Clusters(ctx context.Context) ([]*keyward.Cluster, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	return a.store.ListClusters(ctx)
}

// Cluster returns one virtual cluster.
func (a *Authority) Cluster(ctx context.Context, name string) (*keyward.Cluster, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	return a.store.ClusterByName(ctx, name)
}

// ClusterClientCAPEM returns the chain of the CA that signs a cluster's client certificates:
// what the cluster's API server must trust.
func (a *Authority) ClusterClientCAPEM(ctx context.Context, name string) ([]byte, error) {
	cl, err := a.store.ClusterByName(ctx, name)
	if err != nil {
		return nil, err
	}
	if cl.ClientCA == nil {
		return a.CAChainPEM()
	}
	c, err := ca.Unmarshal(cl.ClientCA, a.mk, a.now)
	if err != nil {
		return nil, err
	}
	return c.ChainPEM(), nil
}

// DeleteCluster removes a virtual cluster. It needs clusters:admin.
func (a *Authority) DeleteCluster(ctx context.Context, name string) error {
	if err := a.authorize(ctx, keyward.PermClustersAdmin, nil); err != nil {
		return err
	}
	cl, err := a.store.ClusterByName(ctx, name)
	if err != nil {
		return err
	}
	ev := a.event(ctx, "cluster.delete", 0, 0, a.clock())
	ev.Detail = map[string]string{"cluster": name}
	return a.store.DeleteCluster(ctx, cl.ID, ev)
}
