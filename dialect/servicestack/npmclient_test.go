package servicestack

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/proctest"
)

// npmClient is the ServiceStack client users already have, as its npm package ships it.
const npmClient = "@servicestack/client@2.1.13"

// TestRealServiceStackClient drives the dialect with ServiceStack's own JavaScript client,
// JsonServiceClient from npm, over its predefined routes: post() and api() of the seed's request
// DTO regenerate the caller's keys, and an unknown DTO gets ServiceStack's error shape, which
// the client reads as a ResponseStatus.
func TestRealServiceStackClient(t *testing.T) {
	node := nodeWithClient(t)
	s := startStack(t, Options{})
	s.project(t, "acme", false)
	par := s.user(t, "par", "acme:Partner")

	script := `
const { JsonServiceClient } = require('@servicestack/client');
class RegenerateApiKeyRequest {
  constructor(init) { Object.assign(this, init); }
  getTypeName() { return 'RegenerateApiKeyRequest'; }
  getMethod() { return 'POST'; }
  createResponse() { return {}; }
}
class NoSuchRequest {
  getTypeName() { return 'NoSuchRequest'; }
  getMethod() { return 'POST'; }
  createResponse() { return {}; }
}
(async () => {
  const client = new JsonServiceClient(process.env.BASE_URL);
  client.bearerToken = process.env.TOKEN;
  const posted = await client.post(new RegenerateApiKeyRequest({ Environment: 'live' }));
  const api = await client.api(new RegenerateApiKeyRequest({ Environment: 'test' }));
  const unknown = await client.api(new NoSuchRequest());
  console.log(JSON.stringify({
    posted: (posted.Results || []).map(k => k.Key.slice(0, 8) + ' ' + k.KeyType),
    api: { succeeded: api.succeeded, keys: ((api.response || {}).Results || []).map(k => k.Key.slice(0, 8) + ' ' + k.KeyType) },
    unknown: { failed: unknown.failed, errorCode: (unknown.error || {}).errorCode, message: (unknown.error || {}).message },
  }));
})().catch(e => { console.error(e && (e.responseStatus || e.message || e)); process.exit(1); });
`
	dir := t.TempDir()
	path := filepath.Join(dir, "client.cjs")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := proctest.CommandContext(t, ctx, node.bin, path)
	cmd.Env = append(os.Environ(), "NODE_PATH="+node.modules, "BASE_URL="+s.url, "TOKEN="+par)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node: %v\n%s%s", err, out, stderr)
	}
	var got struct {
		Posted []string
		API    struct {
			Succeeded bool
			Keys      []string
		}
		Unknown struct {
			Failed    bool
			ErrorCode string
			Message   string
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("client output %s: %v", out, err)
	}
	if want := []string{"kw_live_ secret", "kw_live_ publishable"}; strings.Join(got.Posted, ",") != strings.Join(want, ",") {
		t.Errorf("post() keys %v, want %v", got.Posted, want)
	}
	if want := []string{"kw_test_ secret", "kw_test_ publishable"}; !got.API.Succeeded || strings.Join(got.API.Keys, ",") != strings.Join(want, ",") {
		t.Errorf("api() = %+v, want success with %v", got.API, want)
	}
	if !got.Unknown.Failed || got.Unknown.ErrorCode != "NotFound" {
		t.Errorf("an unknown request: %+v, want a NotFound ResponseStatus", got.Unknown)
	}
}

type nodeClient struct{ bin, modules string }

// nodeWithClient returns node and a node_modules holding npmClient, installed once per machine
// into a cache directory (a failed or concurrent install never leaves a half-filled one).
func nodeWithClient(t *testing.T) nodeClient {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is needed by this test: apt-get install nodejs npm")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("npm is needed by this test: apt-get install npm")
	}
	cache := filepath.Join(os.TempDir(), "keyward-test-npm", strings.NewReplacer("@", "", "/", "-").Replace(npmClient))
	modules := filepath.Join(cache, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "@servicestack", "client", "package.json")); err == nil {
		return nodeClient{node, modules}
	}
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(cache), "install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := proctest.CommandContext(t, ctx, npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", tmp, npmClient)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install %s: %v\n%s", npmClient, err, out)
	}
	if err := os.Rename(tmp, cache); err != nil && !os.IsExist(err) {
		if _, serr := os.Stat(filepath.Join(modules, "@servicestack", "client", "package.json")); serr != nil {
			t.Fatal(fmt.Errorf("caching the npm install: %w", err))
		}
	}
	return nodeClient{node, modules}
}
