// Package storetest is the conformance suite every keyward.Store implementation runs, so that
// the SQLite and PostgreSQL stores behave alike down to error codes and empty slices. The rules
// it checks are written on what they govern: keyward.Store, its role interfaces and their
// methods, and keyward.Revocation.
//
// Run it from the implementation's tests with a function that opens a new, empty store:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) keyward.Store { return open(t) })
//	}
package storetest

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// Run runs the suite, its subtests in parallel. open must return a new, empty, not yet
// bootstrapped store that no other test uses, and may be called from several subtests at once;
// Run calls it once per subtest and closes the store when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) keyward.Store) {
	// Each case has a store of its own: nothing is shared, so they run side by side.
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t)
		})
	}
	run("Bootstrap", func(t *testing.T) { testBootstrap(t, open) })
	run("Closed", func(t *testing.T) { testClosed(t, open) })
	run("Deadline", func(t *testing.T) { testDeadline(t, open) })
	run("Ping", func(t *testing.T) {
		f := setup(t, open)
		if err := f.s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
	run("CreateProject", func(t *testing.T) { testCreateProject(t, open) })
	run("ProjectByID", func(t *testing.T) { testProjectByID(t, open) })
	run("ProjectBySlug", func(t *testing.T) { testProjectBySlug(t, open) })
	run("ListProjects", func(t *testing.T) { testListProjects(t, open) })
	run("CreateUser", func(t *testing.T) { testCreateUser(t, open) })
	run("UserByID", func(t *testing.T) { testUserByID(t, open) })
	run("UserByName", func(t *testing.T) { testUserByName(t, open) })
	run("ListUsers", func(t *testing.T) { testListUsers(t, open) })
	run("UpdateUser", func(t *testing.T) { testUpdateUser(t, open) })
	run("PasswordHash", func(t *testing.T) { testPasswordHash(t, open) })
	run("SetPasswordHash", func(t *testing.T) { testSetPasswordHash(t, open) })
	run("DeleteUser", func(t *testing.T) { testDeleteUser(t, open) })
	run("RevokeSessions", func(t *testing.T) { testRevokeSessions(t, open) })
	run("SetPasswordHashEndsSessions", func(t *testing.T) { testSetPasswordHashEndsSessions(t, open) })
	run("Roles", func(t *testing.T) { testRoles(t, open) })
	run("CreateRole", func(t *testing.T) { testCreateRole(t, open) })
	run("UpdateRole", func(t *testing.T) { testUpdateRole(t, open) })
	run("DeleteRole", func(t *testing.T) { testDeleteRole(t, open) })
	run("RoleBindings", func(t *testing.T) { testRoleBindings(t, open) })
	run("ProjectBindings", func(t *testing.T) { testProjectBindings(t, open) })
	run("CreateRoleBinding", func(t *testing.T) { testCreateRoleBinding(t, open) })
	run("DeleteRoleBinding", func(t *testing.T) { testDeleteRoleBinding(t, open) })
	run("UpdateUserRevoking", func(t *testing.T) { testUpdateUserRevoking(t, open) })
	run("RevokeCreated", func(t *testing.T) { testRevokeCreated(t, open) })
	run("DeleteRoleBindingRevoking", func(t *testing.T) { testDeleteRoleBindingRevoking(t, open) })
	run("CreateCredential", func(t *testing.T) { testCreateCredential(t, open) })
	run("CredentialByID", func(t *testing.T) { testCredentialByID(t, open) })
	run("CredentialByName", func(t *testing.T) { testCredentialByName(t, open) })
	run("CredentialBySecret", func(t *testing.T) { testCredentialBySecret(t, open) })
	run("SecretDigests", func(t *testing.T) { testSecretDigests(t, open) })
	run("VerificationBySecret", func(t *testing.T) { testVerificationBySecret(t, open) })
	run("ListCredentials", func(t *testing.T) { testListCredentials(t, open) })
	run("UpdateCredential", func(t *testing.T) { testUpdateCredential(t, open) })
	run("RollCredential", func(t *testing.T) { testRollCredential(t, open) })
	run("TouchCredentials", func(t *testing.T) { testTouchCredentials(t, open) })
	run("Usage", func(t *testing.T) { testUsage(t, open) })
	run("CredentialLimits", func(t *testing.T) { testCredentialLimits(t, open) })
	run("UpdateCredentialLimits", func(t *testing.T) { testUpdateCredentialLimits(t, open) })
	run("ConsumeCredit", func(t *testing.T) { testConsumeCredit(t, open) })
	run("SetRemaining", func(t *testing.T) { testSetRemaining(t, open) })
	run("UpdateProject", func(t *testing.T) { testUpdateProject(t, open) })
	run("CreateCertificateCredential", func(t *testing.T) { testCreateCertificateCredential(t, open) })
	run("CredentialBySerial", func(t *testing.T) { testCredentialBySerial(t, open) })
	run("RevokeCertificate", func(t *testing.T) { testRevokeCertificate(t, open) })
	run("RollCertificate", func(t *testing.T) { testRollCertificate(t, open) })
	run("RevokedCertificates", func(t *testing.T) { testRevokedCertificates(t, open) })
	run("SealedSecret", func(t *testing.T) { testSealedSecret(t, open) })
	run("Clusters", func(t *testing.T) { testClusters(t, open) })
	run("Settings", func(t *testing.T) { testSettings(t, open) })
	run("CreateSetting", func(t *testing.T) { testCreateSetting(t, open) })
	run("Reseal", func(t *testing.T) { testReseal(t, open) })
	run("AppendEvent", func(t *testing.T) { testAppendEvent(t, open) })
	run("ListEvents", func(t *testing.T) { testListEvents(t, open) })
	run("Text", func(t *testing.T) { testText(t, open) })
	run("Purpose", func(t *testing.T) { testPurpose(t, open) })
	run("WithTx", func(t *testing.T) { testWithTx(t, open) })
}

// RunShared runs the checks that need two stores on one database, as two keyward servers (or
// processes) sharing it have: ConsumeCredit counts every use exactly once whichever store takes
// it, and each store sees what the other wrote. open must return two stores opened separately
// (each with its own connections) on one new, empty, not yet bootstrapped database that no other
// test uses; RunShared calls it once per subtest and closes both stores when the subtest ends.
// A store that cannot be shared runs Run only.
func RunShared(t *testing.T, open func(t *testing.T) (keyward.Store, keyward.Store)) {
	testShared(t, open)
	t.Run("ConcurrentUse", func(t *testing.T) { testConcurrentUse(t, open) })
}

// t0 is the suite's "now": fixed, and a whole number of microseconds so it survives storage.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// at returns t0 moved by d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// ptr returns a pointer to t.
func ptr(t time.Time) *time.Time { return &t }

// digest returns a deterministic 32-byte digest for s, the shape the token package stores.
func digest(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// fixture is a bootstrapped store and what the bootstrap wrote.
type fixture struct {
	s          keyward.Store
	b          *keyward.Bootstrap
	system     *keyward.Project
	admin      *keyward.User
	adminRole  *keyward.Role
	viewerRole *keyward.Role
	customRole *keyward.Role
}

// openStore opens a fresh store and closes it when t ends.
func openStore(t *testing.T, open func(t *testing.T) keyward.Store) keyward.Store {
	t.Helper()
	s := open(t)
	if s == nil {
		t.Fatal("open returned a nil store")
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// setup opens a fresh store and bootstraps it.
func setup(t *testing.T, open func(t *testing.T) keyward.Store) *fixture {
	t.Helper()
	s := openStore(t, open)
	b := newBootstrap("")
	if err := s.Bootstrap(t.Context(), b); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	return &fixture{s: s, b: b, system: b.Project, admin: b.Admin,
		adminRole: b.Roles[0], viewerRole: b.Roles[1], customRole: b.Roles[2]}
}

// newBootstrap returns what a first start writes; suffix varies the names that are not fixed
// by keyward (the admin role's is).
// Two built-in roles carry explicit ids (7 and 8, so that an implementation that ignores
// them shows); the custom role takes an id from the store.
func newBootstrap(suffix string) *keyward.Bootstrap {
	return &keyward.Bootstrap{
		Project: &keyward.Project{Slug: keyward.SystemProject, Name: "System" + suffix, CreatedAt: t0},
		Roles: []*keyward.Role{
			{ID: 7, Name: keyward.RoleAdmin, Permissions: slices.Clone(keyward.AllPermissions), BuiltIn: true},
			{ID: 8, Name: "viewer" + suffix, Permissions: []keyward.Permission{keyward.PermKeysRead, keyward.PermProjectsRead}, BuiltIn: true},
			{Name: "custom" + suffix, Permissions: []keyward.Permission{keyward.PermKeysVerify}},
		},
		Admin: &keyward.User{Name: keyward.AdminUser + suffix, CreatedAt: t0},
		Credential: &keyward.Credential{
			Name: "bootstrap" + suffix, Description: "first admin token", Type: keyward.APIToken,
			Environment: keyward.Live, KeyType: keyward.Secret, Active: true,
			CreatedAt: t0, UpdatedAt: t0, Start: "kw_live_Boot",
		},
		Secret: &keyward.CredentialSecret{Digest: digest("bootstrap" + suffix), CreatedAt: t0},
		Event:  &keyward.Event{Time: t0, Action: "bootstrap", Outcome: keyward.OutcomeSuccess},
	}
}

// event returns a success event for action at t0, by the admin.
func (f *fixture) event(action string) *keyward.Event {
	return &keyward.Event{Time: t0, ActorUserID: f.admin.ID, Actor: f.admin.Name, Action: action,
		RemoteAddr: "192.0.2.1", Outcome: keyward.OutcomeSuccess}
}

// project creates a project with slug.
func (f *fixture) project(t *testing.T, slug string) *keyward.Project {
	t.Helper()
	p := &keyward.Project{Slug: slug, Name: "Project " + slug, CreatedAt: t0}
	if err := f.s.CreateProject(t.Context(), p, f.event("project.create")); err != nil {
		t.Fatalf("CreateProject(%q): %v", slug, err)
	}
	return p
}

// newCredential returns an unsaved active API token of the project, created by the admin, whose
// secret's digest is derived from project and name. mod, when not nil, changes it before use.
func (f *fixture) newCredential(p *keyward.Project, name string, mod func(*keyward.Credential)) (*keyward.Credential, *keyward.CredentialSecret) {
	c := &keyward.Credential{
		ProjectID: p.ID, Name: name, Description: "key " + name, Type: keyward.APIToken,
		Environment: keyward.Live, KeyType: keyward.Secret, CreatedBy: f.admin.ID,
		RoleIDs: []int64{f.viewerRole.ID}, Meta: map[string]string{"team": "core"},
		ExpiresAt: ptr(at(90 * 24 * time.Hour)), Active: true,
		CreatedAt: t0, UpdatedAt: t0, Start: "kw_live_" + name[:1],
	}
	if mod != nil {
		mod(c)
	}
	sec := &keyward.CredentialSecret{Digest: digest(p.Slug + "/" + name), CreatedAt: c.CreatedAt}
	return c, sec
}

// credential creates what newCredential returns.
func (f *fixture) credential(t *testing.T, p *keyward.Project, name string, mod func(*keyward.Credential)) (*keyward.Credential, *keyward.CredentialSecret) {
	t.Helper()
	c, sec := f.newCredential(p, name, mod)
	if err := f.s.CreateCredential(t.Context(), c, sec, f.event("credential.create")); err != nil {
		t.Fatalf("CreateCredential(%q): %v", name, err)
	}
	return c, sec
}

// reread returns the stored credential c.
func (f *fixture) reread(t *testing.T, c *keyward.Credential) *keyward.Credential {
	t.Helper()
	got, err := f.s.CredentialByID(t.Context(), c.ProjectID, c.ID)
	if err != nil {
		t.Fatalf("CredentialByID(%d, %d): %v", c.ProjectID, c.ID, err)
	}
	return got
}

// events returns every stored event, newest first.
func (f *fixture) events(t *testing.T) []*keyward.Event {
	t.Helper()
	evs, err := f.s.ListEvents(t.Context(), keyward.EventFilter{Limit: 1000})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	return evs
}

// wantCode fails t unless err carries code.
func wantCode(t *testing.T, err error, code keyward.Code) {
	t.Helper()
	if got := keyward.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// clone returns a deep copy of c, so a test can keep what it sent.
func clone(c *keyward.Credential) *keyward.Credential {
	n := *c
	n.RoleIDs = slices.Clone(c.RoleIDs)
	if c.Meta != nil {
		n.Meta = make(map[string]string, len(c.Meta))
		for k, v := range c.Meta {
			n.Meta[k] = v
		}
	}
	for _, p := range []**time.Time{&n.NotBefore, &n.ExpiresAt, &n.RevokedAt, &n.LastUsedAt, &n.LastRefillAt} {
		if *p != nil {
			t := **p
			*p = &t
		}
	}
	if c.RateLimit != nil {
		r := *c.RateLimit
		n.RateLimit = &r
	}
	if c.Remaining != nil {
		r := *c.Remaining
		n.Remaining = &r
	}
	if c.Refill != nil {
		r := *c.Refill
		n.Refill = &r
	}
	return &n
}

// sameTime compares two optional times: both nil, or equal instants and both in UTC.
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b) && a.Location() == b.Location()
}

// credentialDiff lists the fields in which got differs from want; State is not compared.
func credentialDiff(got, want *keyward.Credential) []string {
	var d []string
	add := func(name string, g, w any) { d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w)) }
	if got.ID != want.ID {
		add("ID", got.ID, want.ID)
	}
	if got.ProjectID != want.ProjectID {
		add("ProjectID", got.ProjectID, want.ProjectID)
	}
	if got.Project != want.Project {
		add("Project", got.Project, want.Project)
	}
	if got.Name != want.Name {
		add("Name", got.Name, want.Name)
	}
	if got.Description != want.Description {
		add("Description", got.Description, want.Description)
	}
	if got.Type != want.Type {
		add("Type", got.Type, want.Type)
	}
	if got.Environment != want.Environment {
		add("Environment", got.Environment, want.Environment)
	}
	if got.KeyType != want.KeyType {
		add("KeyType", got.KeyType, want.KeyType)
	}
	if got.CreatedBy != want.CreatedBy {
		add("CreatedBy", got.CreatedBy, want.CreatedBy)
	}
	if got.RoleIDs == nil || !slices.Equal(got.RoleIDs, want.RoleIDs) {
		add("RoleIDs", fmt.Sprintf("%#v", got.RoleIDs), want.RoleIDs)
	}
	if got.Meta == nil || !(len(got.Meta) == 0 && len(want.Meta) == 0 || reflect.DeepEqual(got.Meta, want.Meta)) {
		add("Meta", fmt.Sprintf("%#v", got.Meta), want.Meta)
	}
	for _, tf := range []struct {
		name      string
		got, want *time.Time
	}{
		{"NotBefore", got.NotBefore, want.NotBefore},
		{"ExpiresAt", got.ExpiresAt, want.ExpiresAt},
		{"RevokedAt", got.RevokedAt, want.RevokedAt},
		{"LastUsedAt", got.LastUsedAt, want.LastUsedAt},
		{"LastRefillAt", got.LastRefillAt, want.LastRefillAt},
		{"CreatedAt", &got.CreatedAt, &want.CreatedAt},
		{"UpdatedAt", &got.UpdatedAt, &want.UpdatedAt},
	} {
		if !sameTime(tf.got, tf.want) {
			add(tf.name, tf.got, tf.want)
		}
	}
	if got.Active != want.Active {
		add("Active", got.Active, want.Active)
	}
	if got.Version != want.Version {
		add("Version", got.Version, want.Version)
	}
	if got.Start != want.Start {
		add("Start", got.Start, want.Start)
	}
	if got.Serial != want.Serial {
		add("Serial", got.Serial, want.Serial)
	}
	if got.Fingerprint != want.Fingerprint {
		add("Fingerprint", got.Fingerprint, want.Fingerprint)
	}
	if got.Cluster != want.Cluster {
		add("Cluster", got.Cluster, want.Cluster)
	}
	if got.Namespace != want.Namespace {
		add("Namespace", got.Namespace, want.Namespace)
	}
	if got.Recoverable != want.Recoverable {
		add("Recoverable", got.Recoverable, want.Recoverable)
	}
	if got.Purpose != want.Purpose {
		add("Purpose", got.Purpose, want.Purpose)
	}
	if !samePtr(got.RateLimit, want.RateLimit) {
		add("RateLimit", show(got.RateLimit), show(want.RateLimit))
	}
	if !samePtr(got.Remaining, want.Remaining) {
		add("Remaining", show(got.Remaining), show(want.Remaining))
	}
	if !samePtr(got.Refill, want.Refill) {
		add("Refill", show(got.Refill), show(want.Refill))
	}
	return d
}

// samePtr compares two optional values: both nil, or equal values.
func samePtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// show renders an optional value for a message: "nil" or the value.
func show[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprintf("%+v", *p)
}

// checkCredential fails t when got differs from want.
func checkCredential(t *testing.T, got, want *keyward.Credential) {
	t.Helper()
	if d := credentialDiff(got, want); len(d) > 0 {
		t.Fatalf("credential %d differs:\n%v", want.ID, d)
	}
}

// checkEvent fails t when got differs from want (Detail: nil and empty are alike).
func checkEvent(t *testing.T, got, want *keyward.Event) {
	t.Helper()
	g, w := *got, *want
	if len(g.Detail) == 0 {
		g.Detail = nil
	}
	if len(w.Detail) == 0 {
		w.Detail = nil
	}
	if !g.Time.Equal(w.Time) || g.Time.Location() != time.UTC {
		t.Fatalf("event %d Time = %v, want %v (UTC)", w.ID, g.Time, w.Time)
	}
	g.Time, w.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("event differs:\n got %+v\nwant %+v", g, w)
	}
}

// names returns the names of cs, in order.
func names(cs []*keyward.Credential) []string {
	ns := []string{}
	for _, c := range cs {
		ns = append(ns, c.Name)
	}
	return ns
}
