package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// fingerprint returns a deterministic SHA-256 hex fingerprint for serial.
func fingerprint(serial string) string {
	d := sha256.Sum256([]byte("certificate " + serial))
	return hex.EncodeToString(d[:])
}

// newCertCredential returns an unsaved active API_CERTIFICATE credential of the project with
// serial, expiring in 90 days; mod, when not nil, changes it before use.
func (f *fixture) newCertCredential(p *keyward.Project, name, serial string, mod func(*keyward.Credential)) *keyward.Credential {
	c, _ := f.newCredential(p, name, func(c *keyward.Credential) {
		c.Type = keyward.APICertificate
		c.Serial = serial
		c.Fingerprint = fingerprint(serial)
		c.Start = ""
		if mod != nil {
			mod(c)
		}
	})
	return c
}

// certCredential creates what newCertCredential returns, without a secret.
func (f *fixture) certCredential(t *testing.T, p *keyward.Project, name, serial string, mod func(*keyward.Credential)) *keyward.Credential {
	t.Helper()
	c := f.newCertCredential(p, name, serial, mod)
	if err := f.s.CreateCredential(t.Context(), c, nil, f.event("credential.create")); err != nil {
		t.Fatalf("CreateCredential(%q, serial %s): %v", name, serial, err)
	}
	return c
}

// certificate returns the certificate with serial, failing t unless it belongs to c.
func (f *fixture) certificate(t *testing.T, c *keyward.Credential, serial string) *keyward.Certificate {
	t.Helper()
	gc, k, err := f.s.CredentialBySerial(t.Context(), serial)
	if err != nil {
		t.Fatalf("CredentialBySerial(%s): %v", serial, err)
	}
	if got, want := gc.ID, c.ID; got != want {
		t.Fatalf("serial %s leads to credential %d, want %d", serial, got, want)
	}
	return k
}

// checkCertificate fails t when got differs from want.
func checkCertificate(t *testing.T, got, want *keyward.Certificate) {
	t.Helper()
	if got.Serial != want.Serial || got.CredentialID != want.CredentialID || got.Fingerprint != want.Fingerprint ||
		!sameTime(&got.NotAfter, &want.NotAfter) || !sameTime(got.RevokedAt, want.RevokedAt) ||
		!sameTime(&got.CreatedAt, &want.CreatedAt) {
		t.Fatalf("certificate differs:\n got %s\nwant %s", certString(got), certString(want))
	}
}

func certString(k *keyward.Certificate) string {
	revoked := "<nil>"
	if k.RevokedAt != nil {
		revoked = k.RevokedAt.String()
	}
	return fmt.Sprintf("{Serial %s CredentialID %d Fingerprint %.8s NotAfter %v RevokedAt %s CreatedAt %v}",
		k.Serial, k.CredentialID, k.Fingerprint, k.NotAfter, revoked, k.CreatedAt)
}

// crl returns "serial@revoked_at" for every certificate RevokedCertificates(now) lists, in
// its order.
func (f *fixture) crl(t *testing.T, now time.Time) []string {
	t.Helper()
	ks, err := f.s.RevokedCertificates(t.Context(), now)
	if err != nil {
		t.Fatalf("RevokedCertificates: %v", err)
	}
	if ks == nil {
		t.Fatal("RevokedCertificates returned nil, want an empty slice")
	}
	out := []string{}
	for _, k := range ks {
		if k.RevokedAt == nil {
			t.Fatalf("RevokedCertificates listed %s, which is not revoked", k.Serial)
		}
		out = append(out, crlEntry(k.Serial, *k.RevokedAt))
	}
	return out
}

func crlEntry(serial string, revoked time.Time) string {
	return serial + "@" + revoked.UTC().Format(time.RFC3339Nano)
}

// revoke revokes c at when through UpdateCredential.
func (f *fixture) revoke(t *testing.T, c *keyward.Credential, when time.Time) *keyward.Event {
	t.Helper()
	c.RevokedAt = ptr(when)
	c.UpdatedAt = when
	ev := f.event("credential.revoke")
	ev.CredentialID, ev.ProjectID = c.ID, c.ProjectID
	if err := f.s.UpdateCredential(t.Context(), c, ev); err != nil {
		t.Fatalf("UpdateCredential (revoke %s): %v", c.Name, err)
	}
	return ev
}

// rollCert rolls the certificate credential c at when to serial, not after notAfter.
func (f *fixture) rollCert(t *testing.T, c *keyward.Credential, serial string, when, notAfter time.Time) *keyward.Event {
	t.Helper()
	c.Serial, c.Fingerprint, c.ExpiresAt, c.UpdatedAt = serial, fingerprint(serial), ptr(notAfter), when
	ev := f.event("credential.roll")
	ev.CredentialID, ev.ProjectID = c.ID, c.ProjectID
	if err := f.s.RollCredential(t.Context(), c, nil, when, ev); err != nil {
		t.Fatalf("RollCredential(%s to %s): %v", c.Name, serial, err)
	}
	return ev
}

func testCreateCertificateCredential(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			mod  func(f *fixture, c *keyward.Credential)
		}{
			{"APICertificate", nil},
			{"KubeConfig", func(f *fixture, c *keyward.Credential) {
				c.Type, c.Cluster, c.Namespace = keyward.KubeConfig, "prod-eu", "payments"
			}},
			{"NotBeforeAndRoles", func(f *fixture, c *keyward.Credential) {
				c.NotBefore = ptr(at(-time.Hour))
				c.RoleIDs = []int64{f.customRole.ID, f.viewerRole.ID}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := setup(t, open)
				p := f.project(t, "acme")
				c := f.newCertCredential(p, "cert", "0a11ce", func(c *keyward.Credential) {
					c.CreatedAt, c.UpdatedAt = at(-time.Minute), at(-time.Minute)
					if tc.mod != nil {
						tc.mod(f, c)
					}
				})
				sent := clone(c)
				ev := f.event("credential.create")
				if err := f.s.CreateCredential(t.Context(), c, nil, ev); err != nil {
					t.Fatalf("CreateCredential: %v", err)
				}
				if c.ID <= 0 {
					t.Fatalf("ID = %d, want > 0", c.ID)
				}
				if ev.ID <= 0 || ev.CredentialID != c.ID || ev.ProjectID != p.ID {
					t.Fatalf("event = %+v, want ID > 0, CredentialID %d, ProjectID %d", ev, c.ID, p.ID)
				}
				want := sent
				want.ID, want.Version, want.Project = c.ID, 1, p.Slug
				slices.Sort(want.RoleIDs)
				checkCredential(t, c, want)
				checkCredential(t, f.reread(t, c), want)
				checkEvent(t, f.events(t)[0], ev)

				gc, k, err := f.s.CredentialBySerial(t.Context(), "0a11ce")
				if err != nil {
					t.Fatalf("CredentialBySerial: %v", err)
				}
				checkCredential(t, gc, want)
				checkCertificate(t, k, &keyward.Certificate{Serial: "0a11ce", CredentialID: c.ID,
					Fingerprint: fingerprint("0a11ce"), NotAfter: *sent.ExpiresAt, CreatedAt: sent.CreatedAt})
				if got := f.crl(t, t0); len(got) != 0 {
					t.Fatalf("CRL = %v, want empty", got)
				}
			})
		}
	})

	t.Run("TokensHaveNoSerial", func(t *testing.T) {
		f := setup(t, open)
		// Many credentials without a serial: an absent serial is no value, never a duplicate.
		for _, name := range []string{"a", "b", "c"} {
			c, _ := f.credential(t, f.system, name, nil)
			got := f.reread(t, c)
			if got.Serial != "" || got.Fingerprint != "" || got.Cluster != "" || got.Namespace != "" || got.Recoverable {
				t.Fatalf("token credential = serial %q fingerprint %q cluster %q namespace %q recoverable %v, want all empty",
					got.Serial, got.Fingerprint, got.Cluster, got.Namespace, got.Recoverable)
			}
		}
		f.certCredential(t, f.system, "cert", "01", nil)
	})

	for _, tc := range []struct {
		name string
		code keyward.Code
		prep func(t *testing.T, f *fixture, p *keyward.Project)
		mod  func(c *keyward.Credential)
	}{
		{"ErrNoSerial", keyward.EInvalid, nil, func(c *keyward.Credential) { c.Serial, c.Fingerprint = "", "" }},
		{"ErrNoExpiry", keyward.EInvalid, nil, func(c *keyward.Credential) { c.ExpiresAt = nil }},
		{"ErrSerialTaken", keyward.EConflict, func(t *testing.T, f *fixture, p *keyward.Project) {
			f.certCredential(t, p, "first", "0bad", nil)
		}, nil},
		{"ErrSerialTakenOtherProject", keyward.EConflict, func(t *testing.T, f *fixture, _ *keyward.Project) {
			f.certCredential(t, f.system, "first", "0bad", nil)
		}, nil},
		{"ErrSerialOfRolledCertificate", keyward.EConflict, func(t *testing.T, f *fixture, p *keyward.Project) {
			c := f.certCredential(t, p, "first", "0bad", nil)
			f.rollCert(t, c, "0bad02", at(time.Minute), at(time.Hour))
		}, nil},
		{"ErrSerialOfRevokedCertificate", keyward.EConflict, func(t *testing.T, f *fixture, p *keyward.Project) {
			c := f.certCredential(t, p, "first", "0bad", nil)
			f.revoke(t, c, at(time.Minute))
		}, nil},
		{"ErrNameTaken", keyward.EConflict, func(t *testing.T, f *fixture, p *keyward.Project) {
			f.certCredential(t, p, "new", "0other", nil)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, open)
			p := f.project(t, "acme")
			if tc.prep != nil {
				tc.prep(t, f, p)
			}
			before := len(f.events(t))
			var existing *keyward.Credential
			if got, err := f.s.CredentialByName(t.Context(), p.ID, "new"); err == nil {
				existing = got
			}
			c := f.newCertCredential(p, "new", "0bad", tc.mod)
			sent := clone(c)
			ev := f.event("credential.create")
			wantCode(t, f.s.CreateCredential(t.Context(), c, nil, ev), tc.code)
			checkCredential(t, c, sent)
			f.wantNoEvent(t, before, ev)
			if existing == nil {
				_, err := f.s.CredentialByName(t.Context(), p.ID, "new")
				wantCode(t, err, keyward.ENotFound)
			} else {
				checkCredential(t, f.reread(t, existing), existing)
			}
			if tc.prep == nil {
				_, _, err := f.s.CredentialBySerial(t.Context(), "0bad")
				wantCode(t, err, keyward.ENotFound)
			}
		})
	}
}

func testCredentialBySerial(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		c := f.certCredential(t, p, "cert", "0c01", nil)
		f.certCredential(t, p, "other", "0c02", nil)
		gc, k, err := f.s.CredentialBySerial(t.Context(), "0c01")
		if err != nil {
			t.Fatalf("CredentialBySerial: %v", err)
		}
		checkCredential(t, gc, c)
		checkCertificate(t, k, &keyward.Certificate{Serial: "0c01", CredentialID: c.ID,
			Fingerprint: fingerprint("0c01"), NotAfter: *c.ExpiresAt, CreatedAt: c.CreatedAt})
	})

	t.Run("Revoked", func(t *testing.T) {
		f := setup(t, open)
		c := f.certCredential(t, f.system, "cert", "0c01", nil)
		when := at(time.Minute)
		f.revoke(t, c, when)
		gc, k, err := f.s.CredentialBySerial(t.Context(), "0c01")
		if err != nil {
			t.Fatalf("CredentialBySerial of a revoked certificate: %v", err)
		}
		checkCredential(t, gc, c)
		if !sameTime(k.RevokedAt, &when) {
			t.Fatalf("RevokedAt = %v, want %v", k.RevokedAt, when)
		}
	})

	t.Run("Rolled", func(t *testing.T) {
		f := setup(t, open)
		c := f.certCredential(t, f.system, "cert", "0c01", nil)
		when := at(time.Minute)
		f.rollCert(t, c, "0c02", when, at(time.Hour))
		for _, serial := range []string{"0c01", "0c02"} {
			gc, _, err := f.s.CredentialBySerial(t.Context(), serial)
			if err != nil {
				t.Fatalf("CredentialBySerial(%s): %v", serial, err)
			}
			// Either serial leads to the credential as it is now: its current serial is the new one.
			checkCredential(t, gc, c)
		}
		if got := f.certificate(t, c, "0c01").RevokedAt; !sameTime(got, &when) {
			t.Fatalf("old certificate RevokedAt = %v, want %v", got, when)
		}
	})

	for _, tc := range []struct {
		name   string
		serial string
	}{
		{"ErrNotFound", "0dead"},
		{"ErrEmpty", ""},
		{"ErrOtherCase", "0C01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, open)
			f.certCredential(t, f.system, "cert", "0c01", nil)
			f.credential(t, f.system, "token", nil)
			_, _, err := f.s.CredentialBySerial(t.Context(), tc.serial)
			wantCode(t, err, keyward.ENotFound)
		})
	}
}

func testRevokeCertificate(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		c := f.certCredential(t, p, "cert", "0e01", nil)
		other := f.certCredential(t, p, "other", "0e02", nil)
		when := at(time.Minute)
		ev := f.revoke(t, c, when)
		if got, want := c.Version, int64(2); got != want {
			t.Fatalf("Version = %d, want %d", got, want)
		}
		checkCredential(t, f.reread(t, c), c)
		f.wantNewestEvent(t, ev)
		checkCertificate(t, f.certificate(t, c, "0e01"), &keyward.Certificate{Serial: "0e01", CredentialID: c.ID,
			Fingerprint: fingerprint("0e01"), NotAfter: *c.ExpiresAt, RevokedAt: &when, CreatedAt: c.CreatedAt})
		if got := f.certificate(t, other, "0e02").RevokedAt; got != nil {
			t.Fatalf("another credential's certificate RevokedAt = %v, want nil", got)
		}
		if got, want := f.crl(t, when), []string{crlEntry("0e01", when)}; !slices.Equal(got, want) {
			t.Fatalf("CRL = %v, want %v", got, want)
		}
	})

	t.Run("EveryCertificateSameInstant", func(t *testing.T) {
		f := setup(t, open)
		c := f.certCredential(t, f.system, "cert", "0e01", nil)
		rolled := at(time.Minute)
		f.rollCert(t, c, "0e02", rolled, at(48*time.Hour))
		f.rollCert(t, c, "0e03", at(2*time.Minute), at(72*time.Hour))
		when := at(time.Hour)
		f.revoke(t, c, when)
		// The rolled certificates keep the instants of their rolls; the current one takes the
		// revocation's.
		want := []string{crlEntry("0e01", rolled), crlEntry("0e02", at(2*time.Minute)), crlEntry("0e03", when)}
		if got := f.crl(t, when); !slices.Equal(got, want) {
			t.Fatalf("CRL = %v, want %v", got, want)
		}
	})

	t.Run("NeverUndone", func(t *testing.T) {
		f := setup(t, open)
		c := f.certCredential(t, f.system, "cert", "0e01", nil)
		when := at(time.Minute)
		f.revoke(t, c, when)
		// Moving or clearing the credential's revocation leaves the published CRL entry as it was.
		for _, r := range []*time.Time{ptr(at(time.Hour)), nil} {
			c.RevokedAt = r
			c.UpdatedAt = at(2 * time.Hour)
			if err := f.s.UpdateCredential(t.Context(), c, f.event("credential.update")); err != nil {
				t.Fatalf("UpdateCredential: %v", err)
			}
			if got := f.certificate(t, c, "0e01").RevokedAt; !sameTime(got, &when) {
				t.Fatalf("certificate RevokedAt = %v, want the first %v", got, when)
			}
		}
	})

	t.Run("OtherUpdatesLeaveCertificates", func(t *testing.T) {
		f := setup(t, open)
		c := f.certCredential(t, f.system, "cert", "0e01", func(c *keyward.Credential) {
			c.Type, c.Cluster, c.Namespace = keyward.KubeConfig, "prod", "web"
		})
		orig := clone(c)
		c.Active = false
		c.Description = "disabled"
		c.UpdatedAt = at(time.Minute)
		// UpdateCredential never writes the material or the cluster.
		c.Serial, c.Fingerprint, c.Start, c.Cluster, c.Namespace = "0e99", "ff", "x", "other", "other"
		if err := f.s.UpdateCredential(t.Context(), c, f.event("credential.update")); err != nil {
			t.Fatalf("UpdateCredential: %v", err)
		}
		want := clone(c)
		want.Serial, want.Fingerprint, want.Start, want.Cluster, want.Namespace = orig.Serial, orig.Fingerprint, orig.Start, orig.Cluster, orig.Namespace
		checkCredential(t, f.reread(t, c), want)
		if got := f.certificate(t, c, "0e01").RevokedAt; got != nil {
			t.Fatalf("certificate RevokedAt = %v, want nil: disabling is not revoking", got)
		}
		_, _, err := f.s.CredentialBySerial(t.Context(), "0e99")
		wantCode(t, err, keyward.ENotFound)
		if got := f.crl(t, t0); len(got) != 0 {
			t.Fatalf("CRL = %v, want empty", got)
		}
	})

	t.Run("ErrStale", func(t *testing.T) {
		f := setup(t, open)
		c := f.certCredential(t, f.system, "cert", "0e01", nil)
		stale := clone(c)
		c.Description = "moved on"
		if err := f.s.UpdateCredential(t.Context(), c, f.event("credential.update")); err != nil {
			t.Fatalf("UpdateCredential: %v", err)
		}
		before := len(f.events(t))
		stale.RevokedAt = ptr(at(time.Minute))
		ev := f.event("credential.revoke")
		wantCode(t, f.s.UpdateCredential(t.Context(), stale, ev), keyward.EConflict)
		f.wantNoEvent(t, before, ev)
		checkCredential(t, f.reread(t, c), c)
		if got := f.certificate(t, c, "0e01").RevokedAt; got != nil {
			t.Fatalf("certificate RevokedAt = %v after a stale revoke, want nil", got)
		}
		if got := f.crl(t, t0); len(got) != 0 {
			t.Fatalf("CRL = %v, want empty", got)
		}
	})

	t.Run("DeleteUser", func(t *testing.T) {
		f := setup(t, open)
		bob := f.user(t, "bob", "")
		by := func(c *keyward.Credential) { c.CreatedBy = bob.ID }
		kept := f.certCredential(t, f.system, "admin-cert", "0e00", nil)
		early := f.certCredential(t, f.system, "early", "0e01", by)
		f.revoke(t, early, at(time.Minute))
		c := f.certCredential(t, f.system, "cert", "0e02", by)
		when := at(time.Hour)
		f.deleteUser(t, bob, when)
		if got := f.certificate(t, c, "0e02").RevokedAt; !sameTime(got, &when) {
			t.Fatalf("certificate RevokedAt = %v, want %v", got, when)
		}
		if got, want := f.certificate(t, early, "0e01").RevokedAt, at(time.Minute); !sameTime(got, &want) {
			t.Fatalf("earlier revoked certificate RevokedAt = %v, want its own %v", got, want)
		}
		if got := f.certificate(t, kept, "0e00").RevokedAt; got != nil {
			t.Fatalf("another user's certificate RevokedAt = %v, want nil", got)
		}
		want := []string{crlEntry("0e01", at(time.Minute)), crlEntry("0e02", when)}
		if got := f.crl(t, when); !slices.Equal(got, want) {
			t.Fatalf("CRL = %v, want %v", got, want)
		}
	})
}

func testRollCertificate(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "acme")
		c := f.certCredential(t, p, "cert", "0f01", func(c *keyward.Credential) {
			c.Type, c.Cluster, c.Namespace = keyward.KubeConfig, "prod", "web"
		})
		first := clone(c)
		when, notAfter := at(time.Minute), at(30*24*time.Hour)
		c.Start = "cert 0f02"
		c.Description = "rolled"
		ev := f.rollCert(t, c, "0f02", when, notAfter)
		if got, want := c.Version, int64(2); got != want {
			t.Fatalf("Version = %d, want %d", got, want)
		}
		want := clone(first)
		want.Version, want.UpdatedAt, want.Description, want.Start = 2, when, "rolled", "cert 0f02"
		want.Serial, want.Fingerprint, want.ExpiresAt = "0f02", fingerprint("0f02"), ptr(notAfter)
		checkCredential(t, c, want)
		checkCredential(t, f.reread(t, c), want)
		f.wantNewestEvent(t, ev)
		checkCertificate(t, f.certificate(t, c, "0f01"), &keyward.Certificate{Serial: "0f01", CredentialID: c.ID,
			Fingerprint: fingerprint("0f01"), NotAfter: *first.ExpiresAt, RevokedAt: &when, CreatedAt: first.CreatedAt})
		checkCertificate(t, f.certificate(t, c, "0f02"), &keyward.Certificate{Serial: "0f02", CredentialID: c.ID,
			Fingerprint: fingerprint("0f02"), NotAfter: notAfter, CreatedAt: when})
		if got, want := f.crl(t, when), []string{crlEntry("0f01", when)}; !slices.Equal(got, want) {
			t.Fatalf("CRL = %v, want %v: the old certificate, not the new", got, want)
		}
	})

	t.Run("Twice", func(t *testing.T) {
		f := setup(t, open)
		c := f.certCredential(t, f.system, "cert", "0f01", nil)
		t1, t2 := at(time.Minute), at(2*time.Minute)
		f.rollCert(t, c, "0f02", t1, at(time.Hour))
		f.rollCert(t, c, "0f03", t2, at(2*time.Hour))
		if got, want := f.reread(t, c).Version, int64(3); got != want {
			t.Fatalf("Version = %d, want %d", got, want)
		}
		want := []string{crlEntry("0f01", t1), crlEntry("0f02", t2)}
		if got := f.crl(t, t2); !slices.Equal(got, want) {
			t.Fatalf("CRL = %v, want %v", got, want)
		}
	})

	t.Run("RevokedInTheSameWrite", func(t *testing.T) {
		f := setup(t, open)
		c := f.certCredential(t, f.system, "cert", "0f01", nil)
		when := at(time.Minute)
		c.RevokedAt = ptr(when)
		f.rollCert(t, c, "0f02", when, at(time.Hour))
		want := []string{crlEntry("0f01", when), crlEntry("0f02", when)}
		if got := f.crl(t, when); !slices.Equal(got, want) {
			t.Fatalf("CRL = %v, want %v: a revoked credential's new certificate is revoked too", got, want)
		}
	})

	for _, tc := range []struct {
		name string
		code keyward.Code
		mod  func(t *testing.T, f *fixture, c *keyward.Credential)
	}{
		{"ErrStale", keyward.EConflict, func(t *testing.T, f *fixture, c *keyward.Credential) {
			moved := clone(c)
			moved.Description = "moved on"
			if err := f.s.UpdateCredential(t.Context(), moved, f.event("credential.update")); err != nil {
				t.Fatalf("UpdateCredential: %v", err)
			}
		}},
		{"ErrNotFound", keyward.ENotFound, func(t *testing.T, f *fixture, c *keyward.Credential) { c.ID = 999999 }},
		{"ErrNoSerial", keyward.EInvalid, func(t *testing.T, f *fixture, c *keyward.Credential) { c.Serial = "" }},
		{"ErrNoExpiry", keyward.EInvalid, func(t *testing.T, f *fixture, c *keyward.Credential) { c.ExpiresAt = nil }},
		{"ErrSerialTaken", keyward.EConflict, func(t *testing.T, f *fixture, c *keyward.Credential) {
			f.certCredential(t, f.system, "other", "0f02", nil)
		}},
		{"ErrOwnSerial", keyward.EConflict, func(t *testing.T, f *fixture, c *keyward.Credential) { c.Serial = "0f01" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, open)
			c := f.certCredential(t, f.system, "cert", "0f01", nil)
			u := clone(c)
			u.Serial, u.Fingerprint, u.ExpiresAt, u.UpdatedAt = "0f02", fingerprint("0f02"), ptr(at(time.Hour)), at(time.Minute)
			tc.mod(t, f, u)
			stored := f.reread(t, c)
			before := len(f.events(t))
			sent := clone(u)
			ev := f.event("credential.roll")
			wantCode(t, f.s.RollCredential(t.Context(), u, nil, u.UpdatedAt, ev), tc.code)
			checkCredential(t, u, sent)
			f.wantNoEvent(t, before, ev)
			checkCredential(t, f.reread(t, c), stored)
			if got := f.certificate(t, c, "0f01").RevokedAt; got != nil {
				t.Fatalf("old certificate RevokedAt = %v after a failed roll, want nil", got)
			}
			if tc.name != "ErrSerialTaken" {
				_, _, err := f.s.CredentialBySerial(t.Context(), "0f02")
				wantCode(t, err, keyward.ENotFound)
			}
			if got := f.crl(t, t0); len(got) != 0 {
				t.Fatalf("CRL = %v after a failed roll, want empty", got)
			}
		})
	}
}

func testRevokedCertificates(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		now := at(time.Hour)
		revokedAt := at(time.Minute)
		// Created out of serial order, to see the order is the store's.
		for _, tc := range []struct {
			serial   string
			notAfter time.Time
			revoke   bool
		}{
			{"0a05", now.Add(24 * time.Hour), true},      // listed
			{"0a01", now.Add(time.Microsecond), true},    // listed: expires just after now
			{"0a03", now, true},                          // not listed: expired at now
			{"0a02", now.Add(-time.Hour), true},          // not listed: expired
			{"0a04", now.Add(24 * time.Hour), false},     // not listed: not revoked
			{"0a00", now.Add(10 * 24 * time.Hour), true}, // listed
		} {
			c := f.certCredential(t, f.system, "c"+tc.serial, tc.serial, func(c *keyward.Credential) {
				c.ExpiresAt = ptr(tc.notAfter)
			})
			if tc.revoke {
				f.revoke(t, c, revokedAt)
			}
		}
		want := []string{crlEntry("0a00", revokedAt), crlEntry("0a01", revokedAt), crlEntry("0a05", revokedAt)}
		for _, n := range []struct {
			name string
			now  time.Time
		}{
			{"Exact", now},
			// Nanoseconds beyond the stored microseconds must not change the answer.
			{"SubMicro", now.Add(500 * time.Nanosecond)},
		} {
			if got := f.crl(t, n.now); !slices.Equal(got, want) {
				t.Fatalf("%s: CRL = %v, want %v", n.name, got, want)
			}
		}
		ks, err := f.s.RevokedCertificates(t.Context(), now)
		if err != nil {
			t.Fatalf("RevokedCertificates: %v", err)
		}
		for _, k := range ks {
			if k.CredentialID <= 0 || k.Fingerprint != fingerprint(k.Serial) || k.NotAfter.Location() != time.UTC {
				t.Fatalf("listed certificate = %s, want its credential, fingerprint and a UTC NotAfter", certString(k))
			}
		}
		if got, want := f.crl(t, now.Add(24*time.Hour)), []string{crlEntry("0a00", revokedAt)}; !slices.Equal(got, want) {
			t.Fatalf("a day later: CRL = %v, want %v", got, want)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		f := setup(t, open)
		f.certCredential(t, f.system, "cert", "01", nil)
		if got := f.crl(t, t0); len(got) != 0 {
			t.Fatalf("CRL = %v, want empty", got)
		}
	})
}
