package client

import (
	"context"
	"iter"
	"net/http"

	"github.com/keyward/keyward"
)

// ListWebhookDeliveriesOptions filters and pages ListWebhookDeliveries.
type ListWebhookDeliveriesOptions struct {
	State  string // only deliveries in this state (keyward.DeliveryDead, say)
	Cursor string // the NextCursor of the previous page; "" for the newest
	Limit  int    // the page size; 0 for the server's default
}

func webhookPath(project, id string) (string, error) {
	p, err := projectPath(project)
	if err != nil {
		return "", err
	}
	w, err := segment("webhook", id)
	if err != nil {
		return "", err
	}
	return p + "/webhooks/" + w, nil
}

// CreateWebhook subscribes a URL of project to webhook types. The answer's Secret, which
// receivers verify signatures with, is shown this once.
func (c *Client) CreateWebhook(ctx context.Context, project string, in keyward.CreateWebhookInput) (*keyward.WebhookWithSecret, error) {
	p, err := projectPath(project)
	if err != nil {
		return nil, err
	}
	var out keyward.WebhookWithSecret
	if err := c.do(ctx, request{method: http.MethodPost, path: p + "/webhooks", body: in}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Webhooks returns the webhook endpoints of project.
func (c *Client) Webhooks(ctx context.Context, project string) ([]keyward.WebhookEndpoint, error) {
	p, err := projectPath(project)
	if err != nil {
		return nil, err
	}
	var out keyward.Page[keyward.WebhookEndpoint]
	if err := c.do(ctx, request{method: http.MethodGet, path: p + "/webhooks"}, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// Webhook returns the webhook endpoint id of project.
func (c *Client) Webhook(ctx context.Context, project, id string) (*keyward.WebhookEndpoint, error) {
	p, err := webhookPath(project, id)
	if err != nil {
		return nil, err
	}
	var out keyward.WebhookEndpoint
	if err := c.do(ctx, request{method: http.MethodGet, path: p}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateWebhook changes the fields of the endpoint that in sets.
func (c *Client) UpdateWebhook(ctx context.Context, project, id string, in keyward.UpdateWebhookInput) (*keyward.WebhookEndpoint, error) {
	p, err := webhookPath(project, id)
	if err != nil {
		return nil, err
	}
	var out keyward.WebhookEndpoint
	if err := c.do(ctx, request{method: http.MethodPatch, path: p, body: in}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteWebhook removes the endpoint and its deliveries.
func (c *Client) DeleteWebhook(ctx context.Context, project, id string) error {
	p, err := webhookPath(project, id)
	if err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodDelete, path: p}, nil)
}

// RollWebhookSecret gives the endpoint a new signing secret, shown this once.
func (c *Client) RollWebhookSecret(ctx context.Context, project, id string) (*keyward.WebhookWithSecret, error) {
	p, err := webhookPath(project, id)
	if err != nil {
		return nil, err
	}
	var out keyward.WebhookWithSecret
	if err := c.do(ctx, request{method: http.MethodPost, path: p + "/roll-secret"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListWebhookDeliveries returns one page of the endpoint's deliveries, newest first.
func (c *Client) ListWebhookDeliveries(ctx context.Context, project, id string, f ListWebhookDeliveriesOptions) (*keyward.Page[keyward.WebhookDelivery], error) {
	p, err := webhookPath(project, id)
	if err != nil {
		return nil, err
	}
	q := pageQuery(f.Cursor, f.Limit)
	if f.State != "" {
		q.Set("state", f.State)
	}
	var out keyward.Page[keyward.WebhookDelivery]
	if err := c.do(ctx, request{method: http.MethodGet, path: p + "/deliveries", query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllWebhookDeliveries returns an iterator over the endpoint's deliveries that match f, newest
// first. It stops after yielding the first error.
func (c *Client) AllWebhookDeliveries(ctx context.Context, project, id string, f ListWebhookDeliveriesOptions) iter.Seq2[keyward.WebhookDelivery, error] {
	return all(func(cursor string) (*keyward.Page[keyward.WebhookDelivery], error) {
		g := f
		g.Cursor = cursor
		return c.ListWebhookDeliveries(ctx, project, id, g)
	}, f.Cursor)
}

// ReplayWebhookDelivery sends a failed or dead delivery again, with the same webhook-id.
func (c *Client) ReplayWebhookDelivery(ctx context.Context, project, id, delivery string) (*keyward.WebhookDelivery, error) {
	p, err := webhookPath(project, id)
	if err != nil {
		return nil, err
	}
	d, err := segment("delivery", delivery)
	if err != nil {
		return nil, err
	}
	var out keyward.WebhookDelivery
	if err := c.do(ctx, request{method: http.MethodPost, path: p + "/deliveries/" + d + "/replay"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
