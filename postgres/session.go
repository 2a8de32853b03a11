package postgres

import (
	"cmp"
	"context"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"

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
	err := s.inTx(ctx, "revoke sessions", func(tx pgx.Tx) error {
		var live bool
		// FOR UPDATE orders this against a concurrent password change of the same user.
		err := tx.QueryRow(ctx, `SELECT deleted_at IS NULL FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&live)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && !live) {
			return keyward.Errorf(keyward.ENotFound, "user not found")
		} else if err != nil {
			return err
		}
		ids, err = s.revokeSessions(ctx, tx, userID, end)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// revokeSessions is RevokeSessions inside tx; it tells the other servers which sessions ended.
func (s *Store) revokeSessions(ctx context.Context, tx pgx.Tx, userID int64, end keyward.SessionEnd) ([]int64, error) {
	at := ts(end.At)
	rows, err := tx.Query(ctx, `UPDATE credentials SET revoked_at = $1, updated_at = $1, version = version + 1
		WHERE created_by = $2 AND type = $3 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)
		AND id <> $4 RETURNING id, project_id`, at, userID, string(keyward.Session), end.Keep)
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
	// RETURNING has no order; the ids (and their events) go out ascending.
	slices.SortFunc(found, func(x, y session) int { return cmp.Compare(x.id, y.id) })
	ids := []int64{}
	for _, x := range found {
		ev := *end.Event
		ev.CredentialID, ev.ProjectID = x.id, x.projectID
		if _, err := insertEvent(ctx, tx, &ev); err != nil {
			return nil, err
		}
		ids = append(ids, x.id)
	}
	if len(ids) > 0 {
		if err := s.notify(ctx, tx, keyward.Invalidation{CredentialIDs: ids}); err != nil {
			return nil, err
		}
	}
	return ids, nil
}
