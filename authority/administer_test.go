package authority_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

func TestAdministeredProject(t *testing.T) {
	t.Parallel()
	f := newRBAC(t)
	acme, err := f.a.Project(f.admin, "acme")
	if err != nil {
		t.Fatal(err)
	}
	callers := map[string]context.Context{"admin": f.admin}
	for _, role := range []string{"owner", "Admin", "Client", "viewer", ""} {
		callers["administer-"+role] = f.user(t, "administer-"+role, role)
	}
	denials := func() int {
		page, err := f.a.ListEvents(f.admin, authority.ListEventsInput{Project: "acme", Limit: authority.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range page.Items {
			if ev.Action == "authorize" && ev.Outcome == keyward.OutcomeDenied && ev.Detail["permission"] == string(keyward.PermProjectsAdmin) {
				n++
			}
		}
		return n
	}
	cases := []struct {
		name, as, ref string
		wantCode      keyward.Code
		wantDenial    bool
	}{
		{"GlobalAdmin", "admin", "acme", "", false},
		{"GlobalAdminByID", "admin", strconv.FormatInt(acme.ID, 10), "", false},
		{"Owner", "administer-owner", "acme", "", false},
		{"OwnerByID", "administer-owner", strconv.FormatInt(acme.ID, 10), "", false},
		{"KeyAdminIsNotOwner", "administer-Admin", "acme", keyward.EForbidden, true},
		{"Client", "administer-Client", "acme", keyward.EForbidden, true},
		{"Viewer", "administer-viewer", "acme", keyward.EForbidden, true},
		{"NoAccess", "administer-", "acme", keyward.ENotFound, false},
		{"OwnerElsewhere", "administer-owner", "globex", keyward.ENotFound, false},
		{"Unknown", "admin", "nope", keyward.ENotFound, false},
		{"UnknownID", "admin", "99999", keyward.ENotFound, false},
		{"NotASlug", "admin", "Not A Slug", keyward.ENotFound, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := denials()
			p, err := f.a.AdministeredProject(callers[tc.as], tc.ref)
			if code := keyward.ErrorCode(err); code != tc.wantCode {
				t.Fatalf("AdministeredProject(%q) as %s: %v, want code %q", tc.ref, tc.as, err, tc.wantCode)
			}
			if err == nil && (p.ID != acme.ID || p.Slug != "acme") {
				t.Fatalf("project = %+v, want acme", p)
			}
			if got, want := denials()-before, map[bool]int{true: 1, false: 0}[tc.wantDenial]; got != want {
				t.Fatalf("%d denials audited, want %d", got, want)
			}
		})
	}
	t.Run("Unauthenticated", func(t *testing.T) {
		if _, err := f.a.AdministeredProject(context.Background(), "acme"); keyward.ErrorCode(err) != keyward.EUnauthenticated {
			t.Fatalf("no caller: %v, want EUnauthenticated", err)
		}
	})
}
