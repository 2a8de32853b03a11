package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"strconv"

	"github.com/keyward/keyward"
)

// userColumns selects a user without its password hash, which only PasswordHash returns.
const userColumns = `id, name, disabled, created_at, updated_at, deleted_at,
	COALESCE(password_hash, '') <> ''`

func scanUser(row interface{ Scan(...any) error }) (*keyward.User, error) {
	var u keyward.User
	var created, updated Time
	var deleted Time
	if err := row.Scan(&u.ID, &u.Name, &u.Disabled, &created, &updated, &deleted, &u.HasPassword); err != nil {
		return nil, err
	}
	u.CreatedAt = created.T
	u.UpdatedAt = updated.T
	u.DeletedAt = deleted.Ptr()
	return &u, nil
}

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// insertUser inserts u with its password hash ("" for none) and sets u.ID, u.HasPassword and,
// when zero, u.UpdatedAt (to u.CreatedAt); a new user is never deleted. EConflict when the
// name is taken.
func insertUser(ctx context.Context, tx *txn, u *keyward.User, passwordHash string) error {
	if err := keyward.CheckText(u, keyward.Text{Field: "password_hash", Value: passwordHash}); err != nil {
		return err
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	u.DeletedAt = nil
	u.HasPassword = passwordHash != ""
	err := tx.QueryRowContext(ctx, `INSERT INTO users (name, disabled, created_at, updated_at, password_hash)
		VALUES (?, ?, ?, ?, ?) RETURNING id`,
		u.Name, u.Disabled, u.CreatedAt, u.UpdatedAt, nullString(passwordHash)).Scan(&u.ID)
	if tx.isUnique(err) {
		return keyward.Errorf(keyward.EConflict, "user name already taken")
	}
	return err
}

// withDetailID returns ev with Detail[key] set to id, unless the caller set that key: the
// way an event records the id of a record the caller could not know before it was created.
// ev's own map is never modified.
func withDetailID(ev keyward.Event, key string, id int64) keyward.Event {
	if _, ok := ev.Detail[key]; ok {
		return ev
	}
	d := make(map[string]string, len(ev.Detail)+1)
	maps.Copy(d, ev.Detail)
	d[key] = strconv.FormatInt(id, 10)
	ev.Detail = d
	return ev
}

// oneRow reports whether an UPDATE or DELETE touched a row.
func oneRow(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// CreateUser stores u with its password hash ("" for none) and ev. It sets u.ID,
// u.HasPassword, u.UpdatedAt (to u.CreatedAt when zero) and ev.ID, and records the new id in
// ev.Detail["user_id"] unless the caller set that key. EConflict when the name is taken.
func (s *Store) CreateUser(ctx context.Context, u *keyward.User, passwordHash string, ev *keyward.Event) error {
	nu, nev := *u, *ev
	err := s.change(ctx, "create user", &nev, func(tx *txn) error {
		if err := insertUser(ctx, tx, &nu, passwordHash); err != nil {
			return err
		}
		nev = withDetailID(nev, "user_id", nu.ID)
		return nil
	})
	if err != nil {
		return err
	}
	*u, *ev = nu, nev
	return nil
}

// UserByID returns the user with id, a deleted one included (with DeletedAt set, Disabled
// true and its stored name "<name>~deleted~<id>"). ENotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (*keyward.User, error) {
	u, err := scanUser(s.reader().QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "user not found")
	}
	return u, s.fail(ctx, "user by id", err)
}

// UserByName returns the user named name that is not deleted. ENotFound.
func (s *Store) UserByName(ctx context.Context, name string) (*keyward.User, error) {
	if !keyward.ValidText(name) {
		return nil, keyward.Errorf(keyward.ENotFound, "user not found")
	}
	u, err := scanUser(s.reader().QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE name = ? AND deleted_at IS NULL`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "user not found")
	}
	return u, s.fail(ctx, "user by name", err)
}

// ListUsers returns the users that are not deleted by ascending id after f.AfterID, at most
// f.Limit (default 100, at most 1000).
func (s *Store) ListUsers(ctx context.Context, f keyward.UserFilter) ([]*keyward.User, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT `+userColumns+` FROM users
		WHERE id > ? AND deleted_at IS NULL ORDER BY id LIMIT ?`, f.AfterID, limit(f.Limit))
	us, err := scanRows(rows, err, scanUser)
	return us, s.fail(ctx, "list users", err)
}

// UpdateUser writes u.Disabled and u.UpdatedAt, and ev, and sets ev.ID. ENotFound for a
// missing or deleted user.
func (s *Store) UpdateUser(ctx context.Context, u *keyward.User, ev *keyward.Event) error {
	_, err := s.UpdateUserRevoking(ctx, u, ev, keyward.Revocation{})
	return err
}

// PasswordHash returns the user's password hash, "" when it has none. ENotFound for a
// missing or deleted user.
func (s *Store) PasswordHash(ctx context.Context, userID int64) (string, error) {
	var hash string
	err := s.reader().QueryRowContext(ctx, `SELECT COALESCE(password_hash, '') FROM users
		WHERE id = ? AND deleted_at IS NULL`, userID).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", keyward.Errorf(keyward.ENotFound, "user not found")
	}
	if err != nil {
		return "", s.fail(ctx, "password hash", err)
	}
	return hash, nil
}

// SetPasswordHash replaces the user's password hash ("" removes it), stores ev and sets ev.ID,
// and in the same transaction revokes the user's sessions as end says (see RevokeSessions),
// returning their ids. It changes nothing else of the user, updated_at included. ENotFound for
// a missing or deleted user; EInvalid without end.Event.
func (s *Store) SetPasswordHash(ctx context.Context, userID int64, hash string, ev *keyward.Event, end keyward.SessionEnd) ([]int64, error) {
	if end.Event == nil {
		return nil, keyward.Invalid("event", "required")
	}
	if err := keyward.CheckText(keyward.Text{Field: "password_hash", Value: hash}); err != nil {
		return nil, err
	}
	var evID int64
	var ids []int64
	err := s.inTx(ctx, "set password hash", func(tx *txn) error {
		ok, err := oneRow(tx.ExecContext(ctx, `UPDATE users SET password_hash = ?
			WHERE id = ? AND deleted_at IS NULL`, nullString(hash), userID))
		if err != nil {
			return err
		}
		if !ok {
			return keyward.Errorf(keyward.ENotFound, "user not found")
		}
		if evID, err = insertEvent(ctx, tx, ev); err != nil {
			return err
		}
		ids, err = revokeSessions(ctx, tx, userID, end)
		return err
	})
	if err != nil {
		return nil, err
	}
	ev.ID = evID
	return ids, nil
}
