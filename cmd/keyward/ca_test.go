package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/internal/proctest"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/sqlite"
)

// offlineDB makes a SQLite database as "keyward serve" leaves it on first start: bootstrapped,
// with its CA sealed under a master key written to keyFile. It returns the database's path.
func offlineDB(t *testing.T, dir, keyFile string) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(dir, "keyward.db")
	mk, err := masterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := mk.WriteFile(keyFile); err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a := authority.New(store, authority.Options{MasterKey: mk})
	if err := a.InitAuditChain(ctx); err != nil { // first, as serve does
		t.Fatal(err)
	}
	if _, err := a.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.InitCA(ctx); err != nil {
		t.Fatal(err)
	}
	a.Close()
	store.Close()
	return path
}

// loadCA opens the database at path with the master key in keyFile and returns the subject of
// its CA, or the error of loading it.
func loadCA(t *testing.T, path, keyFile string) (string, error) {
	t.Helper()
	ctx := context.Background()
	mk, err := masterkey.LoadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := authority.New(store, authority.Options{MasterKey: mk})
	defer a.Close()
	if err := a.InitCA(ctx); err != nil {
		return "", err
	}
	return a.CA().Certificate().Subject.String(), nil
}

// runOffline runs the CLI with env as its whole environment.
func runOffline(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := runEnv(args, strings.NewReader(""), &out, &errb, func(k string) string { return env[k] })
	return result{code, out.String(), errb.String()}
}

func TestCARotateMasterKey(t *testing.T) {
	dir := t.TempDir()
	oldKey := filepath.Join(dir, "old.key")
	db := offlineDB(t, dir, oldKey)
	before, err := loadCA(t, db, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	dbURL := "sqlite://" + db
	newKey := filepath.Join(dir, "new.key")

	t.Run("Refusals", func(t *testing.T) {
		other := filepath.Join(dir, "other.key")
		mk, _ := masterkey.Generate()
		if err := mk.WriteFile(other); err != nil {
			t.Fatal(err)
		}
		copyOld := filepath.Join(dir, "copy-of-old.key")
		b, _ := os.ReadFile(oldKey)
		if err := os.WriteFile(copyOld, b, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			args []string
			code int
			msg  string
		}{
			{"SameFile", []string{"--database", dbURL, "--master-key-file", oldKey, "--new-key-file", oldKey}, 2, "is the current master key's file"},
			{"SameKey", []string{"--database", dbURL, "--master-key-file", oldKey, "--new-key-file", copyOld}, 2, "holds the current master key"},
			{"WrongCurrentKey", []string{"--database", dbURL, "--master-key-file", other, "--new-key-file", newKey}, 1, "is not the one"},
			{"NoDatabase", []string{"--database", "sqlite://" + filepath.Join(dir, "none.db"), "--master-key-file", oldKey, "--new-key-file", newKey}, 2, "no database at"},
			{"NoDefaultKey", []string{"--data", dir, "--new-key-file", newKey}, 2, "no master key"},
			{"NewKeyDirMissing", []string{"--database", dbURL, "--master-key-file", oldKey, "--new-key-file", filepath.Join(dir, "no", "new.key")}, 2, "does not exist"},
		} {
			r := runOffline(t, nil, append([]string{"ca", "rotate-master-key"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("%s: code %d, stderr %q; want %d and %q", tc.name, r.code, r.stderr, tc.code, tc.msg)
			}
		}
		if _, err := os.Stat(newKey); err == nil {
			t.Fatal("a refused rotation left a new key file")
		}
		if _, err := os.Stat(filepath.Join(dir, "master.key")); err == nil {
			t.Fatal("a refused rotation created a default master key")
		}
		if _, err := loadCA(t, db, oldKey); err != nil {
			t.Fatalf("after the refusals the old key no longer opens the database: %v", err)
		}
	})

	t.Run("Rotate", func(t *testing.T) {
		r := runOffline(t, nil, "ca", "rotate-master-key", "--database", dbURL, "--master-key-file", oldKey, "--new-key-file", newKey)
		if r.code != 0 {
			t.Fatalf("code %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if m := fileMode(t, newKey); m != 0o600 {
			t.Errorf("new key file mode = %o, want 600", m)
		}
		if !strings.Contains(r.stderr, "Generated a new master key in "+newKey) {
			t.Errorf("stderr = %q", r.stderr)
		}
		for _, s := range []string{"Rotated the master key", "--master-key-file " + newKey, "every replica"} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("stdout = %q, want %q", r.stdout, s)
			}
		}
		if _, err := loadCA(t, db, oldKey); err == nil {
			t.Error("the old key still opens the database after the rotation")
		}
		after, err := loadCA(t, db, newKey)
		if err != nil {
			t.Fatalf("the new key does not open the database: %v", err)
		}
		if after != before {
			t.Errorf("CA = %q after the rotation, want the same %q", after, before)
		}
	})

	t.Run("RotateAgainWithExistingKeyFromEnv", func(t *testing.T) {
		third := filepath.Join(dir, "third.key")
		mk, _ := masterkey.Generate()
		if err := mk.WriteFile(third); err != nil {
			t.Fatal(err)
		}
		cur, _ := os.ReadFile(newKey)
		r := runOffline(t, map[string]string{masterkey.EnvVar: strings.TrimSpace(string(cur)), "KEYWARD_DATABASE_URL": dbURL},
			"-o", "json", "ca", "rotate-master-key", "--new-key-file", third)
		if r.code != 0 {
			t.Fatalf("code %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out["new_fingerprint"] != mk.Fingerprint() || out["generated"] != false {
			t.Errorf("json = %q (%v)", r.stdout, err)
		}
		if !strings.Contains(r.stderr, "KEYWARD_MASTER_KEY") {
			t.Errorf("stderr = %q, want how to set the environment variable", r.stderr)
		}
		if _, err := loadCA(t, db, third); err != nil {
			t.Fatalf("the third key does not open the database: %v", err)
		}
	})

	t.Run("EmbeddedDefault", func(t *testing.T) {
		// With neither --master-key-file nor $KEYWARD_MASTER_KEY the key is <data>/master.key.
		data := t.TempDir()
		db := offlineDB(t, data, filepath.Join(data, "master.key"))
		next := filepath.Join(data, "master.key.new")
		r := runOffline(t, map[string]string{"KEYWARD_DATA": data}, "ca", "rotate-master-key", "--new-key-file", next)
		if r.code != 0 {
			t.Fatalf("code %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if want := "mv " + next + " " + filepath.Join(data, "master.key"); !strings.Contains(r.stdout, want) {
			t.Errorf("stdout = %q, want %q", r.stdout, want)
		}
		if _, err := loadCA(t, db, next); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCAImport(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("this test makes a CA with openssl, as the help of \"keyward ca import\" says to: apt-get install openssl")
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "master.key")
	db := offlineDB(t, dir, keyFile)
	before, err := loadCA(t, db, keyFile)
	if err != nil {
		t.Fatal(err)
	}

	// The commands of the help of "keyward ca import".
	caKey, caCert := filepath.Join(dir, "ca-key.pem"), filepath.Join(dir, "ca.pem")
	for _, args := range [][]string{
		{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", caKey},
		{"req", "-x509", "-new", "-key", caKey, "-sha256", "-days", "3650", "-subj", "/O=Example/CN=Example keyward CA",
			"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", caCert},
	} {
		if out, err := proctest.Command(t, openssl, args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	help := runOffline(t, nil, "ca", "import", "--help")
	if !strings.Contains(help.stdout, "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca-key.pem") ||
		!strings.Contains(help.stdout, `-addext "keyUsage=critical,keyCertSign,cRLSign"`) {
		t.Errorf("the help no longer shows the openssl commands this test runs:\n%s", help.stdout)
	}

	t.Run("Refusals", func(t *testing.T) {
		notCA := filepath.Join(dir, "leaf.pem")
		if out, err := proctest.Command(t, openssl, "req", "-x509", "-new", "-key", caKey, "-days", "1", "-subj", "/CN=leaf",
			"-addext", "basicConstraints=critical,CA:FALSE", "-out", notCA).CombinedOutput(); err != nil {
			t.Fatalf("openssl: %v\n%s", err, out)
		}
		r := runOffline(t, nil, "ca", "import", "--data", dir, "--cert", notCA, "--key", caKey)
		if r.code != 1 || !strings.Contains(r.stderr, "not a CA certificate") {
			t.Errorf("leaf certificate: code %d, stderr %q", r.code, r.stderr)
		}
		r = runOffline(t, nil, "ca", "import", "--data", dir, "--cert", caCert, "--key", filepath.Join(dir, "none.pem"))
		if r.code != 2 || !strings.Contains(r.stderr, "--key") {
			t.Errorf("missing key file: code %d, stderr %q", r.code, r.stderr)
		}
		if got, err := loadCA(t, db, keyFile); err != nil || got != before {
			t.Fatalf("after the refusals the CA is %q (%v), want %q", got, err, before)
		}
	})

	t.Run("Import", func(t *testing.T) {
		r := runOffline(t, nil, "ca", "import", "--data", dir, "--cert", caCert, "--key", caKey)
		if r.code != 0 {
			t.Fatalf("code %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "Imported the CA") || !strings.Contains(r.stdout, "Example keyward CA") {
			t.Errorf("stdout = %q", r.stdout)
		}
		if !strings.Contains(r.stderr, "warning: certificates issued by the previous CA no longer authenticate") {
			t.Errorf("stderr = %q, want the warning", r.stderr)
		}
		got, err := loadCA(t, db, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		if got != "CN=Example keyward CA,O=Example" {
			t.Errorf("CA = %q after the import", got)
		}
	})
}
