package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/escalationtest"
)

// TestEscalationMatrixCLI is the CLI's share of the escalation matrix (see
// httpapi.TestEscalationMatrix): key roll, key reveal and key revoke, run in process against a
// server with every surface, for the callers and holders where the dominance rule decides.
// The CLI goes through the client package and the native API, so a handful of cells suffices.
func TestEscalationMatrixCLI(t *testing.T) {
	f := escalationtest.Start(t)
	t.Setenv("KEYWARD_CONFIG_DIR", t.TempDir())
	pick := func(all []*escalationtest.Principal, labels ...string) []*escalationtest.Principal {
		var out []*escalationtest.Principal
		for _, l := range labels {
			i := slices.IndexFunc(all, func(p *escalationtest.Principal) bool { return p.Label == l })
			if i < 0 {
				t.Fatalf("no principal %q", l)
			}
			out = append(out, all[i])
		}
		return out
	}
	callers := pick(f.Callers, "Client@P", "owner@P", "Admin@P", "viewer@P", "admin@*", "owner@P key[Client]")
	holders := pick(f.Holders, "owner@P", "Client@P", "admin@*", escalationtest.BootstrapLabel)
	op := func(name, class string, kind escalationtest.Kind, perm keyward.Permission, types []keyward.CredentialType, args ...string) *escalationtest.Op {
		return &escalationtest.Op{
			Surface: "cli", Name: name, Kind: kind, Class: class, Perms: []keyward.Permission{perm}, Types: types,
			Callers: callers, Holders: holders, Serial: true,
			Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
				return runEscalationCLI(c, append(args, escalationtest.Project, strconv.FormatInt(c.Target.ID, 10))...), nil
			},
		}
	}
	m := escalationtest.NewMatrix(f)
	m.Run(
		op("key roll", "roll", escalationtest.Change, keyward.PermKeysRoll, []keyward.CredentialType{keyward.APIToken, keyward.KubeConfig, keyward.KubeToken}, "key", "roll"),
		op("key reveal", "reveal", escalationtest.Yield, keyward.PermKeysReveal, nil, "key", "reveal"),
		op("key revoke", "revoke", escalationtest.Change, keyward.PermKeysRevoke, []keyward.CredentialType{keyward.APIToken}, "key", "revoke"),
	)
	m.Report(t)
}

// runEscalationCLI runs the CLI in process as the cell's caller, with JSON output. Exit code 1
// is a refusal: "not found" or, otherwise, forbidden.
func runEscalationCLI(c *escalationtest.Call, args ...string) escalationtest.Outcome {
	var out, errb bytes.Buffer
	args = append([]string{"--server", c.F.URL, "--token", c.Caller.Token, "-o", "json"}, args...)
	code := run(args, strings.NewReader(""), &out, &errb)
	var refusal escalationtest.Refusal
	if code == exitRefused {
		refusal = escalationtest.Forbidden
		if strings.Contains(errb.String(), "not found") {
			refusal = escalationtest.NotFound
		}
	}
	o := escalationtest.Answer(code, append(out.Bytes(), errb.Bytes()...), code == exitOK, refusal, strings.Join(args[4:], " "))
	if code == exitOK {
		var issued keyward.IssuedCredential
		if json.Unmarshal(out.Bytes(), &issued) == nil {
			o.Secrets = escalationtest.SecretOf(c.Type, issued.Key, issued.Data)
		}
	}
	return o
}
