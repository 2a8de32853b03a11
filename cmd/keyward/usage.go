package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

func newUsageCmd(a *app) *cobra.Command {
	var window string
	cmd := &cobra.Command{
		Use:   "usage <project> [<id-or-name>]",
		Short: "Show how many verifications succeeded and were refused, by hour or day",
		Long: `Show the verifications of a project's keys, or of one key (by name or id), over
the last 24 hours in hourly buckets (--window 24h, the default) or the last 30
days in daily buckets (--window 30d, UTC days): valid, refused, and refused by
reason. A project's report also lists its most used keys and the keys nobody
used for 30 days or more. Counts are written about a second after the
verifications; unknown keys (NOT_FOUND) belong to no project and are not counted.
Needs keys:read in the project.`,
		Example: `  keyward usage acme-prod
  keyward usage acme-prod ci-deploy --window 30d
  keyward usage acme-prod -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return usageErrorf("missing argument <project>")
			case len(args) > 2:
				return usageErrorf("unexpected argument %q", args[2])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if window != keyward.UsageWindowDay && window != keyward.UsageWindow30d {
				return usageErrorf("--window must be 24h or 30d")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var rep *keyward.UsageReport
			if len(args) == 2 {
				rep, err = c.CredentialUsage(cmd.Context(), args[0], args[1], window)
			} else {
				rep, err = c.Usage(cmd.Context(), args[0], window)
			}
			if err != nil {
				return err
			}
			return a.printUsage(rep)
		},
	}
	cmd.Flags().StringVar(&window, "window", keyward.UsageWindowDay, "24h (hourly buckets) or 30d (daily buckets)")
	return cmd
}

// printUsage prints a usage report: as JSON (the API's object), or as a table of buckets with
// a column per refusal reason that occurs in the window, then the top and unused keys.
func (a *app) printUsage(r *keyward.UsageReport) error {
	if a.jsonOut() {
		return a.printJSON(r)
	}
	subject := "project " + r.Project
	if r.Credential != "" {
		subject = fmt.Sprintf("key %s (id %d) of project %s", r.Credential, r.CredentialID, r.Project)
	}
	if _, err := fmt.Fprintf(a.stdout, "Verifications of %s, %s to %s, by %s (UTC)\n\n", clean(subject),
		fmtTime(r.From), fmtTime(r.To), r.Bucket); err != nil {
		return err
	}
	var reasons []string
	for _, code := range keyward.VerificationCodes {
		if code != keyward.CodeValid && r.Totals[code] > 0 {
			reasons = append(reasons, code)
		}
	}
	header := append([]string{"BUCKET", "VALID", "REFUSED"}, reasons...)
	layout := "2006-01-02 15:04"
	if r.Bucket == keyward.UsageBucketDay {
		layout = "2006-01-02"
	}
	row := func(label string, counts map[string]int64) []string {
		refused := int64(0)
		for code, n := range counts {
			if code != keyward.CodeValid {
				refused += n
			}
		}
		cells := []string{label, strconv.FormatInt(counts[keyward.CodeValid], 10), strconv.FormatInt(refused, 10)}
		for _, code := range reasons {
			cells = append(cells, strconv.FormatInt(counts[code], 10))
		}
		return cells
	}
	rows := make([][]string, 0, len(r.Series)+1)
	for _, b := range r.Series {
		rows = append(rows, row(b.Start.UTC().Format(layout), b.Counts))
	}
	rows = append(rows, row("TOTAL", r.Totals))
	if err := table(a.stdout, header, rows); err != nil {
		return err
	}
	keys := func(title string, ks []keyward.UsageKey) error {
		if len(ks) == 0 {
			return nil
		}
		if _, err := fmt.Fprintf(a.stdout, "\n%s\n", title); err != nil {
			return err
		}
		rows := make([][]string, len(ks))
		for i, k := range ks {
			rows[i] = []string{strconv.FormatInt(k.ID, 10), k.Name, string(k.State), strconv.FormatInt(k.Valid, 10),
				strconv.FormatInt(k.Refused, 10), fmtTime(k.CreatedAt), fmtTimePtr(k.LastUsedAt, "never")}
		}
		return table(a.stdout, []string{"ID", "NAME", "STATE", "VALID", "REFUSED", "CREATED", "LAST USED"}, rows)
	}
	if err := keys("Most used keys", r.Top); err != nil {
		return err
	}
	return keys("Keys unused for 30 days or more", r.Unused)
}
