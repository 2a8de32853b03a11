package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/proctest"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestNginxForwardAuth runs Debian's nginx with docs/gateways/nginx.conf, unchanged but for its
// addresses, in front of a small upstream, with keyward deciding every request.
func TestNginxForwardAuth(t *testing.T) {
	t.Parallel()
	nginx := tool(t, "nginx", "nginx-light")
	dir := t.TempDir()
	srv := startServer(t, t.TempDir(), "--bootstrap-token-file", filepath.Join(dir, "tok"))
	raw, _ := os.ReadFile(filepath.Join(dir, "tok"))
	c := client.New(srv.url, strings.TrimSpace(string(raw)))
	ctx := context.Background()

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream saw credential=%s project=%s authorization=%q apikey=%q path=%s",
			r.Header.Get("X-Keyward-Credential-Id"), r.Header.Get("X-Keyward-Project"),
			r.Header.Get("Authorization"), r.Header.Get("X-API-Key"), r.URL.Path)
	}))
	defer upstream.Close()

	conf, err := os.ReadFile("../../docs/gateways/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	listen := freePort(t)
	server := strings.NewReplacer(
		"server 127.0.0.1:8080;", "server "+strings.TrimPrefix(srv.url, "http://")+";",
		"http://127.0.0.1:9000", upstream.URL,
		"listen 127.0.0.1:8000;", "listen "+listen+";",
	).Replace(string(conf))
	if server == string(conf) {
		t.Fatal("the addresses in docs/gateways/nginx.conf changed; update this test")
	}
	os.WriteFile(filepath.Join(dir, "server.conf"), []byte(server), 0o644)
	main := fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/server.conf;
}
`, dir)
	if os.Geteuid() == 0 {
		main = "user root;\n" + main
	}
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644)
	if out, err := proctest.Command(t, nginx, "-t", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	// nginx runs in a process group of its own, killed whole when the test ends: killing the
	// master alone left its worker behind, listening.
	cmd := proctest.Command(t, nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if conn, err := net.Dial("tcp", listen); err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not listen on %s:\n%s", listen, log)
		}
		time.Sleep(20 * time.Millisecond)
	}

	get := func(header, value string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+listen+"/orders/42", nil)
		if header != "" {
			req.Header.Set(header, value)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}
	create := func(in keyward.CreateCredentialInput) *keyward.IssuedCredential {
		t.Helper()
		k, err := c.CreateCredential(ctx, keyward.SystemProject, in)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}

	valid := create(keyward.CreateCredentialInput{Name: "gw-valid"})
	t.Run("Valid", func(t *testing.T) {
		for _, h := range []string{"Authorization", "X-API-Key"} {
			v := valid.Key
			if h == "Authorization" {
				v = "Bearer " + v
			}
			code, _, body := get(h, v)
			want := fmt.Sprintf("upstream saw credential=%d project=system authorization=\"\" apikey=\"\" path=/orders/42", valid.ID)
			if code != 200 || body != want {
				t.Fatalf("%s: %d %q, want 200 %q", h, code, body, want)
			}
		}
	})
	t.Run("Missing", func(t *testing.T) {
		// keyward's 401 comes through as JSON, like its 403 and 429, not as nginx's HTML page.
		if code, h, body := get("", ""); code != 401 || h.Get("Content-Type") != "application/json" ||
			!strings.Contains(body, `"code":"UNAUTHENTICATED"`) || h.Get("WWW-Authenticate") == "" {
			t.Fatalf("no key: %d %v %s", code, h, body)
		}
	})
	t.Run("Revoked", func(t *testing.T) {
		k := create(keyward.CreateCredentialInput{Name: "gw-revoked"})
		if code, _, _ := get("Authorization", "Bearer "+k.Key); code != 200 {
			t.Fatalf("before revoke: %d", code)
		}
		if _, err := c.RevokeCredential(ctx, keyward.SystemProject, "gw-revoked"); err != nil {
			t.Fatal(err)
		}
		if code, _, body := get("Authorization", "Bearer "+k.Key); code != 401 {
			t.Fatalf("revoked key: %d %s", code, body)
		}
	})
	t.Run("RateLimited", func(t *testing.T) {
		k := create(keyward.CreateCredentialInput{Name: "gw-limited", RateLimit: &keyward.RateLimit{Limit: 2, Duration: time.Minute}})
		for i := 0; i < 2; i++ {
			code, h, body := get("Authorization", "Bearer "+k.Key)
			if code != 200 {
				t.Fatalf("request %d under the limit: %d %s", i, code, body)
			}
			// The key's RateLimit headers reach the client through nginx.
			if h.Get("RateLimit-Limit") != "2" || h.Get("RateLimit-Remaining") != fmt.Sprint(1-i) || h.Get("RateLimit-Reset") == "" {
				t.Fatalf("request %d: RateLimit headers %v", i, h)
			}
		}
		code, h, body := get("Authorization", "Bearer "+k.Key)
		if code != 429 || !strings.Contains(body, "RATE_LIMITED") || h.Get("Retry-After") == "" ||
			h.Get("RateLimit-Limit") != "2" || h.Get("RateLimit-Remaining") != "0" {
			t.Fatalf("over the limit: %d %v %s", code, h, body)
		}
	})
	t.Run("UsedUp", func(t *testing.T) {
		one := int64(1)
		k := create(keyward.CreateCredentialInput{Name: "gw-metered", Remaining: &one})
		if code, _, _ := get("Authorization", "Bearer "+k.Key); code != 200 {
			t.Fatalf("first use: %d", code)
		}
		if code, _, body := get("Authorization", "Bearer "+k.Key); code != 429 || !strings.Contains(body, "USAGE_EXCEEDED") {
			t.Fatalf("used up: %d %s", code, body)
		}
	})
	srv.stop(t)
}
