package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// "keyward hook" manages a project's webhook endpoints ("webhook" is the Kubernetes token
// webhook's configuration, in webhook.go).
func newHookCmd(a *app) *cobra.Command {
	cmd := newGroupCmd("hook", "Subscribe URLs to a project's credential events (webhooks), and follow their deliveries",
		newHookCreateCmd(a),
		newHookListCmd(a),
		newHookShowCmd(a),
		newHookUpdateCmd(a),
		newHookDeleteCmd(a),
		newHookRollSecretCmd(a),
		newHookDeliveriesCmd(a),
		newHookReplayCmd(a),
	)
	cmd.Aliases = []string{"hooks"}
	cmd.Long = `Subscribe URLs to a project's credential events (webhooks), and follow their deliveries.
Every command needs the projects:admin permission in the project.

Each change is announced by a signed POST (Standard Webhooks: webhook-id,
webhook-timestamp, webhook-signature), retried with backoff for more than a day
while the receiver fails, then dead until replayed. The types are:
  ` + strings.Join(keyward.WebhookTypes, "\n  ")
	return cmd
}

// typesFlag reads --type, repeatable or comma-separated.
func typesFlag(types []string) []string {
	var out []string
	for _, t := range types {
		for f := range strings.SplitSeq(t, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

func newHookCreateCmd(a *app) *cobra.Command {
	var (
		url, description string
		types            []string
		disabled         bool
	)
	cmd := &cobra.Command{
		Use:   "create <project> --url URL [--type TYPE]...",
		Short: "Subscribe a URL to webhook types and print its signing secret, once",
		Long: `Subscribe a URL (http:// or https://) to webhook types and print the endpoint
and its signing secret (whsec_...), once: receivers verify signatures with it.
Without --type the endpoint takes every type.`,
		Example: `  keyward hook create acme --url https://hooks.example.com/keyward
  keyward hook create acme --url https://hooks.example.com/k --type credential.revoked --type credential.leaked`,
		Args: exactArgs("project"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if url == "" {
				return usageErrorf("--url is required")
			}
			in := keyward.CreateWebhookInput{URL: url, Description: description, Types: typesFlag(types)}
			if len(in.Types) == 0 {
				in.Types = keyward.WebhookTypes
			}
			if disabled {
				in.Enabled = new(bool)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			e, err := c.CreateWebhook(cmd.Context(), args[0], in)
			if err != nil {
				return err
			}
			return a.printHookSecret(e)
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "url", "", "the receiver's URL, http:// or https:// (required)")
	f.StringVar(&description, "description", "", "a note for people, at most 100 characters")
	f.StringSliceVar(&types, "type", nil, "a webhook type to subscribe to (repeatable; default every type)")
	f.BoolVar(&disabled, "disabled", false, "create the endpoint paused: its deliveries wait until it is enabled")
	return cmd
}

func newHookListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list <project>",
		Short: "List a project's webhook endpoints",
		Args:  exactArgs("project"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			es, err := c.Webhooks(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.jsonOut() {
				return a.printJSON(keyward.Page[keyward.WebhookEndpoint]{Items: es})
			}
			rows := make([][]string, len(es))
			for i, e := range es {
				rows[i] = []string{strconv.FormatInt(e.ID, 10), e.URL, enabledWord(e.Enabled), strings.Join(e.Types, ",")}
			}
			return table(a.stdout, []string{"ID", "URL", "STATE", "TYPES"}, rows)
		},
	}
}

func enabledWord(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

func (a *app) hookFields(e *keyward.WebhookEndpoint) []field {
	return []field{
		{"ID", strconv.FormatInt(e.ID, 10)}, {"Project", e.Project}, {"URL", e.URL},
		{"Description", orDash(e.Description)}, {"State", enabledWord(e.Enabled)},
		{"Types", strings.Join(e.Types, ", ")}, {"Created", fmtTime(e.CreatedAt)}, {"Updated", fmtTime(e.UpdatedAt)},
	}
}

func (a *app) printHook(e *keyward.WebhookEndpoint) error {
	if a.jsonOut() {
		return a.printJSON(e)
	}
	return details(a.stdout, a.hookFields(e))
}

// printHookSecret prints an endpoint and its secret; in a table the secret comes last, alone
// on its line, and the warning goes to stderr.
func (a *app) printHookSecret(e *keyward.WebhookWithSecret) error {
	if a.jsonOut() {
		if err := a.printJSON(e); err != nil {
			return err
		}
	} else {
		if err := details(a.stdout, a.hookFields(&e.WebhookEndpoint)); err != nil {
			return err
		}
		if _, err := fmt.Fprintf(a.stdout, "\n%s\n", e.Secret); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(a.stderr, "This signing secret will not be shown again. Store it where the receiver verifies signatures.")
	return err
}

func newHookShowCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "show <project> <id>",
		Aliases: []string{"get"},
		Short:   "Show a webhook endpoint",
		Args:    exactArgs("project", "id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			e, err := c.Webhook(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return a.printHook(e)
		},
	}
}

func newHookUpdateCmd(a *app) *cobra.Command {
	var (
		url, description string
		types            []string
		enable, disable  bool
	)
	cmd := &cobra.Command{
		Use:   "update <project> <id> [--url URL] [--description TEXT] [--type TYPE]... [--enable|--disable]",
		Short: "Change a webhook endpoint; --disable pauses its deliveries",
		Args:  exactArgs("project", "id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			var in keyward.UpdateWebhookInput
			if fs.Changed("url") {
				in.URL = &url
			}
			if fs.Changed("description") {
				in.Description = &description
			}
			if fs.Changed("type") {
				ts := typesFlag(types)
				in.Types = &ts
			}
			switch {
			case enable && disable:
				return usageErrorf("give --enable or --disable, not both")
			case enable || disable:
				in.Enabled = &enable
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			e, err := c.UpdateWebhook(cmd.Context(), args[0], args[1], in)
			if err != nil {
				return err
			}
			return a.printHook(e)
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "url", "", "the receiver's new URL")
	f.StringVar(&description, "description", "", "a new note")
	f.StringSliceVar(&types, "type", nil, "the webhook types, replacing the current ones (repeatable)")
	f.BoolVar(&enable, "enable", false, "resume deliveries")
	f.BoolVar(&disable, "disable", false, "pause deliveries")
	return cmd
}

func newHookDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "delete <project> <id>",
		Aliases: []string{"rm", "remove"},
		Short:   "Delete a webhook endpoint and its deliveries",
		Args:    exactArgs("project", "id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.DeleteWebhook(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			return a.done(fmt.Sprintf("Deleted webhook endpoint %s.", args[1]))
		},
	}
}

func newHookRollSecretCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "roll-secret <project> <id>",
		Short: "Give a webhook endpoint a new signing secret and print it, once",
		Long: `Give a webhook endpoint a new signing secret and print it, once. Deliveries sent
from now on, retries included, are signed with it only.`,
		Args: exactArgs("project", "id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			e, err := c.RollWebhookSecret(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return a.printHookSecret(e)
		},
	}
}

func newHookDeliveriesCmd(a *app) *cobra.Command {
	var (
		state, cursor string
		limit         int
		all           bool
	)
	cmd := &cobra.Command{
		Use:   "deliveries <project> <id> [--state STATE]",
		Short: "List a webhook endpoint's deliveries and their attempts, newest first",
		Args:  exactArgs("project", "id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			opts := client.ListWebhookDeliveriesOptions{State: state, Cursor: cursor, Limit: limit}
			page := &keyward.Page[keyward.WebhookDelivery]{Items: []keyward.WebhookDelivery{}}
			if all {
				for d, err := range c.AllWebhookDeliveries(cmd.Context(), args[0], args[1], opts) {
					if err != nil {
						return err
					}
					page.Items = append(page.Items, d)
				}
			} else if page, err = c.ListWebhookDeliveries(cmd.Context(), args[0], args[1], opts); err != nil {
				return err
			}
			if a.jsonOut() {
				return a.printJSON(page)
			}
			rows := make([][]string, len(page.Items))
			for i, d := range page.Items {
				last := "-"
				if d.LastStatus != 0 || d.LastError != "" {
					last = strings.TrimSpace(strconv.Itoa(d.LastStatus) + " " + d.LastError)
				}
				rows[i] = []string{d.ID, d.Type, d.State, strconv.Itoa(d.Attempts), fmtTimePtr(d.NextAttemptAt, "-"),
					fmtTime(d.CreatedAt), last}
			}
			if err := table(a.stdout, []string{"ID", "TYPE", "STATE", "ATTEMPTS", "NEXT ATTEMPT", "CREATED", "LAST"}, rows); err != nil {
				return err
			}
			a.moreHint(page.NextCursor)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&state, "state", "", "only deliveries in this state: "+strings.Join(keyward.DeliveryStates, ", "))
	f.StringVar(&cursor, "cursor", "", "continue from the cursor a previous page printed")
	f.IntVar(&limit, "limit", 0, "page size (default the server's)")
	f.BoolVar(&all, "all", false, "follow every page")
	return cmd
}

func newHookReplayCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "replay <project> <id> <delivery>",
		Short: "Send a failed or dead delivery again, with the same webhook-id",
		Args:  exactArgs("project", "id", "delivery"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			d, err := c.ReplayWebhookDelivery(cmd.Context(), args[0], args[1], args[2])
			if err != nil {
				return err
			}
			if a.jsonOut() {
				return a.printJSON(d)
			}
			return a.done(fmt.Sprintf("Delivery %s is pending again: it is sent within seconds.", d.ID))
		},
	}
}
