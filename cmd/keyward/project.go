package main

import (
	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

func newProjectCmd(a *app) *cobra.Command {
	cmd := newGroupCmd("project", "Create, list, show and change projects",
		newProjectCreateCmd(a),
		newProjectListCmd(a),
		newProjectGetCmd(a),
		newProjectUpdateCmd(a),
		newProjectPolicyCmd(a),
	)
	cmd.Aliases = []string{"projects"}
	return cmd
}

func newProjectCreateCmd(a *app) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:     "create <slug>",
		Short:   "Create a project",
		Example: `  keyward project create acme-prod --name "Acme production"`,
		Args:    exactArgs("slug"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			p, err := c.CreateProject(cmd.Context(), keyward.CreateProjectInput{Slug: args[0], Name: name})
			if err != nil {
				return err
			}
			return a.printProject(p)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "display name of the project")
	return cmd
}

func newProjectListCmd(a *app) *cobra.Command {
	var (
		cursor string
		limit  int
		all    bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the projects you may read",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := atMostOne(cmd.Flags(), "cursor", "all"); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if !all {
				page, err := c.ListProjects(cmd.Context(), cursor, limit)
				if err != nil {
					return err
				}
				return a.printProjects(page)
			}
			page := &keyward.Page[keyward.Project]{Items: []keyward.Project{}}
			for p, err := range c.AllProjects(cmd.Context(), limit) {
				if err != nil {
					return err
				}
				page.Items = append(page.Items, p)
			}
			return a.printProjects(page)
		},
	}
	f := cmd.Flags()
	f.IntVar(&limit, "limit", 0, "projects per page (server default when 0)")
	f.StringVar(&cursor, "cursor", "", "start at this cursor, from a previous page")
	f.BoolVar(&all, "all", false, "follow the cursors and list every project")
	return cmd
}

func newProjectGetCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "get <slug-or-id>",
		Short: "Show a project",
		Args:  exactArgs("slug-or-id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			p, err := c.Project(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.printProject(p)
		},
	}
}

func newProjectUpdateCmd(a *app) *cobra.Command {
	var (
		name        string
		recoverable bool
	)
	cmd := &cobra.Command{
		Use:   "update <slug-or-id> [--name NAME] [--recoverable-keys=true|false]",
		Short: "Rename a project, or turn recoverable keys on or off",
		Long: `Rename a project, or turn recoverable keys on or off. Only the flags given
change anything; it needs the projects:admin permission in the project.

With --recoverable-keys=true the API keys created or rolled in the project from
then on are also kept sealed under the server's master key, so that "keyward
key reveal" can print them again (each reveal needs keys:reveal and is
audited). Keys created before are not recoverable until they are rolled.
--recoverable-keys=false stops keeping new keys.`,
		Example: `  keyward project update acme-prod --name "Acme production"
  keyward project update acme-prod --recoverable-keys=true`,
		Args: exactArgs("slug-or-id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			var in keyward.UpdateProjectInput
			if fs.Changed("name") {
				in.Name = &name
			}
			if fs.Changed("recoverable-keys") {
				in.RecoverableKeys = &recoverable
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			p, err := c.UpdateProject(cmd.Context(), args[0], in)
			if err != nil {
				return err
			}
			return a.printProject(p)
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "new display name")
	f.BoolVar(&recoverable, "recoverable-keys", false, "keep new API keys recoverable (true) or not (false)")
	return cmd
}
