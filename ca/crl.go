package ca

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Revoked is one entry of a CRL.
type Revoked struct {
	Serial    *big.Int
	RevokedAt time.Time
}

// DefaultCRLValidity is how long a CRL is current when [CA.CRL] is given no next update: the
// hour for which keyward's CRL endpoints sign theirs.
const DefaultCRLValidity = time.Hour

// CRL returns a DER certificate revocation list signed by the CA's signing certificate,
// listing revoked. number is the CRL number, which must grow with each CRL the CA publishes
// (RFC 5280 5.2.3) so that clients can tell a newer list from an older one; the caller keeps
// it. A zero thisUpdate means now by the CA's clock, a zero nextUpdate [DefaultCRLValidity]
// after thisUpdate; thisUpdate must not be after nextUpdate.
func (c *CA) CRL(revoked []Revoked, number *big.Int, thisUpdate, nextUpdate time.Time) ([]byte, error) {
	if number == nil || number.Sign() < 0 {
		return nil, errors.New("ca: a CRL number must be a non-negative integer")
	}
	if thisUpdate.IsZero() {
		thisUpdate = c.now()
	}
	if nextUpdate.IsZero() {
		nextUpdate = thisUpdate.Add(DefaultCRLValidity)
	}
	if nextUpdate.Before(thisUpdate) {
		return nil, errors.New("ca: a CRL's next update must not be before its this update")
	}
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	for i, r := range revoked {
		if r.Serial == nil || r.RevokedAt.IsZero() {
			return nil, fmt.Errorf("ca: revoked entry %d needs a serial and a revocation time", i)
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: r.Serial, RevocationTime: r.RevokedAt.UTC()})
	}
	issuer := c.chain[0]
	if issuer.KeyUsage == 0 {
		// An imported CA certificate without a keyUsage extension may sign CRLs (RFC 5280
		// 4.2.1.3 leaves its key unrestricted), but crypto/x509 insists on seeing the bit;
		// give it a copy that says what the absent extension means.
		cp := *issuer
		cp.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		issuer = &cp
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		RevokedCertificateEntries: entries,
		Number:                    number,
		ThisUpdate:                thisUpdate.UTC(),
		NextUpdate:                nextUpdate.UTC(),
	}, issuer, c.key)
	if err != nil {
		return nil, fmt.Errorf("ca: signing CRL: %w", err)
	}
	return der, nil
}

// CRLPEM wraps a DER CRL in PEM ("X509 CRL"), the form `openssl crl` reads by default and
// `GET /v1/crl` serves on Accept: application/x-pem-file.
func CRLPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// ChainCRLs returns the CRLs a relying party that checks the whole chain needs (nginx's
// ssl_crl, Node's crl option: OpenSSL's CRL_CHECK_ALL): first c's own CRL, as CRL returns it,
// then, for a generated CA, the root's, which lists nothing (keyward never revokes its
// intermediate; a new one comes with a new CA). An imported CA has no root key here, so its
// issuer's CRL must come from where the CA came from: only c's own is returned.
func (c *CA) ChainCRLs(revoked []Revoked, number *big.Int, thisUpdate, nextUpdate time.Time) ([][]byte, error) {
	own, err := c.CRL(revoked, number, thisUpdate, nextUpdate)
	if err != nil {
		return nil, err
	}
	out := [][]byte{own}
	if c.rootKey == nil || len(c.chain) < 2 {
		return out, nil
	}
	if thisUpdate.IsZero() {
		thisUpdate = c.now()
	}
	if nextUpdate.IsZero() {
		nextUpdate = thisUpdate.Add(DefaultCRLValidity)
	}
	root, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: number, ThisUpdate: thisUpdate.UTC(), NextUpdate: nextUpdate.UTC(),
	}, c.chain[len(c.chain)-1], c.rootKey)
	if err != nil {
		return nil, fmt.Errorf("ca: signing the root's CRL: %w", err)
	}
	return append(out, root), nil
}
