package humanize

import (
	"testing"
	"time"
)

func TestHumanizeExpiry(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	const day = 24 * time.Hour
	tests := []struct {
		name      string
		notBefore *time.Time
		expiresAt *time.Time
		want      string
	}{
		{"Never", nil, nil, "never"},
		{"NeverStarted", at(-day), nil, "never"},
		{"ThirtyDaysLessASecond", nil, at(30*day - time.Second), "in 30 days"},
		{"ThirtyDays", nil, at(30 * day), "in 30 days"},
		{"TwoDays", nil, at(2 * day), "in 2 days"},
		{"JustUnderTwoDays", nil, at(2*day - time.Minute), "in 2 days"},
		{"FortySevenHours", nil, at(47 * time.Hour), "in 47 hours"},
		{"TwelveAndAHalfDays", nil, at(12*day + 12*time.Hour), "in 13 days"},
		{"ThreeHours", nil, at(3*time.Hour + 29*time.Minute), "in 3 hours"},
		{"AlmostFourHours", nil, at(3*time.Hour + 59*time.Minute), "in 4 hours"},
		{"OneHour", nil, at(time.Hour), "in 1 hour"},
		{"Minutes", nil, at(59 * time.Minute), "in 59 minutes"},
		{"AlmostAnHour", nil, at(59*time.Minute + 45*time.Second), "in 1 hour"},
		{"OneMinute", nil, at(time.Minute + time.Second), "in 1 minute"},
		{"Seconds", nil, at(30 * time.Second), "in less than a minute"},
		{"ExpiresNow", nil, at(0), "expired less than a minute ago"},
		{"ExpiredHours", nil, at(-3 * time.Hour), "expired 3 hours ago"},
		{"ExpiredDays", nil, at(-400 * day), "expired 400 days ago"},
		{"ExpiredOneDay", nil, at(-day - 24*time.Hour), "expired 2 days ago"},
		{"Pending", at(2*day + time.Hour), at(30 * day), "starts in 2 days"},
		{"PendingNeverExpires", at(80 * time.Minute), nil, "starts in 1 hour"},
		{"StartedNow", at(0), at(day), "in 24 hours"},
		{"StartedBefore", at(-day), at(-time.Hour), "expired 1 hour ago"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Expiry(tt.notBefore, tt.expiresAt, now); got != tt.want {
				t.Errorf("Expiry = %q, want %q", got, tt.want)
			}
		})
	}
}
