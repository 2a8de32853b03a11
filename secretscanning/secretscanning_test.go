package secretscanning_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/secretscanning"
)

// GitHub's documented test key, key id, payload and signature (secret scanning partner program,
// "Implement signature verification"): a verifier that accepts them speaks GitHub's format.
const (
	docKeyID   = "f9525bf080f75b3506ca1ead061add62b8633a346606dc5fe544e29231c6ee0d"
	docSig     = "MEUCIFLZzeK++IhS+y276SRk2Pe5LfDrfvTXu6iwKKcFGCrvAiEAhHN2kDOhy2I6eGkOFmxNkOJ+L2y8oQ9A2T9GGJo6WJY="
	docPayload = `[{"token":"some_token","type":"some_type","url":"some_url","source":"some_source"}]`
	docKey     = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsz9ugWDj5jK5ELBK42ynytbo38gP\nHzZFI03Exwz8Lh/tCfL3YxwMdLjB+bMznsanlhK0RwcGP3IDb34kQDIo3Q==\n-----END PUBLIC KEY-----\n"
)

func keyDoc(t *testing.T, keys map[string]string) []byte {
	t.Helper()
	type pk struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
		IsCurrent     bool   `json:"is_current"`
	}
	var doc struct {
		PublicKeys []pk `json:"public_keys"`
	}
	for id, k := range keys {
		doc.PublicKeys = append(doc.PublicKeys, pk{id, k, true})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newKey(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return priv, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func sign(t *testing.T, priv *ecdsa.PrivateKey, body string) string {
	t.Helper()
	d := sha256.Sum256([]byte(body))
	sig, err := ecdsa.SignASN1(rand.Reader, priv, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	priv, pub := newKey(t)
	other, _ := newKey(t)
	keys, err := secretscanning.Parse(keyDoc(t, map[string]string{docKeyID: docKey, "mine": pub}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys.Len(), 2; got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	body := `[{"token":"kw_live_x","type":"keyward_api_token","url":"","source":"content"}]`
	for _, tc := range []struct {
		name, id, sig, body string
		ok                  bool
	}{
		{"GitHubDocumentedVector", docKeyID, docSig, docPayload, true},
		{"GitHubVectorTamperedBody", docKeyID, docSig, strings.Replace(docPayload, "some_token", "some_tokem", 1), false},
		{"GitHubVectorTrailingNewline", docKeyID, docSig, docPayload + "\n", false},
		{"OwnKey", "mine", sign(t, priv, body), body, true},
		{"WrongKeyID", docKeyID, sign(t, priv, body), body, false},
		{"UnknownKeyID", "nope", sign(t, priv, body), body, false},
		{"EmptyKeyID", "", sign(t, priv, body), body, false},
		{"OtherKeysSignature", "mine", sign(t, other, body), body, false},
		{"NotBase64", "mine", "!!!!", body, false},
		{"EmptySignature", "mine", "", body, false},
		{"NotDER", "mine", base64.StdEncoding.EncodeToString([]byte("hello")), body, false},
		{"HugeSignature", "mine", strings.Repeat("A", 4096), body, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := keys.Verify(tc.id, tc.sig, []byte(tc.body))
			if tc.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tc.ok && !errors.Is(err, secretscanning.ErrSignature) {
				t.Fatalf("Verify = %v, want ErrSignature", err)
			}
		})
	}
	var none *secretscanning.Keys
	if err := none.Verify(docKeyID, docSig, []byte(docPayload)); !errors.Is(err, secretscanning.ErrSignature) {
		t.Fatalf("nil Keys: Verify = %v, want ErrSignature", err)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	_, rsaPEM := rsaKey(t)
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"NotJSON", `{`, "not JSON"},
		{"NoKeys", `{"public_keys":[]}`, "no public_keys"},
		{"NoID", string(keyDoc(t, map[string]string{"": docKey})), "no key_identifier"},
		{"NotPEM", string(keyDoc(t, map[string]string{"a": "hello"})), "not a PEM"},
		{"RSA", string(keyDoc(t, map[string]string{"a": rsaPEM})), "not an ECDSA P-256"},
		{"Duplicate", `{"public_keys":[{"key_identifier":"a","key":` + jsonString(docKey) + `},{"key_identifier":"a","key":` + jsonString(docKey) + `}]}`, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := secretscanning.Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(path, keyDoc(t, map[string]string{docKeyID: docKey}), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := secretscanning.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Verify(docKeyID, docSig, []byte(docPayload)); err != nil {
		t.Fatalf("Verify after Load: %v", err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, make([]byte, secretscanning.MaxKeyFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := secretscanning.Load(big); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Fatalf("Load of a huge file = %v, want a size error", err)
	}
	if _, err := secretscanning.Load(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of a missing file = %v, want ErrNotExist", err)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func rsaKey(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return priv, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}
