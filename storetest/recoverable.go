package storetest

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// sealed returns a stand-in for a token sealed under the master key.
func sealed(s string) []byte { return []byte("sealed:" + s) }

// wantRecoverable fails t unless every read of c says Recoverable is want.
func (f *fixture) wantRecoverable(t *testing.T, c *keyward.Credential, currentDigest []byte, want bool) {
	t.Helper()
	if got := f.reread(t, c).Recoverable; got != want {
		t.Fatalf("CredentialByID: Recoverable = %v, want %v", got, want)
	}
	byName, err := f.s.CredentialByName(t.Context(), c.ProjectID, c.Name)
	if err != nil {
		t.Fatalf("CredentialByName: %v", err)
	}
	if got := byName.Recoverable; got != want {
		t.Fatalf("CredentialByName: Recoverable = %v, want %v", got, want)
	}
	cs, err := f.s.ListCredentials(t.Context(), keyward.CredentialFilter{ProjectID: c.ProjectID, Limit: 1000})
	if err != nil {
		t.Fatalf("ListCredentials: %v", err)
	}
	for _, lc := range cs {
		if lc.ID == c.ID && lc.Recoverable != want {
			t.Fatalf("ListCredentials: Recoverable = %v, want %v", lc.Recoverable, want)
		}
	}
	if currentDigest != nil {
		bc, _, err := f.s.CredentialBySecret(t.Context(), currentDigest)
		if err != nil {
			t.Fatalf("CredentialBySecret: %v", err)
		}
		if got := bc.Recoverable; got != want {
			t.Fatalf("CredentialBySecret: Recoverable = %v, want %v", got, want)
		}
	}
}

// sealedSecret returns SealedSecret(c.ID), failing t on an error.
func (f *fixture) sealedSecret(t *testing.T, c *keyward.Credential) []byte {
	t.Helper()
	b, err := f.s.SealedSecret(t.Context(), c.ID)
	if err != nil {
		t.Fatalf("SealedSecret(%d): %v", c.ID, err)
	}
	return b
}

// rollSealed rolls c at when to a secret named name sealed as blob (nil: not sealed).
func (f *fixture) rollSealed(t *testing.T, c *keyward.Credential, name string, blob []byte, when, grace time.Time) *keyward.CredentialSecret {
	t.Helper()
	c.UpdatedAt = when
	sec := &keyward.CredentialSecret{Digest: digest(name), CreatedAt: when, Sealed: blob}
	if err := f.s.RollCredential(t.Context(), c, sec, grace, f.event("credential.roll")); err != nil {
		t.Fatalf("RollCredential(%s): %v", name, err)
	}
	return sec
}

func testSealedSecret(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		c, sec := f.newCredential(p, "k", nil)
		sec.Sealed = sealed("k")
		if err := f.s.CreateCredential(t.Context(), c, sec, f.event("credential.create")); err != nil {
			t.Fatalf("CreateCredential: %v", err)
		}
		if !c.Recoverable {
			t.Fatal("CreateCredential with a sealed secret left Recoverable false")
		}
		f.wantRecoverable(t, c, sec.Digest, true)
		if got, want := f.sealedSecret(t, c), sealed("k"); !bytes.Equal(got, want) {
			t.Fatalf("SealedSecret = %q, want %q", got, want)
		}
		_, gs, err := f.s.CredentialBySecret(t.Context(), sec.Digest)
		if err != nil {
			t.Fatalf("CredentialBySecret: %v", err)
		}
		if got, want := gs.Sealed, sealed("k"); !bytes.Equal(got, want) {
			t.Fatalf("secret Sealed = %q, want %q", got, want)
		}
	})

	t.Run("NotSealed", func(t *testing.T) {
		f := setup(t, open)
		c, sec := f.credential(t, f.system, "k", nil)
		if c.Recoverable {
			t.Fatal("CreateCredential without a sealed secret set Recoverable")
		}
		f.wantRecoverable(t, c, sec.Digest, false)
		_, gs, err := f.s.CredentialBySecret(t.Context(), sec.Digest)
		if err != nil {
			t.Fatalf("CredentialBySecret: %v", err)
		}
		if gs.Sealed != nil {
			t.Fatalf("secret Sealed = %q, want nil", gs.Sealed)
		}
	})

	for _, tc := range []struct {
		name string
		id   func(t *testing.T, f *fixture) int64
	}{
		{"ErrNotSealed", func(t *testing.T, f *fixture) int64 {
			c, _ := f.credential(t, f.system, "k", nil)
			return c.ID
		}},
		{"ErrEmptySealed", func(t *testing.T, f *fixture) int64 {
			c, sec := f.newCredential(f.system, "k", nil)
			sec.Sealed = []byte{}
			if err := f.s.CreateCredential(t.Context(), c, sec, f.event("credential.create")); err != nil {
				t.Fatalf("CreateCredential: %v", err)
			}
			f.wantRecoverable(t, c, sec.Digest, false)
			return c.ID
		}},
		{"ErrCertificate", func(t *testing.T, f *fixture) int64 {
			c := f.certCredential(t, f.system, "cert", "01", nil)
			f.wantRecoverable(t, c, nil, false)
			return c.ID
		}},
		{"ErrMissing", func(t *testing.T, f *fixture) int64 { return 999999 }},
		{"ErrOnlyOldSecretSealed", func(t *testing.T, f *fixture) int64 {
			c, sec := f.newCredential(f.system, "k", nil)
			sec.Sealed = sealed("k")
			if err := f.s.CreateCredential(t.Context(), c, sec, f.event("credential.create")); err != nil {
				t.Fatalf("CreateCredential: %v", err)
			}
			// Rolled to an unsealed secret: the old one, still in its grace period, does not count.
			next := f.rollSealed(t, c, "next", nil, at(time.Minute), at(time.Hour))
			if c.Recoverable {
				t.Fatal("RollCredential to an unsealed secret left Recoverable true")
			}
			f.wantRecoverable(t, c, next.Digest, false)
			f.wantRecoverable(t, c, sec.Digest, false)
			return c.ID
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, open)
			id := tc.id(t, f)
			_, err := f.s.SealedSecret(t.Context(), id)
			wantCode(t, err, keyward.ENotFound)
		})
	}

	t.Run("Roll", func(t *testing.T) {
		f := setup(t, open)
		c, first := f.credential(t, f.system, "k", nil)
		second := f.rollSealed(t, c, "second", sealed("second"), at(time.Minute), at(time.Hour))
		if !c.Recoverable {
			t.Fatal("RollCredential to a sealed secret left Recoverable false")
		}
		if got, want := second.Sealed, sealed("second"); !bytes.Equal(got, want) {
			t.Fatalf("rolled secret Sealed = %q, want %q", got, want)
		}
		f.wantRecoverable(t, c, second.Digest, true)
		// The old secret leads to the credential, which is recoverable through its new secret.
		f.wantRecoverable(t, c, first.Digest, true)
		if got, want := f.sealedSecret(t, c), sealed("second"); !bytes.Equal(got, want) {
			t.Fatalf("SealedSecret = %q, want %q", got, want)
		}
		third := f.rollSealed(t, c, "third", sealed("third"), at(2*time.Minute), at(time.Hour))
		f.wantRecoverable(t, c, third.Digest, true)
		if got, want := f.sealedSecret(t, c), sealed("third"); !bytes.Equal(got, want) {
			t.Fatalf("SealedSecret after a second roll = %q, want %q", got, want)
		}
		// The earlier sealed secret, in its grace period, keeps its own sealed token.
		_, gs, err := f.s.CredentialBySecret(t.Context(), second.Digest)
		if err != nil {
			t.Fatalf("CredentialBySecret: %v", err)
		}
		if got, want := gs.Sealed, sealed("second"); !bytes.Equal(got, want) {
			t.Fatalf("old secret Sealed = %q, want %q", got, want)
		}
	})

	t.Run("ErrRollStale", func(t *testing.T) {
		f := setup(t, open)
		c, sec := f.newCredential(f.system, "k", nil)
		sec.Sealed = sealed("k")
		if err := f.s.CreateCredential(t.Context(), c, sec, f.event("credential.create")); err != nil {
			t.Fatalf("CreateCredential: %v", err)
		}
		stale := clone(c)
		f.rollSealed(t, c, "second", sealed("second"), at(time.Minute), at(time.Hour))
		stale.UpdatedAt = at(2 * time.Minute)
		next := &keyward.CredentialSecret{Digest: digest("third"), CreatedAt: stale.UpdatedAt, Sealed: sealed("third")}
		wantCode(t, f.s.RollCredential(t.Context(), stale, next, stale.UpdatedAt, f.event("credential.roll")), keyward.EConflict)
		if got, want := f.sealedSecret(t, c), sealed("second"); !bytes.Equal(got, want) {
			t.Fatalf("SealedSecret after a stale roll = %q, want %q", got, want)
		}
	})
}

func testUpdateProject(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		orig := *p
		for _, tc := range []struct {
			name        string
			recoverable bool
		}{
			{"ACME, recoverable", true},
			{"ACME again", false},
		} {
			u := *p
			u.Name, u.RecoverableKeys = tc.name, tc.recoverable
			// Not written: the slug and the creation time.
			u.Slug, u.CreatedAt = "renamed", at(time.Hour)
			ev := f.event("project.update")
			ev.ProjectID = p.ID
			if err := f.s.UpdateProject(t.Context(), &u, ev); err != nil {
				t.Fatalf("UpdateProject: %v", err)
			}
			f.wantNewestEvent(t, ev)
			want := orig
			want.Name, want.RecoverableKeys = tc.name, tc.recoverable
			for _, read := range []func() (*keyward.Project, error){
				func() (*keyward.Project, error) { return f.s.ProjectByID(t.Context(), p.ID) },
				func() (*keyward.Project, error) { return f.s.ProjectBySlug(t.Context(), "acme") },
			} {
				got, err := read()
				if err != nil {
					t.Fatalf("reading the project: %v", err)
				}
				if !reflect.DeepEqual(*got, want) {
					t.Fatalf("project = %+v, want %+v", *got, want)
				}
			}
			ps, err := f.s.ListProjects(t.Context(), keyward.ProjectFilter{IDs: []int64{p.ID}})
			if err != nil {
				t.Fatalf("ListProjects: %v", err)
			}
			if len(ps) != 1 || !reflect.DeepEqual(*ps[0], want) {
				t.Fatalf("ListProjects = %v, want [%+v]", ps, want)
			}
		}
	})

	t.Run("CreateRecoverable", func(t *testing.T) {
		f := setup(t, open)
		p := &keyward.Project{Slug: "vault", Name: "Vault", CreatedAt: t0, RecoverableKeys: true}
		if err := f.s.CreateProject(t.Context(), p, f.event("project.create")); err != nil {
			t.Fatalf("CreateProject: %v", err)
		}
		got, err := f.s.ProjectByID(t.Context(), p.ID)
		if err != nil {
			t.Fatalf("ProjectByID: %v", err)
		}
		if !reflect.DeepEqual(*got, *p) {
			t.Fatalf("project = %+v, want %+v", *got, *p)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		before := len(f.events(t))
		ev := f.event("project.update")
		p := &keyward.Project{ID: 999999, Slug: "ghost", Name: "Ghost", RecoverableKeys: true}
		wantCode(t, f.s.UpdateProject(t.Context(), p, ev), keyward.ENotFound)
		f.wantNoEvent(t, before, ev)
	})
}
