package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keyward/keyward"
)

// certificateColumns selects a certificate (alias k).
const certificateColumns = `k.serial, k.credential_id, k.fingerprint, k.not_after, k.revoked_at, k.created_at`

// selectCredentialBySerial is the mutual-TLS lookup: the certificate with its credential, in
// one statement.
func (e *engine) selectCredentialBySerial() string {
	return `SELECT ` + e.credentialColumns + `, ` + certificateColumns + `
	FROM certificates k
	JOIN credentials c ON c.id = k.credential_id
	JOIN projects p ON p.id = c.project_id
	WHERE k.serial = ?`
}

// certificateScan holds the scan targets of certificateColumns.
type certificateScan struct {
	k                   keyward.Certificate
	notAfter, createdAt Time
	revokedAt           Time
}

func (ks *certificateScan) dest() []any {
	return []any{&ks.k.Serial, &ks.k.CredentialID, &ks.k.Fingerprint, &ks.notAfter, &ks.revokedAt, &ks.createdAt}
}

func (ks *certificateScan) certificate() *keyward.Certificate {
	k := ks.k
	k.NotAfter = ks.notAfter.T
	k.RevokedAt = ks.revokedAt.Ptr()
	k.CreatedAt = ks.createdAt.T
	return &k
}

// checkSerialFree returns EConflict when a certificate or a credential holds serial: serials
// are never reused, not even those of revoked or rolled certificates.
func checkSerialFree(ctx context.Context, tx *txn, serial string) error {
	var taken bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = ?1)
		OR EXISTS (SELECT 1 FROM credentials WHERE serial = ?1)`, serial).Scan(&taken); err != nil {
		return err
	}
	if taken {
		return keyward.Errorf(keyward.EConflict, "certificate serial already exists")
	}
	return nil
}

// insertCertificate records k; EConflict when its serial exists.
func insertCertificate(ctx context.Context, tx *txn, k *keyward.Certificate) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO certificates (serial, credential_id, fingerprint, not_after, revoked_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, k.Serial, k.CredentialID, k.Fingerprint, k.NotAfter,
		k.RevokedAt, k.CreatedAt)
	if tx.isUnique(err) {
		return keyward.Errorf(keyward.EConflict, "certificate serial already exists")
	}
	return err
}

// CredentialBySerial returns the credential that was issued the certificate with serial, and
// that certificate, current or not, revoked or not: the caller judges it. ENotFound.
func (s *Store) CredentialBySerial(ctx context.Context, serial string) (*keyward.Credential, *keyward.Certificate, error) {
	if !keyward.ValidText(serial) {
		return nil, nil, keyward.Errorf(keyward.ENotFound, "certificate not found")
	}
	var cs credentialScan
	var ks certificateScan
	err := s.readStmt(ctx, s.e.bySerial, s.e.bySerialSQL, serial).Scan(append(cs.dest(), ks.dest()...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, keyward.Errorf(keyward.ENotFound, "certificate not found")
	}
	if err != nil {
		return nil, nil, s.fail(ctx, "credential by serial", err)
	}
	c, err := cs.credential()
	if err != nil {
		return nil, nil, err
	}
	return c, ks.certificate(), nil
}

// RevokedCertificates returns the revoked certificates whose not-after is after now, by
// serial: what a CRL lists. Never nil.
func (s *Store) RevokedCertificates(ctx context.Context, now time.Time) ([]*keyward.Certificate, error) {
	// Stored times are whole microseconds, so not_after > now exactly when not_after > floor(now).
	rows, err := s.reader().QueryContext(ctx, `SELECT `+certificateColumns+` FROM certificates k
		WHERE k.revoked_at IS NOT NULL AND k.not_after > ? ORDER BY k.serial`, now)
	if err != nil {
		return nil, s.fail(ctx, "revoked certificates", err)
	}
	defer rows.Close()
	ks := []*keyward.Certificate{}
	for rows.Next() {
		var sc certificateScan
		if err := rows.Scan(sc.dest()...); err != nil {
			return nil, s.fail(ctx, "revoked certificates", err)
		}
		ks = append(ks, sc.certificate())
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "revoked certificates", err)
	}
	return ks, nil
}

// SealedSecret returns the sealed token of the credential's current secret (the one with no
// end). ENotFound when the credential has no current secret or it is not sealed.
func (s *Store) SealedSecret(ctx context.Context, credentialID int64) ([]byte, error) {
	var sealed []byte
	err := s.reader().QueryRowContext(ctx, `SELECT sealed FROM credential_secrets
		WHERE credential_id = ? AND valid_until IS NULL AND sealed IS NOT NULL
		ORDER BY created_at DESC LIMIT 1`, credentialID).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "the key is not recoverable")
	}
	if err != nil {
		return nil, s.fail(ctx, "sealed secret", err)
	}
	return sealed, nil
}
