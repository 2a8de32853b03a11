package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/masterkey"
)

func newCACmd(a *app) *cobra.Command {
	cmd := newGroupCmd("ca", "Fetch the CA certificates and CRL; rotate the master key or import a CA",
		newCAPEMCmd(a),
		newCACRLCmd(a),
		newCARotateMasterKeyCmd(a),
		newCAImportCmd(a),
	)
	cmd.Long = `Fetch the CA certificates and CRL; rotate the master key or import a CA.

keyward's certificate authority signs the client certificates of API_CERTIFICATE
and KUBE_CONFIG credentials (and, with "keyward serve --tls", the server's own
certificate). Its private keys are kept in the database sealed under the master
key (--master-key-file, else $KEYWARD_MASTER_KEY, else <data>/master.key).

"ca pem" and "ca crl" call a running server, without a token: the CA chain and
the revocation list are public.

"ca rotate-master-key" and "ca import" open the database directly, as
"keyward serve" does, with the same --database, --data and --master-key-file.
Stop every keyward server that uses the database first: a running server keeps
the CA and the master key it started with in memory, and would go on using the
old ones.`
	return cmd
}

// publicClient returns a client for the server of the global flags that sends no token: for
// the public endpoints, which need none.
func (a *app) publicClient() (*client.Client, error) {
	if err := a.checkOutput(); err != nil {
		return nil, err
	}
	server, err := a.serverURL()
	if err != nil {
		return nil, err
	}
	return a.newClient(server, "")
}

// writeMaterial writes public certificate material to --out (replacing it: a CRL is fetched
// again and again), or to stdout.
func (a *app) writeMaterial(b []byte, out, what string) error {
	if out == "" {
		_, err := a.stdout.Write(b)
		return err
	}
	if err := writeFile(out, b, 0o644, true); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	fmt.Fprintf(a.stderr, "Wrote %s to %s.\n", what, out)
	return nil
}

// stdoutIsTerminal reports whether stdout is a terminal, where binary output does harm.
func (a *app) stdoutIsTerminal() bool {
	f, ok := a.stdout.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func newCAPEMCmd(a *app) *cobra.Command {
	var cluster, out string
	cmd := &cobra.Command{
		Use:   "pem [--cluster NAME] [--out FILE]",
		Short: "Print the CA certificates (PEM)",
		Long: `Print keyward's CA chain in PEM, signing certificate first: what clients trust
for "keyward serve --tls" (curl --cacert) and what verifies the certificates of
API_CERTIFICATE credentials.

With --cluster, the chain of the CA that signs that virtual cluster's client
certificates: what its API server must trust (kube-apiserver --client-ca-file).

The output is the PEM itself, whatever -o says; --out writes it to a file.`,
		Example: `  keyward ca pem --out keyward-ca.pem
  keyward ca pem --cluster prod > prod-client-ca.pem`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("cluster") && cluster == "" {
				return usageErrorf("--cluster must not be empty")
			}
			c, err := a.publicClient()
			if err != nil {
				return err
			}
			var b []byte
			if cluster != "" {
				b, err = c.ClusterCAPEM(cmd.Context(), cluster)
			} else {
				b, err = c.CAChainPEM(cmd.Context())
			}
			if err != nil {
				return err
			}
			return a.writeMaterial(b, out, "the CA certificates")
		},
	}
	cmd.Flags().StringVar(&cluster, "cluster", "", "the CA that signs this virtual cluster's client certificates")
	cmd.Flags().StringVar(&out, "out", "", "write the PEM to this file (replaced if it exists) instead of stdout")
	return cmd
}

func newCACRLCmd(a *app) *cobra.Command {
	var (
		cluster, out string
		asPEM, chain bool
	)
	cmd := &cobra.Command{
		Use:   "crl [--cluster NAME] [--pem | --chain] [--out FILE]",
		Short: "Fetch the certificate revocation list",
		Long: `Fetch the certificate revocation list: every revoked certificate credential
whose certificate has not expired, signed by keyward's CA or, with --cluster, by
the CA that signs that virtual cluster's client certificates.

The CRL is DER, or PEM with --pem. DER is binary: it is not printed on a
terminal; give --out or --pem. The output is the CRL itself, whatever -o says.

--chain gives, in PEM, every CRL of the chain: the CA's, then its root's. That is
what relying parties that check the whole chain need (nginx's ssl_crl, Node's
crl option): given only the CA's CRL they refuse every client certificate.`,
		Example: `  keyward ca crl --out keyward.crl
  keyward ca crl --pem | openssl crl -noout -text
  keyward ca crl --cluster prod --pem --out prod.crl.pem`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("cluster") && cluster == "" {
				return usageErrorf("--cluster must not be empty")
			}
			if !asPEM && !chain && out == "" && a.stdoutIsTerminal() {
				return usageErrorf("the CRL is binary DER: give --out FILE, or --pem")
			}
			c, err := a.publicClient()
			if err != nil {
				return err
			}
			var b []byte
			if chain {
				b, err = c.CRLChain(cmd.Context(), cluster)
			} else {
				b, err = c.CRL(cmd.Context(), cluster, asPEM)
			}
			if err != nil {
				return err
			}
			return a.writeMaterial(b, out, "the CRL")
		},
	}
	cmd.Flags().StringVar(&cluster, "cluster", "", "the CRL signed by the CA of this virtual cluster's client certificates")
	cmd.Flags().BoolVar(&asPEM, "pem", false, "PEM instead of DER")
	cmd.Flags().BoolVar(&chain, "chain", false, "every CRL of the chain (PEM), for nginx ssl_crl and other full-chain checkers")
	cmd.Flags().StringVar(&out, "out", "", "write the CRL to this file (replaced if it exists) instead of stdout")
	return cmd
}

// offline is what the commands that open the database directly are told: the database and the
// master key, found as "keyward serve" finds them.
type offline struct {
	database, data, masterKeyFile string
}

func (o *offline) addFlags(a *app, cmd *cobra.Command) {
	databaseFlags(a, cmd, &o.database, &o.data)
	cmd.Flags().StringVar(&o.masterKeyFile, "master-key-file", "",
		"file of the current master key; default $"+masterkey.EnvVar+", else <data>/master.key, as for keyward serve")
}

// Where the current master key comes from.
const (
	keyFromFile    = "file"    // --master-key-file
	keyFromEnv     = "env"     // $KEYWARD_MASTER_KEY
	keyFromDefault = "default" // <data>/master.key
)

// keySource says where the current master key comes from: its kind, its file ("" for the
// environment) and how to name it to the operator. It refuses a default key file that does not
// exist, which "keyward serve" would create: a new key opens nothing.
func (o *offline) keySource(a *app, db database) (kind, path, name string, err error) {
	switch {
	case o.masterKeyFile != "":
		return keyFromFile, o.masterKeyFile, "--master-key-file " + o.masterKeyFile, nil
	case a.getenv(masterkey.EnvVar) != "":
		return keyFromEnv, "", "$" + masterkey.EnvVar, nil
	case db.kind == kindPostgres:
		return "", "", "", usageErrorf("with PostgreSQL give the master key the servers use: --master-key-file or $%s", masterkey.EnvVar)
	}
	path = filepath.Join(o.data, "master.key")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", "", "", usageErrorf("no master key: %s does not exist; give the servers' key with --master-key-file or $%s (or the right --data)", path, masterkey.EnvVar)
	}
	return keyFromDefault, path, path + ", the embedded default", nil
}

// offlineCA is a database opened directly, with its CA loaded under the current master key.
type offlineCA struct {
	auth    *authority.Authority
	store   keyward.Store
	db      database
	key     *masterkey.Key
	keyKind string // keyFromFile, keyFromEnv or keyFromDefault
	keyPath string // the key's file, "" for the environment
	keyName string // where the key came from, for messages
}

func (c *offlineCA) close() {
	c.auth.Close()
	c.store.Close()
}

// open opens the database and loads its CA with the current master key, which must be the one
// the database was sealed with. An existing database is required: this never creates one.
func (o *offline) open(ctx context.Context, a *app) (*offlineCA, error) {
	db, err := parseDatabase(o.database, o.data)
	if err != nil {
		return nil, err
	}
	if db.kind == kindSQLite {
		if _, err := os.Stat(db.path); errors.Is(err, fs.ErrNotExist) {
			return nil, usageErrorf("no database at %s: name the servers' database with --database or --data", db.path)
		}
	}
	kind, path, name, err := o.keySource(a, db)
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mk, err := loadMasterKey(o.masterKeyFile, o.data, db.kind == kindPostgres, a.getenv, logger)
	if err != nil {
		return nil, err
	}
	store, _, err := openStore(ctx, o.database, o.data)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", db, err)
	}
	auth := authority.New(store, authority.Options{MasterKey: mk, Logger: logger})
	c := &offlineCA{auth: auth, store: store, db: db, key: mk, keyKind: kind, keyPath: path, keyName: name}
	if err := auth.InitCA(ctx); err != nil {
		c.close()
		if errors.Is(err, masterkey.ErrMismatch) {
			return nil, fmt.Errorf("the master key of %s is not the one %s is sealed with; nothing was changed", name, db)
		}
		return nil, fmt.Errorf("loading the certificate authority of %s: %w", db, err)
	}
	return c, nil
}

// sameFile reports whether x and y name the same file, existing or not.
func sameFile(x, y string) bool {
	if fx, err := os.Stat(x); err == nil {
		if fy, err := os.Stat(y); err == nil {
			return os.SameFile(fx, fy)
		}
	}
	ax, err1 := filepath.Abs(x)
	ay, err2 := filepath.Abs(y)
	return err1 == nil && err2 == nil && ax == ay
}

func newCARotateMasterKeyCmd(a *app) *cobra.Command {
	var (
		o       offline
		newFile string
	)
	cmd := &cobra.Command{
		Use:   "rotate-master-key --new-key-file PATH",
		Short: "Re-seal the CA keys and recoverable keys under a new master key (offline)",
		Long: `Re-seal everything the database keeps under the master key (the CA's private
keys, the client CAs of virtual clusters, recoverable API keys, the key check)
under a new master key, in one transaction.

Stop every keyward server that uses the database first: a running server keeps
the old key in memory and would seal new recoverable keys under it.

The current key is found as "keyward serve" finds it: --master-key-file, else
$KEYWARD_MASTER_KEY, else <data>/master.key. It must open the database, or
nothing is changed. The new key is read from --new-key-file or, when that file
does not exist, generated into it (mode 0600). It must differ from the current
one.

Then start every server (every replica) with the new key: --master-key-file
PATH or $KEYWARD_MASTER_KEY; for the embedded default, replace <data>/master.key
with the new file. A server started with the old key refuses to start. Keep the
old key only as long as backups of the database made before the rotation, which
need it.`,
		Example: `  keyward ca rotate-master-key --data /var/lib/keyward --new-key-file /var/lib/keyward/master.key.new
  keyward ca rotate-master-key --database postgres://keyward@db/keyward \
      --master-key-file /etc/keyward/master.key --new-key-file /etc/keyward/master.key.2`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if newFile == "" {
				return usageErrorf("--new-key-file is required")
			}
			db, err := parseDatabase(o.database, o.data)
			if err != nil {
				return err
			}
			_, current, _, err := o.keySource(a, db)
			if err != nil {
				return err
			}
			if current != "" && sameFile(current, newFile) {
				return usageErrorf("--new-key-file %s is the current master key's file: name a new file", newFile)
			}
			// The new key, in memory: it is written only once the current key has opened the
			// database, so that a mistake leaves no stray key file.
			var next *masterkey.Key
			generate := false
			if _, err := os.Lstat(newFile); err == nil {
				if next, err = masterkey.LoadFile(newFile); err != nil {
					return usageErrorf("--new-key-file: %v", err)
				}
			} else if errors.Is(err, fs.ErrNotExist) {
				if err := checkOutPath("new-key-file", newFile, false); err != nil {
					return err
				}
				if next, err = masterkey.Generate(); err != nil {
					return err
				}
				generate = true
			} else {
				return usageErrorf("--new-key-file: %v", err)
			}

			ctx := cmd.Context()
			c, err := o.open(ctx, a)
			if err != nil {
				return err
			}
			defer c.close()
			if next.Equal(c.key) {
				return usageErrorf("--new-key-file %s holds the current master key: a rotation needs a new one", newFile)
			}
			if generate {
				if err := next.WriteFile(newFile); err != nil {
					return fmt.Errorf("writing the new master key: %w (nothing was changed)", err)
				}
				fmt.Fprintf(a.stderr, "Generated a new master key in %s (mode 0600). Back it up.\n", newFile)
			}
			if err := c.auth.RotateMasterKey(ctx, next); err != nil {
				return fmt.Errorf("rotating the master key of %s: %w (nothing was changed: the current key still opens it)", c.db, err)
			}
			// Read everything back with the new key before saying it worked.
			check := authority.New(c.store, authority.Options{MasterKey: next, Logger: slog.New(slog.DiscardHandler)})
			err = check.InitCA(ctx)
			check.Close()
			if err != nil {
				return fmt.Errorf("the database was re-sealed, but the new key does not load its CA: %w", err)
			}
			return a.rotated(c, next, newFile, generate)
		},
	}
	o.addFlags(a, cmd)
	cmd.Flags().StringVar(&newFile, "new-key-file", "", "file of the new master key; generated (mode 0600) when it does not exist (required)")
	return cmd
}

// rotated reports a master key rotation and what the operator must do next.
func (a *app) rotated(c *offlineCA, next *masterkey.Key, newFile string, generated bool) error {
	var how string
	switch c.keyKind {
	case keyFromEnv:
		how = fmt.Sprintf("Set $%s to the content of %s for every server", masterkey.EnvVar, newFile)
	case keyFromDefault:
		how = fmt.Sprintf("Replace %s, the embedded default, with the new key: mv %s %s", c.keyPath, newFile, c.keyPath)
	default:
		how = fmt.Sprintf("Start the servers with --master-key-file %s (or replace %s with it)", newFile, c.keyPath)
	}
	next1 := "Next, before starting any keyward server on this database (one started with the old key now refuses to start):"
	steps := []string{
		"1. " + how + ".",
		"2. Start every keyward server (every replica) again with the new key.",
		"3. Keep the old key only as long as the database backups made before now, which need it; then destroy it.",
	}
	if a.jsonOut() {
		if err := a.printJSON(map[string]any{
			"database": c.db.String(), "old_fingerprint": c.key.Fingerprint(), "new_fingerprint": next.Fingerprint(),
			"new_key_file": newFile, "generated": generated,
		}); err != nil {
			return err
		}
		fmt.Fprintln(a.stderr, next1)
		for _, s := range steps {
			fmt.Fprintln(a.stderr, "  "+s)
		}
		return nil
	}
	fmt.Fprintf(a.stdout, "Rotated the master key of %s: what was sealed under the old key is now sealed under the new one.\n", c.db)
	if err := details(a.stdout, []field{
		{"  Old key", fmt.Sprintf("fingerprint %s (%s)", c.key.Fingerprint(), c.keyName)},
		{"  New key", fmt.Sprintf("fingerprint %s (%s)", next.Fingerprint(), newFile)},
	}); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\n%s\n", next1)
	for _, s := range steps {
		fmt.Fprintln(a.stdout, "  "+s)
	}
	return nil
}

func newCAImportCmd(a *app) *cobra.Command {
	var (
		o                 offline
		certFile, keyFile string
	)
	cmd := &cobra.Command{
		Use:   "import --cert CA.pem --key CA-KEY.pem",
		Short: "Replace keyward's CA with an existing one (offline)",
		Long: `Replace keyward's certificate authority with an existing one: a CA certificate
(or a chain, the signing certificate first, then its issuers) and its private
key, in PEM. The key is sealed under the master key in the database.

Stop every keyward server that uses the database first: a running server keeps
the previous CA in memory. Certificates issued by the previous CA stop
authenticating once the servers restart: re-issue ("keyward key roll") the
API_CERTIFICATE credentials and the KUBE_CONFIG credentials of clusters without
a client CA of their own, and give clients the new chain ("keyward ca pem").

The certificate must be a CA (basicConstraints CA:TRUE) allowed to sign
certificates and CRLs (keyUsage keyCertSign, cRLSign), have a subject key
identifier and be valid now; the key must be unencrypted (ECDSA, RSA or
Ed25519). With openssl, a CA of ten years with an ECDSA P-256 key:

  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca-key.pem
  openssl req -x509 -new -key ca-key.pem -sha256 -days 3650 \
      -subj "/O=Example/CN=Example keyward CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out ca.pem
  chmod 600 ca-key.pem

(An encrypted key is decrypted with: openssl pkey -in enc.pem -out ca-key.pem.)
Once imported, ca-key.pem is no longer needed by keyward: keep it offline, or
destroy it.`,
		Example: `  keyward ca import --data /var/lib/keyward --cert ca.pem --key ca-key.pem`,
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if certFile == "" || keyFile == "" {
				return usageErrorf("both --cert and --key are required")
			}
			certPEM, err := os.ReadFile(certFile)
			if err != nil {
				return usageErrorf("--cert: %v", err)
			}
			keyPEM, err := os.ReadFile(keyFile)
			if err != nil {
				return usageErrorf("--key: %v", err)
			}
			ctx := cmd.Context()
			c, err := o.open(ctx, a)
			if err != nil {
				return err
			}
			defer c.close()
			previous := c.auth.CA().Certificate().Subject.String()
			if err := c.auth.ImportCA(ctx, certPEM, keyPEM); err != nil {
				return err
			}
			cert := c.auth.CA().Certificate()
			if a.jsonOut() {
				if err := a.printJSON(map[string]any{
					"database": c.db.String(), "subject": cert.Subject.String(), "not_after": cert.NotAfter.UTC(),
					"previous_subject": previous,
				}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "Imported the CA %q (valid until %s) into %s, replacing %q.\nStart the keyward servers again: they load the CA on start.\n",
					cert.Subject.String(), fmtTime(cert.NotAfter), c.db, previous)
			}
			fmt.Fprintln(a.stderr, "warning: certificates issued by the previous CA no longer authenticate: re-issue (keyward key roll) the API_CERTIFICATE credentials, and the KUBE_CONFIG credentials of clusters without their own client CA, and give clients the new chain (keyward ca pem).")
			return nil
		},
	}
	o.addFlags(a, cmd)
	cmd.Flags().StringVar(&certFile, "cert", "", "PEM file of the CA certificate, or of its chain, signing certificate first (required)")
	cmd.Flags().StringVar(&keyFile, "key", "", "PEM file of the CA's private key, unencrypted (required)")
	return cmd
}
