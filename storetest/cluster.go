package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

const testCAPEM = "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBATAKBggqhkjOPQQDAjAAMB4XDTMwMDEwMjAzMDQwNVoX\n-----END CERTIFICATE-----\n"

// newCluster returns an unsaved cluster named name; clientCA nil means keyward's own CA.
func newCluster(name string, clientCA []byte) *keyward.Cluster {
	return &keyward.Cluster{Name: name, Server: "https://" + name + ".k8s.example:6443", CAPEM: testCAPEM,
		ClientCA: clientCA, CreatedAt: at(time.Second)}
}

// cluster creates a cluster.
func (f *fixture) cluster(t *testing.T, name string, clientCA []byte) *keyward.Cluster {
	t.Helper()
	cl := newCluster(name, clientCA)
	if err := f.s.CreateCluster(t.Context(), cl, f.event("cluster.create")); err != nil {
		t.Fatalf("CreateCluster(%q): %v", name, err)
	}
	return cl
}

// checkCluster fails t when got differs from want.
func checkCluster(t *testing.T, got, want *keyward.Cluster) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Server != want.Server || got.CAPEM != want.CAPEM ||
		!bytes.Equal(got.ClientCA, want.ClientCA) || (got.ClientCA == nil) != (want.ClientCA == nil) ||
		!sameTime(&got.CreatedAt, &want.CreatedAt) {
		t.Fatalf("cluster differs:\n got %+v\nwant %+v", *got, *want)
	}
}

func clusterNames(cls []*keyward.Cluster) []string {
	ns := []string{}
	for _, cl := range cls {
		ns = append(ns, cl.Name)
	}
	return ns
}

func testClusters(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("CreateOK", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			clientCA []byte
			want     []byte
		}{
			{"OwnClientCA", sealed("client-ca"), sealed("client-ca")},
			{"KeywardCA", nil, nil},
			{"EmptyClientCA", []byte{}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := setup(t, open)
				cl := newCluster("prod", tc.clientCA)
				ev := f.event("cluster.create")
				ev.Detail = map[string]string{"server": cl.Server}
				callerDetail := ev.Detail
				if err := f.s.CreateCluster(t.Context(), cl, ev); err != nil {
					t.Fatalf("CreateCluster: %v", err)
				}
				if cl.ID <= 0 {
					t.Fatalf("ID = %d, want > 0", cl.ID)
				}
				if got, want := ev.Detail["cluster_id"], strconv.FormatInt(cl.ID, 10); got != want {
					t.Fatalf("event Detail[cluster_id] = %q, want %q", got, want)
				}
				if got, want := ev.Detail["server"], cl.Server; got != want {
					t.Fatalf("event Detail[server] = %q, want the caller's %q", got, want)
				}
				if _, ok := callerDetail["cluster_id"]; ok {
					t.Fatal("CreateCluster modified the caller's Detail map")
				}
				f.wantNewestEvent(t, ev)
				got, err := f.s.ClusterByName(t.Context(), "prod")
				if err != nil {
					t.Fatalf("ClusterByName: %v", err)
				}
				want := *cl
				want.ClientCA = tc.want
				checkCluster(t, got, &want)
			})
		}
	})

	t.Run("CreateKeepsCallerID", func(t *testing.T) {
		f := setup(t, open)
		cl := newCluster("prod", nil)
		ev := f.event("cluster.create")
		ev.Detail = map[string]string{"cluster_id": "mine"}
		if err := f.s.CreateCluster(t.Context(), cl, ev); err != nil {
			t.Fatalf("CreateCluster: %v", err)
		}
		if got, want := ev.Detail["cluster_id"], "mine"; got != want {
			t.Fatalf("event Detail[cluster_id] = %q, want the caller's %q", got, want)
		}
	})

	t.Run("ErrNameTaken", func(t *testing.T) {
		f := setup(t, open)
		first := f.cluster(t, "prod", nil)
		before := len(f.events(t))
		cl := newCluster("prod", sealed("other"))
		cl.Server = "https://elsewhere:6443"
		sent := *cl
		ev := f.event("cluster.create")
		wantCode(t, f.s.CreateCluster(t.Context(), cl, ev), keyward.EConflict)
		f.wantNoEvent(t, before, ev)
		if ev.Detail != nil {
			t.Fatalf("failed create set event Detail %v", ev.Detail)
		}
		checkCluster(t, cl, &sent)
		got, err := f.s.ClusterByName(t.Context(), "prod")
		if err != nil {
			t.Fatalf("ClusterByName: %v", err)
		}
		checkCluster(t, got, first)
	})

	t.Run("ClusterByNameErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		f.cluster(t, "prod", nil)
		for _, name := range []string{"staging", "", "PROD"} {
			_, err := f.s.ClusterByName(t.Context(), name)
			wantCode(t, err, keyward.ENotFound)
		}
	})

	t.Run("List", func(t *testing.T) {
		f := setup(t, open)
		empty, err := f.s.ListClusters(t.Context())
		if err != nil {
			t.Fatalf("ListClusters: %v", err)
		}
		if empty == nil || len(empty) != 0 {
			t.Fatalf("ListClusters on an empty store = %#v, want an empty non-nil slice", empty)
		}
		byName := map[string]*keyward.Cluster{}
		for i, name := range []string{"staging", "dev", "prod-eu", "prod"} {
			var ca []byte
			if i%2 == 0 {
				ca = sealed(name)
			}
			byName[name] = f.cluster(t, name, ca)
		}
		cls, err := f.s.ListClusters(t.Context())
		if err != nil {
			t.Fatalf("ListClusters: %v", err)
		}
		if got, want := clusterNames(cls), []string{"dev", "prod", "prod-eu", "staging"}; !slices.Equal(got, want) {
			t.Fatalf("ListClusters = %v, want %v", got, want)
		}
		for _, cl := range cls {
			checkCluster(t, cl, byName[cl.Name])
		}
	})

	t.Run("DeleteOK", func(t *testing.T) {
		f := setup(t, open)
		cl := f.cluster(t, "prod", sealed("ca"))
		kept := f.cluster(t, "staging", nil)
		c := f.certCredential(t, f.system, "kube", "0d01", func(c *keyward.Credential) {
			c.Type, c.Cluster, c.Namespace = keyward.KubeConfig, "prod", "web"
		})
		ev := f.event("cluster.delete")
		ev.Detail = map[string]string{"cluster": "prod"}
		if err := f.s.DeleteCluster(t.Context(), cl.ID, ev); err != nil {
			t.Fatalf("DeleteCluster: %v", err)
		}
		f.wantNewestEvent(t, ev)
		_, err := f.s.ClusterByName(t.Context(), "prod")
		wantCode(t, err, keyward.ENotFound)
		cls, err := f.s.ListClusters(t.Context())
		if err != nil {
			t.Fatalf("ListClusters: %v", err)
		}
		if got, want := clusterNames(cls), []string{"staging"}; !slices.Equal(got, want) {
			t.Fatalf("ListClusters = %v, want %v", got, want)
		}
		checkCluster(t, cls[0], kept)
		// Credentials issued for the cluster keep its name.
		checkCredential(t, f.reread(t, c), c)
		// The name is free again.
		again := f.cluster(t, "prod", nil)
		if again.ID == cl.ID {
			t.Fatalf("a new cluster reused the deleted id %d", cl.ID)
		}
	})

	t.Run("DeleteErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		cl := f.cluster(t, "prod", nil)
		if err := f.s.DeleteCluster(t.Context(), cl.ID, f.event("cluster.delete")); err != nil {
			t.Fatalf("DeleteCluster: %v", err)
		}
		for _, id := range []int64{999999, cl.ID} {
			t.Run(fmt.Sprint(id), func(t *testing.T) {
				before := len(f.events(t))
				ev := f.event("cluster.delete")
				wantCode(t, f.s.DeleteCluster(t.Context(), id, ev), keyward.ENotFound)
				f.wantNoEvent(t, before, ev)
			})
		}
	})
}
