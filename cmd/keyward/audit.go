package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/auditchain"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/masterkey"
)

func newAuditCmd(a *app) *cobra.Command {
	return newGroupCmd("audit", "Read the audit log, or verify its chain", newAuditListCmd(a), newAuditVerifyCmd(a))
}

func newAuditVerifyCmd(a *app) *cobra.Command {
	var (
		o      offline
		anchor string
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check that no audit event was edited, deleted, reordered or inserted (offline)",
		Long: `Walk the audit chain of the database in order and check every event's hash and
MAC under the chain key, which the master key opens. It prints OK with the number of
events and the chain's head (its last seq and hash), or names the first event that
does not match and why, and exits 1.

It opens the database directly and changes nothing; the master key is found as
"keyward serve" finds it: --master-key-file, else $KEYWARD_MASTER_KEY, else
<data>/master.key. Servers may keep running.

Record the head it prints somewhere the database's administrators cannot write
(a ticket, a log service, a signed commit), and give it back with --anchor later:
then cutting off the newest events, head included, is found too.`,
		Example: `  keyward audit verify --data /var/lib/keyward
  keyward audit verify --database postgres://keyward@db/keyward --master-key-file /etc/keyward/master.key
  keyward audit verify --data /var/lib/keyward --anchor 1042:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			an, err := parseAnchor(anchor)
			if err != nil {
				return err
			}
			db, err := parseDatabase(o.database, o.data)
			if err != nil {
				return err
			}
			if db.kind == kindSQLite {
				if _, err := os.Stat(db.path); errors.Is(err, fs.ErrNotExist) {
					return usageErrorf("no database at %s: name the servers' database with --database or --data", db.path)
				}
			}
			_, _, keyName, err := o.keySource(a, db)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			mk, err := loadMasterKey(o.masterKeyFile, o.data, db.kind == kindPostgres, a.getenv, logger)
			if err != nil {
				return err
			}
			store, _, err := openStore(ctx, o.database, o.data)
			if err != nil {
				return fmt.Errorf("opening %s: %w", db, err)
			}
			defer store.Close()
			auth := authority.New(store, authority.Options{MasterKey: mk, Logger: logger})
			defer auth.Close()
			r, err := auth.VerifyAuditChain(ctx, an)
			if errors.Is(err, masterkey.ErrMismatch) {
				return fmt.Errorf("the master key of %s is not the one %s is sealed with", keyName, db)
			}
			if err != nil {
				return fmt.Errorf("verifying the audit chain of %s: %w", db, err)
			}
			if err := a.printChainReport(db.String(), r); err != nil {
				return err
			}
			if !r.OK() {
				return &exitError{exitRefused}
			}
			return nil
		},
	}
	o.addFlags(a, cmd)
	cmd.Flags().StringVar(&anchor, "anchor", "", "SEQ:HASH of a head printed earlier: the chain must still reach it unchanged")
	return cmd
}

// parseAnchor reads --anchor SEQ:HASH (hex); "" is none.
func parseAnchor(s string) (*auditchain.Anchor, error) {
	if s == "" {
		return nil, nil
	}
	seqText, hashText, ok := strings.Cut(s, ":")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if !ok || err != nil || seq <= 0 {
		return nil, usageErrorf("--anchor must be SEQ:HASH, as audit verify prints the head, such as 42:9f86d0...")
	}
	hash, err := hex.DecodeString(hashText)
	if err != nil || len(hash) != 32 {
		return nil, usageErrorf("--anchor's HASH must be 64 hexadecimal digits")
	}
	return &auditchain.Anchor{Seq: seq, Hash: hash}, nil
}

// printChainReport prints what audit verify found.
func (a *app) printChainReport(database string, r *auditchain.Report) error {
	head := ""
	if r.Seq > 0 {
		head = fmt.Sprintf("%d:%x", r.Seq, r.Hash)
	}
	if a.jsonOut() {
		out := map[string]any{"database": database, "ok": r.OK(), "events": r.Events, "head": head}
		if p := r.Problem; p != nil {
			out["problem"] = map[string]any{"kind": string(p.Kind), "event_id": p.EventID, "seq": p.Seq, "reason": p.Reason}
		}
		return a.printJSON(out)
	}
	if r.OK() {
		fmt.Fprintf(a.stdout, "OK: the audit chain of %s verifies: %d events\n", database, r.Events)
		if head != "" {
			fmt.Fprintf(a.stdout, "Head: %s (record it elsewhere; check it later with --anchor %s)\n", head, head)
		}
		return nil
	}
	p := r.Problem
	fmt.Fprintf(a.stdout, "FAILED: the audit chain of %s does not verify after %d good events\n", database, r.Events)
	fields := []field{{"  Problem", string(p.Kind)}}
	if p.EventID != 0 {
		fields = append(fields, field{"  Event", strconv.FormatInt(p.EventID, 10)})
	}
	if p.Seq != 0 {
		fields = append(fields, field{"  Seq", strconv.FormatInt(p.Seq, 10)})
	}
	fields = append(fields, field{"  Why", p.Reason})
	if head != "" {
		fields = append(fields, field{"  Last good", head})
	}
	return details(a.stdout, fields)
}

func newAuditListCmd(a *app) *cobra.Command {
	var (
		opts client.ListEventsOptions
		all  bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List audit events, newest first",
		Example: `  keyward audit list --project acme-prod --limit 20
  keyward audit list --credential 12 --all`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if !all {
				page, err := c.ListEvents(cmd.Context(), opts)
				if err != nil {
					return err
				}
				return a.printEvents(page)
			}
			page := &keyward.Page[keyward.Event]{Items: []keyward.Event{}}
			for e, err := range c.AllEvents(cmd.Context(), opts) {
				if err != nil {
					return err
				}
				page.Items = append(page.Items, e)
			}
			return a.printEvents(page)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Project, "project", "", "only events of this project (slug)")
	f.Int64Var(&opts.CredentialID, "credential", 0, "only events about the credential with this id")
	f.IntVar(&opts.Limit, "limit", 0, "events per page (server default when 0)")
	f.StringVar(&opts.Cursor, "cursor", "", "start at this cursor, from a previous page")
	f.BoolVar(&all, "all", false, "follow the cursors and list every event")
	return cmd
}
