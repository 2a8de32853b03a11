package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// revocationFixture is a store where bob, bound to custom in acme and to viewer globally, has
// created a token and a certificate in acme, a kubeconfig certificate in beta and a certificate
// revoked earlier, and carol has a certificate in acme.
type revocationFixture struct {
	*fixture
	acme, beta *keyward.Project
	bob, carol *keyward.User
	// bob's token, certificate, kubeconfig and revoked certificate; carol's certificate.
	token, cert, kube, old, carols *keyward.Credential
}

func setupRevocation(t *testing.T, open func(t *testing.T) keyward.Store) *revocationFixture {
	t.Helper()
	f := &revocationFixture{fixture: setup(t, open)}
	f.acme, f.beta = f.project(t, "acme"), f.project(t, "beta")
	f.bob, f.carol = f.user(t, "bob", "bob-hash"), f.user(t, "carol", "")
	f.bind(t, keyward.RoleBinding{UserID: f.bob.ID, ProjectID: f.acme.ID, RoleID: f.customRole.ID})
	f.bind(t, keyward.RoleBinding{UserID: f.bob.ID, ProjectID: 0, RoleID: f.viewerRole.ID})
	f.bind(t, keyward.RoleBinding{UserID: f.carol.ID, ProjectID: f.acme.ID, RoleID: f.customRole.ID})
	by := func(u *keyward.User) func(*keyward.Credential) {
		return func(c *keyward.Credential) { c.CreatedBy = u.ID }
	}
	f.token, _ = f.credential(t, f.acme, "bob-token", by(f.bob))
	f.cert = f.certCredential(t, f.acme, "bob-cert", "b0b1", by(f.bob))
	f.kube = f.certCredential(t, f.beta, "bob-kube", "b0b2", func(c *keyward.Credential) {
		c.CreatedBy, c.Type, c.Cluster, c.Namespace = f.bob.ID, keyward.KubeConfig, "prod", "team-b"
	})
	f.old = f.certCredential(t, f.acme, "bob-old", "b0b3", by(f.bob))
	f.revoke(t, f.old, at(-time.Hour))
	f.carols = f.certCredential(t, f.acme, "carol-cert", "ca01", by(f.carol))
	return f
}

// recorder is a Revocation that picks what pick accepts and records what the store gave it.
type recorder struct {
	pick          func(*keyward.Credential) bool
	calls         int
	created       []int64
	before, after []keyward.RoleBinding
	given         map[int64]*keyward.Credential // what Event was given, by id
	events        map[int64]*keyward.Event      // what Event returned, by id
}

func newRecorder(pick func(*keyward.Credential) bool) *recorder {
	return &recorder{pick: pick, given: map[int64]*keyward.Credential{}, events: map[int64]*keyward.Event{}}
}

// isCertificate picks the certificate credentials.
func isCertificate(c *keyward.Credential) bool {
	return c.Type == keyward.APICertificate || c.Type == keyward.KubeConfig
}

// revocation returns the Revocation; its events are the admin's at when.
func (r *recorder) revocation(f *fixture, when time.Time) keyward.Revocation {
	return keyward.Revocation{
		Select: func(created []*keyward.Credential, before, after []keyward.RoleBinding) ([]*keyward.Credential, error) {
			r.calls++
			r.created, r.before, r.after = nil, before, after
			var out []*keyward.Credential
			for _, c := range created {
				r.created = append(r.created, c.ID)
				if r.pick(c) {
					out = append(out, c)
				}
			}
			return out, nil
		},
		Event: func(c *keyward.Credential) *keyward.Event {
			r.given[c.ID] = clone(c)
			ev := f.event("credential.revoke")
			ev.Time, ev.ProjectID, ev.CredentialID = when, c.ProjectID, c.ID
			ev.Detail = map[string]string{"reason": "test"}
			r.events[c.ID] = ev
			return ev
		},
	}
}

// wantRevoked fails t unless each of revoked is stored revoked at when (updated_at too, version
// + 1) with its certificate in the CRL, Event was given it as stored, and the event Event
// returned is stored in its project; and unless each of untouched is stored as it was.
func (f *revocationFixture) wantRevoked(t *testing.T, r *recorder, when time.Time, withEvent, withoutEvent, untouched []*keyward.Credential) {
	t.Helper()
	crl := f.crl(t, when)
	for _, c := range append(slices.Clone(withEvent), withoutEvent...) {
		want := clone(c)
		want.RevokedAt, want.UpdatedAt, want.Version = ptr(when), when, c.Version+1
		checkCredential(t, f.reread(t, c), want)
		if c.Serial != "" && !slices.Contains(crl, crlEntry(c.Serial, when)) {
			t.Fatalf("CRL %v lacks %s's certificate %s", crl, c.Name, crlEntry(c.Serial, when))
		}
	}
	for _, c := range withEvent {
		got, ok := r.given[c.ID]
		if !ok {
			t.Fatalf("Event was not called for %s", c.Name)
		}
		want := clone(c)
		want.RevokedAt, want.UpdatedAt, want.Version = ptr(when), when, c.Version+1
		checkCredential(t, got, want)
		evs, err := f.s.ListEvents(t.Context(), keyward.EventFilter{ProjectIDs: []int64{c.ProjectID}, CredentialID: c.ID, Limit: 1})
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		if len(evs) != 1 {
			t.Fatalf("no event for %s in its project", c.Name)
		}
		wantEv := *r.events[c.ID]
		wantEv.ID = evs[0].ID
		checkEvent(t, evs[0], &wantEv)
	}
	for _, c := range withoutEvent {
		if _, ok := r.given[c.ID]; ok {
			t.Fatalf("Event was called for %s, which Select did not pick", c.Name)
		}
	}
	for _, c := range untouched {
		checkCredential(t, f.reread(t, c), c)
	}
}

// ids returns the ids of cs, in order.
func ids(cs ...*keyward.Credential) []int64 {
	out := []int64{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func testUpdateUserRevoking(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setupRevocation(t, open)
		bindings := f.bindings(t, f.bob.ID)
		before := len(f.events(t))
		when := at(time.Hour)
		u := *f.bob
		u.Disabled, u.UpdatedAt = true, when
		ev := f.event("user.disable")
		r := newRecorder(isCertificate)
		got, err := f.s.UpdateUserRevoking(t.Context(), &u, ev, r.revocation(f.fixture, when))
		if err != nil {
			t.Fatalf("UpdateUserRevoking: %v", err)
		}
		if want := ids(f.cert, f.kube); !slices.Equal(got, want) {
			t.Fatalf("revoked ids = %v, want %v", got, want)
		}
		if r.calls != 1 {
			t.Fatalf("Select called %d times, want 1", r.calls)
		}
		if want := ids(f.token, f.cert, f.kube); !slices.Equal(r.created, want) {
			t.Fatalf("Select was offered %v, want bob's unrevoked credentials %v", r.created, want)
		}
		if !slices.Equal(r.before, bindings) || !slices.Equal(r.after, bindings) {
			t.Fatalf("Select got bindings %v / %v, want %v both", r.before, r.after, bindings)
		}
		want := *f.bob
		want.Disabled, want.UpdatedAt = true, when
		checkUser(t, f.rereadUser(t, f.bob.ID), &want)
		if got, want := len(f.events(t)), before+3; got != want {
			t.Fatalf("%d events, want %d: the change's and one per revoked credential", got, want)
		}
		if ev.ID <= 0 {
			t.Fatalf("event ID = %d", ev.ID)
		}
		f.wantRevoked(t, r, when, []*keyward.Credential{f.cert, f.kube}, nil,
			[]*keyward.Credential{f.token, f.old, f.carols})
	})

	t.Run("NoSelect", func(t *testing.T) {
		f := setupRevocation(t, open)
		before := len(f.events(t))
		u := *f.bob
		u.Disabled, u.UpdatedAt = true, at(time.Hour)
		got, err := f.s.UpdateUserRevoking(t.Context(), &u, f.event("user.disable"), keyward.Revocation{})
		if err != nil {
			t.Fatalf("UpdateUserRevoking: %v", err)
		}
		if len(got) != 0 {
			t.Fatalf("revoked %v with no Select", got)
		}
		if got, want := len(f.events(t)), before+1; got != want {
			t.Fatalf("%d events, want %d", got, want)
		}
		f.wantRevoked(t, newRecorder(nil), at(time.Hour), nil, nil, []*keyward.Credential{f.token, f.cert, f.kube, f.old, f.carols})
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setupRevocation(t, open)
		f.deleteUser(t, f.carol, at(time.Minute))
		for _, tc := range []struct {
			name string
			id   int64
		}{{"Missing", 999999}, {"Deleted", f.carol.ID}} {
			t.Run(tc.name, func(t *testing.T) {
				before := len(f.events(t))
				u := keyward.User{ID: tc.id, Disabled: true, UpdatedAt: at(time.Hour)}
				ev := f.event("user.disable")
				r := newRecorder(func(*keyward.Credential) bool { return true })
				_, err := f.s.UpdateUserRevoking(t.Context(), &u, ev, r.revocation(f.fixture, at(time.Hour)))
				wantCode(t, err, keyward.ENotFound)
				if r.calls != 0 {
					t.Fatal("Select was called for a missing user")
				}
				f.wantNoEvent(t, before, ev)
			})
		}
	})

	// A Select that picks what it was not offered or refuses, or a Revocation without an Event,
	// fails the whole change.
	for _, tc := range []struct {
		name string
		rv   func(f *revocationFixture) keyward.Revocation
	}{
		{"PickedNotOffered", func(f *revocationFixture) keyward.Revocation {
			rv := newRecorder(isCertificate).revocation(f.fixture, at(time.Hour))
			rv.Select = func([]*keyward.Credential, []keyward.RoleBinding, []keyward.RoleBinding) ([]*keyward.Credential, error) {
				return []*keyward.Credential{f.carols}, nil
			}
			return rv
		}},
		{"NoEvent", func(f *revocationFixture) keyward.Revocation {
			rv := newRecorder(isCertificate).revocation(f.fixture, at(time.Hour))
			rv.Event = nil
			return rv
		}},
		{"SelectRefuses", func(f *revocationFixture) keyward.Revocation {
			rv := newRecorder(isCertificate).revocation(f.fixture, at(time.Hour))
			rv.Select = func([]*keyward.Credential, []keyward.RoleBinding, []keyward.RoleBinding) ([]*keyward.Credential, error) {
				return nil, keyward.Errorf(keyward.EForbidden, "refused")
			}
			return rv
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setupRevocation(t, open)
			before := len(f.events(t))
			u := *f.bob
			u.Disabled, u.UpdatedAt = true, at(time.Hour)
			ev := f.event("user.disable")
			if _, err := f.s.UpdateUserRevoking(t.Context(), &u, ev, tc.rv(f)); err == nil {
				t.Fatal("UpdateUserRevoking succeeded")
			}
			f.wantNoEvent(t, before, ev)
			checkUser(t, f.rereadUser(t, f.bob.ID), f.bob)
			f.wantRevoked(t, newRecorder(nil), at(time.Hour), nil, nil, []*keyward.Credential{f.token, f.cert, f.kube, f.old, f.carols})
		})
	}
}

func testRevokeCreated(t *testing.T, open func(t *testing.T) keyward.Store) {
	for _, tc := range []struct {
		name   string
		pick   func(*keyward.Credential) bool
		picked func(f *revocationFixture) []*keyward.Credential
		left   func(f *revocationFixture) []*keyward.Credential
	}{
		{"PickAll", func(*keyward.Credential) bool { return true },
			func(f *revocationFixture) []*keyward.Credential {
				return []*keyward.Credential{f.token, f.cert, f.kube}
			},
			func(f *revocationFixture) []*keyward.Credential { return []*keyward.Credential{f.old, f.carols} }},
		// What Select leaves stays as it was: the store revokes nothing of its own accord.
		{"PickSome", isCertificate,
			func(f *revocationFixture) []*keyward.Credential { return []*keyward.Credential{f.cert, f.kube} },
			func(f *revocationFixture) []*keyward.Credential {
				return []*keyward.Credential{f.token, f.old, f.carols}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setupRevocation(t, open)
			bindings := f.bindings(t, f.bob.ID)
			before := len(f.events(t))
			when := at(time.Hour)
			r := newRecorder(tc.pick)
			got, err := f.s.RevokeCreated(t.Context(), f.bob.ID, when, r.revocation(f.fixture, when))
			if err != nil {
				t.Fatalf("RevokeCreated: %v", err)
			}
			picked := tc.picked(f)
			if want := ids(picked...); !slices.Equal(got, want) {
				t.Fatalf("revoked ids = %v, want %v", got, want)
			}
			if want := ids(f.token, f.cert, f.kube); r.calls != 1 || !slices.Equal(r.created, want) {
				t.Fatalf("Select called %d times, offered %v; want once, %v", r.calls, r.created, want)
			}
			if !slices.Equal(r.before, bindings) || !slices.Equal(r.after, bindings) {
				t.Fatalf("Select got bindings %v / %v, want %v twice", r.before, r.after, bindings)
			}
			if got, want := len(f.events(t)), before+len(picked); got != want {
				t.Fatalf("%d events, want %d: one per picked credential", got, want)
			}
			checkUser(t, f.rereadUser(t, f.bob.ID), f.bob)
			if got := f.bindings(t, f.bob.ID); !slices.Equal(got, bindings) {
				t.Fatalf("bob's bindings = %v, want %v", got, bindings)
			}
			f.wantRevoked(t, r, when, picked, nil, tc.left(f))
		})
	}

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setupRevocation(t, open)
		f.deleteUser(t, f.carol, at(time.Minute))
		for _, tc := range []struct {
			name string
			id   int64
		}{{"Missing", 999999}, {"Deleted", f.carol.ID}} {
			t.Run(tc.name, func(t *testing.T) {
				before := len(f.events(t))
				r := newRecorder(func(*keyward.Credential) bool { return true })
				_, err := f.s.RevokeCreated(t.Context(), tc.id, at(time.Hour), r.revocation(f.fixture, at(time.Hour)))
				wantCode(t, err, keyward.ENotFound)
				if r.calls != 0 {
					t.Fatal("Select was called for a missing user")
				}
				if got := len(f.events(t)); got != before {
					t.Fatalf("%d events, want %d", got, before)
				}
			})
		}
		f.wantRevoked(t, newRecorder(nil), at(time.Hour), nil, nil, []*keyward.Credential{f.token, f.cert, f.kube, f.old})
	})
}

func testDeleteRoleBindingRevoking(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setupRevocation(t, open)
		bindings := f.bindings(t, f.bob.ID)
		removed := keyward.RoleBinding{UserID: f.bob.ID, ProjectID: f.acme.ID, RoleID: f.customRole.ID}
		before := len(f.events(t))
		when := at(time.Hour)
		ev := f.event("binding.delete")
		inAcme := func(c *keyward.Credential) bool { return isCertificate(c) && c.ProjectID == f.acme.ID }
		r := newRecorder(inAcme)
		got, err := f.s.DeleteRoleBindingRevoking(t.Context(), removed, when, ev, r.revocation(f.fixture, when))
		if err != nil {
			t.Fatalf("DeleteRoleBindingRevoking: %v", err)
		}
		if want := ids(f.cert); !slices.Equal(got, want) {
			t.Fatalf("revoked ids = %v, want %v", got, want)
		}
		wantAfter := slices.DeleteFunc(slices.Clone(bindings), func(b keyward.RoleBinding) bool { return b == removed })
		if r.calls != 1 || !slices.Equal(r.before, bindings) || !slices.Equal(r.after, wantAfter) {
			t.Fatalf("Select called %d times with bindings %v / %v, want once with %v / %v", r.calls, r.before, r.after, bindings, wantAfter)
		}
		if want := ids(f.token, f.cert, f.kube); !slices.Equal(r.created, want) {
			t.Fatalf("Select was offered %v, want %v", r.created, want)
		}
		if got := f.bindings(t, f.bob.ID); !slices.Equal(got, wantAfter) {
			t.Fatalf("bindings after = %v, want %v", got, wantAfter)
		}
		if got, want := len(f.events(t)), before+2; got != want {
			t.Fatalf("%d events, want %d", got, want)
		}
		if ev.ID <= 0 {
			t.Fatalf("event ID = %d", ev.ID)
		}
		f.wantRevoked(t, r, when, []*keyward.Credential{f.cert}, nil, []*keyward.Credential{f.token, f.kube, f.old, f.carols})
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setupRevocation(t, open)
		for _, tc := range []struct {
			name string
			b    keyward.RoleBinding
		}{
			{"OtherProject", keyward.RoleBinding{UserID: f.bob.ID, ProjectID: f.beta.ID, RoleID: f.customRole.ID}},
			{"GlobalNotProject", keyward.RoleBinding{UserID: f.bob.ID, ProjectID: 0, RoleID: f.customRole.ID}},
			{"MissingUser", keyward.RoleBinding{UserID: 999999, ProjectID: f.acme.ID, RoleID: f.customRole.ID}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := len(f.events(t))
				ev := f.event("binding.delete")
				r := newRecorder(func(*keyward.Credential) bool { return true })
				_, err := f.s.DeleteRoleBindingRevoking(t.Context(), tc.b, at(time.Hour), ev, r.revocation(f.fixture, at(time.Hour)))
				wantCode(t, err, keyward.ENotFound)
				if r.calls != 0 {
					t.Fatal("Select was called for a missing binding")
				}
				f.wantNoEvent(t, before, ev)
			})
		}
		f.wantRevoked(t, newRecorder(nil), at(time.Hour), nil, nil, []*keyward.Credential{f.token, f.cert, f.kube, f.old, f.carols})
	})
}
