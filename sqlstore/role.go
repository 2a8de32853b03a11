package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/keyward/keyward"
)

// permissionsJSON renders perms as a JSON array; nil becomes [].
func permissionsJSON(perms []keyward.Permission) (string, error) {
	if perms == nil {
		perms = []keyward.Permission{}
	}
	b, err := json.Marshal(perms)
	return string(b), err
}

// insertRole inserts r, with its own id when it has one so that built-in ids stay stable, and
// sets r.ID; a nil r.Permissions becomes empty. EConflict when the name or id is taken.
func insertRole(ctx context.Context, tx *txn, r *keyward.Role) error {
	if err := keyward.CheckText(r); err != nil {
		return err
	}
	if r.Permissions == nil {
		r.Permissions = []keyward.Permission{}
	}
	pj, err := permissionsJSON(r.Permissions)
	if err != nil {
		return err
	}
	if r.ID != 0 {
		_, err = tx.ExecContext(ctx, `INSERT INTO roles (id, name, permissions, built_in) VALUES (?, ?, ?, ?)`,
			r.ID, r.Name, pj, r.BuiltIn)
		if err == nil {
			err = tx.e.d.ExplicitIDs(ctx, tx.tx, "roles")
		}
	} else {
		err = tx.QueryRowContext(ctx, `INSERT INTO roles (name, permissions, built_in) VALUES (?, ?, ?) RETURNING id`,
			r.Name, pj, r.BuiltIn).Scan(&r.ID)
	}
	if tx.isUnique(err) {
		return keyward.Errorf(keyward.EConflict, "role name or id already taken")
	}
	return err
}

// Roles returns every role by ascending id.
func (s *Store) Roles(ctx context.Context) ([]*keyward.Role, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT id, name, permissions, built_in FROM roles ORDER BY id`)
	if err != nil {
		return nil, s.fail(ctx, "roles", err)
	}
	defer rows.Close()
	rs := []*keyward.Role{}
	for rows.Next() {
		var r keyward.Role
		var perms string
		if err := rows.Scan(&r.ID, &r.Name, &perms, &r.BuiltIn); err != nil {
			return nil, s.fail(ctx, "roles", err)
		}
		if err := json.Unmarshal([]byte(perms), &r.Permissions); err != nil {
			return nil, fmt.Errorf("sqlstore: role %d permissions: %w", r.ID, err)
		}
		if r.Permissions == nil {
			r.Permissions = []keyward.Permission{}
		}
		rs = append(rs, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "roles", err)
	}
	return rs, nil
}

// CreateRole stores r and ev. It uses r.ID when it is not 0 and sets it otherwise, makes a
// nil r.Permissions empty, sets ev.ID and records the role's id in ev.Detail["role_id"]
// unless the caller set that key. EConflict when the name or id is taken.
func (s *Store) CreateRole(ctx context.Context, r *keyward.Role, ev *keyward.Event) error {
	nr, nev := *r, *ev
	err := s.change(ctx, "create role", &nev, func(tx *txn) error {
		if err := insertRole(ctx, tx, &nr); err != nil {
			return err
		}
		nev = withDetailID(nev, "role_id", nr.ID)
		return nil
	})
	if err != nil {
		return err
	}
	*r, *ev = nr, nev
	return nil
}

// UpdateRole writes r.Name and r.Permissions (nil as empty) and ev, and sets ev.ID; BuiltIn
// is not written. ENotFound, EConflict when another role has the name.
func (s *Store) UpdateRole(ctx context.Context, r *keyward.Role, ev *keyward.Event) error {
	if err := keyward.CheckText(r); err != nil {
		return err
	}
	pj, err := permissionsJSON(r.Permissions)
	if err != nil {
		return err
	}
	err = s.change(ctx, "update role", ev, func(tx *txn) error {
		ok, err := oneRow(tx.ExecContext(ctx, `UPDATE roles SET name = ?, permissions = ? WHERE id = ?`,
			r.Name, pj, r.ID))
		switch {
		case tx.isUnique(err):
			return keyward.Errorf(keyward.EConflict, "role name already taken")
		case err != nil:
			return err
		case !ok:
			return keyward.Errorf(keyward.ENotFound, "role not found")
		}
		tx.changed(rolesChanged)
		return nil
	})
	if err != nil {
		return err
	}
	if r.Permissions == nil {
		r.Permissions = []keyward.Permission{}
	}
	return nil
}

// DeleteRole deletes the role id and stores ev, then sets ev.ID. EConflict while a role
// binding or a credential (revoked ones included: they keep their record) uses it;
// ENotFound.
func (s *Store) DeleteRole(ctx context.Context, id int64, ev *keyward.Event) error {
	err := s.change(ctx, "delete role", ev, func(tx *txn) error {
		var exists, used bool
		if err := tx.QueryRowContext(ctx, `SELECT
			EXISTS (SELECT 1 FROM roles WHERE id = ?1`+tx.forUpdate("")+`),
			EXISTS (SELECT 1 FROM role_bindings WHERE role_id = ?1)
				OR EXISTS (SELECT 1 FROM credential_roles WHERE role_id = ?1)`, id).Scan(&exists, &used); err != nil {
			return err
		}
		switch {
		case !exists:
			return keyward.Errorf(keyward.ENotFound, "role not found")
		case used:
			return keyward.Errorf(keyward.EConflict, "role is in use")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM roles WHERE id = ?`, id); err != nil {
			return err
		}
		tx.changed(rolesChanged)
		return nil
	})
	return err
}

// scanBindings reads rows of (user_id, project_id or 0, role_id).
func (s *Store) scanBindings(ctx context.Context, op string, rows *sql.Rows, err error) ([]keyward.RoleBinding, error) {
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer rows.Close()
	bs := []keyward.RoleBinding{}
	for rows.Next() {
		var b keyward.RoleBinding
		if err := rows.Scan(&b.UserID, &b.ProjectID, &b.RoleID); err != nil {
			return nil, s.fail(ctx, op, err)
		}
		bs = append(bs, b)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return bs, nil
}

// RoleBindings returns the user's role bindings by project id (0, global, first), then role id.
func (s *Store) RoleBindings(ctx context.Context, userID int64) ([]keyward.RoleBinding, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT user_id, COALESCE(project_id, 0), role_id FROM role_bindings
		WHERE user_id = ? ORDER BY COALESCE(project_id, 0), role_id`, userID)
	return s.scanBindings(ctx, "role bindings", rows, err)
}

// ProjectBindings returns the bindings in project projectID, not the global ones, by user id
// then role id.
func (s *Store) ProjectBindings(ctx context.Context, projectID int64) ([]keyward.RoleBinding, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT user_id, project_id, role_id FROM role_bindings
		WHERE project_id = ? ORDER BY user_id, role_id`, projectID)
	return s.scanBindings(ctx, "project bindings", rows, err)
}

// CreateRoleBinding stores b (ProjectID 0: every project, stored as NULL) and ev, and sets
// ev.ID. ENotFound when the user (or a deleted one), the project or the role does not exist;
// EConflict when the binding exists.
func (s *Store) CreateRoleBinding(ctx context.Context, b keyward.RoleBinding, ev *keyward.Event) error {
	err := s.change(ctx, "create role binding", ev, func(tx *txn) error {
		var user, project, role bool
		if err := tx.QueryRowContext(ctx, `SELECT
			EXISTS (SELECT 1 FROM users WHERE id = ? AND deleted_at IS NULL),
			CAST(? AS BIGINT) = 0 OR EXISTS (SELECT 1 FROM projects WHERE id = ?),
			EXISTS (SELECT 1 FROM roles WHERE id = ?)`,
			b.UserID, b.ProjectID, b.ProjectID, b.RoleID).Scan(&user, &project, &role); err != nil {
			return err
		}
		switch {
		case !user:
			return keyward.Errorf(keyward.ENotFound, "user not found")
		case !project:
			return keyward.Errorf(keyward.ENotFound, "project not found")
		case !role:
			return keyward.Errorf(keyward.ENotFound, "role not found")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO role_bindings (user_id, project_id, role_id) VALUES (?, ?, ?)`,
			b.UserID, nullID(b.ProjectID), b.RoleID)
		if tx.isUnique(err) {
			return keyward.Errorf(keyward.EConflict, "role binding already exists")
		}
		if err != nil {
			return err
		}
		tx.changed(userChanged, b.UserID)
		return nil
	})
	return err
}

// DeleteRoleBinding removes b and stores ev, then sets ev.ID. ENotFound when b does not exist
// (a global binding is not a project's, nor the other way round).
func (s *Store) DeleteRoleBinding(ctx context.Context, b keyward.RoleBinding, ev *keyward.Event) error {
	_, err := s.DeleteRoleBindingRevoking(ctx, b, ev.Time, ev, keyward.Revocation{})
	return err
}
