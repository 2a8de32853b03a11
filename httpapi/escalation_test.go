package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/escalationtest"
)

// TestEscalationMatrix proves the dominance rule as a class (issue 10): for every operation on
// every HTTP surface that yields or changes a credential, every caller (role x binding in P or
// global, sessions and weaker keys) against every holder (the same, and the bootstrap admin), and
// every credential type the operation takes, the caller never obtains a secret holding a right
// it lacks and never changes a credential it does not dominate; what the rule allows succeeds;
// a refusal changes nothing and is 403 or 404. The CLI's cells are in cmd/keyward.
func TestEscalationMatrix(t *testing.T) {
	t.Parallel()
	f := escalationtest.Start(t)
	m := escalationtest.NewMatrix(f)
	m.Run(escalationOps(f)...)
	m.Report(t)
}

// escalationOps are the matrix's operations, surface by surface; f may be nil when only their
// description is needed (the documentation).
func escalationOps(f *escalationtest.Fixture) []*escalationtest.Op {
	ops := nativeEscalationOps()
	ops = append(ops, f5xcEscalationOps()...)
	ops = append(ops, voltmxEscalationOps()...)
	ops = append(ops, projectKeysEscalationOps()...)
	return append(ops, serviceStackEscalationOps(f)...)
}

// escalationDoc is the escalation matrix section of docs/policy.md; TestPolicyDoc appends it.
func escalationDoc() string { return escalationtest.Doc(escalationOps(nil)) }

var (
	allTypes  = []keyward.CredentialType{keyward.APIToken, keyward.APICertificate, keyward.KubeConfig, keyward.KubeToken}
	tokenOnly = []keyward.CredentialType{keyward.APIToken}
	// tokens are the types whose secret is a token: they roll with a grace period and renew.
	tokens = []keyward.CredentialType{keyward.APIToken, keyward.KubeToken}
)

// nativeOutcome reads a native answer: ok is the success status; a refusal is a problem
// document whose code says which.
func nativeOutcome(status int, body []byte, ok int, sent string) escalationtest.Outcome {
	var p struct{ Code keyward.Code }
	_ = json.Unmarshal(body, &p)
	var refusal escalationtest.Refusal
	switch {
	case status == http.StatusForbidden && p.Code == keyward.EForbidden:
		refusal = escalationtest.Forbidden
	case status == http.StatusNotFound && p.Code == keyward.ENotFound:
		refusal = escalationtest.NotFound
	}
	return escalationtest.Answer(status, body, status == ok, refusal, sent)
}

// native sends a native request as the cell's caller.
func native(c *escalationtest.Call, method, path, body string, ok int) (escalationtest.Outcome, error) {
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	status, b, err := c.F.Do(method, path, ct, body, "Authorization", "Bearer "+c.Caller.Token)
	if err != nil {
		return escalationtest.Outcome{}, err
	}
	out := nativeOutcome(status, b, ok, path+" "+body)
	if out.OK {
		var issued keyward.IssuedCredential
		if json.Unmarshal(b, &issued) == nil {
			out.Secrets = escalationtest.SecretOf(issued.Type, issued.Key, issued.Data)
		}
	}
	return out, nil
}

// targetPath is the native path of the cell's target, plus suffix.
func targetPath(c *escalationtest.Call, suffix string) string {
	return "/v1/projects/" + escalationtest.Project + "/credentials/" + strconv.FormatInt(c.Target.ID, 10) + suffix
}

// certBody is the JSON of a create or roll of type t's certificate options.
func certBody(t keyward.CredentialType) string {
	if t == keyward.APICertificate {
		return `"password":"` + escalationtest.P12Password + `","encoding":"` + escalationtest.P12Encoding + `"`
	}
	return ""
}

func nativeEscalationOps() []*escalationtest.Op {
	change := func(name, class string, perm keyward.Permission, types []keyward.CredentialType, method, suffix string, body func(*escalationtest.Call) string) *escalationtest.Op {
		return &escalationtest.Op{
			Surface: "native", Name: name, Kind: escalationtest.Change, Class: class,
			Perms: []keyward.Permission{perm}, Types: types,
			Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
				return native(c, method, targetPath(c, suffix), body(c), http.StatusOK)
			},
		}
	}
	fixed := func(s string) func(*escalationtest.Call) string {
		return func(*escalationtest.Call) string { return s }
	}
	create := &escalationtest.Op{
		Surface: "native", Name: "create (roles given)", Kind: escalationtest.Create,
		Perms: []keyward.Permission{keyward.PermKeysCreate}, Types: tokenOnly,
		Variants: append([]string{}, escalationtest.BuiltinNames...),
		Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
			return native(c, "POST", "/v1/projects/"+escalationtest.Project+"/credentials",
				`{"name":"`+c.Name+`","roles":["`+c.Variant+`"]}`, http.StatusCreated)
		},
	}
	createDefault := &escalationtest.Op{
		Surface: "native", Name: "create (default roles)", Kind: escalationtest.Create,
		Perms: []keyward.Permission{keyward.PermKeysCreate}, Types: allTypes,
		Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
			body := `{"name":"` + c.Name + `","type":"` + string(c.Type) + `","expiration_days":10`
			switch c.Type {
			case keyward.APICertificate:
				body += "," + certBody(c.Type)
			case keyward.KubeConfig, keyward.KubeToken:
				body += `,"virtual_k8s_name":"` + escalationtest.Cluster + `","virtual_k8s_namespace":"` + escalationtest.Namespace + `"`
			}
			return native(c, "POST", "/v1/projects/"+escalationtest.Project+"/credentials", body+"}", http.StatusCreated)
		},
	}
	reveal := &escalationtest.Op{
		Surface: "native", Name: "reveal", Kind: escalationtest.Yield, Class: "reveal",
		Perms: []keyward.Permission{keyward.PermKeysReveal},
		Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
			return native(c, "POST", targetPath(c, "/reveal"), "", http.StatusOK)
		},
	}
	get := &escalationtest.Op{
		Surface: "native", Name: "get", Kind: escalationtest.Read, Perms: []keyward.Permission{keyward.PermKeysRead},
		Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
			return native(c, "GET", targetPath(c, ""), "", http.StatusOK)
		},
	}
	list := &escalationtest.Op{
		Surface: "native", Name: "list", Kind: escalationtest.List, Perms: []keyward.Permission{keyward.PermKeysRead},
		Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
			return native(c, "GET", "/v1/projects/"+escalationtest.Project+"/credentials?type=API_TOKEN&limit="+strconv.Itoa(len(c.Targets)+1), "", http.StatusOK)
		},
	}
	return []*escalationtest.Op{
		create, createDefault,
		change("roll", "roll", keyward.PermKeysRoll, allTypes, "POST", "/roll", func(c *escalationtest.Call) string {
			return "{" + certBody(c.Type) + "}"
		}),
		change("roll (grace)", "roll", keyward.PermKeysRoll, tokens, "POST", "/roll", fixed(`{"grace_seconds":3600}`)),
		reveal, get, list,
		change("renew", "renew", keyward.PermKeysRenew, tokens, "POST", "/renew", fixed(`{"expiration_days":10}`)),
		change("update description", "update", keyward.PermKeysUpdate, tokenOnly, "PATCH", "", fixed(`{"description":"changed"}`)),
		change("update roles", "update", keyward.PermKeysUpdate, tokenOnly, "PATCH", "", fixed(`{"roles":["viewer"]}`)),
		change("update name, meta, expiry", "update", keyward.PermKeysUpdate, tokenOnly, "PATCH", "", func(c *escalationtest.Call) string {
			return `{"name":"` + c.Target.Name + `-renamed","meta":{"team":"x"},"never_expires":true}`
		}),
		change("update ratelimit", "update", keyward.PermKeysUpdate, tokenOnly, "PATCH", "", fixed(`{"ratelimit":{"limit":5,"duration":1000}}`)),
		change("update remaining", "update", keyward.PermKeysUpdate, tokenOnly, "PATCH", "", fixed(`{"remaining":3}`)),
		change("update active=false", "update", keyward.PermKeysUpdate, tokenOnly, "PATCH", "", fixed(`{"active":false}`)),
		change("revoke", "revoke", keyward.PermKeysRevoke, allTypes, "DELETE", "", fixed("")),
	}
}
