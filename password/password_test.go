package password

import (
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

var fast = Params{Memory: 1024, Time: 1, Threads: 1}

func TestHashCheck(t *testing.T) {
	h, err := Hash("correct horse battery", fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash = %q", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("the hash contains the password")
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"correct horse battery", true},
		{"correct horse batterY", false},
		{"", false},
	} {
		got, err := Check(tc.pw, h)
		if err != nil || got != tc.want {
			t.Errorf("Check(%q) = %v, %v; want %v", tc.pw, got, err, tc.want)
		}
	}
	h2, _ := Hash("correct horse battery", fast)
	if h == h2 {
		t.Fatal("two hashes of one password share a salt")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=x$AA$AA", "plain"} {
		if _, err := Check("x", bad); err == nil {
			t.Errorf("Check accepted malformed %q", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		pw, name string
		ok       bool
	}{
		{"a long enough passphrase", "alice", true},
		{"short", "alice", false},
		{"alice-is-my-password", "alice", false},
		{"ALICEALICEALICE", "alice", false},
		{strings.Repeat("x", MaxLength+1), "bob", false},
		{"\xff\xfe invalid utf8 ok?", "bob", false},
	} {
		err := Validate(tc.pw, tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("Validate(%q, %q) = %v, want ok=%v", tc.pw, tc.name, err, tc.ok)
		}
		if err != nil && keyward.ErrorCode(err) != keyward.EInvalid {
			t.Errorf("Validate error code = %s", keyward.ErrorCode(err))
		}
	}
}
