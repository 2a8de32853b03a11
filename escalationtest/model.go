// Package escalationtest is the machinery of the escalation matrix (issue 10, the dominance
// rule): a model of the rights every caller and every credential holds, a server with every
// surface on a loopback port, and the invariants each cell (surface, operation, caller,
// holder, credential type) must keep. The operations themselves live in the tests that drive
// each surface (httpapi, cmd/keyward); this package only judges what they did.
package escalationtest

import (
	"maps"
	"slices"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

// Project is the project P of every cell: the system project, where the bootstrap admin's key
// lives, so that a caller bound in P meets the bootstrap admin's credentials as in the issue.
const Project = keyward.SystemProject

// Global is the scope of a global binding or right, as /v1/whoami names it.
const Global = "*"

// CustomRoles are roles the fixture creates besides the built-ins. Updater can change keys but
// not roll them: the caller of the Volt MX hole (modify with regenerate=true by a caller
// lacking keys:roll).
var CustomRoles = []RoleDef{
	{Name: "Updater", Perms: []keyward.Permission{keyward.PermKeysRead, keyward.PermKeysUpdate, keyward.PermProjectsRead}},
}

// RoleDef is a role as the model knows it.
type RoleDef struct {
	Name  string
	Perms []keyward.Permission
}

// BuiltinNames are the built-in roles, in the order of their ids.
var BuiltinNames = []string{"admin", "owner", "Admin", "Client", "Partner", "viewer"}

// roleDefs is every role of the model by name: the server's built-in definitions (the policy
// matrix checks those against the documented table) and CustomRoles.
var roleDefs = func() map[string]RoleDef {
	out := map[string]RoleDef{}
	for _, r := range authority.BuiltinRoles() {
		out[r.Name] = RoleDef{Name: r.Name, Perms: r.Permissions}
	}
	for _, r := range CustomRoles {
		out[r.Name] = r
	}
	return out
}()

// Perms returns the permissions of a role of the model; it panics on an unknown role, a
// mistake in the test.
func Perms(role string) []keyward.Permission {
	r, ok := roleDefs[role]
	if !ok {
		panic("escalationtest: unknown role " + role)
	}
	return r.Perms
}

// Binding binds a role in a scope: a project's slug, or Global.
type Binding struct {
	Role, Scope string
}

func (b Binding) String() string {
	if b.Scope == Global {
		return b.Role + "@*"
	}
	return b.Role + "@P"
}

// Rights are permissions by scope: a project's slug, or Global.
type Rights map[string]map[keyward.Permission]bool

// RightsOf is the effective-rights rule of the contract, written again here rather than taken
// from the server: for each binding of the holder, the permissions of its role that the
// credential's roles also grant (every permission, for a login session: credRoles nil), in the
// binding's scope.
func RightsOf(bindings []Binding, credRoles []string) Rights {
	var allowed map[keyward.Permission]bool
	if credRoles != nil {
		allowed = map[keyward.Permission]bool{}
		for _, r := range credRoles {
			for _, p := range Perms(r) {
				allowed[p] = true
			}
		}
	}
	out := Rights{}
	for _, b := range bindings {
		for _, p := range Perms(b.Role) {
			if allowed == nil || allowed[p] {
				out.add(b.Scope, p)
			}
		}
	}
	return out
}

func (r Rights) add(scope string, p keyward.Permission) {
	if r[scope] == nil {
		r[scope] = map[keyward.Permission]bool{}
	}
	r[scope][p] = true
}

// Has reports whether r holds p in project (there or globally).
func (r Rights) Has(p keyward.Permission, project string) bool {
	return r[Global][p] || r[project][p]
}

// Effective returns the permissions r gives in project: its own and the global ones.
func (r Rights) Effective(project string) map[keyward.Permission]bool {
	out := maps.Clone(r[Global])
	if out == nil {
		out = map[keyward.Permission]bool{}
	}
	for p := range r[project] {
		out[p] = true
	}
	return out
}

// Within reports whether every right of r is one of o's in its scope: a right in a project
// needs the permission there or globally, a global right needs it globally.
func (r Rights) Within(o Rights) bool { return len(r.Beyond(o)) == 0 }

// Beyond returns the rights of r that o lacks, as "scope:permission", sorted.
func (r Rights) Beyond(o Rights) []string {
	var out []string
	for scope, ps := range r {
		for p := range ps {
			if scope == Global && !o[Global][p] || scope != Global && !o.Has(p, scope) {
				out = append(out, scope+":"+string(p))
			}
		}
	}
	slices.Sort(out)
	return out
}

func (r Rights) String() string {
	var parts []string
	for _, scope := range slices.Sorted(maps.Keys(r)) {
		ps := make([]string, 0, len(r[scope]))
		for p := range r[scope] {
			ps = append(ps, string(p))
		}
		slices.Sort(ps)
		parts = append(parts, scope+"{"+strings.Join(ps, " ")+"}")
	}
	return strings.Join(parts, " ")
}

// Held is a credential as the model sees it: its roles and its effective rights, in Project.
type Held struct {
	Roles  []string
	Rights Rights
}

// Dominates is the rule under test: a caller with rights caller dominates credential c iff
// (a) every role of c is within the caller's effective permissions in c's project, as if the
// caller could have created c, and (b) the caller holds every right c holds, scope by scope.
func Dominates(caller Rights, c Held) bool {
	eff := caller.Effective(Project)
	for _, role := range c.Roles {
		for _, p := range Perms(role) {
			if !eff[p] {
				return false
			}
		}
	}
	return c.Rights.Within(caller)
}

// Principal is a row or a column of the matrix: a user, with the bindings the fixture gives it,
// acting through a login session (KeyRoles nil) or an API key with KeyRoles.
type Principal struct {
	Label    string // as reports show it: "Client@P", "admin@*", "owner@P key[Client]"
	User     string
	Bindings []Binding
	KeyRoles []string
	// Service marks the service user of a service credential (F5 XC service_credentials).
	Service bool
	// Token authenticates the principal; set by the fixture.
	Token string
}

// Rights are the principal's effective rights through its session or key.
func (p *Principal) Rights() Rights { return RightsOf(p.Bindings, p.KeyRoles) }

// Role is the principal's first role: the one its credentials carry when it holds them.
func (p *Principal) Role() string { return p.Bindings[0].Role }

// Holds reports whether p holds every permission of perms in Project.
func (p *Principal) Holds(perms ...keyward.Permission) bool {
	r := p.Rights()
	for _, perm := range perms {
		if !r.Has(perm, Project) {
			return false
		}
	}
	return true
}

// userName is the fixture's user of a role binding; the role is spelt out because Admin and
// admin differ only in case.
func userName(b Binding) string {
	label := map[string]string{"admin": "admin", "owner": "owner", "Admin": "ssadmin", "Client": "client",
		"Partner": "partner", "viewer": "viewer", "Updater": "updater"}[b.Role]
	if b.Scope == Global {
		return "esc-" + label + "-g"
	}
	return "esc-" + label + "-p"
}

func bound(role, scope string) *Principal {
	b := Binding{Role: role, Scope: scope}
	return &Principal{Label: b.String(), User: userName(b), Bindings: []Binding{b}}
}

// Callers are the rows: each built-in role bound in P and globally, acting through a login
// session; the custom Updater in P; and API keys with the Client role of users holding more
// (a user's weaker key must not dominate that user's stronger keys).
func Callers() []*Principal {
	var out []*Principal
	for _, scope := range []string{Project, Global} {
		for _, r := range BuiltinNames {
			out = append(out, bound(r, scope))
		}
	}
	out = append(out, bound("Updater", Project))
	for _, b := range []Binding{{"owner", Project}, {"Admin", Project}, {"admin", Global}} {
		p := bound(b.Role, b.Scope)
		p.Label += " key[Client]"
		p.KeyRoles = []string{"Client"}
		out = append(out, p)
	}
	return out
}

// BootstrapLabel labels the bootstrap admin's column.
const BootstrapLabel = "bootstrap admin"

// Holders are the columns: each built-in role bound in P and globally (the same users as the
// callers, so that the diagonal is a user acting on its own credentials), and the bootstrap
// admin. A holder's credentials carry its role.
func Holders() []*Principal {
	var out []*Principal
	for _, scope := range []string{Project, Global} {
		for _, r := range BuiltinNames {
			out = append(out, bound(r, scope))
		}
	}
	return append(out, &Principal{Label: BootstrapLabel, User: keyward.AdminUser, Bindings: []Binding{{"admin", Global}}})
}

// ServiceHolders are the service users of F5 XC service credentials: each built-in role in P.
func ServiceHolders() []*Principal {
	var out []*Principal
	for _, r := range BuiltinNames {
		out = append(out, &Principal{Label: "svc " + r + "@P", Bindings: []Binding{{r, Project}}, Service: true})
	}
	return out
}

// HeldBy is what a credential of holder with its role holds.
func HeldBy(holder *Principal) Held {
	roles := []string{holder.Role()}
	return Held{Roles: roles, Rights: RightsOf(holder.Bindings, roles)}
}
