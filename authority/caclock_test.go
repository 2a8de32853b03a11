package authority_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlitetest"
)

// TestCAClock runs the authority a year ahead of and a year behind the wall clock, and on fixed
// dates, through every way it makes or loads a CA: InitCA creating one, ImportCA, InitCA
// loading it again on another server, and after RotateMasterKey. Each time the CA, the server
// certificate, the CRL and an issued API certificate follow the authority's clock, and the
// certificate authenticates. A CA dated by the wall clock refused certificates behind it and
// after its five years, and refused to import a CA valid only at the authority's now.
func TestCAClock(t *testing.T) {
	t.Parallel()
	wall := time.Now()
	tests := []struct {
		name string
		now  time.Time
	}{
		{"YearAhead", wall.AddDate(1, 0, 0)},
		{"YearBehind", wall.AddDate(-1, 0, 0)},
		{"2031-06-01", time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)},
		{"2021-06-01", time.Date(2021, 6, 1, 12, 0, 0, 0, time.UTC)},
		{"2040-06-01", time.Date(2040, 6, 1, 12, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			now := tt.now.UTC().Truncate(time.Second)
			s, err := sqlite.Open(ctx, sqlitetest.Path(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			mk, err := masterkey.Generate()
			if err != nil {
				t.Fatal(err)
			}
			server := func(mk *masterkey.Key) *authority.Authority {
				a := authority.New(s, authority.Options{Now: func() time.Time { return tt.now }, UsageFlushInterval: time.Hour, MasterKey: mk})
				t.Cleanup(func() { a.Close() })
				if err := a.InitCA(ctx); err != nil {
					t.Fatalf("InitCA: %v", err)
				}
				return a
			}
			a := server(mk)
			tok, err := a.Bootstrap(ctx)
			if err != nil {
				t.Fatal(err)
			}
			caller, err := a.Authenticate(ctx, tok, "127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			admin := keyward.NewContext(ctx, caller)
			if got := a.CA().Certificate().NotBefore; !got.Equal(now.Add(-time.Hour)) {
				t.Errorf("created CA starts %s, want an hour before %s", got, now)
			}

			// check issues an API certificate named name through a and proves it follows the
			// clock: dates, authentication, the server certificate and the CRL.
			check := func(t *testing.T, a *authority.Authority, name string) {
				t.Helper()
				const password = "bundle password"
				issued, err := a.CreateCredential(admin, keyward.SystemProject, keyward.CreateCredentialInput{
					Type: keyward.APICertificate, Name: name, ExpirationDays: days(30),
					// Legacy encoding: the bundle's dates are the point, and the modern bundle's
					// PBKDF2 rounds made this test the slowest of the package under -race.
					CertificateOptions: keyward.CertificateOptions{Password: password, Encoding: "legacy"},
				})
				if err != nil {
					t.Fatalf("CreateCredential: %v", err)
				}
				p12, err := base64.StdEncoding.DecodeString(issued.Data)
				if err != nil {
					t.Fatal(err)
				}
				_, cert, chain, err := pkcs12.DecodeChain(p12, password)
				if err != nil {
					t.Fatalf("PKCS#12 bundle: %v", err)
				}
				if !cert.NotBefore.Equal(now) || !cert.NotAfter.Equal(now.AddDate(0, 0, 30)) {
					t.Errorf("certificate valid %s..%s, want %s..%s", cert.NotBefore, cert.NotAfter, now, now.AddDate(0, 0, 30))
				}
				if _, err := a.AuthenticateCertificate(ctx, append([]*x509.Certificate{cert}, chain...), "127.0.0.1"); err != nil {
					t.Errorf("the certificate does not authenticate: %v", err)
				}
				srv, err := a.CA().IssueServer([]string{"localhost"}, time.Hour)
				if err != nil {
					t.Fatalf("IssueServer: %v", err)
				}
				if !srv.Cert.NotBefore.Equal(now.Add(-5 * time.Minute)) {
					t.Errorf("server certificate starts %s, want 5 minutes before %s", srv.Cert.NotBefore, now)
				}
				der, err := a.CRL(ctx, "")
				if err != nil {
					t.Fatalf("CRL: %v", err)
				}
				crl, err := x509.ParseRevocationList(der)
				if err != nil {
					t.Fatal(err)
				}
				if !crl.ThisUpdate.Equal(now) || !crl.NextUpdate.After(now) {
					t.Errorf("CRL current %s..%s, want from %s", crl.ThisUpdate, crl.NextUpdate, now)
				}
				if err := crl.CheckSignatureFrom(a.CA().Certificate()); err != nil {
					t.Errorf("CRL signature: %v", err)
				}
			}
			check(t, a, "created")

			certPEM, keyPEM := caValidAround(t, tt.now)
			if err := a.ImportCA(ctx, certPEM, keyPEM); err != nil {
				t.Fatalf("ImportCA of a CA valid at the authority's now: %v", err)
			}
			check(t, a, "imported")
			check(t, server(mk), "loaded")
			next, err := masterkey.Generate()
			if err != nil {
				t.Fatal(err)
			}
			if err := a.RotateMasterKey(ctx, next); err != nil {
				t.Fatalf("RotateMasterKey: %v", err)
			}
			check(t, server(next), "rotated")
		})
	}
}

// caValidAround makes a self-signed CA valid from an hour before now for a year, in PEM.
func caValidAround(t *testing.T, now time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imported CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}
