package authority

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/keyward/keyward"
)

// projectNameRule is the one rule of a project's display name, for create and update alike.
const projectNameRule = "must be 1-100 characters, not only spaces"

func validProjectName(name string) bool {
	return strings.TrimSpace(name) != "" && utf8.RuneCountInString(name) <= 100
}

// CreateProject creates a project. It needs projects:admin globally.
func (a *Authority) CreateProject(ctx context.Context, in keyward.CreateProjectInput) (*keyward.Project, error) {
	if err := a.authorize(ctx, keyward.PermProjectsAdmin, nil); err != nil {
		return nil, err
	}
	fe := fieldErrors{}
	if !keyward.ValidSlug(in.Slug) {
		fe.add("slug", "must be 1-63 lower-case letters, digits or dashes, not starting with a dash")
	}
	if in.Name == "" {
		in.Name = in.Slug
	}
	if !validProjectName(in.Name) {
		fe.add("name", projectNameRule)
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	now := a.clock()
	p := &keyward.Project{Slug: in.Slug, Name: in.Name, CreatedAt: now}
	ev := a.event(ctx, "project.create", 0, 0, now)
	ev.Detail = map[string]string{"slug": in.Slug}
	if err := a.store.CreateProject(ctx, p, ev); err != nil {
		return nil, err
	}
	return p, nil
}

// Project returns the project named by ref (slug or id).
func (a *Authority) Project(ctx context.Context, ref string) (*keyward.Project, error) {
	return a.resolveProject(ctx, ref, keyward.PermProjectsRead)
}

// ListProjects returns the projects the caller may read, a page at a time.
func (a *Authority) ListProjects(ctx context.Context, cursor string, limit int) (*keyward.Page[*keyward.Project], error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, err
	}
	if limit, err = pageSize(limit); err != nil {
		return nil, err
	}
	f := keyward.ProjectFilter{AfterID: after, Limit: limit + 1}
	if !c.Can(keyward.PermProjectsRead, 0) {
		f.IDs = []int64{}
		for id := range c.Grants {
			if id != 0 && c.Can(keyward.PermProjectsRead, id) {
				f.IDs = append(f.IDs, id)
			}
		}
	}
	ps, err := a.store.ListProjects(ctx, f)
	if err != nil {
		return nil, err
	}
	page := paginate(ps, limit, func(x *keyward.Project) int64 { return x.ID })
	return page, nil
}

// UpdateProject renames a project or turns recoverable keys on or off. It needs
// projects:admin there. Turning the setting on affects keys created or rolled from then on.
func (a *Authority) UpdateProject(ctx context.Context, ref string, in keyward.UpdateProjectInput) (*keyward.Project, error) {
	p, err := a.resolveProject(ctx, ref, keyward.PermProjectsAdmin)
	if err != nil {
		return nil, err
	}
	if in.Name == nil && in.RecoverableKeys == nil {
		return nil, keyward.Errorf(keyward.EInvalid, "nothing to change: give name or recoverable_keys")
	}
	if in.Name != nil {
		if !validProjectName(*in.Name) {
			return nil, keyward.Invalid("name", projectNameRule)
		}
		p.Name = *in.Name
	}
	if in.RecoverableKeys != nil {
		if *in.RecoverableKeys && a.mk == nil {
			return nil, errNoCA
		}
		p.RecoverableKeys = *in.RecoverableKeys
	}
	ev := a.event(ctx, "project.update", p.ID, 0, a.clock())
	ev.Detail = map[string]string{"recoverable_keys": boolString(p.RecoverableKeys)}
	if err := a.store.UpdateProject(ctx, p, ev); err != nil {
		return nil, err
	}
	return p, nil
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
