package client

import (
	"context"
	"net/http"

	"github.com/keyward/keyward"
)

// ProjectPolicy returns the key policy of project (slug or id).
func (c *Client) ProjectPolicy(ctx context.Context, project string) (*keyward.Policy, error) {
	p, err := projectPath(project)
	if err != nil {
		return nil, err
	}
	var out keyward.Policy
	if err := c.do(ctx, request{method: http.MethodGet, path: p + "/policy"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetProjectPolicy replaces the key policy of project (slug or id) with pol and returns it as
// stored. It needs projects:admin in the project.
func (c *Client) SetProjectPolicy(ctx context.Context, project string, pol keyward.Policy) (*keyward.Policy, error) {
	p, err := projectPath(project)
	if err != nil {
		return nil, err
	}
	var out keyward.Policy
	if err := c.do(ctx, request{method: http.MethodPut, path: p + "/policy", body: pol}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
