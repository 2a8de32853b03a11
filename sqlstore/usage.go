package sqlstore

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/keyward/keyward"
)

// AddUsage adds counts to usage_hourly in one transaction (see keyward.UsageStore). The
// projects come from the credentials' rows, read first; a credential that does not exist is
// skipped, so a batch never fails for one. Rows are written in the order given: the authority
// sorts its batches, so that servers adding to the same rows lock them in one order.
func (s *Store) AddUsage(ctx context.Context, counts []keyward.UsageCount) error {
	if len(counts) == 0 {
		return nil
	}
	for i, c := range counts {
		if c.Count < 1 {
			return keyward.Invalid("counts["+strconv.Itoa(i)+"].count", "must be at least 1")
		}
		if c.Code == keyward.CodeNotFound || !slices.Contains(keyward.VerificationCodes, c.Code) {
			return keyward.Invalid("counts["+strconv.Itoa(i)+"].code", "must be a verification code of a credential")
		}
	}
	ids := make([]int64, 0, len(counts))
	for _, c := range counts {
		ids = append(ids, c.CredentialID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	return s.inTx(ctx, "add usage", func(tx *txn) error {
		// The projects of the credentials, in one read; a credential not there is not counted.
		rows, err := tx.QueryContext(ctx, `SELECT id, project_id FROM credentials WHERE id IN (`+s.e.d.IDList()+`)`, idsJSON(ids))
		pairs, err := scanRows(rows, err, func(row rowScanner) ([2]int64, error) {
			var p [2]int64
			return p, row.Scan(&p[0], &p[1])
		})
		if err != nil {
			return err
		}
		project := make(map[int64]int64, len(pairs))
		for _, p := range pairs {
			project[p[0]] = p[1]
		}
		stmt, err := tx.prepare(ctx, `INSERT INTO usage_hourly (credential_id, project_id, hour, code, count)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (credential_id, hour, code) DO UPDATE SET count = usage_hourly.count + excluded.count`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, c := range counts {
			p, ok := project[c.CredentialID]
			if !ok {
				continue
			}
			if _, err := stmt.ExecContext(ctx, c.CredentialID, p, c.Hour.UTC().Truncate(time.Hour), c.Code, c.Count); err != nil {
				return err
			}
		}
		return nil
	})
}

// Usage returns hourly counts as keyward.UsageStore says, summed in the query when f asks.
func (s *Store) Usage(ctx context.Context, f keyward.UsageFilter) ([]keyward.UsageCount, error) {
	if f.ProjectID <= 0 {
		return nil, keyward.Invalid("project_id", "required")
	}
	var cols, group, order string
	switch f.Sum {
	case keyward.UsageRows:
		cols, order = `credential_id, hour, code, count`, `hour, credential_id, code`
	case keyward.UsageByHour:
		cols, group, order = `0, hour, code, SUM(count)`, ` GROUP BY hour, code`, `hour, code`
	case keyward.UsageByCredential:
		cols, group, order = `credential_id, NULL, code, SUM(count)`, ` GROUP BY credential_id, code`, `credential_id, code`
	default:
		return nil, keyward.Invalid("sum", "must be \"\", hour or credential")
	}
	q := `SELECT ` + cols + ` FROM usage_hourly WHERE project_id = ?`
	args := []any{f.ProjectID}
	if f.CredentialID != 0 {
		q += ` AND credential_id = ?`
		args = append(args, f.CredentialID)
	}
	if !f.From.IsZero() {
		q += ` AND hour >= ?`
		args = append(args, f.From)
	}
	if !f.To.IsZero() {
		q += ` AND hour < ?`
		args = append(args, f.To)
	}
	q += group + ` ORDER BY ` + order
	rows, err := s.reader().QueryContext(ctx, q, args...)
	out, err := scanRows(rows, err, func(row rowScanner) (keyward.UsageCount, error) {
		c := keyward.UsageCount{ProjectID: f.ProjectID}
		var hour Time
		err := row.Scan(&c.CredentialID, &hour, &c.Code, &c.Count)
		c.Hour = hour.T
		return c, err
	})
	return out, s.fail(ctx, "usage", err)
}

// PruneUsage deletes the counts of hours before before (see keyward.UsageStore).
func (s *Store) PruneUsage(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, "prune usage", func(tx *txn) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM usage_hourly WHERE hour < ?`, before)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
