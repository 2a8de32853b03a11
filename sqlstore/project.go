package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/keyward/keyward"
)

// Bootstrap writes the first start's records in one transaction; EConflict, with nothing
// changed, when the system project exists already.
func (s *Store) Bootstrap(ctx context.Context, b *keyward.Bootstrap) error {
	if b == nil || b.Project == nil || b.Admin == nil || b.Credential == nil || b.Secret == nil || b.Event == nil {
		return keyward.Errorf(keyward.EInvalid, "bootstrap is incomplete")
	}
	var adminRole *keyward.Role
	for _, r := range b.Roles {
		if r != nil && r.Name == keyward.RoleAdmin {
			adminRole = r
		}
	}
	if adminRole == nil {
		return keyward.Errorf(keyward.EInvalid, "bootstrap has no %q role", keyward.RoleAdmin)
	}

	// Work on copies so that a failed transaction leaves the caller's structs as they were.
	p, u, c, sec, ev := *b.Project, *b.Admin, *b.Credential, *b.Secret, *b.Event
	roles := make([]keyward.Role, len(b.Roles))
	var evID int64
	err := s.inTx(ctx, "bootstrap", func(tx *txn) error {
		// Servers starting together: the second finds the first one's work and answers
		// EConflict without trying to write.
		if err := s.e.d.Lock(ctx, tx.tx); err != nil {
			return err
		}
		var done bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM projects WHERE slug = ?)`,
			keyward.SystemProject).Scan(&done); err != nil {
			return err
		}
		if done {
			return keyward.Errorf(keyward.EConflict, "the store is bootstrapped already")
		}
		if err := insertProject(ctx, tx, &p); err != nil {
			return err
		}
		adminRoleID := int64(0)
		for i, r := range b.Roles {
			if r == nil {
				return keyward.Errorf(keyward.EInvalid, "bootstrap has a nil role")
			}
			roles[i] = *r
			if err := insertRole(ctx, tx, &roles[i]); err != nil {
				return err
			}
			if r == adminRole {
				adminRoleID = roles[i].ID
			}
		}
		if err := insertUser(ctx, tx, &u, ""); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO role_bindings (user_id, project_id, role_id) VALUES (?, NULL, ?)`,
			u.ID, adminRoleID); err != nil {
			return err
		}
		c.ProjectID = p.ID
		c.CreatedBy = u.ID
		c.RoleIDs = []int64{adminRoleID}
		if err := insertCredential(ctx, tx, &c, &sec); err != nil {
			return err
		}
		c.Project = p.Slug
		if ev.ProjectID == 0 {
			ev.ProjectID = p.ID
		}
		if ev.CredentialID == 0 {
			ev.CredentialID = c.ID
		}
		if ev.ActorUserID == 0 {
			ev.ActorUserID = u.ID
		}
		if ev.Actor == "" {
			ev.Actor = u.Name
		}
		var err error
		evID, err = insertEvent(ctx, tx, &ev)
		return err
	})
	if err != nil {
		return err
	}
	*b.Project, *b.Admin, *b.Credential, *b.Secret, *b.Event = p, u, c, sec, ev
	b.Event.ID = evID
	for i, r := range b.Roles {
		*r = roles[i]
	}
	return nil
}

// insertProject inserts p and sets its ID; EConflict when the slug is taken.
func insertProject(ctx context.Context, tx *txn, p *keyward.Project) error {
	if err := keyward.CheckText(p); err != nil {
		return err
	}
	p.Policy = p.Policy.Normalize()
	pol, err := policyJSON(p.Policy)
	if err != nil {
		return err
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO projects (slug, name, created_at, recoverable_keys, policy)
		VALUES (?, ?, ?, ?, ?) RETURNING id`, p.Slug, p.Name, p.CreatedAt, p.RecoverableKeys, pol).Scan(&p.ID)
	if tx.isUnique(err) {
		return keyward.Errorf(keyward.EConflict, "project slug already taken")
	}
	return err
}

// CreateProject stores p and ev and sets their IDs (and ev.ProjectID when it was 0).
// EConflict when the slug is taken.
func (s *Store) CreateProject(ctx context.Context, p *keyward.Project, ev *keyward.Event) error {
	np, nev := *p, *ev
	err := s.change(ctx, "create project", &nev, func(tx *txn) error {
		if err := insertProject(ctx, tx, &np); err != nil {
			return err
		}
		if nev.ProjectID == 0 {
			nev.ProjectID = np.ID
		}
		return nil
	})
	if err != nil {
		return err
	}
	*p, *ev = np, nev
	return nil
}

const projectColumns = `id, slug, name, created_at, recoverable_keys, policy`

func scanProject(row interface{ Scan(...any) error }) (*keyward.Project, error) {
	var p keyward.Project
	var created Time
	var pol string
	if err := row.Scan(&p.ID, &p.Slug, &p.Name, &created, &p.RecoverableKeys, &pol); err != nil {
		return nil, err
	}
	p.CreatedAt = created.T
	var err error
	p.Policy, err = parsePolicy(pol)
	return &p, err
}

// policyJSON is how a project's policy is stored: its normalized JSON object.
func policyJSON(p keyward.Policy) (string, error) {
	b, err := json.Marshal(p.Normalize())
	return string(b), err
}

// parsePolicy reads a stored policy; fields a newer keyward wrote and this one does not know
// are ignored.
func parsePolicy(s string) (keyward.Policy, error) {
	var p keyward.Policy
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return keyward.Policy{}, fmt.Errorf("sqlstore: stored project policy: %w", err)
	}
	return p.Normalize(), nil
}

// UpdateProjectPolicy replaces the policy of project id with p (normalized) and writes ev.
// ENotFound.
func (s *Store) UpdateProjectPolicy(ctx context.Context, id int64, p keyward.Policy, ev *keyward.Event) error {
	pol, err := policyJSON(p)
	if err != nil {
		return err
	}
	return s.change(ctx, "update project policy", ev, func(tx *txn) error {
		ok, err := oneRow(tx.ExecContext(ctx, `UPDATE projects SET policy = ? WHERE id = ?`, pol, id))
		if err != nil {
			return err
		}
		if !ok {
			return keyward.Errorf(keyward.ENotFound, "project not found")
		}
		return nil
	})
}

// UpdateProject writes p.Name and p.RecoverableKeys and ev, and sets ev.ID. Turning
// recoverable keys off seals no key and unseals none: it only decides for keys issued later.
// ENotFound.
func (s *Store) UpdateProject(ctx context.Context, p *keyward.Project, ev *keyward.Event) error {
	if err := keyward.CheckText(p); err != nil {
		return err
	}
	err := s.change(ctx, "update project", ev, func(tx *txn) error {
		ok, err := oneRow(tx.ExecContext(ctx, `UPDATE projects SET name = ?, recoverable_keys = ? WHERE id = ?`,
			p.Name, p.RecoverableKeys, p.ID))
		if err != nil {
			return err
		}
		if !ok {
			return keyward.Errorf(keyward.ENotFound, "project not found")
		}
		return nil
	})
	return err
}

// ProjectByID returns the project with id. ENotFound.
func (s *Store) ProjectByID(ctx context.Context, id int64) (*keyward.Project, error) {
	p, err := scanProject(s.reader().QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "project not found")
	}
	return p, s.fail(ctx, "project by id", err)
}

// ProjectBySlug returns the project with slug. ENotFound.
func (s *Store) ProjectBySlug(ctx context.Context, slug string) (*keyward.Project, error) {
	if !keyward.ValidText(slug) {
		return nil, keyward.Errorf(keyward.ENotFound, "project not found")
	}
	p, err := scanProject(s.reader().QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE slug = ?`, slug))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "project not found")
	}
	return p, s.fail(ctx, "project by slug", err)
}

// ListProjects returns projects by ascending id after f.AfterID, at most f.Limit (default 100,
// at most 1000), only those in f.IDs when it is not nil.
func (s *Store) ListProjects(ctx context.Context, f keyward.ProjectFilter) ([]*keyward.Project, error) {
	q := `SELECT ` + projectColumns + ` FROM projects WHERE id > ?`
	args := []any{f.AfterID}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			return []*keyward.Project{}, nil
		}
		// One JSON parameter however many ids, rather than a variable count of placeholders.
		q += ` AND id IN (` + s.e.d.IDList() + `)`
		args = append(args, idsJSON(f.IDs))
	}
	q += ` ORDER BY id LIMIT ?`
	args = append(args, limit(f.Limit))
	rows, err := s.reader().QueryContext(ctx, q, args...)
	ps, err := scanRows(rows, err, scanProject)
	return ps, s.fail(ctx, "list projects", err)
}

// idsJSON renders ids as the JSON array Dialect.IDList reads.
func idsJSON(ids []int64) string {
	b, _ := json.Marshal(ids) // []int64 always marshals
	return string(b)
}

// sortedIDs returns ids sorted and without duplicates, never nil.
func sortedIDs(ids []int64) []int64 {
	out := append([]int64{}, ids...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	n := 0
	for i, id := range out {
		if i == 0 || id != out[n-1] {
			out[n] = id
			n++
		}
	}
	return out[:n]
}
