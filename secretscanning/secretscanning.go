// Package secretscanning checks the signature of a leak report sent by GitHub's secret scanning
// partner program: an ECDSA P-256 signature over SHA-256 of the raw request body, base64 of
// its ASN.1 DER, with the id of the signing key in a header. The public keys come from a file in
// the format of GitHub's https://api.github.com/meta/public_keys/secret_scanning, read once at
// start: keyward never fetches them itself.
package secretscanning

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
)

// The request headers of a signed report.
const (
	HeaderKeyID     = "Github-Public-Key-Identifier"
	HeaderSignature = "Github-Public-Key-Signature"
)

// MaxKeyFile bounds the key file Load reads.
const MaxKeyFile = 1 << 20

// maxSignature bounds the base64 signature Verify decodes: a DER P-256 signature is at most
// 72 bytes, 96 in base64.
const maxSignature = 256

// ErrSignature is every refusal of Verify: an unknown key id, a malformed signature, or one
// that does not match the body. The reasons are not told apart to the sender.
var ErrSignature = errors.New("secretscanning: the report's signature does not verify")

// Keys are the public keys reports may be signed with, by key identifier.
type Keys struct {
	byID map[string]*ecdsa.PublicKey
}

// keyFile is GitHub's public key document.
type keyFile struct {
	PublicKeys []struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
		IsCurrent     bool   `json:"is_current"`
	} `json:"public_keys"`
}

// Parse reads a public key document: {"public_keys":[{"key_identifier","key","is_current"}]},
// each key a PEM "PUBLIC KEY" on P-256. Keys that are not current are kept too: GitHub may
// still sign with one while it rotates. It fails on a document without keys, a repeated
// identifier, or a key that is not an ECDSA P-256 public key.
func Parse(b []byte) (*Keys, error) {
	var f keyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("secretscanning: the key file is not JSON in GitHub's public key format: %w", err)
	}
	if len(f.PublicKeys) == 0 {
		return nil, errors.New("secretscanning: the key file holds no public_keys")
	}
	k := &Keys{byID: make(map[string]*ecdsa.PublicKey, len(f.PublicKeys))}
	for i, pk := range f.PublicKeys {
		if pk.KeyIdentifier == "" {
			return nil, fmt.Errorf("secretscanning: public_keys[%d] has no key_identifier", i)
		}
		if _, dup := k.byID[pk.KeyIdentifier]; dup {
			return nil, fmt.Errorf("secretscanning: key_identifier %q is given twice", pk.KeyIdentifier)
		}
		block, _ := pem.Decode([]byte(pk.Key))
		if block == nil || block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("secretscanning: key %q is not a PEM PUBLIC KEY", pk.KeyIdentifier)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("secretscanning: key %q: %w", pk.KeyIdentifier, err)
		}
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok || ec.Curve != elliptic.P256() {
			return nil, fmt.Errorf("secretscanning: key %q is not an ECDSA P-256 key", pk.KeyIdentifier)
		}
		k.byID[pk.KeyIdentifier] = ec
	}
	return k, nil
}

// Load reads the public key document at path (see Parse).
func Load(path string) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxKeyFile {
		return nil, fmt.Errorf("secretscanning: %s is larger than %d bytes", path, MaxKeyFile)
	}
	return Parse(b)
}

// Len returns how many keys k holds.
func (k *Keys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.byID)
}

// Verify checks that sig (base64 of an ASN.1 DER ECDSA signature) signs body under the key
// named keyID. It costs one ECDSA verification at most, and none for an unknown key id or a
// malformed signature. Every refusal is ErrSignature.
func (k *Keys) Verify(keyID, sig string, body []byte) error {
	if k == nil {
		return ErrSignature
	}
	pub := k.byID[keyID]
	if pub == nil || sig == "" || len(sig) > maxSignature {
		return ErrSignature
	}
	der, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return ErrSignature
	}
	digest := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(pub, digest[:], der) {
		return ErrSignature
	}
	return nil
}
