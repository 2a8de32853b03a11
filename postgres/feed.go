package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward"
)

var _ keyward.ChangeFeed = (*Store)(nil)

// The change feed: every write transaction that changed what a verification may have cached
// sends, just before it commits, one NOTIFY on the store's channel with the
// keyward.Invalidation as JSON (dialect.BeforeCommit), so the notification is delivered, to every
// server that LISTENs, exactly when the change commits and never for a change that rolled
// back. What a transaction announces is derived in one place, sqlstore's changes: credentials
// whose row changed ({"c":[ids]}), users whose row or bindings changed ({"u":[ids]}), and
// {"a":true} for a role's change or an Import. Uses (ConsumeCredit, TouchCredentials) send none.
//
// Watch LISTENs on a connection of its own. PostgreSQL drops notifications for a session that
// is gone, so whenever the feed may have missed some (at start, after a lost connection) the
// caller hears All; the authority's cache TTL bounds staleness while the feed is down.

// watchPing is how long Watch waits for a notification before it checks that its connection
// still answers; a connection that died silently is noticed within watchPing + watchPingTimeout.
// They are variables for the tests.
var (
	watchPing        = 10 * time.Second
	watchPingTimeout = 5 * time.Second
)

// changeChannel is the NOTIFY channel of the keyward schema named schema: servers that share a
// schema hear each other, and keyward instances in other schemas of the database do not.
func changeChannel(schema string) string {
	h := fnv.New64a()
	h.Write([]byte(schema))
	return fmt.Sprintf("keyward_changes_%016x", h.Sum64())
}

// Watch calls fn for every change any server commits to this store's schema, until ctx ends
// or the connection fails; it returns ctx.Err() or the failure. It calls fn with All first,
// once it listens: changes made before then are not reported one by one. fn runs on Watch's
// goroutine and should not block for long; notifications queue meanwhile.
func (s *Store) Watch(ctx context.Context, fn func(keyward.Invalidation)) error {
	if err := s.Ping(ctx); err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("postgres: watch: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{s.d.channel}.Sanitize()); err != nil {
		return fmt.Errorf("postgres: watch: %w", err)
	}
	fn(keyward.Invalidation{All: true})
	for {
		wctx, cancel := context.WithTimeout(ctx, watchPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && (errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err)):
			// Quiet for a while: make sure the connection is still there.
			pctx, cancel := context.WithTimeout(ctx, watchPingTimeout)
			err := conn.Ping(pctx)
			cancel()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				return fmt.Errorf("postgres: watch: the connection stopped answering: %w", err)
			}
			continue
		case err != nil:
			return fmt.Errorf("postgres: watch: %w", err)
		}
		var inv keyward.Invalidation
		if err := json.Unmarshal([]byte(n.Payload), &inv); err != nil {
			// Not ours, or from a newer keyward: assume the worst.
			inv = keyward.Invalidation{All: true}
		}
		fn(inv)
	}
}
