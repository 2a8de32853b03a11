// Command keyward runs the keyward credential service ("keyward serve") and calls its API: every
// other subcommand is one call of the Go client package. "keyward --help" lists the commands and
// the exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// The exit codes of keyward; the root command's help documents them.
const (
	exitOK          = 0 // success
	exitRefused     = 1 // the server refused (a keyward.Error), a verified key is not valid, or another failure
	exitUsage       = 2 // unknown command or flag, missing or malformed argument
	exitUnreachable = 3 // the server could not be reached, or its answer could not be read
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line args and returns the process's exit code. Everything it prints
// goes to stdout or stderr; errors are printed once, to stderr.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runEnv(args, stdin, stdout, stderr, os.Getenv)
}

// runEnv is run with the CLI's environment read through getenv, so that tests can run the CLI
// in process, side by side, each with an environment of its own.
func runEnv(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := newRootCmd(a)
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	return report(stderr, cmd, err)
}

// usageError is a mistake in the command line, found before anything was sent: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns a usage error with a formatted message.
func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// exitError ends the command with code after the command has said all it had to say.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// runError marks an error returned by a command's RunE or PreRunE, as opposed to one cobra found
// while parsing the command line (an unknown command or flag, a bad flag value, a wrong number of
// arguments), which is a usage error.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// markRunErrors wraps the RunE and PreRunE of c and of all its subcommands so that their errors
// are runErrors.
func markRunErrors(c *cobra.Command) {
	wrap := func(f func(*cobra.Command, []string) error) func(*cobra.Command, []string) error {
		if f == nil {
			return nil
		}
		return func(cmd *cobra.Command, args []string) error {
			if err := f(cmd, args); err != nil {
				return &runError{err}
			}
			return nil
		}
	}
	c.RunE = wrap(c.RunE)
	c.PreRunE = wrap(c.PreRunE)
	for _, sub := range c.Commands() {
		markRunErrors(sub)
	}
}

// exitCode maps the error of a command to the process's exit code.
func exitCode(err error) int {
	var (
		ee *exitError
		re *runError
		ue *usageError
		ke *keyward.Error
		te *client.TransportError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		return exitUsage
	case !errors.As(err, &re):
		return exitUsage // found by cobra while parsing the command line
	case errors.As(err, &ke):
		return exitRefused
	case errors.As(err, &te):
		return exitUnreachable
	}
	return exitRefused
}

// report prints err to w, once, and returns the exit code it means. cmd is the command that
// failed, for the hint to its help.
func report(w io.Writer, cmd *cobra.Command, err error) int {
	code := exitCode(err)
	var (
		ee *exitError
		ke *keyward.Error
		te *client.TransportError
	)
	switch {
	case err == nil, errors.As(err, &ee):
		// nothing to add
	case code == exitUsage:
		fmt.Fprintf(w, "error: %s\n", err)
		if cmd != nil {
			fmt.Fprintf(w, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
	case errors.As(err, &ke):
		msg := ke.Message
		if msg == "" {
			msg = string(ke.Code)
		}
		if len(ke.Fields) > 0 {
			msg = "invalid request" // the server's message repeats the field lines below
		}
		fmt.Fprintf(w, "error: %s\n", msg)
		fields := make([]string, 0, len(ke.Fields))
		for f := range ke.Fields {
			fields = append(fields, f)
		}
		slices.Sort(fields)
		for _, f := range fields {
			fmt.Fprintf(w, "  %s: %s\n", f, ke.Fields[f])
		}
		if ke.RetryAfter > 0 {
			fmt.Fprintf(w, "  retry after %s\n", ke.RetryAfter)
		}
	case errors.As(err, &te):
		fmt.Fprintf(w, "error: cannot reach the server: %s %s: %v\n", te.Method, te.URL, te.Err)
	default:
		fmt.Fprintf(w, "error: %s\n", strings.TrimPrefix(err.Error(), "keyward: "))
	}
	return code
}
