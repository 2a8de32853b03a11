package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/auditchain"
)

// The audit chain (keyward.AuditChainStore). An event is inserted with the rest of its
// transaction's writes and takes its place in the chain only when the transaction commits:
// commit locks the one row of audit_chain_head (SELECT ... FOR UPDATE on PostgreSQL; SQLite's
// one writer serializes anyway), gives each of the transaction's events the next seq, the
// previous hash, its hash and MAC, and moves the head. So seqs follow commit order without
// gaps (a rolled back transaction never held one), and the head is the last lock a writing
// transaction takes, held only for those few statements and the commit: no deadlock can form
// around it. The cost, on PostgreSQL: the event-writing end of every mutation is serialized
// across all replicas (one row lock per commit); reads, verification and walks are not.
// Event ids come from the database at insert time, so under concurrency id order may differ
// from seq order; the chain's order is seq.

// pendingEvent is an event inserted by the transaction, as it was stored.
type pendingEvent struct {
	id int64
	ev keyward.Event
}

// eventInserted records an inserted event for the chain, copied as the columns hold it.
func (c *changes) eventInserted(id int64, ev *keyward.Event) {
	cp := *ev
	cp.ID = id
	cp.Time = ev.Time.Truncate(time.Microsecond).UTC()
	cp.Detail = nil
	if len(ev.Detail) > 0 {
		cp.Detail = maps.Clone(ev.Detail)
	}
	c.events = append(c.events, pendingEvent{id: id, ev: cp})
}

// SetAuditKey implements keyward.AuditChainStore: every Store on this database (bound ones
// included) MACs with key from now on.
func (s *Store) SetAuditKey(key []byte) error {
	if len(key) != auditchain.KeySize {
		return keyward.Errorf(keyward.EInvalid, "the audit chain key must be %d bytes", auditchain.KeySize)
	}
	k := append([]byte(nil), key...)
	s.e.auditKey.Store(&k)
	return nil
}

// chainHead is the head row: the last seq and hash.
type chainHead struct {
	seq  int64
	hash []byte
}

// lockHead reads the head row, locked until tx ends; a missing row (a test's reset) is an
// empty chain and is created.
func lockHead(ctx context.Context, tx *txn) (chainHead, error) {
	var h chainHead
	q := `SELECT seq, hash FROM audit_chain_head WHERE id = 1` + tx.forUpdate("")
	err := tx.QueryRowContext(ctx, q).Scan(&h.seq, &h.hash)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, ?)
			ON CONFLICT (id) DO NOTHING`, []byte{}); err != nil {
			return h, err
		}
		err = tx.QueryRowContext(ctx, q).Scan(&h.seq, &h.hash)
	}
	return h, err
}

// chainEvents gives evs, in order, the places after head, and moves the head.
func (s *Store) chainEvents(ctx context.Context, tx *txn, head chainHead, evs []pendingEvent) error {
	var key []byte
	if k := s.e.auditKey.Load(); k != nil {
		key = *k
	}
	for _, p := range evs {
		seq := head.seq + 1
		h := auditchain.Hash(&p.ev, seq, head.hash)
		var mac any
		if key != nil {
			mac = auditchain.MAC(key, h)
		}
		prev := head.hash
		if prev == nil {
			prev = []byte{}
		}
		// Not prepared: most commits chain one event, and the drivers cache the statement.
		if _, err := tx.ExecContext(ctx, `UPDATE events SET seq = ?, prev_hash = ?, hash = ?, mac = ? WHERE id = ?`,
			seq, prev, h, mac, p.id); err != nil {
			return err
		}
		head = chainHead{seq, h}
	}
	_, err := tx.ExecContext(ctx, `UPDATE audit_chain_head SET seq = ?, hash = ? WHERE id = 1`, head.seq, head.hash)
	return err
}

// chainPending chains the events tx inserted; it runs just before tx commits.
func (s *Store) chainPending(ctx context.Context, tx *txn) error {
	if len(tx.ch.events) == 0 {
		return nil
	}
	head, err := lockHead(ctx, tx)
	if err != nil {
		return err
	}
	return s.chainEvents(ctx, tx, head, tx.ch.events)
}

// AuditChainHead implements keyward.AuditChainStore.
func (s *Store) AuditChainHead(ctx context.Context) (*keyward.ChainHead, error) {
	h, err := readHead(ctx, s.reader())
	if err != nil {
		return nil, s.fail(ctx, "audit chain head", err)
	}
	return h, nil
}

func readHead(ctx context.Context, c conn) (*keyward.ChainHead, error) {
	h := &keyward.ChainHead{Hash: []byte{}}
	err := c.QueryRowContext(ctx, `SELECT seq, hash FROM audit_chain_head WHERE id = 1`).Scan(&h.Seq, &h.Hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if h.Hash == nil {
		h.Hash = []byte{}
	}
	err = c.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&h.LastEventID)
	return h, err
}

// backlogBatch bounds the events one ChainBacklog transaction chains, so that a large old
// trail neither holds the head long nor sits in memory whole.
const backlogBatch = 500

// ChainBacklog implements keyward.AuditChainStore, a batch per transaction.
func (s *Store) ChainBacklog(ctx context.Context, upTo int64) (int, error) {
	total := 0
	for {
		n := 0
		err := s.inTx(ctx, "chain backlog", func(tx *txn) error {
			head, err := lockHead(ctx, tx) // first, so that servers at it together take turns
			if err != nil {
				return err
			}
			rows, err := tx.QueryContext(ctx, `SELECT `+eventColumns+` FROM events
				WHERE seq IS NULL AND id <= ? ORDER BY id LIMIT ?`, upTo, backlogBatch)
			evs, err := scanRows(rows, err, func(row rowScanner) (pendingEvent, error) {
				ev, err := scanEvent(row)
				return pendingEvent{id: ev.ID, ev: ev}, err
			})
			if err != nil || len(evs) == 0 {
				return err
			}
			n = len(evs)
			return s.chainEvents(ctx, tx, head, evs)
		})
		total += n
		if err != nil || n < backlogBatch {
			return total, err
		}
	}
}

// WalkAuditChain implements keyward.AuditChainStore, in one read-only REPEATABLE READ
// transaction (on SQLite one WAL snapshot).
func (s *Store) WalkAuditChain(ctx context.Context, fn func(*keyward.ChainedEvent) error) (*keyward.ChainHead, error) {
	if s.e.closed.Load() {
		return nil, errClosed()
	}
	walk := func(c conn) (*keyward.ChainHead, error) {
		// Two queries, so that the chained part is read in the order of its index.
		for _, q := range []string{
			`SELECT ` + chainedColumns + ` FROM events WHERE seq IS NOT NULL ORDER BY seq, id`,
			`SELECT ` + chainedColumns + ` FROM events WHERE seq IS NULL ORDER BY id`,
		} {
			if err := eachChained(ctx, c, q, fn); err != nil {
				return nil, err
			}
		}
		return readHead(ctx, c)
	}
	if s.tx != nil {
		h, err := walk(s.reader())
		return h, s.fail(ctx, "walk audit chain", err)
	}
	tx, err := s.e.read.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, s.fail(ctx, "walk audit chain", err)
	}
	defer tx.Rollback()
	h, err := walk(conn{s.e, tx})
	if err != nil {
		return nil, s.fail(ctx, "walk audit chain", err)
	}
	return h, nil
}

// eachChained runs q and calls fn with each event it reads.
func eachChained(ctx context.Context, c conn, q string, fn func(*keyward.ChainedEvent) error) error {
	rows, err := c.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		ce, err := scanChained(rows)
		if err != nil {
			return err
		}
		if err := fn(&ce); err != nil {
			return err
		}
	}
	return rows.Err()
}

// eventColumns are an event's columns, as scanEvent reads them.
const eventColumns = `id, time, actor_user_id, actor_credential_id, actor, action,
	project_id, credential_id, remote_addr, outcome, detail`

// chainedColumns are an event's columns and its place in the chain, as scanChained reads them.
const chainedColumns = eventColumns + `, seq, prev_hash, hash, mac`

// scanEvent reads eventColumns; an empty Detail comes back nil.
func scanEvent(row rowScanner, extra ...any) (keyward.Event, error) {
	var ev keyward.Event
	var t Time
	var detail sql.NullString
	dest := append([]any{&ev.ID, &t, &ev.ActorUserID, &ev.ActorCredentialID, &ev.Actor, &ev.Action,
		&ev.ProjectID, &ev.CredentialID, &ev.RemoteAddr, &ev.Outcome, &detail}, extra...)
	if err := row.Scan(dest...); err != nil {
		return ev, err
	}
	ev.Time = t.T
	if detail.Valid {
		if err := json.Unmarshal([]byte(detail.String), &ev.Detail); err != nil {
			return ev, fmt.Errorf("sqlstore: event %d detail: %w", ev.ID, err)
		}
		if len(ev.Detail) == 0 {
			ev.Detail = nil
		}
	}
	return ev, nil
}

// scanChained reads chainedColumns.
func scanChained(row rowScanner) (keyward.ChainedEvent, error) {
	var ce keyward.ChainedEvent
	var seq sql.NullInt64
	ev, err := scanEvent(row, &seq, &ce.Chain.PrevHash, &ce.Chain.Hash, &ce.Chain.MAC)
	ce.Event, ce.Chain.Seq = ev, seq.Int64
	if seq.Valid && ce.Chain.PrevHash == nil {
		ce.Chain.PrevHash = []byte{} // the first event's, however the driver reads an empty blob
	}
	return ce, err
}
