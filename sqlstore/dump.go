package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/snapshot"
)

// This file is what "keyward migrate" needs beyond keyward.Store: the schema version of a
// file, and the whole store as a snapshot.Snapshot, out and in, for copying a deployment to
// another store (PostgreSQL) and back.
//
// Sealed values (recoverable keys, clusters' client CAs, the CA's state in settings) are copied
// as they are stored: the target needs the source's master key.

var (
	_ snapshot.Exporter = (*Store)(nil)
	_ snapshot.Importer = (*Store)(nil)
)

// Export reads every row of the store in one read-only REPEATABLE READ transaction (on SQLite
// one WAL snapshot), so that the tables agree with each other, in the order snapshot.Snapshot
// documents. It is for "keyward migrate copy", not for serving: it holds the whole database in
// memory.
func (s *Store) Export(ctx context.Context) (*snapshot.Snapshot, error) {
	if s.e.closed.Load() {
		return nil, errClosed()
	}
	if s.tx != nil {
		// Bound by WithTx: the transaction's own view, writes included.
		snap := &snapshot.Snapshot{}
		if err := export(ctx, &txn{conn{s.e, s.tx.tx}, s.tx.tx, &s.tx.ch}, snap); err != nil {
			return nil, s.fail(ctx, "export", err)
		}
		return snap, nil
	}
	tx, err := s.e.read.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, s.fail(ctx, "export", err)
	}
	defer tx.Rollback()
	snap := &snapshot.Snapshot{}
	if err := export(ctx, &txn{conn{s.e, tx}, tx, &changes{}}, snap); err != nil {
		return nil, s.fail(ctx, "export", err)
	}
	return snap, nil
}

func export(ctx context.Context, tx *txn, snap *snapshot.Snapshot) error {
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&snap.SchemaVersion); err != nil {
		return err
	}
	var err error
	if snap.Projects, err = collect(ctx, tx, `SELECT id, slug, name, created_at, recoverable_keys FROM projects ORDER BY id`,
		func(row rowScanner) (keyward.Project, error) {
			var p keyward.Project
			var created Time
			err := row.Scan(&p.ID, &p.Slug, &p.Name, &created, &p.RecoverableKeys)
			p.CreatedAt = created.T
			return p, err
		}); err != nil {
		return err
	}
	if snap.Users, err = collect(ctx, tx, `SELECT id, name, disabled, created_at, updated_at, deleted_at,
		COALESCE(password_hash, '') FROM users ORDER BY id`,
		func(row rowScanner) (snapshot.User, error) {
			var u snapshot.User
			var created, updated Time
			var deleted Time
			err := row.Scan(&u.ID, &u.Name, &u.Disabled, &created, &updated, &deleted, &u.PasswordHash)
			u.CreatedAt, u.UpdatedAt, u.DeletedAt = created.T, updated.T, deleted.Ptr()
			u.HasPassword = u.PasswordHash != ""
			return u, err
		}); err != nil {
		return err
	}
	if snap.Roles, err = collect(ctx, tx, `SELECT id, name, permissions, built_in FROM roles ORDER BY id`,
		func(row rowScanner) (keyward.Role, error) {
			var r keyward.Role
			var perms string
			if err := row.Scan(&r.ID, &r.Name, &perms, &r.BuiltIn); err != nil {
				return r, err
			}
			if err := json.Unmarshal([]byte(perms), &r.Permissions); err != nil {
				return r, fmt.Errorf("sqlstore: role %d permissions: %w", r.ID, err)
			}
			if r.Permissions == nil {
				r.Permissions = []keyward.Permission{}
			}
			return r, nil
		}); err != nil {
		return err
	}
	if snap.RoleBindings, err = collect(ctx, tx, `SELECT user_id, COALESCE(project_id, 0), role_id FROM role_bindings
		ORDER BY user_id, COALESCE(project_id, 0), role_id`,
		func(row rowScanner) (keyward.RoleBinding, error) {
			var b keyward.RoleBinding
			err := row.Scan(&b.UserID, &b.ProjectID, &b.RoleID)
			return b, err
		}); err != nil {
		return err
	}
	if snap.Credentials, err = collect(ctx, tx, `SELECT `+tx.e.credentialColumns+credentialFrom+` ORDER BY c.id`,
		func(row rowScanner) (keyward.Credential, error) {
			c, err := scanCredential(row)
			if err != nil {
				return keyward.Credential{}, err
			}
			return *c, nil
		}); err != nil {
		return err
	}
	if snap.Secrets, err = collect(ctx, tx, `SELECT digest, credential_id, valid_until, created_at, sealed
		FROM credential_secrets ORDER BY credential_id, digest`,
		func(row rowScanner) (keyward.CredentialSecret, error) {
			var sec keyward.CredentialSecret
			var until Time
			var created Time
			err := row.Scan(&sec.Digest, &sec.CredentialID, &until, &created, &sec.Sealed)
			sec.ValidUntil, sec.CreatedAt = until.Ptr(), created.T
			if len(sec.Sealed) == 0 {
				sec.Sealed = nil
			}
			return sec, err
		}); err != nil {
		return err
	}
	if snap.Certificates, err = collect(ctx, tx, `SELECT `+certificateColumns+` FROM certificates k ORDER BY k.serial`,
		func(row rowScanner) (keyward.Certificate, error) {
			var ks certificateScan
			if err := row.Scan(ks.dest()...); err != nil {
				return keyward.Certificate{}, err
			}
			return *ks.certificate(), nil
		}); err != nil {
		return err
	}
	if snap.Clusters, err = collect(ctx, tx, `SELECT `+clusterColumns+` FROM clusters ORDER BY id`,
		func(row rowScanner) (keyward.Cluster, error) {
			cl, err := scanCluster(row)
			if err != nil {
				return keyward.Cluster{}, err
			}
			return *cl, nil
		}); err != nil {
		return err
	}
	// BINARY collation: keys in byte order, as snapshot.Snapshot documents.
	if snap.Settings, err = collect(ctx, tx, `SELECT key, value, updated_at FROM settings ORDER BY key`,
		func(row rowScanner) (snapshot.Setting, error) {
			var st snapshot.Setting
			var updated Time
			err := row.Scan(&st.Key, &st.Value, &updated)
			st.UpdatedAt = updated.T
			if st.Value == nil {
				st.Value = []byte{}
			}
			return st, err
		}); err != nil {
		return err
	}
	if snap.Events, err = collect(ctx, tx, `SELECT id, time, actor_user_id, actor_credential_id, actor, action,
		project_id, credential_id, remote_addr, outcome, detail FROM events ORDER BY id`,
		func(row rowScanner) (keyward.Event, error) {
			var ev keyward.Event
			var t Time
			var detail sql.NullString
			if err := row.Scan(&ev.ID, &t, &ev.ActorUserID, &ev.ActorCredentialID, &ev.Actor, &ev.Action,
				&ev.ProjectID, &ev.CredentialID, &ev.RemoteAddr, &ev.Outcome, &detail); err != nil {
				return ev, err
			}
			ev.Time = t.T
			if detail.Valid {
				if err := json.Unmarshal([]byte(detail.String), &ev.Detail); err != nil {
					return ev, fmt.Errorf("sqlstore: event %d detail: %w", ev.ID, err)
				}
				if len(ev.Detail) == 0 {
					ev.Detail = nil
				}
			}
			return ev, nil
		}); err != nil {
		return err
	}
	snap.Usage, err = collect(ctx, tx, `SELECT credential_id, project_id, hour, code, count FROM usage_hourly
		ORDER BY credential_id, hour, code`,
		func(row rowScanner) (keyward.UsageCount, error) {
			var c keyward.UsageCount
			var hour Time
			err := row.Scan(&c.CredentialID, &c.ProjectID, &hour, &c.Code, &c.Count)
			c.Hour = hour.T
			return c, err
		})
	return err
}

// collect runs q and scans every row with scan; never nil.
func collect[T any](ctx context.Context, tx *txn, q string, scan func(rowScanner) (T, error)) ([]T, error) {
	rows, err := tx.QueryContext(ctx, q)
	return scanRows(rows, err, scan)
}

// Import writes every row of snap into the store, keeping ids, in one transaction; the
// Dialect's ExplicitIDs then makes new rows get ids past the largest imported. It refuses a store that holds any row
// (snapshot.ErrNotEmpty), or a snapshot holding text keyward.ValidText refuses
// (*snapshot.InvalidTextError), and writes nothing then. Credential.Project and
// Credential.Recoverable (both derived) are ignored.
func (s *Store) Import(ctx context.Context, snap *snapshot.Snapshot) error {
	// PostgreSQL cannot store such text, and SQLite must not take it either: refused alike.
	if bad := snap.InvalidText(); len(bad) > 0 {
		return fmt.Errorf("sqlstore: import: %w", &snapshot.InvalidTextError{Places: bad})
	}
	return s.inTx(ctx, "import", func(tx *txn) error {
		// Keep a replica's first-start Bootstrap from writing between the check and the copy.
		if err := s.e.d.Lock(ctx, tx.tx); err != nil {
			return err
		}
		var used bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM projects) OR EXISTS (SELECT 1 FROM users)
			OR EXISTS (SELECT 1 FROM roles) OR EXISTS (SELECT 1 FROM role_bindings)
			OR EXISTS (SELECT 1 FROM credentials) OR EXISTS (SELECT 1 FROM credential_secrets)
			OR EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM certificates)
			OR EXISTS (SELECT 1 FROM clusters) OR EXISTS (SELECT 1 FROM settings)
			OR EXISTS (SELECT 1 FROM usage_hourly)`).Scan(&used); err != nil {
			return err
		}
		if used {
			return fmt.Errorf("sqlstore: import: %w", snapshot.ErrNotEmpty)
		}
		if err := importRows(ctx, tx, snap); err != nil {
			return err
		}
		tx.changed(rolesChanged) // everything is new to a server that cached the empty store
		return s.e.d.ExplicitIDs(ctx, tx.tx, "projects", "users", "roles", "credentials", "events", "clusters")
	})
}

func importRows(ctx context.Context, tx *txn, snap *snapshot.Snapshot) error {
	// insert prepares q once and runs it for every row that args yields.
	insert := func(table, q string, n int, args func(i int) ([]any, error)) error {
		if n == 0 {
			return nil
		}
		stmt, err := tx.prepare(ctx, q)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range n {
			a, err := args(i)
			if err != nil {
				return err
			}
			if _, err := stmt.ExecContext(ctx, a...); err != nil {
				return fmt.Errorf("sqlstore: import %s: %w", table, err)
			}
		}
		return nil
	}
	if err := insert("projects", `INSERT INTO projects (id, slug, name, created_at, recoverable_keys) VALUES (?, ?, ?, ?, ?)`,
		len(snap.Projects), func(i int) ([]any, error) {
			p := snap.Projects[i]
			return []any{p.ID, p.Slug, p.Name, p.CreatedAt, p.RecoverableKeys}, nil
		}); err != nil {
		return err
	}
	if err := insert("users", `INSERT INTO users (id, name, disabled, created_at, updated_at, deleted_at, password_hash)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, len(snap.Users), func(i int) ([]any, error) {
		u := snap.Users[i]
		return []any{u.ID, u.Name, u.Disabled, u.CreatedAt, u.UpdatedAt, u.DeletedAt,
			nullString(u.PasswordHash)}, nil
	}); err != nil {
		return err
	}
	if err := insert("roles", `INSERT INTO roles (id, name, permissions, built_in) VALUES (?, ?, ?, ?)`,
		len(snap.Roles), func(i int) ([]any, error) {
			r := snap.Roles[i]
			pj, err := permissionsJSON(r.Permissions)
			return []any{r.ID, r.Name, pj, r.BuiltIn}, err
		}); err != nil {
		return err
	}
	if err := insert("role_bindings", `INSERT INTO role_bindings (user_id, project_id, role_id) VALUES (?, ?, ?)`,
		len(snap.RoleBindings), func(i int) ([]any, error) {
			b := snap.RoleBindings[i]
			return []any{b.UserID, nullID(b.ProjectID), b.RoleID}, nil
		}); err != nil {
		return err
	}
	if err := insert("credentials", `INSERT INTO credentials (id, project_id, name, description, type, environment,
		key_type, created_by, meta, not_before, expires_at, active, revoked_at, created_at, updated_at,
		last_used_at, version, start, serial, fingerprint, cluster, namespace, ratelimit_limit,
		ratelimit_duration_ms, refill_interval, refill_amount, remaining, last_refill_at, purpose)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		len(snap.Credentials), func(i int) ([]any, error) {
			c := &snap.Credentials[i]
			meta, err := metaJSON(c.Meta)
			if err != nil {
				return nil, err
			}
			if err := checkLimits(c); err != nil {
				return nil, err
			}
			args := []any{c.ID, c.ProjectID, c.Name, c.Description, string(c.Type), string(c.Environment),
				string(c.KeyType), c.CreatedBy, meta, c.NotBefore, c.ExpiresAt, c.Active,
				c.RevokedAt, c.CreatedAt, c.UpdatedAt, c.LastUsedAt,
				c.Version, c.Start, nullString(c.Serial), nullString(c.Fingerprint), nullString(c.Cluster),
				nullString(c.Namespace)}
			args = append(args, limitArgs(c)...)
			return append(args, c.Remaining, c.LastRefillAt, c.Purpose), nil
		}); err != nil {
		return err
	}
	var credRoles [][2]int64
	for _, c := range snap.Credentials {
		for _, r := range sortedIDs(c.RoleIDs) {
			credRoles = append(credRoles, [2]int64{c.ID, r})
		}
	}
	if err := insert("credential_roles", `INSERT INTO credential_roles (credential_id, role_id) VALUES (?, ?)`,
		len(credRoles), func(i int) ([]any, error) { return []any{credRoles[i][0], credRoles[i][1]}, nil }); err != nil {
		return err
	}
	if err := insert("credential_secrets", `INSERT INTO credential_secrets (digest, credential_id, valid_until, created_at, sealed)
		VALUES (?, ?, ?, ?, ?)`, len(snap.Secrets), func(i int) ([]any, error) {
		sec := snap.Secrets[i]
		return []any{sec.Digest, sec.CredentialID, sec.ValidUntil, sec.CreatedAt, nullBlob(sec.Sealed)}, nil
	}); err != nil {
		return err
	}
	if err := insert("certificates", `INSERT INTO certificates (serial, credential_id, fingerprint, not_after,
		revoked_at, created_at) VALUES (?, ?, ?, ?, ?, ?)`, len(snap.Certificates), func(i int) ([]any, error) {
		k := snap.Certificates[i]
		return []any{k.Serial, k.CredentialID, k.Fingerprint, k.NotAfter, k.RevokedAt, k.CreatedAt}, nil
	}); err != nil {
		return err
	}
	if err := insert("clusters", `INSERT INTO clusters (id, name, server, ca_pem, client_ca, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, len(snap.Clusters), func(i int) ([]any, error) {
		cl := snap.Clusters[i]
		return []any{cl.ID, cl.Name, cl.Server, cl.CAPEM, nullBlob(cl.ClientCA), cl.CreatedAt}, nil
	}); err != nil {
		return err
	}
	if err := insert("settings", `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)`,
		len(snap.Settings), func(i int) ([]any, error) {
			st := snap.Settings[i]
			v := st.Value
			if v == nil {
				v = []byte{}
			}
			return []any{st.Key, v, st.UpdatedAt}, nil
		}); err != nil {
		return err
	}
	if err := insert("usage_hourly", `INSERT INTO usage_hourly (credential_id, project_id, hour, code, count)
		VALUES (?, ?, ?, ?, ?)`, len(snap.Usage), func(i int) ([]any, error) {
		c := snap.Usage[i]
		return []any{c.CredentialID, c.ProjectID, c.Hour, c.Code, c.Count}, nil
	}); err != nil {
		return err
	}
	return insert("events", `INSERT INTO events (id, time, actor_user_id, actor_credential_id, actor, action,
		project_id, credential_id, remote_addr, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		len(snap.Events), func(i int) ([]any, error) {
			ev := snap.Events[i]
			var detail any
			if len(ev.Detail) > 0 {
				b, err := json.Marshal(ev.Detail)
				if err != nil {
					return nil, err
				}
				detail = string(b)
			}
			return []any{ev.ID, ev.Time, ev.ActorUserID, ev.ActorCredentialID, ev.Actor, ev.Action,
				ev.ProjectID, ev.CredentialID, ev.RemoteAddr, ev.Outcome, detail}, nil
		})
}
