package ca

import (
	"crypto/x509"
	"fmt"
	"unicode"
	"unicode/utf8"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyward/keyward"
)

// The PKCS#12 encodings [CA.PKCS12] offers.
const (
	// EncodingModern is PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC) with an HMAC-SHA-256 MAC,
	// OpenSSL 3's algorithms with P12Iterations instead of its 2,048 rounds, since a bundle
	// may leak and its password is often short: read by OpenSSL 1.1.1+, Java 12+, curl.
	EncodingModern = "modern"
	// EncodingLegacy is 3DES (PBE-SHA1-3DES) for keys and certificates with an HMAC-SHA-1
	// MAC, for old keychains and Java versions that cannot read the modern encoding. It is
	// go-pkcs12's LegacyDES, chosen over LegacyRC2 because RC2 is disabled in OpenSSL 3's
	// default provider while 3DES is not, so it is the one legacy form that everything reads.
	EncodingLegacy = "legacy"
)

// P12Iterations is the PBKDF2 work of a modern bundle (about 0.1 s to open on a server core).
const P12Iterations = 200_000

// PKCS#12 password bounds: MinP12Password in characters, MaxP12Password in bytes.
const (
	// MinP12Password is F5 Distributed Cloud's documented minimum (6 to 50), so that its
	// documented requests work unchanged; the bundle's 200,000 PBKDF2 rounds slow guessing, and
	// the certificate stays revocable whatever happens to the file.
	MinP12Password = 6
	MaxP12Password = 256
)

// ValidateP12Password checks a PKCS#12 bundle password against keyward's policy: 6 characters
// to 256 bytes of valid UTF-8, no control characters, no characters outside the Basic
// Multilingual Plane (PKCS#12 encodes passwords as BMPString, which cannot hold them). The
// error, a keyward EInvalid about "password", never contains the password.
func ValidateP12Password(pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return keyward.Invalid("password", "must be valid UTF-8")
	case utf8.RuneCountInString(pw) < MinP12Password:
		return keyward.Invalid("password", fmt.Sprintf("must be at least %d characters", MinP12Password))
	case len(pw) > MaxP12Password:
		return keyward.Invalid("password", fmt.Sprintf("must be at most %d bytes", MaxP12Password))
	}
	for _, r := range pw {
		if unicode.IsControl(r) {
			return keyward.Invalid("password", "must not contain control characters")
		}
		if r > 0xFFFF {
			return keyward.Invalid("password", "must not contain characters outside the Basic Multilingual Plane, such as emoji")
		}
	}
	return nil
}

// PKCS12 packs issued's certificate and key, with the CA chain as CA certificates, into a
// PKCS#12 bundle encrypted with password. encoding is EncodingModern (the default when empty)
// or EncodingLegacy. The password is checked with [ValidateP12Password] first.
func (c *CA) PKCS12(issued *Issued, password string, encoding string) ([]byte, error) {
	if issued == nil || issued.Cert == nil || issued.Key == nil {
		return nil, fmt.Errorf("ca: PKCS12 needs an issued certificate and its key")
	}
	if err := ValidateP12Password(password); err != nil {
		return nil, err
	}
	var enc *pkcs12.Encoder
	switch encoding {
	case "", EncodingModern:
		enc = pkcs12.Modern2023.WithIterations(P12Iterations)
	case EncodingLegacy:
		enc = pkcs12.LegacyDES
	default:
		return nil, keyward.Invalid("encoding", fmt.Sprintf("must be %q or %q", EncodingModern, EncodingLegacy))
	}
	cas := append([]*x509.Certificate(nil), c.chain...)
	der, err := enc.Encode(issued.Key, issued.Cert, cas, password)
	if err != nil {
		return nil, fmt.Errorf("ca: encoding PKCS#12: %w", err)
	}
	return der, nil
}
