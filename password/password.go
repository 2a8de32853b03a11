// Package password hashes and checks user passwords with argon2id, in the PHC string format
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash), and holds the password policy.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/keyward/keyward"
)

// Params are argon2id's cost parameters. The defaults follow OWASP's recommendation for
// argon2id (19 MiB, 2 passes, 1 lane): about 20-40 ms on a server core.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// Default is the cost new hashes use.
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
	// MinLength and MaxLength bound a password, in characters and bytes respectively.
	MinLength = 12
	MaxLength = 256
)

// Hash returns the PHC string of password under p with a fresh random salt.
func Hash(password string, p Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errFormat = errors.New("password: not an argon2id hash")

// Check reports whether password matches the PHC string encoded, comparing in constant time.
func Check(password, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errFormat
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errFormat
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false, errFormat
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errFormat
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errFormat
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Validate applies the password policy for user name: at least MinLength characters, at most
// MaxLength bytes, valid UTF-8, and neither the user name nor containing it.
func Validate(password, name string) error {
	switch {
	case !utf8.ValidString(password):
		return keyward.Invalid("password", "must be valid UTF-8")
	case utf8.RuneCountInString(password) < MinLength:
		return keyward.Invalid("password", fmt.Sprintf("must be at least %d characters", MinLength))
	case len(password) > MaxLength:
		return keyward.Invalid("password", fmt.Sprintf("must be at most %d bytes", MaxLength))
	case name != "" && strings.Contains(strings.ToLower(password), strings.ToLower(name)):
		return keyward.Invalid("password", "must not contain the user name")
	}
	return nil
}
