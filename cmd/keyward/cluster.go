package main

import (
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

func newClusterCmd(a *app) *cobra.Command {
	cmd := newGroupCmd("cluster", "Register, list, show and remove the virtual clusters of KUBE_CONFIG and KUBE_TOKEN credentials",
		newClusterAddCmd(a),
		newClusterListCmd(a),
		newClusterGetCmd(a),
		newClusterRemoveCmd(a),
		newClusterWebhookConfigCmd(a),
	)
	cmd.Aliases = []string{"clusters"}
	return cmd
}

// apiServerFlag is cluster add's --server, which shadows the global --server there. It refuses
// a second value: "keyward --server URL cluster add ... --server URL" gives both to it.
type apiServerFlag struct {
	value string
	set   bool
}

func (f *apiServerFlag) String() string { return f.value }
func (f *apiServerFlag) Type() string   { return "url" }
func (f *apiServerFlag) Set(s string) error {
	if f.set {
		return errors.New(`given twice: in "cluster add", --server is the cluster's API server; name keyward's server with $KEYWARD_SERVER or --keyward-server`)
	}
	f.value, f.set = s, true
	return nil
}

// readPEMFile reads the --flag file, which must hold PEM blocks, the first of type want ("" for
// any).
func readPEMFile(flag, path, want string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usageErrorf("--%s: %v", flag, err)
	}
	block, _ := pem.Decode(b)
	switch {
	case block == nil:
		return "", usageErrorf("--%s %s holds no PEM block", flag, path)
	case want != "" && block.Type != want:
		return "", usageErrorf("--%s %s holds a PEM %s, not a %s", flag, path, block.Type, want)
	}
	return string(b), nil
}

func newClusterAddCmd(a *app) *cobra.Command {
	var (
		server                        apiServerFlag
		keywardServer                 string
		caFile, clientCert, clientKey string
	)
	cmd := &cobra.Command{
		Use:   "add <name> --server https://API-SERVER [--ca-file FILE] [--client-ca-cert FILE --client-ca-key FILE]",
		Short: "Register a virtual cluster that KUBE_CONFIG and KUBE_TOKEN credentials point at",
		Long: `Register a virtual cluster that KUBE_CONFIG and KUBE_TOKEN credentials point at.
It needs the clusters:admin permission.

In this command --server is the cluster's Kubernetes API server (an https URL),
not keyward's: name keyward's server with $KEYWARD_SERVER or --keyward-server.

--ca-file is the CA bundle (PEM) that signed the API server's certificate; the
kubeconfigs embed it. Without it kubectl trusts the system's CAs.

The client certificates of the cluster's kubeconfigs are signed by keyward's own
CA, or, with --client-ca-cert and --client-ca-key (PEM, the key unencrypted), by
a CA of the cluster's own, which is sent to the server and kept sealed under
its master key. Either way the API server must trust that CA for client
certificates (kube-apiserver --client-ca-file): "keyward ca pem --cluster NAME"
prints it, and "keyward ca crl --cluster NAME" the revocation list it signs.
KUBE_TOKEN kubeconfigs need instead that the API server asks keyward about
their tokens: see "keyward cluster webhook-config".`,
		Example: `  keyward cluster add prod --server https://k8s.example.com:6443 --ca-file prod-ca.pem
  keyward cluster add edge --server https://10.0.0.5:6443 --ca-file edge-ca.pem \
      --client-ca-cert edge-client-ca.pem --client-ca-key edge-client-ca-key.pem`,
		Args: exactArgs("name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			if fs.Changed("keyward-server") {
				a.server, a.serverSet = keywardServer, true
			}
			in := keyward.ClusterInput{Name: args[0], Server: strings.TrimSpace(server.value)}
			var err error
			if caFile != "" {
				if in.CertificateAuthority, err = readPEMFile("ca-file", caFile, "CERTIFICATE"); err != nil {
					return err
				}
			}
			if clientCert != "" {
				if in.ClientCACert, err = readPEMFile("client-ca-cert", clientCert, "CERTIFICATE"); err != nil {
					return err
				}
			}
			if clientKey != "" {
				if in.ClientCAKey, err = readPEMFile("client-ca-key", clientKey, ""); err != nil {
					return err
				}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			kw, _ := a.serverURL()
			if sameServer(kw, in.Server) {
				return usageErrorf("--server %s is keyward's server: in \"cluster add\" --server is the cluster's API server", in.Server)
			}
			if u, err := url.Parse(kw); in.ClientCAKey != "" && err == nil && u.Scheme == "http" && !isLoopback(u.Hostname()) {
				fmt.Fprintf(a.stderr, "warning: %s is plain http: the client CA's private key crosses the network unencrypted\n", kw)
			}
			cl, err := c.CreateCluster(cmd.Context(), in)
			if err != nil {
				return err
			}
			if err := a.printCluster(cl); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "The API server must trust the CA that signs the client certificates: keyward ca pem --cluster %s\n", cl.Name)
			return nil
		},
	}
	f := cmd.Flags()
	f.Var(&server, "server", "the cluster's API server URL, https (required)")
	f.StringVar(&keywardServer, "keyward-server", "", "URL of the keyward server, since --server is the cluster's here (env KEYWARD_SERVER)")
	f.StringVar(&caFile, "ca-file", "", "PEM file of the CA bundle that signed the API server's certificate")
	f.StringVar(&clientCert, "client-ca-cert", "", "PEM file of a CA certificate that signs this cluster's client certificates")
	f.StringVar(&clientKey, "client-ca-key", "", "PEM file of that CA's private key (unencrypted)")
	return cmd
}

func newClusterListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the virtual clusters",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			cls, err := c.Clusters(cmd.Context())
			if err != nil {
				return err
			}
			return a.printClusters(cls)
		},
	}
}

func newClusterGetCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "get <name>",
		Short: "Show a virtual cluster",
		Args:  exactArgs("name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			cl, err := c.Cluster(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.printCluster(cl)
		},
	}
}

func newClusterRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "remove <name>",
		Aliases: []string{"rm", "delete"},
		Short:   "Remove a virtual cluster",
		Long: `Remove a virtual cluster. It needs the clusters:admin permission. The
kubeconfigs issued for it are not revoked by this: revoke them with
"keyward key revoke".`,
		Args: exactArgs("name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.DeleteCluster(cmd.Context(), args[0]); err != nil {
				return err
			}
			return a.done(fmt.Sprintf("Removed the virtual cluster %s.", args[0]))
		},
	}
}
