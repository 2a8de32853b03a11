package authority

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

// graceEnder ends the first-use grace of rolled credentials (RollInput.GraceUntilFirstUse) off
// the verification path: a verification that sees a current secret whose first use ends older
// ones only notes the credential (seen); one goroutine writes the end, once per credential,
// and announces it through the store's change feed so that every replica drops the old secret.
type graceEnder struct {
	store   keyward.Store
	logger  *slog.Logger
	changed func(keyward.Invalidation)
	mu      sync.Mutex
	pending map[int64]time.Time // noted, not yet written: credential id -> first use
	queued  map[int64]bool      // noted since the last successful write: seen ignores them
	wake    chan struct{}
	stop    context.CancelFunc
	done    chan struct{}
}

func newGraceEnder(store keyward.Store, logger *slog.Logger, changed func(keyward.Invalidation)) *graceEnder {
	ctx, cancel := context.WithCancel(context.Background())
	g := &graceEnder{store: store, logger: logger, changed: changed, pending: map[int64]time.Time{},
		queued: map[int64]bool{}, wake: make(chan struct{}, 1), stop: cancel, done: make(chan struct{})}
	go g.loop(ctx)
	return g
}

// seen notes that the current secret of credential id was used at `at`. Only the first call per
// credential does anything until that credential's end is written; the rest is a map lookup.
func (g *graceEnder) seen(id int64, at time.Time) {
	g.mu.Lock()
	if g.queued[id] {
		g.mu.Unlock()
		return
	}
	g.queued[id] = true
	g.pending[id] = at
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

func (g *graceEnder) loop(ctx context.Context) {
	defer close(g.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.wake:
		}
		g.mu.Lock()
		batch := g.pending
		g.pending = map[int64]time.Time{}
		g.mu.Unlock()
		for id, at := range batch {
			g.end(ctx, id, at)
		}
	}
}

// end writes the end of credential id's first-use grace at `at`, with its credential.grace_end
// event. A failure forgets the credential, so that its next verification tries again.
func (g *graceEnder) end(ctx context.Context, id int64, at time.Time) {
	ev := &keyward.Event{Time: at, Actor: "system", Action: "credential.grace_end", CredentialID: id,
		Outcome: keyward.OutcomeSuccess, Detail: map[string]string{"reason": "first_use"}}
	_, err := g.store.EndFirstUseGrace(ctx, id, at, ev)
	if err == nil {
		// Caches here drop the credential now; other replicas when the feed brings the change.
		g.changed(keyward.Invalidation{CredentialIDs: []int64{id}})
	} else if ctx.Err() == nil {
		g.logger.Warn("ending a roll's first-use grace failed; its next use tries again", "credential_id", id, "err", err)
	}
	// Either way the next load of its entries tells again whether anything waits.
	g.mu.Lock()
	delete(g.queued, id)
	g.mu.Unlock()
}

// close stops the goroutine; ends not yet written are dropped (the old secrets then end at
// their hard limit, or at the new secret's next use on any replica).
func (g *graceEnder) close() {
	g.stop()
	<-g.done
}
