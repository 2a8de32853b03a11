package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/token"
	"github.com/keyward/keyward/tokenscan"
)

// scanFinding is one token "keyward scan" found, as -o json prints it.
type scanFinding struct {
	File      string `json:"file"`
	Line      int    `json:"line"`
	Column    int    `json:"column"`
	Token     string `json:"token"` // masked unless --show
	TokenHash string `json:"token_hash"`
	Known     *bool  `json:"known,omitempty"`  // with --report
	Status    string `json:"status,omitempty"` // with --report
	full      string
}

// stdinName is how "keyward scan" names standard input.
const stdinName = "-"

func newScanCmd(a *app) *cobra.Command {
	var (
		show, report bool
		source       string
	)
	cmd := &cobra.Command{
		Use:   "scan [<file>... | -] [--report] [--show]",
		Short: "Find keyward tokens in files or stdin, and optionally report them as leaked",
		Long: `Find well-formed keyward tokens (the kw_live_/kw_test_ shape with a matching
checksum, so random text of that shape is not reported) in each file, or in
stdin without files or with "-". Each is printed as FILE:LINE:COLUMN (COLUMN in
bytes, both from 1) and the token masked to its start; --show prints it whole.
Nothing is sent anywhere unless --report.

--report sends the tokens found to the server (POST /v1/leaks, as "keyward leak
report" does, with the file as the url): every live key among them is revoked,
or disabled under its project's policy, and each line then says whether the
token was a key the server issued and what the report did.

Exit codes: 0 when no token was found, 1 when one was (reported or not) or the
report failed, 2 when a file cannot be opened, 3 when the server cannot be
reached.`,
		Example: `  keyward scan config/*.env
  git diff --cached | keyward scan && git commit
  keyward scan --report leaked.log`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if len(args) == 0 {
				args = []string{stdinName}
			}
			// Open every file before reading any: a wrong name is a usage error, not a scan
			// that stopped half way.
			files := make([]io.ReadCloser, len(args))
			for i, name := range args {
				if name == stdinName {
					files[i] = io.NopCloser(a.stdin)
					continue
				}
				f, err := os.Open(name)
				if err != nil {
					for _, g := range files[:i] {
						g.Close()
					}
					return usageErrorf("%v", err)
				}
				files[i] = f
			}
			var found []*scanFinding
			for i, name := range args {
				err := tokenscan.Scan(files[i], func(f tokenscan.Finding) error {
					sf := &scanFinding{File: name, Line: f.Line, Column: f.Column, Token: tokenscan.Mask(f.Token),
						TokenHash: hex.EncodeToString(token.Digest(f.Token)), full: f.Token}
					if show {
						sf.Token = f.Token
					}
					found = append(found, sf)
					if !report && !a.jsonOut() {
						return a.printFinding(sf)
					}
					return nil
				})
				files[i].Close()
				if err != nil {
					return fmt.Errorf("scanning %s: %w", name, err)
				}
			}
			if report && len(found) > 0 {
				if err := a.reportFindings(cmd, found, source); err != nil {
					return err
				}
			}
			switch {
			case a.jsonOut():
				if err := a.printJSON(nonNil(found)); err != nil {
					return err
				}
			case report:
				for _, sf := range found {
					if err := a.printFinding(sf); err != nil {
						return err
					}
				}
			}
			if len(found) > 0 {
				return &exitError{exitRefused}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&show, "show", false, "print each token whole instead of masked")
	cmd.Flags().BoolVar(&report, "report", false, "report the tokens found to the server as leaked: it revokes every live one")
	cmd.Flags().StringVar(&source, "source", "keyward-scan", "with --report: what kind of place the files are (at most 64 bytes)")
	return cmd
}

func (a *app) printFinding(sf *scanFinding) error {
	line := fmt.Sprintf("%s:%d:%d: %s", clean(sf.File), sf.Line, sf.Column, sf.Token)
	if sf.Status != "" {
		line += " " + sf.Status
	}
	_, err := fmt.Fprintln(a.stdout, line)
	return err
}

// reportFindings reports the tokens found, each once, per file (the file is the report's url),
// and sets each finding's Known and Status from the answers.
func (a *app) reportFindings(cmd *cobra.Command, found []*scanFinding, source string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	byFile := map[string][]string{}
	var order []string
	seen := map[string]bool{}
	for _, sf := range found {
		if seen[sf.full] {
			continue
		}
		seen[sf.full] = true
		if byFile[sf.File] == nil {
			order = append(order, sf.File)
		}
		byFile[sf.File] = append(byFile[sf.File], sf.full)
	}
	answers := map[string]keyward.LeakedToken{}
	for _, file := range order {
		url := file
		if file == stdinName {
			url = ""
		}
		res, err := reportTokens(cmd.Context(), c, byFile[file], url, source)
		if err != nil {
			return err
		}
		for i, tok := range byFile[file] {
			answers[tok] = res.Tokens[i]
		}
	}
	for _, sf := range found {
		r := answers[sf.full]
		sf.Known, sf.Status = &r.Known, r.Status
	}
	return nil
}
