package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// sessionEnd returns a SessionEnd at when that keeps keep, with a fresh event.
func (f *fixture) sessionEnd(when time.Time, keep int64) keyward.SessionEnd {
	ev := f.event("session.revoke")
	ev.Time = when
	ev.Detail = map[string]string{"reason": "test"}
	return keyward.SessionEnd{At: when, Keep: keep, Event: ev}
}

// sessions is a user's sessions in every state, and credentials that are not its live sessions.
type sessions struct {
	bob                                            *keyward.User
	live1, keep, live2                             *keyward.Credential // live sessions of bob
	revoked, expired, token, otherUsers, inProject *keyward.Credential // not to be touched
}

// newSessions creates bob's sessions (in the system project, as logins make them) and what
// must survive the end of his sessions: his revoked and expired sessions, his API token,
// carol's session. inProject is a live session of bob stored in another project: a store
// ends a user's sessions wherever they are.
func (f *fixture) newSessions(t *testing.T) *sessions {
	t.Helper()
	p := f.project(t, "acme")
	bob, carol := f.user(t, "bob", "bob-hash"), f.user(t, "carol", "carol-hash")
	session := func(u *keyward.User, mod func(*keyward.Credential)) func(*keyward.Credential) {
		return func(c *keyward.Credential) {
			c.CreatedBy, c.Type, c.RoleIDs, c.ExpiresAt = u.ID, keyward.Session, nil, ptr(at(12*time.Hour))
			if mod != nil {
				mod(c)
			}
		}
	}
	s := &sessions{bob: bob}
	s.live1, _ = f.credential(t, f.system, "s-live1", session(bob, nil))
	s.keep, _ = f.credential(t, f.system, "s-keep", session(bob, nil))
	s.revoked, _ = f.credential(t, f.system, "s-revoked", session(bob, func(c *keyward.Credential) { c.RevokedAt = ptr(t0) }))
	s.expired, _ = f.credential(t, f.system, "s-expired", session(bob, func(c *keyward.Credential) { c.ExpiresAt = ptr(at(30 * time.Second)) }))
	s.token, _ = f.credential(t, f.system, "bob-token", func(c *keyward.Credential) { c.CreatedBy = bob.ID })
	s.otherUsers, _ = f.credential(t, f.system, "s-carol", session(carol, nil))
	s.live2, _ = f.credential(t, f.system, "s-live2", session(bob, nil))
	s.inProject, _ = f.credential(t, p, "s-elsewhere", session(bob, nil))
	return s
}

// checkEnded fails t unless exactly the sessions in ended were revoked at when, each with its own
// copy of end's event, and the rest is as it was.
func (f *fixture) checkEnded(t *testing.T, s *sessions, ids []int64, ended []*keyward.Credential, end keyward.SessionEnd, eventsBefore int) {
	t.Helper()
	want := []int64{}
	for _, c := range ended {
		want = append(want, c.ID)
	}
	slices.Sort(want)
	if ids == nil || !slices.Equal(ids, want) {
		t.Fatalf("revoked ids = %v, want %v", ids, want)
	}
	for _, c := range []*keyward.Credential{s.live1, s.keep, s.live2, s.revoked, s.expired, s.token, s.otherUsers, s.inProject} {
		w := clone(c)
		if slices.Contains(ended, c) {
			w.RevokedAt, w.UpdatedAt, w.Version = ptr(end.At), end.At, c.Version+1
		}
		checkCredential(t, f.reread(t, c), w)
	}
	evs := f.events(t)
	if got, want := len(evs), eventsBefore+len(ended); got != want {
		t.Fatalf("%d events, want %d: one per revoked session", got, want)
	}
	sorted := slices.Clone(ended)
	slices.SortFunc(sorted, func(x, y *keyward.Credential) int { return int(x.ID - y.ID) })
	for i, c := range sorted {
		got := evs[len(sorted)-1-i] // newest first: the last session's event leads
		ev := *end.Event
		ev.ID, ev.CredentialID, ev.ProjectID = got.ID, c.ID, c.ProjectID
		checkEvent(t, got, &ev)
	}
	if end.Event.ID != 0 || end.Event.CredentialID != 0 || end.Event.ProjectID != 0 {
		t.Fatalf("the caller's event was modified: %+v", end.Event)
	}
}

func testRevokeSessions(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		s := f.newSessions(t)
		before := len(f.events(t))
		end := f.sessionEnd(at(time.Minute), s.keep.ID)
		ids, err := f.s.RevokeSessions(t.Context(), s.bob.ID, end)
		if err != nil {
			t.Fatalf("RevokeSessions: %v", err)
		}
		f.checkEnded(t, s, ids, []*keyward.Credential{s.live1, s.live2, s.inProject}, end, before)

		// A second call ends what the first kept; a third finds nothing and writes nothing.
		ids, err = f.s.RevokeSessions(t.Context(), s.bob.ID, f.sessionEnd(at(2*time.Minute), 0))
		if err != nil {
			t.Fatalf("RevokeSessions again: %v", err)
		}
		if !slices.Equal(ids, []int64{s.keep.ID}) {
			t.Fatalf("second RevokeSessions revoked %v, want only the one kept before", ids)
		}
		before = len(f.events(t))
		last := f.sessionEnd(at(3*time.Minute), 0)
		ids, err = f.s.RevokeSessions(t.Context(), s.bob.ID, last)
		if err != nil {
			t.Fatalf("RevokeSessions a third time: %v", err)
		}
		if ids == nil || len(ids) != 0 {
			t.Fatalf("third RevokeSessions revoked %v, want an empty slice", ids)
		}
		f.wantNoEvent(t, before, last.Event)
	})

	t.Run("NoneKept", func(t *testing.T) {
		f := setup(t, open)
		s := f.newSessions(t)
		before := len(f.events(t))
		end := f.sessionEnd(at(time.Minute), 0)
		ids, err := f.s.RevokeSessions(t.Context(), s.bob.ID, end)
		if err != nil {
			t.Fatalf("RevokeSessions: %v", err)
		}
		f.checkEnded(t, s, ids, []*keyward.Credential{s.live1, s.keep, s.live2, s.inProject}, end, before)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		bob := f.user(t, "bob", "hash")
		f.deleteUser(t, bob, at(time.Hour))
		for _, tc := range []struct {
			name string
			id   int64
		}{
			{"Missing", 999999},
			{"Deleted", bob.ID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := len(f.events(t))
				end := f.sessionEnd(at(2*time.Hour), 0)
				ids, err := f.s.RevokeSessions(t.Context(), tc.id, end)
				wantCode(t, err, keyward.ENotFound)
				if ids != nil {
					t.Fatalf("ids %v returned with the error", ids)
				}
				f.wantNoEvent(t, before, end.Event)
			})
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		f := setup(t, open)
		s := f.newSessions(t)
		before := len(f.events(t))
		_, err := f.s.RevokeSessions(t.Context(), s.bob.ID, keyward.SessionEnd{At: at(time.Minute)})
		wantCode(t, err, keyward.EInvalid)
		f.wantNoEvent(t, before, nil)
		checkCredential(t, f.reread(t, s.live1), s.live1)
	})
}

func testSetPasswordHashEndsSessions(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		s := f.newSessions(t)
		before := len(f.events(t))
		ev := f.event("user.password")
		end := f.sessionEnd(at(time.Minute), s.keep.ID)
		ids, err := f.s.SetPasswordHash(t.Context(), s.bob.ID, "new-hash", ev, end)
		if err != nil {
			t.Fatalf("SetPasswordHash: %v", err)
		}
		if got := f.passwordHash(t, s.bob.ID); got != "new-hash" {
			t.Fatalf("hash = %q, want new-hash", got)
		}
		// The password's event and one per session, all in the same transaction.
		f.checkEnded(t, s, ids, []*keyward.Credential{s.live1, s.live2, s.inProject}, end, before+1)
		evs := f.events(t)
		if ev.ID <= 0 {
			t.Fatalf("event ID = %d", ev.ID)
		}
		checkEvent(t, evs[3], ev)
	})

	t.Run("ErrNotFoundEndsNothing", func(t *testing.T) {
		f := setup(t, open)
		s := f.newSessions(t)
		before := len(f.events(t))
		end := f.sessionEnd(at(time.Minute), 0)
		_, err := f.s.SetPasswordHash(t.Context(), 999999, "new-hash", f.event("user.password"), end)
		wantCode(t, err, keyward.ENotFound)
		f.wantNoEvent(t, before, end.Event)
		checkCredential(t, f.reread(t, s.live1), s.live1)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		f := setup(t, open)
		s := f.newSessions(t)
		before := len(f.events(t))
		_, err := f.s.SetPasswordHash(t.Context(), s.bob.ID, "new-hash", f.event("user.password"), keyward.SessionEnd{At: at(time.Minute)})
		wantCode(t, err, keyward.EInvalid)
		f.wantNoEvent(t, before, nil)
		if got := f.passwordHash(t, s.bob.ID); got != "bob-hash" {
			t.Fatalf("hash = %q after a refused change, want bob-hash", got)
		}
	})
}
