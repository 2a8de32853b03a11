package ca

import (
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/masterkey"
)

// TestClock runs a CA whose clock is far from the wall clock: everything it makes is dated by
// that clock, and everything it checks is checked against it, so a test's fixed clock (or a
// server whose clock keyward is given) never meets time.Now inside the CA.
func TestClock(t *testing.T) {
	t.Parallel()
	wall := time.Now()
	mk, err := masterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		now  time.Time
	}{
		{"TenYearsAhead", wall.AddDate(10, 0, 0)},
		{"TenYearsBehind", wall.AddDate(-10, 0, 0)},
		{"2031-06-01", time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)},
		{"2021-06-01", time.Date(2021, 6, 1, 12, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := func() time.Time { return tt.now }
			now := tt.now.UTC().Truncate(time.Second)
			c, err := New(Options{Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			for _, cert := range c.Chain() {
				if !cert.NotBefore.Equal(now.Add(-backdate)) {
					t.Errorf("%s: NotBefore %s, want %s", cert.Subject.CommonName, cert.NotBefore, now.Add(-backdate))
				}
			}
			if got, want := c.Certificate().NotAfter, now.AddDate(intermediateValidity, 0, 0); !got.Equal(want) {
				t.Errorf("intermediate NotAfter %s, want %s", got, want)
			}

			// A client certificate with no NotBefore starts at the CA's now, and Verify
			// accepts it then; at the wall clock, outside its window, it is refused.
			is, err := c.IssueClient(ClientRequest{CommonName: "alice", NotAfter: now.Add(24 * time.Hour)})
			if err != nil {
				t.Fatalf("IssueClient: %v", err)
			}
			if !is.Cert.NotBefore.Equal(now) {
				t.Errorf("client NotBefore %s, want %s", is.Cert.NotBefore, now)
			}
			if err := c.Verify(is.Cert); err != nil {
				t.Errorf("Verify by the CA's clock: %v", err)
			}
			// The absolute dates may one day be near the wall clock: the checks that the wall
			// clock is not used need the CA to be invalid by it.
			wallOutside := wall.Before(c.notBefore) || wall.After(c.notAfter)
			if err := c.VerifyAt(is.Cert, wall); wallOutside && keyward.ErrorCode(err) != keyward.EUnauthenticated {
				t.Errorf("VerifyAt(wall clock) = %v, want EUnauthenticated", err)
			}

			srv, err := c.IssueServer([]string{"localhost"}, time.Hour)
			if err != nil {
				t.Fatalf("IssueServer: %v", err)
			}
			if want := now.Add(-5 * time.Minute); !srv.Cert.NotBefore.Equal(want) || !srv.Cert.NotAfter.Equal(now.Add(time.Hour)) {
				t.Errorf("server certificate %s..%s, want %s..%s", srv.Cert.NotBefore, srv.Cert.NotAfter, want, now.Add(time.Hour))
			}

			// A CRL with no times given is current by the CA's clock.
			der, err := c.CRL([]Revoked{{Serial: is.Serial, RevokedAt: now}}, big.NewInt(1), time.Time{}, time.Time{})
			if err != nil {
				t.Fatalf("CRL: %v", err)
			}
			crl, err := x509.ParseRevocationList(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := crl.CheckSignatureFrom(c.Certificate()); err != nil {
				t.Errorf("CRL signature: %v", err)
			}
			if !crl.ThisUpdate.Equal(now) || !crl.NextUpdate.Equal(now.Add(DefaultCRLValidity)) {
				t.Errorf("CRL %s..%s, want %s..%s", crl.ThisUpdate, crl.NextUpdate, now, now.Add(DefaultCRLValidity))
			}
			if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(is.Serial) != 0 {
				t.Errorf("CRL entries %+v, want the one revoked serial", crl.RevokedCertificateEntries)
			}

			// The clock is the caller's to give on every way a CA is made: Unmarshal and
			// Import keep it, and without it the wall clock applies.
			data, err := c.Marshal(mk)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Unmarshal(data, mk, clock)
			if err != nil {
				t.Fatal(err)
			}
			if err := back.Verify(is.Cert); err != nil {
				t.Errorf("Verify after Unmarshal with the clock: %v", err)
			}
			wallCA, err := Unmarshal(data, mk, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := wallCA.Verify(is.Cert); wallOutside && keyward.ErrorCode(err) != keyward.EUnauthenticated {
				t.Errorf("Verify after Unmarshal without a clock = %v, want EUnauthenticated", err)
			}
			keyDER, err := x509.MarshalPKCS8PrivateKey(c.key)
			if err != nil {
				t.Fatal(err)
			}
			keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
			imported, err := Import(c.ChainPEM(), keyPEM, clock)
			if err != nil {
				t.Fatalf("Import by the CA's clock: %v", err)
			}
			if is2, err := imported.IssueClient(ClientRequest{CommonName: "bob", NotAfter: now.Add(time.Hour)}); err != nil {
				t.Errorf("IssueClient from the imported CA: %v", err)
			} else if err := imported.Verify(is2.Cert); err != nil {
				t.Errorf("Verify by the imported CA: %v", err)
			}
			if _, err := Import(c.ChainPEM(), keyPEM, nil); wallOutside && keyward.ErrorCode(err) != keyward.EInvalid {
				t.Errorf("Import by the wall clock of a CA valid only then = %v, want EInvalid", err)
			}
		})
	}
}
