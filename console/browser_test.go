package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward"
)

// chromium starts Debian's Chromium headless with a profile of its own, in a process group of
// its own that is killed when the test ends, and returns a chromedp context driving it.
func chromium(t *testing.T) context.Context {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("Chromium is missing: apt-get install chromium (scripts/test-tools.sh installs it)")
	}
	var (
		mu      sync.Mutex
		browser *exec.Cmd
	)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.Headless,
		chromedp.NoSandbox, // tests run as root, where Chromium's sandbox refuses to start
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			if cmd.SysProcAttr == nil {
				cmd.SysProcAttr = &syscall.SysProcAttr{}
			}
			cmd.SysProcAttr.Setpgid = true
			mu.Lock()
			browser = cmd
			mu.Unlock()
		}))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // ends the browser and waits for it
		mu.Lock()
		defer mu.Unlock()
		if browser != nil && browser.Process != nil {
			// Its helpers (zygote, GPU, network service) share its group: none outlives the test.
			syscall.Kill(-browser.Process.Pid, syscall.SIGKILL)
		}
	})
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute) // ~20 s alone; minutes on a machine loaded 20-fold
	t.Cleanup(cancelTimeout)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// screenshots is the folder the browser test keeps its screenshots in.
func screenshots(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KEYWARD_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "keyward-console-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots of the console: %s", dir)
	return dir
}

// TestBrowser drives the console in a real Chromium: log in, create a key and read it once,
// roll it with grace, revoke it, watch its audit trail and its usage after verifications, see
// that a viewer has no create button and that a form posted without its CSRF token is refused.
func TestBrowser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.seed()
	ctx := chromium(t)
	dir := screenshots(t)
	base := f.srv.URL
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return chromedp.Void{}, err
			}
			return chromedp.Void{}, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
		}
	}
	// shotView keeps a screenshot of what the window shows.
	shotView := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			png, err := chromedp.CaptureScreenshot()(ctx, tg)
			if err != nil {
				return chromedp.Void{}, err
			}
			return chromedp.Void{}, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
		}
	}
	// shotOf keeps a screenshot of one element.
	shotOf := func(sel, name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			png, err := chromedp.Screenshot(chromedp.CSS(sel))(ctx, tg)
			if err != nil {
				return chromedp.Void{}, err
			}
			return chromedp.Void{}, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
		}
	}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// follow runs steps whose last one navigates (a click on a link or a form's button) and
	// waits for the new page, so that no later query lands in the page being left.
	follow := func(what string, steps ...chromedp.Action[chromedp.Void]) int64 {
		t.Helper()
		res, err := chromedp.RunResponse(ctx, steps...)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return res.Status
	}
	value := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		s, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return s
	}
	text := func(sel string) string {
		t.Helper()
		return strings.TrimSpace(value("reading "+sel, chromedp.Text(chromedp.CSS(sel))))
	}
	html := func() string {
		t.Helper()
		return value("reading the page", chromedp.OuterHTML(chromedp.CSS("html")))
	}
	location := func() string {
		t.Helper()
		return value("reading the location", chromedp.Location())
	}
	// usage sums, by code, the chart data of the page's panel id (its last 24 hours).
	usage := func(id string) map[string]int64 {
		t.Helper()
		raw := value("reading the chart data", chromedp.TextContent(chromedp.CSS("#"+id+"-24h-data")))
		var d struct {
			Series []struct {
				Code   string
				Values []int64
			}
		}
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			t.Fatalf("the chart data %q: %v", raw, err)
		}
		sum := map[string]int64{}
		for _, s := range d.Series {
			for _, v := range s.Values {
				sum[s.Code] += v
			}
		}
		return sum
	}

	// Log in.
	run("login",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		shot("01-login"),
		chromedp.SendKeys(chromedp.CSS("#name"), "admin"),
		chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
	)
	follow("logging in", chromedp.Submit(chromedp.CSS("#login-form")))
	run("projects", chromedp.WaitVisible(chromedp.CSS("#projects")), shot("02-projects"))
	if got := text("#whoami"); got != "admin" {
		t.Fatalf("logged in as %q", got)
	}

	// Create a key: the secret page shows it once; its history entry becomes the credential's
	// page, so a reload shows the key's start only.
	run("create",
		chromedp.Navigate(base+"/projects/acme/new"),
		chromedp.WaitVisible(chromedp.CSS("#create-form")),
		chromedp.SendKeys(chromedp.CSS("#cred-name"), "web"),
		chromedp.Click(chromedp.CSS(`input[name=roles][value=viewer]`)),
	)
	follow("creating", chromedp.Click(chromedp.CSS("#create")))
	run("the secret",
		chromedp.WaitVisible(chromedp.CSS("#secret")),
		chromedp.WaitVisible(chromedp.CSS("#copy")), // console.js ran: the copy button shows
		shot("04-secret-once"),
	)
	key := text("#secret")
	if !keyRE.MatchString(key) {
		t.Fatalf("the secret page shows %q", key)
	}
	if loc := location(); loc != base+"/projects/acme/credentials/web" {
		t.Errorf("the secret page's history entry is %s", loc)
	}
	run("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#start")))
	if page := html(); strings.Contains(page, key) || !strings.Contains(page, key[:12]) {
		t.Fatalf("after a reload the page shows the key, or not its start")
	}
	if got := usage("credential-usage"); got[keyward.CodeValid] != 0 {
		t.Fatalf("usage of a new key: %v", got)
	}

	// Verifications count: a few valid, one of another key that does not exist.
	verify := func(k string) string {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/v1/verify", strings.NewReader(`{"key":"`+k+`"}`))
		req.Header.Set("Authorization", "Bearer "+f.token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var v keyward.Verification
		if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v.Code
	}
	for range 3 {
		if code := verify(key); code != keyward.CodeValid {
			t.Fatalf("verify: %s", code)
		}
	}

	// Roll with an hour of grace: a new key, once; the old one still verifies.
	run("roll",
		chromedp.Navigate(base+"/projects/acme/credentials/web"),
		chromedp.WaitVisible(chromedp.CSS("#roll-form")),
		chromedp.SetValue(chromedp.CSS("#grace"), "3600"),
	)
	follow("rolling", chromedp.Click(chromedp.CSS("#roll")))
	run("the rolled secret", chromedp.WaitVisible(chromedp.CSS("#secret")))
	rolled := text("#secret")
	if !keyRE.MatchString(rolled) || rolled == key {
		t.Fatalf("roll showed %q", rolled)
	}
	if code := verify(key); code != keyward.CodeValid {
		t.Errorf("the old key within its grace: %s", code)
	}
	if code := verify(rolled); code != keyward.CodeValid {
		t.Errorf("the rolled key: %s", code)
	}
	run("trail", chromedp.Navigate(base+"/projects/acme/credentials/web"), chromedp.WaitVisible(chromedp.CSS("#trail")))
	trail := text("#trail")
	if !strings.Contains(trail, "credential.create") || !strings.Contains(trail, "credential.roll") || !strings.Contains(trail, "grace_seconds=3600") {
		t.Errorf("the audit trail after the roll: %s", trail)
	}
	run("credential page", shot("05-credential"))

	// Revoke, through the confirmation step.
	follow("opening the revocation", chromedp.Click(chromedp.CSS("#revoke")))
	run("confirming", chromedp.WaitVisible(chromedp.CSS("#revoke-form")), chromedp.SendKeys(chromedp.CSS("#confirm"), "web"))
	follow("revoking", chromedp.Click(chromedp.CSS("#revoke-confirm")))
	run("revoked", chromedp.WaitVisible(chromedp.CSS("#trail")))
	if st := text("#state"); st != "revoked" {
		t.Errorf("state after revoking: %q", st)
	}
	if trail := text("#trail"); !strings.Contains(trail, "credential.revoke") {
		t.Errorf("the audit trail after the revocation: %s", trail)
	}
	if code := verify(rolled); code != keyward.CodeRevoked {
		t.Errorf("the revoked key: %s", code)
	}

	// The usage chart counts those verifications once they are written behind (every 50 ms
	// here): five valid (three, then the old key in its grace and the new one), one revoked.
	deadline := time.Now().Add(10 * time.Second)
	for {
		run("usage", chromedp.Navigate(base+"/projects/acme/credentials/web"), chromedp.WaitVisible(chromedp.CSS("#credential-usage")))
		got := usage("credential-usage")
		if got[keyward.CodeValid] == 5 && got[keyward.CodeRevoked] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the credential's usage chart shows %v, want 5 VALID and 1 REVOKED", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	run("usage chart",
		chromedp.WaitVisible(chromedp.CSS("#credential-usage-24h canvas")), // charts.js drew it with uPlot
		chromedp.Navigate(base+"/projects/acme"),
		chromedp.WaitVisible(chromedp.CSS("#project-usage-24h canvas")),
		chromedp.ScrollIntoView(chromedp.CSS("#project-usage")),
	)
	if got := usage("project-usage"); got[keyward.CodeValid] < 5+50 || got[keyward.CodeRevoked] != 1 || got[keyward.CodeExpired] == 0 {
		t.Errorf("the project's usage chart shows %v", got)
	}
	if top := text("#project-usage-top"); !strings.Contains(top, "checkout") || !strings.Contains(top, "web") {
		t.Errorf("the most used keys: %s", top)
	}
	if unused := text("#project-usage-unused"); !strings.Contains(unused, "partner-portal") || strings.Contains(unused, "web") {
		t.Errorf("the keys unused for 30 days: %s", unused)
	}
	run("usage screenshot", shotOf("#project-usage", "06-usage"))

	// The credentials table, filtered and searched through the query.
	run("credentials",
		chromedp.Navigate(base+"/projects/acme"),
		chromedp.WaitVisible(chromedp.CSS("#project-usage-24h canvas")),
		shotView("03-credentials"),
		chromedp.Navigate(base+"/projects/acme?state=revoked"),
		chromedp.WaitVisible(chromedp.CSS("#credentials")),
	)
	if rows := text("#credentials tbody"); !strings.Contains(rows, "web") || strings.Contains(rows, "billing") {
		t.Errorf("state=revoked lists: %s", rows)
	}
	run("search", chromedp.Navigate(base+"/projects/acme?q=bill"), chromedp.WaitVisible(chromedp.CSS("#credentials")))
	if rows := text("#credentials tbody"); !strings.Contains(rows, "billing") || strings.Contains(rows, "web") {
		t.Errorf("q=bill lists: %s", rows)
	}

	// A form posted without its CSRF token is refused, and changes nothing.
	run("forged form",
		chromedp.Navigate(base+"/projects/acme/credentials/deploy-bot"),
		chromedp.WaitVisible(chromedp.CSS("#toggle")),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#toggle").form.querySelector("input[name=csrf]").remove()`),
	)
	if status := follow("posting the forged form", chromedp.Click(chromedp.CSS("#toggle"))); status != http.StatusForbidden {
		t.Errorf("the forged form got %d, want 403", status)
	}
	run("forged form refused", chromedp.WaitVisible(chromedp.CSS("#error")))
	if msg := text("#error"); !strings.Contains(msg, "not sent by the console") {
		t.Errorf("the forged form got: %s", msg)
	}
	if c, err := f.a.Credential(f.admin, "acme", "deploy-bot"); err != nil || c.State != keyward.StateActive || c.Version != 1 {
		t.Errorf("deploy-bot after the forged form: %v %v", c, err)
	}

	run("audit and users",
		chromedp.Navigate(base+"/audit?project=acme"),
		chromedp.WaitVisible(chromedp.CSS("#audit")),
		shot("07-audit"),
		chromedp.Navigate(base+"/users"),
		chromedp.WaitVisible(chromedp.CSS("#users")),
		shot("08-users"),
	)

	// A viewer sees the keys and no create button.
	follow("logging out", chromedp.Click(chromedp.CSS("#logout")))
	run("login as a viewer",
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#name"), "vera"),
		chromedp.SendKeys(chromedp.CSS("#password"), viewerPassword),
	)
	follow("logging in as a viewer", chromedp.Submit(chromedp.CSS("#login-form")))
	run("viewer",
		chromedp.WaitVisible(chromedp.CSS("#projects")),
		chromedp.Navigate(base+"/projects/acme"),
		chromedp.WaitVisible(chromedp.CSS("#credentials")),
	)
	if page := html(); strings.Contains(page, `id="new-credential"`) || !strings.Contains(page, "billing") {
		t.Errorf("a viewer's credentials page shows a create button, or not the keys")
	}
}

// seed gives the project the credentials a console shows (a test key, a certificate, a
// kubeconfig for a cluster, a disabled key) and a month of traffic on "checkout", with some
// refusals, then moves the clock 31 days past their creation, where the test goes on.
func (f *fixture) seed() {
	f.t.Helper()
	a, ctx := f.a, f.admin
	days := int64(30)
	_, err := a.CreateCredential(ctx, "acme", keyward.CreateCredentialInput{Name: "billing", Environment: keyward.Test,
		ExpirationDays: &days, Roles: []string{"Client"}, Description: "billing service"})
	must(f.t, err)
	_, err = a.CreateCredential(ctx, "acme", keyward.CreateCredentialInput{Name: "partner-portal", Type: keyward.APICertificate,
		CertificateOptions: keyward.CertificateOptions{Password: "bundle-password"}, Roles: []string{"Partner"}})
	must(f.t, err)
	_, err = a.CreateCluster(ctx, keyward.ClusterInput{Name: "prod", Server: "https://k8s.example.com:6443"})
	must(f.t, err)
	_, err = a.CreateCredential(ctx, "acme", keyward.CreateCredentialInput{Name: "deploy-bot", Type: keyward.KubeConfig,
		VirtualK8sName: "prod", VirtualK8sNamespace: "shop", Roles: []string{"viewer"}})
	must(f.t, err)
	checkout, err := a.CreateCredential(ctx, "acme", keyward.CreateCredentialInput{Name: "checkout", Roles: []string{"viewer"}})
	must(f.t, err)
	legacy, err := a.CreateCredential(ctx, "acme", keyward.CreateCredentialInput{Name: "legacy-batch", Roles: []string{"viewer"}})
	must(f.t, err)
	off := false
	_, err = a.UpdateCredential(ctx, "acme", "legacy-batch", keyward.UpdateCredentialInput{Active: &off})
	must(f.t, err)
	billing, err := a.CreateCredential(ctx, "acme", keyward.CreateCredentialInput{Name: "reports", Environment: keyward.Test,
		ExpirationDays: &days, Roles: []string{"viewer"}})
	must(f.t, err)
	verify := func(key string, n int) {
		for range n {
			if _, err := a.Verify(ctx, keyward.VerifyInput{Key: key}); err != nil {
				f.t.Fatal(err)
			}
		}
	}
	const day = 24 * time.Hour
	for d := range 30 { // a daily pattern, and a disabled key some batch job still tries
		f.clock.Set(start.Add(time.Duration(d)*day + 12*time.Hour))
		verify(checkout.Key, 20+(d*7)%13)
		if d%4 == 0 {
			verify(legacy.Key, 3)
		}
	}
	for h := range 24 { // the last day, hour by hour; "reports" has expired
		f.clock.Set(start.Add(30*day + time.Duration(h)*time.Hour + 30*time.Minute))
		verify(checkout.Key, 2+(h*5)%9)
		if h%5 == 0 {
			verify(billing.Key, 2)
		}
	}
	f.clock.Set(start.Add(31 * day))
}
