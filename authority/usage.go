package authority

import (
	"context"

	"github.com/keyward/keyward"
)

// UsageInput selects a usage report.
type UsageInput struct {
	// Credential is a credential's name or id; "" reports the whole project.
	Credential string
	// Window is keyward.UsageWindowDay ("24h", hourly buckets, the default) or
	// keyward.UsageWindow30d ("30d", daily buckets).
	Window string
}

// Usage reports the verifications of a project, or of one of its credentials, over a window
// ending now. It needs keys:read in the project; a credential's report follows the rules of
// reading that credential (a session is not found).
func (a *Authority) Usage(ctx context.Context, projectRef string, in UsageInput) (*keyward.UsageReport, error) {
	return nil, keyward.Errorf(keyward.EUnavailable, "usage reports are not built yet")
}
