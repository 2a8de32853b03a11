package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// bootstrapLockKey serializes Bootstraps of replicas that start together, so that the second
// finds the first one's work and answers EConflict without trying to write.
const bootstrapLockKey int32 = 0x6b776273 // "kwbs"

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
	err := s.inTx(ctx, "bootstrap", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(COALESCE(current_schema(), '')))`,
			bootstrapLockKey); err != nil {
			return err
		}
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM projects WHERE slug = $1)`,
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
		if _, err := tx.Exec(ctx, `INSERT INTO role_bindings (user_id, project_id, role_id) VALUES ($1, NULL, $2)`,
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
func insertProject(ctx context.Context, tx pgx.Tx, p *keyward.Project) error {
	if err := keyward.CheckText(p); err != nil {
		return err
	}
	err := tx.QueryRow(ctx, `INSERT INTO projects (slug, name, created_at, recoverable_keys)
		VALUES ($1, $2, $3, $4) RETURNING id`, p.Slug, p.Name, ts(p.CreatedAt), p.RecoverableKeys).Scan(&p.ID)
	if isUnique(err) {
		return keyward.Errorf(keyward.EConflict, "project slug already taken")
	}
	return err
}

// CreateProject stores p and ev and sets their IDs (and ev.ProjectID when it was 0).
// EConflict when the slug is taken.
func (s *Store) CreateProject(ctx context.Context, p *keyward.Project, ev *keyward.Event) error {
	np, nev := *p, *ev
	var evID int64
	err := s.inTx(ctx, "create project", func(tx pgx.Tx) error {
		if err := insertProject(ctx, tx, &np); err != nil {
			return err
		}
		if nev.ProjectID == 0 {
			nev.ProjectID = np.ID
		}
		var err error
		evID, err = insertEvent(ctx, tx, &nev)
		return err
	})
	if err != nil {
		return err
	}
	*p, *ev = np, nev
	ev.ID = evID
	return nil
}

const projectColumns = `id, slug, name, created_at, recoverable_keys`

func scanProject(row pgx.Row) (*keyward.Project, error) {
	var p keyward.Project
	if err := row.Scan(&p.ID, &p.Slug, &p.Name, &p.CreatedAt, &p.RecoverableKeys); err != nil {
		return nil, err
	}
	p.CreatedAt = p.CreatedAt.UTC()
	return &p, nil
}

// UpdateProject writes p.Name and p.RecoverableKeys and ev, and sets ev.ID. Turning
// recoverable keys off seals no key and unseals none: it only decides for keys issued later.
// ENotFound.
func (s *Store) UpdateProject(ctx context.Context, p *keyward.Project, ev *keyward.Event) error {
	if err := keyward.CheckText(p); err != nil {
		return err
	}
	var evID int64
	err := s.inTx(ctx, "update project", func(tx pgx.Tx) error {
		ok, err := oneRow(tx.Exec(ctx, `UPDATE projects SET name = $1, recoverable_keys = $2 WHERE id = $3`,
			p.Name, p.RecoverableKeys, p.ID))
		if err != nil {
			return err
		}
		if !ok {
			return keyward.Errorf(keyward.ENotFound, "project not found")
		}
		evID, err = insertEvent(ctx, tx, ev)
		return err
	})
	if err != nil {
		return err
	}
	ev.ID = evID
	return nil
}

// ProjectByID returns the project with id. ENotFound.
func (s *Store) ProjectByID(ctx context.Context, id int64) (*keyward.Project, error) {
	p, err := scanProject(s.queryRow(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "project not found")
	}
	if err != nil {
		return nil, s.fail(ctx, "project by id", err)
	}
	return p, nil
}

// ProjectBySlug returns the project with slug. ENotFound.
func (s *Store) ProjectBySlug(ctx context.Context, slug string) (*keyward.Project, error) {
	if !keyward.ValidText(slug) {
		return nil, keyward.Errorf(keyward.ENotFound, "project not found")
	}
	p, err := scanProject(s.queryRow(ctx, `SELECT `+projectColumns+` FROM projects WHERE slug = $1`, slug))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "project not found")
	}
	if err != nil {
		return nil, s.fail(ctx, "project by slug", err)
	}
	return p, nil
}

// ListProjects returns projects by ascending id after f.AfterID, at most f.Limit (default 100,
// at most 1000), only those in f.IDs when it is not nil.
func (s *Store) ListProjects(ctx context.Context, f keyward.ProjectFilter) ([]*keyward.Project, error) {
	q := `SELECT ` + projectColumns + ` FROM projects WHERE id > $1`
	args := []any{f.AfterID}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			return []*keyward.Project{}, nil
		}
		q += ` AND id = ANY($2)`
		args = append(args, f.IDs)
	}
	args = append(args, limit(f.Limit))
	q += fmt.Sprintf(` ORDER BY id LIMIT $%d`, len(args))
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, s.fail(ctx, "list projects", err)
	}
	defer rows.Close()
	ps := []*keyward.Project{}
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, s.fail(ctx, "list projects", err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "list projects", err)
	}
	return ps, nil
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
