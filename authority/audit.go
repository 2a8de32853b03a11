package authority

import (
	"context"

	"github.com/keyward/keyward"
)

// ListEventsInput filters the audit log.
type ListEventsInput struct {
	Project      string // slug or id; "" for every project the caller may audit
	CredentialID int64
	Cursor       string
	Limit        int
}

// ListEvents returns audit events, newest first, from the projects the caller may audit.
func (a *Authority) ListEvents(ctx context.Context, in ListEventsInput) (*keyward.Page[*keyward.Event], error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	before, err := decodeCursor(in.Cursor)
	if err != nil {
		return nil, err
	}
	limit, err := pageSize(in.Limit)
	if err != nil {
		return nil, err
	}
	f := keyward.EventFilter{CredentialID: in.CredentialID, BeforeID: before, Limit: limit + 1}
	switch {
	case in.Project != "":
		p, err := a.resolveProject(ctx, in.Project, keyward.PermAuditRead)
		if err != nil {
			return nil, err
		}
		f.ProjectIDs = []int64{p.ID}
	case c.Can(keyward.PermAuditRead, 0):
	default:
		f.ProjectIDs = []int64{}
		for id := range c.Grants {
			if id != 0 && c.Can(keyward.PermAuditRead, id) {
				f.ProjectIDs = append(f.ProjectIDs, id)
			}
		}
		if len(f.ProjectIDs) == 0 {
			return nil, a.authorize(ctx, keyward.PermAuditRead, nil)
		}
	}
	evs, err := a.store.ListEvents(ctx, f)
	if err != nil {
		return nil, err
	}
	page := paginate(evs, limit, func(x *keyward.Event) int64 { return x.ID })
	return page, nil
}
