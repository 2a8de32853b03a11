package escalationtest

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/token"
)

// SecretKind is what a returned secret is.
type SecretKind string

// The kinds of secret an operation can return.
const (
	TokenSecret      SecretKind = "token"
	PKCS12Secret     SecretKind = "PKCS#12"
	KubeconfigSecret SecretKind = "kubeconfig"
	// KubeTokenSecret is a KUBE_TOKEN's token (its kubeconfig carries the same), whose rights
	// are what its cluster's token review says it is there.
	KubeTokenSecret SecretKind = "kube token"
)

// Secret is a secret an operation returned: a token, or a base64 PKCS#12 bundle (opened with
// P12Password) or kubeconfig.
type Secret struct {
	Kind  SecretKind
	Value string
}

// SecretOf is the secret of a create or roll answer: Key for a token, Data for the others.
func SecretOf(t keyward.CredentialType, key, data string) []Secret {
	switch {
	case t == keyward.APICertificate && data != "":
		return []Secret{{PKCS12Secret, data}}
	case t == keyward.KubeConfig && data != "":
		return []Secret{{KubeconfigSecret, data}}
	case t == keyward.KubeToken && key != "":
		return []Secret{{KubeTokenSecret, key}}
	case key != "":
		return []Secret{{TokenSecret, key}}
	}
	return nil
}

// Tokens returns every keyward token in b that is not in sent: a token the caller sent (a
// Volt MX key in the path) is not one it obtained.
func Tokens(b []byte, sent string) []string {
	var out []string
	for _, k := range token.Pattern.FindAllString(string(b), -1) {
		if !token.Valid(k) || slices.Contains(out, k) || strings.Contains(sent, k) {
			continue
		}
		out = append(out, k)
	}
	return out
}

// SecretRights returns the rights a secret carries: a token's as /v1/whoami reports them; a
// certificate's from its subject as the model reads it, the user of its CN and, for a
// kubeconfig, the roles of its O (what a Kubernetes API server goes by) or, for a PKCS#12
// bundle (whose O is the project), the roles of the credential it was issued to; a KUBE_TOKEN's
// alike from the user and groups its cluster's token review answers.
func (f *Fixture) SecretRights(s Secret) (Rights, error) {
	switch s.Kind {
	case TokenSecret:
		return f.TokenRights(s.Value)
	case PKCS12Secret:
		der, err := base64.StdEncoding.DecodeString(s.Value)
		if err != nil {
			return nil, fmt.Errorf("the PKCS#12 bundle is not base64: %w", err)
		}
		_, cert, _, err := pkcs12.DecodeChain(der, P12Password)
		if err != nil {
			return nil, fmt.Errorf("decoding the PKCS#12 bundle: %w", err)
		}
		cred, _, err := f.Store.CredentialBySerial(context.Background(), cert.SerialNumber.Text(16))
		if err != nil {
			return nil, fmt.Errorf("the bundle's certificate (CN=%s): %w", cert.Subject.CommonName, err)
		}
		roles, err := f.RoleNames(cred.RoleIDs)
		if err != nil {
			return nil, err
		}
		return f.UserRights(cert.Subject.CommonName, roles)
	case KubeTokenSecret:
		return f.KubeTokenRights(s.Value)
	case KubeconfigSecret:
		cert, err := kubeconfigCert(s.Value)
		if err != nil {
			return nil, err
		}
		return f.UserRights(cert.Subject.CommonName, append([]string{}, cert.Subject.Organization...))
	}
	return nil, fmt.Errorf("unknown secret kind %q", s.Kind)
}

// KubeTokenRights reviews tok for Cluster as its API server's webhook would (as the bootstrap
// admin, who holds clusters:review) and returns the rights of the user and groups the review
// answers: none when the token is not authenticated.
func (f *Fixture) KubeTokenRights(tok string) (Rights, error) {
	u, _, err := f.Auth.ReviewToken(f.admin, Cluster, tok)
	if err != nil || u == nil {
		return Rights{}, err
	}
	return f.UserRights(u.Username, append([]string{}, u.Groups...))
}

var clientCertRE = regexp.MustCompile(`client-certificate-data:\s*"?([A-Za-z0-9+/=]+)`)

// kubeconfigCert returns the client certificate of a base64 kubeconfig.
func kubeconfigCert(b64 string) (*x509.Certificate, error) {
	yaml, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig is not base64: %w", err)
	}
	m := clientCertRE.FindSubmatch(yaml)
	if m == nil {
		return nil, fmt.Errorf("the kubeconfig has no client-certificate-data")
	}
	pemBytes, err := base64.StdEncoding.DecodeString(string(m[1]))
	if err != nil {
		return nil, fmt.Errorf("client-certificate-data is not base64: %w", err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("client-certificate-data holds no PEM")
	}
	return x509.ParseCertificate(block.Bytes)
}

// Snapshot is everything stored about a credential that an operation could change: the record
// (but last_used_at, which using a key moves), its sealed key, and whether its known key still
// opens it and until when.
func (f *Fixture) Snapshot(t *Target) (string, error) {
	ctx := context.Background()
	c, err := f.Store.CredentialByID(ctx, f.Project.ID, t.ID)
	if err != nil {
		return "", err
	}
	c.LastUsedAt, c.State = nil, ""
	snap := struct {
		Credential *keyward.Credential
		Sealed     []byte
		KeyOpens   bool
		KeyUntil   *time.Time
	}{Credential: c}
	if snap.Sealed, err = f.Store.SealedSecret(ctx, t.ID); err != nil && keyward.ErrorCode(err) != keyward.ENotFound {
		return "", err
	}
	if t.Key != "" {
		cred, secret, err := f.Store.CredentialBySecret(ctx, token.Digest(t.Key))
		switch {
		case err == nil:
			snap.KeyOpens, snap.KeyUntil = cred.ID == t.ID, secret.ValidUntil
		case keyward.ErrorCode(err) != keyward.ENotFound:
			return "", err
		}
	}
	b, err := json.Marshal(snap)
	return string(b), err
}

// Exists reports whether Project has a credential with that name.
func (f *Fixture) Exists(name string) (bool, error) {
	_, err := f.Store.CredentialByName(context.Background(), f.Project.ID, name)
	if keyward.ErrorCode(err) == keyward.ENotFound {
		return false, nil
	}
	return err == nil, err
}
