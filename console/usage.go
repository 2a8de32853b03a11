package console

import (
	"context"

	"github.com/keyward/keyward"
)

// usageView is what a usage chart draws; filled once the authority reports usage.
type usageView struct{}

func (h *Handler) projectUsage(ctx context.Context, p *keyward.Project) *usageView { return nil }

func (h *Handler) credentialUsage(ctx context.Context, p *keyward.Project, c *keyward.Credential) *usageView {
	return nil
}
