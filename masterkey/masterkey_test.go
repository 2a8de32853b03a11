package masterkey

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func mustGenerate(t *testing.T) *Key {
	t.Helper()
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := mustGenerate(t)
	other := mustGenerate(t)
	plain := []byte("a CA private key, say")
	blob, err := k.Seal(plain, "label-a")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, plain) {
		t.Fatal("sealed blob contains the plaintext")
	}
	if len(blob) != len(plain)+overhead || blob[0] != version1 {
		t.Fatalf("blob layout: len %d, version %d", len(blob), blob[0])
	}
	again, _ := k.Seal(plain, "label-a")
	if bytes.Equal(blob, again) {
		t.Fatal("two seals of the same plaintext are equal: nonce not random")
	}

	flip := func(i int) []byte {
		b := bytes.Clone(blob)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name    string
		key     *Key
		blob    []byte
		label   string
		wantErr error  // matched with errors.Is when set
		wantMsg string // substring of the error when set
	}{
		{name: "round trip", key: k, blob: blob, label: "label-a"},
		{name: "empty plaintext round trip", key: k, blob: mustSeal(t, k, nil, "x"), label: "x"},
		{name: "wrong key", key: other, blob: blob, label: "label-a", wantErr: ErrOpen},
		{name: "wrong label", key: k, blob: blob, label: "label-b", wantErr: ErrOpen},
		{name: "tampered nonce", key: k, blob: flip(1), label: "label-a", wantErr: ErrOpen},
		{name: "tampered ciphertext", key: k, blob: flip(1 + nonceSize + 2), label: "label-a", wantErr: ErrOpen},
		{name: "tampered tag", key: k, blob: flip(len(blob) - 1), label: "label-a", wantErr: ErrOpen},
		{name: "tampered version", key: k, blob: flip(0), label: "label-a", wantMsg: "unknown format version"},
		{name: "truncated by one", key: k, blob: blob[:len(blob)-1], label: "label-a", wantErr: ErrOpen},
		{name: "truncated below overhead", key: k, blob: blob[:overhead-1], label: "label-a", wantMsg: "truncated"},
		{name: "empty", key: k, blob: nil, label: "label-a", wantMsg: "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.key.Open(tt.blob, tt.label)
			switch {
			case tt.wantErr == nil && tt.wantMsg == "":
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if tt.name == "round trip" && !bytes.Equal(got, plain) {
					t.Fatalf("Open = %q, want %q", got, plain)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Open error = %v, want %v", err, tt.wantErr)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("Open error = %v, want one containing %q", err, tt.wantMsg)
				}
			}
		})
	}
}

func mustSeal(t *testing.T, k *Key, p []byte, label string) []byte {
	t.Helper()
	b, err := k.Seal(p, label)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckVerify(t *testing.T) {
	k := mustGenerate(t)
	other := mustGenerate(t)
	check := k.Check()
	if err := k.Verify(check); err != nil {
		t.Fatalf("Verify with the right key: %v", err)
	}
	err := other.Verify(check)
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify with another key = %v, want ErrMismatch", err)
	}
	if !strings.Contains(err.Error(), "the master key does not match the one this data was sealed with") {
		t.Fatalf("message %q is not the documented one", err)
	}
	if err := k.Verify(check[:5]); err == nil || errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify of a truncated check = %v, want a damage error", err)
	}
	// A blob sealed under another label is not a key check, even with the right key.
	if err := k.Verify(mustSeal(t, k, []byte(checkValue), "other")); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify of a foreign blob = %v", err)
	}
}

func TestReseal(t *testing.T) {
	oldKey, newKey := mustGenerate(t), mustGenerate(t)
	blob := mustSeal(t, oldKey, []byte("secret"), "l")
	re, err := Reseal(oldKey, newKey, blob, "l")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := newKey.Open(re, "l"); err != nil || string(got) != "secret" {
		t.Fatalf("Open(resealed) = %q, %v", got, err)
	}
	if _, err := oldKey.Open(re, "l"); !errors.Is(err, ErrOpen) {
		t.Fatalf("old key still opens the resealed blob: %v", err)
	}
	if _, err := Reseal(newKey, oldKey, blob, "l"); !errors.Is(err, ErrOpen) {
		t.Fatalf("Reseal with the wrong old key = %v, want ErrOpen", err)
	}
}

func TestParse(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb, 0xff, 0x3e}, 11)[:Size] // has '+', '/' in std, '-', '_' in url
	want, err := New(raw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"std padded", base64.StdEncoding.EncodeToString(raw), true},
		{"std raw", base64.RawStdEncoding.EncodeToString(raw), true},
		{"url padded", base64.URLEncoding.EncodeToString(raw), true},
		{"url raw", base64.RawURLEncoding.EncodeToString(raw), true},
		{"hex lower", hex.EncodeToString(raw), true},
		{"hex upper", strings.ToUpper(hex.EncodeToString(raw)), true},
		{"surrounding space", "  " + base64.StdEncoding.EncodeToString(raw) + "\n", true},
		{"empty", "", false},
		{"blank", " \n", false},
		{"short base64", base64.StdEncoding.EncodeToString(raw[:16]), false},
		{"long base64", base64.StdEncoding.EncodeToString(append(raw, 1)), false},
		{"64 non-hex", strings.Repeat("g", 64), false},
		{"short hex", hex.EncodeToString(raw[:31]), false},
		{"garbage", "not a key!", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Parse(tt.in)
			if !tt.ok {
				if err == nil {
					t.Fatalf("Parse(%q) succeeded", tt.in)
				}
				if tt.in != "" && strings.TrimSpace(tt.in) != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
					t.Fatalf("error %q quotes the input", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !k.Equal(want) {
				t.Fatal("parsed a different key")
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv(EnvVar, "")
	if k, ok, err := FromEnv(nil); k != nil || ok || err != nil {
		t.Fatalf("unset: %v %v %v", k, ok, err)
	}
	want := mustGenerate(t)
	t.Setenv(EnvVar, want.encode())
	if k, ok, err := FromEnv(nil); !ok || err != nil || !k.Equal(want) {
		t.Fatalf("set: %v %v %v", k, ok, err)
	}
	t.Setenv(EnvVar, "nonsense")
	if _, ok, err := FromEnv(nil); ok || err == nil || !strings.Contains(err.Error(), EnvVar) {
		t.Fatalf("bad value: %v %v", ok, err)
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "master.key")
	k1, created, err := LoadOrCreate(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate: created=%v err=%v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", st.Mode().Perm())
	}
	k2, created, err := LoadOrCreate(path)
	if err != nil || created {
		t.Fatalf("second LoadOrCreate: created=%v err=%v", created, err)
	}
	if !k1.Equal(k2) {
		t.Fatal("second LoadOrCreate returned a different key")
	}
	// Concurrent first starts agree on one key.
	path2 := filepath.Join(dir, "race.key")
	keys := make([]*Key, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, _, err := LoadOrCreate(path2)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k == nil || !k.Equal(keys[0]) {
			t.Fatal("concurrent LoadOrCreate calls disagree on the key")
		}
	}
	// A damaged file is reported, never replaced.
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("half a ke"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreate(bad); err == nil {
		t.Fatal("LoadOrCreate accepted a damaged key file")
	}
	if b, _ := os.ReadFile(bad); string(b) != "half a ke" {
		t.Fatal("LoadOrCreate overwrote a damaged key file")
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	k := mustGenerate(t)
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantMsg string
	}{
		{name: "0600 base64", content: k.encode() + "\n", mode: 0o600},
		{name: "0400 hex", content: hex.EncodeToString(mustRaw(t, k)), mode: 0o400},
		{name: "0644 refused", content: k.encode(), mode: 0o644, wantMsg: "chmod 600"},
		{name: "0640 refused", content: k.encode(), mode: 0o640, wantMsg: "group or others"},
		{name: "bad content", content: "xyz", mode: 0o600, wantMsg: "neither base64"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprint(i))
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			got, err := LoadFile(path)
			if tt.wantMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("LoadFile error = %v, want one containing %q", err, tt.wantMsg)
				}
				if strings.Contains(err.Error(), k.encode()) {
					t.Fatal("error reveals the key")
				}
				return
			}
			if err != nil || !got.Equal(k) {
				t.Fatalf("LoadFile = %v, %v", got, err)
			}
		})
	}
	if _, err := LoadFile(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("LoadFile of a missing file succeeded")
	}
	if err := k.WriteFile(filepath.Join(dir, "0")); err == nil {
		t.Fatal("WriteFile overwrote an existing file")
	}
}

func mustRaw(t *testing.T, k *Key) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(k.encode())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFormattingHidesKey(t *testing.T) {
	k := mustGenerate(t)
	raw := mustRaw(t, k)
	secrets := []string{
		hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw)),
		base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw),
		string(raw), fmt.Sprint(raw), fmt.Sprintf("%v", [Size]byte(raw)),
		// A run of the key's bytes as Go prints a byte array or slice, in part.
		strings.Trim(fmt.Sprint(raw[:8]), "[]"),
	}
	var logBuf bytes.Buffer
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("loaded", "key", k)
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("loaded", "key", k)
	outputs := map[string]string{"log": logBuf.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outputs[verb] = fmt.Sprintf(verb, k)
		outputs["value "+verb] = fmt.Sprintf(verb, *k)
		outputs["in struct "+verb] = fmt.Sprintf(verb, struct{ K *Key }{k})
	}
	outputs["String"] = k.String()
	outputs["GoString"] = k.GoString()
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s output %q contains the key", name, out)
			}
		}
	}
	if want := "masterkey(fingerprint " + k.Fingerprint() + ")"; k.String() != want || len(k.Fingerprint()) != 16 {
		t.Errorf("String = %q, want %q with a 16-digit fingerprint", k.String(), want)
	}
	if fmt.Sprintf("%v", k) != k.String() {
		t.Errorf("%%v = %q", fmt.Sprintf("%v", k))
	}
}
