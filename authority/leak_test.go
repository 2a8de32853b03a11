package authority_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/token"
)

// lookupCounter counts the secret look-ups that reach the store, in transactions too.
type lookupCounter struct {
	keyward.Store
	n *atomic.Int64
}

func (s lookupCounter) WithTx(ctx context.Context, fn func(tx keyward.Store) error) error {
	return s.Store.WithTx(ctx, func(tx keyward.Store) error { return fn(lookupCounter{tx, s.n}) })
}

func (s lookupCounter) CredentialBySecret(ctx context.Context, d []byte) (*keyward.Credential, *keyward.CredentialSecret, error) {
	s.n.Add(1)
	return s.Store.CredentialBySecret(ctx, d)
}

// leakEvents returns the credential.leaked events of the system project.
func (f *fixture) leakEvents(t *testing.T) []*keyward.Event {
	t.Helper()
	page, err := f.a.ListEvents(f.admin, authority.ListEventsInput{Project: keyward.SystemProject, Limit: authority.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	var out []*keyward.Event
	for _, ev := range page.Items {
		if ev.Action == "credential.leaked" {
			out = append(out, ev)
		}
	}
	return out
}

func report(tokens ...string) authority.LeakReport {
	in := authority.LeakReport{Reporter: "github", RemoteAddr: "192.0.2.7"}
	for _, tok := range tokens {
		in.Found = append(in.Found, authority.LeakFound{Token: tok, URL: "https://github.com/o/r/blob/c/.env", Source: "content"})
	}
	return in
}

func hashOf(tok string) string { return hex.EncodeToString(token.Digest(tok)) }

// lookalike is a token of the right shape whose checksum is wrong.
func lookalike(tok string) string {
	last := tok[len(tok)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return tok[:len(tok)-1] + string(repl)
}

func TestReportLeaks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	live := f.create(t, keyward.CreateCredentialInput{Name: "leaky"})
	other := f.create(t, keyward.CreateCredentialInput{Name: "safe"})
	unknown, err := token.New(keyward.Test)
	if err != nil {
		t.Fatal(err)
	}
	bad := lookalike(live.Key)

	// Unauthenticated (no caller), as the GitHub endpoint calls it.
	res, err := f.a.ReportLeaks(context.Background(), report(live.Key, bad, unknown, "hello", live.Key))
	if err != nil {
		t.Fatal(err)
	}
	want := []keyward.LeakedToken{
		{TokenHash: hashOf(live.Key), Known: true, Status: keyward.LeakStatusRevoked},
		{TokenHash: hashOf(bad), Status: keyward.LeakStatusInvalid},
		{TokenHash: hashOf(unknown), Status: keyward.LeakStatusUnknown},
		{TokenHash: hashOf("hello"), Status: keyward.LeakStatusInvalid},
		{TokenHash: hashOf(live.Key), Known: true, Status: keyward.LeakStatusRevoked}, // the same token again: handled once
	}
	if got, want := len(res.Tokens), len(want); got != want {
		t.Fatalf("%d answers, want %d", got, want)
	}
	for i := range want {
		if res.Tokens[i] != want[i] {
			t.Errorf("token %d: %+v, want %+v", i, res.Tokens[i], want[i])
		}
	}
	if got := f.verifyCode(t, live.Key); got != keyward.CodeRevoked {
		t.Fatalf("the leaked key verifies %s, want REVOKED", got)
	}
	if got := f.verifyCode(t, other.Key); got != keyward.CodeValid {
		t.Fatalf("another key verifies %s, want VALID", got)
	}
	// The answer names no owner: no project, name or id anywhere in it.
	b, _ := json.Marshal(res)
	for _, s := range []string{live.Name, keyward.SystemProject, `"id"`, `"project`, `"name"`, live.Key} {
		if strings.Contains(string(b), s) {
			t.Errorf("the answer %s holds %q", b, s)
		}
	}

	evs := f.leakEvents(t)
	if len(evs) != 1 {
		t.Fatalf("%d credential.leaked events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.CredentialID != live.ID || ev.ActorUserID != 0 || ev.RemoteAddr != "192.0.2.7" || ev.Outcome != keyward.OutcomeSuccess {
		t.Errorf("event %+v", ev)
	}
	wantDetail := map[string]string{"url": "https://github.com/o/r/blob/c/.env", "source": "content", "reporter": "github", "action": "revoke"}
	for k, v := range wantDetail {
		if ev.Detail[k] != v {
			t.Errorf("detail[%s] = %q, want %q", k, ev.Detail[k], v)
		}
	}
	eb, _ := json.Marshal(ev)
	if strings.Contains(string(eb), live.Key) || strings.Contains(string(eb), live.Key[8:]) {
		t.Errorf("the event holds the token: %s", eb)
	}

	// Reported again, by an authenticated caller: known, nothing changes, no second event.
	res, err = f.a.ReportLeaks(f.admin, report(live.Key))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Tokens[0]; !got.Known || got.Status != keyward.LeakStatusAlreadyRevoked {
		t.Fatalf("second report: %+v, want known and already revoked", got)
	}
	if got := len(f.leakEvents(t)); got != 1 {
		t.Fatalf("%d credential.leaked events after a second report, want 1", got)
	}
}

func TestReportLeaksRolledSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.create(t, keyward.CreateCredentialInput{Name: "rolled"})
	rolled, err := f.a.RollCredential(f.admin, keyward.SystemProject, c.Name, keyward.RollInput{GraceSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.verifyCode(t, c.Key); got != keyward.CodeValid {
		t.Fatalf("old secret in its grace verifies %s", got)
	}
	res, err := f.a.ReportLeaks(context.Background(), report(c.Key))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Tokens[0]; got.Status != keyward.LeakStatusRevoked {
		t.Fatalf("%+v, want revoked", got)
	}
	// The whole credential ends: the new secret was likely deployed where the old one leaked.
	for _, k := range []string{c.Key, rolled.Key} {
		if got := f.verifyCode(t, k); got != keyward.CodeRevoked {
			t.Errorf("after the old secret leaked, a secret verifies %s, want REVOKED", got)
		}
	}
	evs := f.leakEvents(t)
	if len(evs) != 1 || evs[0].Detail["secret"] != "rolled" {
		t.Fatalf("events %+v, want one with secret=rolled", evs)
	}
}

func TestReportLeaksSession(t *testing.T) {
	t.Parallel()
	f, _ := newLoginRBAC(t, authority.Options{})
	if _, err := f.a.CreateUser(f.admin, keyward.CreateUserInput{Name: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	s, err := f.a.Login(context.Background(), keyward.LoginInput{Name: "alice", Password: "correct horse battery"}, "")
	if err != nil {
		t.Fatal(err)
	}
	// A session is no project key: even where the policy says disable, it is revoked.
	if _, err := f.a.SetProjectPolicy(f.admin, keyward.SystemProject, keyward.Policy{LeakAction: keyward.LeakDisable}); err != nil {
		t.Fatal(err)
	}
	res, err := f.a.ReportLeaks(context.Background(), report(s.Key))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Tokens[0]; got.Status != keyward.LeakStatusRevoked {
		t.Fatalf("leaked session: %+v, want revoked", got)
	}
	if _, err := f.a.Authenticate(context.Background(), s.Key, ""); keyward.ErrorCode(err) != keyward.EUnauthenticated {
		t.Fatalf("a leaked session still authenticates: %v", err)
	}
}

func TestReportLeaksNoStoreForMalformed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.create(t, keyward.CreateCredentialInput{Name: "k"})
	var n atomic.Int64
	a := authority.New(lookupCounter{f.store, &n}, authority.Options{Now: f.clock.Now, UsageFlushInterval: time.Hour})
	t.Cleanup(func() { a.Close() })
	tokens := []string{lookalike(c.Key), "kw_live_", strings.Repeat("x", 5000), "kw_live_" + strings.Repeat("a", 38), c.Key[:len(c.Key)-1]}
	res, err := a.ReportLeaks(context.Background(), report(tokens...))
	if err != nil {
		t.Fatal(err)
	}
	for i, lt := range res.Tokens {
		if lt.Status != keyward.LeakStatusInvalid || lt.Known {
			t.Errorf("token %d: %+v, want not a keyward token", i, lt)
		}
	}
	if got := n.Load(); got != 0 {
		t.Fatalf("%d store look-ups for malformed tokens, want 0", got)
	}
	if got := f.verifyCode(t, c.Key); got != keyward.CodeValid {
		t.Fatalf("the key whose lookalike was reported verifies %s", got)
	}
}

func TestReportLeaksRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.create(t, keyward.CreateCredentialInput{Name: "k"})
	many := make([]string, authority.MaxLeakTokens+1)
	for i := range many {
		many[i] = c.Key
	}
	withSource := func(src string) authority.LeakReport {
		r := report(c.Key)
		r.Found[0].Source = src
		return r
	}
	withURL := func(u string) authority.LeakReport {
		r := report(c.Key)
		r.Found[0].URL = u
		return r
	}
	for _, tc := range []struct {
		name  string
		in    authority.LeakReport
		field string
	}{
		{"Empty", authority.LeakReport{}, "tokens"},
		{"TooMany", report(many...), "tokens"},
		{"LongSource", withSource(strings.Repeat("s", authority.MaxLeakSourceLen+1)), "source"},
		{"NULInSource", withSource("a\x00b"), "source"},
		{"NULInURL", withURL("https://x/\x00"), "url"},
		{"BadUTF8InToken", report("kw_live_\xff"), "tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.a.ReportLeaks(context.Background(), tc.in)
			var ke *keyward.Error
			if keyward.ErrorCode(err) != keyward.EInvalid || !asError(err, &ke) || ke.Fields[tc.field] == "" {
				t.Fatalf("ReportLeaks = %v, want EInvalid on %s", err, tc.field)
			}
		})
	}
	if got := f.verifyCode(t, c.Key); got != keyward.CodeValid {
		t.Fatalf("a refused report changed the key: %s", got)
	}
	// A long URL is only recorded: it is cut, not refused.
	r := withURL("https://example.com/" + strings.Repeat("é", authority.MaxLeakURLLen))
	if _, err := f.a.ReportLeaks(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	evs := f.leakEvents(t)
	if len(evs) != 1 || len(evs[0].Detail["url"]) > authority.MaxLeakURLLen || !keyward.ValidText(evs[0].Detail["url"]) {
		t.Fatalf("events %+v, want one whose url is cut to %d bytes of UTF-8", evs, authority.MaxLeakURLLen)
	}
}

// A project whose policy says disable has a leaked key disabled (reversible), not revoked.
func TestReportLeaksDisablePolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.a.SetProjectPolicy(f.admin, keyward.SystemProject, keyward.Policy{LeakAction: keyward.LeakDisable}); err != nil {
		t.Fatal(err)
	}
	c := f.create(t, keyward.CreateCredentialInput{Name: "soft"})
	res, err := f.a.ReportLeaks(context.Background(), report(c.Key))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Tokens[0]; !got.Known || got.Status != keyward.LeakStatusDisabled {
		t.Fatalf("%+v, want disabled", got)
	}
	if got := f.verifyCode(t, c.Key); got != keyward.CodeDisabled {
		t.Fatalf("the leaked key verifies %s, want DISABLED", got)
	}
	res, err = f.a.ReportLeaks(context.Background(), report(c.Key))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Tokens[0]; !got.Known || got.Status != keyward.LeakStatusAlreadyDisabled {
		t.Fatalf("second report: %+v, want already disabled", got)
	}
	evs := f.leakEvents(t)
	if len(evs) != 1 || evs[0].Detail["action"] != keyward.LeakDisable {
		t.Fatalf("events %+v, want one with action=disable", evs)
	}
	// Disabling is reversible: the owner enables the key again once it is safe.
	on := true
	if _, err := f.a.UpdateCredential(f.admin, keyward.SystemProject, c.Name, keyward.UpdateCredentialInput{Active: &on}); err != nil {
		t.Fatal(err)
	}
	if got := f.verifyCode(t, c.Key); got != keyward.CodeValid {
		t.Fatalf("re-enabled key verifies %s", got)
	}
}

// TestReportLeaksURLWithToken: a URL that carries the reported token is recorded without it.
func TestReportLeaksURLWithToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.create(t, keyward.CreateCredentialInput{Name: "in-url"})
	in := authority.LeakReport{Found: []authority.LeakFound{{Token: c.Key, URL: "https://paste.example/raw?k=" + c.Key, Source: "paste"}}}
	if _, err := f.a.ReportLeaks(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	evs := f.leakEvents(t)
	if len(evs) != 1 || strings.Contains(evs[0].Detail["url"], c.Key) || evs[0].Detail["url"] != "https://paste.example/raw?k=[token]" {
		t.Fatalf("events %+v, want one whose url has [token] in place of the key", evs)
	}
}
