// Package masterkey holds the 32-byte master key that seals keyward's stored secrets (the CA
// private keys first of all) with AES-256-GCM.
//
// A sealed blob is
//
//	version (1 byte) || nonce (12 bytes) || ciphertext || GCM tag (16 bytes)
//
// The version byte lets the format evolve without guessing; it is also authenticated. Every
// blob is sealed under a label chosen by the caller ("keyward-ca-key:signing", say) that is
// bound in as GCM associated data, so a blob sealed for one purpose cannot be moved into
// another purpose's slot and opened there.
//
// The key comes from the KEYWARD_MASTER_KEY environment variable ([FromEnv]), from a file
// ([LoadFile]) or, for the embedded default, from a 0600 file in the data directory that is
// created on first start ([LoadOrCreate]). A [Key] never reveals itself through fmt, slog or
// %v: it prints as a short fingerprint. Store [Key.Check] next to sealed data and call
// [Key.Verify] on start, so that a server started with the wrong key refuses to run instead of
// failing on first use or, worse, sealing new data under a second key.
package masterkey

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Size is the length of a master key in bytes (AES-256).
const Size = 32

// EnvVar is the environment variable [FromEnv] reads.
const EnvVar = "KEYWARD_MASTER_KEY"

const (
	version1  = byte(1)
	nonceSize = 12
	tagSize   = 16
	// overhead is what sealing adds to a plaintext.
	overhead = 1 + nonceSize + tagSize

	checkLabel = "keyward-master-key-check"
	checkValue = "keyward master key check v1"
)

var (
	// ErrOpen is returned by [Key.Open] when a blob does not authenticate: it was sealed under
	// another key or another label, or it was altered. GCM cannot tell these apart, and neither
	// can we.
	ErrOpen = errors.New("masterkey: cannot open sealed data: it was sealed with another master key or label, or it was altered")

	// ErrMismatch is returned by [Key.Verify] when the stored key check was sealed under
	// another key. A server must refuse to start on it and change nothing.
	ErrMismatch = errors.New("masterkey: the master key does not match the one this data was sealed with")
)

// Key is a master key. Its zero value is not usable; get one from [Generate], [New], [Parse],
// [FromEnv], [LoadFile] or [LoadOrCreate]. A Key is safe for concurrent use.
type Key struct {
	key  [Size]byte
	aead cipher.AEAD
	fp   string
}

// Generate returns a new random key from crypto/rand.
func Generate() (*Key, error) {
	var b [Size]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		return nil, fmt.Errorf("masterkey: reading random bytes: %w", err)
	}
	return New(b[:])
}

// New returns the key made of raw, which must be exactly [Size] bytes. raw is copied.
func New(raw []byte) (*Key, error) {
	if len(raw) != Size {
		return nil, fmt.Errorf("masterkey: a master key is %d bytes, got %d", Size, len(raw))
	}
	k := &Key{}
	copy(k.key[:], raw)
	block, err := aes.NewCipher(k.key[:])
	if err != nil {
		return nil, fmt.Errorf("masterkey: %w", err)
	}
	if k.aead, err = cipher.NewGCM(block); err != nil {
		return nil, fmt.Errorf("masterkey: %w", err)
	}
	// The fingerprint is domain-separated so that it is not simply "the SHA-256 of the key"
	// that some other system might also publish; 8 bytes are enough to tell keys apart.
	h := sha256.Sum256(append([]byte("keyward-masterkey-fingerprint\x00"), k.key[:]...))
	k.fp = hex.EncodeToString(h[:8])
	return k, nil
}

// Parse reads a key written as base64 (standard or URL alphabet, padded or not) or as 64
// hexadecimal digits; surrounding white space is ignored. Errors never quote the input, since
// it may be a key with a typo in it.
func Parse(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("masterkey: the master key is empty")
	}
	// 64 hex digits cannot be base64 of 32 bytes (that is 43 or 44 characters), so the
	// length alone decides which encoding to try first and nothing is ambiguous.
	if len(s) == 2*Size {
		raw, err := hex.DecodeString(s)
		if err != nil {
			return nil, errors.New("masterkey: a 64-character master key must be hexadecimal")
		}
		return New(raw)
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		if raw, err := enc.Strict().DecodeString(s); err == nil {
			if len(raw) != Size {
				return nil, fmt.Errorf("masterkey: the master key decodes to %d bytes, want %d (generate one with: openssl rand -base64 32)", len(raw), Size)
			}
			return New(raw)
		}
	}
	return nil, errors.New("masterkey: the master key is neither base64 nor 64 hexadecimal digits (generate one with: openssl rand -base64 32)")
}

// FromEnv reads the key from the environment variable [EnvVar] through getenv (os.Getenv when
// nil). ok is false, with a nil error, when the variable is unset or empty, so that the caller
// can fall back to a file.
func FromEnv(getenv func(string) string) (key *Key, ok bool, err error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	s := getenv(EnvVar)
	if strings.TrimSpace(s) == "" {
		return nil, false, nil
	}
	key, err = Parse(s)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", EnvVar, err)
	}
	return key, true, nil
}

// LoadFile reads a key file written by [LoadOrCreate] or [Key.WriteFile], or by hand in any
// format [Parse] accepts. It refuses a file that group or others may read: a master key that
// other local users can read protects nothing.
func LoadFile(path string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("masterkey: %w", err)
	}
	defer f.Close()
	// Stat the open file rather than the path, so that the mode checked is the mode of the
	// file actually read.
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("masterkey: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("masterkey: %s is not a regular file", path)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("masterkey: %s is accessible by group or others (mode %04o); a master key file must be private: chmod 600 %s",
			path, st.Mode().Perm(), path)
	}
	// A key file is under 100 bytes; reading at most 4 KiB keeps a wrong path (a log file,
	// a device) from being slurped whole.
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("masterkey: reading %s: %w", path, err)
	}
	k, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, nil
}

// LoadOrCreate loads the key file at path, or, when there is none, creates it with a new
// random key and mode 0600 (its directory with 0700 when missing). created tells which
// happened, so that the caller can log that a new key was made (and where, never what).
//
// The file is created with O_EXCL: two processes starting at once cannot both create a key,
// and an existing file, even a damaged one, is never overwritten, since replacing a master key
// makes everything sealed under it unreadable.
func LoadOrCreate(path string) (key *Key, created bool, err error) {
	key, err = LoadFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("masterkey: %w", err)
	}
	key, err = Generate()
	if err != nil {
		return nil, false, err
	}
	if err := key.WriteFile(path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Someone else created it between our load and our create: use theirs.
			key, err = LoadFile(path)
			return key, false, err
		}
		return nil, false, err
	}
	return key, true, nil
}

// WriteFile writes the key, base64-encoded, to a new file at path with mode 0600. It fails
// (with an error matching fs.ErrExist) if path exists, so it can never overwrite another key.
// A partly written file is removed.
func (k *Key) WriteFile(path string) error {
	// Write a complete private file under a temporary name, then link it into place: link fails
	// if path exists, and whoever sees path sees the whole key, never a half-written file.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".masterkey-*")
	if err != nil {
		return fmt.Errorf("masterkey: %w", err)
	}
	defer os.Remove(tmp.Name())
	werr := tmp.Chmod(0o600)
	if werr == nil {
		_, werr = tmp.WriteString(k.encode() + "\n")
	}
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("masterkey: writing %s: %w", path, werr)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("masterkey: %w", err)
	}
	return nil
}

func (k *Key) encode() string { return base64.StdEncoding.EncodeToString(k.key[:]) }

// Fingerprint returns a short, non-secret identifier of the key: 16 hex digits of a
// domain-separated SHA-256 of it. Two keys with the same fingerprint are the same key.
func (k *Key) Fingerprint() string { return k.fp }

// String describes the key by its fingerprint; it never shows the key.
func (k Key) String() string { return "masterkey(fingerprint " + k.fp + ")" }

// GoString is String, so that %#v does not dump the struct (and the key in it).
func (k Key) GoString() string { return k.String() }

// Format makes every fmt verb (%v, %+v, %s, %x, %q...) print String, so that no formatting
// of a Key, even a mistaken one, shows the key bytes. These methods have value receivers so
// that they also cover a Key copied out of its pointer.
func (k Key) Format(f fmt.State, verb rune) { io.WriteString(f, k.String()) }

// LogValue keeps log/slog from reflecting into the key.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Equal reports whether k and other are the same key, in constant time.
func (k *Key) Equal(other *Key) bool {
	return other != nil && subtle.ConstantTimeCompare(k.key[:], other.key[:]) == 1
}

// Seal encrypts and authenticates plaintext under the key, bound to label. The result is
// fresh each call (random nonce) and is opened by [Key.Open] with the same label only.
func (k *Key) Seal(plaintext []byte, label string) ([]byte, error) {
	out := make([]byte, 1+nonceSize, len(plaintext)+overhead)
	out[0] = version1
	if _, err := io.ReadFull(rand.Reader, out[1:]); err != nil {
		return nil, fmt.Errorf("masterkey: reading random nonce: %w", err)
	}
	// A random 96-bit nonce is safe for far more seals than keyward will ever make with one
	// key (the bound is about 2^32).
	return k.aead.Seal(out, out[1:1+nonceSize], plaintext, associatedData(version1, label)), nil
}

// Open authenticates and decrypts a blob made by [Key.Seal] with the same label. It returns
// [ErrOpen] when the key or label is wrong or the blob was altered, and a descriptive error
// when the blob is too short or of an unknown version.
func (k *Key) Open(blob []byte, label string) ([]byte, error) {
	if len(blob) < overhead {
		return nil, fmt.Errorf("masterkey: sealed data is truncated (%d bytes, at least %d expected)", len(blob), overhead)
	}
	if blob[0] != version1 {
		return nil, fmt.Errorf("masterkey: sealed data has unknown format version %d", blob[0])
	}
	pt, err := k.aead.Open(nil, blob[1:1+nonceSize], blob[1+nonceSize:], associatedData(blob[0], label))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// associatedData binds the version byte and the label. The version is authenticated so that a
// future format cannot be confused with this one by flipping the first byte.
func associatedData(version byte, label string) []byte {
	return append([]byte{version}, label...)
}

// Check returns a sealed known value to store beside data sealed under k. Later, [Key.Verify]
// on it tells whether the key in hand is the one that data was sealed with.
func (k *Key) Check() []byte {
	b, err := k.Seal([]byte(checkValue), checkLabel)
	if err != nil {
		// Only a failing system random source gets here, and nothing can be sealed safely
		// then; failing loudly beats storing a check that cannot be verified.
		panic(err)
	}
	return b
}

// Verify reports whether check, made by [Key.Check], was made with k. It returns
// [ErrMismatch] when it was made with another key, and another error when check is damaged.
func (k *Key) Verify(check []byte) error {
	pt, err := k.Open(check, checkLabel)
	switch {
	case errors.Is(err, ErrOpen):
		return ErrMismatch
	case err != nil:
		return fmt.Errorf("masterkey: the stored master key check is damaged: %w", err)
	case string(pt) != checkValue:
		return errors.New("masterkey: the stored master key check holds an unexpected value")
	}
	return nil
}

// Reseal opens blob with oldKey and seals it again with newKey, under the same label: the step
// `keyward ca rotate-master-key` takes for each sealed value. The plaintext is cleared before
// returning.
func Reseal(oldKey, newKey *Key, blob []byte, label string) ([]byte, error) {
	pt, err := oldKey.Open(blob, label)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return newKey.Seal(pt, label)
}
