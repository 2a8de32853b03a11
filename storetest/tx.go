package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// errAbort is what the WithTx cases return to make a transaction roll back.
var errAbort = errors.New("abort")

func testWithTx(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("Commit", func(t *testing.T) {
		f := setup(t, open)
		ctx := t.Context()
		before := len(f.events(t))
		var c *keyward.Credential
		err := f.s.WithTx(ctx, func(tx keyward.Store) error {
			p := &keyward.Project{Slug: "acme", Name: "ACME", CreatedAt: t0}
			if err := tx.CreateProject(ctx, p, f.event("project.create")); err != nil {
				return err
			}
			var sec *keyward.CredentialSecret
			c, sec = f.newCredential(p, "k", nil)
			return tx.CreateCredential(ctx, c, sec, f.event("credential.create"))
		})
		if err != nil {
			t.Fatalf("WithTx: %v", err)
		}
		if got := f.reread(t, c); got.Name != "k" {
			t.Fatalf("credential = %q, want k", got.Name)
		}
		if got, want := len(f.events(t)), before+2; got != want {
			t.Fatalf("events = %d, want %d", got, want)
		}
	})

	t.Run("ErrRollsBack", func(t *testing.T) {
		f := setup(t, open)
		ctx := t.Context()
		p := f.project(t, "acme")
		c, _ := f.credential(t, p, "k", nil)
		before := len(f.events(t))
		err := f.s.WithTx(ctx, func(tx keyward.Store) error {
			if err := tx.CreateProject(ctx, &keyward.Project{Slug: "gone", Name: "Gone", CreatedAt: t0}, f.event("project.create")); err != nil {
				return err
			}
			u := clone(c)
			u.Description = "changed"
			if err := tx.UpdateCredential(ctx, u, f.event("credential.update")); err != nil {
				return err
			}
			if err := tx.AppendEvent(ctx, f.event("note")); err != nil {
				return err
			}
			return errAbort
		})
		if !errors.Is(err, errAbort) {
			t.Fatalf("WithTx = %v, want fn's error", err)
		}
		if _, err := f.s.ProjectBySlug(ctx, "gone"); keyward.ErrorCode(err) != keyward.ENotFound {
			t.Fatalf("ProjectBySlug after rollback: %v, want not found", err)
		}
		checkCredential(t, f.reread(t, c), c)
		if got, want := len(f.events(t)), before; got != want {
			t.Fatalf("events = %d, want %d: a rolled-back event remains", got, want)
		}
	})

	t.Run("ReadsSeeWrites", func(t *testing.T) {
		f := setup(t, open)
		ctx := t.Context()
		err := f.s.WithTx(ctx, func(tx keyward.Store) error {
			p := &keyward.Project{Slug: "acme", Name: "ACME", CreatedAt: t0}
			if err := tx.CreateProject(ctx, p, f.event("project.create")); err != nil {
				return err
			}
			if _, err := tx.ProjectBySlug(ctx, "acme"); err != nil {
				t.Errorf("ProjectBySlug in tx: %v", err)
			}
			c, sec := f.newCredential(p, "k", nil)
			if err := tx.CreateCredential(ctx, c, sec, f.event("credential.create")); err != nil {
				return err
			}
			if _, _, err := tx.CredentialBySecret(ctx, sec.Digest); err != nil {
				t.Errorf("CredentialBySecret in tx: %v", err)
			}
			if left, ok, err := tx.ConsumeCredit(ctx, c.ID, time.Time{}); err != nil || !ok || left != nil {
				t.Errorf("ConsumeCredit in tx = %v, %v, %v; want nil, true (not counted)", left, ok, err)
			}
			list, err := tx.ListCredentials(ctx, keyward.CredentialFilter{ProjectID: p.ID})
			if err != nil || len(list) != 1 {
				t.Errorf("ListCredentials in tx = %d, %v; want 1", len(list), err)
			}
			evs, err := tx.ListEvents(ctx, keyward.EventFilter{Limit: 1})
			if err != nil || len(evs) != 1 || evs[0].Action != "credential.create" {
				t.Errorf("ListEvents in tx = %v, %v; want the credential.create event", evs, err)
			}
			if err := tx.Ping(ctx); err != nil {
				t.Errorf("Ping in tx: %v", err)
			}
			return errAbort
		})
		if !errors.Is(err, errAbort) {
			t.Fatalf("WithTx = %v, want fn's error", err)
		}
		if _, err := f.s.ProjectBySlug(ctx, "acme"); keyward.ErrorCode(err) != keyward.ENotFound {
			t.Fatalf("ProjectBySlug after rollback: %v, want not found", err)
		}
	})

	t.Run("Nested", func(t *testing.T) {
		f := setup(t, open)
		ctx := t.Context()
		err := f.s.WithTx(ctx, func(tx keyward.Store) error {
			if err := tx.CreateProject(ctx, &keyward.Project{Slug: "outer", Name: "Outer", CreatedAt: t0}, f.event("project.create")); err != nil {
				return err
			}
			// A nested WithTx that succeeds joins the outer transaction.
			if err := tx.WithTx(ctx, func(tx keyward.Store) error {
				return tx.CreateProject(ctx, &keyward.Project{Slug: "joined", Name: "Joined", CreatedAt: t0}, f.event("project.create"))
			}); err != nil {
				return err
			}
			// One that fails undoes only its own writes, and the outer one goes on.
			err := tx.WithTx(ctx, func(tx keyward.Store) error {
				if err := tx.CreateProject(ctx, &keyward.Project{Slug: "undone", Name: "Undone", CreatedAt: t0}, f.event("project.create")); err != nil {
					return err
				}
				return errAbort
			})
			if !errors.Is(err, errAbort) {
				t.Errorf("nested WithTx = %v, want fn's error", err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("WithTx: %v", err)
		}
		for slug, want := range map[string]keyward.Code{"outer": "", "joined": "", "undone": keyward.ENotFound} {
			if _, err := f.s.ProjectBySlug(ctx, slug); keyward.ErrorCode(err) != want {
				t.Errorf("ProjectBySlug(%q) = %v, want code %q", slug, err, want)
			}
		}
	})

	t.Run("FailedMethodInside", func(t *testing.T) {
		// A method that fails inside the transaction writes nothing, and the transaction is
		// still usable (PostgreSQL aborts a transaction on a failed statement; a savepoint
		// keeps it alive).
		f := setup(t, open)
		ctx := t.Context()
		f.project(t, "taken")
		before := len(f.events(t))
		err := f.s.WithTx(ctx, func(tx keyward.Store) error {
			err := tx.CreateProject(ctx, &keyward.Project{Slug: "taken", Name: "Again", CreatedAt: t0}, f.event("project.create"))
			wantCode(t, err, keyward.EConflict)
			return tx.CreateProject(ctx, &keyward.Project{Slug: "fresh", Name: "Fresh", CreatedAt: t0}, f.event("project.create"))
		})
		if err != nil {
			t.Fatalf("WithTx: %v", err)
		}
		if _, err := f.s.ProjectBySlug(ctx, "fresh"); err != nil {
			t.Fatalf("ProjectBySlug(fresh): %v", err)
		}
		if got, want := len(f.events(t)), before+1; got != want {
			t.Fatalf("events = %d, want %d", got, want)
		}
	})
}
