package main

import (
	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

func newAuditCmd(a *app) *cobra.Command {
	return newGroupCmd("audit", "Read the audit log", newAuditListCmd(a))
}

func newAuditListCmd(a *app) *cobra.Command {
	var (
		opts client.ListEventsOptions
		all  bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List audit events, newest first",
		Example: `  keyward audit list --project acme-prod --limit 20
  keyward audit list --credential 12 --all`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if !all {
				page, err := c.ListEvents(cmd.Context(), opts)
				if err != nil {
					return err
				}
				return a.printEvents(page)
			}
			page := &keyward.Page[keyward.Event]{Items: []keyward.Event{}}
			for e, err := range c.AllEvents(cmd.Context(), opts) {
				if err != nil {
					return err
				}
				page.Items = append(page.Items, e)
			}
			return a.printEvents(page)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Project, "project", "", "only events of this project (slug)")
	f.Int64Var(&opts.CredentialID, "credential", 0, "only events about the credential with this id")
	f.IntVar(&opts.Limit, "limit", 0, "events per page (server default when 0)")
	f.StringVar(&opts.Cursor, "cursor", "", "start at this cursor, from a previous page")
	f.BoolVar(&all, "all", false, "follow the cursors and list every event")
	return cmd
}
