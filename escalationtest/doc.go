package escalationtest

import (
	"fmt"
	"slices"
	"strings"
)

// classes are the columns groups of the documented table, with their letters.
var classes = []struct{ name, letter string }{
	{"roll", "R"}, {"reveal", "V"}, {"renew", "N"}, {"update", "U"}, {"revoke", "X"},
}

// Doc renders the escalation matrix section of docs/policy.md from the operations the test runs
// and the model it judges them by.
func Doc(ops []*Op) string {
	var b strings.Builder
	b.WriteString("\n## Escalation matrix\n\n")
	b.WriteString("Generated from `httpapi/escalation_test.go` and `escalationtest/`, which run every cell\n")
	b.WriteString("below against a server with every surface mounted (`go test ./httpapi -run TestEscalationMatrix`).\n\n")
	b.WriteString("**The rule.** A credential's effective rights are, scope by scope (a project, or global),\n")
	b.WriteString("the permissions of its roles that its creator holds there now; a login session holds all of\n")
	b.WriteString("its user's rights. A caller *dominates* a credential when (a) every role of the credential is\n")
	b.WriteString("within the caller's permissions in the credential's project, as if the caller could have\n")
	b.WriteString("created it, and (b) the caller holds every right the credential holds, in the same scope (a\n")
	b.WriteString("global right needs a global right). An operation that yields or changes a credential\n")
	b.WriteString("succeeds only when the caller has the operation's permission **and** dominates the\n")
	b.WriteString("credential; creating one, only when the new credential's rights are within the caller's. A\n")
	b.WriteString("refusal changes nothing and returns no secret; it is 403 (`FORBIDDEN`, or the surface's\n")
	b.WriteString("equivalent) when the caller may read the project's keys, else 404. A read of a credential the\n")
	b.WriteString("caller does not dominate shows its key masked. A user's own credentials pass when the caller\n")
	b.WriteString("is that user's login session; a weaker API key of the same user does not dominate them.\n\n")
	b.WriteString("Each surface refuses in its own shape: the native API, F5 XC, project API keys and\n")
	b.WriteString("ServiceStack with 403 or 404; Volt MX with 401, or 400 \"not found\"; F5 XC's `bulk_revoke`\n")
	b.WriteString("with 200 and the name under `credentials_failed`; the CLI exits 1.\n\n")
	b.WriteString("**The invariants** each cell checks: (1) a secret the caller obtained (a token, read back\n")
	b.WriteString("through `/v1/whoami`; a PKCS#12 bundle or kubeconfig, read by its certificate's CN and O)\n")
	b.WriteString("holds no right the caller lacks; (2) a credential whose stored record or secret changed is\n")
	b.WriteString("one the caller dominates, with the permission; (3) when the caller has the permission and\n")
	b.WriteString("dominates, the operation succeeds; (4) a refusal changes nothing, returns no secret, and is\n")
	b.WriteString("403 or 404 as above.\n\n")
	b.WriteString("**The operations** (P is the project of the targets; the CLI's `key roll`, `key reveal` and\n")
	b.WriteString("`key revoke` run through the native API and are checked in `cmd/keyward`):\n\n")
	b.WriteString("| surface | operation | needs in P | credential types |\n|---|---|---|---|\n")
	for _, op := range ops {
		need := make([]string, len(op.Perms))
		for i, p := range op.Perms {
			need[i] = "`" + string(p) + "`"
		}
		if op.Permitted != nil {
			need = []string{"one of the roles `Client`, `Admin`, `Partner` (or `admin`)"}
		}
		if op.Kind == Change || op.Kind == Yield {
			need = append(need, "dominance")
		}
		types := make([]string, len(op.Types))
		for i, t := range op.Types {
			types[i] = "`" + string(t) + "`"
		}
		if len(types) == 0 {
			types = []string{"`API_TOKEN`"}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", op.Surface, op.Name, strings.Join(need, " + "), strings.Join(types, " "))
	}
	b.WriteString("\n**Who may yield or change whose credentials.** Rows are callers (a login session of a user\n")
	b.WriteString("with that role bound in P, or globally `@*`; `key[Client]` is an API key with the `Client`\n")
	b.WriteString("role of such a user); columns are holders (a credential carrying the holder's role, made by\n")
	b.WriteString("a user with that binding; the bootstrap admin's carry `admin`). A cell lists what the caller\n")
	b.WriteString("may do to the holder's credentials: **R**oll (and regenerate), re**V**eal (and full display),\n")
	b.WriteString("re**N**ew, **U**pdate (and disable), revoke (**X**); `·` is nothing. The diagonal is a user's\n")
	b.WriteString("own credentials. `Updater` is a custom role (`keys:read keys:update projects:read`): it may\n")
	b.WriteString("change keys but not roll them. The test also runs these callers against F5 XC service\n")
	b.WriteString("credentials of each role in P, and ServiceStack's callers against their own keys (including\n")
	b.WriteString("an API key with the `Client` or `Partner` role of a user who also holds `owner` or `Admin`).\n\n")
	b.WriteString(Table(ops, Callers(), Holders()))
	return b.String()
}

// Table renders the caller x holder table of what the rule allows, one letter per class of
// operation whose permission the caller holds and whose target it dominates.
func Table(ops []*Op, callers, holders []*Principal) string {
	var b strings.Builder
	b.WriteString("| caller \\ holder |")
	for _, h := range holders {
		b.WriteString(" " + h.Label + " |")
	}
	b.WriteString("\n|---|")
	for range holders {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, c := range callers {
		fmt.Fprintf(&b, "| %s |", c.Label)
		for _, h := range holders {
			cellText := ""
			if Dominates(c.Rights(), HeldBy(h)) {
				for _, cl := range classes {
					i := slices.IndexFunc(ops, func(op *Op) bool { return op.Class == cl.name })
					if i >= 0 && ops[i].permitted(c) {
						cellText += cl.letter
					}
				}
			}
			if cellText == "" {
				cellText = "·"
			}
			b.WriteString(" " + cellText + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}
