package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var metricsListenRE = regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)

// TestMetricsAddrAndToken: with --metrics-addr, /metrics leaves the API port for a listener of
// its own, and with a token it answers only to that bearer token.
func TestMetricsAddrAndToken(t *testing.T) {
	t.Parallel()
	tokenFile := filepath.Join(t.TempDir(), "metrics.token")
	const token = "metrics-token-2f9c41"
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, t.TempDir(), "--metrics-addr", "127.0.0.1:0", "--metrics-token-file", tokenFile)
	defer srv.stop(t)
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := metricsListenRE.FindStringSubmatch(srv.stderr.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("no metrics listener in the log:\n%s", srv.stderr.String())
	}
	get := func(url, bearer string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, _ := get(srv.url+"/metrics", token); code != http.StatusNotFound {
		t.Errorf("/metrics on the API port: %d, want 404", code)
	}
	for _, bad := range []string{"", "wrong", token + "x"} {
		if code, body := get("http://"+addr+"/metrics", bad); code != http.StatusUnauthorized || strings.Contains(body, "keyward_") {
			t.Errorf("/metrics with token %q: %d, want 401 and no metrics", bad, code)
		}
	}
	if code, body := get("http://"+addr+"/metrics", token); code != http.StatusOK || !strings.Contains(body, "keyward_") {
		t.Errorf("/metrics with the token: %d %.200s", code, body)
	}
	if strings.Contains(srv.stderr.String(), token) {
		t.Error("the metrics token is in the log")
	}
}
