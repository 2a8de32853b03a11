package httpapi_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/authoritytest"
	"github.com/keyward/keyward/internal/goldenfile"
	"github.com/keyward/keyward/password"
	"github.com/keyward/keyward/ratelimit"
)

// The written policy, part 1: what each built-in role holds. docs/policy.md is generated from
// these tables, and the test checks the server agrees with them cell by cell.
var policyRoles = []struct {
	name  string
	perms []keyward.Permission
}{
	{"admin", keyward.AllPermissions},
	{"owner", perms("keys:create keys:read keys:update keys:renew keys:roll keys:revoke keys:verify keys:reveal projects:read projects:admin audit:read")},
	{"Admin", perms("keys:create keys:read keys:update keys:renew keys:roll keys:revoke keys:verify projects:read audit:read")},
	{"Client", perms("keys:create keys:read keys:roll keys:verify projects:read")},
	{"Partner", perms("keys:read keys:verify projects:read")},
	{"viewer", perms("keys:read projects:read")},
}

func perms(s string) []keyward.Permission {
	var out []keyward.Permission
	for _, f := range strings.Fields(s) {
		out = append(out, keyward.Permission(f))
	}
	return out
}

// Scopes of a rule: where the permission must be held.
const (
	public  = "public"  // no authentication
	anyone  = "anyone"  // any authenticated caller
	project = "project" // the permission, in the project of the path (404 without any access there)
	global  = "global"  // the permission, in every project (a global binding)
	user    = "user"    // users:admin globally, or being that user; others see 404
	someP   = "some"    // the permission in at least one project (lists filter to those)
)

// The written policy, part 2: each endpoint's permission, scope and success status.
var policy = map[string]struct {
	perm  keyward.Permission
	scope string
	ok    int
}{
	"POST /v1/projects":                                                      {keyward.PermProjectsAdmin, global, 201},
	"GET /v1/projects":                                                       {"", anyone, 200},
	"GET /v1/projects/{project}":                                             {keyward.PermProjectsRead, project, 200},
	"PATCH /v1/projects/{project}":                                           {keyward.PermProjectsAdmin, project, 200},
	"POST /v1/projects/{project}/credentials/{ref}/reveal":                   {keyward.PermKeysReveal, project, 200},
	"GET /v1/ca.pem":                                                         {"", public, 200},
	"GET /v1/crl":                                                            {"", public, 200},
	"GET /v1/clusters":                                                       {"", anyone, 200},
	"POST /v1/clusters":                                                      {keyward.PermClustersAdmin, global, 201},
	"GET /v1/clusters/{cluster}":                                             {"", anyone, 200},
	"DELETE /v1/clusters/{cluster}":                                          {keyward.PermClustersAdmin, global, 204},
	"GET /v1/clusters/{cluster}/ca.pem":                                      {"", public, 200},
	"GET /v1/clusters/{cluster}/crl":                                         {"", public, 200},
	"POST /v1/clusters/{cluster}/tokenreview":                                {keyward.PermClustersReview, global, 200},
	"POST /v1/projects/{project}/credentials":                                {keyward.PermKeysCreate, project, 201},
	"GET /v1/projects/{project}/credentials":                                 {keyward.PermKeysRead, project, 200},
	"GET /v1/projects/{project}/credentials/{ref}":                           {keyward.PermKeysRead, project, 200},
	"GET /v1/projects/{project}/usage":                                       {keyward.PermKeysRead, project, 200},
	"GET /v1/projects/{project}/credentials/{ref}/usage":                     {keyward.PermKeysRead, project, 200},
	"PATCH /v1/projects/{project}/credentials/{ref}":                         {keyward.PermKeysUpdate, project, 200},
	"DELETE /v1/projects/{project}/credentials/{ref}":                        {keyward.PermKeysRevoke, project, 200},
	"POST /v1/projects/{project}/credentials/{ref}/renew":                    {keyward.PermKeysRenew, project, 200},
	"POST /v1/projects/{project}/credentials/{ref}/roll":                     {keyward.PermKeysRoll, project, 200},
	"GET /v1/projects/{project}/members":                                     {keyward.PermProjectsRead, project, 200},
	"POST /v1/projects/{project}/webhooks":                                   {keyward.PermProjectsAdmin, project, 201},
	"GET /v1/projects/{project}/webhooks":                                    {keyward.PermProjectsAdmin, project, 200},
	"GET /v1/projects/{project}/webhooks/{id}":                               {keyward.PermProjectsAdmin, project, 200},
	"PATCH /v1/projects/{project}/webhooks/{id}":                             {keyward.PermProjectsAdmin, project, 200},
	"DELETE /v1/projects/{project}/webhooks/{id}":                            {keyward.PermProjectsAdmin, project, 204},
	"POST /v1/projects/{project}/webhooks/{id}/roll-secret":                  {keyward.PermProjectsAdmin, project, 200},
	"GET /v1/projects/{project}/webhooks/{id}/deliveries":                    {keyward.PermProjectsAdmin, project, 200},
	"POST /v1/projects/{project}/webhooks/{id}/deliveries/{delivery}/replay": {keyward.PermProjectsAdmin, project, 200},
	"POST /v1/projects/{project}/members":                                    {keyward.PermProjectsAdmin, project, 201},
	"DELETE /v1/projects/{project}/members/{user}/roles/{role}":              {keyward.PermProjectsAdmin, project, 204},
	"POST /v1/verify":                                                        {"", anyone, 200},
	"GET /v1/whoami":                                                         {"", anyone, 200},
	"GET /v1/audit":                                                          {keyward.PermAuditRead, someP, 200},
	"POST /v1/login":                                                         {"", public, 201},
	"POST /v1/logout":                                                        {"", anyone, 200},
	"POST /v1/users":                                                         {keyward.PermUsersAdmin, global, 201},
	"GET /v1/users":                                                          {keyward.PermUsersAdmin, global, 200},
	"GET /v1/users/{user}":                                                   {keyward.PermUsersAdmin, user, 200},
	"PATCH /v1/users/{user}":                                                 {keyward.PermUsersAdmin, user, 200},
	"DELETE /v1/users/{user}":                                                {keyward.PermUsersAdmin, user, 200},
	"PUT /v1/users/{user}/password":                                          {keyward.PermUsersAdmin, user, 204},
	"GET /v1/users/{user}/sessions":                                          {keyward.PermUsersAdmin, user, 200},
	"DELETE /v1/users/{user}/sessions":                                       {keyward.PermUsersAdmin, user, 200},
	"DELETE /v1/users/{user}/sessions/{session}":                             {keyward.PermUsersAdmin, user, 200},
	"GET /v1/users/{user}/roles":                                             {keyward.PermUsersAdmin, user, 200},
	"POST /v1/users/{user}/roles":                                            {keyward.PermUsersAdmin, user, 201},
	"DELETE /v1/users/{user}/roles/{role}":                                   {keyward.PermUsersAdmin, user, 204},
	"GET /v1/roles":                                                          {"", anyone, 200},
	"POST /v1/roles":                                                         {keyward.PermRolesAdmin, global, 201},
	"GET /v1/roles/{role}":                                                   {"", anyone, 200},
	"PATCH /v1/roles/{role}":                                                 {keyward.PermRolesAdmin, global, 200},
	"DELETE /v1/roles/{role}":                                                {keyward.PermRolesAdmin, global, 204},
	"GET /v1/auth":                                                           {"", public, 200},
	"POST /v1/auth":                                                          {"", public, 200},
	"HEAD /v1/auth":                                                          {"", public, 200},
	"GET /v1/auth/{path...}":                                                 {"", public, 200},
	"POST /v1/auth/{path...}":                                                {"", public, 200},
	"HEAD /v1/auth/{path...}":                                                {"", public, 200},
	"GET /v1/openapi.json":                                                   {"", public, 200},
	"GET /healthz":                                                           {"", public, 200},
	"GET /readyz":                                                            {"", public, 200},
	"GET /v1/projects/{project}/policy":                                      {keyward.PermProjectsRead, project, 200},
	"PUT /v1/projects/{project}/policy":                                      {keyward.PermProjectsAdmin, project, 200},
	"POST /v1/leaks":                                                         {"", anyone, 200},
	"POST /v1/leaks/github":                                                  {"", public, 200},
}

// caller is one row of the matrix: a user with a role bound in project "own" (or globally for
// the global admin, or nothing).
type matrixCaller struct {
	name, role string
	global     bool
}

func (c matrixCaller) holds(p keyward.Permission, inProject string) (has, any bool) {
	if c.role == "" {
		return false, false
	}
	if !c.global && inProject != "own" && inProject != "*" {
		return false, false
	}
	for _, r := range policyRoles {
		if r.name == c.role {
			return slices.Contains(r.perms, p), true
		}
	}
	panic("unknown role " + c.role)
}

// expect computes a cell's status from the policy tables.
func expect(c matrixCaller, key, scope string) int {
	rule := policy[key]
	switch rule.scope {
	case public, anyone:
		return rule.ok
	case project:
		has, any := c.holds(rule.perm, scope)
		switch {
		case !any:
			return 404
		case !has:
			return 403
		}
		return rule.ok
	case global:
		if has, _ := c.holds(rule.perm, "*"); has && c.global {
			return rule.ok
		}
		return 403
	case user:
		if has, _ := c.holds(rule.perm, "*"); has && c.global {
			return rule.ok
		}
		return 404
	case someP:
		if has, _ := c.holds(rule.perm, "own"); has {
			return rule.ok
		}
		return 403
	}
	panic("unknown scope " + rule.scope)
}

func TestPolicyMatrix(t *testing.T) {
	t.Parallel()
	fast := authority.Options{
		PasswordParams: password.Params{Memory: 1024, Time: 1, Threads: 1},
		LoginUserRate:  ratelimit.Rate{Limit: 1000, Period: 1e9}, LoginAddrRate: ratelimit.Rate{Limit: 1000, Period: 1e9},
	}
	signer := newLeakSigner(t)
	e, api := startOpts(t, &faultyStore{Store: authoritytest.Store(t)}, fast, httpapi.Options{LeakReportKeys: signer.keys})
	const js = "application/json"
	const pw = "matrix passphrase 1"
	admin := func(method, path, body string) *response {
		t.Helper()
		r := e.do(t, method, path, js, body)
		if r.status >= 300 {
			t.Fatalf("setup %s %s: %d %s", method, path, r.status, r.body)
		}
		return r
	}
	admin("PUT", "/v1/users/admin/password", `{"password":"`+pw+`"}`)
	admin("POST", "/v1/projects", `{"slug":"own"}`)
	admin("POST", "/v1/projects", `{"slug":"other"}`)
	admin("PATCH", "/v1/projects/own", `{"recoverable_keys":true}`)
	admin("PATCH", "/v1/projects/other", `{"recoverable_keys":true}`)

	callers := []matrixCaller{{name: "admin", role: "admin", global: true}, {name: "nobody"}}
	admin("POST", "/v1/users", `{"name":"nobody","password":"`+pw+`"}`)
	for _, r := range policyRoles {
		name := "as-" + strings.ToLower(r.name) + "-" + fmt.Sprint(len(callers))
		admin("POST", "/v1/users", `{"name":"`+name+`","password":"`+pw+`"}`)
		admin("POST", "/v1/projects/own/members", `{"user":"`+name+`","role":"`+r.name+`"}`)
		callers = append(callers, matrixCaller{name: name, role: r.name})
	}

	// The server's roles are the documented ones.
	var roles struct{ Items []keyward.Role }
	admin("GET", "/v1/roles", "").json(t, &roles)
	for _, want := range policyRoles {
		i := slices.IndexFunc(roles.Items, func(r keyward.Role) bool { return r.Name == want.name })
		if i < 0 || !slices.Equal(roles.Items[i].Permissions, want.perms) {
			t.Fatalf("built-in role %s: server has %v, policy says %v", want.name, roles.Items, want.perms)
		}
	}

	login := func(name string) string {
		t.Helper()
		req := `{"name":"` + name + `","password":"` + pw + `"}`
		r := e.do(t, "POST", "/v1/login", js, req)
		var s keyward.IssuedCredential
		r.json(t, &s)
		if r.status != 201 {
			t.Fatalf("login %s: %d %s", name, r.status, r.body)
		}
		return s.Key
	}
	sessions := map[string]string{}
	for _, c := range callers {
		sessions[c.name] = login(c.name)
	}
	// The credentials the matrix acts on are viewer keys of a project member, which every caller
	// with any access there dominates: this table is about permissions; the dominance rule
	// has its own matrix (escalation_test.go).
	// (A key acts with its creator's rights in every project the creator is bound in, so each
	// project gets a holder of its own.)
	holders := map[string]string{}
	for _, slug := range []string{"own", "other"} {
		admin("POST", "/v1/users", `{"name":"holder-`+slug+`","password":"`+pw+`"}`)
		admin("POST", "/v1/projects/"+slug+"/members", `{"user":"holder-`+slug+`","role":"Client"}`)
		holders[slug] = login("holder-" + slug)
	}
	verifiable := admin("POST", "/v1/projects/own/credentials", `{"name":"probe"}`)
	var probe keyward.IssuedCredential
	verifiable.json(t, &probe)

	// Every endpoint has a row, and every row an endpoint.
	served := map[string]bool{}
	for _, ep := range api.Endpoints() {
		key := ep.Method + " " + ep.Path
		served[key] = true
		if _, ok := policy[key]; !ok {
			t.Errorf("endpoint %s has no row in the policy table", key)
		}
		if got, want := ep.Public, policy[key].scope == public; got != want {
			t.Errorf("endpoint %s: public=%v, policy says %v", key, got, want)
		}
	}
	for key := range policy {
		if !served[key] {
			t.Errorf("policy row %s names no endpoint", key)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	n := 0
	fresh := func(prefix string) string { n++; return fmt.Sprintf("%s-%d", prefix, n) }
	cells := 0
	for _, key := range slices.Sorted(maps.Keys(policy)) {
		method, path, _ := strings.Cut(key, " ")
		scopes := []string{"none"}
		if strings.Contains(path, "{project}") {
			scopes = []string{"own", "other"}
		}
		for _, scope := range scopes {
			for _, c := range callers {
				// Prepare fresh targets with the admin so that every cell starts from the same state.
				p := strings.ReplaceAll(strings.ReplaceAll(path, "{project}", scope), "{path...}", "upstream/orders")
				body := ""
				if strings.Contains(p, "{ref}") {
					ref := fresh("cred")
					if r := e.do(t, "POST", "/v1/projects/"+scope+"/credentials", js, `{"name":"`+ref+`","roles":["viewer"]}`, "Authorization", "Bearer "+holders[scope]); r.status != 201 {
						t.Fatalf("setup: holder creates %s: %d %s", ref, r.status, r.body)
					}
					p = strings.ReplaceAll(p, "{ref}", ref)
				}
				if strings.Contains(p, "{cluster}") {
					cl := fresh("cluster")
					admin("POST", "/v1/clusters", `{"name":"`+cl+`","server":"https://127.0.0.1:6443"}`)
					p = strings.ReplaceAll(p, "{cluster}", cl)
				}
				if strings.Contains(p, "{id}") {
					var hook keyward.WebhookWithSecret
					admin("POST", "/v1/projects/"+scope+"/webhooks", `{"url":"http://127.0.0.1:9/hooks","types":["credential.created"]}`).json(t, &hook)
					p = strings.ReplaceAll(p, "{id}", fmt.Sprint(hook.ID))
					if strings.Contains(p, "{delivery}") {
						// A dead delivery to replay: a change, then every attempt failed.
						admin("POST", "/v1/projects/"+scope+"/credentials", `{"name":"`+fresh("hooked")+`"}`)
						for {
							claims, err := e.store.ClaimWebhookDeliveries(t.Context(), time.Now(), time.Minute, 1000)
							if err != nil {
								t.Fatal(err)
							}
							if len(claims) == 0 {
								break
							}
							for _, c := range claims {
								if _, err := e.store.FinishWebhookDelivery(t.Context(), c.Delivery.ID, c.Lease,
									keyward.WebhookOutcome{State: keyward.DeliveryDead, At: time.Now()}); err != nil {
									t.Fatal(err)
								}
								if c.Delivery.EndpointID == hook.ID {
									p = strings.ReplaceAll(p, "{delivery}", c.Delivery.ID)
								}
							}
						}
					}
				}
				target := ""
				if strings.Contains(p, "{user}") || strings.HasSuffix(key, "/members") {
					target = fresh("target")
					admin("POST", "/v1/users", `{"name":"`+target+`"}`)
					p = strings.ReplaceAll(p, "{user}", target)
				}
				if strings.Contains(p, "{session}") {
					admin("PUT", "/v1/users/"+target+"/password", `{"password":"`+pw+`"}`)
					var s keyward.IssuedCredential
					admin("POST", "/v1/login", `{"name":"`+target+`","password":"`+pw+`"}`).json(t, &s)
					p = strings.ReplaceAll(p, "{session}", fmt.Sprint(s.ID))
				}
				if strings.Contains(p, "{role}") {
					role := "viewer"
					switch {
					case strings.HasPrefix(path, "/v1/roles/"):
						role = fresh("role")
						admin("POST", "/v1/roles", `{"name":"`+role+`","permissions":["keys:read"]}`)
					case strings.HasPrefix(path, "/v1/users/"):
						admin("POST", "/v1/users/"+target+"/roles", `{"role":"viewer"}`)
					default:
						admin("POST", "/v1/projects/"+scope+"/members", `{"user":"`+target+`","role":"viewer"}`)
					}
					p = strings.ReplaceAll(p, "{role}", role)
				}
				switch key {
				case "POST /v1/projects":
					body = `{"slug":"` + fresh("proj") + `"}`
				case "POST /v1/projects/{project}/credentials":
					body = `{"name":"` + fresh("new") + `"}`
				case "PATCH /v1/projects/{project}/credentials/{ref}":
					body = `{"description":"changed"}`
				case "POST /v1/projects/{project}/credentials/{ref}/renew":
					body = `{"expiration_days":10}`
				case "POST /v1/projects/{project}/members", "POST /v1/users/{user}/roles":
					body = `{"user":"` + target + `","role":"viewer"}`
					if key == "POST /v1/users/{user}/roles" {
						body = `{"role":"viewer"}`
					}
				case "POST /v1/verify":
					body = `{"key":"` + probe.Key + `"}`
				case "POST /v1/login":
					body = `{"name":"` + c.name + `","password":"` + pw + `"}`
				case "POST /v1/users":
					body = `{"name":"` + fresh("newuser") + `"}`
				case "PATCH /v1/users/{user}":
					body = `{"disabled":true}`
				case "PUT /v1/users/{user}/password":
					body = `{"password":"a brand new passphrase"}`
				case "POST /v1/roles":
					body = `{"name":"` + fresh("newrole") + `","permissions":["keys:read"]}`
				case "PATCH /v1/roles/{role}":
					body = `{"permissions":["keys:read","projects:read"]}`
				case "PATCH /v1/projects/{project}":
					body = `{"recoverable_keys":true}`
				case "POST /v1/projects/{project}/webhooks":
					body = `{"url":"https://hooks.example.com/` + fresh("hook") + `","types":["credential.created","credential.revoked"]}`
				case "PATCH /v1/projects/{project}/webhooks/{id}":
					body = `{"description":"changed","enabled":false}`
				case "PUT /v1/projects/{project}/policy":
					body = `{"max_lifetime_days":3650}`
				case "POST /v1/clusters":
					body = `{"name":"` + fresh("newcluster") + `","server":"https://127.0.0.1:6443"}`
				case "POST /v1/leaks":
					body = `{"tokens":["kw_live_not-a-token"],"source":"matrix"}`
				case "POST /v1/leaks/github":
					body = githubBody("kw_live_not-a-token")
				case "POST /v1/clusters/{cluster}/tokenreview":
					body = `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"` + probe.Key + `"}}`
				}
				tok := sessions[c.name]
				if strings.Contains(key, " /v1/auth") {
					tok = probe.Key // a gateway presents the key it was given; there is no caller
				}
				if key == "POST /v1/logout" {
					tok = login(c.name) // logging out must not end the session the other cells use
				}
				ct := ""
				if body != "" {
					ct = js
				}
				headers := []string{"Authorization", "Bearer " + tok}
				if key == "POST /v1/leaks/github" {
					headers = append(headers, signer.headers(t, body)...) // the signature is its credential
				}
				r := e.do(t, method, p, ct, body, headers...)
				cells++
				if want := expect(c, key, scope); r.status != want {
					t.Errorf("%s [%s, project %s]: status %d, policy says %d: %.200s", key, c.name, scope, r.status, want, r.body)
				}
			}
		}
	}
	t.Logf("%d cells checked (%d endpoints, %d callers)", cells, len(policy), len(callers))

	// A few cells spelled out, so that the table's meaning is not only computed.
	spot := []struct {
		caller, method, path, body string
		want                       int
	}{
		{callers[0].name, "POST", "/v1/users", `{"name":"spot-a"}`, 201},
		{"as-owner-3", "POST", "/v1/users", `{"name":"spot-b"}`, 403},
		{"as-client-5", "POST", "/v1/projects/own/credentials", `{"name":"spot-c"}`, 201},
		{"as-partner-6", "POST", "/v1/projects/own/credentials/spot-c/roll", `{}`, 403},
		{"as-viewer-7", "GET", "/v1/projects/other/credentials", ``, 404},
		{"nobody", "GET", "/v1/projects/own", ``, 404},
		{"as-owner-3", "POST", "/v1/projects/own/members", `{"user":"nobody","role":"admin"}`, 403},
	}
	for _, s := range spot {
		ct := ""
		if s.body != "" {
			ct = js
		}
		if r := e.do(t, s.method, s.path, ct, s.body, "Authorization", "Bearer "+sessions[s.caller]); r.status != s.want {
			t.Errorf("spot %s %s as %s: %d, want %d: %s", s.method, s.path, s.caller, r.status, s.want, r.body)
		}
	}
}

// docs/policy.md is the policy table in prose; it must say what the test checks.
func TestPolicyDoc(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("# Authorization policy\n\n")
	b.WriteString("Generated from `httpapi/policy_test.go`, which checks every cell against the running server\n")
	b.WriteString("(`go test ./httpapi -run TestPolicyDoc -update` rewrites this file).\n\n")
	b.WriteString("A credential's effective permissions in a project are the permissions of its roles that its\n")
	b.WriteString("creator holds there right now (through a binding in that project or a global one). A login\n")
	b.WriteString("session acts with all of its user's current permissions. Nobody can give a role, bind a\n")
	b.WriteString("role, or write a role holding a permission they lack in that scope.\n\n")
	b.WriteString("## Built-in roles\n\n| role | id | permissions |\n|---|---|---|\n")
	for i, r := range policyRoles {
		ps := make([]string, len(r.perms))
		for j, p := range r.perms {
			ps[j] = "`" + string(p) + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %d | %s |\n", r.name, i+1, strings.Join(ps, " "))
	}
	b.WriteString("\n## Endpoints\n\n")
	b.WriteString("Scope: **project**: the permission in the project named in the path; a caller with no access\n")
	b.WriteString("at all to that project gets 404, as if it did not exist, and one that can see it but lacks the\n")
	b.WriteString("permission gets 403. **global**: the permission through a global binding, else 403. **user**:\n")
	b.WriteString("the user themself, or `users:admin` globally; anyone else gets 404. **some**: the permission\n")
	b.WriteString("in at least one project (the answer is filtered to those), else 403. **anyone**: any\n")
	b.WriteString("authenticated caller. **public**: no authentication.\n\n")
	b.WriteString("Two rules narrow **user** further. Login sessions are their user's: only the user and\n")
	b.WriteString("`users:admin` list or end them (`/v1/users/{user}/sessions`), and no project endpoint reaches\n")
	b.WriteString("one (404, as for a missing credential). `PUT /v1/users/{user}/password` without `users:admin`\n")
	b.WriteString("changes only one's own password, from a login session (an API key gets 403), with the current\n")
	b.WriteString("password; it ends the user's other sessions. Service users get no password. With\n")
	b.WriteString("`users:admin`, resetting a password, disabling, enabling or deleting a user also needs every\n")
	b.WriteString("right that user holds, scope by scope (the dominance rule below), else 403.\n\n")
	b.WriteString("| endpoint | permission | scope | success |\n|---|---|---|---|\n")
	for _, key := range slices.Sorted(maps.Keys(policy)) {
		r := policy[key]
		perm := "-"
		if r.perm != "" {
			perm = "`" + string(r.perm) + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %d |\n", key, perm, r.scope, r.ok)
	}
	b.WriteString(escalationDoc())
	goldenfile.Check(t, "../docs/policy.md", []byte(b.String()))
}
