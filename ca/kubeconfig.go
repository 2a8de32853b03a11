package ca

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/keyward/keyward"
)

// KubeconfigInput is what a kubeconfig holds: one cluster, one user, one context.
type KubeconfigInput struct {
	ClusterName string
	// Server is the cluster's API server URL; it must be https.
	Server string
	// ClusterCAPEM is the CA bundle that signed the API server's certificate. It may be empty
	// when that certificate chains to a CA the client's system already trusts.
	ClusterCAPEM []byte
	UserName     string
	// ClientCertPEM (the certificate, optionally followed by intermediates) and ClientKeyPEM
	// are the user's credentials; they must match each other. Token is the other kind of
	// credential, a bearer token: give the pair or the token, not both.
	ClientCertPEM, ClientKeyPEM []byte
	Token                       string
	// Namespace is the context's default namespace; empty leaves it out.
	Namespace string
	// ContextName names the context; empty means "UserName@ClusterName".
	ContextName string
}

// Kubeconfig renders in as a kubeconfig YAML document that kubectl reads: apiVersion v1, kind
// Config, with current-context set to the one context. Problems with the input are keyward
// EInvalid errors naming the field.
//
// The document is written by hand rather than by a YAML library (keyward depends on none, and
// client-go is far too heavy for one small document). Every string is emitted as a JSON
// string, which is a valid YAML double-quoted scalar with the same meaning, so no name can
// break the structure or be read as another type ("yes", "1.0", "null").
func Kubeconfig(in KubeconfigInput) ([]byte, error) {
	for _, f := range []struct{ field, v string }{
		{"cluster_name", in.ClusterName}, {"user_name", in.UserName},
	} {
		if err := checkKubeName(f.field, f.v); err != nil {
			return nil, err
		}
	}
	if in.ContextName == "" {
		in.ContextName = in.UserName + "@" + in.ClusterName
	}
	if err := checkKubeName("context_name", in.ContextName); err != nil {
		return nil, err
	}
	if in.Namespace != "" {
		if err := checkKubeName("namespace", in.Namespace); err != nil {
			return nil, err
		}
	}
	u, err := url.Parse(in.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return nil, keyward.Invalid("server", "must be an https URL such as https://k8s.example.com:6443")
	}
	if len(in.ClusterCAPEM) > 0 {
		if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(in.ClusterCAPEM) {
			return nil, keyward.Invalid("cluster_ca", "holds no PEM certificate")
		}
	}
	switch {
	case in.Token != "":
		if len(in.ClientCertPEM) > 0 || len(in.ClientKeyPEM) > 0 {
			return nil, keyward.Invalid("token", "give a token or a client certificate, not both")
		}
		if err := checkKubeName("token", in.Token); err != nil {
			return nil, err
		}
	default:
		// X509KeyPair checks both parse and that the key belongs to the certificate: a
		// kubeconfig with a mismatched pair fails only at the TLS handshake, far from the cause.
		if _, err := tls.X509KeyPair(in.ClientCertPEM, in.ClientKeyPEM); err != nil {
			return nil, keyward.Invalid("client_certificate", "the client certificate and key do not form a valid pair")
		}
	}

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("apiVersion: v1\nkind: Config\n")
	w("clusters:\n- name: %s\n  cluster:\n    server: %s\n", yamlString(in.ClusterName), yamlString(in.Server))
	if len(in.ClusterCAPEM) > 0 {
		w("    certificate-authority-data: %s\n", yamlString(base64.StdEncoding.EncodeToString(in.ClusterCAPEM)))
	}
	w("users:\n- name: %s\n  user:\n", yamlString(in.UserName))
	if in.Token != "" {
		w("    token: %s\n", yamlString(in.Token))
	} else {
		w("    client-certificate-data: %s\n", yamlString(base64.StdEncoding.EncodeToString(in.ClientCertPEM)))
		w("    client-key-data: %s\n", yamlString(base64.StdEncoding.EncodeToString(in.ClientKeyPEM)))
	}
	w("contexts:\n- name: %s\n  context:\n    cluster: %s\n    user: %s\n",
		yamlString(in.ContextName), yamlString(in.ClusterName), yamlString(in.UserName))
	if in.Namespace != "" {
		w("    namespace: %s\n", yamlString(in.Namespace))
	}
	w("current-context: %s\npreferences: {}\n", yamlString(in.ContextName))
	return []byte(b.String()), nil
}

func checkKubeName(field, s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return keyward.Invalid(field, "must not be empty")
	case !utf8.ValidString(s):
		return keyward.Invalid(field, "must be valid UTF-8")
	}
	return nil
}

// yamlString quotes s as a YAML double-quoted scalar. JSON's string syntax is a subset of
// YAML's double-quoted style (both escape \" \\ \n \t \uXXXX), so encoding/json does it; HTML
// escaping is off only to keep '<', '>' and '&' readable.
func yamlString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		// Encoding a string cannot fail; invalid UTF-8 was refused before.
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
