package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keyward/keyward"
)

var _ keyward.GraceStore = (*Store)(nil)

// MarkFirstUseGrace marks the credential's rolled-away secrets still valid at `at` as ending
// at the current secret's first use.
func (s *Store) MarkFirstUseGrace(ctx context.Context, credentialID int64, at time.Time) error {
	return s.inTx(ctx, "mark first-use grace", func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `UPDATE credential_secrets SET ends_at_first_use = ?
			WHERE credential_id = ? AND valid_until IS NOT NULL AND valid_until > ?`, true, credentialID, at)
		return err
	})
}

// EndFirstUseGrace ends, at `at`, the credential's secrets that wait for the current one's
// first use, as keyward.GraceStore says.
func (s *Store) EndFirstUseGrace(ctx context.Context, credentialID int64, at time.Time, ev *keyward.Event) (bool, error) {
	var ended bool
	nev := *ev
	err := s.inTx(ctx, "end first-use grace", func(tx *txn) error {
		ended = false
		var projectID int64
		var live int
		if err := tx.QueryRowContext(ctx, `SELECT c.project_id, COUNT(s.digest) FROM credentials c
			JOIN credential_secrets s ON s.credential_id = c.id AND s.ends_at_first_use AND s.valid_until > ?
			WHERE c.id = ? GROUP BY c.project_id`, at, credentialID).Scan(&projectID, &live); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE credential_secrets
			SET ends_at_first_use = ?, valid_until = CASE WHEN valid_until > ? THEN ? ELSE valid_until END
			WHERE credential_id = ? AND ends_at_first_use`, false, at, at, credentialID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		tx.changed(credentialChanged, credentialID)
		if live == 0 {
			return nil // the hard limit came first: nothing ends now
		}
		if nev.ProjectID == 0 {
			nev.ProjectID = projectID
		}
		if nev.CredentialID == 0 {
			nev.CredentialID = credentialID
		}
		id, err := insertEvent(ctx, tx, &nev)
		if err != nil {
			return err
		}
		nev.ID = id
		ended = true
		return nil
	})
	if err != nil {
		return false, err
	}
	if ended {
		*ev = nev
	}
	return ended, nil
}
