package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newProjectMembersCmd returns "project members": the role bindings of one project.
func newProjectMembersCmd(a *app) *cobra.Command {
	list := func(cmd *cobra.Command, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		bs, err := c.Members(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return a.printBindings(bs)
	}
	cmd := &cobra.Command{
		Use:   "members <project>",
		Short: "List, add and remove the members of a project (their role bindings)",
		Long: `List the members of a project (slug or id): who holds which role there.

"members add" and "members remove" change them; "members list <project>" is the
same as "members <project>", for a project called add, list or remove.`,
		Example: `  keyward project members acme-prod
  keyward project members add acme-prod alice owner
  keyward project members remove acme-prod alice owner`,
		Args: exactArgs("project"),
		RunE: list,
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "list <project>",
			Short: "List the members of a project",
			Args:  exactArgs("project"),
			RunE:  list,
		},
		&cobra.Command{
			Use:   "add <project> <user> <role>",
			Short: "Grant a user a role in a project",
			Long: `Grant a user a role in a project; each is a name (slug) or an id. You cannot
grant a role that holds a permission you lack.`,
			Args: exactArgs("project", "user", "role"),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := a.client()
				if err != nil {
					return err
				}
				b, err := c.AddMember(cmd.Context(), args[0], args[1], args[2])
				if err != nil {
					return err
				}
				return a.printBinding(b)
			},
		},
		&cobra.Command{
			Use:   "remove <project> <user> <role>",
			Short: "Remove a user's role in a project",
			Long: `Remove a user's role in a project. The credentials they created in the project
lose what the role granted at their next request.`,
			Aliases: []string{"rm"},
			Args:    exactArgs("project", "user", "role"),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := a.client()
				if err != nil {
					return err
				}
				if err := c.RemoveMember(cmd.Context(), args[0], args[1], args[2]); err != nil {
					return err
				}
				return a.done(fmt.Sprintf("Role %s of %s in project %s removed.", args[2], args[1], args[0]))
			},
		},
	)
	return cmd
}
