// Package token defines keyward's API token format, kw_<env>_<random><checksum>: 32 base62
// characters from crypto/rand (about 190 bits) and a 6-character base62 CRC32 of everything
// before it. The checksum lets a secret scanner find leaked keys by regex and lets the server
// refuse a mistyped or invented token before it touches storage.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"hash/crc32"
	"regexp"

	"github.com/keyward/keyward"
)

const (
	alphabet     = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	randomLen    = 32
	checksumLen  = 6
	startVisible = 4 // random characters kept in the display prefix
)

// Pattern matches a keyward token anywhere in text, for secret scanners.
var Pattern = regexp.MustCompile(`kw_(live|test)_[0-9A-Za-z]{38}`)

// New returns a fresh token for env. It fails only if the system's random source does.
func New(env keyward.Environment) (string, error) {
	prefix := prefixOf(env)
	buf := make([]byte, 0, len(prefix)+randomLen+checksumLen)
	buf = append(buf, prefix...)
	// Rejection sampling keeps every character uniform: 248 is the largest multiple of 62 <= 256.
	var raw [64]byte
	for len(buf) < len(prefix)+randomLen {
		if _, err := rand.Read(raw[:]); err != nil {
			return "", err
		}
		for _, b := range raw {
			if b < 248 && len(buf) < len(prefix)+randomLen {
				buf = append(buf, alphabet[b%62])
			}
		}
	}
	buf = appendChecksum(buf, crc32.ChecksumIEEE(buf))
	return string(buf), nil
}

func prefixOf(env keyward.Environment) string {
	if env == keyward.Test {
		return "kw_test_"
	}
	return "kw_live_"
}

func appendChecksum(buf []byte, sum uint32) []byte {
	var out [checksumLen]byte
	v := uint64(sum)
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = alphabet[v%62]
		v /= 62
	}
	return append(buf, out[:]...)
}

// Valid reports whether s has the token format and a matching checksum. It does not say whether
// the token was ever issued.
func Valid(s string) bool {
	_, ok := Environment(s)
	return ok
}

// Environment returns the environment named in a well-formed token and true, or false when s is
// not a well-formed token.
func Environment(s string) (keyward.Environment, bool) {
	const total = 8 + randomLen + checksumLen
	if len(s) != total || s[:3] != "kw_" || s[7] != '_' {
		return "", false
	}
	var env keyward.Environment
	switch s[3:7] {
	case "live":
		env = keyward.Live
	case "test":
		env = keyward.Test
	default:
		return "", false
	}
	for i := 8; i < total; i++ {
		if !isBase62(s[i]) {
			return "", false
		}
	}
	// The checksum's characters are the base62 digits of the CRC: reading them as a number is
	// cheaper than writing the CRC out (no divisions), and as exact.
	var sum uint64
	for i := total - checksumLen; i < total; i++ {
		sum = sum*62 + uint64(base62[s[i]])
	}
	if sum != uint64(crcString(s[:total-checksumLen])) {
		return "", false
	}
	return env, true
}

var ieee = crc32.MakeTable(crc32.IEEE)

// slicing8 are the tables of CRC-32 by eight bytes at a time (as hash/crc32 computes it without
// special instructions): a byte at a time, the checksum was a sixth of a cached verification.
var slicing8 = func() (t [8][256]uint32) {
	t[0] = *ieee
	for i := range 256 {
		crc := t[0][i]
		for j := 1; j < 8; j++ {
			crc = t[0][crc&0xff] ^ (crc >> 8)
			t[j][i] = crc
		}
	}
	return t
}()

// crcString is crc32.ChecksumIEEE over a string without converting it to a slice, which would
// allocate on every check of a presented key.
func crcString(s string) uint32 {
	t := &slicing8
	crc := ^uint32(0)
	for len(s) >= 8 {
		crc ^= uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
		crc = t[0][s[7]] ^ t[1][s[6]] ^ t[2][s[5]] ^ t[3][s[4]] ^
			t[4][crc>>24] ^ t[5][(crc>>16)&0xff] ^ t[6][(crc>>8)&0xff] ^ t[7][crc&0xff]
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		crc = t[0][byte(crc)^s[i]] ^ (crc >> 8)
	}
	return ^crc
}

// base62 is each byte's value in alphabet, -1 for a byte not in it: a lookup, where
// comparisons mispredicted on random keys.
var base62 = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = int8(i)
	}
	return t
}()

func isBase62(c byte) bool { return base62[c] >= 0 }

// Digest returns the SHA-256 of the token: the only form in which keyward stores it.
func Digest(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// Start returns the part of a token that may be shown and stored to help a person recognise it:
// the prefix and the first four random characters, about 24 of its 190 bits.
func Start(s string) string {
	if len(s) < 8+startVisible {
		return ""
	}
	return s[:8+startVisible]
}
