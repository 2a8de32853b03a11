package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyward/keyward/version"
)

// `keyward version` and `--version` need no server and print this build.
func TestVersion(t *testing.T) {
	want := "keyward " + version.Get().String() + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errb bytes.Buffer
		if code := run(args, strings.NewReader(""), &out, &errb); code != 0 || out.String() != want {
			t.Errorf("%v: exit %d, %q (stderr %q); want 0, %q", args, code, out.String(), errb.String(), want)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"version", "-o", "json"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var in version.Info
	if err := json.Unmarshal(out.Bytes(), &in); err != nil || in.Version == "" || in.GoVersion == "" {
		t.Fatalf("json %s: %+v, %v", out.String(), in, err)
	}
}
