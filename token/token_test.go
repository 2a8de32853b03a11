package token

import (
	"hash/crc32"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

func TestNew(t *testing.T) {
	for _, env := range []keyward.Environment{keyward.Live, keyward.Test} {
		t.Run(string(env), func(t *testing.T) {
			seen := map[string]bool{}
			for i := 0; i < 200; i++ {
				tok, err := New(env)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := len(tok), 46; got != want {
					t.Fatalf("len = %d, want %d", got, want)
				}
				if !strings.HasPrefix(tok, "kw_"+string(env)+"_") {
					t.Fatalf("token %q lacks its prefix", tok)
				}
				got, ok := Environment(tok)
				if !ok || got != env {
					t.Fatalf("Environment(%q) = %q, %v", tok, got, ok)
				}
				if !Pattern.MatchString(tok) {
					t.Fatalf("Pattern misses %q", tok)
				}
				if seen[tok] {
					t.Fatalf("duplicate token %q", tok)
				}
				seen[tok] = true
			}
		})
	}
}

// Every single-character substitution, deletion and insertion must be refused.
func TestSingleEditsRejected(t *testing.T) {
	tok, err := New(keyward.Live)
	if err != nil {
		t.Fatal(err)
	}
	chars := alphabet + "_-"
	for i := 0; i < len(tok); i++ {
		for j := 0; j < len(chars); j++ {
			if chars[j] == tok[i] {
				continue
			}
			edited := tok[:i] + string(chars[j]) + tok[i+1:]
			if Valid(edited) {
				t.Fatalf("substitution at %d (%q) accepted: %q", i, chars[j], edited)
			}
		}
		if Valid(tok[:i] + tok[i+1:]) {
			t.Fatalf("deletion at %d accepted", i)
		}
		if Valid(tok[:i] + "a" + tok[i:]) {
			t.Fatalf("insertion at %d accepted", i)
		}
	}
}

func TestValidRejects(t *testing.T) {
	tok, _ := New(keyward.Test)
	for name, s := range map[string]string{
		"empty":        "",
		"prefix only":  "kw_live_",
		"wrong env":    "kw_prod_" + tok[8:],
		"swapped env":  "kw_live_" + tok[8:], // the checksum covers the environment
		"lower prefix": "KW" + tok[2:],
		"too long":     tok + "0",
		"non-base62":   tok[:20] + "+" + tok[21:],
	} {
		t.Run(name, func(t *testing.T) {
			if Valid(s) {
				t.Fatalf("Valid(%q) = true", s)
			}
		})
	}
}

func TestDigestAndStart(t *testing.T) {
	tok, _ := New(keyward.Live)
	if got, want := len(Digest(tok)), 32; got != want {
		t.Fatalf("digest len = %d, want %d", got, want)
	}
	if string(Digest(tok)) == string(Digest(tok[:45]+"x")) {
		t.Fatal("different tokens share a digest")
	}
	if got, want := Start(tok), tok[:12]; got != want {
		t.Fatalf("Start = %q, want %q", got, want)
	}
}

func FuzzEnvironment(f *testing.F) {
	tok, _ := New(keyward.Live)
	f.Add(tok)
	f.Add("kw_test_")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		env, ok := Environment(s)
		if !ok {
			return
		}
		// Anything accepted must have the exact shape and a recomputable checksum.
		if len(s) != 46 || !Pattern.MatchString(s) || !strings.HasPrefix(s, "kw_"+string(env)+"_") {
			t.Fatalf("accepted malformed %q", s)
		}
	})
}

func BenchmarkValid(b *testing.B) {
	tok, _ := New(keyward.Live)
	b.ReportAllocs()
	for b.Loop() {
		if !Valid(tok) {
			b.Fatal("invalid")
		}
	}
}

func TestCRCString(t *testing.T) {
	for i := 0; i < 200; i++ {
		tok, _ := New(keyward.Live)
		s := tok[:i%len(tok)]
		if got, want := crcString(s), crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Fatalf("crcString(%q) = %08x, want %08x", s, got, want)
		}
	}
}
