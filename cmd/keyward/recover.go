package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/authority"
)

func newRecoverTokenCmd(a *app) *cobra.Command {
	var (
		o    offline
		in   authority.RecoverInput
		days int64
		out  string
	)
	cmd := &cobra.Command{
		Use:   "recover-token [--user admin] [--expiration-days 1] [--out FILE]",
		Short: "Mint a new admin token offline, when every admin token is lost",
		Long: `Mint a new API token with the built-in admin role for a user who holds that role
globally (admin by default), straight in the database, for when the bootstrap
token and every other admin token are lost. It needs what only the operator
has: the database (--data, or --database for PostgreSQL) and the master key it
is sealed with (--master-key-file, $KEYWARD_MASTER_KEY or <data>/master.key, as
"keyward serve" finds it); a wrong key changes nothing.

The token expires after --expiration-days (default 1, at most 30): use it to get
back in and create proper keys, then revoke it. It is audited as
credential.create with detail.recovery=offline, and shown once, on stdout, or
written to --out (mode 0600). A running server picks the new token up within a second.`,
		Example: `  keyward recover-token --data /var/lib/keyward
  keyward recover-token --database postgres://keyward@db/keyward --master-key-file /etc/keyward/master.key --out admin.token`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if out != "" {
				if err := checkOutPath("out", out, false); err != nil {
					return err
				}
			}
			in.ExpirationDays = days
			ctx := cmd.Context()
			c, err := o.open(ctx, a)
			if err != nil {
				return err
			}
			defer c.close()
			issued, err := c.auth.RecoverAdminToken(ctx, in)
			if err != nil {
				return err
			}
			if out != "" {
				if err := writeSecretFile(out, issued.Key+"\n"); err != nil {
					return fmt.Errorf("writing %s: %w (the token %q was created: revoke it)", out, err, issued.Name)
				}
				fmt.Fprintf(a.stderr, "Wrote a new admin token (%s, expires %s) to %s (mode 0600).\n", issued.Name, fmtTimePtr(issued.ExpiresAt, "never"), out)
				return nil
			}
			fmt.Fprintf(a.stderr, "A new admin token (%s, expires %s); it is not shown again:\n", issued.Name, fmtTimePtr(issued.ExpiresAt, "never"))
			_, err = fmt.Fprintln(a.stdout, issued.Key)
			return err
		},
	}
	o.addFlags(a, cmd)
	f := cmd.Flags()
	f.StringVar(&in.User, "user", "", "the user the token acts as; must hold the admin role globally (default admin)")
	f.Int64Var(&days, "expiration-days", 1, "days until the token expires (1-30)")
	f.StringVar(&out, "out", "", "write the token to this new file (mode 0600) instead of stdout")
	return cmd
}
