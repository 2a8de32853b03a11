package main

import (
	"io"
	"net/url"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyward/keyward/client"
)

// defaultServer is the server the CLI calls without --server or KEYWARD_SERVER: where
// "keyward serve" listens by default.
const defaultServer = "http://127.0.0.1:8080"

// userAgent identifies the CLI to the server.
const userAgent = "keyward-cli/1"

// app is what the API commands share: the global flags, the streams and the clock.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	now    func() time.Time

	flags  *pflag.FlagSet // the root's persistent flags
	server string
	token  string
	output string
}

const rootLong = `keyward issues, renews, rolls, revokes and verifies API credentials.

"keyward serve" runs the server. Every other command calls a running server's API:
the one at --server (or $KEYWARD_SERVER, else ` + defaultServer + `), with the
token of --token (or $KEYWARD_TOKEN). Prefer the environment variable for the
token: a flag shows in the process list and in the shell history.

Output is a table for people by default; -o json prints the API's objects as
indented JSON for scripts.

Exit codes:
  0  success
  1  the server refused the request (its message follows "error:"), or the key
     given to "key verify" is not valid, or another failure
  2  usage error: unknown command or flag, missing or malformed argument, or a
     value rejected before anything was sent
  3  the server could not be reached, or its answer could not be read`

func newRootCmd(a *app) *cobra.Command {
	if a.now == nil {
		a.now = time.Now
	}
	root := &cobra.Command{
		Use:           "keyward",
		Short:         "Issue, renew, roll, revoke and verify API credentials",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })

	a.flags = root.PersistentFlags()
	a.flags.StringVar(&a.server, "server", defaultServer, "URL of the keyward server (env KEYWARD_SERVER)")
	a.flags.StringVar(&a.token, "token", "", "API token to authenticate with (env KEYWARD_TOKEN, preferred)")
	a.flags.StringVarP(&a.output, "output", "o", "table", "output format: table or json")

	root.AddCommand(
		newServeCmd(),
		newKeyCmd(a),
		newProjectCmd(a),
		newAuditCmd(a),
		newWhoamiCmd(a),
	)
	markRunErrors(root)
	return root
}

// client checks the global flags and returns a client for the server they name. A flag that was
// not given falls back to its environment variable.
func (a *app) client() (*client.Client, error) {
	if err := a.checkOutput(); err != nil {
		return nil, err
	}
	server := a.server
	if !a.flags.Changed("server") {
		if env := a.getenv("KEYWARD_SERVER"); env != "" {
			server = env
		}
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("--server %q is not an http:// or https:// URL", server)
	}
	token := a.token
	if !a.flags.Changed("token") {
		token = a.getenv("KEYWARD_TOKEN")
	}
	if token == "" {
		return nil, usageErrorf("no API token: set KEYWARD_TOKEN or pass --token")
	}
	return client.New(server, token, client.WithUserAgent(userAgent)), nil
}

func (a *app) checkOutput() error {
	switch a.output {
	case "table", "json":
		return nil
	}
	return usageErrorf("--output must be table or json, not %q", a.output)
}

func (a *app) jsonOut() bool { return a.output == "json" }

// newGroupCmd returns a command that only holds subcommands. Unlike cobra's default, an unknown
// subcommand is a usage error rather than a reason to print the help.
func newGroupCmd(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			msg := "unknown command %q for %q"
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				return usageErrorf(msg+"; did you mean %q?", args[0], cmd.CommandPath(), s[0])
			}
			return usageErrorf(msg, args[0], cmd.CommandPath())
		},
	}
	cmd.AddCommand(subs...)
	return cmd
}

// exactArgs requires one positional argument per name.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < len(names) {
			return usageErrorf("missing argument <%s>", names[len(args)])
		}
		if len(args) > len(names) {
			return usageErrorf("unexpected argument %q", args[len(names)])
		}
		return nil
	}
}
