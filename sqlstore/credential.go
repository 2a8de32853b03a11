package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/keyward/keyward"
)

// credentialColumnsFor returns the columns selecting a credential with its project's slug, its
// role ids (ascending, comma-separated) and whether it is recoverable in one statement, so a
// read sees one consistent snapshot. Recoverable has one rule, here: the current secret (the
// one without an end) is sealed.
func credentialColumnsFor(d Dialect) string {
	return `c.id, c.project_id, p.slug, c.name, c.description, c.type, c.environment,
	c.key_type, c.created_by,
	(SELECT ` + d.Aggregate("cr.role_id") + ` FROM credential_roles cr WHERE cr.credential_id = c.id),
	c.meta, c.not_before, c.expires_at, c.active, c.revoked_at, c.created_at, c.updated_at,
	c.last_used_at, c.version, c.start, COALESCE(c.serial, ''), COALESCE(c.fingerprint, ''),
	COALESCE(c.cluster, ''), COALESCE(c.namespace, ''),
	EXISTS (SELECT 1 FROM credential_secrets rs
		WHERE rs.credential_id = c.id AND rs.valid_until IS NULL AND rs.sealed IS NOT NULL),
	c.ratelimit_limit, c.ratelimit_duration_ms, c.remaining, c.refill_interval, c.refill_amount,
	c.last_refill_at, c.purpose`
}

const credentialFrom = ` FROM credentials c JOIN projects p ON p.id = c.project_id`

// selectCredentialBySecret is the verify hot path: one primary-key probe and two joins.
func (e *engine) selectCredentialBySecret() string {
	return `SELECT ` + e.credentialColumns + `,
	s.digest, s.credential_id, s.valid_until, s.created_at, s.sealed
	FROM credential_secrets s
	JOIN credentials c ON c.id = s.credential_id
	JOIN projects p ON p.id = c.project_id
	WHERE s.digest = ?`
}

// selectVerification is the miss path of verification: the secret, its credential, the
// credential's creator and the creator's bindings, one row per binding (one with NULL
// bindings when there is none), in one statement that both engines run alike.
func (e *engine) selectVerification() string {
	return `SELECT ` + e.credentialColumns + `,
	s.digest, s.credential_id, s.valid_until, s.created_at, s.sealed,
	u.id, u.name, u.disabled, u.created_at, u.updated_at, u.deleted_at,
	COALESCE(u.password_hash, '') <> '',
	b.project_id, b.role_id
	FROM credential_secrets s
	JOIN credentials c ON c.id = s.credential_id
	JOIN projects p ON p.id = c.project_id
	LEFT JOIN users u ON u.id = c.created_by
	LEFT JOIN role_bindings b ON b.user_id = u.id
	WHERE s.digest = ?
	ORDER BY COALESCE(b.project_id, 0), b.role_id`
}

// credentialScan holds the scan targets of credentialColumns.
type credentialScan struct {
	c                                         keyward.Credential
	roles                                     sql.NullString
	meta                                      string
	notBefore, expiresAt, revokedAt, lastUsed Time
	createdAt, updatedAt                      Time
	typ, env, keyType                         string
	limits                                    limitsScan
}

func (cs *credentialScan) dest() []any {
	c := &cs.c
	return []any{&c.ID, &c.ProjectID, &c.Project, &c.Name, &c.Description, &cs.typ, &cs.env,
		&cs.keyType, &c.CreatedBy, &cs.roles, &cs.meta, &cs.notBefore, &cs.expiresAt, &c.Active,
		&cs.revokedAt, &cs.createdAt, &cs.updatedAt, &cs.lastUsed, &c.Version, &c.Start, &c.Serial,
		&c.Fingerprint, &c.Cluster, &c.Namespace, &c.Recoverable,
		&cs.limits.rateLimit, &cs.limits.rateDuration, &cs.limits.remaining, &cs.limits.refillInterval,
		&cs.limits.refillAmount, &cs.limits.lastRefill, &c.Purpose}
}

func (cs *credentialScan) credential() (*keyward.Credential, error) {
	c := cs.c
	c.Type = keyward.CredentialType(cs.typ)
	c.Environment = keyward.Environment(cs.env)
	c.KeyType = keyward.KeyType(cs.keyType)
	var err error
	if c.RoleIDs, err = parseIDs(cs.roles); err != nil {
		return nil, fmt.Errorf("sqlstore: credential %d role ids: %w", c.ID, err)
	}
	c.Meta = map[string]string{}
	if err := json.Unmarshal([]byte(cs.meta), &c.Meta); err != nil {
		return nil, fmt.Errorf("sqlstore: credential %d meta: %w", c.ID, err)
	}
	if c.Meta == nil { // the column held JSON null
		c.Meta = map[string]string{}
	}
	c.NotBefore = cs.notBefore.Ptr()
	c.ExpiresAt = cs.expiresAt.Ptr()
	c.RevokedAt = cs.revokedAt.Ptr()
	c.LastUsedAt = cs.lastUsed.Ptr()
	c.CreatedAt = cs.createdAt.T
	c.UpdatedAt = cs.updatedAt.T
	cs.limits.fill(&c)
	return &c, nil
}

// scanCredential reads one row of credentialColumns.
func scanCredential(row interface{ Scan(...any) error }) (*keyward.Credential, error) {
	var cs credentialScan
	if err := row.Scan(cs.dest()...); err != nil {
		return nil, err
	}
	return cs.credential()
}

// writable checks what of c a write stores beyond its text (its limits) and returns its meta as
// JSON.
func writable(c *keyward.Credential) (string, error) {
	if err := checkLimits(c); err != nil {
		return "", err
	}
	return metaJSON(c.Meta)
}

// metaJSON renders meta as a JSON object; nil becomes {}.
func metaJSON(m map[string]string) (string, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// CreateCredential stores c with its first secret sec and the event ev. It sets c.ID,
// c.Version (1), c.Project, c.Recoverable, sec.CredentialID and ev.ID, and fills ev's
// ProjectID and CredentialID when 0. sec may be nil only for a certificate credential, which
// has c.Serial and c.ExpiresAt (the certificate's not-after) instead: the certificate is then
// recorded too. Its rate limit, remaining, refill and last refill are stored as given (nil as
// NULL). EInvalid when neither a secret nor a serial is given, a serial without an expiry, or a
// rate limit's count outside 32 bits; EConflict when the name is taken in the project or the digest or serial exists;
// ENotFound when the project does not exist.
func (s *Store) CreateCredential(ctx context.Context, c *keyward.Credential, sec *keyward.CredentialSecret, ev *keyward.Event) error {
	if err := checkMaterial(c, sec); err != nil {
		return err
	}
	nc, nev := *c, *ev
	var nsec *keyward.CredentialSecret
	if sec != nil {
		cp := *sec
		nsec = &cp
	}
	err := s.change(ctx, "create credential", &nev, func(tx *txn) error {
		if err := insertCredential(ctx, tx, &nc, nsec); err != nil {
			return err
		}
		if nev.ProjectID == 0 {
			nev.ProjectID = nc.ProjectID
		}
		if nev.CredentialID == 0 {
			nev.CredentialID = nc.ID
		}
		return nil
	})
	if err != nil {
		return err
	}
	*c, *ev = nc, nev
	if sec != nil {
		*sec = *nsec
	}
	return nil
}

// checkMaterial checks that a new credential has a secret, a certificate, or both, and that a
// certificate has its not-after.
func checkMaterial(c *keyward.Credential, sec *keyward.CredentialSecret) error {
	if sec == nil && c.Serial == "" {
		return keyward.Invalid("serial", "required for a credential without a secret")
	}
	if c.Serial != "" && c.ExpiresAt == nil {
		return keyward.Invalid("expires_at", "required for a certificate credential")
	}
	return nil
}

// insertCredential inserts c, its roles, its first secret (when sec is not nil) and its
// certificate (when c.Serial is set), and sets c.ID, c.Version, c.Project, c.RoleIDs (sorted),
// c.Recoverable and sec.CredentialID.
func insertCredential(ctx context.Context, tx *txn, c *keyward.Credential, sec *keyward.CredentialSecret) error {
	if err := keyward.CheckText(c); err != nil {
		return err
	}
	if err := checkMaterial(c, sec); err != nil {
		return err
	}
	var slug string
	err := tx.QueryRowContext(ctx, `SELECT slug FROM projects WHERE id = ?`, c.ProjectID).Scan(&slug)
	if errors.Is(err, sql.ErrNoRows) {
		return keyward.Errorf(keyward.ENotFound, "project not found")
	}
	if err != nil {
		return err
	}
	if c.Serial != "" {
		if err := checkSerialFree(ctx, tx, c.Serial); err != nil {
			return err
		}
	}
	meta, err := writable(c)
	if err != nil {
		return err
	}
	args := []any{c.ProjectID, c.Name, c.Description, string(c.Type), string(c.Environment), string(c.KeyType),
		c.CreatedBy, meta, c.NotBefore, c.ExpiresAt, c.Active,
		c.RevokedAt, c.CreatedAt, c.UpdatedAt, c.LastUsedAt,
		c.Start, nullString(c.Serial), nullString(c.Fingerprint), nullString(c.Cluster),
		nullString(c.Namespace)}
	args = append(args, limitArgs(c)...)
	args = append(args, c.Remaining, c.LastRefillAt, c.Purpose)
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO credentials (project_id, name, description, type, environment,
		key_type, created_by, meta, not_before, expires_at, active, revoked_at, created_at, updated_at,
		last_used_at, version, start, serial, fingerprint, cluster, namespace, ratelimit_limit,
		ratelimit_duration_ms, refill_interval, refill_amount, remaining, last_refill_at, purpose)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		args...).Scan(&id)
	switch {
	case tx.isUnique(err):
		return keyward.Errorf(keyward.EConflict, "name already taken in this project")
	case tx.isForeignKey(err):
		return keyward.Errorf(keyward.EInvalid, "the creating user does not exist")
	case err != nil:
		return err
	}
	c.ID, c.Version, c.Project = id, 1, slug
	c.RoleIDs = sortedIDs(c.RoleIDs)
	if err := insertRoles(ctx, tx, id, c.RoleIDs); err != nil {
		return err
	}
	if c.Serial != "" {
		cert := &keyward.Certificate{Serial: c.Serial, CredentialID: id, Fingerprint: c.Fingerprint,
			NotAfter: *c.ExpiresAt, RevokedAt: c.RevokedAt, CreatedAt: c.CreatedAt}
		if err := insertCertificate(ctx, tx, cert); err != nil {
			return err
		}
	}
	c.Recoverable = false
	if sec == nil {
		return nil
	}
	sec.CredentialID = id
	sec.ValidUntil = nil // the first secret is the current one
	if sec.CreatedAt.IsZero() {
		sec.CreatedAt = c.CreatedAt
	}
	if err := insertSecret(ctx, tx, sec); err != nil {
		return err
	}
	c.Recoverable = len(sec.Sealed) > 0 // credentialColumns' rule: the current secret is sealed
	return nil
}

// insertRoles binds the credential to roleIDs, which are sorted and unique.
func insertRoles(ctx context.Context, tx *txn, credentialID int64, roleIDs []int64) error {
	for _, r := range roleIDs {
		_, err := tx.ExecContext(ctx, `INSERT INTO credential_roles (credential_id, role_id) VALUES (?, ?)`, credentialID, r)
		if tx.isForeignKey(err) {
			return keyward.Errorf(keyward.EInvalid, "role %d does not exist", r)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// insertSecret stores sec, its sealed token included (NULL when it has none); EConflict when
// its digest exists.
func insertSecret(ctx context.Context, tx *txn, sec *keyward.CredentialSecret) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO credential_secrets (digest, credential_id, valid_until, created_at, sealed)
		VALUES (?, ?, ?, ?, ?)`, sec.Digest, sec.CredentialID, sec.ValidUntil, sec.CreatedAt,
		nullBlob(sec.Sealed))
	if tx.isUnique(err) {
		return keyward.Errorf(keyward.EConflict, "secret digest already exists")
	}
	if err == nil {
		tx.ch.secretCreated(slices.Clone(sec.Digest))
	}
	return err
}

// nullBlob stores a nil or empty b as NULL.
func nullBlob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// CredentialByID returns the credential id of the project. ENotFound, also when the credential
// belongs to another project.
func (s *Store) CredentialByID(ctx context.Context, projectID, id int64) (*keyward.Credential, error) {
	c, err := scanCredential(s.reader().QueryRowContext(ctx,
		`SELECT `+s.e.credentialColumns+credentialFrom+` WHERE c.id = ? AND c.project_id = ?`, id, projectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "credential not found")
	}
	return c, s.fail(ctx, "credential by id", err)
}

// CredentialByName returns the credential name of the project. ENotFound.
func (s *Store) CredentialByName(ctx context.Context, projectID int64, name string) (*keyward.Credential, error) {
	if !keyward.ValidText(name) {
		return nil, keyward.Errorf(keyward.ENotFound, "credential not found")
	}
	c, err := scanCredential(s.reader().QueryRowContext(ctx,
		`SELECT `+s.e.credentialColumns+credentialFrom+` WHERE c.project_id = ? AND c.name = ?`, projectID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "credential not found")
	}
	return c, s.fail(ctx, "credential by name", err)
}

// CredentialBySecret returns the credential that owns digest and that secret, in one indexed
// query. ENotFound.
func (s *Store) CredentialBySecret(ctx context.Context, digest []byte) (*keyward.Credential, *keyward.CredentialSecret, error) {
	var cs credentialScan
	var sec keyward.CredentialSecret
	var validUntil, created Time
	dest := append(cs.dest(), &sec.Digest, &sec.CredentialID, &validUntil, &created, &sec.Sealed)
	err := s.readStmt(ctx, s.e.bySecret, s.e.bySecretSQL, digest).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, keyward.Errorf(keyward.ENotFound, "credential not found")
	}
	if err != nil {
		return nil, nil, s.fail(ctx, "credential by secret", err)
	}
	c, err := cs.credential()
	if err != nil {
		return nil, nil, err
	}
	sec.ValidUntil = validUntil.Ptr()
	sec.CreatedAt = created.T
	if len(sec.Sealed) == 0 {
		sec.Sealed = nil
	}
	return c, &sec, nil
}

// VerificationBySecret reads the secret, its credential, creator and the creator's bindings
// in one statement.
func (s *Store) VerificationBySecret(ctx context.Context, digest []byte) (*keyward.VerificationRecord, error) {
	rows, err := s.readRows(ctx, s.e.forVerify, s.e.forVerifySQL, digest)
	if err != nil {
		return nil, s.fail(ctx, "verification by secret", err)
	}
	defer rows.Close()
	var rec *keyward.VerificationRecord
	for rows.Next() {
		var (
			cs                         credentialScan
			sec                        keyward.CredentialSecret
			validUntil, created        Time
			uid, bindProject, bindRole sql.NullInt64
			uname                      sql.NullString
			udisabled, upassword       sql.NullBool
			ucreated, uupdated, udel   Time
		)
		dest := append(cs.dest(), &sec.Digest, &sec.CredentialID, &validUntil, &created, &sec.Sealed,
			&uid, &uname, &udisabled, &ucreated, &uupdated, &udel, &upassword, &bindProject, &bindRole)
		if err := rows.Scan(dest...); err != nil {
			return nil, s.fail(ctx, "verification by secret", err)
		}
		if rec == nil {
			c, err := cs.credential()
			if err != nil {
				return nil, err
			}
			sec.ValidUntil, sec.CreatedAt = validUntil.Ptr(), created.T
			if len(sec.Sealed) == 0 {
				sec.Sealed = nil
			}
			rec = &keyward.VerificationRecord{Credential: c, Secret: &sec, Bindings: []keyward.RoleBinding{}}
			if uid.Valid {
				rec.Creator = &keyward.User{ID: uid.Int64, Name: uname.String, Disabled: udisabled.Bool,
					CreatedAt: ucreated.T, UpdatedAt: uupdated.T, DeletedAt: udel.Ptr(), HasPassword: upassword.Bool}
			}
		}
		if bindRole.Valid {
			rec.Bindings = append(rec.Bindings, keyward.RoleBinding{UserID: uid.Int64, ProjectID: bindProject.Int64, RoleID: bindRole.Int64})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "verification by secret", err)
	}
	if rec == nil {
		return nil, keyward.Errorf(keyward.ENotFound, "credential not found")
	}
	return rec, nil
}

// SecretDigests returns stored digests after after, ascending, at most limit (the list
// default and cap). Both engines order BLOB and bytea bytewise.
func (s *Store) SecretDigests(ctx context.Context, after []byte, n int) ([][]byte, error) {
	if after == nil {
		after = []byte{}
	}
	rows, err := s.reader().QueryContext(ctx, `SELECT digest FROM credential_secrets WHERE digest > ? ORDER BY digest LIMIT ?`, after, limit(n))
	out, err := scanRows(rows, err, func(r rowScanner) ([]byte, error) {
		var d []byte
		err := r.Scan(&d)
		return d, err
	})
	return out, s.fail(ctx, "secret digests", err)
}

// stateCondition returns the SQL condition (on alias c, with now bound to every ?) that
// matches exactly the credentials whose (*keyward.Credential).StateAt(now) is st.
func stateCondition(st keyward.State) (cond string, nowArgs int, err error) {
	switch st {
	case keyward.StateRevoked:
		return `c.revoked_at IS NOT NULL`, 0, nil
	case keyward.StateDisabled:
		return `c.revoked_at IS NULL AND NOT c.active`, 0, nil
	case keyward.StatePending:
		return `c.revoked_at IS NULL AND c.active AND c.not_before IS NOT NULL AND c.not_before > ?`, 1, nil
	case keyward.StateExpired:
		return `c.revoked_at IS NULL AND c.active AND (c.not_before IS NULL OR c.not_before <= ?)
			AND c.expires_at IS NOT NULL AND c.expires_at <= ?`, 2, nil
	case keyward.StateActive:
		return `c.revoked_at IS NULL AND c.active AND (c.not_before IS NULL OR c.not_before <= ?)
			AND (c.expires_at IS NULL OR c.expires_at > ?)`, 2, nil
	}
	return "", 0, keyward.Invalid("state", "unknown state")
}

// ListCredentials returns the credentials of f.ProjectID that match f (created by f.CreatedBy
// when it is not 0; of f.Type, or of every type but Session when it is ""), by ascending id
// after f.AfterID, at most f.Limit (default 100, at most 1000). The state is evaluated at f.Now, or at the present when f.Now is zero. EInvalid without a project or with an unknown state.
func (s *Store) ListCredentials(ctx context.Context, f keyward.CredentialFilter) ([]*keyward.Credential, error) {
	if f.ProjectID <= 0 {
		return nil, keyward.Invalid("project_id", "required")
	}
	q := `SELECT ` + s.e.credentialColumns + credentialFrom + ` WHERE c.project_id = ? AND c.id > ?`
	args := []any{f.ProjectID, f.AfterID}
	if f.CreatedBy != 0 {
		q += ` AND c.created_by = ?`
		args = append(args, f.CreatedBy)
	}
	if f.Type != "" {
		q += ` AND c.type = ?`
		args = append(args, string(f.Type))
	} else {
		q += ` AND c.type <> ?` // sessions only when asked for: see keyward.CredentialFilter
		args = append(args, string(keyward.Session))
	}
	if f.NotRevoked {
		q += ` AND c.revoked_at IS NULL`
	}
	if !f.IdleSince.IsZero() {
		q += ` AND COALESCE(c.last_used_at, c.created_at) <= ?`
		args = append(args, f.IdleSince)
	}
	if f.Environment != "" {
		q += ` AND c.environment = ?`
		args = append(args, string(f.Environment))
	}
	if f.State != "" {
		cond, n, err := stateCondition(f.State)
		if err != nil {
			return nil, err
		}
		now := f.Now
		if now.IsZero() {
			now = time.Now()
		}
		now = now.UTC().Truncate(time.Microsecond)
		// Flooring now to microseconds keeps every comparison exact: stored times are whole
		// microseconds, so now < t holds exactly when floor(now) < t.
		q += ` AND (` + cond + `)`
		for range n {
			args = append(args, now)
		}
	}
	q += ` ORDER BY c.id LIMIT ?`
	args = append(args, limit(f.Limit))
	rows, err := s.reader().QueryContext(ctx, q, args...)
	cs, err := scanRows(rows, err, scanCredential)
	return cs, s.fail(ctx, "list credentials", err)
}

// UpdateCredential writes c's mutable fields and ev if the stored version still equals
// c.Version, then increments c.Version and sets ev.ID. When c.RevokedAt is set, every
// certificate of the credential that is not revoked yet is revoked at c.RevokedAt, in the same
// transaction. It writes the rate limit and the refill (nil clears them) but never remaining
// or last_refill_at, nor the serial, fingerprint, start, cluster or namespace. EConflict when
// stale, ENotFound when missing; neither writes anything. EInvalid for a rate limit's count
// outside 32 bits.
func (s *Store) UpdateCredential(ctx context.Context, c *keyward.Credential, ev *keyward.Event) error {
	nev := *ev
	err := s.change(ctx, "update credential", &nev, func(tx *txn) error {
		if err := updateCredential(ctx, tx, c, rollNone); err != nil {
			return err
		}
		return revokeCertificates(ctx, tx, c)
	})
	if err != nil {
		return err
	}
	c.Version++
	c.RoleIDs = sortedIDs(c.RoleIDs)
	*ev = nev
	return nil
}

// revokeCertificates revokes, at c.RevokedAt, the certificates of c that are not revoked yet,
// when c is revoked. A certificate's revocation is never undone, nor its time moved: a CRL
// entry stays as published.
func revokeCertificates(ctx context.Context, tx *txn, c *keyward.Credential) error {
	if c.RevokedAt == nil {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE certificates SET revoked_at = ? WHERE credential_id = ? AND revoked_at IS NULL`,
		*c.RevokedAt, c.ID)
	return err
}

// RollCredential does what UpdateCredential does and also writes c.Start, then replaces the
// credential's current material, in one transaction with ev:
//   - with a secret sec (an API token): caps the earlier secrets' validity at graceUntil,
//     deletes those whose end is at or before c.UpdatedAt, and stores sec (with its sealed
//     token, if any) as the current secret, setting sec.CredentialID;
//   - without one (a certificate credential): c carries the new Serial, Fingerprint and
//     ExpiresAt, which are written; every earlier certificate not yet revoked is revoked at
//     c.UpdatedAt and the new one recorded (not after c.ExpiresAt). graceUntil is not used.
//
// It sets c.Recoverable to whether the new current secret is sealed. EInvalid without a
// secret and a serial, or with a serial and no expiry; EConflict when stale or when the
// digest or serial exists; ENotFound.
func (s *Store) RollCredential(ctx context.Context, c *keyward.Credential, sec *keyward.CredentialSecret, graceUntil time.Time, ev *keyward.Event) error {
	if sec == nil {
		if c.Serial == "" {
			return keyward.Invalid("serial", "required to roll a credential without a secret")
		}
		if c.ExpiresAt == nil {
			return keyward.Invalid("expires_at", "required for a certificate credential")
		}
	}
	var nsec *keyward.CredentialSecret
	if sec != nil {
		cp := *sec
		nsec = &cp
		nsec.CredentialID = c.ID
		nsec.ValidUntil = nil
		if nsec.CreatedAt.IsZero() {
			nsec.CreatedAt = c.UpdatedAt
		}
	}
	nev := *ev
	var recoverable bool
	err := s.change(ctx, "roll credential", &nev, func(tx *txn) error {
		if nsec == nil {
			if err := rollCertificate(ctx, tx, c); err != nil {
				return err
			}
		} else if err := rollSecret(ctx, tx, c, nsec, graceUntil); err != nil {
			return err
		}
		if err := revokeCertificates(ctx, tx, c); err != nil {
			return err
		}
		// A certificate roll leaves a secret the credential may have as it was.
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM credential_secrets
			WHERE credential_id = ? AND valid_until IS NULL AND sealed IS NOT NULL)`, c.ID).Scan(&recoverable); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.Version++
	c.RoleIDs = sortedIDs(c.RoleIDs)
	c.Recoverable = recoverable
	if nsec != nil {
		*sec = *nsec
	}
	*ev = nev
	return nil
}

// rollSecret is RollCredential with a new secret.
func rollSecret(ctx context.Context, tx *txn, c *keyward.Credential, sec *keyward.CredentialSecret, graceUntil time.Time) error {
	if err := updateCredential(ctx, tx, c, rollSecretMaterial); err != nil {
		return err
	}
	// An earlier end stays; a current secret (no end) gets graceUntil.
	if _, err := tx.ExecContext(ctx, `UPDATE credential_secrets
		SET valid_until = CASE WHEN valid_until IS NOT NULL AND valid_until < ?1 THEN valid_until ELSE ?1 END
		WHERE credential_id = ?2`, graceUntil, c.ID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM credential_secrets
		WHERE credential_id = ? AND valid_until IS NOT NULL AND valid_until <= ?`, c.ID, c.UpdatedAt); err != nil {
		return err
	}
	return insertSecret(ctx, tx, sec)
}

// rollCertificate is RollCredential with a new certificate (c.Serial).
func rollCertificate(ctx context.Context, tx *txn, c *keyward.Credential) error {
	if err := updateCredential(ctx, tx, c, rollCertificateMaterial); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE certificates SET revoked_at = ? WHERE credential_id = ? AND revoked_at IS NULL`,
		c.UpdatedAt, c.ID); err != nil {
		return err
	}
	return insertCertificate(ctx, tx, &keyward.Certificate{Serial: c.Serial, CredentialID: c.ID,
		Fingerprint: c.Fingerprint, NotAfter: *c.ExpiresAt, CreatedAt: c.UpdatedAt})
}

// rollKind tells updateCredential which material columns a write also sets.
type rollKind int

const (
	rollNone                rollKind = iota // UpdateCredential: no material
	rollSecretMaterial                      // a token roll: start
	rollCertificateMaterial                 // a certificate roll: start, serial, fingerprint
)

// updateCredential is the versioned write UpdateCredential and RollCredential share. It does
// not touch c: the caller bumps c.Version once the transaction commits. A certificate roll
// whose serial another credential holds is EConflict.
func updateCredential(ctx context.Context, tx *txn, c *keyward.Credential, kind rollKind) error {
	if err := keyward.CheckText(c); err != nil {
		return err
	}
	meta, err := writable(c)
	if err != nil {
		return err
	}
	// Never remaining or last_refill_at: they are counters that ConsumeCredit moves between a
	// read and this write, which a stale copy in c must not undo.
	q := `UPDATE credentials SET name = ?, description = ?, meta = ?, not_before = ?, expires_at = ?, active = ?,
		revoked_at = ?, updated_at = ?, ratelimit_limit = ?, ratelimit_duration_ms = ?, refill_interval = ?,
		refill_amount = ?, version = version + 1`
	args := append([]any{c.Name, c.Description, meta, c.NotBefore, c.ExpiresAt, c.Active,
		c.RevokedAt, c.UpdatedAt}, limitArgs(c)...)
	switch kind {
	case rollSecretMaterial:
		q += `, start = ?`
		args = append(args, c.Start)
	case rollCertificateMaterial:
		if err := checkSerialFree(ctx, tx, c.Serial); err != nil {
			return err
		}
		q += `, start = ?, serial = ?, fingerprint = ?`
		args = append(args, c.Start, nullString(c.Serial), nullString(c.Fingerprint))
	}
	q += ` WHERE id = ? AND project_id = ? AND version = ?`
	args = append(args, c.ID, c.ProjectID, c.Version)
	res, err := tx.ExecContext(ctx, q, args...)
	if tx.isUnique(err) {
		// checkSerialFree has found the new serial free: the name is what is taken, unless a
		// concurrent roll took the serial meanwhile.
		if kind == rollCertificateMaterial {
			return keyward.Errorf(keyward.EConflict, "name or certificate serial already taken")
		}
		return keyward.Errorf(keyward.EConflict, "name already taken in this project")
	}
	ok, err := oneRow(res, err)
	if err != nil {
		return err
	}
	if !ok {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM credentials WHERE id = ? AND project_id = ?)`,
			c.ID, c.ProjectID).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return keyward.Errorf(keyward.EConflict, "credential was modified; re-read it and retry")
		}
		return keyward.Errorf(keyward.ENotFound, "credential not found")
	}
	tx.changed(credentialChanged, c.ID)

	want := sortedIDs(c.RoleIDs)
	rows, err := tx.QueryContext(ctx, `SELECT role_id FROM credential_roles WHERE credential_id = ? ORDER BY role_id`, c.ID)
	if err != nil {
		return err
	}
	var have []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		have = append(have, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if slices.Equal(have, want) {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM credential_roles WHERE credential_id = ?`, c.ID); err != nil {
		return err
	}
	return insertRoles(ctx, tx, c.ID, want)
}

// TouchCredentials moves last_used_at forward to the given times in one transaction; an
// earlier time never moves it back. Unknown ids are ignored.
func (s *Store) TouchCredentials(ctx context.Context, used map[int64]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(used))
	for id := range used {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return s.inTx(ctx, "touch credentials", func(tx *txn) error {
		stmt, err := tx.prepare(ctx, `UPDATE credentials
			SET last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < ?1 THEN ?1 ELSE last_used_at END
			WHERE id = ?2`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, id := range ids {
			if _, err := stmt.ExecContext(ctx, used[id], id); err != nil {
				return err
			}
		}
		return nil
	})
}
