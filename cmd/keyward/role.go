package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

func newRoleCmd(a *app) *cobra.Command {
	cmd := newGroupCmd("role", "List, create, change and delete roles",
		newRoleListCmd(a),
		newRoleGetCmd(a),
		newRoleCreateCmd(a),
		newRoleUpdateCmd(a),
		newRoleDeleteCmd(a),
	)
	cmd.Aliases = []string{"roles"}
	return cmd
}

// permissionNames lists the permissions keyward knows, for help and errors.
func permissionNames() string {
	names := make([]string, len(keyward.AllPermissions))
	for i, p := range keyward.AllPermissions {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

// permissions are repeated --permission flags as the server reads them; the server says which
// it does not know.
func permissions(list []string) []keyward.Permission {
	ps := make([]keyward.Permission, len(list))
	for i, s := range list {
		ps[i] = keyward.Permission(s)
	}
	return ps
}

func newRoleListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the roles, built-in and custom, with their permissions",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			roles, err := c.Roles(cmd.Context())
			if err != nil {
				return err
			}
			return a.printRoles(roles)
		},
	}
}

func newRoleGetCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "get <name-or-id>",
		Short: "Show a role",
		Args:  exactArgs("name-or-id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.Role(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.printRole(r)
		},
	}
}

func newRoleCreateCmd(a *app) *cobra.Command {
	var (
		perms []string
		id    int64
	)
	cmd := &cobra.Command{
		Use:   "create <name> --permission P... [--id N]",
		Short: "Create a custom role",
		Long: `Create a custom role: a name and the permissions it grants (repeat
--permission for each). --id picks the role's numeric id, for the clients that
refer to roles by number; without it the server picks one.

The permissions are: ` + permissionNames() + `.`,
		Example: `  keyward role create deployer --permission keys:read --permission keys:roll --id 20`,
		Args:    exactArgs("name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.CreateRole(cmd.Context(), keyward.RoleInput{ID: id, Name: args[0], Permissions: permissions(perms)})
			if err != nil {
				return err
			}
			return a.printRole(r)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&perms, "permission", nil, "a permission the role grants, such as keys:read; repeat for more (required)")
	f.Int64Var(&id, "id", 0, "the role's numeric id (server's choice when absent)")
	return cmd
}

func newRoleUpdateCmd(a *app) *cobra.Command {
	var (
		name  string
		perms []string
	)
	cmd := &cobra.Command{
		Use:   "update <name-or-id> [--name NAME] [--permission P]...",
		Short: "Rename a custom role or replace its permissions",
		Long: `Rename a custom role or replace its permissions: the --permission flags given
become the role's whole set. Built-in roles cannot change. Every user bound to
the role, and every credential holding it, gets the new set at the next request.`,
		Example: `  keyward role update deployer --permission keys:read --permission keys:roll --permission keys:renew`,
		Args:    exactArgs("name-or-id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in keyward.RoleInput
			in.Name = name
			if len(perms) > 0 {
				in.Permissions = permissions(perms)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.UpdateRole(cmd.Context(), args[0], in)
			if err != nil {
				return err
			}
			return a.printRole(r)
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "the role's new name")
	f.StringArrayVar(&perms, "permission", nil, "a permission the role grants; repeat for more (replaces them all)")
	return cmd
}

func newRoleDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "delete <name-or-id>",
		Short: "Delete a custom role",
		Args:  exactArgs("name-or-id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.DeleteRole(cmd.Context(), args[0]); err != nil {
				return err
			}
			return a.done(fmt.Sprintf("Role %s deleted.", args[0]))
		},
	}
}
