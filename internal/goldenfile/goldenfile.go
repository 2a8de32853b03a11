// Package goldenfile compares what a test produced with a file kept in the repository (a golden
// response of a contract test, a generated document), and rewrites the file instead when the
// test runs with -update.
package goldenfile

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files with what the tests produce")

// Check fails t unless the file at path holds got; with -update it writes got there (and the
// directories it needs) and passes.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date (go test -update rewrites it):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}
