package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// Setting returns the value of the server setting key (never nil). ENotFound.
func (s *Store) Setting(ctx context.Context, key string) ([]byte, error) {
	if !keyward.ValidText(key) {
		return nil, keyward.Errorf(keyward.ENotFound, "setting not found")
	}
	var v []byte
	err := s.reader().QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENotFound, "setting not found")
	}
	if err != nil {
		return nil, s.fail(ctx, "setting", err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// PutSetting creates or replaces the setting key and, when ev is not nil, stores ev and sets
// ev.ID; with a nil ev no event is written.
func (s *Store) PutSetting(ctx context.Context, key string, value []byte, ev *keyward.Event) error {
	if err := keyward.CheckText(keyward.Text{Field: "key", Value: key}); err != nil {
		return err
	}
	return s.change(ctx, "put setting", ev, func(tx *txn) error {
		if err := putSetting(ctx, tx, key, value); err != nil {
			return err
		}
		return nil
	})
}

func putSetting(ctx context.Context, tx *txn, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
		ON CONFLICT (key) DO UPDATE SET value = ?2, updated_at = ?3`, key, value, time.Now())
	return err
}

// Reseal rewrites through fn, in one transaction, every sealed value the store holds: the
// settings named in keys that exist ("setting:<key>", each key once, in the order given), the
// clusters' client CAs ("cluster", by id), the sealed secrets ("secret", by credential id
// and digest) and the webhook endpoints' signing secrets ("webhook", by id). It then stores ev when it is not nil and sets ev.ID. An error from fn, or an
// empty result (no sealed value is empty), rolls everything back; Reseal returns fn's error
// wrapped, or as it is when it is a *keyward.Error.
func (s *Store) Reseal(ctx context.Context, keys []string, fn func(label string, blob []byte) ([]byte, error), ev *keyward.Event) error {
	if fn == nil {
		return keyward.Errorf(keyward.EInvalid, "reseal needs a function")
	}
	return s.change(ctx, "reseal", ev, func(tx *txn) error {
		// reseal runs fn on one blob and checks what it returns.
		reseal := func(label string, blob []byte) ([]byte, error) {
			out, err := fn(label, blob)
			var ke *keyward.Error
			switch {
			case errors.As(err, &ke):
				return nil, err
			case err != nil:
				return nil, fmt.Errorf("%s: %w", label, err)
			case len(out) == 0:
				return nil, fmt.Errorf("%s: the new sealed value is empty", label)
			}
			return out, nil
		}

		seen := map[string]bool{}
		for _, key := range keys {
			if seen[key] {
				continue
			}
			seen[key] = true
			var v []byte
			err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`+tx.forUpdate(""), key).Scan(&v)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			out, err := reseal("setting:"+key, v)
			if err != nil {
				return err
			}
			if err := putSetting(ctx, tx, key, out); err != nil {
				return err
			}
		}

		// Read each table whole before writing it, so no cursor is open over rows being changed.
		type blobRow struct {
			key  any
			blob []byte
		}
		read := func(q string) ([]blobRow, error) {
			rows, err := tx.QueryContext(ctx, q)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out []blobRow
			for rows.Next() {
				var r blobRow
				if err := rows.Scan(&r.key, &r.blob); err != nil {
					return nil, err
				}
				out = append(out, r)
			}
			return out, rows.Err()
		}
		for _, table := range []struct{ label, read, write string }{
			{"cluster", `SELECT id, client_ca FROM clusters WHERE client_ca IS NOT NULL ORDER BY id` + tx.forUpdate(""),
				`UPDATE clusters SET client_ca = ? WHERE id = ?`},
			{"secret", `SELECT digest, sealed FROM credential_secrets WHERE sealed IS NOT NULL ORDER BY credential_id, digest` + tx.forUpdate(""),
				`UPDATE credential_secrets SET sealed = ? WHERE digest = ?`},
			{"webhook", `SELECT id, secret FROM webhook_endpoints ORDER BY id` + tx.forUpdate(""),
				`UPDATE webhook_endpoints SET secret = ? WHERE id = ?`},
		} {
			rows, err := read(table.read)
			if err != nil {
				return err
			}
			for _, r := range rows {
				out, err := reseal(table.label, r.blob)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, table.write, out, r.key); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// CreateSetting implements keyward.Store: an insert that does nothing when the key exists.
func (s *Store) CreateSetting(ctx context.Context, key string, value []byte, ev *keyward.Event) error {
	if err := keyward.CheckText(keyward.Text{Field: "key", Value: key}); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	return s.change(ctx, "create setting", ev, func(tx *txn) error {
		ok, err := oneRow(tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
			ON CONFLICT (key) DO NOTHING`, key, value, time.Now()))
		if err != nil {
			return err
		}
		if !ok {
			return keyward.Errorf(keyward.EConflict, "setting %q exists", key)
		}
		return nil
	})
}
