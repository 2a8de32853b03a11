package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/snapshot"
)

var (
	_ snapshot.Exporter = (*Store)(nil)
	_ snapshot.Importer = (*Store)(nil)
)

// Export reads every row of the store, in one REPEATABLE READ transaction so that the tables
// agree with each other, in the order snapshot.Snapshot documents. It is for "keyward migrate
// copy", not for serving: it holds the whole database in memory.
func (s *Store) Export(ctx context.Context) (*snapshot.Snapshot, error) {
	if s.closed.Load() {
		return nil, errClosed()
	}
	snap := &snapshot.Snapshot{}
	if s.tx != nil {
		// Bound by WithTx: the transaction's own view, writes included.
		if err := export(ctx, s.tx.tx, snap); err != nil {
			return nil, s.fail(ctx, "export", err)
		}
		return snap, nil
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error { return export(ctx, tx, snap) })
	if err != nil {
		return nil, s.fail(ctx, "export", err)
	}
	return snap, nil
}

func export(ctx context.Context, tx pgx.Tx, snap *snapshot.Snapshot) error {
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&snap.SchemaVersion); err != nil {
		return err
	}
	var err error
	if snap.Projects, err = collect(ctx, tx, `SELECT `+projectColumns+` FROM projects ORDER BY id`,
		func(row pgx.Rows) (keyward.Project, error) {
			p, err := scanProject(row)
			if err != nil {
				return keyward.Project{}, err
			}
			return *p, nil
		}); err != nil {
		return err
	}
	if snap.Users, err = collect(ctx, tx, `SELECT id, name, disabled, created_at, updated_at, deleted_at,
		COALESCE(password_hash, '') FROM users ORDER BY id`,
		func(row pgx.Rows) (snapshot.User, error) {
			var u snapshot.User
			var deleted *time.Time
			if err := row.Scan(&u.ID, &u.Name, &u.Disabled, &u.CreatedAt, &u.UpdatedAt, &deleted, &u.PasswordHash); err != nil {
				return u, err
			}
			u.CreatedAt, u.UpdatedAt, u.DeletedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC(), utc(deleted)
			u.HasPassword = u.PasswordHash != ""
			return u, nil
		}); err != nil {
		return err
	}
	if snap.Roles, err = collect(ctx, tx, `SELECT id, name, permissions, built_in FROM roles ORDER BY id`,
		func(row pgx.Rows) (keyward.Role, error) {
			r, err := scanRole(row)
			if err != nil {
				return keyward.Role{}, err
			}
			return *r, nil
		}); err != nil {
		return err
	}
	if snap.RoleBindings, err = collect(ctx, tx, `SELECT user_id, COALESCE(project_id, 0), role_id FROM role_bindings
		ORDER BY user_id, COALESCE(project_id, 0), role_id`,
		func(row pgx.Rows) (keyward.RoleBinding, error) {
			var b keyward.RoleBinding
			err := row.Scan(&b.UserID, &b.ProjectID, &b.RoleID)
			return b, err
		}); err != nil {
		return err
	}
	if snap.Credentials, err = collect(ctx, tx, `SELECT `+credentialColumns+credentialFrom+` ORDER BY c.id`,
		func(row pgx.Rows) (keyward.Credential, error) {
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
		func(row pgx.Rows) (keyward.CredentialSecret, error) {
			var sec keyward.CredentialSecret
			var until *time.Time
			if err := row.Scan(&sec.Digest, &sec.CredentialID, &until, &sec.CreatedAt, &sec.Sealed); err != nil {
				return sec, err
			}
			sec.ValidUntil, sec.CreatedAt = utc(until), sec.CreatedAt.UTC()
			if len(sec.Sealed) == 0 {
				sec.Sealed = nil
			}
			return sec, nil
		}); err != nil {
		return err
	}
	if snap.Certificates, err = collect(ctx, tx, `SELECT `+certificateColumns+` FROM certificates k ORDER BY k.serial COLLATE "C"`,
		func(row pgx.Rows) (keyward.Certificate, error) {
			var ks certificateScan
			if err := row.Scan(ks.dest()...); err != nil {
				return keyward.Certificate{}, err
			}
			return *ks.certificate(), nil
		}); err != nil {
		return err
	}
	if snap.Clusters, err = collect(ctx, tx, `SELECT `+clusterColumns+` FROM clusters ORDER BY id`,
		func(row pgx.Rows) (keyward.Cluster, error) {
			cl, err := scanCluster(row)
			if err != nil {
				return keyward.Cluster{}, err
			}
			return *cl, nil
		}); err != nil {
		return err
	}
	if snap.Settings, err = collect(ctx, tx, `SELECT key, value, updated_at FROM settings ORDER BY key COLLATE "C"`,
		func(row pgx.Rows) (snapshot.Setting, error) {
			var st snapshot.Setting
			err := row.Scan(&st.Key, &st.Value, &st.UpdatedAt)
			st.UpdatedAt = st.UpdatedAt.UTC()
			if st.Value == nil {
				st.Value = []byte{}
			}
			return st, err
		}); err != nil {
		return err
	}
	snap.Events, err = collect(ctx, tx, `SELECT `+eventColumns+` FROM events ORDER BY id`,
		func(row pgx.Rows) (keyward.Event, error) {
			ev, err := scanEvent(row)
			if err != nil {
				return keyward.Event{}, err
			}
			return *ev, nil
		})
	return err
}

// collect runs q and scans every row with scan; never nil.
func collect[T any](ctx context.Context, tx pgx.Tx, q string, scan func(pgx.Rows) (T, error)) ([]T, error) {
	rows, err := tx.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Import writes every row of snap into the store, keeping ids, in one transaction, then moves
// the id sequences past the largest ids so that new rows get new ids. It refuses a store that
// holds any row (snapshot.ErrNotEmpty), or a snapshot holding text keyward.ValidText refuses
// (*snapshot.InvalidTextError), and writes nothing then. Credential.Project and
// Credential.Recoverable (both derived) are ignored;
// the schema must be this build's (Open migrated it).
func (s *Store) Import(ctx context.Context, snap *snapshot.Snapshot) error {
	// PostgreSQL cannot store such text, and SQLite must not take it either: refused alike.
	if bad := snap.InvalidText(); len(bad) > 0 {
		return fmt.Errorf("postgres: import: %w", &snapshot.InvalidTextError{Places: bad})
	}
	return s.inTx(ctx, "import", func(tx pgx.Tx) error {
		// Keep a replica's first-start Bootstrap from writing between the check and the copy.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(COALESCE(current_schema(), '')))`,
			bootstrapLockKey); err != nil {
			return err
		}
		var used bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM projects) OR EXISTS (SELECT 1 FROM users)
			OR EXISTS (SELECT 1 FROM roles) OR EXISTS (SELECT 1 FROM role_bindings)
			OR EXISTS (SELECT 1 FROM credentials) OR EXISTS (SELECT 1 FROM credential_secrets)
			OR EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM certificates)
			OR EXISTS (SELECT 1 FROM clusters) OR EXISTS (SELECT 1 FROM settings)`).Scan(&used); err != nil {
			return err
		}
		if used {
			return fmt.Errorf("postgres: import: %w", snapshot.ErrNotEmpty)
		}
		if err := importRows(ctx, tx, snap); err != nil {
			return err
		}
		return s.notify(ctx, tx, keyward.Invalidation{All: true})
	})
}

func importRows(ctx context.Context, tx pgx.Tx, snap *snapshot.Snapshot) error {
	var rows [][]any
	copyIn := func(table string, cols ...string) error {
		if len(rows) == 0 {
			return nil
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
		if err != nil {
			return fmt.Errorf("postgres: import %s: %w", table, err)
		}
		if sequenced[table] {
			if err := bumpSequence(ctx, tx, table); err != nil {
				return err
			}
		}
		rows = nil
		return nil
	}

	for _, p := range snap.Projects {
		rows = append(rows, []any{p.ID, p.Slug, p.Name, ts(p.CreatedAt), p.RecoverableKeys})
	}
	if err := copyIn("projects", "id", "slug", "name", "created_at", "recoverable_keys"); err != nil {
		return err
	}
	for _, u := range snap.Users {
		rows = append(rows, []any{u.ID, u.Name, u.Disabled, ts(u.CreatedAt), ts(u.UpdatedAt), nullTS(u.DeletedAt), nullString(u.PasswordHash)})
	}
	if err := copyIn("users", "id", "name", "disabled", "created_at", "updated_at", "deleted_at", "password_hash"); err != nil {
		return err
	}
	for _, r := range snap.Roles {
		pj, err := permissionsJSON(r.Permissions)
		if err != nil {
			return err
		}
		rows = append(rows, []any{r.ID, r.Name, pj, r.BuiltIn})
	}
	if err := copyIn("roles", "id", "name", "permissions", "built_in"); err != nil {
		return err
	}
	for _, b := range snap.RoleBindings {
		rows = append(rows, []any{b.UserID, nullID(b.ProjectID), b.RoleID})
	}
	if err := copyIn("role_bindings", "user_id", "project_id", "role_id"); err != nil {
		return err
	}
	for _, c := range snap.Credentials {
		meta, err := metaJSON(c.Meta)
		if err != nil {
			return err
		}
		if err := checkLimits(&c); err != nil {
			return err
		}
		row := []any{c.ID, c.ProjectID, c.Name, c.Description, string(c.Type), string(c.Environment),
			string(c.KeyType), c.CreatedBy, meta, nullTS(c.NotBefore), nullTS(c.ExpiresAt), c.Active,
			nullTS(c.RevokedAt), ts(c.CreatedAt), ts(c.UpdatedAt), nullTS(c.LastUsedAt), c.Version, c.Start,
			nullString(c.Serial), nullString(c.Fingerprint), nullString(c.Cluster), nullString(c.Namespace)}
		row = append(row, limitArgs(&c)...)
		rows = append(rows, append(row, c.Remaining, nullTS(c.LastRefillAt), c.Purpose))
	}
	if err := copyIn("credentials", "id", "project_id", "name", "description", "type", "environment",
		"key_type", "created_by", "meta", "not_before", "expires_at", "active", "revoked_at", "created_at",
		"updated_at", "last_used_at", "version", "start", "serial", "fingerprint", "cluster", "namespace",
		"ratelimit_limit", "ratelimit_duration_ms", "refill_interval", "refill_amount", "remaining",
		"last_refill_at", "purpose"); err != nil {
		return err
	}
	for _, c := range snap.Credentials {
		for _, r := range sortedIDs(c.RoleIDs) {
			rows = append(rows, []any{c.ID, r})
		}
	}
	if err := copyIn("credential_roles", "credential_id", "role_id"); err != nil {
		return err
	}
	for _, sec := range snap.Secrets {
		rows = append(rows, []any{sec.Digest, sec.CredentialID, nullTS(sec.ValidUntil), ts(sec.CreatedAt), nullBlob(sec.Sealed)})
	}
	if err := copyIn("credential_secrets", "digest", "credential_id", "valid_until", "created_at", "sealed"); err != nil {
		return err
	}
	for _, k := range snap.Certificates {
		rows = append(rows, []any{k.Serial, k.CredentialID, k.Fingerprint, ts(k.NotAfter), nullTS(k.RevokedAt), ts(k.CreatedAt)})
	}
	if err := copyIn("certificates", "serial", "credential_id", "fingerprint", "not_after", "revoked_at", "created_at"); err != nil {
		return err
	}
	for _, cl := range snap.Clusters {
		rows = append(rows, []any{cl.ID, cl.Name, cl.Server, cl.CAPEM, nullBlob(cl.ClientCA), ts(cl.CreatedAt)})
	}
	if err := copyIn("clusters", "id", "name", "server", "ca_pem", "client_ca", "created_at"); err != nil {
		return err
	}
	for _, st := range snap.Settings {
		v := st.Value
		if v == nil {
			v = []byte{}
		}
		rows = append(rows, []any{st.Key, v, ts(st.UpdatedAt)})
	}
	if err := copyIn("settings", "key", "value", "updated_at"); err != nil {
		return err
	}
	for _, ev := range snap.Events {
		detail, err := detailJSON(ev.Detail)
		if err != nil {
			return err
		}
		rows = append(rows, []any{ev.ID, ts(ev.Time), ev.ActorUserID, ev.ActorCredentialID, ev.Actor, ev.Action,
			ev.ProjectID, ev.CredentialID, ev.RemoteAddr, ev.Outcome, detail})
	}
	return copyIn("events", "id", "time", "actor_user_id", "actor_credential_id", "actor", "action",
		"project_id", "credential_id", "remote_addr", "outcome", "detail")
}
