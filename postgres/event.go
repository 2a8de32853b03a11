package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// detailJSON renders an event's detail for the jsonb column: NULL when empty.
func detailJSON(d map[string]string) (any, error) {
	if len(d) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// insertEvent stores ev in tx and returns its id; the caller sets ev.ID once tx commits.
// An empty Detail is stored as NULL and read back as nil.
func insertEvent(ctx context.Context, tx pgx.Tx, ev *keyward.Event) (int64, error) {
	if err := keyward.CheckText(ev); err != nil {
		return 0, err
	}
	detail, err := detailJSON(ev.Detail)
	if err != nil {
		return 0, err
	}
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO events (time, actor_user_id, actor_credential_id, actor, action,
		project_id, credential_id, remote_addr, outcome, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		ts(ev.Time), ev.ActorUserID, ev.ActorCredentialID, ev.Actor, ev.Action,
		ev.ProjectID, ev.CredentialID, ev.RemoteAddr, ev.Outcome, detail).Scan(&id)
	return id, err
}

// AppendEvent stores an event that has no change of its own and sets ev.ID.
func (s *Store) AppendEvent(ctx context.Context, ev *keyward.Event) error {
	var id int64
	err := s.inTx(ctx, "append event", func(tx pgx.Tx) error {
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

const eventColumns = `id, time, actor_user_id, actor_credential_id, actor, action,
	project_id, credential_id, remote_addr, outcome, detail`

// scanEvent reads one row of eventColumns.
func scanEvent(row pgx.Row) (*keyward.Event, error) {
	var ev keyward.Event
	var detail []byte
	if err := row.Scan(&ev.ID, &ev.Time, &ev.ActorUserID, &ev.ActorCredentialID, &ev.Actor, &ev.Action,
		&ev.ProjectID, &ev.CredentialID, &ev.RemoteAddr, &ev.Outcome, &detail); err != nil {
		return nil, err
	}
	ev.Time = ev.Time.UTC()
	if detail != nil {
		if err := json.Unmarshal(detail, &ev.Detail); err != nil {
			return nil, fmt.Errorf("postgres: event %d detail: %w", ev.ID, err)
		}
		if len(ev.Detail) == 0 {
			ev.Detail = nil
		}
	}
	return &ev, nil
}

// ListEvents returns events that match f, newest (highest id) first, before f.BeforeID when it
// is set, at most f.Limit (default 100, at most 1000).
func (s *Store) ListEvents(ctx context.Context, f keyward.EventFilter) ([]*keyward.Event, error) {
	q := `SELECT ` + eventColumns + ` FROM events WHERE true`
	var args []any
	if f.BeforeID > 0 {
		args = append(args, f.BeforeID)
		q += fmt.Sprintf(` AND id < $%d`, len(args))
	}
	if f.CredentialID != 0 {
		args = append(args, f.CredentialID)
		q += fmt.Sprintf(` AND credential_id = $%d`, len(args))
	}
	if f.ProjectIDs != nil {
		if len(f.ProjectIDs) == 0 {
			return []*keyward.Event{}, nil
		}
		args = append(args, f.ProjectIDs)
		q += fmt.Sprintf(` AND project_id = ANY($%d)`, len(args))
	}
	args = append(args, limit(f.Limit))
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args))
	rows, err := s.query(ctx, q, args...)
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
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "list events", err)
	}
	return evs, nil
}
