package escalationtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/dialect/f5xc"
	"github.com/keyward/keyward/dialect/projectkeys"
	"github.com/keyward/keyward/dialect/servicestack"
	"github.com/keyward/keyward/dialect/voltmx"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/authoritytest"
	"github.com/keyward/keyward/internal/openapitest"
	"github.com/keyward/keyward/password"
	"github.com/keyward/keyward/ratelimit"
)

// Fixed inputs of every certificate the fixture makes or asks for.
const (
	Cluster     = "esc-vk8s"
	Namespace   = "default"
	P12Password = "escalation-bundle"
	// P12Encoding is legacy because a modern bundle costs 200,000 PBKDF2 rounds to write and as
	// many to read, which thousands of cells cannot afford; what the bundle holds is the same.
	P12Encoding = "legacy"
	passphrase  = "escalation passphrase"
)

// Fixture is one keyward server with every surface mounted as `keyward serve` mounts them, on
// a loopback port, over SQLite, with every principal of the matrix logged in. Recoverable keys
// are on in Project and a virtual cluster is configured, so every credential type can be made.
type Fixture struct {
	URL     string
	Auth    *authority.Authority
	Store   keyward.Store
	Project *keyward.Project

	// Callers and Holders are the rows and columns, with their tokens.
	Callers, Holders []*Principal
	// Displays holds, per holder label, a recoverable API key of that holder that was rolled
	// with a grace period: its current key is sealed, its previous one still opens it. Reads
	// and reveals share these; nothing may change them.
	Displays map[string]*Target
	// DisplayOrder lists Displays in the order they were created, which is the order of ids.
	DisplayOrder []*Target
	// Bootstrap is the bootstrap admin's own first key, "bootstrap-admin": the first target of
	// its column that a change cell takes.
	Bootstrap *Target

	admin    context.Context
	client   *http.Client
	mu       sync.Mutex
	sessions map[string]string // user name -> login session token
	seq      atomic.Int64
}

// Start starts the server and sets up every principal; everything ends with the test.
func Start(t testing.TB) *Fixture {
	t.Helper()
	ctx := context.Background()
	store := authoritytest.Store(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := authoritytest.New(t, store, authority.Options{
		Logger: logger, PasswordParams: password.Params{Memory: 1024, Time: 1, Threads: 1},
		LoginUserRate: ratelimit.Rate{Limit: 1000, Period: time.Second}, LoginAddrRate: ratelimit.Rate{Limit: 1000, Period: time.Second},
	})
	tok, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.InitCA(ctx); err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(a, store, httpapi.Options{Logger: logger})
	f5xc.New(a, f5xc.Options{Logger: logger}).Register(api.Mount)
	voltmx.New(a, voltmx.Options{Logger: logger}).Register(api.Mount)
	projectkeys.New(a, projectkeys.Options{Logger: logger}).Register(api.Mount)
	servicestack.New(a, servicestack.Options{Logger: logger}).Register(api.Mount)
	// The native API's exchanges are held to its OpenAPI document; the dialects have none. A
	// dialect's path is its own whatever the method: it answers a wrong method in its own shape.
	dialects, seen := http.NewServeMux(), map[string]bool{}
	for _, pattern := range api.Mounts() {
		if _, path, ok := strings.Cut(pattern, " "); ok {
			pattern = path
		}
		if !seen[pattern] {
			seen[pattern] = true
			dialects.Handle(pattern, http.NotFoundHandler())
		}
	}
	srv := httptest.NewServer(openapitest.Handler(t, api, func(r *http.Request) bool {
		_, pattern := dialects.Handler(r)
		return pattern != ""
	}))
	t.Cleanup(srv.Close)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	t.Cleanup(transport.CloseIdleConnections)

	f := &Fixture{URL: srv.URL, Auth: a, Store: store, client: &http.Client{Transport: transport}, sessions: map[string]string{}}
	admin, err := a.Authenticate(ctx, tok, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	f.admin = keyward.NewContext(ctx, admin)
	f.Bootstrap = &Target{ID: admin.Credential.ID, Name: admin.Credential.Name, Type: keyward.APIToken, Key: tok}
	on := true
	if f.Project, err = a.UpdateProject(f.admin, Project, keyward.UpdateProjectInput{RecoverableKeys: &on}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateCluster(f.admin, keyward.ClusterInput{Name: Cluster, Server: "https://127.0.0.1:6443"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range CustomRoles {
		if _, err := a.CreateRole(f.admin, keyward.RoleInput{Name: r.Name, Permissions: r.Perms}); err != nil {
			t.Fatal(err)
		}
	}
	f.sessions[keyward.AdminUser] = tok
	f.Holders = Holders()
	for _, h := range f.Holders {
		if err := f.Add(h); err != nil {
			t.Fatal(err)
		}
		if h.Label == BootstrapLabel {
			f.Bootstrap.Holder, f.Bootstrap.Held = h, HeldBy(h)
		}
	}
	// The display keys come first, so that they are the oldest API keys after the bootstrap
	// admin's: a list of the first len(Displays)+1 keys shows them all.
	f.Displays = map[string]*Target{}
	for _, h := range f.Holders {
		d, err := f.NewTarget(h, keyward.APIToken)
		if err != nil {
			t.Fatal(err)
		}
		old := d.Key
		ctx, err := f.creatorCtx(h)
		if err != nil {
			t.Fatal(err)
		}
		issued, err := a.RollCredential(ctx, Project, strconv.FormatInt(d.ID, 10), keyward.RollInput{GraceSeconds: 3600})
		if err != nil {
			t.Fatal(err)
		}
		d.Key, d.OldKey = issued.Key, old
		f.Displays[h.Label] = d
		f.DisplayOrder = append(f.DisplayOrder, d)
	}
	f.Callers = Callers()
	for _, c := range f.Callers {
		if err := f.Add(c); err != nil {
			t.Fatal(err)
		}
		got, err := f.TokenRights(c.Token)
		if err != nil {
			t.Fatal(err)
		}
		if want := c.Rights(); got.String() != want.String() {
			t.Fatalf("the model and the server disagree on %s: server %s, model %s", c.Label, got, want)
		}
	}
	return f
}

// Add creates p's user (unless it exists) with p's bindings, logs it in, and sets p.Token: the
// session, or a new API key with p.KeyRoles made by that session.
func (f *Fixture) Add(p *Principal) error {
	f.mu.Lock()
	session, ok := f.sessions[p.User]
	f.mu.Unlock()
	if !ok {
		if _, err := f.Auth.CreateUser(f.admin, keyward.CreateUserInput{Name: p.User, Password: passphrase}); err != nil {
			return fmt.Errorf("creating user %s: %w", p.User, err)
		}
		for _, b := range p.Bindings {
			var err error
			if b.Scope == Global {
				_, err = f.Auth.GrantGlobalRole(f.admin, p.User, b.Role)
			} else {
				_, err = f.Auth.AddMember(f.admin, b.Scope, keyward.BindingInput{User: p.User, Role: b.Role})
			}
			if err != nil {
				return fmt.Errorf("binding %s to %s: %w", p.User, b, err)
			}
		}
		issued, err := f.Auth.Login(context.Background(), keyward.LoginInput{Name: p.User, Password: passphrase}, "127.0.0.1")
		if err != nil {
			return fmt.Errorf("logging %s in: %w", p.User, err)
		}
		session = issued.Key
		f.mu.Lock()
		f.sessions[p.User] = session
		f.mu.Unlock()
	}
	p.Token = session
	if p.KeyRoles == nil {
		return nil
	}
	ctx, err := f.ContextOf(session)
	if err != nil {
		return err
	}
	issued, err := f.Auth.CreateCredential(ctx, Project, keyward.CreateCredentialInput{Name: f.Name("key"), Roles: p.KeyRoles})
	if err != nil {
		return fmt.Errorf("creating the key of %s: %w", p.Label, err)
	}
	p.Token = issued.Key
	return nil
}

// Session returns the login session token of a user the fixture set up.
func (f *Fixture) Session(user string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sessions[user]
}

// ContextOf returns a context whose caller is the one tok authenticates, for calling the
// authority in process.
func (f *Fixture) ContextOf(tok string) (context.Context, error) {
	c, err := f.Auth.Authenticate(context.Background(), tok, "127.0.0.1")
	if err != nil {
		return nil, err
	}
	return keyward.NewContext(context.Background(), c), nil
}

// Name returns a credential name no other call returns.
func (f *Fixture) Name(prefix string) string {
	return prefix + "-" + strconv.FormatInt(f.seq.Add(1), 10)
}

// creatorCtx is the context in which holder's credentials are made. A holder whose role cannot
// create or roll keys (Partner, viewer) is given the owner's key permissions in Project for
// that call only: the credential's creator is still the holder, and what it can do is computed,
// as always, from the holder's real bindings when it is used.
func (f *Fixture) creatorCtx(holder *Principal) (context.Context, error) {
	if holder.User == keyward.AdminUser {
		// The bootstrap admin's first key may have been rolled or revoked by a cell by now; its
		// caller, authenticated at the start, still acts in process.
		return f.admin, nil
	}
	c, err := f.Auth.Authenticate(context.Background(), f.Session(holder.User), "127.0.0.1")
	if err != nil {
		return nil, fmt.Errorf("the session of %s: %w", holder.User, err)
	}
	if !holder.Holds(keyward.PermKeysCreate, keyward.PermKeysRoll) {
		grants := map[int64]map[keyward.Permission]bool{}
		for id, ps := range c.Grants {
			grants[id] = ps
		}
		grants[f.Project.ID] = map[keyward.Permission]bool{}
		for _, p := range Perms("owner") {
			grants[f.Project.ID][p] = true
		}
		elevated := *c
		elevated.Grants = grants
		c = &elevated
	}
	return keyward.NewContext(context.Background(), c), nil
}

// Target is a credential a cell acts on.
type Target struct {
	ID     int64
	Name   string
	Type   keyward.CredentialType
	Key    string // an API token's current key
	OldKey string // a display key's previous key, still valid for its grace period
	Holder *Principal
	Held   Held
	snap   string // the last Snapshot a cell took of a pooled target
}

// CertOptions are the options of every certificate the fixture and the cells ask for.
func CertOptions(t keyward.CredentialType) keyward.CertificateOptions {
	if t == keyward.APICertificate {
		return keyward.CertificateOptions{Password: P12Password, Encoding: P12Encoding}
	}
	return keyward.CertificateOptions{}
}

// NewTarget makes a credential of type t in Project held by holder, carrying holder's role:
// made by holder (in process), or for a service holder by the bootstrap admin as an F5 XC
// service credential, whose service user holds the role.
func (f *Fixture) NewTarget(holder *Principal, t keyward.CredentialType) (*Target, error) {
	name := f.Name("t")
	days := int64(30)
	var (
		issued *keyward.IssuedCredential
		err    error
	)
	if holder.Service {
		in := authority.CreateServiceCredentialInput{Type: t, Name: name, ExpirationDays: &days, CertificateOptions: CertOptions(t),
			Access: []authority.ProjectRole{{Project: Project, Role: holder.Role()}}}
		if t.ForCluster() {
			in.VirtualK8sName, in.VirtualK8sNamespace = Cluster, Namespace
		}
		issued, err = f.Auth.CreateServiceCredential(f.admin, Project, in)
	} else {
		in := keyward.CreateCredentialInput{Type: t, Name: name, ExpirationDays: &days, Roles: []string{holder.Role()},
			CertificateOptions: CertOptions(t)}
		if t.ForCluster() {
			in.VirtualK8sName, in.VirtualK8sNamespace = Cluster, Namespace
		}
		ctx, cerr := f.creatorCtx(holder)
		if cerr != nil {
			return nil, cerr
		}
		issued, err = f.Auth.CreateCredential(ctx, Project, in)
	}
	if err != nil {
		return nil, fmt.Errorf("making a %s of %s: %w", t, holder.Label, err)
	}
	return &Target{ID: issued.ID, Name: name, Type: t, Key: issued.Key, Holder: holder, Held: HeldBy(holder)}, nil
}

// Do sends a request to the server with the given headers (pairs of name and value) and
// returns the status and body.
func (f *Fixture) Do(method, path, contentType, body string, header ...string) (int, []byte, error) {
	req, err := http.NewRequest(method, f.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := f.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// TokenRights asks /v1/whoami what a token may do. A token that no longer authenticates holds
// nothing.
func (f *Fixture) TokenRights(tok string) (Rights, error) {
	status, body, err := f.Do("GET", "/v1/whoami", "", "", "Authorization", "Bearer "+tok)
	if err != nil {
		return nil, err
	}
	if status == http.StatusUnauthorized {
		return Rights{}, nil
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("whoami: %d %.200s", status, body)
	}
	var w keyward.Whoami
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, err
	}
	r := Rights{}
	for scope, ps := range w.Permissions {
		for _, p := range ps {
			r.add(scope, p)
		}
	}
	return r, nil
}

// UserRights computes, with the model's rule, the rights of a user's credential with roles
// (role names; nil for a session) from the user's bindings as the store holds them now.
func (f *Fixture) UserRights(user string, roles []string) (Rights, error) {
	ctx := context.Background()
	u, err := f.Store.UserByName(ctx, user)
	if keyward.ErrorCode(err) == keyward.ENotFound {
		return Rights{}, nil
	} else if err != nil {
		return nil, err
	}
	if u.Disabled {
		return Rights{}, nil
	}
	bs, err := f.Store.RoleBindings(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	names, err := f.roleNames()
	if err != nil {
		return nil, err
	}
	var bindings []Binding
	for _, b := range bs {
		scope := Global
		if b.ProjectID != 0 {
			p, err := f.Store.ProjectByID(ctx, b.ProjectID)
			if err != nil {
				return nil, err
			}
			scope = p.Slug
		}
		bindings = append(bindings, Binding{Role: names[b.RoleID], Scope: scope})
	}
	if roles != nil {
		roles = slices.DeleteFunc(slices.Clone(roles), func(r string) bool { _, ok := roleDefs[r]; return !ok })
		if roles == nil {
			roles = []string{}
		}
	}
	return RightsOf(bindings, roles), nil
}

// roleNames maps every stored role's id to its name.
func (f *Fixture) roleNames() (map[int64]string, error) {
	rs, err := f.Store.Roles(context.Background())
	if err != nil {
		return nil, err
	}
	out := map[int64]string{}
	for _, r := range rs {
		out[r.ID] = r.Name
	}
	return out, nil
}

// RoleNames returns the names of role ids.
func (f *Fixture) RoleNames(ids []int64) ([]string, error) {
	names, err := f.roleNames()
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, id := range ids {
		out = append(out, names[id])
	}
	return out, nil
}
