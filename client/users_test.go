package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

const userJSON = `{"id":4,"name":"alice","disabled":false,"created_at":"2026-03-01T12:00:00Z",
	"updated_at":"2026-03-01T12:00:00Z","has_password":true}`

var alice = keyward.User{ID: 4, Name: "alice", CreatedAt: t0, UpdatedAt: t0, HasPassword: true}

const roleJSON = `{"id":7,"name":"deployer","permissions":["keys:read","keys:roll"],"built_in":false}`

var deployer = keyward.Role{ID: 7, Name: "deployer",
	Permissions: []keyward.Permission{keyward.PermKeysRead, keyward.PermKeysRoll}}

const bindingJSON = `{"user_id":4,"user":"alice","project_id":3,"project":"acme","role_id":7,"role":"deployer"}`

var binding = keyward.Binding{UserID: 4, User: "alice", ProjectID: 3, Project: "acme", RoleID: 7, Role: "deployer"}

const globalBindingJSON = `{"user_id":4,"user":"alice","project_id":0,"project":"*","role_id":1,"role":"admin"}`

var globalBinding = keyward.Binding{UserID: 4, User: "alice", Project: "*", RoleID: 1, Role: "admin"}

const sessionToken = "kw_live_SESSIONtoken0123456789abcdefghijAB"

func sessionJSON() string {
	return strings.Replace(strings.TrimSuffix(credJSON, "}"), `"API_TOKEN"`, `"SESSION"`, 1) + `,"key":"` + sessionToken + `"}`
}

func TestUserAndRoleCalls(t *testing.T) {
	ctx := context.Background()
	session := cred
	session.Type = keyward.Session
	tests := []struct {
		name string
		ex   exchange
		call func(c *client.Client) (any, error)
		want any // nil for a call that returns only an error
	}{
		{
			name: "Login",
			ex: exchange{method: "POST", path: "/v1/login", noAuth: true,
				body:   `{"name":"alice","password":"correct horse","ttl_seconds":7200}`,
				status: 201, rbody: sessionJSON()},
			call: func(c *client.Client) (any, error) {
				return c.Login(ctx, keyward.LoginInput{Name: "alice", Password: "correct horse", TTLSeconds: 7200})
			},
			want: &keyward.IssuedCredential{Credential: session, Key: sessionToken},
		},
		{
			name: "Logout",
			ex:   exchange{method: "POST", path: "/v1/logout", status: 200, rbody: credJSON},
			call: func(c *client.Client) (any, error) { return c.Logout(ctx) },
			want: &cred,
		},
		{
			name: "CreateUser",
			ex: exchange{method: "POST", path: "/v1/users", body: `{"name":"alice","password":"correct horse"}`,
				status: 201, rbody: userJSON},
			call: func(c *client.Client) (any, error) {
				return c.CreateUser(ctx, keyward.CreateUserInput{Name: "alice", Password: "correct horse"})
			},
			want: &alice,
		},
		{
			name: "CreateUserNoPassword",
			ex:   exchange{method: "POST", path: "/v1/users", body: `{"name":"alice"}`, status: 201, rbody: userJSON},
			call: func(c *client.Client) (any, error) {
				return c.CreateUser(ctx, keyward.CreateUserInput{Name: "alice"})
			},
			want: &alice,
		},
		{
			name: "ListUsers",
			ex: exchange{method: "GET", path: "/v1/users", query: url.Values{"cursor": {"c1"}, "limit": {"10"}},
				status: 200, rbody: `{"items":[` + userJSON + `],"next_cursor":"c2"}`},
			call: func(c *client.Client) (any, error) { return c.ListUsers(ctx, "c1", 10) },
			want: &keyward.Page[keyward.User]{Items: []keyward.User{alice}, NextCursor: "c2"},
		},
		{
			name: "UserEscaped",
			ex:   exchange{method: "GET", path: "/v1/users/a%20b%2Fc%3F", status: 200, rbody: userJSON},
			call: func(c *client.Client) (any, error) { return c.User(ctx, "a b/c?") },
			want: &alice,
		},
		{
			name: "DisableUser",
			ex: exchange{method: "PATCH", path: "/v1/users/alice", body: `{"disabled":true}`,
				status: 200, rbody: userJSON},
			call: func(c *client.Client) (any, error) {
				return c.UpdateUser(ctx, "alice", keyward.UpdateUserInput{Disabled: ptr(true)})
			},
			want: &alice,
		},
		{
			name: "EnableUser",
			ex: exchange{method: "PATCH", path: "/v1/users/4", body: `{"disabled":false}`,
				status: 200, rbody: userJSON},
			call: func(c *client.Client) (any, error) {
				return c.UpdateUser(ctx, "4", keyward.UpdateUserInput{Disabled: ptr(false)})
			},
			want: &alice,
		},
		{
			name: "DeleteUser",
			ex:   exchange{method: "DELETE", path: "/v1/users/alice", status: 200, rbody: userJSON},
			call: func(c *client.Client) (any, error) { return c.DeleteUser(ctx, "alice") },
			want: &alice,
		},
		{
			name: "SetPasswordOwn",
			ex: exchange{method: "PUT", path: "/v1/users/alice/password",
				body: `{"password":"new horse","current_password":"old horse"}`, status: 204},
			call: func(c *client.Client) (any, error) {
				return nil, c.SetPassword(ctx, "alice", keyward.SetPasswordInput{Password: "new horse", CurrentPassword: "old horse"})
			},
		},
		{
			name: "SetPasswordOther",
			ex: exchange{method: "PUT", path: "/v1/users/b%C3%B6b/password",
				body: `{"password":"new horse"}`, status: 204},
			call: func(c *client.Client) (any, error) {
				return nil, c.SetPassword(ctx, "böb", keyward.SetPasswordInput{Password: "new horse"})
			},
		},
		{
			name: "ListSessions",
			ex: exchange{method: "GET", path: "/v1/users/alice/sessions", query: url.Values{"limit": {"3"}},
				status: 200, rbody: `{"items":[` + credJSON + `]}`},
			call: func(c *client.Client) (any, error) { return c.ListSessions(ctx, "alice", "", 3) },
			want: &keyward.Page[keyward.Credential]{Items: []keyward.Credential{cred}},
		},
		{
			name: "RevokeSession",
			ex:   exchange{method: "DELETE", path: "/v1/users/alice/sessions/12", status: 200, rbody: credJSON},
			call: func(c *client.Client) (any, error) { return c.RevokeSession(ctx, "alice", 12) },
			want: &cred,
		},
		{
			name: "RevokeSessions",
			ex: exchange{method: "DELETE", path: "/v1/users/alice/sessions", status: 200,
				rbody: `{"revoked":[13,14],"kept":12}`},
			call: func(c *client.Client) (any, error) { return c.RevokeSessions(ctx, "alice") },
			want: &keyward.RevokedSessions{Revoked: []int64{13, 14}, Kept: 12},
		},
		{
			name: "RevokeSessionsNone",
			ex:   exchange{method: "DELETE", path: "/v1/users/alice/sessions", status: 200, rbody: `{"revoked":null}`},
			call: func(c *client.Client) (any, error) { return c.RevokeSessions(ctx, "alice") },
			want: &keyward.RevokedSessions{Revoked: []int64{}},
		},
		{
			name: "UserRoles",
			ex: exchange{method: "GET", path: "/v1/users/alice/roles", status: 200,
				rbody: `{"items":[` + globalBindingJSON + `,` + bindingJSON + `]}`},
			call: func(c *client.Client) (any, error) { return c.UserRoles(ctx, "alice") },
			want: []keyward.Binding{globalBinding, binding},
		},
		{
			name: "UserRolesNone",
			ex:   exchange{method: "GET", path: "/v1/users/alice/roles", status: 200, rbody: `{"items":null}`},
			call: func(c *client.Client) (any, error) { return c.UserRoles(ctx, "alice") },
			want: []keyward.Binding{},
		},
		{
			name: "GrantGlobalRole",
			ex: exchange{method: "POST", path: "/v1/users/alice/roles", body: `{"role":"admin"}`,
				status: 201, rbody: globalBindingJSON},
			call: func(c *client.Client) (any, error) { return c.GrantGlobalRole(ctx, "alice", "admin") },
			want: &globalBinding,
		},
		{
			name: "RevokeGlobalRole",
			ex:   exchange{method: "DELETE", path: "/v1/users/alice/roles/my%20role%2F1", status: 204},
			call: func(c *client.Client) (any, error) { return nil, c.RevokeGlobalRole(ctx, "alice", "my role/1") },
		},
		{
			name: "Roles",
			ex:   exchange{method: "GET", path: "/v1/roles", status: 200, rbody: `{"items":[` + roleJSON + `]}`},
			call: func(c *client.Client) (any, error) { return c.Roles(ctx) },
			want: []keyward.Role{deployer},
		},
		{
			name: "Role",
			ex:   exchange{method: "GET", path: "/v1/roles/7", status: 200, rbody: roleJSON},
			call: func(c *client.Client) (any, error) { return c.Role(ctx, "7") },
			want: &deployer,
		},
		{
			name: "CreateRole",
			ex: exchange{method: "POST", path: "/v1/roles",
				body:   `{"id":7,"name":"deployer","permissions":["keys:read","keys:roll"]}`,
				status: 201, rbody: roleJSON},
			call: func(c *client.Client) (any, error) {
				return c.CreateRole(ctx, keyward.RoleInput{ID: 7, Name: "deployer",
					Permissions: []keyward.Permission{keyward.PermKeysRead, keyward.PermKeysRoll}})
			},
			want: &deployer,
		},
		{
			name: "UpdateRole",
			ex: exchange{method: "PATCH", path: "/v1/roles/deployer", body: `{"permissions":["keys:read"]}`,
				status: 200, rbody: roleJSON},
			call: func(c *client.Client) (any, error) {
				return c.UpdateRole(ctx, "deployer", keyward.RoleInput{Permissions: []keyward.Permission{keyward.PermKeysRead}})
			},
			want: &deployer,
		},
		{
			name: "DeleteRole",
			ex:   exchange{method: "DELETE", path: "/v1/roles/deployer", status: 204},
			call: func(c *client.Client) (any, error) { return nil, c.DeleteRole(ctx, "deployer") },
		},
		{
			name: "DeleteRoleWithBody",
			ex:   exchange{method: "DELETE", path: "/v1/roles/deployer", status: 200, rbody: roleJSON},
			call: func(c *client.Client) (any, error) { return nil, c.DeleteRole(ctx, "deployer") },
		},
		{
			name: "Members",
			ex: exchange{method: "GET", path: "/v1/projects/acme%2Fx/members", status: 200,
				rbody: `{"items":[` + bindingJSON + `]}`},
			call: func(c *client.Client) (any, error) { return c.Members(ctx, "acme/x") },
			want: []keyward.Binding{binding},
		},
		{
			name: "AddMember",
			ex: exchange{method: "POST", path: "/v1/projects/acme/members", body: `{"user":"alice","role":"deployer"}`,
				status: 201, rbody: bindingJSON},
			call: func(c *client.Client) (any, error) { return c.AddMember(ctx, "acme", "alice", "deployer") },
			want: &binding,
		},
		{
			name: "RemoveMember",
			ex:   exchange{method: "DELETE", path: "/v1/projects/acme/members/a%20lice/roles/7", status: 204},
			call: func(c *client.Client) (any, error) { return nil, c.RemoveMember(ctx, "acme", "a lice", "7") },
		},
		{
			name: "VerifyPermissions",
			ex: exchange{method: "POST", path: "/v1/verify",
				body:   `{"key":"kw_test_abc","permission":["keys:read","keys:roll"]}`,
				status: 200, rbody: `{"valid":false,"code":"FORBIDDEN","id":12,"name":"ci","project":"acme","permissions":["keys:read"]}`},
			call: func(c *client.Client) (any, error) {
				return c.VerifyPermissions(ctx, "kw_test_abc", keyward.PermKeysRead, keyward.PermKeysRoll)
			},
			want: &keyward.Verification{Code: keyward.CodeForbidden, CredentialID: 12, Name: "ci", Project: "acme",
				Permissions: []keyward.Permission{keyward.PermKeysRead}},
		},
		{
			name: "VerifyPermissionsNone",
			ex: exchange{method: "POST", path: "/v1/verify", body: `{"key":"kw_test_abc"}`,
				status: 200, rbody: `{"valid":true,"code":"VALID"}`},
			call: func(c *client.Client) (any, error) { return c.VerifyPermissions(ctx, "kw_test_abc") },
			want: &keyward.Verification{Valid: true, Code: keyward.CodeValid},
		},
		{
			name: "CreateCredentialWithRoles",
			ex: exchange{method: "POST", path: "/v1/projects/acme/credentials",
				body: `{"name":"ci","roles":["deployer","7"]}`, status: 201, rbody: issuedJSON()},
			call: func(c *client.Client) (any, error) {
				return c.CreateCredential(ctx, "acme", keyward.CreateCredentialInput{Name: "ci", Roles: []string{"deployer", "7"}})
			},
			want: &keyward.IssuedCredential{Credential: cred, Key: "kw_live_NEWKEY"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fake(t, tt.ex)
			got, err := tt.call(client.New(srv.URL, token))
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.want == nil {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestLoginWithoutToken(t *testing.T) {
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Values("Authorization")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_, _ = w.Write([]byte(sessionJSON()))
	}))
	defer srv.Close()
	ic, err := client.New(srv.URL, "").Login(context.Background(), keyward.LoginInput{Name: "alice", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if ic.Key != sessionToken || ic.Type != keyward.Session {
		t.Errorf("issued = %+v", ic)
	}
	if len(auth) != 0 {
		t.Errorf("Authorization = %q, want none", auth)
	}
}

// TestPasswordsRedacted makes the server echo the passwords it was sent, everywhere it can:
// no error may show them, however short.
func TestPasswordsRedacted(t *testing.T) {
	ctx := context.Background()
	const (
		long  = "correct-horse-battery-staple"
		short = "pw1"
	)
	echo := func(status int, pws ...string) exchange {
		detail := "refused " + strings.Join(pws, " and ")
		fields := `{"password":"` + pws[0] + ` is too weak","` + pws[len(pws)-1] + `":"echoed"}`
		return exchange{status: status, rheader: map[string]string{"Content-Type": "application/problem+json", "Retry-After": "3"},
			rbody: `{"detail":"` + detail + `","code":"invalid","errors":` + fields + `}`}
	}
	tests := []struct {
		name   string
		ex     exchange
		call   func(c *client.Client) error
		hidden []string
	}{
		{
			name: "Login",
			ex:   echo(401, long),
			call: func(c *client.Client) error {
				_, err := c.Login(ctx, keyward.LoginInput{Name: "alice", Password: long})
				return err
			},
			hidden: []string{long},
		},
		{
			name: "LoginShort",
			ex:   echo(429, short),
			call: func(c *client.Client) error {
				_, err := c.Login(ctx, keyward.LoginInput{Name: "alice", Password: short})
				return err
			},
			hidden: []string{short},
		},
		{
			name: "CreateUser",
			ex:   echo(400, short),
			call: func(c *client.Client) error {
				_, err := c.CreateUser(ctx, keyward.CreateUserInput{Name: "alice", Password: short})
				return err
			},
			hidden: []string{short},
		},
		{
			name: "SetPassword",
			ex:   echo(400, long, short),
			call: func(c *client.Client) error {
				return c.SetPassword(ctx, "alice", keyward.SetPasswordInput{Password: long, CurrentPassword: short})
			},
			hidden: []string{long, short},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.ex.rheader {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.ex.status)
				_, _ = w.Write([]byte(tt.ex.rbody))
			}))
			defer srv.Close()
			err := tt.call(client.New(srv.URL, token))
			var ke *keyward.Error
			if !errors.As(err, &ke) {
				t.Fatalf("err = %#v, want a *keyward.Error", err)
			}
			texts := []string{err.Error(), ke.Message}
			for k, v := range ke.Fields {
				texts = append(texts, k, v)
			}
			for _, s := range texts {
				for _, pw := range tt.hidden {
					if strings.Contains(s, pw) {
						t.Errorf("error text %q shows the password %q", s, pw)
					}
				}
			}
			if !strings.Contains(ke.Message, "[REDACTED]") {
				t.Errorf("Message = %q, want the password redacted", ke.Message)
			}
		})
	}

	t.Run("Unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL
		srv.Close()
		_, err := client.New(base, "").Login(ctx, keyward.LoginInput{Name: "alice", Password: long})
		var te *client.TransportError
		if !errors.As(err, &te) {
			t.Fatalf("err = %#v, want a *client.TransportError", err)
		}
		if strings.Contains(err.Error(), long) {
			t.Errorf("error %q shows the password", err)
		}
	})
}

func TestUserAndRoleLocalValidation(t *testing.T) {
	c := client.New("http://127.0.0.1:1", token)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"EmptyUser":        func() error { _, err := c.User(ctx, ""); return err },
		"DotUser":          func() error { _, err := c.DeleteUser(ctx, "."); return err },
		"EmptyPasswdUser":  func() error { return c.SetPassword(ctx, "", keyward.SetPasswordInput{Password: "x"}) },
		"EmptyRole":        func() error { _, err := c.Role(ctx, ""); return err },
		"EmptyGrantRole":   func() error { _, err := c.GrantGlobalRole(ctx, "alice", ""); return err },
		"EmptyRevokeRole":  func() error { return c.RevokeGlobalRole(ctx, "alice", "") },
		"EmptyMembersProj": func() error { _, err := c.Members(ctx, ""); return err },
		"EmptyMemberUser":  func() error { _, err := c.AddMember(ctx, "acme", "", "admin"); return err },
		"DotDotMemberRole": func() error { return c.RemoveMember(ctx, "acme", "alice", "..") },
		"EmptySessions":    func() error { _, err := c.ListSessions(ctx, "", "", 0); return err },
		"EmptyEndSession":  func() error { _, err := c.RevokeSession(ctx, "", 12); return err },
		"EmptyEndSessions": func() error { _, err := c.RevokeSessions(ctx, ".."); return err },
	} {
		if got := keyward.ErrorCode(call()); got != keyward.EInvalid {
			t.Errorf("%s: code = %q, want invalid", name, got)
		}
	}
}

func TestAllUsersAndSessions(t *testing.T) {
	pages := map[string]string{
		"":   `{"items":[{"id":1},{"id":2}],"next_cursor":"c2"}`,
		"c2": `{"items":[{"id":3}]}`,
	}
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		_, _ = w.Write([]byte(pages[r.URL.Query().Get("cursor")]))
	}))
	defer srv.Close()
	c := client.New(srv.URL, token)
	var ids []int64
	for u, err := range c.AllUsers(context.Background(), 2) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	for s, err := range c.AllSessions(context.Background(), "alice", 2) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	if want := []int64{1, 2, 3, 1, 2, 3}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids = %v, want %v", ids, want)
	}
	if want := []string{"/v1/users", "/v1/users", "/v1/users/alice/sessions", "/v1/users/alice/sessions"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("paths = %v, want %v", paths, want)
	}
}
