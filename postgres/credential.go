package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// credentialColumns selects a credential with its project's slug and its role ids (ascending) in
// one statement, so a read sees one consistent snapshot.
const credentialColumns = `c.id, c.project_id, p.slug, c.name, c.description, c.type, c.environment,
	c.key_type, c.created_by,
	ARRAY(SELECT cr.role_id FROM credential_roles cr WHERE cr.credential_id = c.id ORDER BY cr.role_id),
	c.meta, c.not_before, c.expires_at, c.active, c.revoked_at, c.created_at, c.updated_at,
	c.last_used_at, c.version, c.start`

const credentialFrom = ` FROM credentials c JOIN projects p ON p.id = c.project_id`

// selectCredentialBySecret is the verify hot path: one primary-key probe and two joins. pgx
// prepares it once per connection and keeps it in its statement cache.
const selectCredentialBySecret = `SELECT ` + credentialColumns + `,
	s.digest, s.credential_id, s.valid_until, s.created_at
	FROM credential_secrets s
	JOIN credentials c ON c.id = s.credential_id
	JOIN projects p ON p.id = c.project_id
	WHERE s.digest = $1`

// credentialScan holds the scan targets of credentialColumns.
type credentialScan struct {
	c                                         keyward.Credential
	roles                                     []int64
	meta                                      []byte
	notBefore, expiresAt, revokedAt, lastUsed *time.Time
	typ, env, keyType                         string
}

func (cs *credentialScan) dest() []any {
	c := &cs.c
	return []any{&c.ID, &c.ProjectID, &c.Project, &c.Name, &c.Description, &cs.typ, &cs.env,
		&cs.keyType, &c.CreatedBy, &cs.roles, &cs.meta, &cs.notBefore, &cs.expiresAt, &c.Active,
		&cs.revokedAt, &c.CreatedAt, &c.UpdatedAt, &cs.lastUsed, &c.Version, &c.Start}
}

func (cs *credentialScan) credential() (*keyward.Credential, error) {
	c := cs.c
	c.Type = keyward.CredentialType(cs.typ)
	c.Environment = keyward.Environment(cs.env)
	c.KeyType = keyward.KeyType(cs.keyType)
	c.RoleIDs = append([]int64{}, cs.roles...)
	c.Meta = map[string]string{}
	if err := json.Unmarshal(cs.meta, &c.Meta); err != nil {
		return nil, fmt.Errorf("postgres: credential %d meta: %w", c.ID, err)
	}
	if c.Meta == nil { // the column held JSON null
		c.Meta = map[string]string{}
	}
	c.NotBefore = utc(cs.notBefore)
	c.ExpiresAt = utc(cs.expiresAt)
	c.RevokedAt = utc(cs.revokedAt)
	c.LastUsedAt = utc(cs.lastUsed)
	c.CreatedAt = c.CreatedAt.UTC()
	c.UpdatedAt = c.UpdatedAt.UTC()
	return &c, nil
}

// scanCredential reads one row of credentialColumns.
func scanCredential(row pgx.Row) (*keyward.Credential, error) {
	var cs credentialScan
	if err := row.Scan(cs.dest()...); err != nil {
		return nil, err
	}
	return cs.credential()
}

// metaJSON renders meta as a JSON object; nil becomes {}.
func metaJSON(m map[string]string) (string, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// CreateCredential stores c with its first secret s and the event ev. It sets c.ID, c.Version
// (1), c.Project, s.CredentialID and ev.ID, and fills ev's ProjectID and CredentialID when 0.
// EConflict when the name is taken in the project or the digest exists; ENotFound when the
// project does not exist.
func (s *Store) CreateCredential(ctx context.Context, c *keyward.Credential, sec *keyward.CredentialSecret, ev *keyward.Event) error {
	nc, nsec, nev := *c, *sec, *ev
	var evID int64
	err := s.inTx(ctx, "create credential", func(tx pgx.Tx) error {
		if err := insertCredential(ctx, tx, &nc, &nsec); err != nil {
			return err
		}
		if nev.ProjectID == 0 {
			nev.ProjectID = nc.ProjectID
		}
		if nev.CredentialID == 0 {
			nev.CredentialID = nc.ID
		}
		var err error
		evID, err = insertEvent(ctx, tx, &nev)
		return err
	})
	if err != nil {
		return err
	}
	*c, *sec, *ev = nc, nsec, nev
	ev.ID = evID
	return nil
}

// insertCredential inserts c, its roles and its first secret, and sets c.ID, c.Version,
// c.Project, c.RoleIDs (sorted) and sec.CredentialID.
func insertCredential(ctx context.Context, tx pgx.Tx, c *keyward.Credential, sec *keyward.CredentialSecret) error {
	var slug string
	err := tx.QueryRow(ctx, `SELECT slug FROM projects WHERE id = $1`, c.ProjectID).Scan(&slug)
	if errors.Is(err, pgx.ErrNoRows) {
		return keyward.Errorf(keyward.ENotFound, "project not found")
	}
	if err != nil {
		return err
	}
	meta, err := metaJSON(c.Meta)
	if err != nil {
		return err
	}
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO credentials (project_id, name, description, type, environment,
		key_type, created_by, meta, not_before, expires_at, active, revoked_at, created_at, updated_at,
		last_used_at, version, start)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 1, $16) RETURNING id`,
		c.ProjectID, c.Name, c.Description, string(c.Type), string(c.Environment), string(c.KeyType),
		c.CreatedBy, meta, nullTS(c.NotBefore), nullTS(c.ExpiresAt), c.Active,
		nullTS(c.RevokedAt), ts(c.CreatedAt), ts(c.UpdatedAt), nullTS(c.LastUsedAt),
		c.Start).Scan(&id)
	switch {
	case isUnique(err):
		return keyward.Errorf(keyward.EConflict, "name already taken in this project")
	case isForeignKey(err):
		return keyward.Errorf(keyward.EInvalid, "the creating user does not exist")
	case err != nil:
		return err
	}
	c.ID, c.Version, c.Project = id, 1, slug
	c.RoleIDs = sortedIDs(c.RoleIDs)
	if err := insertRoles(ctx, tx, id, c.RoleIDs); err != nil {
		return err
	}
	sec.CredentialID = id
	if sec.CreatedAt.IsZero() {
		sec.CreatedAt = c.CreatedAt
	}
	return insertSecret(ctx, tx, sec)
}

// insertRoles binds the credential to roleIDs, which are sorted and unique, in one round trip.
func insertRoles(ctx context.Context, tx pgx.Tx, credentialID int64, roleIDs []int64) error {
	if len(roleIDs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, r := range roleIDs {
		b.Queue(`INSERT INTO credential_roles (credential_id, role_id) VALUES ($1, $2)`, credentialID, r)
	}
	br := tx.SendBatch(ctx, b)
	for _, r := range roleIDs {
		if _, err := br.Exec(); err != nil {
			br.Close()
			if isForeignKey(err) {
				return keyward.Errorf(keyward.EInvalid, "role %d does not exist", r)
			}
			return err
		}
	}
	return br.Close()
}

// insertSecret stores sec; EConflict when its digest exists.
func insertSecret(ctx context.Context, tx pgx.Tx, sec *keyward.CredentialSecret) error {
	_, err := tx.Exec(ctx, `INSERT INTO credential_secrets (digest, credential_id, valid_until, created_at)
		VALUES ($1, $2, $3, $4)`, sec.Digest, sec.CredentialID, nullTS(sec.ValidUntil), ts(sec.CreatedAt))
	if isUnique(err) {
		return keyward.Errorf(keyward.EConflict, "secret digest already exists")
	}
	return err
}

// CredentialByID returns the credential id of the project. ENotFound, also when the credential
// belongs to another project.
func (s *Store) CredentialByID(ctx context.Context, projectID, id int64) (*keyward.Credential, error) {
	c, err := scanCredential(s.queryRow(ctx,
		`SELECT `+credentialColumns+credentialFrom+` WHERE c.id = $1 AND c.project_id = $2`, id, projectID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "credential not found")
	}
	if err != nil {
		return nil, s.fail(ctx, "credential by id", err)
	}
	return c, nil
}

// CredentialByName returns the credential name of the project. ENotFound.
func (s *Store) CredentialByName(ctx context.Context, projectID int64, name string) (*keyward.Credential, error) {
	c, err := scanCredential(s.queryRow(ctx,
		`SELECT `+credentialColumns+credentialFrom+` WHERE c.project_id = $1 AND c.name = $2`, projectID, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "credential not found")
	}
	if err != nil {
		return nil, s.fail(ctx, "credential by name", err)
	}
	return c, nil
}

// CredentialBySecret returns the credential that owns digest and that secret, in one indexed
// query. ENotFound.
func (s *Store) CredentialBySecret(ctx context.Context, digest []byte) (*keyward.Credential, *keyward.CredentialSecret, error) {
	var cs credentialScan
	var sec keyward.CredentialSecret
	var validUntil *time.Time
	dest := append(cs.dest(), &sec.Digest, &sec.CredentialID, &validUntil, &sec.CreatedAt)
	err := s.queryRow(ctx, selectCredentialBySecret, digest).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, keyward.Errorf(keyward.ENotFound, "credential not found")
	}
	if err != nil {
		return nil, nil, s.fail(ctx, "credential by secret", err)
	}
	c, err := cs.credential()
	if err != nil {
		return nil, nil, err
	}
	sec.ValidUntil = utc(validUntil)
	sec.CreatedAt = sec.CreatedAt.UTC()
	return c, &sec, nil
}

// stateCondition returns the SQL condition (on alias c, with now bound to $n) that matches
// exactly the credentials whose (*keyward.Credential).StateAt(now) is st.
func stateCondition(st keyward.State, n int) (string, error) {
	now := fmt.Sprintf("$%d", n)
	switch st {
	case keyward.StateRevoked:
		return `c.revoked_at IS NOT NULL`, nil
	case keyward.StateDisabled:
		return `c.revoked_at IS NULL AND NOT c.active`, nil
	case keyward.StatePending:
		return `c.revoked_at IS NULL AND c.active AND c.not_before IS NOT NULL AND c.not_before > ` + now, nil
	case keyward.StateExpired:
		return `c.revoked_at IS NULL AND c.active AND (c.not_before IS NULL OR c.not_before <= ` + now + `)
			AND c.expires_at IS NOT NULL AND c.expires_at <= ` + now, nil
	case keyward.StateActive:
		return `c.revoked_at IS NULL AND c.active AND (c.not_before IS NULL OR c.not_before <= ` + now + `)
			AND (c.expires_at IS NULL OR c.expires_at > ` + now + `)`, nil
	}
	return "", keyward.Invalid("state", "unknown state")
}

// ListCredentials returns the credentials of f.ProjectID that match f (created by f.CreatedBy
// when it is not 0), by ascending id after f.AfterID, at most f.Limit (default 100, at most
// 1000). The state is evaluated at f.Now, or
// at the present when f.Now is zero. EInvalid without a project or with an unknown state.
func (s *Store) ListCredentials(ctx context.Context, f keyward.CredentialFilter) ([]*keyward.Credential, error) {
	if f.ProjectID <= 0 {
		return nil, keyward.Invalid("project_id", "required")
	}
	q := `SELECT ` + credentialColumns + credentialFrom + ` WHERE c.project_id = $1 AND c.id > $2`
	args := []any{f.ProjectID, f.AfterID}
	if f.CreatedBy != 0 {
		args = append(args, f.CreatedBy)
		q += fmt.Sprintf(` AND c.created_by = $%d`, len(args))
	}
	if f.Type != "" {
		args = append(args, string(f.Type))
		q += fmt.Sprintf(` AND c.type = $%d`, len(args))
	}
	if f.Environment != "" {
		args = append(args, string(f.Environment))
		q += fmt.Sprintf(` AND c.environment = $%d`, len(args))
	}
	if f.State != "" {
		now := f.Now
		if now.IsZero() {
			now = time.Now()
		}
		// Truncating now to microseconds keeps every comparison exact: stored times are whole
		// microseconds, so now < t holds exactly when trunc(now) < t.
		cond, err := stateCondition(f.State, len(args)+1)
		if err != nil {
			return nil, err
		}
		if strings.Contains(cond, "$") { // revoked and disabled do not depend on the time
			args = append(args, ts(now))
		}
		q += ` AND (` + cond + `)`
	}
	args = append(args, limit(f.Limit))
	q += fmt.Sprintf(` ORDER BY c.id LIMIT $%d`, len(args))
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, s.fail(ctx, "list credentials", err)
	}
	defer rows.Close()
	cs := []*keyward.Credential{}
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, s.fail(ctx, "list credentials", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "list credentials", err)
	}
	return cs, nil
}

// UpdateCredential writes c's mutable fields and ev if the stored version still equals
// c.Version, then increments c.Version and sets ev.ID. EConflict when stale, ENotFound when
// missing; neither writes anything.
func (s *Store) UpdateCredential(ctx context.Context, c *keyward.Credential, ev *keyward.Event) error {
	nev := *ev
	var evID int64
	err := s.inTx(ctx, "update credential", func(tx pgx.Tx) error {
		if err := updateCredential(ctx, tx, c, false); err != nil {
			return err
		}
		var err error
		evID, err = insertEvent(ctx, tx, &nev)
		return err
	})
	if err != nil {
		return err
	}
	c.Version++
	c.RoleIDs = sortedIDs(c.RoleIDs)
	*ev = nev
	ev.ID = evID
	return nil
}

// RollCredential does what UpdateCredential does (and also writes c.Start), then caps the
// earlier secrets' validity at graceUntil, deletes those whose end is at or before
// c.UpdatedAt, and stores sec as the current secret. EConflict, ENotFound.
func (s *Store) RollCredential(ctx context.Context, c *keyward.Credential, sec *keyward.CredentialSecret, graceUntil time.Time, ev *keyward.Event) error {
	nsec, nev := *sec, *ev
	nsec.CredentialID = c.ID
	nsec.ValidUntil = nil
	if nsec.CreatedAt.IsZero() {
		nsec.CreatedAt = c.UpdatedAt
	}
	var evID int64
	err := s.inTx(ctx, "roll credential", func(tx pgx.Tx) error {
		if err := updateCredential(ctx, tx, c, true); err != nil {
			return err
		}
		// LEAST ignores NULL: a current secret (NULL) gets graceUntil, an earlier end stays.
		if _, err := tx.Exec(ctx, `UPDATE credential_secrets SET valid_until = LEAST(valid_until, $1)
			WHERE credential_id = $2`, ts(graceUntil), c.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM credential_secrets
			WHERE credential_id = $1 AND valid_until IS NOT NULL AND valid_until <= $2`, c.ID, ts(c.UpdatedAt)); err != nil {
			return err
		}
		if err := insertSecret(ctx, tx, &nsec); err != nil {
			return err
		}
		var err error
		evID, err = insertEvent(ctx, tx, &nev)
		return err
	})
	if err != nil {
		return err
	}
	c.Version++
	c.RoleIDs = sortedIDs(c.RoleIDs)
	*sec, *ev = nsec, nev
	ev.ID = evID
	return nil
}

// updateCredential is the versioned write UpdateCredential and RollCredential share. It does
// not touch c: the caller bumps c.Version once the transaction commits.
//
// Under READ COMMITTED, a writer that finds the row locked by another waits for it to commit,
// then re-checks WHERE on the new row version: the stale version no longer matches, so exactly
// one of several writers that read the same version updates the row.
func updateCredential(ctx context.Context, tx pgx.Tx, c *keyward.Credential, withStart bool) error {
	meta, err := metaJSON(c.Meta)
	if err != nil {
		return err
	}
	q := `UPDATE credentials SET description = $1, meta = $2, not_before = $3, expires_at = $4, active = $5,
		revoked_at = $6, updated_at = $7, version = version + 1`
	args := []any{c.Description, meta, nullTS(c.NotBefore), nullTS(c.ExpiresAt), c.Active,
		nullTS(c.RevokedAt), ts(c.UpdatedAt)}
	if withStart {
		args = append(args, c.Start)
		q += fmt.Sprintf(`, start = $%d`, len(args))
	}
	args = append(args, c.ID, c.ProjectID, c.Version)
	n := len(args)
	q += fmt.Sprintf(` WHERE id = $%d AND project_id = $%d AND version = $%d`, n-2, n-1, n)
	tag, err := tx.Exec(ctx, q, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM credentials WHERE id = $1 AND project_id = $2)`,
			c.ID, c.ProjectID).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return keyward.Errorf(keyward.EConflict, "credential was modified; re-read it and retry")
		}
		return keyward.Errorf(keyward.ENotFound, "credential not found")
	}

	want := sortedIDs(c.RoleIDs)
	rows, err := tx.Query(ctx, `SELECT role_id FROM credential_roles WHERE credential_id = $1 ORDER BY role_id`, c.ID)
	if err != nil {
		return err
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	if slices.Equal(have, want) {
		return nil
	}
	if _, err := tx.Exec(ctx, `DELETE FROM credential_roles WHERE credential_id = $1`, c.ID); err != nil {
		return err
	}
	return insertRoles(ctx, tx, c.ID, want)
}

// TouchCredentials moves last_used_at forward to the given times in one transaction and one
// round trip; an earlier time never moves it back. Unknown ids are ignored. Rows are updated in
// ascending id order, so two concurrent touches cannot deadlock on each other.
func (s *Store) TouchCredentials(ctx context.Context, used map[int64]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(used))
	for id := range used {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return s.inTx(ctx, "touch credentials", func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, id := range ids {
			// GREATEST ignores NULL: a first use sets the time, a later one moves it forward.
			b.Queue(`UPDATE credentials SET last_used_at = GREATEST(last_used_at, $1) WHERE id = $2`, ts(used[id]), id)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}
