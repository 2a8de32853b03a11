package postgres

import "time"

// SetWatchPing shortens how long Watch waits before it checks its connection, for a test; the
// returned function restores the defaults.
func SetWatchPing(every, timeout time.Duration) (restore func()) {
	e, t := watchPing, watchPingTimeout
	watchPing, watchPingTimeout = every, timeout
	return func() { watchPing, watchPingTimeout = e, t }
}
