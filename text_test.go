package keyward_test

import (
	"testing"

	"github.com/keyward/keyward"
)

func TestValidText(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    string
		want bool
	}{
		{"Empty", "", true},
		{"ASCII", "ci token", true},
		{"Unicode", "clé d'accès ✓ 鍵", true},
		{"ReplacementCharacter", "\uFFFD", true},
		{"NUL", "a\x00b", false},
		{"OnlyNUL", "\x00", false},
		{"InvalidByte", "a\xffb", false},
		{"TruncatedSequence", "\xe2\x82", false},
		{"Overlong", "\xc0\xaf", false},
		{"Surrogate", "\xed\xa0\x80", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := keyward.ValidText(tc.s); got != tc.want {
				t.Fatalf("ValidText(%q) = %v, want %v", tc.s, got, tc.want)
			}
		})
	}
}

func TestCheckText(t *testing.T) {
	for _, tc := range []struct {
		name  string
		v     any
		field string // "" for valid
	}{
		{"ValidCredential", &keyward.Credential{Name: "a", Description: "d", Meta: map[string]string{"k": "v"}}, ""},
		{"NilCredential", (*keyward.Credential)(nil), ""},
		{"Nil", nil, ""},
		{"CredentialName", &keyward.Credential{Name: "a\x00"}, "name"},
		{"CredentialDescription", &keyward.Credential{Name: "a", Description: "\xff"}, "description"},
		{"CredentialMetaKey", &keyward.Credential{Meta: map[string]string{"k\x00": "v"}}, "meta"},
		{"CredentialMetaValue", &keyward.Credential{Meta: map[string]string{"k": "\xc3"}}, "meta"},
		{"CredentialPurpose", &keyward.Credential{Purpose: "\x00"}, "purpose"},
		{"CredentialRefill", &keyward.Credential{Refill: &keyward.Refill{Interval: "daily\x00"}}, "refill"},
		{"Project", &keyward.Project{Slug: "ok", Name: "\x00"}, "name"},
		{"User", &keyward.User{Name: "bob\xff"}, "name"},
		{"RolePermission", &keyward.Role{Name: "r", Permissions: []keyward.Permission{"keys:read", "x\x00"}}, "permissions"},
		{"Cluster", &keyward.Cluster{Name: "c", Server: "https://k\x00"}, "server"},
		{"Certificate", &keyward.Certificate{Serial: "\xff"}, "serial"},
		{"EventDetail", &keyward.Event{Action: "login.fail", Detail: map[string]string{"name": "a\x00"}}, "detail"},
		{"EventActor", &keyward.Event{Actor: "\xfe"}, "actor"},
		{"Text", keyward.Text{Field: "password_hash", Value: "\x00"}, "password_hash"},
		{"BootstrapRole", &keyward.Bootstrap{Roles: []*keyward.Role{{Name: "ok"}, {Name: "\x00"}}}, "name"},
		{"BootstrapCredential", &keyward.Bootstrap{Credential: &keyward.Credential{Description: "\xff"}}, "description"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := keyward.CheckText(tc.v)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("CheckText = %v, want nil", err)
				}
				return
			}
			var e *keyward.Error
			if !asError(err, &e) || e.Code != keyward.EInvalid {
				t.Fatalf("CheckText = %v, want EInvalid", err)
			}
			if _, ok := e.Fields[tc.field]; !ok || len(e.Fields) != 1 {
				t.Fatalf("fields %v, want only %q", e.Fields, tc.field)
			}
			if !keyward.ValidText(e.Message) {
				t.Fatalf("the message %q repeats the value", e.Message)
			}
		})
	}
}

func asError(err error, target **keyward.Error) bool {
	e, ok := err.(*keyward.Error)
	if ok {
		*target = e
	}
	return ok
}
