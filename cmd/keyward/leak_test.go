package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/postgrestest"
	"github.com/keyward/keyward/secretscanning"
	"github.com/keyward/keyward/token"
)

// githubSigner signs leak reports as GitHub's secret scanning does, with a key whose public
// half is in a --leak-report-keys file.
type githubSigner struct {
	priv    *ecdsa.PrivateKey
	id      string
	keyFile string
}

func newGitHubSigner(t *testing.T) *githubSigner {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	s := &githubSigner{priv: priv, id: randomName("key-"), keyFile: filepath.Join(t.TempDir(), "github-keys.json")}
	doc := map[string]any{"public_keys": []map[string]any{{
		"key_identifier": s.id, "is_current": true,
		"key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
	}}}
	b, _ := json.Marshal(doc)
	if err := os.WriteFile(s.keyFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// report posts a signed partner report of tokens to srv and returns when the answer arrived.
func (s *githubSigner) report(t *testing.T, srv *server, tokens ...string) (string, time.Time) {
	t.Helper()
	var matches []map[string]string
	for _, tok := range tokens {
		matches = append(matches, map[string]string{"token": tok, "type": "keyward_api_token", "url": "https://github.com/o/r/blob/c/.env", "source": "content"})
	}
	body, _ := json.Marshal(matches)
	d := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, s.priv, d[:])
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", srv.url+"/v1/leaks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(secretscanning.HeaderKeyID, s.id)
	req.Header.Set(secretscanning.HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	at := time.Now()
	if resp.StatusCode != 200 {
		t.Fatalf("signed report: %d %s", resp.StatusCode, out)
	}
	return string(out), at
}

// TestLeakReplicas: a key reported by GitHub's secret scanning to one replica is refused by
// that replica as soon as the report is answered, and by a second replica sharing the database
// within a second.
func TestLeakReplicas(t *testing.T) {
	pg := postgrestest.SchemaURL(t, postgrestest.URL(t))
	keyFile := sharedMasterKey(t)
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	signer := newGitHubSigner(t)
	common := []string{"--database", pg, "--master-key-file", keyFile, "--leak-report-keys", signer.keyFile}
	a := startServer(t, t.TempDir(), append([]string{"--bootstrap-token-file", tokenFile}, common...)...)
	admin := readToken(t, tokenFile, a)
	b := startServer(t, t.TempDir(), common...)
	onA := client.New(a.url, admin)
	if _, err := onA.CreateProject(context.Background(), keyward.CreateProjectInput{Slug: "acme"}); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < 3; i++ {
		key := createKey(t, onA, "acme", fmt.Sprintf("leaky-%d", i))
		for _, srv := range []*server{a, b} {
			mustCode(t, hc, srv, admin, key, keyward.CodeValid) // warms both caches
		}
		body, answered := signer.report(t, a, key)
		if !strings.Contains(body, `"true_positive"`) || strings.Contains(body, "acme") || strings.Contains(body, "leaky") {
			t.Fatalf("answer %s", body)
		}
		mustCode(t, hc, a, admin, key, keyward.CodeRevoked) // at once, where the report was made
		at := waitFor(t, hc, b, admin, key, keyward.CodeRevoked, time.Second)
		t.Logf("round %d: replica B refused the leaked key %s after the report was answered", i, max(0, at.Sub(answered)).Round(time.Microsecond))
	}
	// The audit trail has one credential.leaked event per key, whichever replica is asked.
	events, err := client.New(b.url, admin).ListEvents(context.Background(), client.ListEventsOptions{Project: "acme", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range events.Items {
		if ev.Action == "credential.leaked" {
			n++
			if ev.Detail["reporter"] != "github" || ev.Detail["action"] != "revoke" || ev.Detail["source"] != "content" {
				t.Errorf("event detail %v", ev.Detail)
			}
		}
	}
	if n != 3 {
		t.Fatalf("%d credential.leaked events, want 3", n)
	}
}

// TestScanAndReport: "keyward scan" finds a valid token and not its lookalike, prints it masked,
// exits 1; "--report" revokes it through the server, and "keyward leak report" says it is known.
func TestScanAndReport(t *testing.T) {
	data := t.TempDir()
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	srv := startServer(t, data, "--bootstrap-token-file", tokenFile)
	admin := readToken(t, tokenFile, srv)
	c := client.New(srv.url, admin)
	if _, err := c.CreateProject(context.Background(), keyward.CreateProjectInput{Slug: "acme"}); err != nil {
		t.Fatal(err)
	}
	key := createKey(t, c, "acme", "in-a-file")
	lookalike := key[:len(key)-1] + map[bool]string{true: "B", false: "A"}[key[len(key)-1] == 'A']
	dir := t.TempDir()
	leaky := filepath.Join(dir, "app.env")
	clean := filepath.Join(dir, "clean.txt")
	if err := os.WriteFile(leaky, []byte("# settings\nAPI_KEY="+key+"\nOTHER="+lookalike+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(clean, []byte("nothing here\n"+lookalike+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Scanning needs no server.
	out, errOut, code := cli(t, srv, "", "", "scan", leaky, clean)
	if code != 1 || errOut != "" {
		t.Fatalf("scan: code %d, stderr %q", code, errOut)
	}
	if want := leaky + ":2:9: " + key[:12] + "…\n"; out != want {
		t.Fatalf("scan printed %q, want %q", out, want)
	}
	if strings.Contains(out, key[12:]) {
		t.Fatal("scan printed the token whole without --show")
	}
	if out, _, code := cli(t, srv, "", "", "scan", clean); code != 0 || out != "" {
		t.Fatalf("scan of a clean file: code %d, stdout %q", code, out)
	}
	if out, _, code := cli(t, srv, "", "x "+key+" y", "scan", "--show"); code != 1 || out != "-:1:3: "+key+"\n" {
		t.Fatalf("scan of stdin with --show: code %d, stdout %q", code, out)
	}
	if _, errOut, code := cli(t, srv, "", "", "scan", filepath.Join(dir, "missing")); code != 2 || !strings.Contains(errOut, "missing") {
		t.Fatalf("scan of a missing file: code %d, stderr %q", code, errOut)
	}
	out, _, code = cli(t, srv, "", "", "-o", "json", "scan", leaky)
	var found []scanFinding
	if code != 1 || json.Unmarshal([]byte(out), &found) != nil || len(found) != 1 || found[0].Line != 2 || found[0].Column != 9 {
		t.Fatalf("scan -o json: code %d, %s", code, out)
	}
	mustCode(t, http.DefaultClient, srv, admin, key, keyward.CodeValid) // scanning sent nothing

	// --report ends the key, through the real binary.
	out, errOut, code = cliProcess(t, srv, admin, "", "scan", "--report", leaky, clean)
	if code != 1 || !strings.Contains(out, leaky+":2:9: "+key[:12]+"… revoked") {
		t.Fatalf("scan --report: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	mustCode(t, http.DefaultClient, srv, admin, key, keyward.CodeRevoked)

	// Reporting it again by hand: known, already revoked.
	out, errOut, code = cli(t, srv, admin, key+"\n"+lookalike+"\n", "leak", "report", "--url", "https://paste.example/1", "--source", "paste")
	if code != 0 || !strings.Contains(out, key[:12]+"…") || !strings.Contains(out, "already_revoked") ||
		!strings.Contains(out, "(not a keyward token)") || strings.Contains(out, key[12:]) || strings.Contains(out, lookalike[12:]) {
		t.Fatalf("leak report: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	events, err := c.ListEvents(context.Background(), client.ListEventsOptions{Project: "acme", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var leaked []*keyward.Event
	for i := range events.Items {
		if ev := &events.Items[i]; ev.Action == "credential.leaked" {
			leaked = append(leaked, ev)
		}
	}
	if len(leaked) != 1 || leaked[0].Detail["url"] != leaky || leaked[0].Detail["source"] != "keyward-scan" || leaked[0].Actor != "admin" {
		t.Fatalf("credential.leaked events %+v, want one for the scanned file", leaked)
	}
	if h := fmt.Sprintf("%x", token.Digest(key)); found[0].TokenHash != h {
		t.Fatalf("token_hash %s, want %s", found[0].TokenHash, h)
	}
}
