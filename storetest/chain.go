package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/auditchain"
)

// Exec runs one statement, written with ? placeholders, on a store's database directly, past
// the store: the hand of someone with database access but without the master key.
type Exec func(t *testing.T, query string, args ...any)

// chainKey is the suite's audit chain key.
var chainKey = bytes.Repeat([]byte{0x5c}, auditchain.KeySize)

// RunChain runs the audit chain checks (keyward.AuditChainStore): a chain that keyward wrote
// verifies, and every kind of tampering with its rows through exec is found and named. open
// must return a new, empty store and an Exec on its database, as Run's open does.
func RunChain(t *testing.T, open func(t *testing.T) (keyward.Store, Exec)) {
	run := func(name string, f func(t *testing.T, s keyward.Store, exec Exec, evs []*keyward.Event)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, exec := open(t)
			if err := s.SetAuditKey(chainKey); err != nil {
				t.Fatalf("SetAuditKey: %v", err)
			}
			f(t, s, exec, appendChain(t, s))
		})
	}
	run("Clean", func(t *testing.T, s keyward.Store, _ Exec, evs []*keyward.Event) {
		r := verifyChain(t, s, nil)
		if !r.OK() || r.Events != int64(len(evs)) || r.Seq != int64(len(evs)) {
			t.Fatalf("report = %+v, want OK with %d events", r, len(evs))
		}
		head, err := s.AuditChainHead(t.Context())
		if err != nil {
			t.Fatalf("AuditChainHead: %v", err)
		}
		if head.Seq != r.Seq || !bytes.Equal(head.Hash, r.Hash) || head.LastEventID != evs[len(evs)-1].ID {
			t.Fatalf("head = %+v, want seq %d, the last hash and id %d", head, r.Seq, evs[len(evs)-1].ID)
		}
		// The walk yields the events as ListEvents does, with their places.
		var walked []int64
		if _, err := s.WalkAuditChain(t.Context(), func(ce *keyward.ChainedEvent) error {
			walked = append(walked, ce.ID)
			return nil
		}); err != nil {
			t.Fatalf("WalkAuditChain: %v", err)
		}
		for i, ev := range evs {
			if walked[i] != ev.ID {
				t.Fatalf("walked ids %v, want the events in commit order", walked)
			}
		}
	})
	run("BadKey", func(t *testing.T, s keyward.Store, _ Exec, _ []*keyward.Event) {
		if err := s.SetAuditKey([]byte("short")); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Fatalf("SetAuditKey(5 bytes) = %v, want EInvalid", err)
		}
		if r := verifyChain(t, s, nil); !r.OK() {
			t.Fatalf("the refused key changed the chain: %v", r.Problem)
		}
	})
	run("WrongKey", func(t *testing.T, s keyward.Store, _ Exec, _ []*keyward.Event) {
		r := verifyChainWith(t, s, bytes.Repeat([]byte{1}, auditchain.KeySize), nil)
		wantProblem(t, r, auditchain.Forged, 1)
	})

	// Edits of any field are found at the event edited.
	for _, tc := range []struct{ name, query string }{
		{"EditDetail", `UPDATE events SET detail = '{"reason":"nothing to see"}' WHERE seq = 3`},
		{"EditActor", `UPDATE events SET actor = 'mallory', actor_user_id = 99 WHERE seq = 3`},
		{"EditTime", `UPDATE events SET time = (SELECT e.time FROM events e WHERE e.seq = 1) WHERE seq = 3`},
		{"EditOutcome", `UPDATE events SET outcome = 'success' WHERE seq = 3`},
	} {
		run(tc.name, func(t *testing.T, s keyward.Store, exec Exec, evs []*keyward.Event) {
			exec(t, tc.query)
			r := wantProblem(t, verifyChain(t, s, nil), auditchain.Edited, 3)
			if r.Problem.EventID != evs[2].ID || r.Events != 2 {
				t.Fatalf("problem = %+v after %d events, want event %d after 2", r.Problem, r.Events, evs[2].ID)
			}
		})
	}
	run("DeleteOne", func(t *testing.T, s keyward.Store, exec Exec, evs []*keyward.Event) {
		exec(t, `DELETE FROM events WHERE seq = 3`)
		r := wantProblem(t, verifyChain(t, s, nil), auditchain.Deleted, 4)
		if r.Problem.EventID != evs[3].ID {
			t.Fatalf("problem = %+v, want it named at event %d", r.Problem, evs[3].ID)
		}
	})
	run("DeleteAndRenumber", func(t *testing.T, s keyward.Store, exec Exec, evs []*keyward.Event) {
		exec(t, `DELETE FROM events WHERE seq = 3`)
		exec(t, `UPDATE events SET seq = seq - 1 WHERE seq > 3`)
		wantProblem(t, verifyChain(t, s, nil), auditchain.Reordered, 3)
	})
	run("DeleteNewest", func(t *testing.T, s keyward.Store, exec Exec, evs []*keyward.Event) {
		n := len(evs)
		exec(t, `DELETE FROM events WHERE seq = ?`, n)
		wantProblem(t, verifyChain(t, s, nil), auditchain.Deleted, int64(n))
		// Moving the head back too hides it, but not from an anchor recorded before.
		exec(t, `UPDATE audit_chain_head SET seq = ?, hash = (SELECT e.hash FROM events e WHERE e.seq = ?)`, n-1, n-1)
		if r := verifyChain(t, s, nil); !r.OK() {
			t.Fatalf("report = %v, want OK: the truncation is invisible without an anchor", r.Problem)
		}
		anchor := &auditchain.Anchor{Seq: int64(n), Hash: []byte("recorded elsewhere")}
		wantProblem(t, verifyChain(t, s, anchor), auditchain.Deleted, int64(n))
	})
	run("Anchor", func(t *testing.T, s keyward.Store, exec Exec, evs []*keyward.Event) {
		r := verifyChain(t, s, nil)
		if got := verifyChain(t, s, &auditchain.Anchor{Seq: r.Seq, Hash: r.Hash}); !got.OK() {
			t.Fatalf("the chain does not verify against its own head: %v", got.Problem)
		}
		wantProblem(t, verifyChain(t, s, &auditchain.Anchor{Seq: 2, Hash: r.Hash}), auditchain.Edited, 2)
	})
	run("SwapContent", func(t *testing.T, s keyward.Store, exec Exec, evs []*keyward.Event) {
		// Rows 2 and 3 trade what they say, each keeping its place in the chain.
		a, b := evs[1], evs[2]
		set := `UPDATE events SET actor = ?, action = ?, credential_id = ?, outcome = ? WHERE id = ?`
		exec(t, set, b.Actor, b.Action, b.CredentialID, b.Outcome, a.ID)
		exec(t, set, a.Actor, a.Action, a.CredentialID, a.Outcome, b.ID)
		wantProblem(t, verifyChain(t, s, nil), auditchain.Edited, 2)
	})
	run("SwapPlaces", func(t *testing.T, s keyward.Store, exec Exec, evs []*keyward.Event) {
		// Whole rows trade places: each still carries its own hash and MAC.
		exec(t, `UPDATE events SET seq = -1 WHERE seq = 2`)
		exec(t, `UPDATE events SET seq = 2 WHERE seq = 4`)
		exec(t, `UPDATE events SET seq = 4 WHERE seq = -1`)
		r := wantProblem(t, verifyChain(t, s, nil), auditchain.Reordered, 2)
		if r.Problem.EventID != evs[3].ID || !strings.Contains(r.Problem.Reason, "seq 4") {
			t.Fatalf("problem = %+v, want event %d found chained at seq 4", r.Problem, evs[3].ID)
		}
	})
	run("ForgedAppend", func(t *testing.T, s keyward.Store, exec Exec, evs []*keyward.Event) {
		// A well-formed next event with the right hash, whose MAC cannot be made without the key.
		r := verifyChain(t, s, nil)
		forged := keyward.Event{Time: evs[0].Time, Action: "credential.create", Outcome: keyward.OutcomeSuccess}
		seq := r.Seq + 1
		hash := auditchain.Hash(&forged, seq, r.Hash)
		exec(t, `INSERT INTO events (time, action, outcome, seq, prev_hash, hash, mac)
			SELECT e.time, 'credential.create', 'success', ?, ?, ?, ? FROM events e WHERE e.seq = 1`,
			seq, r.Hash, hash, bytes.Repeat([]byte{7}, 32))
		exec(t, `UPDATE audit_chain_head SET seq = ?, hash = ?`, seq, hash)
		wantProblem(t, verifyChain(t, s, nil), auditchain.Forged, seq)
	})
	run("InsertUnchained", func(t *testing.T, s keyward.Store, exec Exec, evs []*keyward.Event) {
		exec(t, `INSERT INTO events (time, action, outcome) SELECT e.time, 'login', 'success' FROM events e WHERE e.seq = 1`)
		r := wantProblem(t, verifyChain(t, s, nil), auditchain.Inserted, 0)
		if r.Events != int64(len(evs)) || r.Problem.EventID <= evs[len(evs)-1].ID {
			t.Fatalf("report = %+v, want every chained event good and the new one named", r)
		}
	})
	run("SeqCollision", func(t *testing.T, s keyward.Store, exec Exec, evs []*keyward.Event) {
		exec(t, `DROP INDEX events_seq`)
		exec(t, `INSERT INTO events (time, actor, action, outcome, detail, seq, prev_hash, hash, mac)
			SELECT e.time, e.actor, e.action, e.outcome, e.detail, e.seq, e.prev_hash, e.hash, e.mac FROM events e WHERE e.seq = 3`)
		wantProblem(t, verifyChain(t, s, nil), auditchain.Inserted, 3)
	})
	run("WithoutKey", func(t *testing.T, s keyward.Store, exec Exec, evs []*keyward.Event) {
		// A store that was never given the key (another store on a new database) chains
		// without MACs, and each such event is reported.
		s2, _ := open(t)
		if err := s2.AppendEvent(t.Context(), &keyward.Event{Time: t0, Action: "login", Outcome: keyward.OutcomeDenied}); err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
		r := verifyChain(t, s2, nil)
		wantProblem(t, r, auditchain.Forged, 1)
		if !strings.Contains(r.Problem.Reason, "no MAC") {
			t.Fatalf("reason = %q, want it to say the MAC is missing", r.Problem.Reason)
		}
	})
	run("Backlog", func(t *testing.T, s keyward.Store, exec Exec, evs []*keyward.Event) {
		// Events from before the chain: no places, an empty head.
		exec(t, `UPDATE events SET seq = NULL, prev_hash = NULL, hash = NULL, mac = NULL`)
		exec(t, `UPDATE audit_chain_head SET seq = 0, hash = ?`, []byte{})
		wantProblem(t, verifyChainFrom(t, s, chainKey, evs[len(evs)-1].ID, nil), auditchain.Inserted, 0)
		upTo := evs[len(evs)-2].ID // the newest is left out: it came after the chain began
		n, err := s.ChainBacklog(t.Context(), upTo)
		if err != nil || n != len(evs)-1 {
			t.Fatalf("ChainBacklog = %d, %v; want %d", n, err, len(evs)-1)
		}
		if n, err := s.ChainBacklog(t.Context(), upTo); err != nil || n != 0 {
			t.Fatalf("ChainBacklog again = %d, %v; want 0", n, err)
		}
		r := wantProblem(t, verifyChainFrom(t, s, chainKey, upTo, nil), auditchain.Inserted, 0)
		if r.Events != int64(len(evs)-1) || r.Problem.EventID != evs[len(evs)-1].ID ||
			!strings.Contains(r.Problem.Reason, "outside keyward") {
			t.Fatalf("report = %+v, want the events up to %d chained and the last one named", r, upTo)
		}
		// New events go on after the backlog.
		if err := s.AppendEvent(t.Context(), &keyward.Event{Time: t0, Action: "login", Outcome: keyward.OutcomeSuccess}); err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
		exec(t, `DELETE FROM events WHERE id = ?`, evs[len(evs)-1].ID)
		if r := verifyChainFrom(t, s, chainKey, upTo, nil); !r.OK() || r.Events != int64(len(evs)) {
			t.Fatalf("report = %+v, want OK with %d events", r, len(evs))
		}
	})
}

// appendChain writes events through the store as keyward does: alone, several in one
// transaction, and in a transaction that rolls back (which must leave no gap). It returns the
// committed ones in commit order.
func appendChain(t *testing.T, s keyward.Store) []*keyward.Event {
	t.Helper()
	ctx := t.Context()
	var out []*keyward.Event
	ev := func(i int) *keyward.Event {
		return &keyward.Event{Time: at(time.Duration(i) * time.Second), ActorUserID: int64(i), ActorCredentialID: 10 + int64(i),
			Actor: fmt.Sprintf("user%d", i), Action: "credential.update", ProjectID: 1, CredentialID: 100 + int64(i),
			RemoteAddr: "192.0.2.1:1234", Outcome: keyward.OutcomeDenied,
			Detail: map[string]string{"b": fmt.Sprint(i), "a": "é\u00a0x"}}
	}
	for i := range 3 {
		e := ev(i)
		if err := s.AppendEvent(ctx, e); err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
		out = append(out, e)
	}
	errRollback := errors.New("roll back")
	if err := s.WithTx(ctx, func(tx keyward.Store) error {
		if err := tx.AppendEvent(ctx, ev(99)); err != nil {
			return err
		}
		return errRollback
	}); !errors.Is(err, errRollback) {
		t.Fatalf("WithTx = %v, want the rollback", err)
	}
	pair := []*keyward.Event{ev(3), ev(4)}
	pair[1].Detail = nil
	if err := s.WithTx(ctx, func(tx keyward.Store) error {
		for _, e := range pair {
			if err := tx.AppendEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("WithTx: %v", err)
	}
	out = append(out, pair...)
	p := &keyward.Project{Slug: "chain", Name: "Chain", CreatedAt: t0}
	e := ev(5)
	if err := s.CreateProject(ctx, p, e); err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	return append(out, e)
}

func verifyChain(t *testing.T, s keyward.Store, anchor *auditchain.Anchor) *auditchain.Report {
	t.Helper()
	return verifyChainFrom(t, s, chainKey, 0, anchor)
}

func verifyChainWith(t *testing.T, s keyward.Store, key []byte, anchor *auditchain.Anchor) *auditchain.Report {
	t.Helper()
	return verifyChainFrom(t, s, key, 0, anchor)
}

// verifyChainFrom walks s's chain through a Verifier, as keyward audit verify does.
func verifyChainFrom(t *testing.T, s keyward.Store, key []byte, backlog int64, anchor *auditchain.Anchor) *auditchain.Report {
	t.Helper()
	v := auditchain.NewVerifier(key, backlog, anchor)
	errStop := errors.New("stop")
	head, err := s.WalkAuditChain(t.Context(), func(ce *keyward.ChainedEvent) error {
		if !v.Add(ce) {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		t.Fatalf("WalkAuditChain: %v", err)
	}
	return v.Finish(head)
}

// wantProblem fails t unless r names a problem of kind at seq.
func wantProblem(t *testing.T, r *auditchain.Report, kind auditchain.Kind, seq int64) *auditchain.Report {
	t.Helper()
	if r.OK() {
		t.Fatalf("the chain verifies (%d events), want %s at seq %d", r.Events, kind, seq)
	}
	if r.Problem.Kind != kind || r.Problem.Seq != seq {
		t.Fatalf("problem = %v, want %s at seq %d", r.Problem, kind, seq)
	}
	return r
}

// testAuditChainShared: two stores (two servers) appending at once leave one chain without
// gaps, every committed event in it once.
func testAuditChainShared(t *testing.T, open func(t *testing.T) (keyward.Store, keyward.Store)) {
	a, b := open(t)
	for _, s := range []keyward.Store{a, b} {
		if err := s.SetAuditKey(chainKey); err != nil {
			t.Fatalf("SetAuditKey: %v", err)
		}
	}
	const writers, each = 3, 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	start := make(chan struct{})
	for i, s := range []keyward.Store{a, b, a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for j := range each {
				ev := &keyward.Event{Time: at(time.Duration(j) * time.Millisecond), Actor: fmt.Sprintf("w%d", i),
					Action: "login", Outcome: keyward.OutcomeSuccess, Detail: map[string]string{"j": fmt.Sprint(j)}}
				// Half the events in pairs, in one transaction each.
				err := s.WithTx(t.Context(), func(tx keyward.Store) error {
					if j%2 == 1 {
						if err := tx.AppendEvent(t.Context(), &keyward.Event{Time: t0, Action: "pair", Outcome: keyward.OutcomeSuccess}); err != nil {
							return err
						}
					}
					return tx.AppendEvent(t.Context(), ev)
				})
				if err != nil {
					errs <- fmt.Errorf("writer %d: %w", i, err)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := int64(2 * writers * (each + each/2))
	for _, s := range []keyward.Store{a, b} {
		if r := verifyChain(t, s, nil); !r.OK() || r.Events != want {
			t.Fatalf("report = %+v (%v), want OK with %d events", r, r.Problem, want)
		}
	}
}
