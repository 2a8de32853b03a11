package main

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

func newProjectPolicyCmd(a *app) *cobra.Command {
	return newGroupCmd("policy", "Show or change a project's key policy",
		newProjectPolicyShowCmd(a),
		newProjectPolicySetCmd(a),
	)
}

func newProjectPolicyShowCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "show <slug-or-id>",
		Short: "Show a project's key policy",
		Args:  exactArgs("slug-or-id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			p, err := c.ProjectPolicy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.printPolicy(p)
		},
	}
}

func newProjectPolicySetCmd(a *app) *cobra.Command {
	var (
		pol         keyward.Policy
		types, envs []string
	)
	cmd := &cobra.Command{
		Use:   "set <slug-or-id> [flags]",
		Short: "Change a project's key policy",
		Long: `Change a project's key policy. Only the flags given change anything: the
current policy is read and the flags applied to it. It needs projects:admin in
the project and is audited (project.policy). The rules apply to what is written
from then on: keys issued before keep their expiry until they are renewed,
rolled or rescheduled; the unused-key sweep acts on every key.

An empty list (--allowed-types "") allows every type again; 0 turns a day
count off.`,
		Example: `  keyward project policy set acme-prod --max-lifetime-days 90 --require-expiry
  keyward project policy set acme-prod --allowed-types API_TOKEN --allowed-environments live,test
  keyward project policy set acme-prod --disable-unused-days 30 --leak-action disable`,
		Args: exactArgs("slug-or-id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			cur, err := c.ProjectPolicy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fs := cmd.Flags()
			if fs.Changed("max-lifetime-days") {
				cur.MaxLifetimeDays = pol.MaxLifetimeDays
			}
			if fs.Changed("require-expiry") {
				cur.RequireExpiry = pol.RequireExpiry
			}
			if fs.Changed("allowed-types") {
				cur.AllowedTypes = listOf[keyward.CredentialType](types)
			}
			if fs.Changed("allowed-environments") {
				cur.AllowedEnvironments = listOf[keyward.Environment](envs)
			}
			if fs.Changed("disable-unused-days") {
				cur.DisableUnusedDays = pol.DisableUnusedDays
			}
			if fs.Changed("first-use-grace-seconds") {
				cur.FirstUseGraceSeconds = pol.FirstUseGraceSeconds
			}
			if fs.Changed("leak-action") {
				cur.LeakAction = pol.LeakAction
			}
			p, err := c.SetProjectPolicy(cmd.Context(), args[0], *cur)
			if err != nil {
				return err
			}
			return a.printPolicy(p)
		},
	}
	f := cmd.Flags()
	f.Int64Var(&pol.MaxLifetimeDays, "max-lifetime-days", 0, "longest lifetime a key may be given, in days (0: keyward's limit only)")
	f.BoolVar(&pol.RequireExpiry, "require-expiry", false, "refuse keys that never expire (--require-expiry=false to allow them)")
	f.StringSliceVar(&types, "allowed-types", nil, "credential types the project may create, comma-separated (empty: all)")
	f.StringSliceVar(&envs, "allowed-environments", nil, "environments the project may create: live, test (empty: all)")
	f.Int64Var(&pol.DisableUnusedDays, "disable-unused-days", 0, "disable keys unused for this many days (0: never)")
	f.Int64Var(&pol.FirstUseGraceSeconds, "first-use-grace-seconds", 0, "default hard limit of a roll with --grace-until-first-use (0: a day)")
	f.StringVar(&pol.LeakAction, "leak-action", "", "what a leak report does to a key: revoke or disable")
	return cmd
}

// listOf converts flag values, dropping empty ones, so that "" gives the empty list.
func listOf[T ~string](xs []string) []T {
	out := []T{}
	for _, x := range xs {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, T(x))
		}
	}
	return out
}

// printPolicy prints a project's key policy.
func (a *app) printPolicy(p *keyward.Policy) error {
	if a.jsonOut() {
		return a.printJSON(p)
	}
	days := func(n int64, off string) string {
		if n == 0 {
			return off
		}
		return strconv.FormatInt(n, 10) + " days"
	}
	list := func(xs []string) string {
		if len(xs) == 0 {
			return "all"
		}
		return strings.Join(xs, ", ")
	}
	grace := "a day (default)"
	if p.FirstUseGraceSeconds > 0 {
		grace = strconv.FormatInt(p.FirstUseGraceSeconds, 10) + " seconds"
	}
	leak := p.LeakAction
	if leak == "" {
		leak = keyward.LeakRevoke
	}
	return details(a.stdout, []field{
		{"Max lifetime", days(p.MaxLifetimeDays, "keyward's limit only")},
		{"Require expiry", yesNo(p.RequireExpiry)},
		{"Allowed types", list(strs(p.AllowedTypes))},
		{"Allowed environments", list(strs(p.AllowedEnvironments))},
		{"Disable unused after", days(p.DisableUnusedDays, "never")},
		{"First-use grace limit", grace},
		{"Leak action", leak},
	})
}

func strs[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// policySummary is a project's key policy on one line, for "project get".
func policySummary(p keyward.Policy) string {
	var parts []string
	if p.MaxLifetimeDays > 0 {
		parts = append(parts, "max lifetime "+strconv.FormatInt(p.MaxLifetimeDays, 10)+" days")
	}
	if p.RequireExpiry {
		parts = append(parts, "expiry required")
	}
	if len(p.AllowedTypes) > 0 {
		parts = append(parts, "types "+strings.Join(strs(p.AllowedTypes), ","))
	}
	if len(p.AllowedEnvironments) > 0 {
		parts = append(parts, "environments "+strings.Join(strs(p.AllowedEnvironments), ","))
	}
	if p.DisableUnusedDays > 0 {
		parts = append(parts, "disable unused after "+strconv.FormatInt(p.DisableUnusedDays, 10)+" days")
	}
	if p.LeakAction == keyward.LeakDisable {
		parts = append(parts, "leaked keys disabled")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}
