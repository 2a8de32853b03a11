package sqlstore

import (
	"context"
	"database/sql"

	"github.com/keyward/keyward"
)

// RevokeSessions revokes the user's live login sessions but end.Keep, each with its own copy
// of end.Event, in one transaction, and returns their ids. ENotFound for a missing or deleted
// user; EInvalid without an event.
func (s *Store) RevokeSessions(ctx context.Context, userID int64, end keyward.SessionEnd) ([]int64, error) {
	if end.Event == nil {
		return nil, keyward.Invalid("event", "required")
	}
	var ids []int64
	err := s.inTx(ctx, "revoke sessions", func(tx *txn) error {
		var live bool
		// Locking the user orders this against a concurrent password change of the same user.
		err := tx.QueryRowContext(ctx, `SELECT deleted_at IS NULL FROM users WHERE id = ?`+tx.forUpdate(""), userID).Scan(&live)
		if err == sql.ErrNoRows || (err == nil && !live) {
			return keyward.Errorf(keyward.ENotFound, "user not found")
		} else if err != nil {
			return err
		}
		ids, err = revokeSessions(ctx, tx, userID, end)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// revokeSessions is RevokeSessions inside tx.
func revokeSessions(ctx context.Context, tx *txn, userID int64, end keyward.SessionEnd) ([]int64, error) {
	at := end.At
	rows, err := tx.QueryContext(ctx, `SELECT id, project_id FROM credentials
		WHERE created_by = ? AND type = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
		AND id <> ? ORDER BY id`+tx.forUpdate(""), userID, string(keyward.Session), at, end.Keep)
	if err != nil {
		return nil, err
	}
	type session struct{ id, projectID int64 }
	var found []session
	for rows.Next() {
		var x session
		if err := rows.Scan(&x.id, &x.projectID); err != nil {
			rows.Close()
			return nil, err
		}
		found = append(found, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	ids := []int64{}
	for _, x := range found {
		if _, err := tx.ExecContext(ctx, `UPDATE credentials SET revoked_at = ?, updated_at = ?, version = version + 1
			WHERE id = ?`, at, at, x.id); err != nil {
			return nil, err
		}
		tx.changed(credentialChanged, x.id)
		ev := *end.Event
		ev.CredentialID, ev.ProjectID = x.id, x.projectID
		if _, err := insertEvent(ctx, tx, &ev); err != nil {
			return nil, err
		}
		ids = append(ids, x.id)
	}
	return ids, nil
}
