package authority

import "context"

// FlushUsage writes the pending last_used_at batch now, so that tests can see what the batch
// writes without waiting for its tick. The server flushes on its timer and in Close.
func (a *Authority) FlushUsage(ctx context.Context) error { return a.usage.flush(ctx) }
