package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgrestest"
)

// watcher runs s.Watch until the test ends and hands over what it hears.
type watcher struct {
	invs chan keyward.Invalidation
	done chan error
}

func watch(t *testing.T, s *postgres.Store) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{invs: make(chan keyward.Invalidation, 100), done: make(chan error, 1)}
	go func() { w.done <- s.Watch(ctx, func(inv keyward.Invalidation) { w.invs <- inv }) }()
	t.Cleanup(func() {
		cancel()
		<-w.done
	})
	return w
}

// next returns the next invalidation, failing t after d.
func (w *watcher) next(t *testing.T, d time.Duration) keyward.Invalidation {
	t.Helper()
	select {
	case inv := <-w.invs:
		return inv
	case err := <-w.done:
		t.Fatalf("Watch returned: %v", err)
	case <-time.After(d):
		t.Fatalf("no invalidation within %v", d)
	}
	return keyward.Invalidation{}
}

// quiet fails t if w hears anything within d.
func (w *watcher) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case inv := <-w.invs:
		t.Fatalf("unexpected invalidation %+v", inv)
	case <-time.After(d):
	}
}

// TestWatch: a change one server commits reaches the other servers' Watch, with what changed,
// and only once it commits; a failed change sends nothing; another schema's changes never
// arrive; a lost connection ends Watch promptly, so the caller can fall back and reconnect.
// deleteUser deletes the user id as the authority does: what rv picks of what it created
// revoked first, then the user, in one transaction.
func deleteUser(ctx context.Context, s keyward.Store, id int64, rv keyward.Revocation, ev *keyward.Event) error {
	return s.WithTx(ctx, func(tx keyward.Store) error {
		if _, err := tx.RevokeCreated(ctx, id, time.Now(), rv); err != nil {
			return err
		}
		return tx.DeleteUser(ctx, id, time.Now(), ev)
	})
}

// watched opens two stores on one new schema of a new database db, as two servers, bootstraps
// it through b and watches the other: the watcher has heard the All it starts with.
func watched(t *testing.T) (db string, b *postgres.Store, boot *keyward.Bootstrap, w *watcher) {
	t.Helper()
	db = postgrestest.URL(t)
	url := postgrestest.SchemaURL(t, db)
	a := MustOpen(t, url)
	b = MustOpen(t, url)
	boot = newBootstrap("")
	if err := b.Bootstrap(t.Context(), boot); err != nil {
		t.Fatal(err)
	}
	w = watch(t, a)
	if inv := w.next(t, 5*time.Second); !inv.All {
		t.Fatalf("first invalidation = %+v, want All (the feed may have missed changes before it listened)", inv)
	}
	return db, b, boot, w
}

// announced checks that the next invalidation only announces the secret digest created.
func announced(t *testing.T, w *watcher, digest string) {
	t.Helper()
	inv := w.next(t, 2*time.Second)
	if len(inv.Secrets) != 1 || string(inv.Secrets[0]) != digest || inv.All || len(inv.CredentialIDs)+len(inv.UserIDs) != 0 {
		t.Fatalf("invalidation = %+v, want only the new secret %q", inv, digest)
	}
}

// feedEvent is an event for a change the feed hears of.
func feedEvent() *keyward.Event {
	return &keyward.Event{Time: time.Now(), Action: "x", Outcome: keyward.OutcomeSuccess}
}

func TestWatch(t *testing.T) {
	t.Parallel()
	db, b, boot, w := watched(t)
	ctx := t.Context()
	ev := feedEvent

	t.Run("Credential", func(t *testing.T) {
		c, err := b.CredentialByID(ctx, boot.Project.ID, boot.Credential.ID)
		if err != nil {
			t.Fatal(err)
		}
		stale := *c
		now := time.Now().UTC().Truncate(time.Microsecond)
		c.RevokedAt, c.UpdatedAt = &now, now
		start := time.Now()
		if err := b.UpdateCredential(ctx, c, ev()); err != nil {
			t.Fatal(err)
		}
		inv := w.next(t, 2*time.Second)
		t.Logf("a revoke on one store reached the other's Watch in %v", time.Since(start))
		if !slices.Equal(inv.CredentialIDs, []int64{c.ID}) || inv.All {
			t.Fatalf("invalidation = %+v, want credential %d", inv, c.ID)
		}
		// A stale write changes nothing and says nothing.
		if err := b.UpdateCredential(ctx, &stale, ev()); keyward.ErrorCode(err) != keyward.EConflict {
			t.Fatalf("stale update: %v", err)
		}
		w.quiet(t, 300*time.Millisecond)
	})

	t.Run("Roll", func(t *testing.T) {
		u := &keyward.User{Name: "roller", CreatedAt: time.Now()}
		if err := b.CreateUser(ctx, u, "", ev()); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		c := &keyward.Credential{ProjectID: boot.Project.ID, Name: "k", Type: keyward.APIToken, Environment: keyward.Live,
			KeyType: keyward.Secret, CreatedBy: u.ID, Active: true, CreatedAt: now, UpdatedAt: now}
		if err := b.CreateCredential(ctx, c, &keyward.CredentialSecret{Digest: []byte("k1")}, ev()); err != nil {
			t.Fatal(err)
		}
		announced(t, w, "k1")
		c.UpdatedAt = time.Now()
		if err := b.RollCredential(ctx, c, &keyward.CredentialSecret{Digest: []byte("k2")}, c.UpdatedAt, ev()); err != nil {
			t.Fatal(err)
		}
		if inv := w.next(t, 2*time.Second); !slices.Equal(inv.CredentialIDs, []int64{c.ID}) || len(inv.Secrets) != 1 || string(inv.Secrets[0]) != "k2" {
			t.Fatalf("invalidation = %+v, want credential %d and the new secret k2", inv, c.ID)
		}
		u.Disabled, u.UpdatedAt = true, time.Now()
		if err := b.UpdateUser(ctx, u, ev()); err != nil {
			t.Fatal(err)
		}
		if inv := w.next(t, 2*time.Second); !slices.Equal(inv.UserIDs, []int64{u.ID}) {
			t.Fatalf("invalidation = %+v, want user %d", inv, u.ID)
		}
		all := keyward.Revocation{
			Select: func(created []*keyward.Credential, _, _ []keyward.RoleBinding) ([]*keyward.Credential, error) {
				return created, nil
			},
			Event: func(*keyward.Credential) *keyward.Event { return ev() },
		}
		if err := deleteUser(ctx, b, u.ID, all, ev()); err != nil {
			t.Fatal(err)
		}
		if inv := w.next(t, 2*time.Second); !slices.Equal(inv.UserIDs, []int64{u.ID}) {
			t.Fatalf("invalidation = %+v, want user %d", inv, u.ID)
		}
	})

	t.Run("RolesAndBindings", func(t *testing.T) {
		r := &keyward.Role{Name: "reader", Permissions: []keyward.Permission{keyward.PermKeysRead}}
		if err := b.CreateRole(ctx, r, ev()); err != nil {
			t.Fatal(err)
		}
		bind := keyward.RoleBinding{UserID: boot.Admin.ID, ProjectID: boot.Project.ID, RoleID: r.ID}
		if err := b.CreateRoleBinding(ctx, bind, ev()); err != nil {
			t.Fatal(err)
		}
		if inv := w.next(t, 2*time.Second); !slices.Equal(inv.UserIDs, []int64{boot.Admin.ID}) {
			t.Fatalf("invalidation = %+v, want user %d", inv, boot.Admin.ID)
		}
		r.Permissions = append(r.Permissions, keyward.PermKeysVerify)
		if err := b.UpdateRole(ctx, r, ev()); err != nil {
			t.Fatal(err)
		}
		if inv := w.next(t, 2*time.Second); !inv.All {
			t.Fatalf("invalidation = %+v, want All", inv)
		}
		if err := b.DeleteRoleBinding(ctx, bind, ev()); err != nil {
			t.Fatal(err)
		}
		if inv := w.next(t, 2*time.Second); !slices.Equal(inv.UserIDs, []int64{boot.Admin.ID}) {
			t.Fatalf("invalidation = %+v, want user %d", inv, boot.Admin.ID)
		}
		if err := b.DeleteRole(ctx, r.ID, ev()); err != nil {
			t.Fatal(err)
		}
		if inv := w.next(t, 2*time.Second); !inv.All {
			t.Fatalf("invalidation = %+v, want All", inv)
		}
	})

	// A change to a user that revokes what it created names the user and every credential it
	// revoked, so other servers drop them at once; a refused one says nothing.
	t.Run("Revoking", func(t *testing.T) {
		u := &keyward.User{Name: "leaver", CreatedAt: time.Now()}
		if err := b.CreateUser(ctx, u, "", ev()); err != nil {
			t.Fatal(err)
		}
		bind := keyward.RoleBinding{UserID: u.ID, ProjectID: boot.Project.ID, RoleID: boot.Roles[0].ID}
		if err := b.CreateRoleBinding(ctx, bind, ev()); err != nil {
			t.Fatal(err)
		}
		w.next(t, 2*time.Second) // the binding's
		now := time.Now()
		var certs []int64
		for _, serial := range []string{"fee1", "fee2"} {
			exp := now.Add(time.Hour)
			c := &keyward.Credential{ProjectID: boot.Project.ID, Name: "cert-" + serial, Type: keyward.APICertificate,
				Environment: keyward.Live, KeyType: keyward.Secret, CreatedBy: u.ID, Active: true, CreatedAt: now,
				UpdatedAt: now, ExpiresAt: &exp, Serial: serial, Fingerprint: serial}
			if err := b.CreateCredential(ctx, c, nil, ev()); err != nil {
				t.Fatal(err)
			}
			certs = append(certs, c.ID)
		}
		// Each call picks the first certificate it is offered.
		first := keyward.Revocation{
			Select: func(created []*keyward.Credential, _, _ []keyward.RoleBinding) ([]*keyward.Credential, error) {
				return created[:1], nil
			},
			Event: func(c *keyward.Credential) *keyward.Event {
				e := ev()
				e.ProjectID, e.CredentialID = c.ProjectID, c.ID
				return e
			},
		}
		if _, err := b.DeleteRoleBindingRevoking(ctx, bind, time.Now(), ev(), first); err != nil {
			t.Fatal(err)
		}
		if inv := w.next(t, 2*time.Second); !slices.Equal(inv.UserIDs, []int64{u.ID}) || !slices.Equal(inv.CredentialIDs, certs[:1]) {
			t.Fatalf("invalidation = %+v, want user %d and credential %d", inv, u.ID, certs[0])
		}
		if _, err := b.DeleteRoleBindingRevoking(ctx, bind, time.Now(), ev(), first); keyward.ErrorCode(err) != keyward.ENotFound {
			t.Fatalf("removing the binding again: %v", err)
		}
		w.quiet(t, 300*time.Millisecond)
		u.Disabled, u.UpdatedAt = true, time.Now()
		if _, err := b.UpdateUserRevoking(ctx, u, ev(), first); err != nil {
			t.Fatal(err)
		}
		if inv := w.next(t, 2*time.Second); !slices.Equal(inv.UserIDs, []int64{u.ID}) || !slices.Equal(inv.CredentialIDs, certs[1:]) {
			t.Fatalf("invalidation = %+v, want user %d and credential %d", inv, u.ID, certs[1])
		}
		tok := &keyward.Credential{ProjectID: boot.Project.ID, Name: "leaver-token", Type: keyward.APIToken, Environment: keyward.Live,
			KeyType: keyward.Secret, CreatedBy: u.ID, Active: true, CreatedAt: now, UpdatedAt: now}
		if err := b.CreateCredential(ctx, tok, &keyward.CredentialSecret{Digest: []byte("leaver")}, ev()); err != nil {
			t.Fatal(err)
		}
		announced(t, w, "leaver")
		if err := deleteUser(ctx, b, u.ID, first, ev()); err != nil {
			t.Fatal(err)
		}
		if inv := w.next(t, 2*time.Second); !slices.Equal(inv.UserIDs, []int64{u.ID}) || !slices.Equal(inv.CredentialIDs, []int64{tok.ID}) {
			t.Fatalf("invalidation = %+v, want user %d and credential %d", inv, u.ID, tok.ID)
		}
	})

	// Uses are not changes: ConsumeCredit says nothing; SetRemaining names the credential.
	t.Run("Credits", func(t *testing.T) {
		now := time.Now()
		two := int64(2)
		c := &keyward.Credential{ProjectID: boot.Project.ID, Name: "metered", Type: keyward.APIToken, Environment: keyward.Live,
			KeyType: keyward.Secret, CreatedBy: boot.Admin.ID, Active: true, CreatedAt: now, UpdatedAt: now, Remaining: &two}
		if err := b.CreateCredential(ctx, c, &keyward.CredentialSecret{Digest: []byte("metered")}, ev()); err != nil {
			t.Fatal(err)
		}
		announced(t, w, "metered")
		for range 3 {
			if _, _, err := b.ConsumeCredit(ctx, c.ID, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		w.quiet(t, 300*time.Millisecond)
		if err := b.SetRemaining(ctx, c.ID, &two, ev()); err != nil {
			t.Fatal(err)
		}
		if inv := w.next(t, 2*time.Second); !slices.Equal(inv.CredentialIDs, []int64{c.ID}) || inv.All {
			t.Fatalf("invalidation = %+v, want credential %d", inv, c.ID)
		}
		if err := b.SetRemaining(ctx, 999999, &two, ev()); keyward.ErrorCode(err) != keyward.ENotFound {
			t.Fatalf("SetRemaining of a missing credential: %v", err)
		}
		w.quiet(t, 300*time.Millisecond)
	})

	t.Run("OtherSchema", func(t *testing.T) {
		other := MustOpen(t, postgrestest.SchemaURL(t, db)) // another schema of the same database
		ob := newBootstrap("")
		if err := other.Bootstrap(ctx, ob); err != nil {
			t.Fatal(err)
		}
		c, _ := other.CredentialByID(ctx, ob.Project.ID, ob.Credential.ID)
		c.Active, c.UpdatedAt = false, time.Now()
		if err := other.UpdateCredential(ctx, c, ev()); err != nil {
			t.Fatal(err)
		}
		w.quiet(t, 300*time.Millisecond)
	})
}

// Not parallel: SetWatchPing changes a package variable that every Watch reads.
func TestWatchConnectionLost(t *testing.T) {
	defer postgres.SetWatchPing(200*time.Millisecond, 300*time.Millisecond)()
	url := postgrestest.SchemaURL(t, postgrestest.URL(t))
	for _, tc := range []struct {
		name string
		cut  func(p *postgrestest.Proxy)
	}{
		{"Dropped", (*postgrestest.Proxy).Cut},
		{"Hanging", (*postgrestest.Proxy).Hang},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := postgrestest.NewProxy(t, url)
			s := MustOpen(t, proxy.URL())
			w := watch(t, s)
			if inv := w.next(t, 5*time.Second); !inv.All {
				t.Fatalf("first invalidation = %+v, want All", inv)
			}
			w.quiet(t, 500*time.Millisecond) // pings pass while the network is fine
			tc.cut(proxy)
			select {
			case err := <-w.done:
				if err == nil {
					t.Fatal("Watch returned no error after losing its connection")
				}
				w.done <- err // for the cleanup
			case <-time.After(3 * time.Second):
				t.Fatal("Watch did not notice that its connection was lost")
			}
		})
	}
}

// TestWatchTransaction: the change feed's NOTIFYs of a WithTx transaction are delivered when it
// commits, never before, once for what changed however many methods said so, and never for a
// rollback.
func TestWatchTransaction(t *testing.T) {
	_, b, boot, w := watched(t)
	ctx := t.Context()
	ev := feedEvent
	c, err := b.CredentialByID(ctx, boot.Project.ID, boot.Credential.ID)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("Commit", func(t *testing.T) {
		err := b.WithTx(ctx, func(tx keyward.Store) error {
			c.Description, c.UpdatedAt = "one", time.Now()
			if err := tx.UpdateCredential(ctx, c, ev()); err != nil {
				return err
			}
			c.Description = "two"
			if err := tx.UpdateCredential(ctx, c, ev()); err != nil {
				return err
			}
			five := int64(5)
			if err := tx.SetRemaining(ctx, c.ID, &five, ev()); err != nil {
				return err
			}
			w.quiet(t, 300*time.Millisecond) // nothing before the commit
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if inv := w.next(t, 2*time.Second); !slices.Equal(inv.CredentialIDs, []int64{c.ID}) || inv.All {
			t.Fatalf("invalidation = %+v, want credential %d", inv, c.ID)
		}
		w.quiet(t, 300*time.Millisecond) // once per commit
	})

	t.Run("Rollback", func(t *testing.T) {
		err := b.WithTx(ctx, func(tx keyward.Store) error {
			u := *c
			u.Description = "never"
			if err := tx.UpdateCredential(ctx, &u, ev()); err != nil {
				return err
			}
			return keyward.Errorf(keyward.EConflict, "changed my mind")
		})
		if keyward.ErrorCode(err) != keyward.EConflict {
			t.Fatalf("WithTx = %v, want fn's error", err)
		}
		w.quiet(t, 500*time.Millisecond)
	})
}
