package sqlstore

import (
	"context"
	"encoding/json"

	"github.com/keyward/keyward"
)

// insertEvent stores ev in tx and returns its id; the caller sets ev.ID once tx commits.
// An empty Detail is stored as NULL and read back as nil. The event takes its place in the
// audit chain when tx commits (chain.go), as it was stored now.
func insertEvent(ctx context.Context, tx *txn, ev *keyward.Event) (int64, error) {
	if err := keyward.CheckText(ev); err != nil {
		return 0, err
	}
	var detail any
	if len(ev.Detail) > 0 {
		b, err := json.Marshal(ev.Detail)
		if err != nil {
			return 0, err
		}
		detail = string(b)
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO events (time, actor_user_id, actor_credential_id, actor, action,
		project_id, credential_id, remote_addr, outcome, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		ev.Time, ev.ActorUserID, ev.ActorCredentialID, ev.Actor, ev.Action,
		ev.ProjectID, ev.CredentialID, ev.RemoteAddr, ev.Outcome, detail).Scan(&id)
	if err != nil {
		return 0, err
	}
	tx.ch.eventInserted(id, ev)
	// The outbox: the event's webhooks commit, or roll back, with it.
	return id, enqueueWebhooks(ctx, tx, ev, id)
}

// AppendEvent stores an event that has no change of its own and sets ev.ID.
func (s *Store) AppendEvent(ctx context.Context, ev *keyward.Event) error {
	var id int64
	err := s.inTx(ctx, "append event", func(tx *txn) error {
		var err error
		id, err = insertEvent(ctx, tx, ev)
		return err
	})
	if err != nil {
		return err
	}
	ev.ID = id
	return nil
}

// ListEvents returns events that match f, newest (highest id) first, before f.BeforeID when it
// is set, at most f.Limit (default 100, at most 1000).
func (s *Store) ListEvents(ctx context.Context, f keyward.EventFilter) ([]*keyward.Event, error) {
	q := `SELECT ` + eventColumns + ` FROM events WHERE 1 = 1`
	var args []any
	if f.BeforeID > 0 {
		q += ` AND id < ?`
		args = append(args, f.BeforeID)
	}
	if f.CredentialID != 0 {
		q += ` AND credential_id = ?`
		args = append(args, f.CredentialID)
	}
	if f.ProjectIDs != nil {
		if len(f.ProjectIDs) == 0 {
			return []*keyward.Event{}, nil
		}
		q += ` AND project_id IN (` + s.e.d.IDList() + `)`
		args = append(args, idsJSON(f.ProjectIDs))
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit(f.Limit))
	rows, err := s.reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.fail(ctx, "list events", err)
	}
	defer rows.Close()
	evs := []*keyward.Event{}
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, s.fail(ctx, "list events", err)
		}
		evs = append(evs, &ev)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "list events", err)
	}
	return evs, nil
}
