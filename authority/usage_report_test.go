package authority_test

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/token"
)

// A verification that ends with each code counts once for its credential, in the hour of the
// injected clock, through every entry point that verifies (Verify, VerifyForGateway) or
// authenticates (Authenticate); unknown keys and login sessions count nowhere. The report
// reads it all back after one flush.
func TestUsageEndToEnd(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	ctx := f.admin
	create := func(t *testing.T, in keyward.CreateCredentialInput) *keyward.IssuedCredential {
		t.Helper()
		c, err := f.a.CreateCredential(ctx, "acme", in)
		if err != nil {
			t.Fatalf("create %s: %v", in.Name, err)
		}
		return c
	}
	verify := func(t *testing.T, key string, perms ...keyward.Permission) string {
		t.Helper()
		v, err := f.a.Verify(ctx, keyward.VerifyInput{Key: key, Permission: perms})
		if err != nil {
			t.Fatal(err)
		}
		return v.Code
	}
	one := int64(1)
	later := t0.Add(60 * 24 * time.Hour)
	expiring := t0.Add(30 * time.Minute)
	keys := map[string]*keyward.IssuedCredential{
		"valid":     create(t, keyward.CreateCredentialInput{Name: "valid"}),
		"pending":   create(t, keyward.CreateCredentialInput{Name: "pending", NotBefore: &later}),
		"expired":   create(t, keyward.CreateCredentialInput{Name: "expired", ExpiresAt: &expiring}),
		"disabled":  create(t, keyward.CreateCredentialInput{Name: "disabled"}),
		"revoked":   create(t, keyward.CreateCredentialInput{Name: "revoked"}),
		"limited":   create(t, keyward.CreateCredentialInput{Name: "limited", RateLimit: &keyward.RateLimit{Limit: 1, Duration: time.Hour}}),
		"counted":   create(t, keyward.CreateCredentialInput{Name: "counted", Remaining: &one}),
		"forbidden": create(t, keyward.CreateCredentialInput{Name: "forbidden", Roles: []string{"viewer"}}),
		"gateway":   create(t, keyward.CreateCredentialInput{Name: "gateway"}),
		"caller":    create(t, keyward.CreateCredentialInput{Name: "caller"}),
		"idle":      create(t, keyward.CreateCredentialInput{Name: "idle"}),
	}
	no := false
	if _, err := f.a.UpdateCredential(ctx, "acme", "disabled", keyward.UpdateCredentialInput{Active: &no}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.RevokeCredential(ctx, "acme", "revoked"); err != nil {
		t.Fatal(err)
	}
	// Everything happens 31 days after the keys were made, so that "idle" is unused, in two
	// hours: 10:xx and 11:00 exactly.
	h1 := t0.Add(31 * 24 * time.Hour).Truncate(time.Hour).Add(10 * time.Hour)
	f.clock.Set(h1.Add(59*time.Minute + 59*time.Second))
	for _, tc := range []struct {
		key   string
		perms []keyward.Permission
		want  string
	}{
		{"valid", nil, keyward.CodeValid},
		{"pending", nil, keyward.CodeNotYetValid},
		{"expired", nil, keyward.CodeExpired},
		{"disabled", nil, keyward.CodeDisabled},
		{"revoked", nil, keyward.CodeRevoked},
		{"limited", nil, keyward.CodeValid},
		{"limited", nil, keyward.CodeRateLimited},
		{"counted", nil, keyward.CodeValid},
		{"counted", nil, keyward.CodeUsageExceeded},
		{"forbidden", []keyward.Permission{keyward.PermKeysCreate}, keyward.CodeForbidden},
	} {
		if got := verify(t, keys[tc.key].Key, tc.perms...); got != tc.want {
			t.Fatalf("verify %s = %s, want %s", tc.key, got, tc.want)
		}
	}
	never, _ := token.New(keyward.Live)
	if got := verify(t, never); got != keyward.CodeNotFound {
		t.Fatalf("unknown key: %s", got)
	}
	f.clock.Set(h1.Add(time.Hour)) // the next hour, on its first microsecond
	if got := verify(t, keys["valid"].Key); got != keyward.CodeValid {
		t.Fatalf("valid in the next hour: %s", got)
	}
	if v, _, err := f.a.VerifyForGateway(context.Background(), keyward.VerifyInput{Key: keys["gateway"].Key}, "acme"); err != nil || !v.Valid {
		t.Fatalf("gateway: %+v, %v", v, err)
	}
	if _, err := f.a.Authenticate(context.Background(), keys["caller"].Key, ""); err != nil {
		t.Fatal(err)
	}
	// A login session authenticating is its user's use, not a project's: not counted.
	f.user(t, "someone", "viewer")
	if err := f.a.FlushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}

	r, err := f.a.Usage(ctx, "acme", authority.UsageInput{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Window != keyward.UsageWindowDay || r.Bucket != keyward.UsageBucketHour || len(r.Series) != 24 ||
		!r.To.Equal(h1.Add(2*time.Hour)) || !r.From.Equal(h1.Add(-22*time.Hour)) {
		t.Fatalf("window %s, bucket %s, %d buckets, [%v, %v)", r.Window, r.Bucket, len(r.Series), r.From, r.To)
	}
	for i, b := range r.Series {
		if !b.Start.Equal(r.From.Add(time.Duration(i) * time.Hour)) {
			t.Fatalf("bucket %d starts at %v", i, b.Start)
		}
	}
	wantH1 := map[string]int64{keyward.CodeValid: 3, keyward.CodeNotYetValid: 1, keyward.CodeExpired: 1,
		keyward.CodeDisabled: 1, keyward.CodeRevoked: 1, keyward.CodeRateLimited: 1, keyward.CodeUsageExceeded: 1,
		keyward.CodeForbidden: 1}
	wantH2 := map[string]int64{keyward.CodeValid: 3} // valid, gateway, caller
	if got := r.Series[22].Counts; !maps.Equal(got, wantH1) {
		t.Fatalf("hour %v: %v, want %v", r.Series[22].Start, got, wantH1)
	}
	if got := r.Series[23].Counts; !maps.Equal(got, wantH2) {
		t.Fatalf("hour %v: %v, want %v", r.Series[23].Start, got, wantH2)
	}
	for i, b := range r.Series[:22] {
		if len(b.Counts) != 0 || b.Counts == nil {
			t.Fatalf("bucket %d: %v, want an empty map", i, b.Counts)
		}
	}
	wantTotals := maps.Clone(wantH1)
	wantTotals[keyward.CodeValid] += 3
	if !maps.Equal(r.Totals, wantTotals) {
		t.Fatalf("totals %v, want %v", r.Totals, wantTotals)
	}
	// Top: the 10 most used of 11 used keys, ties by id; "idle" was never presented.
	var top []string
	for _, k := range r.Top {
		top = append(top, k.Name+":"+strconv.FormatInt(k.Valid, 10)+"/"+strconv.FormatInt(k.Refused, 10))
	}
	if want := []string{"valid:2/0", "limited:1/1", "counted:1/1", "pending:0/1", "expired:0/1", "disabled:0/1",
		"revoked:0/1", "forbidden:0/1", "gateway:1/0", "caller:1/0"}; !slices.Equal(top, want) {
		t.Fatalf("top: %v, want %v", top, want)
	}
	// Unused: not revoked, never used (a refusal is not a use), created 31 days ago.
	var unused []string
	for _, k := range r.Unused {
		if k.LastUsedAt != nil {
			t.Fatalf("unused %s was used at %v", k.Name, k.LastUsedAt)
		}
		unused = append(unused, k.Name)
	}
	if want := []string{"pending", "expired", "disabled", "forbidden", "idle"}; !slices.Equal(unused, want) {
		t.Fatalf("unused: %v, want %v", unused, want)
	}

	// The session lives in the system project; the admin's key authenticated 31 days ago.
	if sys, err := f.a.Usage(ctx, keyward.SystemProject, authority.UsageInput{}); err != nil || len(sys.Totals) != 0 {
		t.Fatalf("system project: %+v, %v; want nothing counted (a session's use is not)", sys, err)
	}

	// Each credential's own report has exactly its code.
	for _, tc := range []struct {
		name string
		want map[string]int64
	}{
		{"valid", map[string]int64{keyward.CodeValid: 2}},
		{"pending", map[string]int64{keyward.CodeNotYetValid: 1}},
		{"expired", map[string]int64{keyward.CodeExpired: 1}},
		{"disabled", map[string]int64{keyward.CodeDisabled: 1}},
		{"revoked", map[string]int64{keyward.CodeRevoked: 1}},
		{"limited", map[string]int64{keyward.CodeValid: 1, keyward.CodeRateLimited: 1}},
		{"counted", map[string]int64{keyward.CodeValid: 1, keyward.CodeUsageExceeded: 1}},
		{"forbidden", map[string]int64{keyward.CodeForbidden: 1}},
		{"gateway", map[string]int64{keyward.CodeValid: 1}},
		{"caller", map[string]int64{keyward.CodeValid: 1}},
		{"idle", map[string]int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, ref := range []string{tc.name, strconv.FormatInt(keys[tc.name].ID, 10)} {
				r, err := f.a.Usage(ctx, "acme", authority.UsageInput{Credential: ref, Window: keyward.UsageWindow30d})
				if err != nil {
					t.Fatal(err)
				}
				if r.CredentialID != keys[tc.name].ID || r.Credential != tc.name || r.Bucket != keyward.UsageBucketDay ||
					len(r.Series) != 30 || len(r.Unused) != 0 {
					t.Fatalf("report of %s: %+v", ref, r)
				}
				if !maps.Equal(r.Totals, tc.want) {
					t.Fatalf("%s: totals %v, want %v", ref, r.Totals, tc.want)
				}
				if got := r.Series[29].Counts; !maps.Equal(got, tc.want) {
					t.Fatalf("%s: today %v, want %v", ref, got, tc.want)
				}
			}
		})
	}

	t.Run("Access", func(t *testing.T) {
		viewer := f.user(t, "watcher", "viewer")
		if _, err := f.a.Usage(viewer, "acme", authority.UsageInput{Credential: "valid"}); err != nil {
			t.Fatalf("a viewer reads usage: %v", err)
		}
		stranger := f.user(t, "stranger", "")
		for _, tc := range []struct {
			name    string
			ctx     context.Context
			project string
			in      authority.UsageInput
			code    keyward.Code
		}{
			{"NoRightsInProject", stranger, "acme", authority.UsageInput{}, keyward.ENotFound},
			{"NoRightsCredential", stranger, "acme", authority.UsageInput{Credential: "valid"}, keyward.ENotFound},
			{"CredentialOfAnotherProject", ctx, "globex", authority.UsageInput{Credential: "valid"}, keyward.ENotFound},
			{"NoSuchCredential", ctx, keyward.SystemProject, authority.UsageInput{Credential: "1000000"}, keyward.ENotFound},
			{"BadWindow", ctx, "acme", authority.UsageInput{Window: "7d"}, keyward.EInvalid},
			{"NoCaller", context.Background(), "acme", authority.UsageInput{}, keyward.EUnauthenticated},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := f.a.Usage(tc.ctx, tc.project, tc.in); keyward.ErrorCode(err) != tc.code {
					t.Fatalf("Usage = %v, want %s", err, tc.code)
				}
			})
		}
		// A login session, read through the system project by its id, is not found.
		sessions, err := f.a.ListSessions(ctx, "someone", "", 0)
		if err != nil || len(sessions.Items) == 0 {
			t.Fatalf("sessions: %v, %v", sessions, err)
		}
		if _, err := f.a.Usage(ctx, keyward.SystemProject, authority.UsageInput{Credential: strconv.FormatInt(sessions.Items[0].ID, 10)}); keyward.ErrorCode(err) != keyward.ENotFound {
			t.Fatalf("a session's usage: %v", err)
		}
	})
}
