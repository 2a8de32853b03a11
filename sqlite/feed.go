package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// PollInterval is how often Watch asks SQLite whether another process committed.
const PollInterval = time.Second

// Watch makes the embedded store a keyward.ChangeFeed of one kind of change: what another
// process commits to the file (an offline command such as keyward recover-token, run beside a
// live server). Every write of this server goes through its one writer connection, and SQLite's
// PRAGMA data_version, read on that connection, changes only when another connection commits.
// Watch calls fn with All at start and after every such commit, within PollInterval, until ctx
// ends or the database fails.
func (s *Store) Watch(ctx context.Context, fn func(keyward.Invalidation)) error {
	last := int64(-1)
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for {
		var v int64
		if err := s.write.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("sqlite: watch: %w", err)
		}
		if v != last {
			last = v
			fn(keyward.Invalidation{All: true})
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// SingleServer reports that this server makes every write but an offline command's, which
// Watch reports: the authority's set of issued secrets is then exact (see keyward.SingleServer).
func (s *Store) SingleServer() bool { return true }
