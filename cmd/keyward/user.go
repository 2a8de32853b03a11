package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

func newUserCmd(a *app) *cobra.Command {
	cmd := newGroupCmd("user", "Create, list, disable, delete users; set passwords; grant global roles",
		newUserCreateCmd(a),
		newUserListCmd(a),
		newUserGetCmd(a),
		newUserSetDisabledCmd(a, true),
		newUserSetDisabledCmd(a, false),
		newUserDeleteCmd(a),
		newUserPasswdCmd(a),
		newUserRolesCmd(a),
		newUserGrantCmd(a),
		newUserRevokeCmd(a),
		newUserSessionsCmd(a),
		newUserLogoutCmd(a),
	)
	cmd.Aliases = []string{"users"}
	return cmd
}

func newUserCreateCmd(a *app) *cobra.Command {
	var withPassword bool
	cmd := &cobra.Command{
		Use:   "create <name> [--password-stdin]",
		Short: "Create a user",
		Long: `Create a user. With --password-stdin the user's password is the first line of
stdin (prompted for on a terminal, without echo); without it the
user has no password and cannot log in until "keyward user passwd" sets one.
A new user holds no role: bind one with "keyward project members add" or
"keyward user grant".`,
		Example: `  keyward user create alice
  printf '%s\n' "$PASSWORD" | keyward user create alice --password-stdin`,
		Args: exactArgs("name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			in := keyward.CreateUserInput{Name: args[0]}
			if withPassword {
				if in.Password, err = a.readPassword("", "Password for "+args[0], "password"); err != nil {
					return err
				}
			}
			u, err := c.CreateUser(cmd.Context(), in)
			if err != nil {
				return err
			}
			return a.printUser(u)
		},
	}
	cmd.Flags().BoolVar(&withPassword, "password-stdin", false, "set the user's password, read from the first line of stdin")
	return cmd
}

func newUserListCmd(a *app) *cobra.Command {
	var (
		cursor string
		limit  int
		all    bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the users",
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
				page, err := c.ListUsers(cmd.Context(), cursor, limit)
				if err != nil {
					return err
				}
				return a.printUsers(page)
			}
			page := &keyward.Page[keyward.User]{Items: []keyward.User{}}
			for u, err := range c.AllUsers(cmd.Context(), limit) {
				if err != nil {
					return err
				}
				page.Items = append(page.Items, u)
			}
			return a.printUsers(page)
		},
	}
	f := cmd.Flags()
	f.IntVar(&limit, "limit", 0, "users per page (server default when 0)")
	f.StringVar(&cursor, "cursor", "", "start at this cursor, from a previous page")
	f.BoolVar(&all, "all", false, "follow the cursors and list every user")
	return cmd
}

func newUserGetCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "get <name-or-id>",
		Short: "Show a user",
		Args:  exactArgs("name-or-id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			u, err := c.User(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.printUser(u)
		},
	}
}

// newUserSetDisabledCmd returns "user disable" or "user enable".
func newUserSetDisabledCmd(a *app, disable bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "enable <name-or-id>",
		Short: "Enable a disabled user again",
		Long: `Enable a disabled user again: they can log in, and the credentials they created
that are still active work again.`,
		Args: exactArgs("name-or-id"),
	}
	if disable {
		cmd.Use = "disable <name-or-id>"
		cmd.Short = "Disable a user, and with them every credential they created"
		cmd.Long = `Disable a user: they can no longer log in, and their sessions and every
credential they created stop working at the next request (verify answers
DISABLED), until "keyward user enable".`
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		u, err := c.UpdateUser(cmd.Context(), args[0], keyward.UpdateUserInput{Disabled: &disable})
		if err != nil {
			return err
		}
		return a.printUser(u)
	}
	return cmd
}

func newUserDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "delete <name-or-id>",
		Short: "Delete a user",
		Long:  "Delete a user. Their sessions and the credentials they created stop working.",
		Args:  exactArgs("name-or-id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			u, err := c.DeleteUser(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.printUser(u)
		},
	}
}

func newUserPasswdCmd(a *app) *cobra.Command {
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "passwd <name-or-id>",
		Short: "Set a user's password",
		Long: `Set a user's password. The new password is the first line of stdin.

Changing your own password needs a login session ("keyward login"; an API key is
refused) and the current password: it is $KEYWARD_CURRENT_PASSWORD when set, else
the second line of stdin. With the users:admin permission you set anyone's
password, your own included, without the current one; that is also how a user
without a password (the bootstrap admin, with its token) gets a first one. The
user's other sessions end.

On a terminal each password is prompted for and read without echo; scripts pipe
them in. --password-stdin changes nothing (stdin is
where passwords always come from); it is accepted so that scripts can say so.`,
		Example: `  printf '%s\n' "$NEW" | keyward user passwd bob
  printf '%s\n%s\n' "$NEW" "$OLD" | keyward user passwd alice
  KEYWARD_CURRENT_PASSWORD="$OLD" keyward user passwd alice < new.txt`,
		Args: exactArgs("name-or-id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("password-stdin") && !fromStdin {
				return usageErrorf("--password-stdin=false: passwords are only ever read from stdin")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			who, err := c.Whoami(cmd.Context())
			if err != nil {
				return err
			}
			own := who.User != nil && (who.User.Name == args[0] || strconv.FormatInt(who.User.ID, 10) == args[0])
			var in keyward.SetPasswordInput
			if in.Password, err = a.readPassword("", "New password", "new password"); err != nil {
				return err
			}
			switch {
			case own && who.User.HasPassword:
				if in.CurrentPassword, err = a.readPassword("KEYWARD_CURRENT_PASSWORD", "Current password", "current password"); err != nil {
					return err
				}
			case own:
				// A first password (the bootstrap admin's, set with users:admin) has no current
				// one to give; one given anyway is sent, and the server decides.
				in.CurrentPassword = a.getenv("KEYWARD_CURRENT_PASSWORD")
				if in.CurrentPassword == "" && !a.stdinIsTerminal() {
					if in.CurrentPassword, _, err = a.readLine(""); err != nil {
						return err
					}
				}
			}
			if err := c.SetPassword(cmd.Context(), args[0], in); err != nil {
				return err
			}
			return a.done(fmt.Sprintf("Password of %s set.", args[0]))
		},
	}
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password(s) from stdin (what happens anyway)")
	return cmd
}

func newUserRolesCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "roles <name-or-id>",
		Short: "List a user's role bindings, global and per project",
		Args:  exactArgs("name-or-id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			bs, err := c.UserRoles(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.printBindings(bs)
		},
	}
}

func newUserGrantCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "grant <user> <role>",
		Short: "Grant a user a role in every project",
		Long: `Grant a user a role (name or id) in every project: a global binding. To grant
a role in one project, use "keyward project members add".`,
		Example: `  keyward user grant alice admin`,
		Args:    exactArgs("user", "role"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			b, err := c.GrantGlobalRole(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return a.printBinding(b)
		},
	}
}

func newUserRevokeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke <user> <role>",
		Short: "Remove a user's global role",
		Long: `Remove a user's global binding to a role (name or id). The credentials they
created lose what the role granted at their next request.`,
		Args: exactArgs("user", "role"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.RevokeGlobalRole(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			return a.done(fmt.Sprintf("Global role %s of %s removed.", args[1], args[0]))
		},
	}
}

func newUserSessionsCmd(a *app) *cobra.Command {
	var (
		cursor string
		limit  int
		all    bool
	)
	cmd := &cobra.Command{
		Use:   "sessions <name-or-id>",
		Short: "List a user's login sessions",
		Long: `List a user's login sessions (credentials of type SESSION), ended ones
included: your own, or anyone's with the users:admin permission. "keyward
user logout" ends them; "keyward logout" ends the one you are using.`,
		Args: exactArgs("name-or-id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := atMostOne(cmd.Flags(), "cursor", "all"); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if !all {
				page, err := c.ListSessions(cmd.Context(), args[0], cursor, limit)
				if err != nil {
					return err
				}
				return a.printSessions(page)
			}
			page := &keyward.Page[keyward.Credential]{Items: []keyward.Credential{}}
			for s, err := range c.AllSessions(cmd.Context(), args[0], limit) {
				if err != nil {
					return err
				}
				page.Items = append(page.Items, s)
			}
			return a.printSessions(page)
		},
	}
	f := cmd.Flags()
	f.IntVar(&limit, "limit", 0, "sessions per page (server default when 0)")
	f.StringVar(&cursor, "cursor", "", "start at this cursor, from a previous page")
	f.BoolVar(&all, "all", false, "follow the cursors and list every session")
	return cmd
}

func newUserLogoutCmd(a *app) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "logout <name-or-id> (<session-id> | --all)",
		Short: "End a user's login sessions",
		Long: `End one login session of a user (an id from "keyward user sessions"), or with
--all every live one but the session you are using, when it is theirs ("keyward
logout" ends that one). Your own sessions, or anyone's with the users:admin
permission. Changing a password ends the user's other sessions too.`,
		Example: `  keyward user logout alice 42
  keyward user logout alice --all`,
		Args: func(cmd *cobra.Command, args []string) error {
			if all {
				return exactArgs("name-or-id")(cmd, args)
			}
			return exactArgs("name-or-id", "session-id")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var id int64
			if !all {
				var err error
				if id, err = strconv.ParseInt(args[1], 10, 64); err != nil {
					return usageErrorf("session id %q: give the numeric id \"keyward user sessions\" shows", args[1])
				}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if all {
				res, err := c.RevokeSessions(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if a.jsonOut() {
					return a.printJSON(res)
				}
				msg := fmt.Sprintf("Ended %d session(s) of %s.", len(res.Revoked), args[0])
				if res.Kept != 0 {
					msg += fmt.Sprintf(" Yours (%d) goes on.", res.Kept)
				}
				return a.done(msg)
			}
			s, err := c.RevokeSession(cmd.Context(), args[0], id)
			if err != nil {
				return err
			}
			return a.printCredential(s)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "end every live session of the user but yours")
	return cmd
}
