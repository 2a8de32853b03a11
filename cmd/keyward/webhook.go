package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/ca"
)

// reviewTokenEnv names the variable that gives "cluster webhook-config" the API server's key.
const reviewTokenEnv = "KEYWARD_REVIEW_TOKEN"

func newClusterWebhookConfigCmd(a *app) *cobra.Command {
	var (
		webhookURL, caFile, keyProject, keyName string
		roles                                   []string
		days                                    int64
		never                                   bool
		out                                     outFile
	)
	cmd := &cobra.Command{
		Use:   "webhook-config <cluster> [--create-key PROJECT --role ROLE] [--url URL] [--ca-file FILE] [--out FILE]",
		Short: "Print the token webhook configuration of a cluster's API server, for KUBE_TOKEN kubeconfigs",
		Long: `Print the kubeconfig that the cluster's kube-apiserver reads with
--authentication-token-webhook-config-file, so that it asks keyward, at every
request that presents a token, who that token is: KUBE_TOKEN kubeconfigs then
work, and stop working the moment they are revoked, disabled or expire, or their
creator is disabled or loses the roles they gave.

The webhook is https://KEYWARD/v1/clusters/<cluster>/tokenreview. --url gives
keyward's URL as the API server reaches it (default: the server this command
talks to); --ca-file the PEM CA bundle that signed keyward's TLS certificate,
embedded so that the API server trusts it (without it, the system's CAs).

The API server presents a keyward key that holds clusters:review through a
global binding. --create-key PROJECT creates one now, named --key-name (default
kube-apiserver-<cluster>), with the --role roles (a role holding clusters:review,
such as one made with "keyward role create k8s-review --permission
clusters:review"; you must hold it globally). Otherwise the key is read from
$` + reviewTokenEnv + `, else the first line of stdin; never from an argument.

The file holds that key: write it with --out (mode 0600) and give it to the API
server only. Start kube-apiserver with:

  --authentication-token-webhook-config-file=FILE
  --authentication-token-webhook-version=v1
  --authentication-token-webhook-cache-ttl=10s

The API server caches each answer for the cache TTL (default 2m): a revoked
token keeps working that long. Keep it short; 0s asks keyward every time.`,
		Example: `  keyward role create k8s-review --permission clusters:review
  keyward cluster webhook-config prod --create-key system --role k8s-review --never-expires \
      --url https://keyward.internal:8443 --ca-file keyward-ca.pem --out /etc/kubernetes/keyward-webhook.yaml
  KEYWARD_REVIEW_TOKEN=kw_live_... keyward cluster webhook-config prod --out webhook.yaml`,
		Args: exactArgs("cluster"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			creating := keyProject != ""
			for _, n := range []string{"role", "key-name", "expiration-days", "never-expires"} {
				if fs.Changed(n) && !creating {
					return usageErrorf("--%s goes with --create-key", n)
				}
			}
			if creating && len(roles) == 0 {
				return usageErrorf("--create-key needs --role: a role that holds clusters:review")
			}
			if err := atMostOne(fs, "expiration-days", "never-expires"); err != nil {
				return err
			}
			if err := out.check(); err != nil {
				return err
			}
			base := webhookURL
			if base == "" {
				var err error
				if base, err = a.serverURL(); err != nil {
					return err
				}
			}
			if u, err := url.Parse(base); err != nil || u.Scheme != "https" || u.Host == "" {
				return usageErrorf("keyward's URL %q is not https: the API server sends every user's token there; give --url https://...", base)
			}
			var caPEM []byte
			if caFile != "" {
				s, err := readPEMFile("ca-file", caFile, "CERTIFICATE")
				if err != nil {
					return err
				}
				caPEM = []byte(s)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			cl, err := c.Cluster(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var key string
			if creating {
				if keyName == "" {
					keyName = "kube-apiserver-" + cl.Name
				}
				in := keyward.CreateCredentialInput{Name: keyName, Roles: roles, NeverExpires: never,
					Description: "token webhook of cluster " + cl.Name}
				if fs.Changed("expiration-days") {
					in.ExpirationDays = &days
				}
				ic, err := c.CreateCredential(cmd.Context(), keyProject, in)
				if err != nil {
					return err
				}
				key = ic.Key
				fmt.Fprintf(a.stderr, "Created the key %s/%s (id %d) for the API server.\n", keyProject, ic.Name, ic.ID)
			} else if key, err = a.readPassword(reviewTokenEnv, "keyward key of the API server", "API server's keyward key"); err != nil {
				return err
			}
			// A key created above is shown nowhere else: a failure from here on says so.
			lost := func(err error) error {
				if err != nil && creating {
					return fmt.Errorf("%w (the key %s/%s was created and is lost: revoke it)", err, keyProject, keyName)
				}
				return err
			}
			doc, err := ca.Kubeconfig(ca.KubeconfigInput{
				ClusterName: "keyward", Server: strings.TrimRight(base, "/") + "/v1/clusters/" + url.PathEscape(cl.Name) + "/tokenreview",
				ClusterCAPEM: caPEM, UserName: "kube-apiserver-" + cl.Name, Token: strings.TrimSpace(key),
			})
			if err != nil {
				return lost(err)
			}
			if out.path == "" {
				_, err = a.stdout.Write(doc)
				return lost(err)
			}
			if err := writeFile(out.path, doc, 0o600, out.force); err != nil {
				return lost(err)
			}
			_, err = fmt.Fprintf(a.stderr, "Wrote the webhook configuration to %s (mode 0600). Give it to kube-apiserver with --authentication-token-webhook-config-file.\n", out.path)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&webhookURL, "url", "", "keyward's URL as the API server reaches it, https (default: --server)")
	f.StringVar(&caFile, "ca-file", "", "PEM file of the CA bundle that signed keyward's TLS certificate")
	f.StringVar(&keyProject, "create-key", "", "create the API server's key in this project")
	f.StringArrayVar(&roles, "role", nil, "with --create-key: a role of the key (holding clusters:review); repeat for more")
	f.StringVar(&keyName, "key-name", "", "with --create-key: the key's name (default kube-apiserver-<cluster>)")
	f.Int64Var(&days, "expiration-days", 0, "with --create-key: the key expires this many days from now")
	f.BoolVar(&never, "never-expires", false, "with --create-key: the key never expires")
	out.addFlags(cmd, "the configuration")
	return cmd
}
