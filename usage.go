package keyward

import "time"

// Usage: how many verifications of each credential ended with each code, per hour. The
// authority counts them in memory and writes them behind, with last_used_at; unknown keys
// (NOT_FOUND) belong to no credential and are not counted.

// UsageCount is the number of verifications of one credential, in one hour (its start, UTC),
// that ended with one verification code (see VerificationCodes).
type UsageCount struct {
	CredentialID int64     `json:"credential_id"`
	ProjectID    int64     `json:"project_id"`
	Hour         time.Time `json:"hour"`
	Code         string    `json:"code"`
	Count        int64     `json:"count"`
}

// UsageFilter selects hourly counts for UsageStore.Usage: those of one project (required),
// of one credential of it when CredentialID is not 0, whose hour is in [From, To) (a zero
// bound is open), summed as Sum says.
type UsageFilter struct {
	ProjectID    int64
	CredentialID int64
	From, To     time.Time
	Sum          UsageSum
}

// UsageSum says how UsageStore.Usage sums the rows it selects, so that a report over a month
// of a large project reads one row per hour and code, not one per credential, hour and code.
type UsageSum string

// The sums of UsageFilter.
const (
	UsageRows         UsageSum = ""           // every row as it is stored
	UsageByHour       UsageSum = "hour"       // per hour and code, over credentials (CredentialID 0)
	UsageByCredential UsageSum = "credential" // per credential and code, over hours (Hour zero)
)

// Usage buckets and windows.
const (
	UsageBucketHour = "hour"
	UsageBucketDay  = "day"
	UsageWindowDay  = "24h" // 24 hourly buckets
	UsageWindow30d  = "30d" // 30 daily buckets
)

// UnusedAfter is how long a credential goes unused before a usage report lists it as unused.
const UnusedAfter = 30 * 24 * time.Hour

// UsageReport is what GET /v1/projects/{project}/usage (and .../credentials/{ref}/usage)
// answers: the verifications of a project, or of one credential, over a window, by bucket and
// code.
type UsageReport struct {
	Project string `json:"project"`
	// CredentialID and Credential (its name) are set for a credential's report.
	CredentialID int64  `json:"credential_id,omitempty"`
	Credential   string `json:"credential,omitempty"`
	Window       string `json:"window"`
	// From and To bound the window [From, To): To is the end of the current bucket.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Bucket is UsageBucketHour or UsageBucketDay (UTC days).
	Bucket string `json:"bucket"`
	// Series has every bucket of the window, oldest first, empty ones included, so that a chart
	// has no gaps.
	Series []UsageBucket `json:"series"`
	// Totals sums the series by code.
	Totals map[string]int64 `json:"totals"`
	// Top lists the most used credentials of the window (valid plus refused), most used first.
	Top []UsageKey `json:"top"`
	// Unused lists, in a project's report only, the credentials not revoked that were last
	// used UnusedAfter ago or more, or never used and created that long ago; oldest use first.
	Unused []UsageKey `json:"unused"`
}

// UsageBucket is one bucket of a usage series: the counts by verification code of
// verifications in [Start, Start + bucket). Codes with no verification are left out.
type UsageBucket struct {
	Start  time.Time        `json:"start"`
	Counts map[string]int64 `json:"counts"`
}

// UsageKey is one credential in a usage report's Top or Unused list.
type UsageKey struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	State      State      `json:"state"`
	Valid      int64      `json:"valid"`
	Refused    int64      `json:"refused"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}
