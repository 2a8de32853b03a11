package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keyward/keyward"
)

// TestSurface checks that a surface's resolved counters count under the right labels, a code
// outside the known list included, and that rate-limit refusals are counted once each.
func TestSurface(t *testing.T) {
	t.Parallel()
	m := New(nil)
	s := m.Surface("verify")
	for _, code := range []string{keyward.CodeValid, keyward.CodeValid, keyward.CodeRevoked, keyward.CodeRateLimited, keyward.CodeUsageExceeded, "SOMETHING_NEW"} {
		s.Observe(code, time.Millisecond)
	}
	for code, want := range map[string]float64{keyward.CodeValid: 2, keyward.CodeRevoked: 1, keyward.CodeNotFound: 0, "SOMETHING_NEW": 1} {
		if got := testutil.ToFloat64(m.verifications.WithLabelValues("verify", code)); got != want {
			t.Errorf("verifications{verify,%s} = %v, want %v", code, got, want)
		}
	}
	if got := testutil.ToFloat64(m.verifications.WithLabelValues("auth", keyward.CodeValid)); got != 0 {
		t.Errorf("another surface counted %v", got)
	}
	if got := testutil.ToFloat64(m.rateLimited.WithLabelValues("key")); got != 2 {
		t.Errorf("rate limited = %v, want 2", got)
	}
	if got := testutil.CollectAndCount(m.latency); got != 1 {
		t.Errorf("latency series = %d, want 1", got)
	}
	var none *Metrics
	none.Surface("verify").Observe(keyward.CodeValid, time.Millisecond) // nil-safe
}
