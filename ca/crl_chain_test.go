package ca_test

import (
	"crypto/x509"
	"math/big"
	"testing"
	"time"

	"github.com/keyward/keyward/ca"
)

// TestChainCRLs: a generated CA gives its own CRL and its root's, each signed by the certificate
// it names as issuer, the root's listing nothing.
func TestChainCRLs(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c, err := ca.New(ca.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	revoked := []ca.Revoked{{Serial: big.NewInt(42), RevokedAt: now.Add(-time.Hour)}}
	ders, err := c.ChainCRLs(revoked, big.NewInt(7), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	chain := c.Chain()
	if len(ders) != 2 || len(chain) != 2 {
		t.Fatalf("%d CRLs for a chain of %d, want 2 and 2", len(ders), len(chain))
	}
	for i, der := range ders {
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		if err := crl.CheckSignatureFrom(chain[i]); err != nil {
			t.Errorf("CRL %d is not signed by %s: %v", i, chain[i].Subject, err)
		}
		if !crl.ThisUpdate.Equal(now) || crl.Number.Int64() != 7 {
			t.Errorf("CRL %d: this update %v, number %v", i, crl.ThisUpdate, crl.Number)
		}
		if want := map[int]int{0: 1, 1: 0}[i]; len(crl.RevokedCertificateEntries) != want {
			t.Errorf("CRL %d lists %d certificates, want %d", i, len(crl.RevokedCertificateEntries), want)
		}
	}
}
