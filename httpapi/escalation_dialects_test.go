package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/dialect/servicestack"
	"github.com/keyward/keyward/escalationtest"
)

// The escalation matrix's operations of the four vendor dialects (see TestEscalationMatrix).

// f5 sends an F5 XC request as the cell's caller. The dialect's refusals are 403 with gRPC code
// 7 and 404 with code 5.
func f5(c *escalationtest.Call, method, path, body string) (escalationtest.Outcome, int, []byte, error) {
	status, b, err := c.F.Do(method, "/api/web/namespaces/"+escalationtest.Project+"/"+path, "application/json", body,
		"Authorization", "APIToken "+c.Caller.Token)
	if err != nil {
		return escalationtest.Outcome{}, 0, nil, err
	}
	var e struct{ Code int }
	_ = json.Unmarshal(b, &e)
	var refusal escalationtest.Refusal
	switch {
	case status == http.StatusForbidden && e.Code == 7:
		refusal = escalationtest.Forbidden
	case status == http.StatusNotFound && e.Code == 5:
		refusal = escalationtest.NotFound
	}
	return escalationtest.Answer(status, b, status == http.StatusOK, refusal, path+" "+body), status, b, nil
}

// f5Named is the body of the F5 XC verbs that name a credential.
func f5Named(c *escalationtest.Call, extra string) string {
	return `{"name":"` + c.Target.Name + `","namespace":"` + escalationtest.Project + `"` + extra + `}`
}

func f5xcEscalationOps() []*escalationtest.Op {
	verb := func(name, class string, perm keyward.Permission, types []keyward.CredentialType, collection string, service bool, extra string) *escalationtest.Op {
		return &escalationtest.Op{
			Surface: "f5xc", Name: name, Kind: escalationtest.Change, Class: class, Service: service,
			Perms: []keyward.Permission{perm}, Types: types,
			Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
				out, _, _, err := f5(c, "POST", collection, f5Named(c, extra))
				return out, err
			},
		}
	}
	create := &escalationtest.Op{
		// API_CERTIFICATE is left to the native create, which shares the authority's code but
		// can ask for the legacy encoding: a modern bundle costs 200,000 PBKDF2 rounds each way.
		Surface: "f5xc", Name: "create api_credentials", Kind: escalationtest.Create,
		Perms: []keyward.Permission{keyward.PermKeysCreate}, Types: []keyward.CredentialType{keyward.APIToken, keyward.KubeConfig},
		Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
			spec := `"type":"` + string(c.Type) + `"`
			switch c.Type {
			case keyward.APICertificate:
				spec += `,"password":"` + escalationtest.P12Password + `"`
			case keyward.KubeConfig:
				spec += `,"virtual_k8s_name":"` + escalationtest.Cluster + `","virtual_k8s_namespace":"` + escalationtest.Namespace + `"`
			}
			out, _, b, err := f5(c, "POST", "api_credentials", `{"name":"`+c.Name+`","namespace":"`+escalationtest.Project+`","expiration_days":10,"spec":{`+spec+`}}`)
			if err == nil && out.OK {
				out.Secrets = f5Secret(c.Type, b)
			}
			return out, err
		},
	}
	createService := &escalationtest.Op{
		Surface: "f5xc", Name: "create service_credentials", Kind: escalationtest.Create,
		Perms: []keyward.Permission{keyward.PermKeysCreate}, Types: tokenOnly,
		Variants: append([]string{}, escalationtest.BuiltinNames...),
		Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
			out, _, b, err := f5(c, "POST", "service_credentials", `{"name":"`+c.Name+`","namespace":"`+escalationtest.Project+
				`","type":"SERVICE_API_TOKEN","expiration_days":10,"namespace_roles":[{"namespace":"`+escalationtest.Project+`","role":"`+c.Variant+`"}]}`)
			if err == nil && out.OK {
				out.Secrets = f5Secret(c.Type, b)
			}
			return out, err
		},
	}
	bulk := func(collection string, service bool) *escalationtest.Op {
		return &escalationtest.Op{
			Surface: "f5xc", Name: "bulk_revoke " + collection, Kind: escalationtest.Change, Class: "revoke", Service: service,
			Perms: []keyward.Permission{keyward.PermKeysRevoke}, Types: tokenOnly,
			Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
				out, status, b, err := f5(c, "POST", "bulk_revoke/"+collection, `{"name_selector":{"names":["`+c.Target.Name+`"]}}`)
				if err != nil || status != http.StatusOK {
					return out, err
				}
				// A refused name is reported in credentials_failed, with the reason.
				var res struct {
					Failed  []string `json:"credentials_failed"`
					Revoked []string `json:"credentials_marked_for_deletion"`
					Message string   `json:"error_message"`
				}
				_ = json.Unmarshal(b, &res)
				out.OK = slices.Contains(res.Revoked, c.Target.Name)
				if !out.OK && slices.Contains(res.Failed, c.Target.Name) {
					out.Refusal = escalationtest.Forbidden
					if strings.Contains(res.Message, "not found") {
						out.Refusal = escalationtest.NotFound
					}
				}
				return out, nil
			},
		}
	}
	return []*escalationtest.Op{
		create, createService,
		verb("renew api_credentials", "renew", keyward.PermKeysRenew, tokenOnly, "renew/api_credentials", false, `,"expiration_days":10`),
		verb("revoke api_credentials", "revoke", keyward.PermKeysRevoke, allTypes, "revoke/api_credentials", false, ""),
		verb("activate active=false", "update", keyward.PermKeysUpdate, tokenOnly, "activate/api_credentials", false, `,"active":false`),
		bulk("api_credentials", false),
		verb("renew service_credentials", "renew", keyward.PermKeysRenew, tokenOnly, "renew/service_credentials", true, `,"expiration_days":10`),
		verb("revoke service_credentials", "revoke", keyward.PermKeysRevoke, tokenOnly, "revoke/service_credentials", true, ""),
		bulk("service_credentials", true),
	}
}

// f5Secret is the secret of an F5 XC create answer: data, the token or the base64 bundle or
// kubeconfig.
func f5Secret(t keyward.CredentialType, body []byte) []escalationtest.Secret {
	var res struct{ Data string }
	_ = json.Unmarshal(body, &res)
	if t == keyward.APIToken {
		return escalationtest.SecretOf(t, res.Data, "")
	}
	return escalationtest.SecretOf(t, "", res.Data)
}

// voltmx sends a Volt MX request, form-encoded, as the cell's caller. The dialect answers a
// refusal with 401 and a key it may not see with 400 "not found".
func voltmx(c *escalationtest.Call, method, key string, form url.Values) (escalationtest.Outcome, error) {
	path := "/api/v1/applications/key"
	if key != "" {
		path += "/" + key
	}
	ct := ""
	if form != nil {
		ct = "application/x-www-form-urlencoded"
	}
	status, b, err := c.F.Do(method, path, ct, form.Encode(), "X-VoltMX-Authorization", c.Caller.Token)
	if err != nil {
		return escalationtest.Outcome{}, err
	}
	var e struct{ Message string }
	_ = json.Unmarshal(b, &e)
	var refusal escalationtest.Refusal
	switch {
	case status == http.StatusUnauthorized:
		refusal = escalationtest.Forbidden
	case status == http.StatusBadRequest && strings.Contains(e.Message, "not found"):
		refusal = escalationtest.NotFound
	}
	return escalationtest.Answer(status, b, status == http.StatusOK, refusal, path+" "+form.Encode()), nil
}

func voltmxEscalationOps() []*escalationtest.Op {
	modify := func(name, class string, form url.Values, perms ...keyward.Permission) *escalationtest.Op {
		return &escalationtest.Op{
			Surface: "voltmx", Name: name, Kind: escalationtest.Change, Class: class,
			Perms: append([]keyward.Permission{keyward.PermKeysRead}, perms...), Types: tokenOnly,
			Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
				return voltmx(c, "POST", c.Target.Key, form)
			},
		}
	}
	return []*escalationtest.Op{
		{
			Surface: "voltmx", Name: "create", Kind: escalationtest.Create,
			Perms: []keyward.Permission{keyward.PermKeysCreate}, Types: tokenOnly,
			Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
				return voltmx(c, "POST", "", url.Values{"appId": {escalationtest.Project}, "name": {c.Name}, "description": {"escalation"}})
			},
		},
		{
			// The key in the path is the display key's previous one, still in its grace period:
			// what the answer shows of the current key, the caller did not know.
			Surface: "voltmx", Name: "get (old key)", Kind: escalationtest.Read, Displays: true,
			Perms: []keyward.Permission{keyward.PermKeysRead},
			Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
				return voltmx(c, "GET", c.Target.OldKey, nil)
			},
		},
		modify("modify description", "update", url.Values{"description": {"changed"}}, keyward.PermKeysUpdate),
		modify("modify regenerate=true", "roll", url.Values{"regenerate": {"true"}}, keyward.PermKeysRoll),
		modify("modify description+regenerate", "roll", url.Values{"description": {"changed"}, "regenerate": {"true"}},
			keyward.PermKeysUpdate, keyward.PermKeysRoll),
		{
			Surface: "voltmx", Name: "delete", Kind: escalationtest.Change, Class: "revoke",
			Perms: []keyward.Permission{keyward.PermKeysRead, keyward.PermKeysRevoke}, Types: tokenOnly,
			Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
				return voltmx(c, "DELETE", c.Target.Key, nil)
			},
		},
	}
}

// projectKeys sends a project API keys request as the cell's caller; the envelope's status is
// the HTTP status.
func projectKeys(c *escalationtest.Call, method, suffix, body string) (escalationtest.Outcome, error) {
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	path := "/api/projects/" + escalationtest.Project + "/api-keys" + suffix
	status, b, err := c.F.Do(method, path, ct, body, "Authorization", "Bearer "+c.Caller.Token)
	if err != nil {
		return escalationtest.Outcome{}, err
	}
	var refusal escalationtest.Refusal
	switch status {
	case http.StatusForbidden:
		refusal = escalationtest.Forbidden
	case http.StatusNotFound:
		refusal = escalationtest.NotFound
	}
	return escalationtest.Answer(status, b, status == http.StatusOK || status == http.StatusCreated, refusal, path+" "+body), nil
}

// roleID is a built-in role's numeric id, the roleId of project API keys.
func roleID(name string) string {
	return strconv.Itoa(slices.Index(escalationtest.BuiltinNames, name) + 1)
}

func projectKeysEscalationOps() []*escalationtest.Op {
	admin := func(p keyward.Permission) []keyward.Permission {
		return []keyward.Permission{keyward.PermProjectsAdmin, p}
	}
	update := func(name, body string) *escalationtest.Op {
		return &escalationtest.Op{
			Surface: "projectkeys", Name: name, Kind: escalationtest.Change, Class: "update",
			Perms: admin(keyward.PermKeysUpdate), Types: tokenOnly,
			Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
				return projectKeys(c, "PUT", "", `{"id":`+strconv.FormatInt(c.Target.ID, 10)+body+`}`)
			},
		}
	}
	return []*escalationtest.Op{
		{
			Surface: "projectkeys", Name: "create", Kind: escalationtest.Create,
			Perms: admin(keyward.PermKeysCreate), Types: tokenOnly, Variants: append([]string{""}, escalationtest.BuiltinNames...),
			Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
				body := `{"name":"` + c.Name + `"`
				if c.Variant != "" {
					body += `,"roleId":` + roleID(c.Variant)
				}
				return projectKeys(c, "POST", "", body+"}")
			},
		},
		{
			Surface: "projectkeys", Name: "list", Kind: escalationtest.List, Displays: true, Perms: admin(keyward.PermKeysRead),
			Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
				return projectKeys(c, "GET", "?limit="+strconv.Itoa(len(c.Targets)+1), "")
			},
		},
		{
			Surface: "projectkeys", Name: "get", Kind: escalationtest.Read, Displays: true, Perms: admin(keyward.PermKeysRead),
			Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
				return projectKeys(c, "GET", "/"+strconv.FormatInt(c.Target.ID, 10), "")
			},
		},
		update("update roleId", `,"roleId":`+roleID("viewer")),
		update("update hasExpireTime=false", `,"hasExpireTime":false`),
		{
			Surface: "projectkeys", Name: "delete", Kind: escalationtest.Change, Class: "revoke",
			Perms: admin(keyward.PermKeysRevoke), Types: tokenOnly,
			Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
				return projectKeys(c, "DELETE", "/"+strconv.FormatInt(c.Target.ID, 10), "")
			},
		},
	}
}

// serviceStackCallers are the matrix's callers and, since ServiceStack's own keys are one
// user's, two users holding a stronger role and a ServiceStack role, each with a key of the
// ServiceStack role only: that key must not replace the keys the user's session made.
func serviceStackCallers(f *escalationtest.Fixture) []*escalationtest.Principal {
	callers := escalationtest.Callers()
	if f != nil {
		callers = slices.Clone(f.Callers)
	}
	for _, u := range []struct{ user, strong, weak string }{
		{"esc-ss-owner-client", "owner", "Client"}, {"esc-ss-admin-partner", "Admin", "Partner"},
	} {
		bindings := []escalationtest.Binding{{Role: u.strong, Scope: escalationtest.Project}, {Role: u.weak, Scope: escalationtest.Project}}
		label := u.strong + "+" + u.weak + "@P"
		callers = append(callers,
			&escalationtest.Principal{Label: label, User: u.user, Bindings: bindings},
			&escalationtest.Principal{Label: label + " key[" + u.weak + "]", User: u.user, Bindings: bindings, KeyRoles: []string{u.weak}})
	}
	return callers
}

// serviceStackPermitted is ServiceStack's requirement: one of its roles (or admin) bound in the
// project or globally, and carried by the caller's credential (a session carries them all).
func serviceStackPermitted(p *escalationtest.Principal) bool {
	for _, b := range p.Bindings {
		if (slices.Contains(servicestack.DefaultRoles, b.Role) || b.Role == keyward.RoleAdmin) &&
			(p.KeyRoles == nil || slices.Contains(p.KeyRoles, b.Role)) {
			return true
		}
	}
	return false
}

// ownKeys makes the caller's user's own keys with that user's login session, as ServiceStack
// would, and returns them: the targets of a ServiceStack cell. A user that may not have own keys
// has none.
func ownKeys(c *escalationtest.Call) ([]*escalationtest.Target, error) {
	if c.Caller.Token == "" {
		if err := c.F.Add(c.Caller); err != nil {
			return nil, err
		}
	}
	ctx, err := c.F.ContextOf(c.F.Session(c.Caller.User))
	if err != nil {
		return nil, err
	}
	keys, err := c.F.Auth.RegenerateOwnKeys(ctx, authority.RegenerateOwnKeysInput{
		OwnKeysScope: authority.OwnKeysScope{AnyRole: servicestack.DefaultRoles},
	})
	if keyward.ErrorCode(err) == keyward.EForbidden {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	session := &escalationtest.Principal{Label: c.Caller.User + "'s session", User: c.Caller.User, Bindings: c.Caller.Bindings}
	var out []*escalationtest.Target
	for _, k := range keys {
		roles, err := c.F.RoleNames(k.RoleIDs)
		if err != nil {
			return nil, err
		}
		out = append(out, &escalationtest.Target{ID: k.ID, Name: k.Name, Type: k.Type, Key: k.Key, Holder: session,
			Held: escalationtest.Held{Roles: roles, Rights: escalationtest.RightsOf(c.Caller.Bindings, roles)}})
	}
	return out, nil
}

// serviceStack sends a ServiceStack request as the cell's caller.
func serviceStack(c *escalationtest.Call, method, path string) (escalationtest.Outcome, error) {
	status, b, err := c.F.Do(method, path, "", "", "Authorization", "Bearer "+c.Caller.Token)
	if err != nil {
		return escalationtest.Outcome{}, err
	}
	var refusal escalationtest.Refusal
	switch status {
	case http.StatusForbidden:
		refusal = escalationtest.Forbidden
	case http.StatusNotFound:
		refusal = escalationtest.NotFound
	}
	return escalationtest.Answer(status, b, status == http.StatusOK, refusal, path), nil
}

func serviceStackEscalationOps(f *escalationtest.Fixture) []*escalationtest.Op {
	callers := serviceStackCallers(f)
	return []*escalationtest.Op{
		{
			Surface: "servicestack", Name: "list own keys", Kind: escalationtest.Read, Displays: true, Serial: true,
			Permitted: serviceStackPermitted, Callers: callers, Setup: ownKeys,
			Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
				return serviceStack(c, "GET", servicestack.PathKeys)
			},
		},
		{
			Surface: "servicestack", Name: "regenerate", Kind: escalationtest.Change, Serial: true,
			Permitted: serviceStackPermitted, Callers: callers, Setup: ownKeys,
			Do: func(c *escalationtest.Call) (escalationtest.Outcome, error) {
				return serviceStack(c, "POST", servicestack.PathRegenerate)
			},
		},
	}
}
