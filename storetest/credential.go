package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func testCreateCredential(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		c, sec := f.newCredential(p, "ci-deploy", func(c *keyward.Credential) {
			c.Type = keyward.APICertificate
			c.Environment = keyward.Test
			c.KeyType = keyward.Publishable
			c.RoleIDs = []int64{f.customRole.ID, f.viewerRole.ID}
			c.Meta = map[string]string{"team": "core", "ticket": "OPS-1"}
			c.NotBefore = ptr(at(-time.Hour))
			c.ExpiresAt = ptr(at(48 * time.Hour))
			c.LastUsedAt = ptr(at(-time.Minute))
			c.CreatedAt = at(-2 * time.Hour)
			c.UpdatedAt = at(-90 * time.Minute)
		})
		sent := clone(c)
		ev := f.event("credential.create")
		if err := f.s.CreateCredential(t.Context(), c, sec, ev); err != nil {
			t.Fatalf("CreateCredential: %v", err)
		}
		if c.ID <= 0 {
			t.Fatalf("ID = %d, want > 0", c.ID)
		}
		if got, want := c.Version, int64(1); got != want {
			t.Fatalf("Version = %d, want %d", got, want)
		}
		if got, want := sec.CredentialID, c.ID; got != want {
			t.Fatalf("secret CredentialID = %d, want %d", got, want)
		}
		if ev.ID <= 0 || ev.CredentialID != c.ID || ev.ProjectID != p.ID {
			t.Fatalf("event = %+v, want ID > 0, CredentialID %d, ProjectID %d", ev, c.ID, p.ID)
		}
		want := sent
		want.ID, want.Version, want.Project = c.ID, 1, p.Slug
		want.RoleIDs = []int64{f.viewerRole.ID, f.customRole.ID}
		slices.Sort(want.RoleIDs)
		checkCredential(t, f.reread(t, c), want)
		checkEvent(t, f.events(t)[0], ev)
	})

	t.Run("Defaults", func(t *testing.T) {
		f := setup(t, open)
		c, _ := f.credential(t, f.system, "bare", func(c *keyward.Credential) {
			c.RoleIDs = nil
			c.Meta = nil
			c.ExpiresAt = nil
			c.Description = ""
		})
		got := f.reread(t, c)
		if got.Meta == nil || len(got.Meta) != 0 {
			t.Fatalf("Meta = %#v, want an empty non-nil map", got.Meta)
		}
		if got.RoleIDs == nil || len(got.RoleIDs) != 0 {
			t.Fatalf("RoleIDs = %#v, want an empty non-nil slice", got.RoleIDs)
		}
		if got.NotBefore != nil || got.ExpiresAt != nil || got.RevokedAt != nil || got.LastUsedAt != nil {
			t.Fatalf("optional times = %v %v %v %v, want all nil", got.NotBefore, got.ExpiresAt, got.RevokedAt, got.LastUsedAt)
		}
		if got, want := got.Project, keyward.SystemProject; got != want {
			t.Fatalf("Project = %q, want %q", got, want)
		}
	})

	t.Run("ErrNameTaken", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		f.credential(t, p, "dup", nil)
		before := len(f.events(t))
		c, sec := f.newCredential(p, "dup", nil)
		sec.Digest = digest("another secret")
		err := f.s.CreateCredential(t.Context(), c, sec, f.event("credential.create"))
		wantCode(t, err, keyward.EConflict)
		if got, want := len(f.events(t)), before; got != want {
			t.Fatalf("%d events after a failed create, want %d", got, want)
		}
		_, _, err = f.s.CredentialBySecret(t.Context(), sec.Digest)
		wantCode(t, err, keyward.ENotFound)
	})

	t.Run("SameNameOtherProject", func(t *testing.T) {
		f := setup(t, open)
		a, b := f.project(t, "a"), f.project(t, "b")
		ca, _ := f.credential(t, a, "same", nil)
		cb, _ := f.credential(t, b, "same", nil)
		if ca.ID == cb.ID {
			t.Fatalf("both credentials got id %d", ca.ID)
		}
	})

	t.Run("ErrDigestTaken", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		_, sec1 := f.credential(t, p, "first", nil)
		before := len(f.events(t))
		c, sec := f.newCredential(p, "second", nil)
		sec.Digest = sec1.Digest
		err := f.s.CreateCredential(t.Context(), c, sec, f.event("credential.create"))
		wantCode(t, err, keyward.EConflict)
		_, err = f.s.CredentialByName(t.Context(), p.ID, "second")
		wantCode(t, err, keyward.ENotFound)
		if got, want := len(f.events(t)), before; got != want {
			t.Fatalf("%d events after a failed create, want %d", got, want)
		}
	})

	t.Run("ErrNoProject", func(t *testing.T) {
		f := setup(t, open)
		c, sec := f.newCredential(&keyward.Project{ID: 999999, Slug: "ghost"}, "x", nil)
		err := f.s.CreateCredential(t.Context(), c, sec, f.event("credential.create"))
		if err == nil {
			t.Fatal("CreateCredential in a missing project succeeded")
		}
	})
}

func testCredentialByID(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		c, _ := f.credential(t, p, "k", nil)
		got, err := f.s.CredentialByID(t.Context(), p.ID, c.ID)
		if err != nil {
			t.Fatalf("CredentialByID: %v", err)
		}
		checkCredential(t, got, c)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		_, err := f.s.CredentialByID(t.Context(), f.system.ID, 999999)
		wantCode(t, err, keyward.ENotFound)
	})
	t.Run("ErrOtherProject", func(t *testing.T) {
		f := setup(t, open)
		a, b := f.project(t, "a"), f.project(t, "b")
		c, _ := f.credential(t, a, "k", nil)
		_, err := f.s.CredentialByID(t.Context(), b.ID, c.ID)
		wantCode(t, err, keyward.ENotFound)
	})
}

func testCredentialByName(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		c, _ := f.credential(t, p, "k", nil)
		got, err := f.s.CredentialByName(t.Context(), p.ID, "k")
		if err != nil {
			t.Fatalf("CredentialByName: %v", err)
		}
		checkCredential(t, got, c)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		_, err := f.s.CredentialByName(t.Context(), f.system.ID, "nope")
		wantCode(t, err, keyward.ENotFound)
	})
	t.Run("ErrOtherProject", func(t *testing.T) {
		f := setup(t, open)
		a, b := f.project(t, "a"), f.project(t, "b")
		f.credential(t, a, "k", nil)
		_, err := f.s.CredentialByName(t.Context(), b.ID, "k")
		wantCode(t, err, keyward.ENotFound)
	})
}

func testCredentialBySecret(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		c, sec := f.credential(t, p, "k", func(c *keyward.Credential) {
			c.RoleIDs = []int64{f.customRole.ID, f.adminRole.ID}
		})
		gc, gs, err := f.s.CredentialBySecret(t.Context(), sec.Digest)
		if err != nil {
			t.Fatalf("CredentialBySecret: %v", err)
		}
		checkCredential(t, gc, c)
		if got, want := string(gs.Digest), string(sec.Digest); got != want {
			t.Fatalf("Digest = %x, want %x", got, want)
		}
		if got, want := gs.CredentialID, c.ID; got != want {
			t.Fatalf("CredentialID = %d, want %d", got, want)
		}
		if gs.ValidUntil != nil {
			t.Fatalf("ValidUntil = %v, want nil", gs.ValidUntil)
		}
		if !sameTime(&gs.CreatedAt, &sec.CreatedAt) {
			t.Fatalf("CreatedAt = %v, want %v", gs.CreatedAt, sec.CreatedAt)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		_, _, err := f.s.CredentialBySecret(t.Context(), digest("nothing"))
		wantCode(t, err, keyward.ENotFound)
	})
}

func testListCredentials(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("State", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		now := t0
		// One credential per case, the boundaries included; the expected states come from
		// keyward's own StateAt, so the store's SQL is held to the domain's definition.
		cases := map[string]func(c *keyward.Credential){
			"active":             func(c *keyward.Credential) {},
			"active-no-expiry":   func(c *keyward.Credential) { c.ExpiresAt = nil },
			"active-nb-now":      func(c *keyward.Credential) { c.NotBefore = ptr(now) },
			"active-nb-past":     func(c *keyward.Credential) { c.NotBefore = ptr(now.Add(-time.Hour)) },
			"active-exp-next-us": func(c *keyward.Credential) { c.ExpiresAt = ptr(now.Add(time.Microsecond)) },
			"revoked":            func(c *keyward.Credential) { c.RevokedAt = ptr(now.Add(-time.Minute)) },
			"revoked-disabled": func(c *keyward.Credential) {
				c.RevokedAt = ptr(now.Add(-time.Minute))
				c.Active = false
			},
			"revoked-expired": func(c *keyward.Credential) {
				c.RevokedAt = ptr(now.Add(-time.Minute))
				c.ExpiresAt = ptr(now.Add(-time.Hour))
			},
			"disabled": func(c *keyward.Credential) { c.Active = false },
			"disabled-pending": func(c *keyward.Credential) {
				c.Active = false
				c.NotBefore = ptr(now.Add(time.Hour))
			},
			"pending":         func(c *keyward.Credential) { c.NotBefore = ptr(now.Add(time.Hour)) },
			"pending-next-us": func(c *keyward.Credential) { c.NotBefore = ptr(now.Add(time.Microsecond)) },
			"pending-expired": func(c *keyward.Credential) {
				c.NotBefore = ptr(now.Add(time.Hour))
				c.ExpiresAt = ptr(now.Add(-time.Hour))
			},
			"expired":     func(c *keyward.Credential) { c.ExpiresAt = ptr(now.Add(-time.Hour)) },
			"expired-now": func(c *keyward.Credential) { c.ExpiresAt = ptr(now) },
		}
		keys := make([]string, 0, len(cases))
		for k := range cases {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := map[keyward.State][]string{}
		for _, k := range keys {
			c, _ := f.credential(t, p, k, cases[k])
			st := c.StateAt(now)
			want[st] = append(want[st], k)
		}
		// A credential of another project never shows.
		f.credential(t, f.system, "other-project", nil)

		for _, st := range []keyward.State{keyward.StateRevoked, keyward.StateDisabled, keyward.StatePending,
			keyward.StateExpired, keyward.StateActive} {
			t.Run(string(st), func(t *testing.T) {
				if len(want[st]) == 0 {
					t.Fatalf("the suite built no %s credential", st)
				}
				for _, nowCase := range []struct {
					name string
					now  time.Time
				}{
					{"Exact", now},
					// Nanoseconds beyond the stored microseconds must not change the answer.
					{"SubMicro", now.Add(500 * time.Nanosecond)},
				} {
					cs, err := f.s.ListCredentials(t.Context(), keyward.CredentialFilter{ProjectID: p.ID, State: st, Now: nowCase.now})
					if err != nil {
						t.Fatalf("ListCredentials: %v", err)
					}
					var w []string
					for _, k := range keys {
						c, err := f.s.CredentialByName(t.Context(), p.ID, k)
						if err != nil {
							t.Fatalf("CredentialByName: %v", err)
						}
						if c.StateAt(nowCase.now) == st {
							w = append(w, k)
						}
					}
					got := names(cs)
					slices.Sort(got)
					if !slices.Equal(got, w) {
						t.Fatalf("%s: %s = %v, want %v", nowCase.name, st, got, w)
					}
				}
			})
		}
	})

	t.Run("NotRevoked", func(t *testing.T) {
		// The filter is in the query: a page of live keys is full even when revoked ones sit
		// between them.
		f := setup(t, open)
		p := f.project(t, "acme")
		var live []string
		for i := range 6 {
			name := fmt.Sprintf("k%d", i)
			f.credential(t, p, name, func(c *keyward.Credential) {
				if i%2 == 0 {
					c.RevokedAt = ptr(t0.Add(-time.Minute))
				}
			})
			if i%2 == 1 {
				live = append(live, name)
			}
		}
		cs, err := f.s.ListCredentials(t.Context(), keyward.CredentialFilter{ProjectID: p.ID, NotRevoked: true, Now: t0, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if got := names(cs); !slices.Equal(got, live[:2]) {
			t.Fatalf("first page = %v, want %v", got, live[:2])
		}
		cs, err = f.s.ListCredentials(t.Context(), keyward.CredentialFilter{ProjectID: p.ID, NotRevoked: true, Now: t0, AfterID: cs[1].ID})
		if err != nil {
			t.Fatal(err)
		}
		if got := names(cs); !slices.Equal(got, live[2:]) {
			t.Fatalf("next page = %v, want %v", got, live[2:])
		}
	})

	t.Run("ErrUnknownState", func(t *testing.T) {
		f := setup(t, open)
		_, err := f.s.ListCredentials(t.Context(), keyward.CredentialFilter{ProjectID: f.system.ID, State: "bogus", Now: t0})
		wantCode(t, err, keyward.EInvalid)
	})

	t.Run("ErrNoProject", func(t *testing.T) {
		f := setup(t, open)
		_, err := f.s.ListCredentials(t.Context(), keyward.CredentialFilter{})
		wantCode(t, err, keyward.EInvalid)
	})

	t.Run("Filters", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		for _, c := range []struct {
			name string
			typ  keyward.CredentialType
			env  keyward.Environment
		}{
			{"tok-live", keyward.APIToken, keyward.Live},
			{"tok-test", keyward.APIToken, keyward.Test},
			{"cert-live", keyward.APICertificate, keyward.Live},
			{"kube-test", keyward.KubeConfig, keyward.Test},
		} {
			f.credential(t, p, c.name, func(cr *keyward.Credential) {
				cr.Type, cr.Environment = c.typ, c.env
			})
		}
		f.credential(t, p, "tok-live-revoked", func(c *keyward.Credential) { c.RevokedAt = ptr(t0) })
		for _, tc := range []struct {
			name   string
			filter keyward.CredentialFilter
			want   []string
		}{
			{"All", keyward.CredentialFilter{}, []string{"tok-live", "tok-test", "cert-live", "kube-test", "tok-live-revoked"}},
			{"Type", keyward.CredentialFilter{Type: keyward.APIToken}, []string{"tok-live", "tok-test", "tok-live-revoked"}},
			{"Environment", keyward.CredentialFilter{Environment: keyward.Test}, []string{"tok-test", "kube-test"}},
			{"TypeAndEnvironment", keyward.CredentialFilter{Type: keyward.APIToken, Environment: keyward.Live}, []string{"tok-live", "tok-live-revoked"}},
			{"TypeEnvironmentState", keyward.CredentialFilter{Type: keyward.APIToken, Environment: keyward.Live, State: keyward.StateActive}, []string{"tok-live"}},
			{"NoMatch", keyward.CredentialFilter{Type: keyward.KubeConfig, Environment: keyward.Live}, []string{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				fl := tc.filter
				fl.ProjectID, fl.Now = p.ID, t0
				cs, err := f.s.ListCredentials(t.Context(), fl)
				if err != nil {
					t.Fatalf("ListCredentials: %v", err)
				}
				if cs == nil {
					t.Fatal("ListCredentials returned nil, want an empty slice")
				}
				if got, want := names(cs), tc.want; !slices.Equal(got, want) {
					t.Fatalf("names = %v, want %v", got, want)
				}
				for _, c := range cs {
					if got, want := c.Project, p.Slug; got != want {
						t.Fatalf("Project = %q, want %q", got, want)
					}
				}
			})
		}
	})

	t.Run("CreatedBy", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		bob, carol := f.user(t, "bob", ""), f.user(t, "carol", "")
		by := func(u *keyward.User, mod func(*keyward.Credential)) func(*keyward.Credential) {
			return func(c *keyward.Credential) {
				c.CreatedBy = u.ID
				if mod != nil {
					mod(c)
				}
			}
		}
		f.credential(t, p, "admin-1", nil)
		f.credential(t, p, "bob-1", by(bob, nil))
		f.credential(t, p, "carol-1", by(carol, nil))
		f.credential(t, p, "bob-2", by(bob, func(c *keyward.Credential) { c.Type = keyward.Session }))
		f.credential(t, p, "bob-3", by(bob, func(c *keyward.Credential) { c.RevokedAt = ptr(t0) }))
		f.credential(t, f.system, "bob-elsewhere", by(bob, nil))
		for _, tc := range []struct {
			name   string
			filter keyward.CredentialFilter
			want   []string
		}{
			// bob-2, a session, is listed only when sessions are asked for.
			{"Any", keyward.CredentialFilter{}, []string{"admin-1", "bob-1", "carol-1", "bob-3"}},
			{"One", keyward.CredentialFilter{CreatedBy: bob.ID}, []string{"bob-1", "bob-3"}},
			{"Other", keyward.CredentialFilter{CreatedBy: carol.ID}, []string{"carol-1"}},
			{"WithType", keyward.CredentialFilter{CreatedBy: bob.ID, Type: keyward.Session}, []string{"bob-2"}},
			{"SessionsWithState", keyward.CredentialFilter{Type: keyward.Session, State: keyward.StateActive}, []string{"bob-2"}},
			{"WithState", keyward.CredentialFilter{CreatedBy: bob.ID, State: keyward.StateActive}, []string{"bob-1"}},
			{"WithLimit", keyward.CredentialFilter{CreatedBy: bob.ID, Limit: 1}, []string{"bob-1"}},
			{"Nobody", keyward.CredentialFilter{CreatedBy: 999999}, []string{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				fl := tc.filter
				fl.ProjectID, fl.Now = p.ID, t0
				cs, err := f.s.ListCredentials(t.Context(), fl)
				if err != nil {
					t.Fatalf("ListCredentials: %v", err)
				}
				if cs == nil {
					t.Fatal("ListCredentials returned nil, want an empty slice")
				}
				if got, want := names(cs), tc.want; !slices.Equal(got, want) {
					t.Fatalf("names = %v, want %v", got, want)
				}
			})
		}
	})

	t.Run("Pagination", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		var want []string
		for i := range 7 {
			name := fmt.Sprintf("k%d", i)
			f.credential(t, p, name, nil)
			want = append(want, name)
		}
		f.credential(t, f.system, "elsewhere", nil)
		var got []string
		after := int64(0)
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatalf("more than 3 pages of 3 for 7 credentials: %v", got)
			}
			cs, err := f.s.ListCredentials(t.Context(), keyward.CredentialFilter{ProjectID: p.ID, AfterID: after, Limit: 3, Now: t0})
			if err != nil {
				t.Fatalf("ListCredentials: %v", err)
			}
			if len(cs) > 3 {
				t.Fatalf("page of %d, want at most 3", len(cs))
			}
			if len(cs) == 0 {
				break
			}
			for i := 1; i < len(cs); i++ {
				if cs[i-1].ID >= cs[i].ID {
					t.Fatalf("not by ascending id: %d before %d", cs[i-1].ID, cs[i].ID)
				}
			}
			got = append(got, names(cs)...)
			after = cs[len(cs)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Fatalf("names = %v, want %v", got, want)
		}
	})
}

func testUpdateCredential(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("ErrNameTaken", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		f.credential(t, p, "taken", nil)
		c, _ := f.credential(t, p, "mine", nil)
		before := len(f.events(t))
		c.Name = "taken"
		c.UpdatedAt = at(time.Minute)
		err := f.s.UpdateCredential(t.Context(), c, f.event("credential.update"))
		wantCode(t, err, keyward.EConflict)
		if got, want := c.Version, int64(1); got != want {
			t.Fatalf("Version after a refused rename = %d, want %d", got, want)
		}
		if got := f.reread(t, &keyward.Credential{ID: c.ID, ProjectID: p.ID}); got.Name != "mine" || got.Version != 1 {
			t.Fatalf("after a refused rename: name %q version %d", got.Name, got.Version)
		}
		if got := len(f.events(t)); got != before {
			t.Fatalf("a refused rename wrote %d events", got-before)
		}
	})
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		c, sec := f.credential(t, p, "k", func(c *keyward.Credential) { c.LastUsedAt = ptr(at(-time.Hour)) })
		orig := clone(c)

		c.Description = "changed"
		c.Meta = map[string]string{"owner": "ops"}
		c.NotBefore = ptr(at(time.Hour))
		c.ExpiresAt = ptr(at(24 * time.Hour))
		c.Active = false
		c.RevokedAt = ptr(at(2 * time.Minute))
		c.RoleIDs = []int64{f.customRole.ID, f.adminRole.ID}
		c.UpdatedAt = at(time.Minute)
		c.Name = "renamed"
		// Not mutable: these must stay as they were.
		c.Type, c.Environment, c.KeyType, c.Start = keyward.KubeConfig, keyward.Test, keyward.Publishable, "kw_test_X"
		c.CreatedAt, c.CreatedBy = at(time.Hour), 999999
		sent := clone(c)

		ev := f.event("credential.update")
		ev.CredentialID, ev.ProjectID = c.ID, p.ID
		if err := f.s.UpdateCredential(t.Context(), c, ev); err != nil {
			t.Fatalf("UpdateCredential: %v", err)
		}
		if got, want := c.Version, int64(2); got != want {
			t.Fatalf("Version = %d, want %d", got, want)
		}
		if ev.ID <= 0 {
			t.Fatalf("event ID = %d, want > 0", ev.ID)
		}
		want := sent
		want.Version = 2
		want.Type, want.Environment, want.KeyType, want.Start = orig.Type, orig.Environment, orig.KeyType, orig.Start
		want.CreatedAt, want.CreatedBy = orig.CreatedAt, orig.CreatedBy
		want.LastUsedAt = orig.LastUsedAt
		want.RoleIDs = []int64{f.adminRole.ID, f.customRole.ID}
		slices.Sort(want.RoleIDs)
		checkCredential(t, f.reread(t, c), want)
		checkEvent(t, f.events(t)[0], ev)

		// The secret still leads to the credential.
		gc, _, err := f.s.CredentialBySecret(t.Context(), sec.Digest)
		if err != nil {
			t.Fatalf("CredentialBySecret: %v", err)
		}
		if got, want := gc.Version, int64(2); got != want {
			t.Fatalf("Version by secret = %d, want %d", got, want)
		}
	})

	t.Run("RoleIDsCleared", func(t *testing.T) {
		f := setup(t, open)
		c, _ := f.credential(t, f.system, "k", func(c *keyward.Credential) { c.RoleIDs = []int64{f.adminRole.ID, f.viewerRole.ID} })
		c.RoleIDs = nil
		if err := f.s.UpdateCredential(t.Context(), c, f.event("credential.update")); err != nil {
			t.Fatalf("UpdateCredential: %v", err)
		}
		got := f.reread(t, c)
		if got.RoleIDs == nil || len(got.RoleIDs) != 0 {
			t.Fatalf("RoleIDs = %#v, want empty", got.RoleIDs)
		}
	})

	t.Run("ErrStale", func(t *testing.T) {
		f := setup(t, open)
		c, _ := f.credential(t, f.system, "k", nil)
		first, second := clone(c), clone(c)
		first.Description = "first"
		if err := f.s.UpdateCredential(t.Context(), first, f.event("credential.update")); err != nil {
			t.Fatalf("UpdateCredential: %v", err)
		}
		before := len(f.events(t))
		second.Description = "second"
		second.Active = false
		err := f.s.UpdateCredential(t.Context(), second, f.event("credential.update"))
		wantCode(t, err, keyward.EConflict)
		if got, want := second.Version, int64(1); got != want {
			t.Fatalf("failed update moved Version to %d, want %d", got, want)
		}
		checkCredential(t, f.reread(t, c), first)
		if got, want := len(f.events(t)), before; got != want {
			t.Fatalf("%d events after a stale update, want %d", got, want)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		other := f.project(t, "other")
		c, _ := f.credential(t, f.system, "k", nil)
		before := len(f.events(t))
		for _, tc := range []struct {
			name string
			mod  func(c *keyward.Credential)
		}{
			{"Missing", func(c *keyward.Credential) { c.ID = 999999 }},
			{"OtherProject", func(c *keyward.Credential) { c.ProjectID = other.ID }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				u := clone(c)
				tc.mod(u)
				u.Description = "nope"
				wantCode(t, f.s.UpdateCredential(t.Context(), u, f.event("credential.update")), keyward.ENotFound)
			})
		}
		checkCredential(t, f.reread(t, c), c)
		if got, want := len(f.events(t)), before; got != want {
			t.Fatalf("%d events after failed updates, want %d", got, want)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		f := setup(t, open)
		c, _ := f.credential(t, f.system, "k", nil)
		before := len(f.events(t))
		const n = 16
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			u := clone(c)
			u.Description = fmt.Sprintf("writer %d", i)
			wg.Go(func() {
				<-start
				errs[i] = f.s.UpdateCredential(t.Context(), u, f.event("credential.update"))
			})
		}
		close(start)
		wg.Wait()
		ok, conflicts := 0, 0
		winner := -1
		for i, err := range errs {
			switch keyward.ErrorCode(err) {
			case "":
				ok++
				winner = i
			case keyward.EConflict:
				conflicts++
			default:
				t.Fatalf("writer %d: %v", i, err)
			}
		}
		if ok != 1 || conflicts != n-1 {
			t.Fatalf("%d succeeded and %d conflicted, want 1 and %d", ok, conflicts, n-1)
		}
		got := f.reread(t, c)
		if got, want := got.Version, int64(2); got != want {
			t.Fatalf("Version = %d, want %d", got, want)
		}
		if got, want := got.Description, fmt.Sprintf("writer %d", winner); got != want {
			t.Fatalf("Description = %q, want the winner's %q", got, want)
		}
		if got, want := len(f.events(t)), before+1; got != want {
			t.Fatalf("%d events, want %d", got, want)
		}
	})
}

// roll rolls c at when to a new secret named name, with the old ones valid until grace.
func (f *fixture) roll(t *testing.T, c *keyward.Credential, name string, when, grace time.Time) *keyward.CredentialSecret {
	t.Helper()
	c.UpdatedAt = when
	c.Start = "kw_live_" + name
	sec := &keyward.CredentialSecret{Digest: digest(name), CreatedAt: when}
	ev := f.event("credential.roll")
	ev.CredentialID, ev.ProjectID = c.ID, c.ProjectID
	if err := f.s.RollCredential(t.Context(), c, sec, grace, ev); err != nil {
		t.Fatalf("RollCredential(%s): %v", name, err)
	}
	if ev.ID <= 0 {
		t.Fatalf("event ID = %d, want > 0", ev.ID)
	}
	return sec
}

// secretUntil looks digest up and returns its ValidUntil; it fails t when the digest is gone
// or leads to another credential.
func (f *fixture) secretUntil(t *testing.T, c *keyward.Credential, d []byte) *time.Time {
	t.Helper()
	gc, gs, err := f.s.CredentialBySecret(t.Context(), d)
	if err != nil {
		t.Fatalf("CredentialBySecret(%x): %v", d[:4], err)
	}
	if got, want := gc.ID, c.ID; got != want {
		t.Fatalf("secret leads to credential %d, want %d", got, want)
	}
	return gs.ValidUntil
}

// wantGone fails t unless digest is unknown.
func (f *fixture) wantGone(t *testing.T, d []byte) {
	t.Helper()
	_, _, err := f.s.CredentialBySecret(t.Context(), d)
	wantCode(t, err, keyward.ENotFound)
}

func testRollCredential(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("Grace", func(t *testing.T) {
		f := setup(t, open)
		c, old := f.credential(t, f.system, "k", nil)
		grace := at(time.Hour)
		sec := f.roll(t, c, "second", at(time.Minute), grace)
		if got, want := c.Version, int64(2); got != want {
			t.Fatalf("Version = %d, want %d", got, want)
		}
		if got, want := sec.CredentialID, c.ID; got != want {
			t.Fatalf("secret CredentialID = %d, want %d", got, want)
		}
		if got := f.secretUntil(t, c, old.Digest); !sameTime(got, &grace) {
			t.Fatalf("old secret ValidUntil = %v, want %v", got, grace)
		}
		if got := f.secretUntil(t, c, sec.Digest); got != nil {
			t.Fatalf("new secret ValidUntil = %v, want nil", got)
		}
		got := f.reread(t, c)
		checkCredential(t, got, c)
		if got, want := got.Start, "kw_live_second"; got != want {
			t.Fatalf("Start = %q, want %q", got, want)
		}
		evs := f.events(t)
		if got, want := evs[0].Action, "credential.roll"; got != want {
			t.Fatalf("newest event = %q, want %q", got, want)
		}
	})

	t.Run("ZeroGrace", func(t *testing.T) {
		f := setup(t, open)
		c, old := f.credential(t, f.system, "k", nil)
		when := at(time.Minute)
		sec := f.roll(t, c, "second", when, when)
		f.wantGone(t, old.Digest)
		if got := f.secretUntil(t, c, sec.Digest); got != nil {
			t.Fatalf("new secret ValidUntil = %v, want nil", got)
		}
	})

	t.Run("KeepsEarlierGrace", func(t *testing.T) {
		f := setup(t, open)
		c, first := f.credential(t, f.system, "k", nil)
		g1 := at(time.Hour)
		second := f.roll(t, c, "second", at(time.Minute), g1)
		g2 := at(2 * time.Hour)
		third := f.roll(t, c, "third", at(2*time.Minute), g2)
		if got := f.secretUntil(t, c, first.Digest); !sameTime(got, &g1) {
			t.Fatalf("first secret ValidUntil = %v, want its earlier %v", got, g1)
		}
		if got := f.secretUntil(t, c, second.Digest); !sameTime(got, &g2) {
			t.Fatalf("second secret ValidUntil = %v, want %v", got, g2)
		}
		if got := f.secretUntil(t, c, third.Digest); got != nil {
			t.Fatalf("third secret ValidUntil = %v, want nil", got)
		}
		// A shorter grace cuts every earlier secret short.
		g4 := at(3 * time.Minute)
		fourth := f.roll(t, c, "fourth", at(2*time.Minute+30*time.Second), g4)
		for _, d := range [][]byte{first.Digest, second.Digest, third.Digest} {
			if got := f.secretUntil(t, c, d); !sameTime(got, &g4) {
				t.Fatalf("ValidUntil = %v, want %v", got, g4)
			}
		}
		if got := f.secretUntil(t, c, fourth.Digest); got != nil {
			t.Fatalf("fourth secret ValidUntil = %v, want nil", got)
		}
	})

	t.Run("DeletesExpired", func(t *testing.T) {
		f := setup(t, open)
		c, first := f.credential(t, f.system, "k", nil)
		second := f.roll(t, c, "second", at(time.Minute), at(time.Hour))
		// Rolled again after the first secret's grace ended: it is deleted, the second gets
		// its grace, the third is current.
		g := at(3 * time.Hour)
		third := f.roll(t, c, "third", at(2*time.Hour), g)
		f.wantGone(t, first.Digest)
		if got := f.secretUntil(t, c, second.Digest); !sameTime(got, &g) {
			t.Fatalf("second secret ValidUntil = %v, want %v", got, g)
		}
		if got := f.secretUntil(t, c, third.Digest); got != nil {
			t.Fatalf("third secret ValidUntil = %v, want nil", got)
		}
		if got, want := c.Version, int64(3); got != want {
			t.Fatalf("Version = %d, want %d", got, want)
		}
	})

	t.Run("ErrStale", func(t *testing.T) {
		f := setup(t, open)
		c, old := f.credential(t, f.system, "k", nil)
		stale := clone(c)
		f.roll(t, c, "second", at(time.Minute), at(time.Hour))
		before := len(f.events(t))
		stale.UpdatedAt = at(2 * time.Minute)
		sec := &keyward.CredentialSecret{Digest: digest("third"), CreatedAt: stale.UpdatedAt}
		err := f.s.RollCredential(t.Context(), stale, sec, stale.UpdatedAt, f.event("credential.roll"))
		wantCode(t, err, keyward.EConflict)
		f.wantGone(t, sec.Digest)
		if got, want := f.secretUntil(t, c, old.Digest), at(time.Hour); !sameTime(got, &want) {
			t.Fatalf("old secret ValidUntil = %v, want the untouched %v", got, want)
		}
		if got, want := len(f.events(t)), before; got != want {
			t.Fatalf("%d events after a stale roll, want %d", got, want)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		c, _ := f.credential(t, f.system, "k", nil)
		c.ID = 999999
		sec := &keyward.CredentialSecret{Digest: digest("x"), CreatedAt: t0}
		err := f.s.RollCredential(t.Context(), c, sec, t0, f.event("credential.roll"))
		wantCode(t, err, keyward.ENotFound)
		f.wantGone(t, sec.Digest)
	})

	t.Run("ErrDigestTaken", func(t *testing.T) {
		f := setup(t, open)
		c, old := f.credential(t, f.system, "k", nil)
		_, other := f.credential(t, f.system, "other", nil)
		before := len(f.events(t))
		u := clone(c)
		u.UpdatedAt = at(time.Minute)
		sec := &keyward.CredentialSecret{Digest: other.Digest, CreatedAt: u.UpdatedAt}
		err := f.s.RollCredential(t.Context(), u, sec, u.UpdatedAt, f.event("credential.roll"))
		wantCode(t, err, keyward.EConflict)
		// Nothing moved: the old secret is still current, the version still 1.
		if got := f.secretUntil(t, c, old.Digest); got != nil {
			t.Fatalf("old secret ValidUntil = %v, want nil", got)
		}
		checkCredential(t, f.reread(t, c), c)
		if got, want := len(f.events(t)), before; got != want {
			t.Fatalf("%d events after a failed roll, want %d", got, want)
		}
	})
}

func testTouchCredentials(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		a, _ := f.credential(t, f.system, "a", nil)
		b, _ := f.credential(t, f.system, "b", nil)
		c, _ := f.credential(t, f.system, "c", nil)
		before := len(f.events(t))
		ta, tb := at(time.Minute), at(2*time.Minute)
		if err := f.s.TouchCredentials(t.Context(), map[int64]time.Time{a.ID: ta, b.ID: tb, 999999: tb}); err != nil {
			t.Fatalf("TouchCredentials: %v", err)
		}
		for _, tc := range []struct {
			c    *keyward.Credential
			want *time.Time
		}{{a, &ta}, {b, &tb}, {c, nil}} {
			got := f.reread(t, tc.c)
			if !sameTime(got.LastUsedAt, tc.want) {
				t.Fatalf("%s LastUsedAt = %v, want %v", tc.c.Name, got.LastUsedAt, tc.want)
			}
			if got, want := got.Version, int64(1); got != want {
				t.Fatalf("%s Version = %d, want %d: touching is not a change", tc.c.Name, got, want)
			}
			if !sameTime(&got.UpdatedAt, &tc.c.UpdatedAt) {
				t.Fatalf("%s UpdatedAt = %v, want %v", tc.c.Name, got.UpdatedAt, tc.c.UpdatedAt)
			}
		}
		if got, want := len(f.events(t)), before; got != want {
			t.Fatalf("%d events after touching, want %d", got, want)
		}
	})

	t.Run("Monotonic", func(t *testing.T) {
		f := setup(t, open)
		c, _ := f.credential(t, f.system, "k", nil)
		later, earlier := at(time.Hour), at(time.Minute)
		for _, when := range []time.Time{later, earlier} {
			if err := f.s.TouchCredentials(t.Context(), map[int64]time.Time{c.ID: when}); err != nil {
				t.Fatalf("TouchCredentials: %v", err)
			}
		}
		if got := f.reread(t, c).LastUsedAt; !sameTime(got, &later) {
			t.Fatalf("LastUsedAt = %v, want %v: an older time moved it back", got, later)
		}
		// Touching bumps no version, so the version read before still updates, and the
		// update leaves last_used_at alone.
		c.Description = "after touch"
		if err := f.s.UpdateCredential(t.Context(), c, f.event("credential.update")); err != nil {
			t.Fatalf("UpdateCredential after touch: %v", err)
		}
		if got := f.reread(t, c).LastUsedAt; !sameTime(got, &later) {
			t.Fatalf("LastUsedAt after update = %v, want %v", got, later)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		f := setup(t, open)
		if err := f.s.TouchCredentials(t.Context(), nil); err != nil {
			t.Fatalf("TouchCredentials(nil): %v", err)
		}
		if err := f.s.TouchCredentials(t.Context(), map[int64]time.Time{}); err != nil {
			t.Fatalf("TouchCredentials(empty): %v", err)
		}
	})
}

// testSecretDigests: every stored secret's digest (the bootstrap's, a rolled one in its
// grace period, a session's) comes back once, ascending bytewise, page by page; a rolled-back
// transaction's does not.
func testSecretDigests(t *testing.T, open func(t *testing.T) keyward.Store) {
	f := setup(t, open)
	ctx := t.Context()
	want := [][]byte{f.b.Secret.Digest}
	for i := range 5 {
		_, sec := f.credential(t, f.system, fmt.Sprintf("k%d", i), nil)
		want = append(want, sec.Digest)
	}
	c, _ := f.credential(t, f.system, "rolled", nil)
	want = append(want, digest("system/rolled"))
	next := &keyward.CredentialSecret{Digest: digest("rolled-2"), CreatedAt: t0}
	c.UpdatedAt = t0
	if err := f.s.RollCredential(ctx, c, next, at(time.Hour), f.event("credential.roll")); err != nil {
		t.Fatalf("RollCredential: %v", err)
	}
	want = append(want, next.Digest)
	_, sess := f.credential(t, f.system, "session-1", func(c *keyward.Credential) { c.Type = keyward.Session })
	want = append(want, sess.Digest)
	_ = f.s.WithTx(ctx, func(tx keyward.Store) error {
		c, sec := f.newCredential(f.system, "gone", nil)
		if err := tx.CreateCredential(ctx, c, sec, f.event("credential.create")); err != nil {
			t.Fatalf("CreateCredential in tx: %v", err)
		}
		return keyward.Errorf(keyward.EConflict, "roll back")
	})
	slices.SortFunc(want, bytes.Compare)

	var got [][]byte
	var after []byte
	for {
		page, err := f.s.SecretDigests(ctx, after, 3)
		if err != nil {
			t.Fatalf("SecretDigests: %v", err)
		}
		if len(page) > 3 {
			t.Fatalf("page of %d, limit 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1]
	}
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("SecretDigests pages = %x\nwant %x", got, want)
	}
	all, err := f.s.SecretDigests(ctx, nil, 0)
	if err != nil || !slices.EqualFunc(all, want, bytes.Equal) {
		t.Fatalf("SecretDigests(nil, 0) = %x, %v; want %x", all, err, want)
	}
}

// testVerificationBySecret: one read returns what CredentialBySecret, UserByID and
// RoleBindings return, for a creator with bindings and for one without; ENotFound otherwise.
func testVerificationBySecret(t *testing.T, open func(t *testing.T) keyward.Store) {
	f := setup(t, open)
	ctx := t.Context()
	p := f.project(t, "acme")
	u := &keyward.User{Name: "maker", CreatedAt: t0}
	if err := f.s.CreateUser(ctx, u, "", f.event("user.create")); err != nil {
		t.Fatal(err)
	}
	for _, b := range []keyward.RoleBinding{
		{UserID: u.ID, ProjectID: p.ID, RoleID: f.viewerRole.ID},
		{UserID: u.ID, RoleID: f.customRole.ID},
		{UserID: u.ID, ProjectID: p.ID, RoleID: f.customRole.ID},
	} {
		if err := f.s.CreateRoleBinding(ctx, b, f.event("binding.create")); err != nil {
			t.Fatal(err)
		}
	}
	_, bound := f.credential(t, p, "bound", func(c *keyward.Credential) { c.CreatedBy = u.ID })
	loner := &keyward.User{Name: "loner", CreatedAt: t0}
	if err := f.s.CreateUser(ctx, loner, "secret-hash", f.event("user.create")); err != nil {
		t.Fatal(err)
	}
	_, unbound := f.credential(t, p, "unbound", func(c *keyward.Credential) { c.CreatedBy = loner.ID })
	for _, sec := range []*keyward.CredentialSecret{bound, unbound, f.b.Secret} {
		rec, err := f.s.VerificationBySecret(ctx, sec.Digest)
		if err != nil {
			t.Fatalf("VerificationBySecret: %v", err)
		}
		cred, secret, err := f.s.CredentialBySecret(ctx, sec.Digest)
		if err != nil {
			t.Fatal(err)
		}
		user, err := f.s.UserByID(ctx, cred.CreatedBy)
		if err != nil {
			t.Fatal(err)
		}
		bindings, err := f.s.RoleBindings(ctx, cred.CreatedBy)
		if err != nil {
			t.Fatal(err)
		}
		checkCredential(t, rec.Credential, cred)
		if fmt.Sprint(*rec.Secret) != fmt.Sprint(*secret) {
			t.Errorf("secret = %+v, want %+v", *rec.Secret, *secret)
		}
		if rec.Creator == nil || fmt.Sprint(*rec.Creator) != fmt.Sprint(*user) {
			t.Errorf("creator = %+v, want %+v", rec.Creator, *user)
		}
		if !slices.Equal(rec.Bindings, bindings) || rec.Bindings == nil {
			t.Errorf("bindings = %+v, want %+v (never nil)", rec.Bindings, bindings)
		}
	}
	if _, err := f.s.VerificationBySecret(ctx, digest("nobody")); keyward.ErrorCode(err) != keyward.ENotFound {
		t.Fatalf("VerificationBySecret(unknown) = %v, want not_found", err)
	}
}
