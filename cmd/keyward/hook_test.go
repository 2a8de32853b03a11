package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/keyward/keyward"
)

// TestHookEndToEnd drives webhooks through the CLI against a real `keyward serve`: the server's
// own dispatcher delivers each change, signed, to a receiver that verifies with the Standard
// Webhooks library; a rolled secret signs what follows.
func TestHookEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "data"), "--bootstrap-token-file", filepath.Join(dir, "tok"),
		"--webhook-allow-private") // the receiver is on loopback
	defer srv.stop(t)
	raw, err := os.ReadFile(filepath.Join(dir, "tok"))
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(raw))

	var (
		mu     sync.Mutex
		secret string
		got    = map[string]keyward.WebhookPayload{} // by webhook-id: duplicates dropped
		bad    []string
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(secret)
		if err == nil {
			err = wh.Verify(body, r.Header)
		}
		if err != nil {
			bad = append(bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p keyward.WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			bad = append(bad, err.Error())
		}
		got[r.Header.Get(standardwebhooks.HeaderWebhookID)] = p
	}))
	defer recv.Close()
	wait := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			k := len(got)
			mu.Unlock()
			if k >= n {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("the receiver got %d webhooks, want %d (refused: %v)", len(got), n, bad)
	}
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := cli(t, srv, tok, "", args...)
		if code != 0 {
			t.Fatalf("keyward %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}

	run("project", "create", "acme")
	if _, errOut, code := cli(t, srv, tok, "", "hook", "create", "acme"); code != 2 || !strings.Contains(errOut, "--url") {
		t.Fatalf("hook create without --url: exit %d, %s", code, errOut)
	}
	if _, errOut, code := cli(t, srv, tok, "", "hook", "create", "acme", "--url", "ftp://x", "--type", "credential.created"); code != 1 || !strings.Contains(errOut, "url") {
		t.Fatalf("hook create with an ftp URL: exit %d, %s", code, errOut)
	}
	var created keyward.WebhookWithSecret
	if err := json.Unmarshal([]byte(run("-o", "json", "hook", "create", "acme", "--url", recv.URL+"/in",
		"--type", "credential.created,credential.revoked")), &created); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Secret, "whsec_") || len(created.Types) != 2 {
		t.Fatalf("hook create = %+v", created.WebhookEndpoint)
	}
	id := strconv.FormatInt(created.ID, 10)
	mu.Lock()
	secret = created.Secret
	mu.Unlock()

	run("key", "create", "acme", "--name", "ci")
	wait(1)
	run("key", "revoke", "acme", "ci")
	wait(2)
	if out := run("hook", "deliveries", "acme", id); strings.Count(out, "delivered") != 2 {
		t.Fatalf("hook deliveries:\n%s", out)
	}
	if out := run("hook", "list", "acme"); !strings.Contains(out, recv.URL) || !strings.Contains(out, "enabled") {
		t.Fatalf("hook list:\n%s", out)
	}

	// A rolled secret signs the next delivery.
	out := run("hook", "roll-secret", "acme", id)
	mu.Lock()
	secret = lastLine(out)
	mu.Unlock()
	run("key", "create", "acme", "--name", "ci2")
	wait(3)
	mu.Lock()
	refused := slices.Clone(bad)
	types := map[string]int{}
	for _, p := range got {
		types[p.Type+" "+p.Data.Project]++
	}
	mu.Unlock()
	if len(refused) != 0 {
		t.Fatalf("the receiver refused deliveries: %v", refused)
	}
	if types["credential.created acme"] != 2 || types["credential.revoked acme"] != 1 || len(types) != 2 {
		t.Fatalf("webhooks received: %v", types)
	}
	run("hook", "update", "acme", id, "--disable")
	run("hook", "delete", "acme", id)
}
