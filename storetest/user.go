package storetest

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// user creates an enabled user at t0 with the password hash ("" for none).
func (f *fixture) user(t *testing.T, name, hash string) *keyward.User {
	t.Helper()
	u := &keyward.User{Name: name, CreatedAt: t0}
	if err := f.s.CreateUser(t.Context(), u, hash, f.event("user.create")); err != nil {
		t.Fatalf("CreateUser(%q): %v", name, err)
	}
	return u
}

// deleteUser deletes u at when as the authority does: what u created revoked first (each with
// an event), then u, in one transaction.
func (f *fixture) deleteUser(t *testing.T, u *keyward.User, when time.Time) {
	t.Helper()
	ctx := t.Context()
	err := f.s.WithTx(ctx, func(tx keyward.Store) error {
		all := newRecorder(func(*keyward.Credential) bool { return true })
		if _, err := tx.RevokeCreated(ctx, u.ID, when, all.revocation(f, when)); err != nil {
			return err
		}
		return tx.DeleteUser(ctx, u.ID, when, f.event("user.delete"))
	})
	if err != nil {
		t.Fatalf("delete user %q: %v", u.Name, err)
	}
}

// rereadUser returns the stored user id.
func (f *fixture) rereadUser(t *testing.T, id int64) *keyward.User {
	t.Helper()
	u, err := f.s.UserByID(t.Context(), id)
	if err != nil {
		t.Fatalf("UserByID(%d): %v", id, err)
	}
	return u
}

// passwordHash returns the stored hash of user id.
func (f *fixture) passwordHash(t *testing.T, id int64) string {
	t.Helper()
	h, err := f.s.PasswordHash(t.Context(), id)
	if err != nil {
		t.Fatalf("PasswordHash(%d): %v", id, err)
	}
	return h
}

// wantNoEvent fails t unless the store still holds n events and ev, the event of a failed
// mutation, got no id.
func (f *fixture) wantNoEvent(t *testing.T, n int, ev *keyward.Event) {
	t.Helper()
	if got, want := len(f.events(t)), n; got != want {
		t.Fatalf("%d events after a failed mutation, want %d", got, want)
	}
	if ev != nil && ev.ID != 0 {
		t.Fatalf("failed mutation set event ID %d", ev.ID)
	}
}

// wantNewestEvent fails t unless ev has an id and is the newest stored event.
func (f *fixture) wantNewestEvent(t *testing.T, ev *keyward.Event) {
	t.Helper()
	if ev.ID <= 0 {
		t.Fatalf("event ID = %d, want > 0", ev.ID)
	}
	checkEvent(t, f.events(t)[0], ev)
}

// deletedName is the name a deleted user is stored under.
func deletedName(name string, id int64) string {
	return name + "~deleted~" + strconv.FormatInt(id, 10)
}

// checkUser fails t when got differs from want.
func checkUser(t *testing.T, got, want *keyward.User) {
	t.Helper()
	var d []string
	add := func(name string, g, w any) { d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w)) }
	if got.ID != want.ID {
		add("ID", got.ID, want.ID)
	}
	if got.Name != want.Name {
		add("Name", got.Name, want.Name)
	}
	if got.Disabled != want.Disabled {
		add("Disabled", got.Disabled, want.Disabled)
	}
	if got.HasPassword != want.HasPassword {
		add("HasPassword", got.HasPassword, want.HasPassword)
	}
	for _, tf := range []struct {
		name      string
		got, want *time.Time
	}{
		{"CreatedAt", &got.CreatedAt, &want.CreatedAt},
		{"UpdatedAt", &got.UpdatedAt, &want.UpdatedAt},
		{"DeletedAt", got.DeletedAt, want.DeletedAt},
	} {
		if !sameTime(tf.got, tf.want) {
			add(tf.name, tf.got, tf.want)
		}
	}
	if len(d) > 0 {
		t.Fatalf("user %d differs:\n%v", want.ID, d)
	}
}

// userIDs returns the ids of us, in order.
func userIDs(us []*keyward.User) []int64 {
	ids := []int64{}
	for _, u := range us {
		ids = append(ids, u.ID)
	}
	return ids
}

func testCreateUser(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		for _, tc := range []struct {
			name        string
			user        keyward.User
			hash        string
			wantUpdated time.Time
		}{
			{"Password", keyward.User{Name: "alice", CreatedAt: at(time.Second)}, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", at(time.Second)},
			{"NoPassword", keyward.User{Name: "svc-ci", CreatedAt: at(time.Second)}, "", at(time.Second)},
			{"DisabledWithUpdatedAt", keyward.User{Name: "bob", Disabled: true, CreatedAt: at(time.Second), UpdatedAt: at(time.Minute)}, "h", at(time.Minute)},
			// What the store sets, it sets: a caller's HasPassword or DeletedAt means nothing.
			{"IgnoresComputed", keyward.User{Name: "carol", CreatedAt: at(time.Second), HasPassword: true, DeletedAt: ptr(t0)}, "", at(time.Second)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				u := tc.user
				ev := f.event("user.create")
				callerDetail := map[string]string{"name": u.Name}
				ev.Detail = callerDetail
				if err := f.s.CreateUser(t.Context(), &u, tc.hash, ev); err != nil {
					t.Fatalf("CreateUser: %v", err)
				}
				if u.ID <= 0 || u.ID == f.admin.ID {
					t.Fatalf("ID = %d, want a new positive id", u.ID)
				}
				if got, want := u.HasPassword, tc.hash != ""; got != want {
					t.Fatalf("HasPassword = %v, want %v", got, want)
				}
				want := tc.user
				want.ID, want.HasPassword, want.UpdatedAt, want.DeletedAt = u.ID, tc.hash != "", tc.wantUpdated, nil
				checkUser(t, &u, &want)
				checkUser(t, f.rereadUser(t, u.ID), &want)
				byName, err := f.s.UserByName(t.Context(), u.Name)
				if err != nil {
					t.Fatalf("UserByName: %v", err)
				}
				checkUser(t, byName, &want)
				if got, want := f.passwordHash(t, u.ID), tc.hash; got != want {
					t.Fatalf("PasswordHash = %q, want %q", got, want)
				}
				// The caller cannot know the new id: the store records it in the event.
				if got, want := ev.Detail, map[string]string{"name": u.Name, "user_id": strconv.FormatInt(u.ID, 10)}; !mapsEqual(got, want) {
					t.Fatalf("event Detail = %v, want %v", got, want)
				}
				if got, want := len(callerDetail), 1; got != want {
					t.Fatalf("the caller's Detail map has %d keys, want its own %d", got, want)
				}
				f.wantNewestEvent(t, ev)
			})
		}
	})

	t.Run("DetailUserIDKept", func(t *testing.T) {
		f := setup(t, open)
		u := &keyward.User{Name: "alice", CreatedAt: t0}
		ev := f.event("user.create")
		ev.Detail = map[string]string{"user_id": "set by the caller"}
		if err := f.s.CreateUser(t.Context(), u, "", ev); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if got, want := ev.Detail["user_id"], "set by the caller"; got != want {
			t.Fatalf("Detail[user_id] = %q, want the caller's %q", got, want)
		}
		f.wantNewestEvent(t, ev)
	})

	t.Run("ErrNameTaken", func(t *testing.T) {
		f := setup(t, open)
		alice := f.user(t, "alice", "alice-hash")
		for _, tc := range []struct {
			name  string
			taken string
		}{
			{"User", "alice"},
			{"Admin", f.admin.Name},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := len(f.events(t))
				u := &keyward.User{Name: tc.taken, CreatedAt: at(time.Hour)}
				ev := f.event("user.create")
				wantCode(t, f.s.CreateUser(t.Context(), u, "other-hash", ev), keyward.EConflict)
				if u.ID != 0 || u.HasPassword {
					t.Fatalf("failed create changed the user to %+v", u)
				}
				if ev.Detail != nil {
					t.Fatalf("failed create set event Detail %v", ev.Detail)
				}
				f.wantNoEvent(t, before, ev)
			})
		}
		checkUser(t, f.rereadUser(t, alice.ID), alice)
		if got, want := f.passwordHash(t, alice.ID), "alice-hash"; got != want {
			t.Fatalf("PasswordHash = %q, want the untouched %q", got, want)
		}
		checkUser(t, f.rereadUser(t, f.admin.ID), f.admin)
	})

	t.Run("OKNameOfDeletedUser", func(t *testing.T) {
		f := setup(t, open)
		old := f.user(t, "bob", "old-hash")
		f.deleteUser(t, old, at(time.Hour))
		u := &keyward.User{Name: "bob", CreatedAt: at(2 * time.Hour)}
		if err := f.s.CreateUser(t.Context(), u, "new-hash", f.event("user.create")); err != nil {
			t.Fatalf("CreateUser with a deleted user's name: %v", err)
		}
		if u.ID == old.ID {
			t.Fatalf("new user got the deleted user's id %d", u.ID)
		}
		got, err := f.s.UserByName(t.Context(), "bob")
		if err != nil {
			t.Fatalf("UserByName: %v", err)
		}
		checkUser(t, got, u)
		if got, want := f.rereadUser(t, old.ID).Name, deletedName("bob", old.ID); got != want {
			t.Fatalf("deleted user's name = %q, want %q", got, want)
		}
		if got, want := f.passwordHash(t, u.ID), "new-hash"; got != want {
			t.Fatalf("PasswordHash = %q, want %q", got, want)
		}
	})
}

// mapsEqual compares two string maps, nil and empty alike.
func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func testUserByID(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		alice := f.user(t, "alice", "hash")
		for _, tc := range []struct {
			name string
			want *keyward.User
		}{
			{"Admin", f.admin},
			{"WithPassword", alice},
		} {
			t.Run(tc.name, func(t *testing.T) {
				checkUser(t, f.rereadUser(t, tc.want.ID), tc.want)
			})
		}
		if !alice.HasPassword || f.admin.HasPassword {
			t.Fatalf("HasPassword: alice %v, admin %v; want true, false", alice.HasPassword, f.admin.HasPassword)
		}
	})

	t.Run("Deleted", func(t *testing.T) {
		f := setup(t, open)
		bob := f.user(t, "bob", "hash")
		when := at(time.Hour)
		f.deleteUser(t, bob, when)
		want := *bob
		want.Name = deletedName("bob", bob.ID)
		want.Disabled = true
		want.UpdatedAt = when
		want.DeletedAt = &when
		want.HasPassword = false // a deleted user keeps no password hash
		checkUser(t, f.rereadUser(t, bob.ID), &want)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		_, err := f.s.UserByID(t.Context(), 999999)
		wantCode(t, err, keyward.ENotFound)
	})
}

func testUserByName(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		alice := f.user(t, "alice", "hash")
		f.user(t, "alice2", "")
		for _, want := range []*keyward.User{f.admin, alice} {
			t.Run(want.Name, func(t *testing.T) {
				got, err := f.s.UserByName(t.Context(), want.Name)
				if err != nil {
					t.Fatalf("UserByName: %v", err)
				}
				checkUser(t, got, want)
			})
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		bob := f.user(t, "bob", "hash")
		f.deleteUser(t, bob, at(time.Hour))
		for _, tc := range []struct {
			name   string
			lookup string
		}{
			{"Unknown", "nobody"},
			{"Empty", ""},
			{"Deleted", "bob"},
			{"DeletedStoredName", deletedName("bob", bob.ID)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.s.UserByName(t.Context(), tc.lookup)
				wantCode(t, err, keyward.ENotFound)
			})
		}
	})
}

func testListUsers(t *testing.T, open func(t *testing.T) keyward.Store) {
	// users returns a store with the admin, six users of which the third is deleted, and the
	// ids of the users that are not deleted.
	users := func(t *testing.T) (*fixture, []int64) {
		t.Helper()
		f := setup(t, open)
		ids := []int64{f.admin.ID}
		for i := range 6 {
			hash := ""
			if i%2 == 0 {
				hash = "hash"
			}
			u := f.user(t, fmt.Sprintf("u%d", i), hash)
			if i == 2 {
				f.deleteUser(t, u, at(time.Hour))
				continue
			}
			ids = append(ids, u.ID)
		}
		return f, ids
	}

	t.Run("OK", func(t *testing.T) {
		f, ids := users(t)
		us, err := f.s.ListUsers(t.Context(), keyward.UserFilter{})
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if got, want := userIDs(us), ids; !slices.Equal(got, want) {
			t.Fatalf("ids = %v, want %v", got, want)
		}
		for _, u := range us {
			checkUser(t, u, f.rereadUser(t, u.ID))
			if u.DeletedAt != nil {
				t.Fatalf("user %q listed with DeletedAt %v", u.Name, u.DeletedAt)
			}
		}
		if !us[1].HasPassword || us[2].HasPassword {
			t.Fatalf("HasPassword of u0, u1 = %v, %v; want true, false", us[1].HasPassword, us[2].HasPassword)
		}
	})

	t.Run("Pagination", func(t *testing.T) {
		f, ids := users(t)
		var got []int64
		after := int64(0)
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatalf("more than 3 pages of 2 for 6 users: %v", got)
			}
			us, err := f.s.ListUsers(t.Context(), keyward.UserFilter{AfterID: after, Limit: 2})
			if err != nil {
				t.Fatalf("ListUsers: %v", err)
			}
			if len(us) > 2 {
				t.Fatalf("page of %d, want at most 2", len(us))
			}
			if len(us) == 0 {
				break
			}
			got = append(got, userIDs(us)...)
			after = us[len(us)-1].ID
		}
		if want := ids; !slices.Equal(got, want) {
			t.Fatalf("ids = %v, want %v", got, want)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		f, ids := users(t)
		us, err := f.s.ListUsers(t.Context(), keyward.UserFilter{AfterID: ids[len(ids)-1]})
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if us == nil || len(us) != 0 {
			t.Fatalf("ListUsers after the last = %#v, want an empty non-nil slice", us)
		}
	})

	t.Run("DefaultLimit", func(t *testing.T) {
		f := setup(t, open)
		for i := range 100 {
			f.user(t, fmt.Sprintf("u%d", i), "")
		}
		us, err := f.s.ListUsers(t.Context(), keyward.UserFilter{})
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if got, want := len(us), 100; got != want {
			t.Fatalf("%d users with Limit 0, want %d", got, want)
		}
	})
}

func testUpdateUser(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		alice := f.user(t, "alice", "hash")
		want := *alice
		for _, tc := range []struct {
			name     string
			disabled bool
			updated  time.Time
		}{
			{"Disable", true, at(time.Hour)},
			{"Enable", false, at(2 * time.Hour)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				u := *alice
				u.Disabled, u.UpdatedAt = tc.disabled, tc.updated
				// Not written by UpdateUser: these must stay as they were.
				u.Name, u.CreatedAt, u.HasPassword, u.DeletedAt = "mallory", at(-time.Hour), false, ptr(t0)
				ev := f.event("user.update")
				if err := f.s.UpdateUser(t.Context(), &u, ev); err != nil {
					t.Fatalf("UpdateUser: %v", err)
				}
				want.Disabled, want.UpdatedAt = tc.disabled, tc.updated
				checkUser(t, f.rereadUser(t, alice.ID), &want)
				if got, want := f.passwordHash(t, alice.ID), "hash"; got != want {
					t.Fatalf("PasswordHash = %q, want the untouched %q", got, want)
				}
				f.wantNewestEvent(t, ev)
			})
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		bob := f.user(t, "bob", "")
		f.deleteUser(t, bob, at(time.Hour))
		deleted := f.rereadUser(t, bob.ID)
		for _, tc := range []struct {
			name string
			id   int64
		}{
			{"Missing", 999999},
			{"Deleted", bob.ID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := len(f.events(t))
				ev := f.event("user.update")
				u := &keyward.User{ID: tc.id, Name: "bob", Disabled: false, UpdatedAt: at(2 * time.Hour)}
				wantCode(t, f.s.UpdateUser(t.Context(), u, ev), keyward.ENotFound)
				f.wantNoEvent(t, before, ev)
			})
		}
		checkUser(t, f.rereadUser(t, bob.ID), deleted)
	})
}

func testPasswordHash(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		for _, tc := range []struct {
			name, user, hash string
		}{
			{"Set", "alice", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"},
			{"None", "bob", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				u := f.user(t, tc.user, tc.hash)
				if got, want := f.passwordHash(t, u.ID), tc.hash; got != want {
					t.Fatalf("PasswordHash = %q, want %q", got, want)
				}
			})
		}
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
				h, err := f.s.PasswordHash(t.Context(), tc.id)
				wantCode(t, err, keyward.ENotFound)
				if h != "" {
					t.Fatalf("PasswordHash returned %q with its error", h)
				}
			})
		}
	})
}

func testSetPasswordHash(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		u := f.user(t, "alice", "")
		want := *u
		for _, tc := range []struct {
			name string
			hash string
		}{
			{"Set", "first-hash"},
			{"Replace", "second-hash"},
			{"Clear", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ev := f.event("user.password")
				ids, err := f.s.SetPasswordHash(t.Context(), u.ID, tc.hash, ev, f.sessionEnd(at(time.Minute), 0))
				if err != nil {
					t.Fatalf("SetPasswordHash: %v", err)
				}
				if ids == nil || len(ids) != 0 {
					t.Fatalf("SetPasswordHash revoked %v of a user without sessions, want an empty slice", ids)
				}
				if got, want := f.passwordHash(t, u.ID), tc.hash; got != want {
					t.Fatalf("PasswordHash = %q, want %q", got, want)
				}
				// Only the hash changes (HasPassword follows it), UpdatedAt included.
				want.HasPassword = tc.hash != ""
				checkUser(t, f.rereadUser(t, u.ID), &want)
				f.wantNewestEvent(t, ev)
			})
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		bob := f.user(t, "bob", "hash")
		f.deleteUser(t, bob, at(time.Hour))
		deleted := f.rereadUser(t, bob.ID)
		for _, tc := range []struct {
			name string
			id   int64
		}{
			{"Missing", 999999},
			{"Deleted", bob.ID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := len(f.events(t))
				ev := f.event("user.password")
				_, err := f.s.SetPasswordHash(t.Context(), tc.id, "new-hash", ev, f.sessionEnd(at(time.Minute), 0))
				wantCode(t, err, keyward.ENotFound)
				f.wantNoEvent(t, before, ev)
			})
		}
		checkUser(t, f.rereadUser(t, bob.ID), deleted)
	})
}

func testDeleteUser(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		ctx := t.Context()
		p := f.project(t, "acme")
		bob, carol := f.user(t, "bob", "bob-hash"), f.user(t, "carol", "carol-hash")
		for _, b := range []keyward.RoleBinding{
			{UserID: bob.ID, ProjectID: 0, RoleID: f.viewerRole.ID},
			{UserID: bob.ID, ProjectID: p.ID, RoleID: f.customRole.ID},
			{UserID: carol.ID, ProjectID: p.ID, RoleID: f.viewerRole.ID},
			{UserID: carol.ID, ProjectID: 0, RoleID: f.customRole.ID},
		} {
			f.bind(t, b)
		}
		by := func(u *keyward.User) func(*keyward.Credential) {
			return func(c *keyward.Credential) { c.CreatedBy = u.ID }
		}
		bobLive, bobSecret := f.credential(t, p, "bob-live", by(bob))
		bobSession, _ := f.credential(t, f.system, "bob-session", func(c *keyward.Credential) {
			c.CreatedBy, c.Type, c.RoleIDs = bob.ID, keyward.Session, nil
		})
		bobOff, _ := f.credential(t, p, "bob-disabled", func(c *keyward.Credential) {
			c.CreatedBy, c.Active = bob.ID, false
		})
		bobRevoked, _ := f.credential(t, p, "bob-revoked", by(bob))
		bobRevoked.RevokedAt, bobRevoked.UpdatedAt = ptr(at(-time.Hour)), at(-time.Hour)
		if err := f.s.UpdateCredential(ctx, bobRevoked, f.event("credential.revoke")); err != nil {
			t.Fatalf("UpdateCredential: %v", err)
		}
		carolKey, _ := f.credential(t, p, "carol-key", by(carol))
		adminKey, _ := f.credential(t, p, "admin-key", nil)

		before := len(f.events(t))
		when := at(time.Hour)
		ev := f.event("user.delete")
		ev.Detail = map[string]string{"user_id": strconv.FormatInt(bob.ID, 10)}
		// Refused while bob has credentials that are not revoked: the store cascades nothing.
		wantCode(t, f.s.DeleteUser(ctx, bob.ID, when, ev), keyward.EConflict)
		f.wantNoEvent(t, before, ev)
		checkUser(t, f.rereadUser(t, bob.ID), bob)
		if got := f.bindings(t, bob.ID); len(got) != 2 {
			t.Fatalf("bob's bindings after a refused deletion = %v, want both", got)
		}
		all := newRecorder(func(*keyward.Credential) bool { return true })
		if _, err := f.s.RevokeCreated(ctx, bob.ID, when, all.revocation(f, when)); err != nil {
			t.Fatalf("RevokeCreated: %v", err)
		}
		before = len(f.events(t))
		if err := f.s.DeleteUser(ctx, bob.ID, when, ev); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		if got, want := len(f.events(t)), before+1; got != want {
			t.Fatalf("%d events, want %d: one for the deletion", got, want)
		}
		f.wantNewestEvent(t, ev)

		wantBob := *bob
		wantBob.Name, wantBob.Disabled, wantBob.UpdatedAt, wantBob.DeletedAt = deletedName("bob", bob.ID), true, when, &when
		wantBob.HasPassword = false
		checkUser(t, f.rereadUser(t, bob.ID), &wantBob)
		checkUser(t, f.rereadUser(t, carol.ID), carol)

		for _, tc := range []struct {
			name    string
			c       *keyward.Credential
			revoked bool
		}{
			{"Live", bobLive, true},
			{"Session", bobSession, true},
			{"Disabled", bobOff, true},
			{"AlreadyRevoked", bobRevoked, false},
			{"OtherUser", carolKey, false},
			{"Admin", adminKey, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				want := clone(tc.c)
				if tc.revoked {
					want.RevokedAt, want.UpdatedAt, want.Version = &when, when, tc.c.Version+1
				}
				checkCredential(t, f.reread(t, tc.c), want)
			})
		}
		// Verification sees the revocation at once.
		gc, _, err := f.s.CredentialBySecret(ctx, bobSecret.Digest)
		if err != nil {
			t.Fatalf("CredentialBySecret: %v", err)
		}
		if got, want := gc.StateAt(when), keyward.StateRevoked; got != want {
			t.Fatalf("state of bob's key = %q, want %q", got, want)
		}

		if got := f.bindings(t, bob.ID); len(got) != 0 {
			t.Fatalf("deleted user's bindings = %v, want none", got)
		}
		if got, want := f.bindings(t, carol.ID), []keyward.RoleBinding{
			{UserID: carol.ID, ProjectID: 0, RoleID: f.customRole.ID},
			{UserID: carol.ID, ProjectID: p.ID, RoleID: f.viewerRole.ID},
		}; !slices.Equal(got, want) {
			t.Fatalf("carol's bindings = %v, want %v", got, want)
		}
		if got, want := f.projectBindings(t, p.ID), []keyward.RoleBinding{
			{UserID: carol.ID, ProjectID: p.ID, RoleID: f.viewerRole.ID},
		}; !slices.Equal(got, want) {
			t.Fatalf("ProjectBindings = %v, want %v", got, want)
		}

		_, err = f.s.UserByName(ctx, "bob")
		wantCode(t, err, keyward.ENotFound)
		_, err = f.s.PasswordHash(ctx, bob.ID)
		wantCode(t, err, keyward.ENotFound)
		us, err := f.s.ListUsers(ctx, keyward.UserFilter{})
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if got, want := userIDs(us), []int64{f.admin.ID, carol.ID}; !slices.Equal(got, want) {
			t.Fatalf("ListUsers ids = %v, want %v", got, want)
		}
		if got, want := f.passwordHash(t, carol.ID), "carol-hash"; got != want {
			t.Fatalf("carol's PasswordHash = %q, want %q", got, want)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		bob := f.user(t, "bob", "hash")
		f.deleteUser(t, bob, at(time.Hour))
		deleted := f.rereadUser(t, bob.ID)
		// A credential that names bob after the deletion: a second, failed deletion must not
		// revoke it.
		late, _ := f.credential(t, f.system, "late", func(c *keyward.Credential) { c.CreatedBy = bob.ID })
		for _, tc := range []struct {
			name string
			id   int64
		}{
			{"Missing", 999999},
			{"AlreadyDeleted", bob.ID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := len(f.events(t))
				ev := f.event("user.delete")
				wantCode(t, f.s.DeleteUser(t.Context(), tc.id, at(2*time.Hour), ev), keyward.ENotFound)
				f.wantNoEvent(t, before, ev)
			})
		}
		checkUser(t, f.rereadUser(t, bob.ID), deleted)
		checkCredential(t, f.reread(t, late), late)
	})
}
