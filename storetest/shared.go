package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// testConcurrentUse runs writers and readers on two stores on one database at once, as two
// keyward servers (or processes) would: concurrent creates, lookups and touches never fail
// (no busy database, no deadlock surfaces), and each store sees the other's writes.
func testConcurrentUse(t *testing.T, open func(t *testing.T) (keyward.Store, keyward.Store)) {
	a, b := open(t)
	if a == nil || b == nil {
		t.Fatal("open returned a nil store")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	ctx := t.Context()
	boot := newBootstrap("")
	if err := a.Bootstrap(ctx, boot); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	const workers, rounds = 8, 10
	errs := make(chan error, workers*rounds*4)
	var wg sync.WaitGroup
	for w := range workers {
		st, other := a, b
		if w%2 == 1 {
			st, other = b, a
		}
		wg.Go(func() {
			for i := range rounds {
				now := time.Now()
				c := &keyward.Credential{ProjectID: boot.Project.ID, Name: fmt.Sprintf("w%d-%d", w, i),
					Type: keyward.APIToken, Environment: keyward.Live, KeyType: keyward.Secret,
					CreatedBy: boot.Admin.ID, Active: true, CreatedAt: now, UpdatedAt: now}
				sec := &keyward.CredentialSecret{Digest: []byte(c.Name)}
				if err := st.CreateCredential(ctx, c, sec, &keyward.Event{Action: "create", Outcome: keyward.OutcomeSuccess}); err != nil {
					errs <- err
					continue
				}
				if _, _, err := other.CredentialBySecret(ctx, sec.Digest); err != nil {
					errs <- fmt.Errorf("the other store: %w", err)
				}
				if err := st.TouchCredentials(ctx, map[int64]time.Time{c.ID: now, boot.Credential.ID: now}); err != nil {
					errs <- err
				}
				if _, err := st.ListEvents(ctx, keyward.EventFilter{Limit: 10}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent use: %v", err)
	}
	cs, err := b.ListCredentials(ctx, keyward.CredentialFilter{ProjectID: boot.Project.ID, Limit: 1000})
	if err != nil {
		t.Fatalf("ListCredentials: %v", err)
	}
	if got, want := len(cs), workers*rounds+1; got != want {
		t.Fatalf("%d credentials, want %d", got, want)
	}
}

// OwnKeysMigrated checks a store opened on a database that schema version 4 made and that
// holds, in project 1, credential 1 (created by user 1, with a credential.create event that
// says own_key), credential 2 (created by user 2, whose successful credential.create event does
// not say own_key, and a denied attempt that does) and credential 3 (an ordinary event):
// migration 0005 must mark exactly credential 1 as an own key, whatever the names say.
func OwnKeysMigrated(t *testing.T, s keyward.Store) {
	t.Helper()
	for id, want := range map[int64]string{1: keyward.PurposeOwnKey, 2: "", 3: ""} {
		c, err := s.CredentialByID(t.Context(), 1, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Purpose != want {
			t.Errorf("credential %d (%s): purpose %q after migrating, want %q", id, c.Name, c.Purpose, want)
		}
	}
}

// Must returns s, the store an engine's Open returned with err, and closes it when tb ends; it
// fails tb when err is not nil.
func Must[S keyward.Store](tb testing.TB, s S, err error) S {
	tb.Helper()
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// testClosed: a closed store (Close may be called twice) answers EUnavailable.
func testClosed(t *testing.T, open func(t *testing.T) keyward.Store) {
	s := open(t)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := s.ProjectByID(t.Context(), 1)
	wantCode(t, err, keyward.EUnavailable)
	wantCode(t, s.Ping(t.Context()), keyward.EUnavailable)
	_, _, err = s.CredentialBySecret(t.Context(), []byte("digest"))
	wantCode(t, err, keyward.EUnavailable)
	wantCode(t, s.AppendEvent(t.Context(), &keyward.Event{Action: "x", Outcome: keyward.OutcomeSuccess}), keyward.EUnavailable)
}

// testDeadline: a call whose deadline has passed is ETimeout.
func testDeadline(t *testing.T, open func(t *testing.T) keyward.Store) {
	s := openStore(t, open)
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	_, err := s.ProjectByID(ctx, 1)
	wantCode(t, err, keyward.ETimeout)
	wantCode(t, s.AppendEvent(ctx, &keyward.Event{Action: "x", Outcome: keyward.OutcomeSuccess}), keyward.ETimeout)
}
