// Package ca is keyward's certificate authority: it creates or imports the CA, keeps its
// state (certificates in PEM, private keys sealed by the master key), issues client
// certificates for API_CERTIFICATE and KUBE_CONFIG credentials and server certificates for
// `keyward serve --tls`, packs client certificates into PKCS#12 bundles and kubeconfigs, and
// signs CRLs.
//
// # A generated CA
//
// [New] makes a two-level CA: a self-signed root (10 years, path length 1) whose only job is to
// sign an intermediate (5 years, path length 0), and the intermediate, which signs every client
// and server certificate and every CRL. Both use ECDSA P-256 unless [Options].RSA asks for
// RSA-2048 (for clients that cannot verify ECDSA chains). Keeping the root's key out of daily
// signing means a new intermediate can be made under the same root, which clients already
// trust, should the intermediate ever need replacing.
//
// # An imported CA
//
// An organisation that already runs a CA can give keyward a CA certificate and its key instead
// ([Import]):
//
//   - certPEM is either one CA certificate, which then signs directly, or a chain: the
//     certificate that will sign first, followed by its issuers in order (up to the root, or
//     stopping earlier: the last certificate given becomes the trust anchor keyward publishes
//     and verifies against);
//   - keyPEM is the unencrypted private key of the first certificate (PKCS#8 "PRIVATE KEY",
//     SEC 1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY"; ECDSA, RSA or Ed25519). Decrypt an
//     encrypted key first with `openssl pkey -in key.pem -out plain.pem`.
//
// The signing certificate must be a CA (basicConstraints CA:TRUE), must be within its validity
// period, must carry a subject key identifier (CRLs name their issuer by it), and, if it has a
// keyUsage extension, must allow keyCertSign and cRLSign. A certificate without keyUsage is
// accepted: RFC 5280 leaves its key unrestricted. `openssl req -x509` makes such a certificate
// by default, for example:
//
//	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
//	    -keyout ca.key -out ca.pem -days 3650 -subj "/CN=Example client CA"
//
// An imported CA has no root key in keyward's state, and keyward never creates a second level
// under it: the imported certificate signs client certificates directly.
//
// # State
//
// [CA.Marshal] writes the CA as JSON: certificates in PEM, private keys as PKCS#8 sealed with
// AES-256-GCM under the master key (labels [KeyLabel]+":signing" and [KeyLabel]+":root", so
// the two cannot be swapped). [Unmarshal] reads it back and fails with a message naming the
// master key when the key is not the one the state was sealed with. A CA is immutable once
// made and safe for concurrent use.
package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/masterkey"
)

// KeyLabel is the master-key label under which CA private keys are sealed; the key's role is
// appended (":signing", ":root").
const KeyLabel = "keyward-ca-key"

// The validity of a generated CA. The intermediate outlives any client certificate keyward
// would sensibly issue, and the root outlives the intermediate so that it can be replaced
// without clients learning a new root.
const (
	rootValidity         = 10 // years
	intermediateValidity = 5  // years
	// backdate absorbs clock skew between keyward and the machines that verify its
	// certificates: a certificate "not yet valid" for a minute is a confusing failure.
	backdate = time.Hour
)

// stateVersion is the version of the JSON that Marshal writes.
const stateVersion = 1

// Options tune [New].
type Options struct {
	// Name, when set, is added to the CA certificates' common names ("keyward root CA (Name)"),
	// to tell apart the CAs of several keyward installations.
	Name string
	// RSA makes the CA keys RSA-2048 instead of ECDSA P-256.
	RSA bool
	// Now is the CA's clock: it dates the CA's certificates, the default start of what it
	// issues, its CRLs, and what "valid now" means to [CA.Verify]. Nil means time.Now;
	// keyward passes its authority's clock so that a test's fixed clock reaches every check.
	Now func() time.Time
}

// CA is a certificate authority: a signing certificate and key, and the chain from the signing
// certificate up to the trust anchor.
type CA struct {
	chain   []*x509.Certificate // chain[0] signs; the last one is the trust anchor
	key     crypto.Signer       // chain[0]'s key
	rootKey crypto.Signer       // the root's key for a generated CA; nil for an imported one

	// The window every certificate the CA issues must fit in: the intersection of the
	// validity periods of the whole chain, since a certificate cannot be valid while one of
	// its issuers is not.
	notBefore, notAfter time.Time

	roots         *x509.CertPool
	intermediates *x509.CertPool

	now func() time.Time // the clock; never nil
}

// New creates a CA: an ECDSA P-256 (or RSA-2048) root and an intermediate signed by it.
func New(opts Options) (*CA, error) {
	clock := orNow(opts.Now)
	now := clock().UTC().Truncate(time.Second)
	alg := KeyECDSAP256
	if opts.RSA {
		alg = KeyRSA2048
	}
	suffix := ""
	if opts.Name != "" {
		suffix = " (" + opts.Name + ")"
	}

	rootKey, err := generateKey(alg)
	if err != nil {
		return nil, err
	}
	rootTmpl, err := caTemplate("keyward root CA"+suffix, now.Add(-backdate), now.AddDate(rootValidity, 0, 0))
	if err != nil {
		return nil, err
	}
	rootTmpl.MaxPathLen = 1
	root, err := sign(rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return nil, err
	}

	key, err := generateKey(alg)
	if err != nil {
		return nil, err
	}
	interTmpl, err := caTemplate("keyward intermediate CA"+suffix, now.Add(-backdate), now.AddDate(intermediateValidity, 0, 0))
	if err != nil {
		return nil, err
	}
	interTmpl.MaxPathLen = 0
	interTmpl.MaxPathLenZero = true
	inter, err := sign(interTmpl, root, key.Public(), rootKey)
	if err != nil {
		return nil, err
	}
	return build([]*x509.Certificate{inter, root}, key, rootKey, clock)
}

// orNow is clock, or time.Now when clock is nil.
func orNow(clock func() time.Time) func() time.Time {
	if clock == nil {
		return time.Now
	}
	return clock
}

func caTemplate(cn string, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"keyward"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		// SubjectKeyId is left for crypto/x509 to derive from the public key: CRLs and
		// issued certificates name their issuer by it.
	}, nil
}

// sign creates a certificate from tmpl signed by parent's key and parses it back.
func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, fmt.Errorf("ca: creating certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: parsing created certificate: %w", err)
	}
	return cert, nil
}

// build checks that chain and keys fit together and fills the derived fields; now is the CA's
// clock (not nil).
func build(chain []*x509.Certificate, key, rootKey crypto.Signer, now func() time.Time) (*CA, error) {
	if len(chain) == 0 {
		return nil, errors.New("ca: empty certificate chain")
	}
	if !publicKeyMatches(key, chain[0]) {
		return nil, keyward.Invalid("key", "does not match the CA certificate (the first certificate given)")
	}
	if rootKey != nil && !publicKeyMatches(rootKey, chain[len(chain)-1]) {
		return nil, errors.New("ca: the root key does not match the root certificate")
	}
	for i := 0; i+1 < len(chain); i++ {
		if !chain[i+1].IsCA {
			return nil, keyward.Invalid("certificate", fmt.Sprintf("certificate %d of the chain (%q) is not a CA certificate", i+2, chain[i+1].Subject.CommonName))
		}
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return nil, keyward.Invalid("certificate", fmt.Sprintf("certificate %d of the chain (%q) is not signed by the next one (%q); give the signing certificate first, then its issuers in order",
				i+1, chain[i].Subject.CommonName, chain[i+1].Subject.CommonName))
		}
	}
	c := &CA{chain: chain, key: key, rootKey: rootKey, roots: x509.NewCertPool(), intermediates: x509.NewCertPool(), now: now}
	c.notBefore, c.notAfter = chain[0].NotBefore, chain[0].NotAfter
	for _, cert := range chain[1:] {
		if cert.NotBefore.After(c.notBefore) {
			c.notBefore = cert.NotBefore
		}
		if cert.NotAfter.Before(c.notAfter) {
			c.notAfter = cert.NotAfter
		}
	}
	c.roots.AddCert(chain[len(chain)-1])
	for _, cert := range chain[:len(chain)-1] {
		c.intermediates.AddCert(cert)
	}
	return c, nil
}

func publicKeyMatches(key crypto.Signer, cert *x509.Certificate) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// Import makes a CA from an existing CA certificate (or chain) and its private key; see the
// package documentation for what is accepted and why. Problems with the input are returned as
// keyward EInvalid errors naming "certificate" or "key". now is the CA's clock, as
// [Options].Now: nil means time.Now; the certificate must be valid at now().
func Import(certPEM, keyPEM []byte, now func() time.Time) (*CA, error) {
	clock := orNow(now)
	chain, err := parseCertsPEM(certPEM)
	if err != nil {
		return nil, keyward.Invalid("certificate", err.Error())
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, keyward.Invalid("key", err.Error())
	}
	sc, at := chain[0], clock()
	switch {
	case !sc.BasicConstraintsValid || !sc.IsCA:
		return nil, keyward.Invalid("certificate", fmt.Sprintf("%q is not a CA certificate (basicConstraints CA:TRUE is missing)", sc.Subject.CommonName))
	case sc.KeyUsage != 0 && sc.KeyUsage&x509.KeyUsageCertSign == 0:
		return nil, keyward.Invalid("certificate", fmt.Sprintf("%q may not sign certificates (its keyUsage lacks keyCertSign)", sc.Subject.CommonName))
	case sc.KeyUsage != 0 && sc.KeyUsage&x509.KeyUsageCRLSign == 0:
		return nil, keyward.Invalid("certificate", fmt.Sprintf("%q may not sign CRLs (its keyUsage lacks cRLSign), and keyward publishes a CRL signed by its CA", sc.Subject.CommonName))
	case len(sc.SubjectKeyId) == 0:
		return nil, keyward.Invalid("certificate", fmt.Sprintf("%q has no subject key identifier, which keyward needs to sign CRLs", sc.Subject.CommonName))
	case at.Before(sc.NotBefore) || at.After(sc.NotAfter):
		return nil, keyward.Invalid("certificate", fmt.Sprintf("%q is valid only from %s to %s", sc.Subject.CommonName,
			sc.NotBefore.UTC().Format(time.RFC3339), sc.NotAfter.UTC().Format(time.RFC3339)))
	}
	return build(chain, key, nil, clock)
}

func parseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("holds a PEM block of type %q; only CERTIFICATE blocks are expected", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d cannot be parsed: %v", len(certs)+1, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return certs, nil
}

func parseKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM private key block found")
	}
	if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "" {
		return nil, errors.New("the private key is encrypted; decrypt it first (openssl pkey -in key.pem -out plain.pem)")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block of type %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("the private key cannot be parsed: %v", err)
	}
	switch key := key.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
		return key.(crypto.Signer), nil
	}
	return nil, fmt.Errorf("unsupported private key type %T (ECDSA, RSA or Ed25519 expected)", key)
}

// Certificate returns the certificate that signs (the intermediate of a generated CA).
func (c *CA) Certificate() *x509.Certificate { return c.chain[0] }

// Chain returns the signing certificate followed by its issuers up to the trust anchor.
func (c *CA) Chain() []*x509.Certificate { return slices.Clone(c.chain) }

// ChainPEM returns [CA.Chain] in PEM: what `GET /v1/ca.pem` serves and what a client passes to
// `curl --cacert` or `openssl verify -CAfile`.
func (c *CA) ChainPEM() []byte {
	var b bytes.Buffer
	for _, cert := range c.chain {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	}
	return b.Bytes()
}

// Pool returns a new pool holding the CA's trust anchor (the root of a generated CA), for
// tls.Config.ClientCAs. The intermediate is not in it: it is sent by the server-side
// verification ([CA.Verify]) or by the client.
func (c *CA) Pool() *x509.CertPool { return c.roots.Clone() }

// Verify checks that cert, presented by a client, is a client certificate issued by this CA
// and valid now by the CA's clock. It does not check revocation: the caller looks the serial
// up.
func (c *CA) Verify(cert *x509.Certificate) error { return c.VerifyAt(cert, c.now()) }

// VerifyAt is [CA.Verify] at the instant now, for a caller that has read its clock already.
func (c *CA) VerifyAt(cert *x509.Certificate, now time.Time) error {
	if cert == nil {
		return keyward.Errorf(keyward.EUnauthenticated, "no client certificate")
	}
	// crypto/x509 treats a certificate without extended key usage as good for anything;
	// keyward's client certificates always say clientAuth, so demand it explicitly. This also
	// keeps a server certificate (or the CA's own) from passing as a client.
	if cert.IsCA || !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return keyward.Errorf(keyward.EUnauthenticated, "the certificate is not a client certificate")
	}
	_, err := cert.Verify(x509.VerifyOptions{
		Roots:         c.roots,
		Intermediates: c.intermediates,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return keyward.Errorf(keyward.EUnauthenticated, "client certificate not accepted: %v", err)
	}
	return nil
}

// state is the JSON form of a CA.
type state struct {
	Version int    `json:"version"`
	Chain   string `json:"chain"`              // PEM, signing certificate first
	Key     []byte `json:"key"`                // PKCS#8 sealed under KeyLabel+":signing"
	RootKey []byte `json:"root_key,omitempty"` // PKCS#8 sealed under KeyLabel+":root"
}

const (
	signingLabel = KeyLabel + ":signing"
	rootLabel    = KeyLabel + ":root"
)

// Marshal returns the CA's state as JSON, its private keys sealed by mk. The output never
// holds a private key in the clear.
func (c *CA) Marshal(mk *masterkey.Key) ([]byte, error) {
	st := state{Version: stateVersion, Chain: string(c.ChainPEM())}
	var err error
	if st.Key, err = sealKey(mk, c.key, signingLabel); err != nil {
		return nil, err
	}
	if c.rootKey != nil {
		if st.RootKey, err = sealKey(mk, c.rootKey, rootLabel); err != nil {
			return nil, err
		}
	}
	return json.Marshal(st)
}

func sealKey(mk *masterkey.Key, key crypto.Signer, label string) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("ca: encoding private key: %w", err)
	}
	defer clear(der)
	return mk.Seal(der, label)
}

// Unmarshal reads state written by [CA.Marshal], opening its keys with mk; now is the CA's
// clock, as [Options].Now (nil means time.Now). With another master key it fails with an
// error that wraps [masterkey.ErrMismatch].
func Unmarshal(data []byte, mk *masterkey.Key, now func() time.Time) (*CA, error) {
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("ca: reading CA state: %w", err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("ca: CA state has version %d, this keyward reads version %d", st.Version, stateVersion)
	}
	chain, err := parseCertsPEM([]byte(st.Chain))
	if err != nil {
		return nil, fmt.Errorf("ca: CA state: chain %v", err)
	}
	key, err := openKey(mk, st.Key, signingLabel)
	if err != nil {
		return nil, err
	}
	var rootKey crypto.Signer
	if st.RootKey != nil {
		if rootKey, err = openKey(mk, st.RootKey, rootLabel); err != nil {
			return nil, err
		}
	}
	return build(chain, key, rootKey, orNow(now))
}

func openKey(mk *masterkey.Key, sealed []byte, label string) (crypto.Signer, error) {
	der, err := mk.Open(sealed, label)
	if errors.Is(err, masterkey.ErrOpen) {
		// With a fixed label, a failure to open means a wrong key or altered state; the
		// wrong key is by far the likelier, and the message should say so.
		return nil, fmt.Errorf("ca: cannot decrypt the CA private key (%s): %w; or the stored CA state was altered", mk, masterkey.ErrMismatch)
	}
	if err != nil {
		return nil, fmt.Errorf("ca: CA private key: %w", err)
	}
	defer clear(der)
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("ca: parsing CA private key: %w", err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("ca: CA private key of type %T cannot sign", key)
	}
	return s, nil
}

// Reseal re-encrypts CA state written by [CA.Marshal] from oldKey to newKey, the step
// `keyward ca rotate-master-key` takes. The certificates are unchanged, and no clock is read.
func Reseal(data []byte, oldKey, newKey *masterkey.Key) ([]byte, error) {
	c, err := Unmarshal(data, oldKey, nil)
	if err != nil {
		return nil, err
	}
	return c.Marshal(newKey)
}

// The key algorithms of issued certificates.
const (
	KeyECDSAP256 = "ecdsa-p256"
	KeyRSA2048   = "rsa-2048"
	KeyRSA3072   = "rsa-3072"
)

func generateKey(alg string) (crypto.Signer, error) {
	var key crypto.Signer
	var err error
	switch alg {
	case "", KeyECDSAP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyRSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case KeyRSA3072:
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, keyward.Invalid("key_algorithm", fmt.Sprintf("must be %s, %s or %s", KeyECDSAP256, KeyRSA2048, KeyRSA3072))
	}
	if err != nil {
		return nil, fmt.Errorf("ca: generating %s key: %w", alg, err)
	}
	return key, nil
}

// randomSerial returns a uniformly random positive 128-bit serial number. Read as an unsigned
// big-endian integer it is never negative; when its top bit is set, DER adds a leading zero
// byte (17 bytes), well within RFC 5280's 20-octet limit. Zero is not a valid serial, hence
// the loop (taken once in 2^128).
func randomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("ca: reading random serial: %w", err)
		}
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n, nil
		}
	}
}
