package authority_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgrestest"
	"github.com/keyward/keyward/snapshot"
	"github.com/keyward/keyward/sqlite"
)

// errInjected is the failure faultStore injects.
var errInjected = errors.New("injected write failure")

// faultControl decides which write inside a transaction fails, and counts them.
type faultControl struct {
	mu     sync.Mutex
	failAt int // the 1-based write that fails; 0 for none
	writes int // writes seen inside transactions since reset
}

func (c *faultControl) arm(n int) {
	c.mu.Lock()
	c.failAt, c.writes = n, 0
	c.mu.Unlock()
}

func (c *faultControl) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// faultStore fails the Nth mutating call made inside a transaction (WithTx), AppendEvent
// included; outside transactions it only passes calls on.
type faultStore struct {
	keyward.Store
	ctl  *faultControl
	inTx bool
}

func (s *faultStore) WithTx(ctx context.Context, fn func(tx keyward.Store) error) error {
	return s.Store.WithTx(ctx, func(tx keyward.Store) error {
		return fn(&faultStore{Store: tx, ctl: s.ctl, inTx: true})
	})
}

// write counts one mutating call and tells whether it fails.
func (s *faultStore) write() error {
	if !s.inTx {
		return nil
	}
	s.ctl.mu.Lock()
	defer s.ctl.mu.Unlock()
	s.ctl.writes++
	if s.ctl.writes == s.ctl.failAt {
		return errInjected
	}
	return nil
}

// Export reads the snapshot the comparisons use, from the store underneath.
func (s *faultStore) Export(ctx context.Context) (*snapshot.Snapshot, error) {
	return s.Store.(snapshot.Exporter).Export(ctx)
}

func (s *faultStore) CreateProject(ctx context.Context, p *keyward.Project, ev *keyward.Event) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.CreateProject(ctx, p, ev)
}

func (s *faultStore) UpdateProject(ctx context.Context, p *keyward.Project, ev *keyward.Event) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.UpdateProject(ctx, p, ev)
}

func (s *faultStore) CreateUser(ctx context.Context, u *keyward.User, hash string, ev *keyward.Event) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.CreateUser(ctx, u, hash, ev)
}

func (s *faultStore) UpdateUser(ctx context.Context, u *keyward.User, ev *keyward.Event) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.UpdateUser(ctx, u, ev)
}

func (s *faultStore) DeleteUser(ctx context.Context, id int64, at time.Time, ev *keyward.Event) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.DeleteUser(ctx, id, at, ev)
}

func (s *faultStore) CreateRoleBinding(ctx context.Context, b keyward.RoleBinding, ev *keyward.Event) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.CreateRoleBinding(ctx, b, ev)
}

func (s *faultStore) DeleteRoleBinding(ctx context.Context, b keyward.RoleBinding, ev *keyward.Event) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.DeleteRoleBinding(ctx, b, ev)
}

func (s *faultStore) UpdateUserRevoking(ctx context.Context, u *keyward.User, ev *keyward.Event, rv keyward.Revocation) ([]int64, error) {
	if err := s.write(); err != nil {
		return nil, err
	}
	return s.Store.UpdateUserRevoking(ctx, u, ev, rv)
}

func (s *faultStore) RevokeCreated(ctx context.Context, id int64, at time.Time, rv keyward.Revocation) ([]int64, error) {
	if err := s.write(); err != nil {
		return nil, err
	}
	return s.Store.RevokeCreated(ctx, id, at, rv)
}

func (s *faultStore) CreateCredential(ctx context.Context, c *keyward.Credential, sec *keyward.CredentialSecret, ev *keyward.Event) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.CreateCredential(ctx, c, sec, ev)
}

func (s *faultStore) UpdateCredential(ctx context.Context, c *keyward.Credential, ev *keyward.Event) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.UpdateCredential(ctx, c, ev)
}

func (s *faultStore) RollCredential(ctx context.Context, c *keyward.Credential, sec *keyward.CredentialSecret, grace time.Time, ev *keyward.Event) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.RollCredential(ctx, c, sec, grace, ev)
}

func (s *faultStore) SetRemaining(ctx context.Context, id int64, remaining *int64, ev *keyward.Event) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.SetRemaining(ctx, id, remaining, ev)
}

func (s *faultStore) AppendEvent(ctx context.Context, ev *keyward.Event) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.AppendEvent(ctx, ev)
}

// engine is one kind of store: start, called once in the engine's test, returns what opens
// an empty store for one subtest.
type engine struct {
	name  string
	start func(t *testing.T) func(t *testing.T) keyward.Store
}

// engines are the stores the authority's transactions are proven on. PostgreSQL takes one
// database for the engine's test and a schema per subtest.
var engines = []engine{
	{"SQLite", func(*testing.T) func(t *testing.T) keyward.Store {
		return func(t *testing.T) keyward.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "keyward.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}},
	{"PostgreSQL", func(t *testing.T) func(t *testing.T) keyward.Store {
		db := postgrestest.URL(t)
		return func(t *testing.T) keyward.Store {
			s, err := postgres.Open(context.Background(), postgrestest.SchemaURL(t, db))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}},
}

// newFaultFixture is newOwnKeys over a faultStore on store.
func newFaultFixture(t *testing.T, store keyward.Store) (*rbacFixture, *faultStore) {
	t.Helper()
	ctx := context.Background()
	mk, err := masterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	fs := &faultStore{Store: store, ctl: &faultControl{}}
	clk := &clock{t: t0}
	a := authority.New(fs, authority.Options{Now: clk.Now, UsageFlushInterval: time.Hour, PasswordParams: fastHash, MasterKey: mk})
	t.Cleanup(func() { a.Close() })
	tok, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	caller, err := a.Authenticate(ctx, tok, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	f := &rbacFixture{&fixture{a: a, clock: clk, admin: keyward.NewContext(ctx, caller)}}
	for _, slug := range []string{"acme", "globex"} {
		if _, err := a.CreateProject(f.admin, keyward.CreateProjectInput{Slug: slug}); err != nil {
			t.Fatal(err)
		}
	}
	return f, fs
}

// export returns the whole store as JSON, the before and after of a failed operation.
func export(t *testing.T, fs *faultStore) string {
	t.Helper()
	snap, err := fs.Export(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(snap, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// firstDiff returns the first line where a and b differ, for a readable failure.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return "line " + al[i] + " -> " + bl[i]
		}
	}
	return "one is a prefix of the other"
}

// TestUnitOfWork proves every multi-step operation is one transaction: for each N from 1 to
// its number of writes, failing the Nth write inside the transaction leaves the store exactly
// as it was (every row, audit events included), and with no failure it succeeds with exactly
// that many writes. It runs on SQLite and PostgreSQL.
func TestUnitOfWork(t *testing.T) {
	type operation struct {
		name   string
		writes int
		// setup prepares the state and returns the operation, which must be repeatable after
		// a failure (a failed run leaves nothing that could change the next).
		setup func(t *testing.T, f *rbacFixture) func() error
	}
	ops := []operation{
		{"RegenerateOwnKeys", 8, func(t *testing.T, f *rbacFixture) func() error {
			cli := f.user(t, "cli", "Client")
			f.ownRegenerate(t, cli, authority.RegenerateOwnKeysInput{OwnKeysScope: ownScope("acme")})
			return func() error {
				// 4 new keys, 4 old ones revoked.
				_, err := f.a.RegenerateOwnKeys(cli, authority.RegenerateOwnKeysInput{OwnKeysScope: ownScope("acme")})
				return err
			}
		}},
		{"CreateServiceCredential", 4, func(t *testing.T, f *rbacFixture) func() error {
			return func() error {
				// The service user, two bindings, the credential.
				_, err := f.a.CreateServiceCredential(f.admin, "acme", authority.CreateServiceCredentialInput{
					Name: "deployer", Access: svcAccess("acme", "Client", "globex", "viewer"),
				})
				return err
			}
		}},
		{"UpdateCredential", 2, func(t *testing.T, f *rbacFixture) func() error {
			if _, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: "k", Remaining: ptr(int64(3))}); err != nil {
				t.Fatal(err)
			}
			return func() error {
				// The update, then the uses left.
				_, err := f.a.UpdateCredential(f.admin, "acme", "k", keyward.UpdateCredentialInput{
					Description: ptr("changed"), Remaining: ptr(int64(10)),
				})
				return err
			}
		}},
		{"UpdateAndRollCredential", 3, func(t *testing.T, f *rbacFixture) func() error {
			if _, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: "k", Remaining: ptr(int64(3))}); err != nil {
				t.Fatal(err)
			}
			return func() error {
				// The update, the uses left, the roll.
				_, _, err := f.a.UpdateAndRollCredential(f.admin, "acme", "k",
					&keyward.UpdateCredentialInput{Name: ptr("k2"), Remaining: ptr(int64(10))}, &keyward.RollInput{})
				return err
			}
		}},
		{"RevokeCredentials", 4, func(t *testing.T, f *rbacFixture) func() error {
			for _, n := range []string{"a", "b", "c"} {
				if _, err := f.a.CreateCredential(f.admin, "acme", keyward.CreateCredentialInput{Name: n}); err != nil {
					t.Fatal(err)
				}
			}
			svc, err := f.a.CreateServiceCredential(f.admin, "acme", authority.CreateServiceCredentialInput{
				Name: "svc", Access: svcAccess("acme", "Client"),
			})
			if err != nil {
				t.Fatal(err)
			}
			return func() error {
				// Three keys, and the service credential with its user (one write).
				res, err := f.a.RevokeCredentials(f.admin, "acme", authority.RevokeManyInput{Names: []string{"a", "missing", "b", svc.Name, "c"}})
				if err != nil {
					return err
				}
				if len(res.Revoked) != 4 || len(res.Failed) != 1 || res.Failed[0].Name != "missing" {
					t.Errorf("result %+v, want 4 revoked and missing failed", res)
				}
				return nil
			}
		}},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			open := e.start(t)
			for _, op := range ops {
				t.Run(op.name, func(t *testing.T) {
					f, fs := newFaultFixture(t, open(t))
					run := op.setup(t, f)
					before := export(t, fs)
					for n := 1; n <= op.writes; n++ {
						fs.ctl.arm(n)
						err := run()
						if !errors.Is(err, errInjected) && !strings.Contains(errString(err), errInjected.Error()) {
							t.Fatalf("write %d failing: err = %v, want the injected failure", n, err)
						}
						if after := export(t, fs); after != before {
							t.Fatalf("write %d failing left a change behind: %s", n, firstDiff(before, after))
						}
					}
					fs.ctl.arm(0)
					if err := run(); err != nil {
						t.Fatalf("with no failure: %v", err)
					}
					if got := fs.ctl.count(); got != op.writes {
						t.Fatalf("%d writes, want %d", got, op.writes)
					}
					if export(t, fs) == before {
						t.Fatal("the operation changed nothing")
					}
				})
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
