package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/token"
	"github.com/keyward/keyward/tokenscan"
)

// maxReportTokens is how many tokens one request reports; the server refuses more.
const maxReportTokens = 1000

func newLeakCmd(a *app) *cobra.Command {
	return newGroupCmd("leak", "Report keyward tokens found exposed, so that the server ends them", newLeakReportCmd(a))
}

func newLeakReportCmd(a *app) *cobra.Command {
	var url, source string
	cmd := &cobra.Command{
		Use:   "report [<token>... | -] [--url URL] [--source SOURCE]",
		Short: "Report exposed tokens: every live key among them is revoked (or disabled) at once",
		Long: `Report tokens found where they should not be (a commit, a paste, a log, a
chat): the server revokes every live key among them at once, or disables it when
its project's policy says so, audits it as credential.leaked, and says per
token whether it was a key it issued and what it did, never whose key it was.
A token already revoked is reported as such and nothing changes.

Any authenticated caller may report: holding a token is proof enough that it is
exposed. Tokens come from the arguments, or one per line from stdin without any
or with "-" (which keeps them out of the shell history). --url says where they
were found and --source what kind of place that is; both go to the audit trail.

"keyward scan --report" finds the tokens in files and reports them.`,
		Example: `  keyward leak report --url https://paste.example/abc --source paste < found.txt`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			tokens := args
			if len(args) == 0 || (len(args) == 1 && args[0] == "-") {
				if tokens, err = a.readTokens(); err != nil {
					return err
				}
			}
			res, err := reportTokens(cmd.Context(), c, tokens, url, source)
			if err != nil {
				return err
			}
			if a.jsonOut() {
				return a.printJSON(res)
			}
			rows := make([][]string, len(tokens))
			for i, tok := range tokens {
				rows[i] = []string{maskAny(tok), yesNo(res.Tokens[i].Known), res.Tokens[i].Status}
			}
			return table(a.stdout, []string{"TOKEN", "KNOWN", "STATUS"}, rows)
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "where the tokens were found")
	cmd.Flags().StringVar(&source, "source", "cli", "what kind of place that is (at most 64 bytes): commit, paste, log, ...")
	return cmd
}

// readTokens reads tokens from stdin, one per line, skipping empty lines.
func (a *app) readTokens() ([]string, error) {
	var tokens []string
	for {
		line, ok, err := a.readLine("")
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if t := strings.TrimSpace(line); t != "" {
			tokens = append(tokens, t)
		}
	}
	if len(tokens) == 0 {
		return nil, usageErrorf("no token given: pass them as arguments or on stdin, one per line")
	}
	return tokens, nil
}

// reportTokens reports tokens in requests of at most maxReportTokens and returns the answers
// in the order of tokens.
func reportTokens(ctx context.Context, c *client.Client, tokens []string, url, source string) (*keyward.LeakResult, error) {
	out := &keyward.LeakResult{Tokens: make([]keyward.LeakedToken, 0, len(tokens))}
	for start := 0; start < len(tokens); start += maxReportTokens {
		batch := tokens[start:min(len(tokens), start+maxReportTokens)]
		res, err := c.ReportLeaks(ctx, keyward.LeakReportInput{Tokens: batch, URL: url, Source: source})
		if err != nil {
			return nil, err
		}
		if len(res.Tokens) != len(batch) {
			return nil, fmt.Errorf("the server answered %d tokens of %d", len(res.Tokens), len(batch))
		}
		out.Tokens = append(out.Tokens, res.Tokens...)
	}
	return out, nil
}

// maskAny is what the CLI shows of a reported text: a keyward token's start, or nothing of
// text that is no keyward token (it may be another service's secret).
func maskAny(tok string) string {
	if token.Valid(tok) {
		return tokenscan.Mask(tok)
	}
	return "(not a keyward token)"
}
