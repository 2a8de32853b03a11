// Package peer reads who an HTTP request comes from: the peer's address, the Authorization
// header, and the key or client certificate its caller authenticates with (Keys), the same way
// on the native API and on every vendor dialect.
package peer

import (
	"net"
	"net/http"
	"strings"
)

// Host is the peer's address without the port, for the audit log and per-address limits.
// Forwarded headers are not trusted: keyward sees the address that connected to it.
func Host(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Authorization splits the Authorization header into its scheme and credentials, both
// trimmed; a header of one word is returned as credentials with no scheme, and a missing one
// as two empty strings. Schemes compare without case (RFC 9110), so callers use
// strings.EqualFold.
func Authorization(r *http.Request) (scheme, credentials string) {
	v := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok {
		return "", v
	}
	return scheme, strings.TrimSpace(rest)
}
