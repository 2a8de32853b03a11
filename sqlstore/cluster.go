package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/keyward/keyward"
)

const clusterColumns = `id, name, server, ca_pem, client_ca, created_at`

func scanCluster(row interface{ Scan(...any) error }) (*keyward.Cluster, error) {
	var cl keyward.Cluster
	var created Time
	if err := row.Scan(&cl.ID, &cl.Name, &cl.Server, &cl.CAPEM, &cl.ClientCA, &created); err != nil {
		return nil, err
	}
	if len(cl.ClientCA) == 0 {
		cl.ClientCA = nil
	}
	cl.CreatedAt = created.T
	return &cl, nil
}

// CreateCluster stores cl and ev. It sets cl.ID and ev.ID, and records the new id in
// ev.Detail["cluster_id"] unless the caller set that key. An empty ClientCA is stored as none.
// EConflict when the name is taken.
func (s *Store) CreateCluster(ctx context.Context, cl *keyward.Cluster, ev *keyward.Event) error {
	if err := keyward.CheckText(cl); err != nil {
		return err
	}
	ncl, nev := *cl, *ev
	err := s.change(ctx, "create cluster", &nev, func(tx *txn) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO clusters (name, server, ca_pem, client_ca, created_at)
			VALUES (?, ?, ?, ?, ?) RETURNING id`, ncl.Name, ncl.Server, ncl.CAPEM, nullBlob(ncl.ClientCA),
			ncl.CreatedAt).Scan(&ncl.ID)
		if tx.isUnique(err) {
			return keyward.Errorf(keyward.EConflict, "cluster name already taken")
		}
		if err != nil {
			return err
		}
		nev = withDetailID(nev, "cluster_id", ncl.ID)
		return nil
	})
	if err != nil {
		return err
	}
	*cl, *ev = ncl, nev
	return nil
}

// ClusterByName returns the cluster named name. ENotFound.
func (s *Store) ClusterByName(ctx context.Context, name string) (*keyward.Cluster, error) {
	if !keyward.ValidText(name) {
		return nil, keyward.Errorf(keyward.ENotFound, "cluster not found")
	}
	cl, err := scanCluster(s.reader().QueryRowContext(ctx, `SELECT `+clusterColumns+` FROM clusters WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "cluster not found")
	}
	return cl, s.fail(ctx, "cluster by name", err)
}

// ListClusters returns every cluster by name; never nil.
func (s *Store) ListClusters(ctx context.Context) ([]*keyward.Cluster, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT `+clusterColumns+` FROM clusters ORDER BY name`)
	cls, err := scanRows(rows, err, scanCluster)
	return cls, s.fail(ctx, "list clusters", err)
}

// DeleteCluster deletes the cluster id and stores ev, then sets ev.ID. Credentials issued for
// it keep its name. ENotFound.
func (s *Store) DeleteCluster(ctx context.Context, id int64, ev *keyward.Event) error {
	err := s.change(ctx, "delete cluster", ev, func(tx *txn) error {
		ok, err := oneRow(tx.ExecContext(ctx, `DELETE FROM clusters WHERE id = ?`, id))
		if err != nil {
			return err
		}
		if !ok {
			return keyward.Errorf(keyward.ENotFound, "cluster not found")
		}
		return nil
	})
	return err
}
