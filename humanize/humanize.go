// Package humanize says durations and expiries the way a person reads them ("in 30 days",
// "expired 3 hours ago"), the same in the CLI and the web console.
package humanize

import (
	"strconv"
	"time"
)

// Expiry says, relative to now, when a credential becomes valid or stops being valid:
// "starts in 2 days" while notBefore is ahead, then "in 30 days", "in 3 hours", "expired 3 hours
// ago", or "never" when expiresAt is nil. Amounts are rounded to the nearest unit.
func Expiry(notBefore, expiresAt *time.Time, now time.Time) string {
	switch {
	case notBefore != nil && now.Before(*notBefore):
		return "starts in " + Duration(notBefore.Sub(now))
	case expiresAt == nil:
		return "never"
	case now.Before(*expiresAt):
		return "in " + Duration(expiresAt.Sub(now))
	}
	return "expired " + Duration(now.Sub(*expiresAt)) + " ago"
}

// Duration renders a non-negative d in its largest sensible unit, rounded to the
// nearest: minutes below an hour, hours below two days, days beyond. Rounding down would show a
// 30-day key listed a second after its creation as expiring "in 29 days".
func Duration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour-30*time.Second:
		return plural(int64((d+30*time.Second)/time.Minute), "minute")
	case d < 2*day-30*time.Minute:
		return plural(int64((d+30*time.Minute)/time.Hour), "hour")
	}
	return plural(int64((d+12*time.Hour)/day), "day")
}

func plural(n int64, unit string) string {
	s := strconv.FormatInt(n, 10) + " " + unit
	if n != 1 {
		s += "s"
	}
	return s
}
