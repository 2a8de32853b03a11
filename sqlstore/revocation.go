package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

// UpdateUserRevoking writes u.Disabled and u.UpdatedAt and ev, and revokes at u.UpdatedAt the
// credentials rv.Select picks, each with its rv.Event, in one transaction; it sets ev.ID and
// returns the ids it revoked. ENotFound for a missing or deleted user.
func (s *Store) UpdateUserRevoking(ctx context.Context, u *keyward.User, ev *keyward.Event, rv keyward.Revocation) ([]int64, error) {
	var evID int64
	var revoked []int64
	err := s.inTx(ctx, "update user", func(tx *txn) error {
		if err := lockCreator(ctx, tx, u.ID, rv.Select != nil); err != nil {
			return err
		}
		ok, err := oneRow(tx.ExecContext(ctx, `UPDATE users SET disabled = ?, updated_at = ?
			WHERE id = ? AND deleted_at IS NULL`, u.Disabled, u.UpdatedAt, u.ID))
		if err != nil {
			return err
		}
		if !ok {
			return keyward.Errorf(keyward.ENotFound, "user not found")
		}
		tx.changed(userChanged, u.ID)
		if evID, err = insertEvent(ctx, tx, ev); err != nil {
			return err
		}
		bindings, err := bindingsIn(ctx, tx, u.ID, rv)
		if err != nil {
			return err
		}
		revoked, err = revokeSelected(ctx, tx, u.ID, u.UpdatedAt, bindings, bindings, rv)
		return err
	})
	if err != nil {
		return nil, err
	}
	ev.ID = evID
	return revoked, nil
}

// DeleteUser, in one transaction with ev: marks the user deleted (at) and disabled, renames it
// to "<name>~deleted~<id>", drops its password hash (a deleted user can never log in again) and
// removes its role bindings, which are the user's own rows. It deletes or revokes nothing else:
// while a credential the user created is not revoked it is EConflict and writes nothing (the
// caller revokes them first, each audited, in the same WithTx: see RevokeCreated). It sets
// ev.ID. ENotFound for a missing or already deleted user.
func (s *Store) DeleteUser(ctx context.Context, userID int64, at time.Time, ev *keyward.Event) error {
	err := s.change(ctx, "delete user", ev, func(tx *txn) error {
		// Locked, so that no credential is created between the check and the commit.
		if err := lockCreator(ctx, tx, userID, true); err != nil {
			return err
		}
		ok, err := oneRow(tx.ExecContext(ctx, `UPDATE users SET disabled = TRUE, deleted_at = ?1, updated_at = ?1,
			name = name || '~deleted~' || id, password_hash = NULL
			WHERE id = ?2 AND deleted_at IS NULL`, at, userID))
		if err != nil {
			return err
		}
		if !ok {
			return keyward.Errorf(keyward.ENotFound, "user not found")
		}
		var live bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM credentials
			WHERE created_by = ? AND revoked_at IS NULL)`, userID).Scan(&live); err != nil {
			return err
		}
		if live {
			return keyward.Errorf(keyward.EConflict, "the user has credentials that are not revoked")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM role_bindings WHERE user_id = ?`, userID); err != nil {
			return err
		}
		tx.changed(userChanged, userID)
		return nil
	})
	return err
}

// RevokeCreated revokes at, in one transaction, the credentials rv.Select picks among those the
// user created that are not revoked yet (before and after are both the user's bindings), each
// with its rv.Event, and returns their ids, ascending. ENotFound for a missing or deleted user;
// then nothing is written and Select is not called.
func (s *Store) RevokeCreated(ctx context.Context, userID int64, at time.Time, rv keyward.Revocation) ([]int64, error) {
	var revoked []int64
	err := s.inTx(ctx, "revoke created", func(tx *txn) error {
		if err := lockCreator(ctx, tx, userID, rv.Select != nil); err != nil {
			return err
		}
		var live bool
		err := tx.QueryRowContext(ctx, `SELECT deleted_at IS NULL FROM users WHERE id = ?`, userID).Scan(&live)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !live) {
			return keyward.Errorf(keyward.ENotFound, "user not found")
		} else if err != nil {
			return err
		}
		bindings, err := bindingsIn(ctx, tx, userID, rv)
		if err != nil {
			return err
		}
		revoked, err = revokeSelected(ctx, tx, userID, at, bindings, bindings, rv)
		return err
	})
	if err != nil {
		return nil, err
	}
	return revoked, nil
}

// DeleteRoleBindingRevoking removes b and stores ev, and revokes at the credentials of b's
// user that rv.Select picks, each with its rv.Event, in one transaction; it sets ev.ID and
// returns the ids it revoked. ENotFound when b does not exist (a global binding is not a
// project's, nor the other way round).
func (s *Store) DeleteRoleBindingRevoking(ctx context.Context, b keyward.RoleBinding, at time.Time, ev *keyward.Event, rv keyward.Revocation) ([]int64, error) {
	var evID int64
	var revoked []int64
	err := s.inTx(ctx, "delete role binding", func(tx *txn) error {
		if err := lockCreator(ctx, tx, b.UserID, rv.Select != nil); err != nil {
			return err
		}
		before, err := bindingsIn(ctx, tx, b.UserID, rv)
		if err != nil {
			return err
		}
		ok, err := oneRow(tx.ExecContext(ctx, `DELETE FROM role_bindings
			WHERE user_id = ? AND COALESCE(project_id, 0) = ? AND role_id = ?`, b.UserID, b.ProjectID, b.RoleID))
		if err != nil {
			return err
		}
		if !ok {
			return keyward.Errorf(keyward.ENotFound, "role binding not found")
		}
		tx.changed(userChanged, b.UserID)
		if evID, err = insertEvent(ctx, tx, ev); err != nil {
			return err
		}
		after, err := bindingsIn(ctx, tx, b.UserID, rv)
		if err != nil {
			return err
		}
		revoked, err = revokeSelected(ctx, tx, b.UserID, at, before, after, rv)
		return err
	})
	if err != nil {
		return nil, err
	}
	ev.ID = evID
	return revoked, nil
}

// bindingsIn reads the user's role bindings in tx, as RoleBindings orders them, when rv will
// need them (it has a Select).
func bindingsIn(ctx context.Context, tx *txn, userID int64, rv keyward.Revocation) ([]keyward.RoleBinding, error) {
	if rv.Select == nil {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT user_id, COALESCE(project_id, 0), role_id FROM role_bindings
		WHERE user_id = ? ORDER BY COALESCE(project_id, 0), role_id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	bs := []keyward.RoleBinding{}
	for rows.Next() {
		var b keyward.RoleBinding
		if err := rows.Scan(&b.UserID, &b.ProjectID, &b.RoleID); err != nil {
			return nil, err
		}
		bs = append(bs, b)
	}
	return bs, rows.Err()
}

// lockCreator, when need is set, locks the user's row until tx ends (where the Dialect locks
// rows; SQLite's one writer serializes anyway). A new credential's foreign key to its creator
// takes a share lock on that row, so a credential being created commits before what follows
// lists the user's credentials, and none is created meanwhile: a change to the user cannot
// miss one.
func lockCreator(ctx context.Context, tx *txn, userID int64, need bool) error {
	lock := tx.forUpdate("")
	if !need || lock == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT 1 FROM users WHERE id = ?`+lock, userID)
	return err
}

// revokeSelected does a Revocation's work in tx: it lists what the user created and has not
// revoked, lets rv.Select pick, and revokes each pick at with its event. It returns the ids
// revoked, ascending.
func revokeSelected(ctx context.Context, tx *txn, userID int64, at time.Time, before, after []keyward.RoleBinding, rv keyward.Revocation) ([]int64, error) {
	if rv.Select == nil {
		return nil, nil
	}
	if rv.Event == nil {
		return nil, errors.New("sqlstore: a Revocation with a Select needs an Event: every revocation is audited")
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+tx.e.credentialColumns+credentialFrom+`
		WHERE c.created_by = ? AND c.revoked_at IS NULL ORDER BY c.id`+tx.forUpdate("c"), userID)
	if err != nil {
		return nil, err
	}
	var created []*keyward.Credential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		created = append(created, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	selected, err := rv.Select(slices.Clone(created), before, after)
	if err != nil {
		return nil, err // a refusal: the whole change rolls back
	}
	picked, err := picks(created, selected)
	if err != nil {
		return nil, err
	}
	var revoked []int64
	for _, c := range created {
		if !picked[c.ID] {
			continue
		}
		ok, err := revokeCredential(ctx, tx, c.ID, at)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		c.RevokedAt, c.UpdatedAt, c.Version = &at, at, c.Version+1
		ev := rv.Event(c)
		if ev == nil {
			return nil, fmt.Errorf("sqlstore: no event for the revocation of credential %d", c.ID)
		}
		if _, err := insertEvent(ctx, tx, ev); err != nil {
			return nil, err
		}
		revoked = append(revoked, c.ID)
	}
	return revoked, nil
}

// picks returns the ids of what a Select picked, each of which must be among created.
func picks(created, picked []*keyward.Credential) (map[int64]bool, error) {
	offered := make(map[int64]bool, len(created))
	for _, c := range created {
		offered[c.ID] = true
	}
	ids := make(map[int64]bool, len(picked))
	for _, p := range picked {
		if !offered[p.ID] {
			return nil, fmt.Errorf("sqlstore: a Revocation picked credential %d, which is not one it was offered", p.ID)
		}
		ids[p.ID] = true
	}
	return ids, nil
}

// revokeCredential revokes the credential id at, unless it is revoked already, bumping its
// version, and with it every certificate of it not revoked yet. It reports whether it did.
func revokeCredential(ctx context.Context, tx *txn, id int64, at time.Time) (bool, error) {
	ok, err := oneRow(tx.ExecContext(ctx, `UPDATE credentials SET revoked_at = ?1, updated_at = ?1, version = version + 1
		WHERE id = ?2 AND revoked_at IS NULL`, at, id))
	if err != nil || !ok {
		return false, err
	}
	tx.changed(credentialChanged, id)
	_, err = tx.ExecContext(ctx, `UPDATE certificates SET revoked_at = ? WHERE credential_id = ? AND revoked_at IS NULL`, at, id)
	return err == nil, err
}
