package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// UpdateUserRevoking writes u.Disabled and u.UpdatedAt and ev, and revokes at u.UpdatedAt the
// credentials rv.Select picks, each with its rv.Event, in one transaction; it sets ev.ID and
// returns the ids it revoked. ENotFound for a missing or deleted user.
func (s *Store) UpdateUserRevoking(ctx context.Context, u *keyward.User, ev *keyward.Event, rv keyward.Revocation) ([]int64, error) {
	var evID int64
	var revoked []int64
	err := s.inTx(ctx, "update user", func(tx pgx.Tx) error {
		if err := lockCreator(ctx, tx, u.ID, rv.Select != nil); err != nil {
			return err
		}
		ok, err := oneRow(tx.Exec(ctx, `UPDATE users SET disabled = $1, updated_at = $2
			WHERE id = $3 AND deleted_at IS NULL`, u.Disabled, ts(u.UpdatedAt), u.ID))
		if err != nil {
			return err
		}
		if !ok {
			return keyward.Errorf(keyward.ENotFound, "user not found")
		}
		if evID, err = insertEvent(ctx, tx, ev); err != nil {
			return err
		}
		bindings, err := bindingsIn(ctx, tx, u.ID, rv)
		if err != nil {
			return err
		}
		if revoked, err = revokeSelected(ctx, tx, u.ID, u.UpdatedAt, bindings, bindings, rv); err != nil {
			return err
		}
		return s.notify(ctx, tx, keyward.Invalidation{UserIDs: []int64{u.ID}, CredentialIDs: revoked})
	})
	if err != nil {
		return nil, err
	}
	ev.ID = evID
	return revoked, nil
}

// DeleteUserRevoking, in one transaction with ev: marks the user deleted (at) and disabled,
// renames it to "<name>~deleted~<id>", drops its password hash (a deleted user can never log
// in again) and removes its role bindings; then revokes at the credentials rv.Select picks,
// each with its rv.Event, and every other credential the user created that is not revoked
// yet, without an event, moving their updated_at to at and bumping their versions; their
// certificates not yet revoked are revoked at the same instant. It sets ev.ID and returns
// every id it revoked, ascending. ENotFound for a missing or already deleted user.
func (s *Store) DeleteUserRevoking(ctx context.Context, userID int64, at time.Time, ev *keyward.Event, rv keyward.Revocation) ([]int64, error) {
	var evID int64
	var revoked []int64
	err := s.inTx(ctx, "delete user", func(tx pgx.Tx) error {
		// Always locked here: the sweep below must see every credential committed before it.
		if err := lockCreator(ctx, tx, userID, true); err != nil {
			return err
		}
		before, err := bindingsIn(ctx, tx, userID, rv)
		if err != nil {
			return err
		}
		t := ts(at)
		ok, err := oneRow(tx.Exec(ctx, `UPDATE users SET disabled = true, deleted_at = $1, updated_at = $1,
			name = name || '~deleted~' || id, password_hash = NULL
			WHERE id = $2 AND deleted_at IS NULL`, t, userID))
		if err != nil {
			return err
		}
		if !ok {
			return keyward.Errorf(keyward.ENotFound, "user not found")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM role_bindings WHERE user_id = $1`, userID); err != nil {
			return err
		}
		if evID, err = insertEvent(ctx, tx, ev); err != nil {
			return err
		}
		if revoked, err = revokeSelected(ctx, tx, userID, at, before, []keyward.RoleBinding{}, rv); err != nil {
			return err
		}
		// A deleted user keeps no live credential, whatever Select picked. Credentials first:
		// a roll that commits meanwhile is waited for, and its new certificate then revoked.
		rows, err := tx.Query(ctx, `UPDATE credentials SET revoked_at = $1, updated_at = $1, version = version + 1
			WHERE created_by = $2 AND revoked_at IS NULL RETURNING id`, t, userID)
		if err != nil {
			return err
		}
		rest, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE certificates SET revoked_at = $1 WHERE revoked_at IS NULL
			AND credential_id = ANY($2)`, t, rest); err != nil {
			return err
		}
		revoked = append(revoked, rest...)
		slices.Sort(revoked)
		return s.notify(ctx, tx, keyward.Invalidation{UserIDs: []int64{userID}, CredentialIDs: revoked})
	})
	if err != nil {
		return nil, err
	}
	ev.ID = evID
	return revoked, nil
}

// DeleteRoleBindingRevoking removes b and stores ev, and revokes at the credentials of b's
// user that rv.Select picks, each with its rv.Event, in one transaction; it sets ev.ID and
// returns the ids it revoked. ENotFound when b does not exist (a global binding is not a
// project's, nor the other way round).
func (s *Store) DeleteRoleBindingRevoking(ctx context.Context, b keyward.RoleBinding, at time.Time, ev *keyward.Event, rv keyward.Revocation) ([]int64, error) {
	var evID int64
	var revoked []int64
	err := s.inTx(ctx, "delete role binding", func(tx pgx.Tx) error {
		if err := lockCreator(ctx, tx, b.UserID, rv.Select != nil); err != nil {
			return err
		}
		before, err := bindingsIn(ctx, tx, b.UserID, rv)
		if err != nil {
			return err
		}
		ok, err := oneRow(tx.Exec(ctx, `DELETE FROM role_bindings
			WHERE user_id = $1 AND COALESCE(project_id, 0) = $2 AND role_id = $3`, b.UserID, b.ProjectID, b.RoleID))
		if err != nil {
			return err
		}
		if !ok {
			return keyward.Errorf(keyward.ENotFound, "role binding not found")
		}
		if evID, err = insertEvent(ctx, tx, ev); err != nil {
			return err
		}
		after, err := bindingsIn(ctx, tx, b.UserID, rv)
		if err != nil {
			return err
		}
		if revoked, err = revokeSelected(ctx, tx, b.UserID, at, before, after, rv); err != nil {
			return err
		}
		return s.notify(ctx, tx, keyward.Invalidation{UserIDs: []int64{b.UserID}, CredentialIDs: revoked})
	})
	if err != nil {
		return nil, err
	}
	ev.ID = evID
	return revoked, nil
}

// lockCreator, when need is set, locks the user's row until tx ends. A new credential's
// foreign key to its creator takes a share lock on that row, so a credential being created
// commits before what follows lists the user's credentials, and none is created meanwhile: a
// change to the user cannot miss one.
func lockCreator(ctx context.Context, tx pgx.Tx, userID int64, need bool) error {
	if !need {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, userID)
	return err
}

// bindingsIn reads the user's role bindings in tx, as RoleBindings orders them, when rv will
// need them (it has a Select).
func bindingsIn(ctx context.Context, tx pgx.Tx, userID int64, rv keyward.Revocation) ([]keyward.RoleBinding, error) {
	if rv.Select == nil {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `SELECT user_id, COALESCE(project_id, 0), role_id FROM role_bindings
		WHERE user_id = $1 ORDER BY COALESCE(project_id, 0), role_id`, userID)
	if err != nil {
		return nil, err
	}
	bs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.RoleBinding, error) {
		var b keyward.RoleBinding
		err := row.Scan(&b.UserID, &b.ProjectID, &b.RoleID)
		return b, err
	})
	if err != nil {
		return nil, err
	}
	if bs == nil {
		bs = []keyward.RoleBinding{}
	}
	return bs, nil
}

// revokeSelected does a Revocation's work in tx: it lists what the user created and has not
// revoked, locking those rows in id order, lets rv.Select pick, and revokes each pick at with
// its event. It returns the ids revoked, ascending.
func revokeSelected(ctx context.Context, tx pgx.Tx, userID int64, at time.Time, before, after []keyward.RoleBinding, rv keyward.Revocation) ([]int64, error) {
	if rv.Select == nil {
		return nil, nil
	}
	if rv.Event == nil {
		return nil, errors.New("postgres: a Revocation with a Select needs an Event: every revocation is audited")
	}
	rows, err := tx.Query(ctx, `SELECT `+credentialColumns+credentialFrom+`
		WHERE c.created_by = $1 AND c.revoked_at IS NULL ORDER BY c.id FOR UPDATE OF c`, userID)
	if err != nil {
		return nil, err
	}
	created, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*keyward.Credential, error) {
		return scanCredential(row)
	})
	if err != nil {
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
			return nil, fmt.Errorf("postgres: no event for the revocation of credential %d", c.ID)
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
			return nil, fmt.Errorf("postgres: a Revocation picked credential %d, which is not one it was offered", p.ID)
		}
		ids[p.ID] = true
	}
	return ids, nil
}

// revokeCredential revokes the credential id at, unless it is revoked already, bumping its
// version, and then every certificate of it not revoked yet: credential first, so that a roll
// committing meanwhile is waited for and its new certificate revoked too. It reports whether
// it revoked.
func revokeCredential(ctx context.Context, tx pgx.Tx, id int64, at time.Time) (bool, error) {
	ok, err := oneRow(tx.Exec(ctx, `UPDATE credentials SET revoked_at = $1, updated_at = $1, version = version + 1
		WHERE id = $2 AND revoked_at IS NULL`, ts(at), id))
	if err != nil || !ok {
		return false, err
	}
	_, err = tx.Exec(ctx, `UPDATE certificates SET revoked_at = $1 WHERE credential_id = $2 AND revoked_at IS NULL`, ts(at), id)
	return err == nil, err
}
