package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/proctest"
	"github.com/keyward/keyward/masterkey"
)

// Fixtures are made once: key generation (RSA-3072 above all) dominates the run time.
var (
	fixtureOnce sync.Once
	fixtureErr  error
	ecCA        *CA // a generated ECDSA CA
	rsaCA       *CA // a generated RSA-2048 CA
	issuedByAlg map[string]*Issued
	clientReq   ClientRequest // the request behind issuedByAlg
)

type fixtureSet struct {
	ec, rsa *CA
	issued  map[string]*Issued
	req     ClientRequest
}

func fixtures(t *testing.T) fixtureSet {
	t.Helper()
	fixtureOnce.Do(func() {
		if ecCA, fixtureErr = New(Options{Name: "test"}); fixtureErr != nil {
			return
		}
		if rsaCA, fixtureErr = New(Options{RSA: true}); fixtureErr != nil {
			return
		}
		now := time.Now().UTC().Truncate(time.Second)
		clientReq = ClientRequest{
			CommonName:   "alice",
			Organization: []string{"developer", "auditor"},
			URIs:         []*url.URL{{Scheme: "keyward", Host: "credential", Path: "/42"}},
			NotBefore:    now.Add(-time.Minute),
			NotAfter:     now.Add(30 * 24 * time.Hour),
		}
		issuedByAlg = map[string]*Issued{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		for _, alg := range []string{KeyECDSAP256, KeyRSA2048, KeyRSA3072} {
			wg.Go(func() {
				req := clientReq
				req.KeyAlgorithm = alg
				is, err := ecCA.IssueClient(req)
				if err != nil {
					errs <- fmt.Errorf("%s: %w", alg, err)
					return
				}
				mu.Lock()
				issuedByAlg[alg] = is
				mu.Unlock()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			fixtureErr = errors.Join(fixtureErr, err)
		}
	})
	if fixtureErr != nil {
		t.Fatalf("fixtures: %v", fixtureErr)
	}
	return fixtureSet{ec: ecCA, rsa: rsaCA, issued: issuedByAlg, req: clientReq}
}

// tool returns the path of a required command-line tool. A missing tool fails the test: these
// tests exist to prove that real clients read what keyward writes, and skipping would hide it.
func tool(t *testing.T, name, aptPackage string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/bin/" + name; fileExists(p) {
		return p
	}
	t.Fatalf("%s is required by this test and was not found: apt-get install %s", name, aptPackage)
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// run runs a command with a timeout and returns its stdout, stderr and error.
func run(t *testing.T, env []string, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := proctest.CommandContext(t, ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	var ke *keyward.Error
	if !errors.As(err, &ke) || ke.Code != keyward.EInvalid {
		t.Fatalf("error = %v, want a keyward EInvalid", err)
	}
	if _, ok := ke.Fields[field]; !ok {
		t.Fatalf("error %v names fields %v, want %q", err, ke.Fields, field)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	f := fixtures(t)
	tests := []struct {
		name   string
		ca     *CA
		suffix string
		rsa    bool
	}{
		{"ecdsa named", f.ec, " (test)", false},
		{"rsa", f.rsa, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chain := tt.ca.Chain()
			if len(chain) != 2 {
				t.Fatalf("chain has %d certificates, want 2", len(chain))
			}
			inter, root := chain[0], chain[1]
			if err := root.CheckSignatureFrom(root); err != nil {
				t.Errorf("root is not self-signed: %v", err)
			}
			if err := inter.CheckSignatureFrom(root); err != nil {
				t.Errorf("intermediate is not signed by the root: %v", err)
			}
			for _, c := range []struct {
				cert       *x509.Certificate
				cn         string
				years      int
				maxPathLen int
			}{
				{root, "keyward root CA" + tt.suffix, 10, 1},
				{inter, "keyward intermediate CA" + tt.suffix, 5, 0},
			} {
				cert := c.cert
				if cert.Subject.CommonName != c.cn || !slices.Equal(cert.Subject.Organization, []string{"keyward"}) {
					t.Errorf("subject %q, want CN=%q O=keyward", cert.Subject, c.cn)
				}
				if !cert.IsCA || !cert.BasicConstraintsValid || cert.MaxPathLen != c.maxPathLen || (c.maxPathLen == 0 && !cert.MaxPathLenZero) {
					t.Errorf("%s: CA=%v maxPathLen=%d zero=%v", c.cn, cert.IsCA, cert.MaxPathLen, cert.MaxPathLenZero)
				}
				if cert.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
					t.Errorf("%s: key usage %b", c.cn, cert.KeyUsage)
				}
				if len(cert.SubjectKeyId) == 0 {
					t.Errorf("%s: no subject key id", c.cn)
				}
				if got := cert.NotAfter.Sub(cert.NotBefore); got < time.Duration(c.years)*365*24*time.Hour || got > time.Duration(c.years)*367*24*time.Hour {
					t.Errorf("%s: validity %v, want %d years", c.cn, got, c.years)
				}
				switch pub := cert.PublicKey.(type) {
				case *ecdsa.PublicKey:
					if tt.rsa || pub.Curve != elliptic.P256() {
						t.Errorf("%s: key %T %v", c.cn, pub, pub.Curve.Params().Name)
					}
				case *rsa.PublicKey:
					if !tt.rsa || pub.N.BitLen() != 2048 {
						t.Errorf("%s: RSA key of %d bits", c.cn, pub.N.BitLen())
					}
				}
			}
			if !bytes.HasPrefix(tt.ca.ChainPEM(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw})) {
				t.Error("ChainPEM does not start with the signing certificate")
			}
		})
	}
}

func TestIssueClient(t *testing.T) {
	t.Parallel()
	f := fixtures(t)
	chain := f.ec.Chain()
	inters := x509.NewCertPool()
	inters.AddCert(chain[0])
	for alg, is := range f.issued {
		t.Run(alg, func(t *testing.T) {
			cert := is.Cert
			if _, err := cert.Verify(x509.VerifyOptions{
				Roots: f.ec.Pool(), Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			}); err != nil {
				t.Errorf("x509 verification against Pool: %v", err)
			}
			if err := f.ec.Verify(cert); err != nil {
				t.Errorf("CA.Verify: %v", err)
			}
			if err := f.rsa.Verify(cert); keyward.ErrorCode(err) != keyward.EUnauthenticated {
				t.Errorf("another CA's Verify = %v, want EUnauthenticated", err)
			}
			if !cert.NotBefore.Equal(f.req.NotBefore) || !cert.NotAfter.Equal(f.req.NotAfter) {
				t.Errorf("validity %v..%v, want %v..%v", cert.NotBefore, cert.NotAfter, f.req.NotBefore, f.req.NotAfter)
			}
			if cert.Subject.CommonName != "alice" || !slices.Equal(cert.Subject.Organization, []string{"developer", "auditor"}) {
				t.Errorf("subject %q", cert.Subject)
			}
			if len(cert.URIs) != 1 || cert.URIs[0].String() != "keyward://credential/42" {
				t.Errorf("URI SANs %v", cert.URIs)
			}
			if cert.IsCA || !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
				t.Errorf("IsCA %v, EKU %v", cert.IsCA, cert.ExtKeyUsage)
			}
			wantKU := x509.KeyUsageDigitalSignature
			wantBits := 256
			if alg != KeyECDSAP256 {
				wantKU |= x509.KeyUsageKeyEncipherment
				fmt.Sscanf(alg, "rsa-%d", &wantBits)
			}
			if cert.KeyUsage != wantKU {
				t.Errorf("key usage %b, want %b", cert.KeyUsage, wantKU)
			}
			switch pub := cert.PublicKey.(type) {
			case *ecdsa.PublicKey:
				if pub.Curve.Params().BitSize != wantBits {
					t.Errorf("ECDSA key on %s", pub.Curve.Params().Name)
				}
			case *rsa.PublicKey:
				if pub.N.BitLen() != wantBits {
					t.Errorf("RSA key of %d bits, want %d", pub.N.BitLen(), wantBits)
				}
			}
			if is.Serial.Cmp(cert.SerialNumber) != 0 || is.Serial.Sign() <= 0 || is.Serial.BitLen() > 128 {
				t.Errorf("serial %x (cert %x)", is.Serial, cert.SerialNumber)
			}
			sum := sha256.Sum256(cert.Raw)
			if is.Fingerprint != hex.EncodeToString(sum[:]) {
				t.Errorf("fingerprint %s", is.Fingerprint)
			}
			block, _ := pem.Decode(is.KeyPEM)
			if block == nil || block.Type != "PRIVATE KEY" {
				t.Fatalf("KeyPEM is not PKCS#8 PEM")
			}
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil || !publicKeyMatches(key.(crypto.Signer), cert) {
				t.Errorf("KeyPEM does not hold the certificate's key: %v", err)
			}
			if _, err := tls.X509KeyPair(is.ChainPEM, is.KeyPEM); err != nil {
				t.Errorf("ChainPEM + KeyPEM: %v", err)
			}
			if !bytes.HasPrefix(is.ChainPEM, is.CertPEM) || !bytes.HasSuffix(is.ChainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[0].Raw})) {
				t.Error("ChainPEM is not the certificate followed by the intermediate")
			}
		})
	}
}

func TestSerials(t *testing.T) {
	t.Parallel()
	f := fixtures(t)
	a, b := f.issued[KeyECDSAP256].Serial, f.issued[KeyRSA2048].Serial
	if a.Cmp(b) == 0 {
		t.Fatal("two issued certificates share a serial")
	}
	seen := map[string]bool{}
	maxBits := 0
	for range 2000 {
		s, err := randomSerial()
		if err != nil {
			t.Fatal(err)
		}
		if s.Sign() <= 0 || s.BitLen() > 128 {
			t.Fatalf("serial %x out of range", s)
		}
		if seen[s.String()] {
			t.Fatal("serial repeated")
		}
		seen[s.String()] = true
		maxBits = max(maxBits, s.BitLen())
	}
	// Half of all serials have the top bit set; 2000 draws without one would mean the top
	// bit is not random.
	if maxBits != 128 {
		t.Fatalf("no serial of 128 bits in 2000 draws (max %d)", maxBits)
	}
}

func TestIssueClientInvalid(t *testing.T) {
	t.Parallel()
	f := fixtures(t)
	now := time.Now()
	ok := ClientRequest{CommonName: "bob", NotBefore: now, NotAfter: now.Add(time.Hour)}
	tests := []struct {
		name  string
		edit  func(*ClientRequest)
		field string
	}{
		{"empty CN", func(r *ClientRequest) { r.CommonName = " " }, "common_name"},
		{"long CN", func(r *ClientRequest) { r.CommonName = strings.Repeat("a", 65) }, "common_name"},
		{"empty O", func(r *ClientRequest) { r.Organization = []string{""} }, "organization"},
		{"no expiry", func(r *ClientRequest) { r.NotAfter = time.Time{} }, "expires_at"},
		{"expiry before start", func(r *ClientRequest) { r.NotAfter = r.NotBefore.Add(-time.Hour) }, "expires_at"},
		{"expiry after CA", func(r *ClientRequest) { r.NotAfter = now.AddDate(6, 0, 0) }, "expires_at"},
		{"start before CA", func(r *ClientRequest) { r.NotBefore = now.AddDate(-1, 0, 0) }, "not_before"},
		{"bad algorithm", func(r *ClientRequest) { r.KeyAlgorithm = "dsa-1024" }, "key_algorithm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := ok
			tt.edit(&req)
			_, err := f.ec.IssueClient(req)
			wantInvalid(t, err, tt.field)
		})
	}
	// The request as given is fine, and a zero NotBefore means now.
	req := ok
	req.NotBefore = time.Time{}
	is, err := f.ec.IssueClient(req)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(is.Cert.NotBefore); d < 0 || d > time.Minute {
		t.Errorf("zero NotBefore became %v", is.Cert.NotBefore)
	}
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	f := fixtures(t)
	is := f.issued[KeyECDSAP256]
	srv, err := f.ec.IssueServer([]string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cert *x509.Certificate
		at   time.Time
	}{
		{"expired", is.Cert, is.Cert.NotAfter.Add(time.Second)},
		{"not yet valid", is.Cert, is.Cert.NotBefore.Add(-time.Second)},
		{"server certificate", srv.Cert, time.Now()},
		{"the CA's own certificate", f.ec.Certificate(), time.Now()},
		{"another CA's client certificate", mustIssue(t, f.rsa, "mallory").Cert, time.Now()},
		{"nil", nil, time.Now()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.ec.VerifyAt(tt.cert, tt.at); keyward.ErrorCode(err) != keyward.EUnauthenticated {
				t.Fatalf("VerifyAt = %v, want EUnauthenticated", err)
			}
		})
	}
	if err := f.ec.VerifyAt(is.Cert, is.Cert.NotAfter.Add(-time.Second)); err != nil {
		t.Fatalf("VerifyAt just before expiry: %v", err)
	}
}

func mustIssue(t *testing.T, c *CA, cn string) *Issued {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	is, err := c.IssueClient(ClientRequest{CommonName: cn, NotBefore: now, NotAfter: now.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// TestMutualTLS runs a real handshake: a server certificate from IssueServer, a client
// certificate from IssueClient, each side trusting only Pool() (the root), so the
// intermediate must travel in the chains.
func TestMutualTLS(t *testing.T) {
	t.Parallel()
	f := fixtures(t)
	srv, err := f.ec.IssueServer([]string{"localhost", "127.0.0.1", "[::1]:8443", "Example.COM:443"}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(srv.Cert.DNSNames, []string{"localhost", "example.com"}) || len(srv.Cert.IPAddresses) != 2 ||
		!srv.Cert.IPAddresses[1].Equal(net.IPv6loopback) || srv.Cert.Subject.CommonName != "localhost" {
		t.Errorf("server SANs: DNS %v IP %v CN %q", srv.Cert.DNSNames, srv.Cert.IPAddresses, srv.Cert.Subject.CommonName)
	}
	if !slices.Equal(srv.Cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("server EKU %v", srv.Cert.ExtKeyUsage)
	}
	if d := time.Until(srv.Cert.NotAfter); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("server certificate lives %v", d)
	}
	long, err := f.ec.IssueServer([]string{"localhost"}, 100*365*24*time.Hour)
	if err != nil || !long.Cert.NotAfter.Equal(f.ec.Certificate().NotAfter) {
		t.Errorf("a server certificate outliving the CA is not clamped: %v", err)
	}
	for _, bad := range [][]string{nil, {""}, {"a b"}, {"http://x"}} {
		if _, err := f.ec.IssueServer(bad, time.Hour); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Errorf("IssueServer(%q) = %v, want EInvalid", bad, err)
		}
	}

	serverPair, err := tls.X509KeyPair(srv.ChainPEM, srv.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	for alg, is := range f.issued {
		t.Run(alg, func(t *testing.T) {
			clientPair, err := tls.X509KeyPair(is.ChainPEM, is.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			cConn, sConn := net.Pipe()
			defer cConn.Close()
			defer sConn.Close()
			server := tls.Server(sConn, &tls.Config{
				Certificates: []tls.Certificate{serverPair},
				ClientCAs:    f.ec.Pool(),
				ClientAuth:   tls.RequireAndVerifyClientCert,
			})
			client := tls.Client(cConn, &tls.Config{
				Certificates: []tls.Certificate{clientPair},
				RootCAs:      f.ec.Pool(),
				ServerName:   "localhost",
			})
			errc := make(chan error, 1)
			go func() { errc <- server.Handshake() }()
			if err := client.Handshake(); err != nil {
				t.Fatalf("client handshake: %v", err)
			}
			if err := <-errc; err != nil {
				t.Fatalf("server handshake: %v", err)
			}
			peer := server.ConnectionState().PeerCertificates
			if len(peer) == 0 || !peer[0].Equal(is.Cert) {
				t.Fatal("server did not see the client certificate")
			}
			if err := f.ec.Verify(peer[0]); err != nil {
				t.Fatalf("Verify(peer): %v", err)
			}
		})
	}
}

func TestValidateP12Password(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pw   string
		ok   bool
	}{
		{"6 ascii", "abcdef", true},
		{"5 ascii", "abcde", false},
		{"6 multibyte", "ééééé€", true},
		{"5 multibyte", "ééééé", false},
		{"256 bytes", strings.Repeat("x", 256), true},
		{"257 bytes", strings.Repeat("x", 257), false},
		{"control", "abcd\nefgh", false},
		{"nul", "abcd\x00efgh", false},
		{"emoji", "abcdefgh😀", false},
		{"invalid utf8", "abcdefgh\xff", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateP12Password(tt.pw)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateP12Password: %v", err)
				}
				return
			}
			wantInvalid(t, err, "password")
			if tt.pw != "" && strings.Contains(err.Error(), tt.pw) {
				t.Fatalf("error %q contains the password", err)
			}
		})
	}
}

const p12Password = "correct horse battery"

// TestPKCS12OpenSSL has OpenSSL read every bundle: both encodings, every key algorithm.
func TestPKCS12OpenSSL(t *testing.T) {
	t.Parallel()
	openssl := tool(t, "openssl", "openssl")
	f := fixtures(t)
	dir := t.TempDir()
	for _, alg := range []string{KeyECDSAP256, KeyRSA2048, KeyRSA3072} {
		for _, enc := range []string{"", EncodingModern, EncodingLegacy} {
			name := alg + "/" + enc
			if enc == "" {
				name = alg + "/default"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel() // each writes a file of its own name; openssl's PBKDF2 dominates
				is := f.issued[alg]
				p12, err := f.ec.PKCS12(is, p12Password, enc)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(p12, is.KeyPEM) || bytes.Contains(p12, pemBody(is.KeyPEM)) {
					t.Fatal("bundle holds the key in the clear")
				}
				path := writeFile(t, dir, strings.ReplaceAll(name, "/", "_")+".p12", p12)
				// OpenSSL 3 reads both encodings with its default provider (3DES is
				// there; only RC2, which keyward does not use, needs -legacy).
				_, info, err := run(t, nil, openssl, "pkcs12", "-info", "-nokeys", "-in", path, "-passin", "pass:"+p12Password)
				if err != nil {
					t.Fatalf("openssl pkcs12 -info: %v\n%s", err, info)
				}
				wantAlg := "PBES2, PBKDF2, AES-256-CBC"
				if enc == EncodingLegacy {
					wantAlg = "pbeWithSHA1And3-KeyTripleDES-CBC"
				}
				if !strings.Contains(info, wantAlg) {
					t.Errorf("openssl -info does not report %q:\n%s", wantAlg, info)
				}
				if _, out, err := run(t, nil, openssl, "pkcs12", "-info", "-nokeys", "-in", path, "-passin", "pass:wrong password"); err == nil {
					t.Fatalf("openssl read the bundle with a wrong password:\n%s", out)
				}
				if _, out, err := run(t, nil, openssl, "pkcs12", "-info", "-nokeys", "-in", path, "-passin", "pass:"); err == nil {
					t.Fatalf("openssl read the bundle without the password:\n%s", out)
				}

				out, errOut, err := run(t, nil, openssl, "pkcs12", "-in", path, "-nokeys", "-clcerts", "-passin", "pass:"+p12Password)
				if err != nil {
					t.Fatalf("openssl pkcs12 -clcerts: %v\n%s", err, errOut)
				}
				certs := parseCerts(t, out)
				if len(certs) != 1 || !certs[0].Equal(is.Cert) {
					t.Fatalf("bundle's client certificate differs from the issued one (%d certs)", len(certs))
				}
				out, errOut, err = run(t, nil, openssl, "pkcs12", "-in", path, "-nokeys", "-cacerts", "-passin", "pass:"+p12Password)
				if err != nil {
					t.Fatalf("openssl pkcs12 -cacerts: %v\n%s", err, errOut)
				}
				if cas := parseCerts(t, out); len(cas) != 2 || !containsCert(cas, f.ec.Chain()[0]) || !containsCert(cas, f.ec.Chain()[1]) {
					t.Fatalf("bundle's CA certificates are not the chain (%d certs)", len(cas))
				}
				out, errOut, err = run(t, nil, openssl, "pkcs12", "-in", path, "-nocerts", "-nodes", "-passin", "pass:"+p12Password)
				if err != nil {
					t.Fatalf("openssl pkcs12 -nocerts: %v\n%s", err, errOut)
				}
				key, err := parseKeyPEM([]byte(out[strings.Index(out, "-----BEGIN"):]))
				if err != nil || !publicKeyMatches(key, is.Cert) {
					t.Fatalf("bundle's key does not match the certificate: %v", err)
				}
			})
		}
	}
	t.Run("invalid", func(t *testing.T) {
		is := f.issued[KeyECDSAP256]
		if _, err := f.ec.PKCS12(is, p12Password, "rc4"); keyward.ErrorCode(err) != keyward.EInvalid {
			t.Errorf("unknown encoding: %v", err)
		}
		_, err := f.ec.PKCS12(is, "short", "")
		wantInvalid(t, err, "password")
		// go-pkcs12's own reader agrees with OpenSSL.
		p12, err := f.ec.PKCS12(is, p12Password, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, cert, cas, err := pkcs12.DecodeChain(p12, p12Password); err != nil || !cert.Equal(is.Cert) || len(cas) != 2 {
			t.Errorf("pkcs12.DecodeChain: %v", err)
		}
	})
}

func pemBody(p []byte) []byte {
	b, _ := pem.Decode(p)
	return b.Bytes
}

func parseCerts(t *testing.T, s string) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return certs
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
}

func containsCert(certs []*x509.Certificate, c *x509.Certificate) bool {
	return slices.ContainsFunc(certs, c.Equal)
}

var opensslSerialRE = regexp.MustCompile(`(?m)^\s*Serial Number:\s*([0-9A-Fa-f]+)\s*$`)

// TestCRLOpenSSL has OpenSSL verify CRLs from a generated ECDSA CA, a generated RSA CA and an
// imported OpenSSL CA without keyUsage, and list their serials.
func TestCRLOpenSSL(t *testing.T) {
	t.Parallel()
	openssl := tool(t, "openssl", "openssl")
	f := fixtures(t)
	imported := importOpenSSLCA(t, openssl, t.TempDir())
	cas := map[string]*CA{"ecdsa": f.ec, "rsa": f.rsa, "imported": imported}
	for name, c := range cas {
		for _, n := range []int{0, 1, 3} {
			t.Run(fmt.Sprintf("%s/%d revoked", name, n), func(t *testing.T) {
				dir := t.TempDir()
				var revoked []Revoked
				want := map[string]bool{}
				for i := range 4 {
					is := mustIssue(t, c, fmt.Sprintf("user%d", i))
					if i < n {
						revoked = append(revoked, Revoked{Serial: is.Serial, RevokedAt: time.Now().Add(-time.Duration(i) * time.Minute)})
						want[is.Serial.Text(16)] = true
					}
				}
				now := time.Now()
				der, err := c.CRL(revoked, big.NewInt(7), now, now.Add(24*time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				crl, err := x509.ParseRevocationList(der)
				if err != nil || crl.CheckSignatureFrom(c.Certificate()) != nil || crl.Number.Int64() != 7 {
					t.Fatalf("Go reading the CRL: %v", err)
				}
				crlPath := writeFile(t, dir, "crl.pem", CRLPEM(der))
				chainPath := writeFile(t, dir, "chain.pem", c.ChainPEM())
				_, errOut, err := run(t, nil, openssl, "crl", "-in", crlPath, "-CAfile", chainPath, "-noout")
				if err != nil || !strings.Contains(errOut, "verify OK") {
					t.Fatalf("openssl crl verify: %v\n%s", err, errOut)
				}
				other := writeFile(t, dir, "other.pem", f.rsa.ChainPEM())
				if c == f.rsa {
					other = writeFile(t, dir, "other.pem", f.ec.ChainPEM())
				}
				if _, errOut, err := run(t, nil, openssl, "crl", "-in", crlPath, "-CAfile", other, "-noout"); err == nil && strings.Contains(errOut, "verify OK") {
					t.Fatal("openssl verified the CRL against another CA")
				}
				text, errOut, err := run(t, nil, openssl, "crl", "-in", crlPath, "-noout", "-text")
				if err != nil {
					t.Fatalf("openssl crl -text: %v\n%s", err, errOut)
				}
				got := map[string]bool{}
				for _, m := range opensslSerialRE.FindAllStringSubmatch(text, -1) {
					s, _ := new(big.Int).SetString(m[1], 16)
					got[s.Text(16)] = true
				}
				if !mapsEqual(got, want) {
					t.Fatalf("openssl lists serials %v, want %v\n%s", got, want, text)
				}
			})
		}
	}
	t.Run("invalid", func(t *testing.T) {
		now := time.Now()
		if _, err := f.ec.CRL(nil, nil, now, now.Add(time.Hour)); err == nil {
			t.Error("CRL without a number")
		}
		if _, err := f.ec.CRL(nil, big.NewInt(1), now, now.Add(-time.Hour)); err == nil {
			t.Error("CRL with nextUpdate before thisUpdate")
		}
		if _, err := f.ec.CRL([]Revoked{{Serial: big.NewInt(5)}}, big.NewInt(1), now, now.Add(time.Hour)); err == nil {
			t.Error("CRL entry without a revocation time")
		}
	})
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func TestKubeconfigKubectl(t *testing.T) {
	t.Parallel()
	kubectl := tool(t, "kubectl", "kubernetes-client")
	f := fixtures(t)
	is := f.issued[KeyECDSAP256]
	dir := t.TempDir()
	// kubectl must read only the file given, and write nothing into the real home.
	env := []string{"HOME=" + dir, "KUBECONFIG="}
	tests := []struct {
		name string
		in   KubeconfigInput
		ctx  string
	}{
		{"plain", KubeconfigInput{
			ClusterName: "prod", Server: "https://k8s.example.com:6443", ClusterCAPEM: f.rsa.ChainPEM(),
			UserName: "alice", Namespace: "team-a", ContextName: "alice-prod",
		}, "alice-prod"},
		{"default context, YAML-hostile names", KubeconfigInput{
			ClusterName: `yes: "quoted" #1`, Server: "https://10.0.0.1", ClusterCAPEM: f.rsa.ChainPEM(),
			UserName: "null", Namespace: "1.0",
		}, `null@yes: "quoted" #1`},
		{"no namespace, no cluster CA", KubeconfigInput{
			ClusterName: "c", Server: "https://k8s.example.com", UserName: "u",
		}, "u@c"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.ClientCertPEM, in.ClientKeyPEM = is.ChainPEM, is.KeyPEM
			doc, err := Kubeconfig(in)
			if err != nil {
				t.Fatal(err)
			}
			path := writeFile(t, dir, fmt.Sprintf("kubeconfig%d", i), doc)
			get := func(jsonpath string) string {
				t.Helper()
				out, errOut, err := run(t, env, kubectl, "config", "view", "--kubeconfig", path, "--raw", "-o", "jsonpath="+jsonpath)
				if err != nil {
					t.Fatalf("kubectl config view %s: %v\n%s\n%s", jsonpath, err, errOut, doc)
				}
				return out
			}
			if got := get("{.current-context}"); got != tt.ctx {
				t.Errorf("current-context %q, want %q", got, tt.ctx)
			}
			if got := get("{.contexts[0].context.namespace}"); got != in.Namespace {
				t.Errorf("namespace %q, want %q", got, in.Namespace)
			}
			if got := get("{.contexts[0].context.cluster}"); got != in.ClusterName {
				t.Errorf("context cluster %q, want %q", got, in.ClusterName)
			}
			if got := get("{.contexts[0].context.user}"); got != in.UserName {
				t.Errorf("context user %q, want %q", got, in.UserName)
			}
			if got := get("{.clusters[0].cluster.server}"); got != in.Server {
				t.Errorf("server %q, want %q", got, in.Server)
			}
			for jp, want := range map[string][]byte{
				"{.clusters[0].cluster.certificate-authority-data}": in.ClusterCAPEM,
				"{.users[0].user.client-certificate-data}":          in.ClientCertPEM,
				"{.users[0].user.client-key-data}":                  in.ClientKeyPEM,
			} {
				got, err := base64.StdEncoding.DecodeString(get(jp))
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s does not round-trip: %v", jp, err)
				}
			}
		})
	}
}

func TestKubeconfigInvalid(t *testing.T) {
	t.Parallel()
	f := fixtures(t)
	is := f.issued[KeyECDSAP256]
	other := f.issued[KeyRSA2048]
	ok := KubeconfigInput{
		ClusterName: "prod", Server: "https://k8s.example.com", ClusterCAPEM: f.ec.ChainPEM(),
		UserName: "alice", ClientCertPEM: is.CertPEM, ClientKeyPEM: is.KeyPEM, Namespace: "ns",
	}
	if _, err := Kubeconfig(ok); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		edit  func(*KubeconfigInput)
		field string
	}{
		{"http server", func(k *KubeconfigInput) { k.Server = "http://k8s.example.com" }, "server"},
		{"no host", func(k *KubeconfigInput) { k.Server = "https://" }, "server"},
		{"not a URL", func(k *KubeconfigInput) { k.Server = "k8s.example.com:6443" }, "server"},
		{"empty cluster", func(k *KubeconfigInput) { k.ClusterName = "" }, "cluster_name"},
		{"empty user", func(k *KubeconfigInput) { k.UserName = " " }, "user_name"},
		{"bad namespace", func(k *KubeconfigInput) { k.Namespace = "\xff" }, "namespace"},
		{"bad cluster CA", func(k *KubeconfigInput) { k.ClusterCAPEM = []byte("not pem") }, "cluster_ca"},
		{"mismatched key", func(k *KubeconfigInput) { k.ClientKeyPEM = other.KeyPEM }, "client_certificate"},
		{"no certificate", func(k *KubeconfigInput) { k.ClientCertPEM = nil }, "client_certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ok
			tt.edit(&in)
			_, err := Kubeconfig(in)
			wantInvalid(t, err, tt.field)
		})
	}
}

// importOpenSSLCA makes a CA with `openssl req -x509` defaults (CA:TRUE, no keyUsage) and
// imports it.
func importOpenSSLCA(t *testing.T, openssl, dir string) *CA {
	t.Helper()
	certPEM, keyPEM := opensslCA(t, openssl, dir, "default")
	c, err := Import(certPEM, keyPEM, nil)
	if err != nil {
		t.Fatalf("Import of an openssl CA: %v", err)
	}
	return c
}

// opensslCA runs openssl req -x509 with extra arguments and returns the certificate and key.
func opensslCA(t *testing.T, openssl, dir, name string, extra ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	certPath, keyPath := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	args := append([]string{"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", keyPath, "-out", certPath, "-days", "30", "-subj", "/CN=openssl " + name}, extra...)
	if _, errOut, err := run(t, nil, openssl, args...); err != nil {
		t.Fatalf("openssl req -x509: %v\n%s", err, errOut)
	}
	var err error
	if certPEM, err = os.ReadFile(certPath); err != nil {
		t.Fatal(err)
	}
	if keyPEM, err = os.ReadFile(keyPath); err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

func TestImport(t *testing.T) {
	t.Parallel()
	openssl := tool(t, "openssl", "openssl")
	f := fixtures(t)
	dir := t.TempDir()
	mk, err := masterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}

	defCert, defKey := opensslCA(t, openssl, dir, "default")
	kuCert, kuKey := opensslCA(t, openssl, dir, "keyusage", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	_, otherKey := opensslCA(t, openssl, dir, "other")
	leafCert, leafKey := opensslCA(t, openssl, dir, "leaf", "-addext", "basicConstraints=critical,CA:FALSE")
	noCRLCert, noCRLKey := opensslCA(t, openssl, dir, "nocrl", "-addext", "keyUsage=critical,keyCertSign")
	sec1Out, errOut, err := run(t, nil, openssl, "ec", "-in", filepath.Join(dir, "default.key"))
	if err != nil {
		t.Fatalf("openssl ec: %v\n%s", err, errOut)
	}
	encOut, errOut, err := run(t, nil, openssl, "pkey", "-in", filepath.Join(dir, "default.key"), "-aes256", "-passout", "pass:secretpass")
	if err != nil {
		t.Fatalf("openssl pkey -aes256: %v\n%s", err, errOut)
	}
	interKeyDER, err := x509.MarshalPKCS8PrivateKey(f.ec.key)
	if err != nil {
		t.Fatal(err)
	}
	interKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: interKeyDER})
	chain := f.ec.Chain()
	reversed := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[1].Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[0].Raw})...)
	client := f.issued[KeyECDSAP256]

	accepted := []struct {
		name        string
		cert, key   []byte
		chainLength int
	}{
		{"openssl defaults (no keyUsage), PKCS#8 key", defCert, defKey, 1},
		{"openssl defaults, SEC 1 key", defCert, []byte(sec1Out), 1},
		{"openssl with keyUsage", kuCert, kuKey, 1},
		{"keyward chain with intermediate key", f.ec.ChainPEM(), interKey, 2},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Import(tt.cert, tt.key, nil)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if len(c.Chain()) != tt.chainLength || !bytes.Equal(c.ChainPEM(), tt.cert) {
				t.Fatalf("imported chain differs from the input")
			}
			is := mustIssue(t, c, "carol")
			if err := c.Verify(is.Cert); err != nil {
				t.Fatalf("Verify of a certificate issued by the imported CA: %v", err)
			}
			// OpenSSL agrees that the issued certificate chains to the imported CA.
			leaf := writeFile(t, t.TempDir(), "leaf.pem", is.CertPEM)
			caFile := writeFile(t, t.TempDir(), "ca.pem", c.ChainPEM())
			args := []string{"verify", "-purpose", "sslclient", "-CAfile", caFile}
			if tt.chainLength > 1 {
				args = []string{"verify", "-purpose", "sslclient", "-CAfile", writeFile(t, t.TempDir(), "root.pem",
					pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[1].Raw})), "-untrusted", caFile}
			}
			if out, errOut, err := run(t, nil, openssl, append(args, leaf)...); err != nil || !strings.Contains(out, "OK") {
				t.Fatalf("openssl verify: %v\n%s%s", err, out, errOut)
			}
			// State round trip: an imported CA has no root key, and needs none.
			data, err := c.Marshal(mk)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Unmarshal(data, mk, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back.ChainPEM(), c.ChainPEM()) || !publicKeyMatches(back.key, c.Certificate()) || back.rootKey != nil {
				t.Fatal("Unmarshal did not restore the imported CA")
			}
		})
	}

	refused := []struct {
		name, field, msg string
		cert, key        []byte
	}{
		{"key of another CA", "key", "does not match", defCert, otherKey},
		{"non-CA certificate", "certificate", "not a CA", leafCert, leafKey},
		{"keyward client certificate", "certificate", "not a CA", client.CertPEM, client.KeyPEM},
		{"keyUsage without cRLSign", "certificate", "cRLSign", noCRLCert, noCRLKey},
		{"chain in the wrong order", "key", "does not match", reversed, interKey},
		{"encrypted key", "key", "encrypted", defCert, []byte(encOut)},
		{"no certificate", "certificate", "no PEM", nil, defKey},
		{"key as certificate", "certificate", "PRIVATE KEY", defKey, defKey},
		{"no key", "key", "no PEM", defCert, nil},
	}
	for _, tt := range refused {
		t.Run("refuse "+tt.name, func(t *testing.T) {
			_, err := Import(tt.cert, tt.key, nil)
			wantInvalid(t, err, tt.field)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not say %q", err, tt.msg)
			}
		})
	}
	t.Run("refuse an expired CA", func(t *testing.T) {
		later := time.Now().AddDate(0, 0, 31)
		_, err := Import(defCert, defKey, func() time.Time { return later })
		wantInvalid(t, err, "certificate")
	})
	t.Run("refuse a CA not yet valid", func(t *testing.T) {
		earlier := time.Now().AddDate(0, 0, -1)
		_, err := Import(defCert, defKey, func() time.Time { return earlier })
		wantInvalid(t, err, "certificate")
	})
	t.Run("refuse a chain whose second certificate did not sign the first", func(t *testing.T) {
		bad := append(bytes.Clone(f.ec.ChainPEM()[:len(pemCert(chain[0]))]), pemCert(f.rsa.Chain()[1])...)
		_, err := Import(bad, interKey, nil)
		wantInvalid(t, err, "certificate")
	})
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func TestMarshalUnmarshal(t *testing.T) {
	t.Parallel()
	f := fixtures(t)
	mk, err := masterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := masterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*CA{"ecdsa": f.ec, "rsa": f.rsa} {
		t.Run(name, func(t *testing.T) {
			data, err := c.Marshal(mk)
			if err != nil {
				t.Fatal(err)
			}
			// No encoding of either private key may appear in the state.
			for role, key := range map[string]crypto.Signer{"signing": c.key, "root": c.rootKey} {
				der, err := x509.MarshalPKCS8PrivateKey(key)
				if err != nil {
					t.Fatal(err)
				}
				forms := [][]byte{
					der, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
					[]byte(base64.StdEncoding.EncodeToString(der)), []byte(hex.EncodeToString(der)),
					// A window from the middle of the base64 form, in case of re-wrapping.
					[]byte(base64.StdEncoding.EncodeToString(der)[20:60]),
				}
				if ek, ok := key.(*ecdsa.PrivateKey); ok {
					sec1, _ := x509.MarshalECPrivateKey(ek)
					forms = append(forms, sec1, []byte(base64.StdEncoding.EncodeToString(sec1)))
				}
				for i, form := range forms {
					if bytes.Contains(data, form) {
						t.Fatalf("state holds the %s key in the clear (form %d)", role, i)
					}
				}
			}
			back, err := Unmarshal(data, mk, nil)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !bytes.Equal(back.ChainPEM(), c.ChainPEM()) || !publicKeyMatches(back.key, c.Certificate()) ||
				back.rootKey == nil || !publicKeyMatches(back.rootKey, c.Chain()[1]) {
				t.Fatal("Unmarshal did not restore the CA")
			}
			// The restored CA issues certificates the original accepts.
			if err := c.Verify(mustIssue(t, back, "dave").Cert); err != nil {
				t.Fatalf("certificate from the restored CA: %v", err)
			}

			_, err = Unmarshal(data, wrong, nil)
			if !errors.Is(err, masterkey.ErrMismatch) || !strings.Contains(err.Error(), "the master key does not match") {
				t.Fatalf("Unmarshal with the wrong master key = %v", err)
			}

			resealed, err := Reseal(data, mk, wrong)
			if err != nil {
				t.Fatalf("Reseal: %v", err)
			}
			if _, err := Unmarshal(resealed, wrong, nil); err != nil {
				t.Fatalf("Unmarshal after Reseal: %v", err)
			}
			if _, err := Unmarshal(resealed, mk, nil); !errors.Is(err, masterkey.ErrMismatch) {
				t.Fatalf("the old key still opens resealed state: %v", err)
			}
		})
	}
	t.Run("damaged state", func(t *testing.T) {
		data, err := f.ec.Marshal(mk)
		if err != nil {
			t.Fatal(err)
		}
		swapped := strings.Replace(string(data), `"key"`, `"tmp"`, 1)
		swapped = strings.Replace(swapped, `"root_key"`, `"key"`, 1)
		swapped = strings.Replace(swapped, `"tmp"`, `"root_key"`, 1)
		for name, d := range map[string]string{
			"not JSON":        "{",
			"version":         strings.Replace(string(data), `"version":1`, `"version":9`, 1),
			"swapped keys":    swapped,
			"no chain":        strings.Replace(string(data), `"chain":"-----BEGIN`, `"chain":"-----BEGUN`, 1),
			"truncated key":   regexp.MustCompile(`"key":"[^"]{10}`).ReplaceAllString(string(data), `"key":"`),
			"missing all key": regexp.MustCompile(`"key":"[^"]*"`).ReplaceAllString(string(data), `"key":""`),
		} {
			if _, err := Unmarshal([]byte(d), mk, nil); err == nil {
				t.Errorf("%s: Unmarshal succeeded", name)
			}
		}
	})
}
