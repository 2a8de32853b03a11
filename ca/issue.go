package ca

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward"
)

// ClientRequest describes a client certificate to issue.
type ClientRequest struct {
	// CommonName is the subject CN: the user name (Kubernetes reads the user from it).
	CommonName string
	// Organization is the subject O: role names (Kubernetes reads the groups from it).
	Organization []string
	// URIs are URI SANs; keyward puts one naming the credential (keyward://credential/42) so
	// that a presented certificate leads back to its credential.
	URIs []*url.URL
	// NotBefore and NotAfter are the validity window, truncated to whole seconds (X.509
	// cannot say more). A zero NotBefore means now by the CA's clock; NotAfter is required
	// and must not be later than the CA's own expiry.
	NotBefore, NotAfter time.Time
	// KeyAlgorithm is KeyECDSAP256 (the default when empty), KeyRSA2048 or KeyRSA3072.
	KeyAlgorithm string
}

// Issued is a certificate issued by the CA together with its new private key. The key exists
// only in this value: keyward hands it to the caller and never stores it.
type Issued struct {
	Cert    *x509.Certificate
	CertPEM []byte
	// ChainPEM is CertPEM followed by the CA's certificates below the trust anchor (the
	// intermediate of a generated CA): what a client should send when the server trusts only
	// the root, as a Kubernetes API server configured with keyward's root does.
	ChainPEM []byte
	Key      crypto.Signer
	KeyPEM   []byte // PKCS#8 "PRIVATE KEY"
	Serial   *big.Int
	// Fingerprint is the lower-case hex SHA-256 of the certificate's DER.
	Fingerprint string
}

// maxNameLen is X.509's upper bound on a common name or organization (ub-common-name,
// ub-organization-name): longer names make certificates some verifiers reject.
const maxNameLen = 64

// IssueClient issues a client (TLS clientAuth) certificate with a new key. Problems with the
// request are keyward EInvalid errors naming the field at fault.
func (c *CA) IssueClient(req ClientRequest) (*Issued, error) {
	if err := checkName("common_name", req.CommonName); err != nil {
		return nil, err
	}
	for _, o := range req.Organization {
		if err := checkName("organization", o); err != nil {
			return nil, err
		}
	}
	notBefore := req.NotBefore
	if notBefore.IsZero() {
		notBefore = c.now()
	}
	notBefore = notBefore.UTC().Truncate(time.Second)
	notAfter := req.NotAfter.UTC().Truncate(time.Second)
	switch {
	case req.NotAfter.IsZero():
		return nil, keyward.Invalid("expires_at", "is required for a certificate")
	case !notAfter.After(notBefore):
		return nil, keyward.Invalid("expires_at", "must be after not_before")
	case notBefore.Before(c.notBefore):
		return nil, keyward.Invalid("not_before", "is before the CA certificate becomes valid ("+c.notBefore.UTC().Format(time.RFC3339)+")")
	case notAfter.After(c.notAfter):
		// Clamping silently would hand out a credential that dies earlier than asked;
		// refusing tells the caller, who can ask for less or renew the CA.
		return nil, keyward.Invalid("expires_at", "is after the CA certificate expires ("+c.notAfter.UTC().Format(time.RFC3339)+")")
	}
	key, err := generateKey(req.KeyAlgorithm)
	if err != nil {
		return nil, err
	}
	subject, err := clientSubject(req.CommonName, req.Organization)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		RawSubject:            subject,
		URIs:                  req.URIs,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              leafKeyUsage(key),
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	return c.issue(tmpl, key)
}

// IssueServer issues a TLS server certificate for hosts (IP addresses or DNS names; a
// "host:port" is accepted and its port dropped) valid from a few minutes ago, by the CA's
// clock, for ttl. Unlike IssueClient it clamps the expiry to the CA's rather than failing: it
// runs at server start, where refusing would stop the service for a certificate that can
// simply be renewed later.
func (c *CA) IssueServer(hosts []string, ttl time.Duration) (*Issued, error) {
	if len(hosts) == 0 {
		return nil, keyward.Invalid("hosts", "at least one host name or IP address is required")
	}
	if ttl <= 0 {
		return nil, keyward.Invalid("ttl", "must be positive")
	}
	tmpl := &x509.Certificate{
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		bad := keyward.Invalid("hosts", fmt.Sprintf("%q is neither an IP address nor a DNS name", h))
		if strings.ContainsAny(h, " /@") || !utf8.ValidString(h) {
			return nil, bad
		}
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		switch ip := net.ParseIP(h); {
		case ip != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		case h == "" || strings.Contains(h, ":"):
			return nil, bad
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, strings.ToLower(h))
		}
		if tmpl.Subject.CommonName == "" && len(h) <= maxNameLen {
			tmpl.Subject.CommonName = h
		}
	}
	now := c.now().UTC().Truncate(time.Second)
	tmpl.NotBefore = now.Add(-5 * time.Minute)
	if tmpl.NotBefore.Before(c.notBefore) {
		tmpl.NotBefore = c.notBefore
	}
	tmpl.NotAfter = now.Add(ttl)
	if tmpl.NotAfter.After(c.notAfter) {
		tmpl.NotAfter = c.notAfter
	}
	key, err := generateKey(KeyECDSAP256)
	if err != nil {
		return nil, err
	}
	return c.issue(tmpl, key)
}

// clientSubject encodes O=org1, O=org2, ..., CN=cn as a sequence of single-valued RDNs in the
// order given. pkix.Name would put all the O values in one multi-valued RDN, whose DER SET
// encoding sorts them: readable by Kubernetes, but not what `openssl req -subj
// "/O=a/O=b/CN=u"` (the form Kubernetes documents) produces, and it loses the caller's order.
func clientSubject(cn string, orgs []string) ([]byte, error) {
	var rdns pkix.RDNSequence
	for _, o := range orgs {
		rdns = append(rdns, pkix.RelativeDistinguishedNameSET{{Type: oidOrganization, Value: o}})
	}
	rdns = append(rdns, pkix.RelativeDistinguishedNameSET{{Type: oidCommonName, Value: cn}})
	der, err := asn1.Marshal(rdns)
	if err != nil {
		return nil, fmt.Errorf("ca: encoding subject: %w", err)
	}
	return der, nil
}

var (
	oidCommonName   = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOrganization = asn1.ObjectIdentifier{2, 5, 4, 10}
)

// leafKeyUsage is DigitalSignature for every key (TLS 1.3 and ECDHE signatures) plus
// KeyEncipherment for RSA, which TLS 1.2 RSA key exchange needs and old verifiers expect.
func leafKeyUsage(key crypto.Signer) x509.KeyUsage {
	if _, ok := key.(*rsa.PrivateKey); ok {
		return x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	}
	return x509.KeyUsageDigitalSignature
}

func checkName(field, s string) error {
	switch n := utf8.RuneCountInString(s); {
	case strings.TrimSpace(s) == "":
		return keyward.Invalid(field, "must not be empty")
	case !utf8.ValidString(s):
		return keyward.Invalid(field, "must be valid UTF-8")
	case n > maxNameLen:
		return keyward.Invalid(field, fmt.Sprintf("must be at most %d characters", maxNameLen))
	}
	return nil
}

// issue signs tmpl (given a fresh random serial) for key with the CA's signing key.
func (c *CA) issue(tmpl *x509.Certificate, key crypto.Signer) (*Issued, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	cert, err := sign(tmpl, c.chain[0], key.Public(), c.key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("ca: encoding private key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	chain := bytes.NewBuffer(bytes.Clone(certPEM))
	for _, ca := range c.chain[:len(c.chain)-1] {
		pem.Encode(chain, &pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	}
	sum := sha256.Sum256(cert.Raw)
	return &Issued{
		Cert:        cert,
		CertPEM:     certPEM,
		ChainPEM:    chain.Bytes(),
		Key:         key,
		KeyPEM:      pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		Serial:      serial,
		Fingerprint: hex.EncodeToString(sum[:]),
	}, nil
}
