package client

import (
	"context"
	"iter"
	"net/http"
	"strconv"

	"github.com/keyward/keyward"
)

// This file holds the calls of users, sessions, roles and role bindings.

// items is the body of the lists the server answers whole, without pages.
type items[T any] struct {
	Items []T `json:"items"`
}

// list fetches a whole list at path; it returns an empty slice, never nil, on success.
func list[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var out items[T]
	if err := c.do(ctx, request{method: http.MethodGet, path: path}, &out); err != nil {
		return nil, err
	}
	if out.Items == nil {
		out.Items = []T{}
	}
	return out.Items, nil
}

// Login exchanges a user name and password for a session: a credential of type
// keyward.Session whose Key is the session token, valid for in.TTLSeconds (0 for
// keyward.DefaultSessionTTL). It sends no Authorization header, so the Client may have been
// created without a token. A wrong name and a wrong password are the same
// keyward.EUnauthenticated error; too many failures are keyward.ERateLimited, with RetryAfter.
func (c *Client) Login(ctx context.Context, in keyward.LoginInput) (*keyward.IssuedCredential, error) {
	var out keyward.IssuedCredential
	r := request{method: http.MethodPost, path: "/v1/login", body: in, noAuth: true, passwords: []string{in.Password}}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Logout revokes the session the Client authenticates with and returns it. The server refuses
// with keyward.EInvalid when the Client's token is not a session.
func (c *Client) Logout(ctx context.Context) (*keyward.Credential, error) {
	var out keyward.Credential
	if err := c.do(ctx, request{method: http.MethodPost, path: "/v1/logout"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateUser creates a user. Without in.Password the user cannot log in until SetPassword gives
// them one.
func (c *Client) CreateUser(ctx context.Context, in keyward.CreateUserInput) (*keyward.User, error) {
	var out keyward.User
	r := request{method: http.MethodPost, path: "/v1/users", body: in, passwords: []string{in.Password}}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListUsers returns one page of the users, by ascending id.
func (c *Client) ListUsers(ctx context.Context, cursor string, limit int) (*keyward.Page[keyward.User], error) {
	var out keyward.Page[keyward.User]
	q := pageQuery(cursor, limit)
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/users", query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllUsers returns an iterator over every user, fetching pages of limit (0 for the server's
// default) as it goes. It stops after yielding the first error.
func (c *Client) AllUsers(ctx context.Context, limit int) iter.Seq2[keyward.User, error] {
	return all(func(cursor string) (*keyward.Page[keyward.User], error) {
		return c.ListUsers(ctx, cursor, limit)
	}, "")
}

// User returns the user ref names: their name or numeric id.
func (c *Client) User(ctx context.Context, ref string) (*keyward.User, error) {
	p, err := userPath(ref)
	if err != nil {
		return nil, err
	}
	var out keyward.User
	if err := c.do(ctx, request{method: http.MethodGet, path: p}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateUser changes user ref: in.Disabled disables (true) or enables (false) them. A disabled
// user cannot log in, and neither their sessions nor the credentials they created work.
func (c *Client) UpdateUser(ctx context.Context, ref string, in keyward.UpdateUserInput) (*keyward.User, error) {
	p, err := userPath(ref)
	if err != nil {
		return nil, err
	}
	var out keyward.User
	if err := c.do(ctx, request{method: http.MethodPatch, path: p, body: in}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteUser deletes user ref and returns them as they were deleted.
func (c *Client) DeleteUser(ctx context.Context, ref string) (*keyward.User, error) {
	p, err := userPath(ref)
	if err != nil {
		return nil, err
	}
	var out keyward.User
	if err := c.do(ctx, request{method: http.MethodDelete, path: p}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetPassword sets the password of user ref. A caller with users:admin sets anyone's without
// the current one. Anyone else changes only their own, through a login session (an API key
// gets keyward.EForbidden), giving the current one in in.CurrentPassword. The user's other
// sessions end.
func (c *Client) SetPassword(ctx context.Context, ref string, in keyward.SetPasswordInput) error {
	p, err := userPath(ref)
	if err != nil {
		return err
	}
	r := request{method: http.MethodPut, path: p + "/password", body: in,
		passwords: []string{in.Password, in.CurrentPassword}}
	return c.do(ctx, r, nil)
}

// ListSessions returns one page of the sessions of user ref (credentials of type
// keyward.Session, revoked and expired ones included), by ascending id.
func (c *Client) ListSessions(ctx context.Context, ref, cursor string, limit int) (*keyward.Page[keyward.Credential], error) {
	p, err := userPath(ref)
	if err != nil {
		return nil, err
	}
	var out keyward.Page[keyward.Credential]
	q := pageQuery(cursor, limit)
	if err := c.do(ctx, request{method: http.MethodGet, path: p + "/sessions", query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllSessions returns an iterator over every session of user ref, fetching pages of limit (0 for
// the server's default) as it goes. It stops after yielding the first error.
func (c *Client) AllSessions(ctx context.Context, ref string, limit int) iter.Seq2[keyward.Credential, error] {
	return all(func(cursor string) (*keyward.Page[keyward.Credential], error) {
		return c.ListSessions(ctx, ref, cursor, limit)
	}, "")
}

// RevokeSession ends session id of user ref (their own, or anyone's with users:admin) and
// returns it. A session that is not that user's, like a user the caller may not see, is
// keyward.ENotFound. Ending an ended session changes nothing and succeeds.
func (c *Client) RevokeSession(ctx context.Context, ref string, id int64) (*keyward.Credential, error) {
	p, err := userPath(ref)
	if err != nil {
		return nil, err
	}
	var out keyward.Credential
	path := p + "/sessions/" + strconv.FormatInt(id, 10)
	if err := c.do(ctx, request{method: http.MethodDelete, path: path}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeSessions ends every live session of user ref but the one the Client authenticates
// with, when that is one of theirs (Logout ends that one), and says which it ended.
func (c *Client) RevokeSessions(ctx context.Context, ref string) (*keyward.RevokedSessions, error) {
	p, err := userPath(ref)
	if err != nil {
		return nil, err
	}
	var out keyward.RevokedSessions
	if err := c.do(ctx, request{method: http.MethodDelete, path: p + "/sessions"}, &out); err != nil {
		return nil, err
	}
	if out.Revoked == nil {
		out.Revoked = []int64{}
	}
	return &out, nil
}

// UserRoles returns every role binding of user ref: the global ones (Project "*") and those of
// each project.
func (c *Client) UserRoles(ctx context.Context, ref string) ([]keyward.Binding, error) {
	p, err := userPath(ref)
	if err != nil {
		return nil, err
	}
	return list[keyward.Binding](ctx, c, p+"/roles")
}

// GrantGlobalRole binds user to role (each a name or numeric id) in every project.
func (c *Client) GrantGlobalRole(ctx context.Context, user, role string) (*keyward.Binding, error) {
	p, err := userPath(user)
	if err != nil {
		return nil, err
	}
	if _, err := segment("role", role); err != nil {
		return nil, err
	}
	var out keyward.Binding
	r := request{method: http.MethodPost, path: p + "/roles", body: keyward.BindingInput{Role: role}}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeGlobalRole removes the global binding of user to role (each a name or numeric id).
func (c *Client) RevokeGlobalRole(ctx context.Context, user, role string) error {
	p, err := userPath(user)
	if err != nil {
		return err
	}
	r, err := segment("role", role)
	if err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodDelete, path: p + "/roles/" + r}, nil)
}

// Roles returns every role, built-in and custom.
func (c *Client) Roles(ctx context.Context) ([]keyward.Role, error) {
	return list[keyward.Role](ctx, c, "/v1/roles")
}

// Role returns the role ref names: its name or numeric id.
func (c *Client) Role(ctx context.Context, ref string) (*keyward.Role, error) {
	p, err := rolePath(ref)
	if err != nil {
		return nil, err
	}
	var out keyward.Role
	if err := c.do(ctx, request{method: http.MethodGet, path: p}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateRole creates a custom role; in.Name and in.Permissions are required, in.ID is chosen by
// the server when 0.
func (c *Client) CreateRole(ctx context.Context, in keyward.RoleInput) (*keyward.Role, error) {
	var out keyward.Role
	if err := c.do(ctx, request{method: http.MethodPost, path: "/v1/roles", body: in}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateRole renames custom role ref (in.Name) or replaces its permissions (in.Permissions);
// empty fields stay as they are.
func (c *Client) UpdateRole(ctx context.Context, ref string, in keyward.RoleInput) (*keyward.Role, error) {
	p, err := rolePath(ref)
	if err != nil {
		return nil, err
	}
	var out keyward.Role
	if err := c.do(ctx, request{method: http.MethodPatch, path: p, body: in}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteRole deletes custom role ref.
func (c *Client) DeleteRole(ctx context.Context, ref string) error {
	p, err := rolePath(ref)
	if err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodDelete, path: p}, nil)
}

// Members returns the role bindings of project (slug or id): who holds which role there.
func (c *Client) Members(ctx context.Context, project string) ([]keyward.Binding, error) {
	p, err := projectPath(project)
	if err != nil {
		return nil, err
	}
	return list[keyward.Binding](ctx, c, p+"/members")
}

// AddMember binds user to role in project (each a name, slug or numeric id).
func (c *Client) AddMember(ctx context.Context, project, user, role string) (*keyward.Binding, error) {
	p, err := projectPath(project)
	if err != nil {
		return nil, err
	}
	if _, err := segment("user", user); err != nil {
		return nil, err
	}
	if _, err := segment("role", role); err != nil {
		return nil, err
	}
	var out keyward.Binding
	r := request{method: http.MethodPost, path: p + "/members", body: keyward.BindingInput{User: user, Role: role}}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveMember removes the binding of user to role in project (each a name, slug or numeric id).
func (c *Client) RemoveMember(ctx context.Context, project, user, role string) error {
	p, err := projectPath(project)
	if err != nil {
		return err
	}
	u, err := segment("user", user)
	if err != nil {
		return err
	}
	r, err := segment("role", role)
	if err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodDelete, path: p + "/members/" + u + "/roles/" + r}, nil)
}

func userPath(ref string) (string, error) {
	u, err := segment("user", ref)
	if err != nil {
		return "", err
	}
	return "/v1/users/" + u, nil
}

func rolePath(ref string) (string, error) {
	r, err := segment("role", ref)
	if err != nil {
		return "", err
	}
	return "/v1/roles/" + r, nil
}
