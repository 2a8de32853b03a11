package authority_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

func TestRevokeCredentials(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	mk := func(name string, days int64, typ keyward.CredentialType) {
		t.Helper()
		in := keyward.CreateCredentialInput{Name: name, ExpirationDays: &days, Type: typ}
		if _, err := f.a.CreateCredential(f.admin, "acme", in); err != nil {
			t.Fatal(err)
		}
	}
	mk("short", 1, keyward.APIToken)
	mk("long", 30, keyward.APIToken)
	mk("gone", 1, keyward.APIToken)
	if _, err := f.a.RevokeCredential(f.admin, "acme", "gone"); err != nil {
		t.Fatal(err)
	}
	svc, err := f.a.CreateServiceCredential(f.admin, "acme", authority.CreateServiceCredentialInput{
		Name: "svc-short", ExpirationDays: ptr(int64(1)), Access: svcAccess("acme", "viewer"),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(2 * 24 * time.Hour)
	defer f.clock.Set(t0)
	state := func(name string) keyward.State {
		t.Helper()
		c, err := f.a.Credential(f.admin, "acme", name)
		if err != nil {
			t.Fatal(err)
		}
		return c.State
	}

	t.Run("ExpiredOfOneKind", func(t *testing.T) {
		res, err := f.a.RevokeCredentials(f.admin, "acme", authority.RevokeManyInput{Expired: true, Kind: authority.UserKind})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(res.Revoked, ","); got != "short" || len(res.Failed) != 0 {
			t.Fatalf("revoked %q failed %+v, want short only", got, res.Failed)
		}
		if state("short") != keyward.StateRevoked || state("long") != keyward.StateActive || state("svc-short") != keyward.StateExpired {
			t.Errorf("states short=%s long=%s svc-short=%s", state("short"), state("long"), state("svc-short"))
		}
	})
	t.Run("ExpiredOfOtherType", func(t *testing.T) {
		res, err := f.a.RevokeCredentials(f.admin, "acme", authority.RevokeManyInput{Expired: true, Type: keyward.KubeConfig})
		if err != nil || len(res.Revoked) != 0 {
			t.Fatalf("revoked %+v, %v; want none", res, err)
		}
	})
	t.Run("Names", func(t *testing.T) {
		res, err := f.a.RevokeCredentials(f.admin, "acme", authority.RevokeManyInput{
			Names: []string{"long", "nope", "long", "gone", strconv.FormatInt(svc.ID, 10)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(res.Revoked, ","), "long,gone,"+strconv.FormatInt(svc.ID, 10); got != want {
			t.Errorf("revoked %q, want %q", got, want)
		}
		if len(res.Failed) != 1 || res.Failed[0].Name != "nope" || !strings.Contains(res.Failed[0].Reason, "not found") {
			t.Errorf("failed %+v", res.Failed)
		}
		if state("long") != keyward.StateRevoked || state("svc-short") != keyward.StateRevoked {
			t.Errorf("states long=%s svc-short=%s", state("long"), state("svc-short"))
		}
	})
	t.Run("Refused", func(t *testing.T) {
		viewer := f.user(t, "vera", "viewer")
		many := make([]string, authority.MaxRevokeNames+1)
		for i := range many {
			many[i] = "k" + strconv.Itoa(i)
		}
		for _, tc := range []struct {
			name string
			in   authority.RevokeManyInput
			code keyward.Code
		}{
			{"ErrNothingSelected", authority.RevokeManyInput{}, keyward.EInvalid},
			{"ErrTooMany", authority.RevokeManyInput{Names: many}, keyward.EInvalid},
			{"ErrEmptyName", authority.RevokeManyInput{Names: []string{""}}, keyward.EInvalid},
			{"ErrType", authority.RevokeManyInput{Expired: true, Type: keyward.Session}, keyward.EInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := f.a.RevokeCredentials(f.admin, "acme", tc.in); keyward.ErrorCode(err) != tc.code {
					t.Fatalf("err = %v, want %s", err, tc.code)
				}
			})
		}
		mk("kept", 10, keyward.APIToken)
		if _, err := f.a.RevokeCredentials(viewer, "acme", authority.RevokeManyInput{Names: []string{"kept"}}); keyward.ErrorCode(err) != keyward.EForbidden {
			t.Fatalf("a viewer revoked: %v", err)
		}
		if state("kept") != keyward.StateActive {
			t.Errorf("kept is %s", state("kept"))
		}
	})
}
