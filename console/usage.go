package console

import (
	"context"
	"strconv"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

// usageView is a usage panel: a chart of the last 24 hours and one of the last 30 days (valid
// versus refused, by code), and for a project its most used and its unused keys.
type usageView struct {
	ID         string // prefix of the panel's element ids
	Day        *chartData
	Month      *chartData
	Totals     []codeTotal // the 30 days, by code, for readers without script
	Top        []keyward.UsageKey
	Unused     []keyward.UsageKey
	Project    string
	Error      string
	ForProject bool
}

// chartData is what static/charts.js draws, passed in a <script type="application/json">
// block: bucket starts (Unix seconds) and one series of counts per verification code.
type chartData struct {
	Title  string        `json:"title"`
	Bucket string        `json:"bucket"`
	X      []int64       `json:"x"`
	Series []chartSeries `json:"series"`
}

type chartSeries struct {
	Code   string  `json:"code"`
	Values []int64 `json:"values"`
}

type codeTotal struct {
	Code  string
	Count int64
}

func (h *Handler) projectUsage(ctx context.Context, p *keyward.Project) *usageView {
	v := h.usage(ctx, p, "")
	v.ID, v.ForProject = "project-usage", true
	return v
}

func (h *Handler) credentialUsage(ctx context.Context, p *keyward.Project, c *keyward.Credential) *usageView {
	v := h.usage(ctx, p, strconv.FormatInt(c.ID, 10))
	v.ID = "credential-usage"
	return v
}

// usage asks the authority for both windows; a refusal or an error leaves the panel with its
// message rather than failing the page.
func (h *Handler) usage(ctx context.Context, p *keyward.Project, credential string) *usageView {
	v := &usageView{Project: p.Slug}
	day, err := h.authority.Usage(ctx, p.Slug, authority.UsageInput{Credential: credential, Window: keyward.UsageWindowDay})
	if err == nil {
		var month *keyward.UsageReport
		if month, err = h.authority.Usage(ctx, p.Slug, authority.UsageInput{Credential: credential, Window: keyward.UsageWindow30d}); err == nil {
			v.Day, v.Month = chartOf("Last 24 hours", day), chartOf("Last 30 days", month)
			v.Top, v.Unused = month.Top, month.Unused
			for _, code := range keyward.VerificationCodes {
				if n := month.Totals[code]; n > 0 {
					v.Totals = append(v.Totals, codeTotal{Code: code, Count: n})
				}
			}
		}
	}
	if err != nil {
		if keyward.ErrorCode(err) == keyward.EInternal {
			h.logger.Error("usage report failed", "project", p.Slug, "err", err)
		}
		v.Error = keyward.ErrorMessage(err)
	}
	return v
}

// chartOf turns a report into chart series: VALID always, and each refusal code that occurs,
// in the order of keyward.VerificationCodes so that colours stay put from chart to chart.
func chartOf(title string, r *keyward.UsageReport) *chartData {
	d := &chartData{Title: title, Bucket: r.Bucket}
	for _, b := range r.Series {
		d.X = append(d.X, b.Start.Unix())
	}
	for _, code := range keyward.VerificationCodes {
		if code != keyward.CodeValid && r.Totals[code] == 0 {
			continue
		}
		s := chartSeries{Code: code, Values: make([]int64, 0, len(r.Series))}
		for _, b := range r.Series {
			s.Values = append(s.Values, b.Counts[code])
		}
		d.Series = append(d.Series, s)
	}
	return d
}
