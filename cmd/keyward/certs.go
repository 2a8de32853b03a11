package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

// This file holds what certificate credentials add to "key create" and "key roll" (the PKCS#12
// password, the --out file) and "key reveal".
//
// The password of an API_CERTIFICATE's PKCS#12 bundle never comes from the command line. It is
// $KEYWARD_P12_PASSWORD when set, else the first line of stdin (prompted for on a terminal).

// p12PasswordEnv is the environment variable of the PKCS#12 bundle password.
const p12PasswordEnv = "KEYWARD_P12_PASSWORD"

// readP12Password returns $KEYWARD_P12_PASSWORD, else the next line of stdin (a terminal
// prompts, without echo). The server checks it, before anything is issued.
func (a *app) readP12Password() (string, error) {
	return a.readPassword(p12PasswordEnv, "Password for the PKCS#12 bundle", "PKCS#12 bundle password")
}

// needsPassword reports whether err is the server's refusal of a roll that lacks the password
// an API_CERTIFICATE needs.
func needsPassword(err error) bool {
	var ke *keyward.Error
	return errors.As(err, &ke) && ke.Code == keyward.EInvalid && strings.Contains(ke.Fields["password"], "required")
}

// outFile is the --out and --force of a command that writes a secret to a file.
type outFile struct {
	path  string
	force bool
}

func (o *outFile) addFlags(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&o.path, "out", "", "write "+what+" to this file (mode 0600) instead of stdout")
	cmd.Flags().BoolVar(&o.force, "force", false, "with --out: replace the file if it exists")
}

// check refuses, before anything is sent, an --out that could not be written: an existing file
// without --force, a directory, a missing directory.
func (o *outFile) check() error {
	if o.force && o.path == "" {
		return usageErrorf("--force goes with --out")
	}
	if o.path == "" {
		return nil
	}
	return checkOutPath("out", o.path, o.force)
}

// checkOutPath checks that path can be written as the --flag file.
func checkOutPath(flag, path string, force bool) error {
	if path == "-" {
		return usageErrorf("--%s - is not supported: a secret goes into a file of mode 0600; leave --%s out to print it", flag, flag)
	}
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.IsDir():
		return usageErrorf("--%s %s is a directory", flag, path)
	case err == nil && !force:
		return usageErrorf("--%s %s exists: pass --force to replace it", flag, path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return usageErrorf("--%s %s: %v", flag, path, err)
	}
	if di, err := os.Stat(filepath.Dir(path)); err != nil || !di.IsDir() {
		return usageErrorf("--%s %s: the directory %s does not exist", flag, path, filepath.Dir(path))
	}
	return nil
}

// writeFile writes b to path with mode perm. Without replace it fails if path exists (even if
// it appeared since it was checked); with replace it replaces the file atomically, so that the
// new file has mode perm whatever the old one had.
func writeFile(path string, b []byte, perm os.FileMode, replace bool) error {
	if !replace {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			return err
		}
		_, err = f.Write(b)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keyward-out-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	err = tmp.Chmod(perm)
	if err == nil {
		_, err = tmp.Write(b)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// issuedSecret returns the secret of ic as it goes into a file: the decoded data of a
// certificate credential (a PKCS#12 bundle or a kubeconfig), or an API token's key and a newline.
func issuedSecret(ic *keyward.IssuedCredential) ([]byte, error) {
	switch {
	case ic.Data != "":
		b, err := base64.StdEncoding.DecodeString(ic.Data)
		if err != nil {
			return nil, fmt.Errorf("the server's data is not base64: %w", err)
		}
		return b, nil
	case ic.Key != "":
		return []byte(ic.Key + "\n"), nil
	}
	return nil, errors.New("the server's answer holds no key and no data")
}

// deliverIssued shows a credential the server just issued and its secret, shown this once:
// on stdout, or into the --out file. If the file cannot be written the secret is printed, since
// it exists nowhere else, and the command fails.
func (a *app) deliverIssued(ic *keyward.IssuedCredential, out outFile) error {
	if out.path == "" {
		return a.printIssued(ic)
	}
	noun := secretNoun(ic)
	b, err := issuedSecret(ic)
	if err == nil {
		err = writeFile(out.path, b, 0o600, out.force)
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "error: could not write the %s to %s (%v); here it is instead.\n", noun, out.path, err)
		if perr := a.printIssued(ic); perr != nil {
			return perr
		}
		return &exitError{exitRefused}
	}
	if a.jsonOut() {
		err = a.printJSON(&ic.Credential)
	} else {
		err = details(a.stdout, a.credentialFields(&ic.Credential))
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stderr, "Wrote the %s to %s (mode 0600). It will not be shown again.\n", noun, out.path)
	return err
}

func newKeyRevealCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "reveal <project> <id-or-name>",
		Short: "Print a recoverable API key again (audited)",
		Long: `Print a recoverable API key again: a key created or rolled while its project
kept recoverable keys ("keyward project update <project> --recoverable-keys=true").
It needs the keys:reveal permission, and every reveal is recorded in the audit log.

The key is printed alone on stdout; with -o json as {"id": ..., "key": ...}.`,
		Example: `  keyward key reveal acme-prod ci-deploy > key.txt`,
		Args:    exactArgs("project", "id-or-name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			k, err := c.RevealKey(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if a.jsonOut() {
				err = a.printJSON(k)
			} else {
				_, err = fmt.Fprintln(a.stdout, k.Key)
			}
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stderr, "warning: reveals are audited: this one was recorded in the audit log (credential %d).\n", k.CredentialID)
			return err
		},
	}
}
