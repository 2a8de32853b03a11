package peer

import (
	"context"
	"crypto/x509"
	"net/http"
	"slices"
	"strings"

	"github.com/keyward/keyward"
)

// Authenticator checks what a caller presents; *authority.Authority is one.
type Authenticator interface {
	Authenticate(ctx context.Context, key, remoteAddr string) (*keyward.Caller, error)
	AuthenticateCertificate(ctx context.Context, chain []*x509.Certificate, remoteAddr string) (*keyward.Caller, error)
}

// Keys says where a surface reads its caller's key and what it answers when the key is not
// there: the one difference between surfaces, which all authenticate through Authenticate.
type Keys struct {
	// Headers are read first, in order: the first one present holds the key, bare or after a
	// Bearer or APIToken scheme.
	Headers []string
	// Schemes are the Authorization schemes whose credentials are the key, compared without
	// case: "Bearer", "APIToken", "Basic" (the key as the user name, with no password), or ""
	// for a bare key.
	Schemes []string
	// Fallback headers are read, in order, when the request has no Authorization header.
	Fallback []string
	// WrongScheme, when set, refuses an Authorization header of another scheme with this
	// message; when empty, such a header presents no key.
	WrongScheme string
	// Certificate lets the TLS client certificate authenticate a request that presents no key.
	Certificate bool
	// Missing is the message refusing a request that presents nothing.
	Missing string
}

// Key returns the key r presents, "" when none. Its one error is the WrongScheme refusal.
func (k Keys) Key(r *http.Request) (string, error) {
	for _, name := range k.Headers {
		if v := strings.TrimSpace(r.Header.Get(name)); v != "" {
			if scheme, rest, ok := strings.Cut(v, " "); ok && (strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "APIToken")) {
				return strings.TrimSpace(rest), nil
			}
			return v, nil
		}
	}
	scheme, creds := Authorization(r)
	if scheme == "" && creds == "" {
		for _, name := range k.Fallback {
			if v := strings.TrimSpace(r.Header.Get(name)); v != "" {
				return v, nil
			}
		}
		return "", nil
	}
	if !slices.ContainsFunc(k.Schemes, func(s string) bool { return strings.EqualFold(s, scheme) }) {
		if k.WrongScheme != "" {
			return "", keyward.Errorf(keyward.EUnauthenticated, "%s", k.WrongScheme)
		}
		return "", nil
	}
	if strings.EqualFold(scheme, "Basic") {
		if user, pass, ok := r.BasicAuth(); ok && pass == "" {
			return user, nil
		}
		return "", nil
	}
	return creds, nil
}

// Authenticate finds r's caller through a: by the key r presents or, where k takes one and
// no key is presented, by the client certificate of r's TLS connection. Refusals are
// EUnauthenticated.
func (k Keys) Authenticate(a Authenticator, r *http.Request) (*keyward.Caller, error) {
	key, err := k.Key(r)
	switch {
	case err != nil:
		return nil, err
	case key != "":
		return a.Authenticate(r.Context(), key, Host(r))
	case k.Certificate && r.TLS != nil && len(r.TLS.PeerCertificates) > 0:
		return a.AuthenticateCertificate(r.Context(), r.TLS.PeerCertificates, Host(r))
	}
	return nil, keyward.Errorf(keyward.EUnauthenticated, "%s", k.Missing)
}
