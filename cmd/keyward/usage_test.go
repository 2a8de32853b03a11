package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/authoritytest"
	"github.com/keyward/keyward/internal/openapitest"
)

// keyward usage, end to end against a server in this process: verifications made through the
// CLI show in its table, per key and per project, and -o json prints the API's object.
func TestUsageCommand(t *testing.T) {
	t.Parallel()
	store := authoritytest.Store(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := authoritytest.New(t, store, authority.Options{UsageFlushInterval: 10 * time.Millisecond, Logger: quiet})
	tok, err := a.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(openapitest.Handler(t, httpapi.New(a, store, httpapi.Options{Logger: quiet}), nil))
	t.Cleanup(api.Close)
	base := []string{"--server", api.URL, "--token", tok}
	r := runCLI(t, "", append(base, "-o", "json", "key", "create", "system", "--name", "ci-deploy")...)
	if r.code != 0 {
		t.Fatalf("key create: %d %s", r.code, r.stderr)
	}
	var issued keyward.IssuedCredential
	if err := json.Unmarshal([]byte(r.stdout), &issued); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, issued.Key+"\n", append(base, "key", "verify")...); r.code != 0 {
		t.Fatalf("key verify: %d %s", r.code, r.stderr)
	}
	if _, err := a.RevokeCredential(keyward.NewContext(context.Background(), mustCaller(t, a, tok)), "system", "ci-deploy"); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, issued.Key+"\n", append(base, "key", "verify")...); r.code != 1 {
		t.Fatalf("key verify of a revoked key: %d %s", r.code, r.stderr)
	}

	var rep keyward.UsageReport
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r := runCLI(t, "", append(base, "-o", "json", "usage", "system", "ci-deploy", "--window", "30d")...)
		if r.code != 0 {
			t.Fatalf("usage -o json: %d %s", r.code, r.stderr)
		}
		rep = keyward.UsageReport{}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("usage -o json printed %q: %v", r.stdout, err)
		}
		if rep.Totals[keyward.CodeValid] == 1 && rep.Totals[keyward.CodeRevoked] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the counts never showed: %+v", rep.Totals)
		}
	}
	if rep.Bucket != "day" || len(rep.Series) != 30 || rep.Credential != "ci-deploy" {
		t.Fatalf("report: %+v", rep)
	}

	r = runCLI(t, "", append(base, "usage", "system", "ci-deploy")...)
	if r.code != 0 {
		t.Fatalf("usage: %d %s", r.code, r.stderr)
	}
	lines := strings.Split(r.stdout, "\n")
	if !strings.HasPrefix(r.stdout, "Verifications of key ci-deploy") || !strings.Contains(r.stdout, "BUCKET") ||
		!strings.Contains(r.stdout, "REVOKED") {
		t.Fatalf("usage table:\n%s", r.stdout)
	}
	var total []string
	for _, l := range lines {
		if strings.HasPrefix(l, "TOTAL") {
			total = strings.Fields(l)
		}
	}
	if want := []string{"TOTAL", "1", "1", "1"}; strings.Join(total, " ") != strings.Join(want, " ") {
		t.Fatalf("total row %q, want %q (valid, refused, revoked):\n%s", total, want, r.stdout)
	}
	r = runCLI(t, "", append(base, "usage", "system")...)
	if r.code != 0 || !strings.Contains(r.stdout, "Most used keys") || !strings.Contains(r.stdout, "ci-deploy") {
		t.Fatalf("project usage: %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"usage"}, 2, "missing argument <project>"},
		{[]string{"usage", "a", "b", "c"}, 2, "unexpected argument"},
		{[]string{"usage", "system", "--window", "7d"}, 2, "--window must be 24h or 30d"},
		{[]string{"usage", "nope"}, 1, "not found"},
	} {
		r := runCLI(t, "", append(base, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) || r.stdout != "" {
			t.Errorf("%v: code %d, stderr %q, stdout %q; want %d and %q", tc.args, r.code, r.stderr, r.stdout, tc.code, tc.msg)
		}
	}
}

func mustCaller(t *testing.T, a *authority.Authority, tok string) *keyward.Caller {
	t.Helper()
	c, err := a.Authenticate(context.Background(), tok, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}
