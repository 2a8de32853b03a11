package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// This file checks keyward.UsageStore: hourly counts add up, belong to the credential's own
// project, are selected and summed by project, credential and window alike on every engine,
// and are pruned by hour; and CredentialFilter.IdleSince, which the usage report's unused keys
// come from.

// usageRows reads f's counts, failing t on an error.
func (f *fixture) usageRows(t *testing.T, uf keyward.UsageFilter) []keyward.UsageCount {
	t.Helper()
	rows, err := f.s.Usage(t.Context(), uf)
	if err != nil {
		t.Fatalf("Usage(%+v): %v", uf, err)
	}
	return rows
}

func testUsage(t *testing.T, open func(t *testing.T) keyward.Store) {
	h0 := t0.Truncate(time.Hour)
	h := func(n int) time.Time { return h0.Add(time.Duration(n) * time.Hour) }
	count := func(id int64, hour time.Time, code string, n int64) keyward.UsageCount {
		return keyward.UsageCount{CredentialID: id, Hour: hour, Code: code, Count: n}
	}

	t.Run("AddAndRead", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		a, _ := f.credential(t, p, "a", nil)
		b, _ := f.credential(t, p, "b", nil)
		other, _ := f.credential(t, f.system, "other", nil)
		before := len(f.events(t))
		// Two batches add up; an hour given mid-hour counts in its hour; ProjectID is not
		// read (the credential's project is stored); an unknown credential is dropped.
		first := []keyward.UsageCount{
			count(a.ID, h(0), keyward.CodeValid, 3),
			count(a.ID, h(0).Add(59*time.Minute), keyward.CodeRateLimited, 1),
			{CredentialID: b.ID, ProjectID: f.system.ID, Hour: h(1), Code: keyward.CodeValid, Count: 2},
			count(other.ID, h(0), keyward.CodeExpired, 5),
			count(999999, h(0), keyward.CodeValid, 7),
		}
		second := []keyward.UsageCount{
			count(a.ID, h(0).Add(30*time.Second), keyward.CodeValid, 4),
			count(b.ID, h(2), keyward.CodeForbidden, 1),
		}
		for _, batch := range [][]keyward.UsageCount{first, second} {
			if err := f.s.AddUsage(t.Context(), batch); err != nil {
				t.Fatalf("AddUsage: %v", err)
			}
		}
		if got := len(f.events(t)); got != before {
			t.Fatalf("%d events after AddUsage, want %d: usage is not a change", got, before)
		}
		want := []keyward.UsageCount{
			{CredentialID: a.ID, ProjectID: p.ID, Hour: h(0), Code: keyward.CodeRateLimited, Count: 1},
			{CredentialID: a.ID, ProjectID: p.ID, Hour: h(0), Code: keyward.CodeValid, Count: 7},
			{CredentialID: b.ID, ProjectID: p.ID, Hour: h(1), Code: keyward.CodeValid, Count: 2},
			{CredentialID: b.ID, ProjectID: p.ID, Hour: h(2), Code: keyward.CodeForbidden, Count: 1},
		}
		for _, tc := range []struct {
			name string
			f    keyward.UsageFilter
			want []keyward.UsageCount
		}{
			{"Project", keyward.UsageFilter{ProjectID: p.ID}, want},
			{"Credential", keyward.UsageFilter{ProjectID: p.ID, CredentialID: b.ID}, want[2:]},
			{"CredentialOfAnotherProject", keyward.UsageFilter{ProjectID: p.ID, CredentialID: other.ID}, []keyward.UsageCount{}},
			{"From", keyward.UsageFilter{ProjectID: p.ID, From: h(1)}, want[2:]},
			{"To", keyward.UsageFilter{ProjectID: p.ID, To: h(1)}, want[:2]},
			{"Window", keyward.UsageFilter{ProjectID: p.ID, From: h(1), To: h(2)}, want[2:3]},
			{"OtherProject", keyward.UsageFilter{ProjectID: f.system.ID},
				[]keyward.UsageCount{{CredentialID: other.ID, ProjectID: f.system.ID, Hour: h(0), Code: keyward.CodeExpired, Count: 5}}},
			{"ByHour", keyward.UsageFilter{ProjectID: p.ID, Sum: keyward.UsageByHour}, []keyward.UsageCount{
				{ProjectID: p.ID, Hour: h(0), Code: keyward.CodeRateLimited, Count: 1},
				{ProjectID: p.ID, Hour: h(0), Code: keyward.CodeValid, Count: 7},
				{ProjectID: p.ID, Hour: h(1), Code: keyward.CodeValid, Count: 2},
				{ProjectID: p.ID, Hour: h(2), Code: keyward.CodeForbidden, Count: 1},
			}},
			{"ByCredential", keyward.UsageFilter{ProjectID: p.ID, Sum: keyward.UsageByCredential}, []keyward.UsageCount{
				{CredentialID: a.ID, ProjectID: p.ID, Code: keyward.CodeRateLimited, Count: 1},
				{CredentialID: a.ID, ProjectID: p.ID, Code: keyward.CodeValid, Count: 7},
				{CredentialID: b.ID, ProjectID: p.ID, Code: keyward.CodeForbidden, Count: 1},
				{CredentialID: b.ID, ProjectID: p.ID, Code: keyward.CodeValid, Count: 2},
			}},
			{"ByCredentialInWindow", keyward.UsageFilter{ProjectID: p.ID, From: h(1), Sum: keyward.UsageByCredential}, []keyward.UsageCount{
				{CredentialID: b.ID, ProjectID: p.ID, Code: keyward.CodeForbidden, Count: 1},
				{CredentialID: b.ID, ProjectID: p.ID, Code: keyward.CodeValid, Count: 2},
			}},
			{"NothingMatches", keyward.UsageFilter{ProjectID: p.ID, From: h(10)}, []keyward.UsageCount{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := f.usageRows(t, tc.f)
				if got == nil {
					t.Fatal("Usage returned nil, want an empty slice")
				}
				for _, c := range got {
					if c.Hour.Location() != time.UTC {
						t.Fatalf("hour %v is not UTC", c.Hour)
					}
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("Usage(%+v) =\n%+v\nwant\n%+v", tc.f, got, tc.want)
				}
			})
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		f := setup(t, open)
		c, _ := f.credential(t, f.system, "k", nil)
		for _, tc := range []struct {
			name  string
			batch []keyward.UsageCount
		}{
			{"NotFoundCode", []keyward.UsageCount{count(c.ID, h(0), keyward.CodeNotFound, 1)}},
			{"UnknownCode", []keyward.UsageCount{count(c.ID, h(0), "SOMETHING", 1)}},
			{"ZeroCount", []keyward.UsageCount{count(c.ID, h(0), keyward.CodeValid, 0)}},
			{"NegativeCount", []keyward.UsageCount{count(c.ID, h(0), keyward.CodeValid, -3)}},
			{"NUL", []keyward.UsageCount{count(c.ID, h(0), "VALID\x00", 1)}},
			// The bad row comes last: nothing of the batch is written.
			{"AfterAGoodOne", []keyward.UsageCount{count(c.ID, h(0), keyward.CodeValid, 1), count(c.ID, h(0), "", 1)}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantCode(t, f.s.AddUsage(t.Context(), tc.batch), keyward.EInvalid)
				if got := f.usageRows(t, keyward.UsageFilter{ProjectID: f.system.ID}); len(got) != 0 {
					t.Fatalf("a refused batch wrote %+v", got)
				}
			})
		}
		for _, uf := range []keyward.UsageFilter{{}, {ProjectID: f.system.ID, Sum: "minute"}} {
			_, err := f.s.Usage(t.Context(), uf)
			wantCode(t, err, keyward.EInvalid)
		}
		if err := f.s.AddUsage(t.Context(), nil); err != nil {
			t.Fatalf("AddUsage(nil): %v", err)
		}
	})

	t.Run("InTx", func(t *testing.T) {
		// The authority writes last_used_at and the counts in one transaction: a rollback
		// drops both.
		f := setup(t, open)
		c, _ := f.credential(t, f.system, "k", nil)
		boom := keyward.Errorf(keyward.EConflict, "rolled back on purpose")
		err := f.s.WithTx(t.Context(), func(tx keyward.Store) error {
			if err := tx.TouchCredentials(t.Context(), map[int64]time.Time{c.ID: h(0)}); err != nil {
				return err
			}
			if err := tx.AddUsage(t.Context(), []keyward.UsageCount{count(c.ID, h(0), keyward.CodeValid, 1)}); err != nil {
				return err
			}
			if got := len(f.usageRowsIn(t, tx, keyward.UsageFilter{ProjectID: f.system.ID})); got != 1 {
				t.Errorf("the transaction sees %d rows of its own, want 1", got)
			}
			return boom
		})
		if err != boom {
			t.Fatalf("WithTx = %v, want the function's error", err)
		}
		if got := f.usageRows(t, keyward.UsageFilter{ProjectID: f.system.ID}); len(got) != 0 {
			t.Fatalf("a rolled back transaction left %+v", got)
		}
		if got := f.reread(t, c).LastUsedAt; got != nil {
			t.Fatalf("a rolled back transaction left last_used_at %v", got)
		}
	})

	t.Run("Prune", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		a, _ := f.credential(t, p, "a", nil)
		b, _ := f.credential(t, f.system, "b", nil)
		if err := f.s.AddUsage(t.Context(), []keyward.UsageCount{
			count(a.ID, h(0), keyward.CodeValid, 1), count(a.ID, h(1), keyward.CodeValid, 1),
			count(a.ID, h(2), keyward.CodeExpired, 1), count(b.ID, h(0), keyward.CodeValid, 1),
		}); err != nil {
			t.Fatal(err)
		}
		n, err := f.s.PruneUsage(t.Context(), h(1))
		if err != nil || n != 2 {
			t.Fatalf("PruneUsage = %d, %v; want 2 rows (one per project)", n, err)
		}
		got := f.usageRows(t, keyward.UsageFilter{ProjectID: p.ID})
		if len(got) != 2 || !got[0].Hour.Equal(h(1)) {
			t.Fatalf("after pruning before %v: %+v", h(1), got)
		}
		if n, err := f.s.PruneUsage(t.Context(), h(1)); err != nil || n != 0 {
			t.Fatalf("pruning again = %d, %v; want 0", n, err)
		}
	})

	t.Run("IdleSince", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		old, _ := f.credential(t, p, "old", nil)                                                               // created at t0, never used
		recent, _ := f.credential(t, p, "recent", func(c *keyward.Credential) { c.CreatedAt = at(time.Hour) }) // too young
		usedLongAgo, _ := f.credential(t, p, "used-long-ago", nil)
		usedNow, _ := f.credential(t, p, "used-now", nil)
		revoked, _ := f.credential(t, p, "revoked", func(c *keyward.Credential) { c.RevokedAt = ptr(t0) })
		if err := f.s.TouchCredentials(t.Context(), map[int64]time.Time{usedLongAgo.ID: at(time.Minute), usedNow.ID: at(2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		_ = recent
		for _, tc := range []struct {
			name       string
			since      time.Time
			notRevoked bool
			want       []int64
		}{
			{"BeforeAll", at(-time.Minute), false, []int64{}},
			{"AtCreation", t0, true, []int64{old.ID}}, // at or before: inclusive
			{"AfterFirstUse", at(time.Minute), true, []int64{old.ID, usedLongAgo.ID}},
			{"RevokedToo", at(time.Minute), false, []int64{old.ID, usedLongAgo.ID, revoked.ID}},
			{"Later", at(90 * time.Minute), true, []int64{old.ID, recent.ID, usedLongAgo.ID}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cs, err := f.s.ListCredentials(t.Context(), keyward.CredentialFilter{ProjectID: p.ID, IdleSince: tc.since, NotRevoked: tc.notRevoked})
				if err != nil {
					t.Fatal(err)
				}
				got := []int64{}
				for _, c := range cs {
					got = append(got, c.ID)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("IdleSince %v: ids %v, want %v", tc.since, got, tc.want)
				}
			})
		}
	})
}

// usageRowsIn reads counts through the store tx of a WithTx.
func (f *fixture) usageRowsIn(t *testing.T, tx keyward.Store, uf keyward.UsageFilter) []keyward.UsageCount {
	t.Helper()
	rows, err := tx.Usage(t.Context(), uf)
	if err != nil {
		t.Fatalf("Usage in a transaction: %v", err)
	}
	return rows
}
