package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// badTexts are strings no store may write: PostgreSQL's text refuses them outright, and SQLite
// would keep them only to break a later copy to PostgreSQL.
var badTexts = []struct{ name, s string }{
	{"NUL", "nul\x00byte"},
	{"InvalidByte", "bad\xffbyte"},
	{"TruncatedUTF8", "euro\xe2\x82"},
}

// textState is everything a refused write must leave as it was, as comparable text.
func (f *fixture) textState(t *testing.T, p *keyward.Project) string {
	t.Helper()
	ctx := t.Context()
	projects, err := f.s.ListProjects(ctx, keyward.ProjectFilter{Limit: 1000})
	if err != nil {
		t.Fatalf("ListProjects: %v", err)
	}
	users, err := f.s.ListUsers(ctx, keyward.UserFilter{Limit: 1000})
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	creds, err := f.s.ListCredentials(ctx, keyward.CredentialFilter{ProjectID: p.ID, Limit: 1000})
	if err != nil {
		t.Fatalf("ListCredentials: %v", err)
	}
	clusters, err := f.s.ListClusters(ctx)
	if err != nil {
		t.Fatalf("ListClusters: %v", err)
	}
	hash, err := f.s.PasswordHash(ctx, f.admin.ID)
	if err != nil {
		t.Fatalf("PasswordHash: %v", err)
	}
	b, err := json.Marshal([]any{projects, users, f.roles(t), creds, clusters, f.events(t), hash})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testText: every write refuses a string that keyward.ValidText refuses with EInvalid naming
// the field, writing nothing, and every lookup by such a string is ENotFound, on every engine
// alike.
func testText(t *testing.T, open func(t *testing.T) keyward.Store) {
	type op struct {
		name, field string
		do          func(t *testing.T, f *fixture, p *keyward.Project, c *keyward.Credential, bad string) error
	}
	ctx := t.Context
	okEvent := func(f *fixture) *keyward.Event { return f.event("text.test") }
	ops := []op{
		{"CreateProjectSlug", "slug", func(t *testing.T, f *fixture, _ *keyward.Project, _ *keyward.Credential, bad string) error {
			return f.s.CreateProject(ctx(), &keyward.Project{Slug: bad, Name: "x", CreatedAt: t0}, okEvent(f))
		}},
		{"CreateProjectName", "name", func(t *testing.T, f *fixture, _ *keyward.Project, _ *keyward.Credential, bad string) error {
			return f.s.CreateProject(ctx(), &keyward.Project{Slug: "fresh", Name: bad, CreatedAt: t0}, okEvent(f))
		}},
		{"CreateProjectEvent", "detail", func(t *testing.T, f *fixture, _ *keyward.Project, _ *keyward.Credential, bad string) error {
			ev := okEvent(f)
			ev.Detail = map[string]string{"slug": bad}
			return f.s.CreateProject(ctx(), &keyward.Project{Slug: "fresh", Name: "x", CreatedAt: t0}, ev)
		}},
		{"UpdateProjectName", "name", func(t *testing.T, f *fixture, p *keyward.Project, _ *keyward.Credential, bad string) error {
			np := *p
			np.Name = bad
			return f.s.UpdateProject(ctx(), &np, okEvent(f))
		}},
		{"CreateUserName", "name", func(t *testing.T, f *fixture, _ *keyward.Project, _ *keyward.Credential, bad string) error {
			return f.s.CreateUser(ctx(), &keyward.User{Name: bad, CreatedAt: t0}, "", okEvent(f))
		}},
		{"CreateUserPasswordHash", "password_hash", func(t *testing.T, f *fixture, _ *keyward.Project, _ *keyward.Credential, bad string) error {
			return f.s.CreateUser(ctx(), &keyward.User{Name: "fresh", CreatedAt: t0}, bad, okEvent(f))
		}},
		{"SetPasswordHash", "password_hash", func(t *testing.T, f *fixture, _ *keyward.Project, _ *keyward.Credential, bad string) error {
			_, err := f.s.SetPasswordHash(ctx(), f.admin.ID, bad, okEvent(f), keyward.SessionEnd{At: t0, Event: okEvent(f)})
			return err
		}},
		{"UpdateUserEvent", "actor", func(t *testing.T, f *fixture, _ *keyward.Project, _ *keyward.Credential, bad string) error {
			u := *f.admin
			u.Disabled = true
			ev := okEvent(f)
			ev.Actor = bad
			return f.s.UpdateUser(ctx(), &u, ev)
		}},
		{"CreateRoleName", "name", func(t *testing.T, f *fixture, _ *keyward.Project, _ *keyward.Credential, bad string) error {
			return f.s.CreateRole(ctx(), &keyward.Role{Name: bad}, okEvent(f))
		}},
		{"CreateRolePermission", "permissions", func(t *testing.T, f *fixture, _ *keyward.Project, _ *keyward.Credential, bad string) error {
			return f.s.CreateRole(ctx(), &keyward.Role{Name: "fresh", Permissions: []keyward.Permission{keyward.Permission(bad)}}, okEvent(f))
		}},
		{"UpdateRoleName", "name", func(t *testing.T, f *fixture, _ *keyward.Project, _ *keyward.Credential, bad string) error {
			r := *f.customRole
			r.Name = bad
			return f.s.UpdateRole(ctx(), &r, okEvent(f))
		}},
		{"CreateCredentialName", "name", func(t *testing.T, f *fixture, p *keyward.Project, _ *keyward.Credential, bad string) error {
			c, sec := f.newCredential(p, "fresh", func(c *keyward.Credential) { c.Name = bad })
			return f.s.CreateCredential(ctx(), c, sec, okEvent(f))
		}},
		{"CreateCredentialDescription", "description", func(t *testing.T, f *fixture, p *keyward.Project, _ *keyward.Credential, bad string) error {
			c, sec := f.newCredential(p, "fresh", func(c *keyward.Credential) { c.Description = bad })
			return f.s.CreateCredential(ctx(), c, sec, okEvent(f))
		}},
		{"CreateCredentialMetaKey", "meta", func(t *testing.T, f *fixture, p *keyward.Project, _ *keyward.Credential, bad string) error {
			c, sec := f.newCredential(p, "fresh", func(c *keyward.Credential) { c.Meta = map[string]string{bad: "v"} })
			return f.s.CreateCredential(ctx(), c, sec, okEvent(f))
		}},
		{"CreateCredentialMetaValue", "meta", func(t *testing.T, f *fixture, p *keyward.Project, _ *keyward.Credential, bad string) error {
			c, sec := f.newCredential(p, "fresh", func(c *keyward.Credential) { c.Meta = map[string]string{"k": bad} })
			return f.s.CreateCredential(ctx(), c, sec, okEvent(f))
		}},
		{"CreateCredentialSerial", "serial", func(t *testing.T, f *fixture, p *keyward.Project, _ *keyward.Credential, bad string) error {
			return f.s.CreateCredential(ctx(), f.newCertCredential(p, "fresh", bad, nil), nil, okEvent(f))
		}},
		{"CreateCredentialEvent", "detail", func(t *testing.T, f *fixture, p *keyward.Project, _ *keyward.Credential, bad string) error {
			c, sec := f.newCredential(p, "fresh", nil)
			ev := okEvent(f)
			ev.Detail = map[string]string{bad: "name"}
			return f.s.CreateCredential(ctx(), c, sec, ev)
		}},
		{"UpdateCredentialName", "name", func(t *testing.T, f *fixture, _ *keyward.Project, c *keyward.Credential, bad string) error {
			nc := clone(c)
			nc.Name, nc.UpdatedAt = bad, at(time.Minute)
			return f.s.UpdateCredential(ctx(), nc, okEvent(f))
		}},
		{"UpdateCredentialDescription", "description", func(t *testing.T, f *fixture, _ *keyward.Project, c *keyward.Credential, bad string) error {
			nc := clone(c)
			nc.Description, nc.UpdatedAt = bad, at(time.Minute)
			return f.s.UpdateCredential(ctx(), nc, okEvent(f))
		}},
		{"UpdateCredentialMeta", "meta", func(t *testing.T, f *fixture, _ *keyward.Project, c *keyward.Credential, bad string) error {
			nc := clone(c)
			nc.Meta, nc.UpdatedAt = map[string]string{"team": bad}, at(time.Minute)
			return f.s.UpdateCredential(ctx(), nc, okEvent(f))
		}},
		{"RollCredentialStart", "start", func(t *testing.T, f *fixture, _ *keyward.Project, c *keyward.Credential, bad string) error {
			nc := clone(c)
			nc.Start, nc.UpdatedAt = bad, at(time.Minute)
			return f.s.RollCredential(ctx(), nc, &keyward.CredentialSecret{Digest: digest("rolled"), CreatedAt: at(time.Minute)},
				at(time.Minute), okEvent(f))
		}},
		{"SetRemainingEvent", "outcome", func(t *testing.T, f *fixture, _ *keyward.Project, c *keyward.Credential, bad string) error {
			n := int64(5)
			ev := okEvent(f)
			ev.Outcome = bad
			return f.s.SetRemaining(ctx(), c.ID, &n, ev)
		}},
		{"CreateClusterName", "name", func(t *testing.T, f *fixture, _ *keyward.Project, _ *keyward.Credential, bad string) error {
			cl := newCluster("fresh", nil)
			cl.Name = bad
			return f.s.CreateCluster(ctx(), cl, okEvent(f))
		}},
		{"CreateClusterServer", "server", func(t *testing.T, f *fixture, _ *keyward.Project, _ *keyward.Credential, bad string) error {
			cl := newCluster("fresh", nil)
			cl.Server = bad
			return f.s.CreateCluster(ctx(), cl, okEvent(f))
		}},
		{"CreateClusterCA", "certificate_authority", func(t *testing.T, f *fixture, _ *keyward.Project, _ *keyward.Credential, bad string) error {
			cl := newCluster("fresh", nil)
			cl.CAPEM = bad
			return f.s.CreateCluster(ctx(), cl, okEvent(f))
		}},
		{"PutSettingKey", "key", func(t *testing.T, f *fixture, _ *keyward.Project, _ *keyward.Credential, bad string) error {
			return f.s.PutSetting(ctx(), bad, []byte("v"), okEvent(f))
		}},
		{"CreateSettingKey", "key", func(t *testing.T, f *fixture, _ *keyward.Project, _ *keyward.Credential, bad string) error {
			return f.s.CreateSetting(ctx(), bad, []byte("v"), nil)
		}},
		{"AppendEventDetail", "detail", func(t *testing.T, f *fixture, _ *keyward.Project, _ *keyward.Credential, bad string) error {
			ev := keyward.Event{Time: t0, Action: "login", Outcome: keyward.OutcomeDenied, Detail: map[string]string{"name": bad}}
			return f.s.AppendEvent(ctx(), &ev)
		}},
		{"AppendEventRemoteAddr", "remote_addr", func(t *testing.T, f *fixture, _ *keyward.Project, _ *keyward.Credential, bad string) error {
			ev := keyward.Event{Time: t0, Action: "login", Outcome: keyward.OutcomeDenied, RemoteAddr: bad}
			return f.s.AppendEvent(ctx(), &ev)
		}},
	}
	t.Run("Writes", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "texts")
		c, _ := f.credential(t, p, "victim", nil)
		for _, o := range ops {
			for _, bt := range badTexts {
				t.Run(o.name+"/"+bt.name, func(t *testing.T) {
					before := f.textState(t, p)
					err := o.do(t, f, p, c, bt.s)
					wantCode(t, err, keyward.EInvalid)
					e := err.(*keyward.Error)
					if _, ok := e.Fields[o.field]; !ok || len(e.Fields) != 1 {
						t.Fatalf("error fields %v, want only %q", e.Fields, o.field)
					}
					if !keyward.ValidText(e.Message) {
						t.Fatalf("the error message repeats the refused bytes: %q", e.Message)
					}
					if after := f.textState(t, p); after != before {
						t.Fatalf("a refused write changed the store:\nbefore %s\nafter  %s", before, after)
					}
				})
			}
		}
	})
	t.Run("Bootstrap", func(t *testing.T) {
		for _, bt := range badTexts {
			t.Run(bt.name, func(t *testing.T) {
				s := openStore(t, open)
				b := newBootstrap("")
				b.Admin.Name = bt.s
				wantCode(t, s.Bootstrap(t.Context(), b), keyward.EInvalid)
				// Nothing was written: a valid bootstrap still works.
				if err := s.Bootstrap(t.Context(), newBootstrap("")); err != nil {
					t.Fatalf("Bootstrap after a refused one: %v", err)
				}
			})
		}
	})
	t.Run("LookupsNotFound", func(t *testing.T) {
		f := setup(t, open)
		p := f.project(t, "texts")
		f.credential(t, p, "victim", nil)
		f.cluster(t, "prod", nil)
		f.putSetting(t, "ca", []byte("state"))
		for _, bt := range badTexts {
			t.Run(bt.name, func(t *testing.T) {
				_, err := f.s.ProjectBySlug(t.Context(), bt.s)
				wantCode(t, err, keyward.ENotFound)
				_, err = f.s.UserByName(t.Context(), bt.s)
				wantCode(t, err, keyward.ENotFound)
				_, err = f.s.CredentialByName(t.Context(), p.ID, bt.s)
				wantCode(t, err, keyward.ENotFound)
				_, err = f.s.ClusterByName(t.Context(), bt.s)
				wantCode(t, err, keyward.ENotFound)
				_, err = f.s.Setting(t.Context(), bt.s)
				wantCode(t, err, keyward.ENotFound)
				_, _, err = f.s.CredentialBySerial(t.Context(), bt.s)
				wantCode(t, err, keyward.ENotFound)
			})
		}
	})
}
