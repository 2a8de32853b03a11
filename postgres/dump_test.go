package postgres_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/postgrestest"
	"github.com/keyward/keyward/snapshot"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/token"
)

// fill writes a bit of everything a deployment holds into s: projects, users (one with a
// password, one deleted), a custom role with bindings, credentials (one rolled with a grace
// secret, one revoked, one touched), and events with and without detail. It returns the
// tokens issued, every one of which must still verify after a copy.
func fill(t *testing.T, s keyward.Store) (live []string) {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	ev := func(action string) *keyward.Event {
		return &keyward.Event{Time: now, Action: action, Outcome: keyward.OutcomeSuccess, RemoteAddr: "192.0.2.7",
			Detail: map[string]string{"why": action}}
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	newToken := func() (string, []byte) {
		tok, err := token.New(keyward.Live)
		must("token.New", err)
		return tok, token.Digest(tok)
	}

	bootTok, bootDigest := newToken()
	b := &keyward.Bootstrap{
		Project: &keyward.Project{Slug: keyward.SystemProject, Name: "System", CreatedAt: now},
		Roles: []*keyward.Role{
			{ID: 1, Name: keyward.RoleAdmin, Permissions: slices.Clone(keyward.AllPermissions), BuiltIn: true},
			{ID: 2, Name: "viewer", Permissions: []keyward.Permission{keyward.PermKeysRead}, BuiltIn: true},
		},
		Admin: &keyward.User{Name: keyward.AdminUser, CreatedAt: now},
		Credential: &keyward.Credential{Name: "bootstrap-admin", Type: keyward.APIToken, Environment: keyward.Live,
			KeyType: keyward.Secret, Active: true, CreatedAt: now, UpdatedAt: now, Start: token.Start(bootTok)},
		Secret: &keyward.CredentialSecret{Digest: bootDigest, CreatedAt: now},
		Event:  &keyward.Event{Time: now, Action: "system.bootstrap", Outcome: keyward.OutcomeSuccess},
	}
	must("Bootstrap", s.Bootstrap(ctx, b))
	live = append(live, bootTok)

	acme := &keyward.Project{Slug: "acme", Name: "Acme", CreatedAt: now}
	must("CreateProject", s.CreateProject(ctx, acme, ev("project.create")))
	alice := &keyward.User{Name: "alice", CreatedAt: now}
	must("CreateUser", s.CreateUser(ctx, alice, "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA", ev("user.create")))
	bob := &keyward.User{Name: "bob", CreatedAt: now}
	must("CreateUser", s.CreateUser(ctx, bob, "", ev("user.create")))
	deployer := &keyward.Role{Name: "deployer", Permissions: []keyward.Permission{keyward.PermKeysRoll, keyward.PermKeysRead}}
	must("CreateRole", s.CreateRole(ctx, deployer, ev("role.create")))
	must("CreateRoleBinding", s.CreateRoleBinding(ctx, keyward.RoleBinding{UserID: alice.ID, ProjectID: acme.ID, RoleID: deployer.ID}, ev("binding.create")))
	must("CreateRoleBinding", s.CreateRoleBinding(ctx, keyward.RoleBinding{UserID: alice.ID, RoleID: 2}, ev("binding.create")))

	create := func(name string, by int64, mod func(*keyward.Credential)) (*keyward.Credential, string) {
		tok, d := newToken()
		c := &keyward.Credential{ProjectID: acme.ID, Name: name, Description: "key " + name, Type: keyward.APIToken,
			Environment: keyward.Live, KeyType: keyward.Secret, CreatedBy: by, RoleIDs: []int64{deployer.ID, 2},
			Meta: map[string]string{"team": "web"}, ExpiresAt: ptr(now.Add(90 * 24 * time.Hour)), Active: true,
			CreatedAt: now, UpdatedAt: now, Start: token.Start(tok)}
		if mod != nil {
			mod(c)
		}
		must("CreateCredential "+name, s.CreateCredential(ctx, c, &keyward.CredentialSecret{Digest: d, CreatedAt: now}, ev("credential.create")))
		return c, tok
	}
	_, webTok := create("web", alice.ID, func(c *keyward.Credential) { c.NotBefore = ptr(now.Add(-time.Hour)) })
	live = append(live, webTok)

	rolled, oldTok := create("rolled", alice.ID, nil)
	newTok, newDigest := newToken()
	rolled.UpdatedAt = now.Add(time.Second)
	rolled.Start = token.Start(newTok)
	must("RollCredential", s.RollCredential(ctx, rolled, &keyward.CredentialSecret{Digest: newDigest, CreatedAt: rolled.UpdatedAt},
		now.Add(time.Hour), ev("credential.roll")))
	live = append(live, oldTok, newTok) // the old one inside its grace period

	revoked, revokedTok := create("revoked", alice.ID, func(c *keyward.Credential) { c.Meta = nil; c.ExpiresAt = nil })
	revoked.RevokedAt = ptr(now.Add(2 * time.Second))
	revoked.UpdatedAt = *revoked.RevokedAt
	must("UpdateCredential", s.UpdateCredential(ctx, revoked, ev("credential.revoke")))
	live = append(live, revokedTok) // revoked, but its digest must still lead to it

	_, bobTok := create("bobs", bob.ID, nil)
	live = append(live, bobTok)
	gone := now.Add(3 * time.Second)
	must("DeleteUser", s.WithTx(ctx, func(tx keyward.Store) error {
		_, err := tx.RevokeCreated(ctx, bob.ID, gone, keyward.Revocation{
			Select: func(created []*keyward.Credential, _, _ []keyward.RoleBinding) ([]*keyward.Credential, error) {
				return created, nil
			},
			Event: func(*keyward.Credential) *keyward.Event { return ev("credential.revoke") },
		})
		if err != nil {
			return err
		}
		return tx.DeleteUser(ctx, bob.ID, gone, ev("user.delete"))
	}))

	// A recoverable key: its sealed token is copied as it is.
	acme.RecoverableKeys = true
	must("UpdateProject", s.UpdateProject(ctx, acme, ev("project.update")))
	must("UpdateProjectPolicy", s.UpdateProjectPolicy(ctx, acme.ID, keyward.Policy{MaxLifetimeDays: 90, RequireExpiry: true,
		AllowedTypes: []keyward.CredentialType{keyward.APIToken}, AllowedEnvironments: []keyward.Environment{keyward.Test},
		DisableUnusedDays: 30, FirstUseGraceSeconds: 60, LeakAction: keyward.LeakDisable}, ev("project.policy")))
	sealedTok, sealedDigest := newToken()
	sealed := &keyward.Credential{ProjectID: acme.ID, Name: "sealed", Type: keyward.APIToken, Environment: keyward.Live,
		KeyType: keyward.Secret, CreatedBy: alice.ID, Active: true, CreatedAt: now, UpdatedAt: now, Start: token.Start(sealedTok),
		Purpose: keyward.PurposeOwnKey} // a copy keeps what marks an own key
	must("CreateCredential sealed", s.CreateCredential(ctx, sealed,
		&keyward.CredentialSecret{Digest: sealedDigest, CreatedAt: now, Sealed: []byte("sealed:" + sealedTok)}, ev("credential.create")))
	live = append(live, sealedTok)

	// A certificate, rolled (the first one is revoked then: the CRL lists it), and a kubeconfig.
	cert := &keyward.Credential{ProjectID: acme.ID, Name: "mtls", Type: keyward.APICertificate, Environment: keyward.Live,
		KeyType: keyward.Secret, CreatedBy: alice.ID, Active: true, CreatedAt: now, UpdatedAt: now,
		Serial: "0a1b2c", Fingerprint: "f1", ExpiresAt: ptr(now.Add(30 * 24 * time.Hour))}
	must("CreateCredential certificate", s.CreateCredential(ctx, cert, nil, ev("credential.create")))
	cert.Serial, cert.Fingerprint, cert.UpdatedAt = "0a1b2d", "f2", now.Add(time.Second)
	must("RollCredential certificate", s.RollCredential(ctx, cert, nil, cert.UpdatedAt, ev("credential.roll")))
	kube := &keyward.Credential{ProjectID: acme.ID, Name: "kube", Type: keyward.KubeConfig, Environment: keyward.Live,
		KeyType: keyward.Secret, CreatedBy: alice.ID, Active: true, CreatedAt: now, UpdatedAt: now,
		Serial: "ff01", Fingerprint: "f3", ExpiresAt: ptr(now.Add(time.Hour)), Cluster: "dev", Namespace: "web"}
	must("CreateCredential kubeconfig", s.CreateCredential(ctx, kube, nil, ev("credential.create")))
	must("CreateCluster", s.CreateCluster(ctx, &keyward.Cluster{Name: "dev", Server: "https://dev.example:6443",
		CAPEM: "-----BEGIN CERTIFICATE-----\n...", ClientCA: []byte("sealed-client-ca"), CreatedAt: now}, ev("cluster.create")))
	must("CreateCluster", s.CreateCluster(ctx, &keyward.Cluster{Name: "Prod", Server: "https://prod.example:6443", CreatedAt: now}, ev("cluster.create")))
	must("PutSetting", s.PutSetting(ctx, "ca", []byte("sealed-ca-state"), nil))
	must("PutSetting", s.PutSetting(ctx, "masterkey.check", []byte("sealed-check"), ev("setting.put")))

	// Rate limits and usage credits: a refilled key with one use taken, a counted one without a
	// refill, and a rate-limited one whose uses are not counted.
	zero, two := int64(0), int64(2)
	refilled, refilledTok := create("refilled", alice.ID, func(c *keyward.Credential) {
		c.RateLimit = &keyward.RateLimit{Limit: 100, Duration: 1500 * time.Millisecond}
		c.Remaining = &zero
		c.Refill = &keyward.Refill{Interval: keyward.RefillMonthly, Amount: 1000}
	})
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if left, ok, err := s.ConsumeCredit(ctx, refilled.ID, month); err != nil || !ok || left == nil || *left != 999 {
		t.Fatalf("ConsumeCredit = %v, %v, %v; want 999, true", left, ok, err)
	}
	_, countedTok := create("counted", alice.ID, func(c *keyward.Credential) { c.Remaining = &two })
	_, limitedTok := create("limited", alice.ID, func(c *keyward.Credential) {
		c.RateLimit = &keyward.RateLimit{Limit: 5, Duration: time.Minute}
	})
	live = append(live, refilledTok, countedTok, limitedTok)

	must("TouchCredentials", s.TouchCredentials(ctx, map[int64]time.Time{rolled.ID: now.Add(5 * time.Second), b.Credential.ID: now}))
	must("AppendEvent", s.AppendEvent(ctx, &keyward.Event{Time: now, Action: "credential.verify", Outcome: keyward.OutcomeDenied}))
	return live
}

func ptr(t time.Time) *time.Time { return &t }

func openSQLite(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestCopy copies a SQLite store to PostgreSQL and back: every row round-trips, ids and
// secret digests included, every token issued before the copy leads to its credential after
// it, and new rows get new ids.
func TestCopy(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := openSQLite(t, filepath.Join(t.TempDir(), "keyward.db"))
	tokens := fill(t, src)
	want, err := src.Export(ctx)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if len(want.Secrets) < len(tokens) || len(want.Events) < 10 || len(want.Certificates) != 3 ||
		len(want.Clusters) != 2 || len(want.Settings) != 2 {
		t.Fatalf("the fixture is thin: %s", want.Summary())
	}
	if pol := want.Projects[1].Policy; pol.MaxLifetimeDays != 90 || pol.LeakAction != keyward.LeakDisable || len(pol.AllowedTypes) != 1 {
		t.Fatalf("the fixture's project policy was not exported: %+v", pol)
	}

	pg := MustOpen(t, postgrestest.SchemaURL(t, postgrestest.URL(t)))
	got, err := snapshot.Copy(ctx, src, pg)
	if err != nil {
		t.Fatalf("Copy to PostgreSQL: %v", err)
	}
	if d := snapshot.Diff(want, got); d != nil {
		t.Fatalf("copied snapshot differs: %v", d)
	}
	back, err := pg.Export(ctx)
	if err != nil {
		t.Fatalf("Export from PostgreSQL: %v", err)
	}
	if d := snapshot.Diff(want, back); d != nil {
		t.Fatalf("PostgreSQL holds other rows than SQLite did: %v", d)
	}

	t.Run("TokensVerify", func(t *testing.T) {
		for _, tok := range tokens {
			wc, ws, err := src.CredentialBySecret(ctx, token.Digest(tok))
			if err != nil {
				t.Fatalf("SQLite CredentialBySecret: %v", err)
			}
			gc, gs, err := pg.CredentialBySecret(ctx, token.Digest(tok))
			if err != nil {
				t.Fatalf("PostgreSQL CredentialBySecret(%s...): %v", tok[:12], err)
			}
			if gc.ID != wc.ID || gc.Version != wc.Version || !slices.Equal(gc.RoleIDs, wc.RoleIDs) {
				t.Fatalf("token leads to %+v on PostgreSQL, %+v on SQLite", gc, wc)
			}
			if (gs.ValidUntil == nil) != (ws.ValidUntil == nil) || gs.ValidUntil != nil && !gs.ValidUntil.Equal(*ws.ValidUntil) {
				t.Fatalf("secret ValidUntil = %v on PostgreSQL, %v on SQLite", gs.ValidUntil, ws.ValidUntil)
			}
		}
	})

	t.Run("Certificates", func(t *testing.T) {
		c, k, err := pg.CredentialBySerial(ctx, "0a1b2c")
		if err != nil || c.Name != "mtls" || k.RevokedAt == nil {
			t.Fatalf("the rolled-away certificate on PostgreSQL: %+v, %+v, %v; want it revoked", c, k, err)
		}
		crl, err := pg.RevokedCertificates(ctx, time.Now())
		if err != nil || len(crl) != 1 || crl[0].Serial != "0a1b2c" {
			t.Fatalf("RevokedCertificates = %+v, %v", crl, err)
		}
		if v, err := pg.Setting(ctx, "ca"); err != nil || string(v) != "sealed-ca-state" {
			t.Fatalf("Setting(ca) = %q, %v", v, err)
		}
		sealed, err := pg.CredentialByName(ctx, want.Projects[1].ID, "sealed")
		if err != nil || !sealed.Recoverable {
			t.Fatalf("the recoverable key on PostgreSQL: %+v, %v", sealed, err)
		}
		if b, err := pg.SealedSecret(ctx, sealed.ID); err != nil || !strings.HasPrefix(string(b), "sealed:kw_") {
			t.Fatalf("SealedSecret = %q, %v", b, err)
		}
		cls, err := pg.ListClusters(ctx)
		if err != nil || len(cls) != 2 || cls[0].Name != "Prod" || string(cls[1].ClientCA) != "sealed-client-ca" {
			t.Fatalf("ListClusters = %+v, %v; want Prod before dev (byte order), dev with its client CA", cls, err)
		}
	})

	t.Run("Limits", func(t *testing.T) {
		exported := map[string]keyward.Credential{}
		for _, c := range want.Credentials {
			exported[c.Name] = c
		}
		r, c, l := exported["refilled"], exported["counted"], exported["limited"]
		if r.RateLimit == nil || *r.RateLimit != (keyward.RateLimit{Limit: 100, Duration: 1500 * time.Millisecond}) ||
			r.Remaining == nil || *r.Remaining != 999 || r.Refill == nil || *r.Refill != (keyward.Refill{Interval: keyward.RefillMonthly, Amount: 1000}) ||
			r.LastRefillAt == nil || r.LastRefillAt.Day() != 1 {
			t.Fatalf("SQLite exported the refilled key as %+v", r)
		}
		if c.Remaining == nil || *c.Remaining != 2 || c.Refill != nil || c.RateLimit != nil || c.LastRefillAt != nil {
			t.Fatalf("SQLite exported the counted key as %+v", c)
		}
		if l.RateLimit == nil || l.Remaining != nil || l.Refill != nil {
			t.Fatalf("SQLite exported the rate-limited key as %+v", l)
		}
		// PostgreSQL counts on from where SQLite stopped, on the same refill schedule.
		if left, ok, err := pg.ConsumeCredit(ctx, r.ID, *r.LastRefillAt); err != nil || !ok || left == nil || *left != 998 {
			t.Fatalf("ConsumeCredit on PostgreSQL = %v, %v, %v; want 998, true", left, ok, err)
		}
		if left, ok, err := pg.ConsumeCredit(ctx, r.ID, r.LastRefillAt.AddDate(0, 1, 0)); err != nil || !ok || left == nil || *left != 999 {
			t.Fatalf("ConsumeCredit on PostgreSQL, a month on = %v, %v, %v; want 999, true", left, ok, err)
		}
		if left, ok, err := pg.ConsumeCredit(ctx, l.ID, time.Time{}); err != nil || !ok || left != nil {
			t.Fatalf("ConsumeCredit of an uncounted key on PostgreSQL = %v, %v, %v; want nil, true", left, ok, err)
		}
	})

	t.Run("NewIDsAfterCopy", func(t *testing.T) {
		now := time.Now()
		p := &keyward.Project{Slug: "after", Name: "After", CreatedAt: now}
		ev := &keyward.Event{Time: now, Action: "project.create", Outcome: keyward.OutcomeSuccess}
		if err := pg.CreateProject(ctx, p, ev); err != nil {
			t.Fatalf("CreateProject after the copy: %v", err)
		}
		if p.ID <= want.Projects[len(want.Projects)-1].ID || ev.ID <= want.Events[len(want.Events)-1].ID {
			t.Fatalf("new ids %d (project), %d (event) do not follow the copied ones", p.ID, ev.ID)
		}
		r := &keyward.Role{Name: "after"}
		if err := pg.CreateRole(ctx, r, &keyward.Event{Time: now, Action: "role.create", Outcome: keyward.OutcomeSuccess}); err != nil {
			t.Fatalf("CreateRole after the copy: %v", err)
		}
		cl := &keyward.Cluster{Name: "after", Server: "https://after.example", CreatedAt: now}
		if err := pg.CreateCluster(ctx, cl, &keyward.Event{Time: now, Action: "cluster.create", Outcome: keyward.OutcomeSuccess}); err != nil {
			t.Fatalf("CreateCluster after the copy: %v", err)
		}
		u := &keyward.User{Name: "after", CreatedAt: now}
		if err := pg.CreateUser(ctx, u, "", &keyward.Event{Time: now, Action: "user.create", Outcome: keyward.OutcomeSuccess}); err != nil {
			t.Fatalf("CreateUser after the copy: %v", err)
		}
	})

	t.Run("ErrNotEmpty", func(t *testing.T) {
		err := pg.Import(ctx, want)
		if !errors.Is(err, snapshot.ErrNotEmpty) {
			t.Fatalf("Import into a full store = %v, want ErrNotEmpty", err)
		}
		err = src.Import(ctx, want)
		if !errors.Is(err, snapshot.ErrNotEmpty) {
			t.Fatalf("SQLite Import into a full store = %v, want ErrNotEmpty", err)
		}
	})

	t.Run("BackToSQLite", func(t *testing.T) {
		pg2 := MustOpen(t, postgrestest.SchemaURL(t, postgrestest.URL(t)))
		if err := pg2.Import(ctx, want); err != nil {
			t.Fatalf("Import: %v", err)
		}
		dst := openSQLite(t, filepath.Join(t.TempDir(), "copy.db"))
		got, err := snapshot.Copy(ctx, pg2, dst)
		if err != nil {
			t.Fatalf("Copy to SQLite: %v", err)
		}
		if d := snapshot.Diff(want, got); d != nil {
			t.Fatalf("round trip differs: %v", d)
		}
	})
}
