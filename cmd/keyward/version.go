package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/version"
)

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show this binary's version and the commit it was built from (no server needed)",
		Args:  exactArgs(),
		RunE: func(*cobra.Command, []string) error {
			in := version.Get()
			if a.jsonOut() {
				return a.printJSON(in)
			}
			_, err := fmt.Fprintln(a.stdout, "keyward "+in.String())
			return err
		},
	}
}
