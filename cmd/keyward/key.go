package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/humanize"
)

func newKeyCmd(a *app) *cobra.Command {
	cmd := newGroupCmd("key", "Create, list, change, renew, roll, revoke, verify and reveal credentials",
		newKeyCreateCmd(a),
		newKeyListCmd(a),
		newKeyGetCmd(a),
		newKeyUpdateCmd(a),
		newKeyRenewCmd(a),
		newKeyRollCmd(a),
		newKeyRevokeCmd(a),
		newKeyVerifyCmd(a),
		newKeyRevealCmd(a),
	)
	cmd.Aliases = []string{"keys"}
	return cmd
}

func newKeyCreateCmd(a *app) *cobra.Command {
	var (
		name, description, expiresAt, notBefore string
		env, keyType, typ                       string
		days                                    int64
		never                                   bool
		meta, roles                             []string
		cluster, namespace                      string
		keyAlgorithm, encoding                  string
		out                                     outFile
	)
	cmd := &cobra.Command{
		Use:   "create <project> --name NAME",
		Short: "Create an API key, certificate or kubeconfig and print its secret, once",
		Long: `Create a credential in a project (slug or id) and print its secret, once.

--type is API_TOKEN (the default), API_CERTIFICATE, KUBE_CONFIG or KUBE_TOKEN:

  API_TOKEN        an API key. In a table the key is the last line of stdout;
                   with -o json it is the "key" field.
  API_CERTIFICATE  a client certificate and its private key in a PKCS#12 bundle
                   encrypted with a password (6 characters or more). The
                   password is $KEYWARD_P12_PASSWORD, else the first line of
                   stdin; never an argument, and the server does not keep it.
                   The certificate authenticates to "keyward serve --tls" as
                   the credential's token would (curl --cert-type P12).
  KUBE_CONFIG      a kubeconfig for the virtual cluster --cluster (see "keyward
                   cluster list") whose context uses --namespace, with a client
                   certificate and key embedded.
  KUBE_TOKEN       a kubeconfig for --cluster and --namespace like KUBE_CONFIG,
                   whose user presents a keyward token instead, which the
                   cluster's API server has keyward review at every request
                   (its token webhook: see "keyward cluster webhook-config"),
                   so that revoking it, or its creator losing a role, takes
                   effect at once. Renew and roll it like an API key.

The secret of a certificate or kubeconfig is binary or long: give --out FILE to
have it decoded and written to FILE with mode 0600 (an existing FILE is kept
unless --force; an API key is written with a newline). Without --out it is
printed in base64, as the last line of stdout, or the "data" field with -o json. --key-algorithm picks the key of a
certificate (ecdsa-p256, the default, rsa-2048 or rsa-3072); --encoding picks
how a PKCS#12 bundle is encrypted: modern (AES-256 and PBKDF2, the default) or
legacy (3DES, for old keychains such as macOS's before 2023).

Without --expiration-days, --expires-at or --never-expires the credential
expires after the server's default (` + strconv.Itoa(keyward.DefaultExpirationDays) + ` days); a certificate must expire.

Without --role the credential gets your roles in the project. Each --role (a
name or an id; repeat for more) must grant nothing you lack there, or the
server refuses and creates nothing. The credential can never do more than you
can: should you lose a permission later, so does the credential.`,
		Example: `  keyward key create acme-prod --name ci-deploy --expiration-days 30 --meta team=infra
  keyward key create acme-prod --name reader --role viewer
  keyward -o json key create acme-prod --name ci-deploy | jq -r .key
  KEYWARD_P12_PASSWORD=... keyward key create acme-prod --type API_CERTIFICATE --name ci-mtls --out ci-mtls.p12
  printf '%s\n' "$P12_PASSWORD" | keyward key create acme-prod --type API_CERTIFICATE --name ci-mtls --out ci-mtls.p12
  keyward key create acme-prod --type KUBE_CONFIG --name deployer --cluster prod --namespace team-a --out kubeconfig.yaml
  keyward key create acme-prod --type KUBE_TOKEN --name deployer --cluster prod --namespace team-a --out kubeconfig.yaml`,
		Args: exactArgs("project"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			in := keyward.CreateCredentialInput{
				Type:                keyward.CredentialType(typ),
				Name:                name,
				Description:         description,
				NeverExpires:        never,
				Environment:         keyward.Environment(env),
				KeyType:             keyward.KeyType(keyType),
				VirtualK8sName:      cluster,
				VirtualK8sNamespace: namespace,
				CertificateOptions:  keyward.CertificateOptions{KeyAlgorithm: keyAlgorithm, Encoding: encoding},
			}
			in.Roles = roles
			if fs.Changed("expiration-days") {
				in.ExpirationDays = &days
			}
			var err error
			if expiresAt != "" {
				if in.ExpiresAt, err = parseTime("expires-at", expiresAt); err != nil {
					return err
				}
			}
			if notBefore != "" {
				if in.NotBefore, err = parseTime("not-before", notBefore); err != nil {
					return err
				}
			}
			if err := out.check(); err != nil {
				return err
			}
			if len(meta) > 0 {
				if in.Meta, err = parseMeta(meta); err != nil {
					return err
				}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if in.Type == keyward.APICertificate {
				if in.Password, err = a.readP12Password(); err != nil {
					return err
				}
			}
			ic, err := c.CreateCredential(cmd.Context(), args[0], in)
			if err != nil {
				return err
			}
			return a.deliverIssued(ic, out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "name of the key, unique in the project (required)")
	f.StringVar(&description, "description", "", fmt.Sprintf("what the key is for (at most %d characters)", keyward.MaxDescription))
	f.Int64Var(&days, "expiration-days", 0, "expire this many days from now")
	f.StringVar(&expiresAt, "expires-at", "", "expire at this RFC 3339 time")
	f.BoolVar(&never, "never-expires", false, "never expire")
	f.StringVar(&notBefore, "not-before", "", "become valid only at this RFC 3339 time")
	f.StringVar(&env, "environment", "", "live or test (server default: live)")
	f.StringVar(&keyType, "key-type", "", "secret or publishable (server default: secret)")
	f.StringVar(&typ, "type", "", "credential type (server default: API_TOKEN)")
	f.StringArrayVar(&meta, "meta", nil, "metadata key=value; repeat for more")
	f.StringArrayVar(&roles, "role", nil, "give the key this role (name or id) instead of yours; repeat for more")
	f.StringVar(&cluster, "cluster", "", "KUBE_CONFIG, KUBE_TOKEN: the virtual cluster (see \"keyward cluster list\")")
	f.StringVar(&namespace, "namespace", "", "KUBE_CONFIG, KUBE_TOKEN: the namespace of the kubeconfig's context")
	f.StringVar(&keyAlgorithm, "key-algorithm", "", "certificate key: ecdsa-p256 (default), rsa-2048 or rsa-3072")
	f.StringVar(&encoding, "encoding", "", "API_CERTIFICATE: PKCS#12 encryption, modern (default) or legacy")
	out.addFlags(cmd, "the secret (a certificate or kubeconfig decoded)")
	return cmd
}

func newKeyListCmd(a *app) *cobra.Command {
	var (
		typ, env, state, cursor string
		limit                   int
		all                     bool
	)
	cmd := &cobra.Command{
		Use:   "list <project>",
		Short: "List the API keys of a project",
		Args:  exactArgs("project"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := client.ListCredentialsOptions{
				Type:        keyward.CredentialType(typ),
				Environment: keyward.Environment(env),
				State:       keyward.State(state),
				Cursor:      cursor,
				Limit:       limit,
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if !all {
				page, err := c.ListCredentials(cmd.Context(), args[0], opts)
				if err != nil {
					return err
				}
				return a.printCredentials(page)
			}
			page := &keyward.Page[keyward.Credential]{Items: []keyward.Credential{}}
			for cr, err := range c.AllCredentials(cmd.Context(), args[0], opts) {
				if err != nil {
					return err
				}
				page.Items = append(page.Items, cr)
			}
			return a.printCredentials(page)
		},
	}
	f := cmd.Flags()
	f.StringVar(&typ, "type", "", "only keys of this type (API_TOKEN, API_CERTIFICATE, KUBE_CONFIG, KUBE_TOKEN)")
	f.StringVar(&env, "environment", "", "only keys of this environment (live, test)")
	f.StringVar(&state, "state", "", "only keys in this state (active, pending, expired, disabled, revoked)")
	f.IntVar(&limit, "limit", 0, "keys per page (server default when 0)")
	f.StringVar(&cursor, "cursor", "", "start at this cursor, from a previous page")
	f.BoolVar(&all, "all", false, "follow the cursors and list every key")
	return cmd
}

func newKeyGetCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "get <project> <id-or-name>",
		Short: "Show an API key",
		Args:  exactArgs("project", "id-or-name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			cr, err := c.Credential(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return a.printCredential(cr)
		},
	}
}

func newKeyUpdateCmd(a *app) *cobra.Command {
	var (
		description, expiresAt string
		meta                   []string
		clearMeta, never       bool
		active                 bool
		ifVersion              int64
	)
	cmd := &cobra.Command{
		Use:   "update <project> <id-or-name>",
		Short: "Change an API key's description, metadata, expiry or activation",
		Long: `Change an API key's description, metadata, expiry or activation. Only the
flags given change anything. --meta replaces all of the key's metadata.

With --if-version N the server refuses the change if the key was changed since
version N (see "key get"), so that concurrent edits are not lost. To move the
expiry by a number of days, use "key renew".`,
		Example: `  keyward key update acme-prod ci-deploy --description "CI deploys" --if-version 3
  keyward key update acme-prod 12 --active=false`,
		Args: exactArgs("project", "id-or-name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			var in keyward.UpdateCredentialInput
			if fs.Changed("description") {
				in.Description = &description
			}
			if err := atMostOne(fs, "meta", "clear-meta"); err != nil {
				return err
			}
			if fs.Changed("meta") {
				m, err := parseMeta(meta)
				if err != nil {
					return err
				}
				in.Meta = &m
			}
			if clearMeta {
				in.Meta = &map[string]string{}
			}
			if fs.Changed("expires-at") {
				t, err := parseTime("expires-at", expiresAt)
				if err != nil {
					return err
				}
				in.ExpiresAt = t
			}
			if fs.Changed("never-expires") {
				in.NeverExpires = &never
			}
			if fs.Changed("active") {
				in.Active = &active
			}
			if fs.Changed("if-version") {
				if ifVersion == 0 {
					// The client sends no If-Match for version 0: the condition would be lost.
					return usageErrorf("--if-version 0 cannot be sent: it means no version")
				}
				in.Version = ifVersion
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			cr, err := c.UpdateCredential(cmd.Context(), args[0], args[1], in)
			if err != nil {
				return err
			}
			return a.printCredential(cr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&description, "description", "", "new description (\"\" clears it)")
	f.StringArrayVar(&meta, "meta", nil, "metadata key=value, replacing all of it; repeat for more")
	f.BoolVar(&clearMeta, "clear-meta", false, "remove all metadata")
	f.StringVar(&expiresAt, "expires-at", "", "expire at this RFC 3339 time")
	f.BoolVar(&never, "never-expires", false, "never expire")
	f.BoolVar(&active, "active", true, "enable (true) or disable (false) the key")
	f.Int64Var(&ifVersion, "if-version", 0, "refuse the change if the key's version is no longer this one")
	return cmd
}

func newKeyRenewCmd(a *app) *cobra.Command {
	var (
		days      int64
		expiresAt string
	)
	cmd := &cobra.Command{
		Use:   "renew <project> <id-or-name> (--expiration-days N | --expires-at TIME)",
		Short: "Move an API key's expiry",
		Example: `  keyward key renew acme-prod ci-deploy --expiration-days 90
  keyward key renew acme-prod 12 --expires-at 2027-01-01T00:00:00Z`,
		Args: exactArgs("project", "id-or-name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			var in keyward.RenewInput
			if fs.Changed("expiration-days") {
				in.ExpirationDays = &days
			}
			if fs.Changed("expires-at") {
				t, err := parseTime("expires-at", expiresAt)
				if err != nil {
					return err
				}
				in.ExpiresAt = t
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			cr, err := c.RenewCredential(cmd.Context(), args[0], args[1], in)
			if err != nil {
				return err
			}
			return a.printCredential(cr)
		},
	}
	f := cmd.Flags()
	f.Int64Var(&days, "expiration-days", 0, "expire this many days from now")
	f.StringVar(&expiresAt, "expires-at", "", "expire at this RFC 3339 time")
	return cmd
}

func newKeyRollCmd(a *app) *cobra.Command {
	var (
		grace                  time.Duration
		graceSeconds, days     int64
		keyAlgorithm, encoding string
		out                    outFile
		firstUse               bool
	)
	cmd := &cobra.Command{
		Use:   "roll <project> <id-or-name>",
		Short: "Give a credential a new secret and print it, once",
		Long: `Give a credential a new secret and print it, once.

An API key's old secret stops working at once, or after the grace period given
with --grace (or --grace-seconds), so that the new one can be deployed first.
With --grace-until-first-use the old secret works until the new one is first
used (verified or authenticated), --grace at most (default: the project
policy's first_use_grace_seconds, else a day): a slow deployment never breaks
on a fixed timer.
A KUBE_TOKEN rolls the same way and comes with its new kubeconfig.

An API_CERTIFICATE or KUBE_CONFIG is re-issued: a new certificate and key, valid
until --expiration-days from now or, by default, the credential's current
expiry. The previous certificate is revoked at once (there is no grace period).
An API_CERTIFICATE's new bundle gets a new password: $KEYWARD_P12_PASSWORD when
set, else, once the server has said the credential needs one, the first line of
stdin (prompted for on a terminal). --key-algorithm and --encoding are as for
"key create".

With --out FILE the secret (the decoded bundle or kubeconfig, or an API key and
a newline) is written to FILE with mode 0600 (an existing FILE is kept unless
--force); without, it is printed as "key create" prints it.`,
		Example: `  keyward key roll acme-prod ci-deploy --grace 1h
  keyward key roll acme-prod ci-deploy --grace-until-first-use --grace 48h
  printf '%s\n' "$NEW_P12_PASSWORD" | keyward key roll acme-prod ci-mtls --out ci-mtls.p12 --force
  keyward key roll acme-prod deployer --expiration-days 30 --out kubeconfig.yaml --force`,
		Args: exactArgs("project", "id-or-name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			if err := atMostOne(fs, "grace", "grace-seconds"); err != nil {
				return err
			}
			in := keyward.RollInput{GraceSeconds: graceSeconds, GraceUntilFirstUse: firstUse}
			if fs.Changed("grace") {
				if grace%time.Second != 0 {
					return usageErrorf("--grace %s is not a whole number of seconds", grace)
				}
				in.GraceSeconds = int64(grace / time.Second)
			}
			if fs.Changed("expiration-days") {
				in.ExpirationDays = &days
			}
			in.KeyAlgorithm, in.Encoding = keyAlgorithm, encoding
			if err := out.check(); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			// The CLI does not know the type: roll without a password, which every type but an
			// API_CERTIFICATE takes (and which refuses one, changing nothing), then with
			// $KEYWARD_P12_PASSWORD or the prompt's.
			ic, err := c.RollCredential(cmd.Context(), args[0], args[1], in)
			if needsPassword(err) {
				if in.Password, err = a.readP12Password(); err != nil {
					return err
				}
				ic, err = c.RollCredential(cmd.Context(), args[0], args[1], in)
			}
			if err != nil {
				return err
			}
			return a.deliverIssued(ic, out)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&grace, "grace", 0, "API key: keep the old secret valid this long (such as 30m or 24h)")
	f.Int64Var(&graceSeconds, "grace-seconds", 0, "API key: keep the old secret valid this many seconds")
	f.BoolVar(&firstUse, "grace-until-first-use", false, "API key: keep the old secret valid until the new one is first used (--grace at most)")
	f.Int64Var(&days, "expiration-days", 0, "certificate: the new certificate expires this many days from now (default: the current expiry)")
	f.StringVar(&keyAlgorithm, "key-algorithm", "", "certificate: the new key, ecdsa-p256 (default), rsa-2048 or rsa-3072")
	f.StringVar(&encoding, "encoding", "", "API_CERTIFICATE: PKCS#12 encryption, modern (default) or legacy")
	out.addFlags(cmd, "the new secret (a certificate or kubeconfig decoded)")
	return cmd
}

func newKeyRevokeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke <project> <id-or-name>",
		Short: "Revoke an API key for good",
		Long:  "Revoke an API key for good: it stops working at once. Revoking a revoked key changes nothing.",
		Args:  exactArgs("project", "id-or-name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			cr, err := c.RevokeCredential(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return a.printCredential(cr)
		},
	}
}

func newKeyVerifyCmd(a *app) *cobra.Command {
	var perms []string
	cmd := &cobra.Command{
		Use:   "verify [<key> | -] [--permission P]...",
		Short: "Check whether an API key is valid, and may do what you ask",
		Long: `Check whether an API key is valid. Prints VALID, or why it is not (NOT_FOUND,
EXPIRED, NOT_YET_VALID, REVOKED, DISABLED, FORBIDDEN), and exits 0 when valid,
1 when not.

With --permission (repeat for more) the key must also hold every permission
named, in its project: a valid key that lacks one is FORBIDDEN. The key's
effective permissions are shown whenever the key was found.

Without an argument, or with "-", the key is read from the first line of stdin,
which keeps it out of the shell history.`,
		Example: `  keyward key verify < key.txt
  printf '%s\n' "$KEY" | keyward key verify --permission keys:read --permission keys:roll`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var key string
			if len(args) == 1 && args[0] != "-" {
				key = args[0]
			} else if key, err = a.readKey(); err != nil {
				return err
			}
			v, err := c.VerifyPermissions(cmd.Context(), key, permissions(perms)...)
			if err != nil {
				return err
			}
			if err := a.printVerification(v); err != nil {
				return err
			}
			if !v.Valid || v.Code != keyward.CodeValid {
				return &exitError{exitRefused}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&perms, "permission", nil, "require this permission too, such as keys:read; repeat for more")
	return cmd
}

// readKey reads a key from the first line of stdin, prompting for it on a terminal.
func (a *app) readKey() (string, error) {
	line, _, err := a.readLine("Key: ")
	if err != nil {
		return "", err
	}
	key := strings.TrimSpace(line)
	if key == "" {
		return "", usageErrorf("no key given: pass it as an argument or on stdin")
	}
	return key, nil
}

func (a *app) printVerification(v *keyward.Verification) error {
	if a.jsonOut() {
		return a.printJSON(v)
	}
	if _, err := fmt.Fprintln(a.stdout, clean(v.Code)); err != nil {
		return err
	}
	if v.CredentialID == 0 {
		return nil
	}
	expires := humanize.Expiry(nil, v.ExpiresAt, a.now())
	if v.ExpiresAt != nil {
		expires = fmtTime(*v.ExpiresAt) + " (" + expires + ")"
	}
	return details(a.stdout, []field{
		{"ID", strconv.FormatInt(v.CredentialID, 10)},
		{"Name", v.Name},
		{"Project", v.Project},
		{"Environment", string(v.Environment)},
		{"Key type", string(v.KeyType)},
		{"Expires", expires},
		{"Meta", fmtMeta(v.Meta)},
		{"Permissions", fmtPermissions(v.Permissions)},
	})
}
