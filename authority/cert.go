package authority

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"net/url"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/ca"
	"github.com/keyward/keyward/masterkey"
)

// Names of the settings the authority keeps in the store, and the label that binds a sealed
// token to its purpose.
const (
	SettingCA       = "ca"
	SettingKeyCheck = "masterkey.check"
	tokenLabel      = "keyward-token"
)

// errNoCA is returned by certificate operations on an authority set up without a master key.
var errNoCA = keyward.Errorf(keyward.EUnavailable, "this server has no certificate authority configured")

// InitCA checks the master key against the store, loads the audit chain key (InitAuditChain)
// and the CA, creating them on first start. A wrong master key is refused with a clear error
// and nothing is changed.
func (a *Authority) InitCA(ctx context.Context) error {
	if a.mk == nil {
		return errors.New("authority: InitCA needs Options.MasterKey")
	}
	// The key check first, then the audit chain key: the CA's creation writes an event.
	if err := a.InitAuditChain(ctx); err != nil {
		return err
	}
	state, err := a.store.Setting(ctx, SettingCA)
	if isCode(err, keyward.ENotFound) {
		created, cerr := a.createCA(ctx)
		if cerr == nil {
			a.ca.Store(created)
			return nil
		}
		if !isCode(cerr, keyward.EConflict) {
			return cerr
		}
		state, err = a.store.Setting(ctx, SettingCA) // another server created it first: use that one
	}
	if err != nil {
		return err
	}
	c, err := ca.Unmarshal(state, a.mk, a.now)
	if err != nil {
		return err
	}
	a.ca.Store(c)
	return nil
}

// createCA makes a new CA and stores it if no server has stored one yet (EConflict if one has).
func (a *Authority) createCA(ctx context.Context) (*ca.CA, error) {
	c, err := ca.New(ca.Options{Now: a.now})
	if err != nil {
		return nil, err
	}
	data, err := c.Marshal(a.mk)
	if err != nil {
		return nil, err
	}
	ev := &keyward.Event{Time: a.clock(), Actor: "system", Action: "ca.create", Outcome: keyward.OutcomeSuccess,
		Detail: map[string]string{"subject": c.Certificate().Subject.String()}}
	if err := a.store.CreateSetting(ctx, SettingCA, data, ev); err != nil {
		return nil, err
	}
	return c, nil
}

func (a *Authority) storeCA(ctx context.Context, c *ca.CA, action string) error {
	data, err := c.Marshal(a.mk)
	if err != nil {
		return err
	}
	ev := &keyward.Event{Time: a.clock(), Actor: "system", Action: action, Outcome: keyward.OutcomeSuccess,
		Detail: map[string]string{"subject": c.Certificate().Subject.String()}}
	if err := a.store.PutSetting(ctx, SettingCA, data, ev); err != nil {
		return err
	}
	a.ca.Store(c)
	return nil
}

// ImportCA replaces the CA with an existing one (certificate or chain, and key, in PEM).
// Certificates issued by the previous CA stop authenticating, since they no longer chain.
func (a *Authority) ImportCA(ctx context.Context, certPEM, keyPEM []byte) error {
	if a.mk == nil {
		return errNoCA
	}
	c, err := ca.Import(certPEM, keyPEM, a.now)
	if err != nil {
		return err
	}
	return a.storeCA(ctx, c, "ca.import")
}

// RotateMasterKey re-seals everything sealed under the current master key with next, in one
// transaction. The server must be restarted with next afterwards.
func (a *Authority) RotateMasterKey(ctx context.Context, next *masterkey.Key) error {
	if a.mk == nil {
		return errNoCA
	}
	old := a.mk
	ev := &keyward.Event{Time: a.clock(), Actor: "system", Action: "masterkey.rotate", Outcome: keyward.OutcomeSuccess,
		Detail: map[string]string{"fingerprint": next.Fingerprint()}}
	keys := []string{SettingKeyCheck, SettingCA, SettingAuditChainKey}
	return a.store.Reseal(ctx, keys, func(label string, blob []byte) ([]byte, error) {
		switch label {
		case "setting:" + SettingKeyCheck:
			if err := old.Verify(blob); err != nil {
				return nil, err
			}
			return next.Check(), nil
		case "setting:" + SettingCA, "cluster":
			return ca.Reseal(blob, old, next)
		case "setting:" + SettingAuditChainKey:
			// The chain key itself does not change, so no event has to be rewritten.
			return masterkey.Reseal(old, next, blob, chainKeyLabel)
		case "secret":
			return masterkey.Reseal(old, next, blob, tokenLabel)
		case "webhook":
			return masterkey.Reseal(old, next, blob, webhookLabel)
		}
		return nil, errors.New("authority: unknown sealed value " + label)
	}, ev)
}

// CA returns the certificate authority, or nil when none is configured.
func (a *Authority) CA() *ca.CA { return a.ca.Load() }

// CAChainPEM returns the certificates of keyward's CA, signing certificate first.
func (a *Authority) CAChainPEM() ([]byte, error) {
	c := a.ca.Load()
	if c == nil {
		return nil, errNoCA
	}
	return c.ChainPEM(), nil
}

// CRL returns a DER CRL of every revoked, unexpired certificate, signed by keyward's CA or,
// when cluster names one with its own client CA, by that. Serials are 128-bit random, so one
// list serves every signer.
func (a *Authority) CRL(ctx context.Context, cluster string) ([]byte, error) {
	signer, revoked, now, err := a.crlInput(ctx, cluster)
	if err != nil {
		return nil, err
	}
	// The CRL number only has to grow; the clock in microseconds does.
	return signer.CRL(revoked, big.NewInt(now.UnixMicro()), now, now.Add(ca.DefaultCRLValidity))
}

// CRLChain is CRL for relying parties that check every certificate of the chain (nginx's
// ssl_crl, Node's crl option): the same CRL, followed by the root's when keyward holds the
// root's key (ca.ChainCRLs).
func (a *Authority) CRLChain(ctx context.Context, cluster string) ([][]byte, error) {
	signer, revoked, now, err := a.crlInput(ctx, cluster)
	if err != nil {
		return nil, err
	}
	return signer.ChainCRLs(revoked, big.NewInt(now.UnixMicro()), now, now.Add(ca.DefaultCRLValidity))
}

// crlInput returns the CA that signs the CRL of cluster ("" for keyward's own) and the
// revoked certificates it lists, as of now.
func (a *Authority) crlInput(ctx context.Context, cluster string) (*ca.CA, []ca.Revoked, time.Time, error) {
	signer := a.ca.Load()
	if signer == nil {
		return nil, nil, time.Time{}, errNoCA
	}
	if cluster != "" {
		cl, err := a.store.ClusterByName(ctx, cluster)
		if err != nil {
			return nil, nil, time.Time{}, err
		}
		if cl.ClientCA != nil {
			if signer, err = ca.Unmarshal(cl.ClientCA, a.mk, a.now); err != nil {
				return nil, nil, time.Time{}, err
			}
		}
	}
	now := a.now().UTC()
	certs, err := a.store.RevokedCertificates(ctx, now)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	revoked := make([]ca.Revoked, 0, len(certs))
	for _, c := range certs {
		serial, ok := new(big.Int).SetString(c.Serial, 16)
		if !ok {
			continue
		}
		revoked = append(revoked, ca.Revoked{Serial: serial, RevokedAt: *c.RevokedAt})
	}
	return signer, revoked, now, nil
}

// issueCertificate issues the certificate of a certificate credential c (type, name, project,
// cluster set) valid until notAfter, and renders what the caller receives: a PKCS#12 bundle or a
// kubeconfig, base64. It sets c's Serial and Fingerprint.
func (a *Authority) issueCertificate(ctx context.Context, c *keyward.Credential, creator *keyward.User, opts keyward.CertificateOptions, notBefore, notAfter time.Time) (string, error) {
	signer := a.ca.Load()
	if signer == nil {
		return "", errNoCA
	}
	req := ca.ClientRequest{
		CommonName: creator.Name, NotBefore: notBefore, NotAfter: notAfter, KeyAlgorithm: opts.KeyAlgorithm,
		URIs: []*url.URL{{Scheme: "keyward", Host: "credential", Path: "/" + c.Project + "/" + c.Name}},
	}
	var cluster *keyward.Cluster
	switch c.Type {
	case keyward.APICertificate:
		req.Organization = []string{c.Project}
	case keyward.KubeConfig:
		byID, err := a.roles(ctx)
		if err != nil {
			return "", err
		}
		for _, id := range c.RoleIDs {
			if r := byID[id]; r != nil {
				req.Organization = append(req.Organization, r.Name)
			}
		}
		if cluster, err = a.clusterOf(ctx, c.Cluster); err != nil {
			return "", err
		}
		if cluster.ClientCA != nil {
			if signer, err = ca.Unmarshal(cluster.ClientCA, a.mk, a.now); err != nil {
				return "", err
			}
		}
	}
	issued, err := signer.IssueClient(req)
	if err != nil {
		return "", err
	}
	c.Serial, c.Fingerprint = issued.Serial.Text(16), issued.Fingerprint
	var out []byte
	if c.Type == keyward.APICertificate {
		out, err = signer.PKCS12(issued, opts.Password, opts.Encoding)
	} else {
		out, err = ca.Kubeconfig(ca.KubeconfigInput{
			ClusterName: cluster.Name, Server: cluster.Server, ClusterCAPEM: []byte(cluster.CAPEM),
			UserName: creator.Name, ClientCertPEM: issued.ChainPEM, ClientKeyPEM: issued.KeyPEM, Namespace: c.Namespace,
		})
	}
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(out), nil
}

// validateCertificateOptions checks what a certificate credential needs before anything is
// issued, adding problems to fe.
func validateCertificateOptions(fe fieldErrors, t keyward.CredentialType, opts keyward.CertificateOptions) {
	switch opts.KeyAlgorithm {
	case "", ca.KeyECDSAP256, ca.KeyRSA2048, ca.KeyRSA3072:
	default:
		fe.add("key_algorithm", "must be ecdsa-p256, rsa-2048 or rsa-3072")
	}
	if t != keyward.APICertificate {
		// A password is ignored: the CLI sends $KEYWARD_P12_PASSWORD before it knows the type.
		if opts.Encoding != "" {
			fe.add("encoding", "applies to API_CERTIFICATE only: a kubeconfig holds its key unencrypted")
		}
		return
	}
	if opts.Password == "" {
		fe.add("password", "is required for an API_CERTIFICATE: it protects the PKCS#12 bundle")
	} else if err := ca.ValidateP12Password(opts.Password); err != nil {
		// The reason alone: the message already names the field, which fe names again.
		reason := keyward.ErrorMessage(err)
		var ke *keyward.Error
		if errors.As(err, &ke) && ke.Fields["password"] != "" {
			reason = ke.Fields["password"]
		}
		fe.add("password", reason)
	}
	switch opts.Encoding {
	case "", ca.EncodingModern, ca.EncodingLegacy:
	default:
		fe.add("encoding", "must be modern or legacy")
	}
}

// AuthenticateCertificate resolves a client certificate presented over TLS into a Caller,
// exactly as the credential's token would be: it must chain to keyward's CA, be the
// credential's current certificate, and the credential must be valid. Every failure is the
// same EUnauthenticated.
func (a *Authority) AuthenticateCertificate(ctx context.Context, chain []*x509.Certificate, remoteAddr string) (*keyward.Caller, error) {
	signer := a.ca.Load()
	if signer == nil || len(chain) == 0 {
		return nil, errUnauthenticated
	}
	now := a.clock()
	leaf := chain[0]
	if err := signer.VerifyAt(leaf, now); err != nil {
		return nil, errUnauthenticated
	}
	serial := leaf.SerialNumber.Text(16)
	k := sha256.Sum256([]byte("cert:" + serial))
	e, aging := a.cachedCaller(k, now)
	if e == nil || aging {
		var err error
		e, err = a.callerFor(ctx, k, now, e, func(ctx context.Context) (*keyward.Credential, *keyward.CredentialSecret, error) {
			cred, cert, err := a.store.CredentialBySerial(ctx, serial)
			if err != nil {
				return nil, nil, err
			}
			fp := sha256.Sum256(leaf.Raw)
			if cert.Fingerprint != hex.EncodeToString(fp[:]) {
				return nil, nil, keyward.Errorf(keyward.ENotFound, "no such certificate")
			}
			return cred, &keyward.CredentialSecret{ValidUntil: cert.RevokedAt}, nil
		})
		if err != nil {
			if isCode(err, keyward.ENotFound) {
				return nil, errUnauthenticated
			}
			return nil, err
		}
	}
	return a.callerOf(e, now, remoteAddr)
}
