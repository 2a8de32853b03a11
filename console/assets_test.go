package console

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"path"
	"sort"
	"strings"
	"testing"
)

// manifest is console/static/vendor/manifest.json: what scripts/vendor-assets.sh copied from
// which npm package.
type manifest struct {
	Packages []struct {
		Name, Version, License, Integrity string
		Files                             []struct{ From, To, Sha256 string }
	}
}

// TestVendoredAssets fails when a committed third-party file and the manifest disagree: a file
// changed by hand, one listed and missing, or one served and not listed.
func TestVendoredAssets(t *testing.T) {
	raw, err := staticFS.ReadFile("static/vendor/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{"manifest.json": true}
	for _, p := range m.Packages {
		if p.Name == "" || p.Version == "" || !strings.HasPrefix(p.Integrity, "sha512-") || p.License == "" {
			t.Errorf("package %q: name, version, license and an npm sha512 integrity are required", p.Name)
		}
		for _, f := range p.Files {
			listed[f.To] = true
			b, err := staticFS.ReadFile(path.Join("static/vendor", f.To))
			if err != nil {
				t.Errorf("%s@%s: %s is listed but not committed: run scripts/vendor-assets.sh --write", p.Name, p.Version, f.To)
				continue
			}
			sum := sha256.Sum256(b)
			if got := hex.EncodeToString(sum[:]); got != f.Sha256 {
				t.Errorf("%s@%s: %s has sha256 %s, the manifest says %s: run scripts/vendor-assets.sh", p.Name, p.Version, f.To, got, f.Sha256)
			}
		}
	}
	var unlisted []string
	fs.WalkDir(staticFS, "static/vendor", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if rel := strings.TrimPrefix(p, "static/vendor/"); !listed[rel] {
			unlisted = append(unlisted, rel)
		}
		return nil
	})
	sort.Strings(unlisted)
	if len(unlisted) > 0 {
		t.Errorf("vendored files not in the manifest: %v", unlisted)
	}
}

// TestPagesParse renders nothing but fails when a page's template does not parse with the
// layout (parsePages panics then).
func TestPagesParse(t *testing.T) {
	pages := parsePages()
	for _, name := range []string{"login.html", "projects.html", "credentials.html", "credential.html", "new.html",
		"issued.html", "revoke.html", "members.html", "users.html", "user.html", "roles.html", "clusters.html",
		"audit.html", "account.html", "error.html"} {
		if pages[name] == nil {
			t.Errorf("no page %s", name)
		}
	}
}
