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

// credentialColumns selects a credential with its project's slug, its role ids (ascending) and
// whether it is recoverable (its current secret is sealed) in one statement, so a read sees one
// consistent snapshot.
const credentialColumns = `c.id, c.project_id, p.slug, c.name, c.description, c.type, c.environment,
	c.key_type, c.created_by,
	ARRAY(SELECT cr.role_id FROM credential_roles cr WHERE cr.credential_id = c.id ORDER BY cr.role_id),
	c.meta, c.not_before, c.expires_at, c.active, c.revoked_at, c.created_at, c.updated_at,
	c.last_used_at, c.version, c.start, COALESCE(c.serial, ''), COALESCE(c.fingerprint, ''),
	COALESCE(c.cluster, ''), COALESCE(c.namespace, ''),
	EXISTS (SELECT 1 FROM credential_secrets rs
		WHERE rs.credential_id = c.id AND rs.valid_until IS NULL AND rs.sealed IS NOT NULL),
	c.ratelimit_limit, c.ratelimit_duration_ms, c.remaining, c.refill_interval, c.refill_amount,
	c.last_refill_at, c.purpose`

const credentialFrom = ` FROM credentials c JOIN projects p ON p.id = c.project_id`

// selectCredentialBySecret is the verify hot path: one primary-key probe and two joins. pgx
// prepares it once per connection and keeps it in its statement cache.
const selectCredentialBySecret = `SELECT ` + credentialColumns + `,
	s.digest, s.credential_id, s.valid_until, s.created_at, s.sealed
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
	limits                                    limitsScan
}

func (cs *credentialScan) dest() []any {
	c := &cs.c
	return []any{&c.ID, &c.ProjectID, &c.Project, &c.Name, &c.Description, &cs.typ, &cs.env,
		&cs.keyType, &c.CreatedBy, &cs.roles, &cs.meta, &cs.notBefore, &cs.expiresAt, &c.Active,
		&cs.revokedAt, &c.CreatedAt, &c.UpdatedAt, &cs.lastUsed, &c.Version, &c.Start, &c.Serial,
		&c.Fingerprint, &c.Cluster, &c.Namespace, &c.Recoverable,
		&cs.limits.rateLimit, &cs.limits.rateDuration, &cs.limits.remaining, &cs.limits.refillInterval,
		&cs.limits.refillAmount, &cs.limits.lastRefill, &c.Purpose}
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
	cs.limits.fill(&c)
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
	var evID int64
	err := s.inTx(ctx, "create credential", func(tx pgx.Tx) error {
		if err := insertCredential(ctx, tx, &nc, nsec); err != nil {
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
	*c, *ev = nc, nev
	if sec != nil {
		*sec = *nsec
	}
	ev.ID = evID
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
func insertCredential(ctx context.Context, tx pgx.Tx, c *keyward.Credential, sec *keyward.CredentialSecret) error {
	if err := keyward.CheckText(c); err != nil {
		return err
	}
	if err := checkMaterial(c, sec); err != nil {
		return err
	}
	var slug string
	err := tx.QueryRow(ctx, `SELECT slug FROM projects WHERE id = $1`, c.ProjectID).Scan(&slug)
	if errors.Is(err, pgx.ErrNoRows) {
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
	meta, err := metaJSON(c.Meta)
	if err != nil {
		return err
	}
	if err := checkLimits(c); err != nil {
		return err
	}
	args := []any{c.ProjectID, c.Name, c.Description, string(c.Type), string(c.Environment), string(c.KeyType),
		c.CreatedBy, meta, nullTS(c.NotBefore), nullTS(c.ExpiresAt), c.Active,
		nullTS(c.RevokedAt), ts(c.CreatedAt), ts(c.UpdatedAt), nullTS(c.LastUsedAt),
		c.Start, nullString(c.Serial), nullString(c.Fingerprint), nullString(c.Cluster),
		nullString(c.Namespace)}
	args = append(args, limitArgs(c)...)
	args = append(args, c.Remaining, nullTS(c.LastRefillAt), c.Purpose)
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO credentials (project_id, name, description, type, environment,
		key_type, created_by, meta, not_before, expires_at, active, revoked_at, created_at, updated_at,
		last_used_at, version, start, serial, fingerprint, cluster, namespace, ratelimit_limit,
		ratelimit_duration_ms, refill_interval, refill_amount, remaining, last_refill_at, purpose)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 1, $16, $17, $18, $19, $20,
			$21, $22, $23, $24, $25, $26, $27)
		RETURNING id`, args...).Scan(&id)
	switch {
	case isUnique(err) && constraint(err) == "credentials_serial":
		return keyward.Errorf(keyward.EConflict, "certificate serial already exists")
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
	sec.ValidUntil = nil
	if sec.CreatedAt.IsZero() {
		sec.CreatedAt = c.CreatedAt
	}
	if err := insertSecret(ctx, tx, sec); err != nil {
		return err
	}
	c.Recoverable = len(sec.Sealed) > 0
	return nil
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

// insertSecret stores sec, its sealed token included (NULL when it has none); EConflict when
// its digest exists.
func insertSecret(ctx context.Context, tx pgx.Tx, sec *keyward.CredentialSecret) error {
	_, err := tx.Exec(ctx, `INSERT INTO credential_secrets (digest, credential_id, valid_until, created_at, sealed)
		VALUES ($1, $2, $3, $4, $5)`, sec.Digest, sec.CredentialID, nullTS(sec.ValidUntil), ts(sec.CreatedAt),
		nullBlob(sec.Sealed))
	if isUnique(err) {
		return keyward.Errorf(keyward.EConflict, "secret digest already exists")
	}
	return err
}

// nullBlob stores a nil or empty b as NULL.
func nullBlob(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
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
	if !keyward.ValidText(name) {
		return nil, keyward.Errorf(keyward.ENotFound, "credential not found")
	}
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
	dest := append(cs.dest(), &sec.Digest, &sec.CredentialID, &validUntil, &sec.CreatedAt, &sec.Sealed)
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
	if len(sec.Sealed) == 0 {
		sec.Sealed = nil
	}
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
// when it is not 0; of f.Type, or of every type but Session when it is ""), by ascending id
// after f.AfterID, at most f.Limit (default 100, at most 1000). The state is evaluated at f.Now, or
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
	} else {
		// Sessions only when asked for: see keyward.CredentialFilter.
		args = append(args, string(keyward.Session))
		q += fmt.Sprintf(` AND c.type <> $%d`, len(args))
	}
	if f.NotRevoked {
		q += ` AND c.revoked_at IS NULL`
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
// c.Version, then increments c.Version and sets ev.ID. When c.RevokedAt is set, every
// certificate of the credential that is not revoked yet is revoked at c.RevokedAt, in the same
// transaction. It writes the rate limit and the refill (nil clears them) but never remaining
// or last_refill_at, nor the serial, fingerprint, start, cluster or namespace. EConflict when
// stale, ENotFound when missing; neither writes anything. EInvalid for a rate limit's count
// outside 32 bits.
func (s *Store) UpdateCredential(ctx context.Context, c *keyward.Credential, ev *keyward.Event) error {
	nev := *ev
	var evID int64
	err := s.inTx(ctx, "update credential", func(tx pgx.Tx) error {
		if err := updateCredential(ctx, tx, c, rollNone); err != nil {
			return err
		}
		if err := revokeCertificates(ctx, tx, c); err != nil {
			return err
		}
		if err := s.notify(ctx, tx, keyward.Invalidation{CredentialIDs: []int64{c.ID}}); err != nil {
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

// revokeCertificates revokes, at c.RevokedAt, the certificates of c that are not revoked yet,
// when c is revoked. A certificate's revocation is never undone, nor its time moved: a CRL
// entry stays as published.
func revokeCertificates(ctx context.Context, tx pgx.Tx, c *keyward.Credential) error {
	if c.RevokedAt == nil {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE certificates SET revoked_at = $1 WHERE credential_id = $2 AND revoked_at IS NULL`,
		ts(*c.RevokedAt), c.ID)
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
	var evID int64
	var recoverable bool
	err := s.inTx(ctx, "roll credential", func(tx pgx.Tx) error {
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
		if err := s.notify(ctx, tx, keyward.Invalidation{CredentialIDs: []int64{c.ID}}); err != nil {
			return err
		}
		// A certificate roll leaves a secret the credential may have as it was.
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM credential_secrets
			WHERE credential_id = $1 AND valid_until IS NULL AND sealed IS NOT NULL)`, c.ID).Scan(&recoverable); err != nil {
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
	c.Recoverable = recoverable
	if nsec != nil {
		*sec = *nsec
	}
	*ev = nev
	ev.ID = evID
	return nil
}

// rollSecret is RollCredential with a new secret.
func rollSecret(ctx context.Context, tx pgx.Tx, c *keyward.Credential, sec *keyward.CredentialSecret, graceUntil time.Time) error {
	if err := updateCredential(ctx, tx, c, rollSecretMaterial); err != nil {
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
	return insertSecret(ctx, tx, sec)
}

// rollCertificate is RollCredential with a new certificate (c.Serial).
func rollCertificate(ctx context.Context, tx pgx.Tx, c *keyward.Credential) error {
	if err := updateCredential(ctx, tx, c, rollCertificateMaterial); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE certificates SET revoked_at = $1 WHERE credential_id = $2 AND revoked_at IS NULL`,
		ts(c.UpdatedAt), c.ID); err != nil {
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
//
// Under READ COMMITTED, a writer that finds the row locked by another waits for it to commit,
// then re-checks WHERE on the new row version: the stale version no longer matches, so exactly
// one of several writers that read the same version updates the row.
func updateCredential(ctx context.Context, tx pgx.Tx, c *keyward.Credential, kind rollKind) error {
	if err := keyward.CheckText(c); err != nil {
		return err
	}
	meta, err := metaJSON(c.Meta)
	if err != nil {
		return err
	}
	if err := checkLimits(c); err != nil {
		return err
	}
	// Never remaining or last_refill_at: they are counters that ConsumeCredit moves between a
	// read and this write, which a stale copy in c must not undo.
	q := `UPDATE credentials SET description = $1, meta = $2, not_before = $3, expires_at = $4, active = $5,
		revoked_at = $6, updated_at = $7, name = $8, ratelimit_limit = $9, ratelimit_duration_ms = $10,
		refill_interval = $11, refill_amount = $12, version = version + 1`
	args := append([]any{c.Description, meta, nullTS(c.NotBefore), nullTS(c.ExpiresAt), c.Active,
		nullTS(c.RevokedAt), ts(c.UpdatedAt), c.Name}, limitArgs(c)...)
	switch kind {
	case rollSecretMaterial:
		args = append(args, c.Start)
		q += fmt.Sprintf(`, start = $%d`, len(args))
	case rollCertificateMaterial:
		if err := checkSerialFree(ctx, tx, c.Serial); err != nil {
			return err
		}
		args = append(args, c.Start, nullString(c.Serial), nullString(c.Fingerprint))
		n := len(args)
		q += fmt.Sprintf(`, start = $%d, serial = $%d, fingerprint = $%d`, n-2, n-1, n)
	}
	args = append(args, c.ID, c.ProjectID, c.Version)
	n := len(args)
	q += fmt.Sprintf(` WHERE id = $%d AND project_id = $%d AND version = $%d`, n-2, n-1, n)
	tag, err := tx.Exec(ctx, q, args...)
	if isUnique(err) {
		if constraint(err) == "credentials_project_id_name_key" {
			return keyward.Errorf(keyward.EConflict, "name already taken in this project")
		}
		return keyward.Errorf(keyward.EConflict, "certificate serial already exists")
	}
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
