package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/humanize"
)

func newWhoamiCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show who the token belongs to and what it may do",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			w, err := c.Whoami(cmd.Context())
			if err != nil {
				return err
			}
			return a.printWhoami(w)
		},
	}
}

func (a *app) printWhoami(w *keyward.Whoami) error {
	if a.jsonOut() {
		return a.printJSON(w)
	}
	var fs []field
	if w.User != nil {
		user := fmt.Sprintf("%s (id %d)", w.User.Name, w.User.ID)
		if w.User.Disabled {
			user += ", disabled"
		}
		fs = append(fs, field{"User", user})
	}
	if cr := w.Credential; cr != nil {
		fs = append(fs,
			field{"Credential", fmt.Sprintf("%s (id %d) in project %s", cr.Name, cr.ID, cr.Project)},
			field{"Starts with", orDash(cr.Start)},
			field{"Expires", humanize.Expiry(cr.NotBefore, cr.ExpiresAt, a.now())},
		)
	}
	if err := details(a.stdout, fs); err != nil {
		return err
	}
	projects := make([]string, 0, len(w.Permissions))
	for p := range w.Permissions {
		projects = append(projects, p)
	}
	slices.Sort(projects)
	rows := make([][]string, len(projects))
	for i, p := range projects {
		perms := make([]string, len(w.Permissions[p]))
		for j, q := range w.Permissions[p] {
			perms[j] = string(q)
		}
		name := p
		if p == "*" {
			name = "* (every project)"
		}
		rows[i] = []string{name, strings.Join(perms, " ")}
	}
	fmt.Fprintln(a.stdout)
	return table(a.stdout, []string{"PROJECT", "PERMISSIONS"}, rows)
}
