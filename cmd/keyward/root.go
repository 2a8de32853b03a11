package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/humanize"
	"github.com/keyward/keyward/version"
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

	flags     *pflag.FlagSet // the root's persistent flags
	server    string
	cacert    string
	serverSet bool // server was set by a command's own flag ("cluster add --keyward-server")
	token     string
	output    string

	lines *bufio.Reader // stdin, read line by line by readLine
}

const rootLong = `keyward issues, renews, rolls, revokes and verifies API credentials.

"keyward serve" runs the server. Every other command calls a running server's API:
the one at --server (or $KEYWARD_SERVER, else ` + defaultServer + `), but for
"migrate", "ca rotate-master-key" and "ca import", which open the database.

The token a command authenticates with is the first of:
  1. --token
  2. $KEYWARD_TOKEN
  3. the session stored by "keyward login", when it was made on the server that
     --server or $KEYWARD_SERVER names, and has not expired.
Without any, a command stops before sending anything.
Prefer the environment variable to the flag: a flag shows in the process list
and in the shell history. "keyward login" stores one session per server in
$KEYWARD_CONFIG_DIR/sessions/, else $XDG_CONFIG_HOME/keyward/sessions/, else
~/.config/keyward/sessions/ (mode 0600); "keyward logout" ends the server's.

Output is a table for people by default; -o json prints the API's objects as
indented JSON for scripts.

Exit codes:
  0  success
  1  the server refused the request (its message follows "error:", then each
     field at fault and why: the server owns every rule of a request), or the
     key given to "key verify" is not valid (or lacks a --permission asked for),
     or another failure
  2  usage error: unknown command or flag, missing or malformed argument, or a
     value the CLI cannot put in a request
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
		Version:       version.Get().String(), // --version
	}
	root.SetVersionTemplate("keyward {{.Version}}\n")
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })

	a.flags = root.PersistentFlags()
	a.flags.StringVar(&a.server, "server", defaultServer, "URL of the keyward server (env KEYWARD_SERVER)")
	a.flags.StringVar(&a.token, "token", "", "API token to authenticate with (env KEYWARD_TOKEN, preferred; else the session of \"keyward login\")")
	a.flags.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	a.flags.StringVar(&a.cacert, "cacert", "", "PEM file of the CA to trust for an https server, such as keyward's own (keyward ca pem) (env KEYWARD_CACERT)")

	root.AddCommand(
		newServeCmd(a),
		newKeyCmd(a),
		newProjectCmd(a),
		newAuditCmd(a),
		newUsageCmd(a),
		newWhoamiCmd(a),
		newLoginCmd(a),
		newLogoutCmd(a),
		newUserCmd(a),
		newRoleCmd(a),
		newMigrateCmd(a),
		newClusterCmd(a),
		newHookCmd(a),
		newCACmd(a),
		newVersionCmd(a),
		newRecoverTokenCmd(a),
		newLeakCmd(a),
		newScanCmd(a),
	)
	// "project members" is defined with the other role bindings, in member.go.
	for _, c := range root.Commands() {
		if c.Name() == "project" {
			c.AddCommand(newProjectMembersCmd(a))
		}
	}
	markRunErrors(root)
	return root
}

// client checks the global flags and returns a client for the server they name, with the token
// of --token, else $KEYWARD_TOKEN, else the stored session when it was made on that server and
// has not expired.
func (a *app) client() (*client.Client, error) {
	if err := a.checkOutput(); err != nil {
		return nil, err
	}
	server, err := a.serverURL()
	if err != nil {
		return nil, err
	}
	token := a.token
	if !a.flags.Changed("token") {
		token = a.getenv("KEYWARD_TOKEN")
	}
	if token == "" {
		if token, err = a.sessionToken(server); err != nil {
			return nil, err
		}
	}
	return a.newClient(server, token)
}

// newClient returns a client for server that authenticates with token ("" for none), trusting
// the CA of --cacert / $KEYWARD_CACERT besides the system's when one is given.
func (a *app) newClient(server, token string) (*client.Client, error) {
	opts := []client.Option{client.WithUserAgent(userAgent)}
	cacert := a.cacert
	if !a.flags.Changed("cacert") {
		cacert = a.getenv("KEYWARD_CACERT")
	}
	if cacert != "" {
		pem, err := os.ReadFile(cacert)
		if err != nil {
			return nil, usageErrorf("--cacert: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("--cacert %s holds no PEM certificate", cacert)
		}
		opts = append(opts, client.WithHTTPClient(&http.Client{
			Timeout:   60 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		}))
	}
	return client.New(server, token, opts...), nil
}

// serverURL returns the server of --server, else $KEYWARD_SERVER, else the default, checked.
func (a *app) serverURL() (string, error) {
	server := a.server
	if !a.flags.Changed("server") && !a.serverSet {
		if env := a.getenv("KEYWARD_SERVER"); env != "" {
			server = env
		}
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usageErrorf("--server %q is not an http:// or https:// URL", server)
	}
	return server, nil
}

// sessionToken returns the token of the stored session for server, or a usage error that says
// why there is none.
func (a *app) sessionToken(server string) (string, error) {
	const advice = "set KEYWARD_TOKEN, pass --token, or run \"keyward login\""
	s, path, err := a.loadSession(server)
	switch {
	case err != nil:
		return "", fmt.Errorf("no API token, and %w; %s", err, advice)
	case s == nil:
		return "", usageErrorf("no API token: %s", advice)
	case !sameServer(s.Server, server):
		return "", usageErrorf("no API token for %s: %s (the stored session, in %s, is for %s)", server, advice, path, s.Server)
	case s.ExpiresAt != nil && !a.now().Before(*s.ExpiresAt):
		return "", usageErrorf("no API token: the stored session of %s expired %s ago; run \"keyward login\" again, set KEYWARD_TOKEN or pass --token",
			s.User, humanize.Duration(a.now().Sub(*s.ExpiresAt)))
	}
	return s.Token, nil
}

// stdinIsTerminal reports whether stdin is a terminal, where prompts make sense.
func (a *app) stdinIsTerminal() bool {
	_, ok := a.stdinTerminal()
	return ok
}

// stdinTerminal returns stdin's descriptor when stdin is a terminal (not /dev/null, which is a
// character device too).
func (a *app) stdinTerminal() (int, bool) {
	f, ok := a.stdin.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// maxStdin bounds what the CLI reads from stdin: a few lines of keys, names and passwords.
const maxStdin = 64 << 10

// readLine reads the next line of stdin, without its line ending, printing prompt on stderr
// first when stdin is a terminal. ok is false when stdin has no more lines. All of a command's
// reads share one buffer, so that consecutive calls read consecutive lines.
func (a *app) readLine(prompt string) (line string, ok bool, err error) {
	if a.stdin == nil {
		return "", false, nil
	}
	if prompt != "" && a.stdinIsTerminal() {
		fmt.Fprint(a.stderr, prompt)
	}
	if a.lines == nil {
		a.lines = bufio.NewReader(io.LimitReader(a.stdin, maxStdin))
	}
	line, err = a.lines.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, fmt.Errorf("reading stdin: %w", err)
	}
	if err != nil && line == "" {
		return "", false, nil
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	return line, true, nil
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
