package authority_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"regexp"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlitetest"
)

// newFollow is newRBAC with a CA and two virtual clusters: prod, whose client certificates
// keyward's CA signs, and own, which has a client CA of its own.
func newFollow(t *testing.T) *rbacFixture {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	mk, err := masterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: s}
	clk := &clock{t: t0}
	a := authority.New(cs, authority.Options{Now: clk.Now, UsageFlushInterval: time.Hour, PasswordParams: fastHash, MasterKey: mk})
	t.Cleanup(func() { a.Close() })
	tok, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.InitCA(ctx); err != nil {
		t.Fatal(err)
	}
	caller, err := a.Authenticate(ctx, tok, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	f := &rbacFixture{&fixture{a: a, store: cs, clock: clk, admin: keyward.NewContext(ctx, caller)}}
	for _, slug := range []string{"acme", "globex"} {
		if _, err := a.CreateProject(f.admin, keyward.CreateProjectInput{Slug: slug}); err != nil {
			t.Fatal(err)
		}
	}
	certPEM, keyPEM := clientCA(t)
	for _, in := range []keyward.ClusterInput{
		{Name: "prod", Server: "https://k8s.example.com:6443"},
		{Name: "own", Server: "https://own.example.com:6443", ClientCACert: string(certPEM), ClientCAKey: string(keyPEM)},
	} {
		if _, err := a.CreateCluster(f.admin, in); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// clientCA returns a CA certificate and key in PEM, valid from 2000 to 2100 whatever today is.
func clientCA(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "own cluster client CA"},
		NotBefore: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA: true, BasicConstraintsValid: true, SubjectKeyId: []byte{1, 2, 3, 4},
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

const p12Password = "bundle password 77"

// issue creates a credential of typ in project as ctx's caller; a KUBE_CONFIG goes to cluster.
func (f *rbacFixture) issueAs(t *testing.T, ctx context.Context, project, name string, typ keyward.CredentialType, cluster string, roles ...string) *keyward.IssuedCredential {
	t.Helper()
	in := keyward.CreateCredentialInput{Name: name, Type: typ, Roles: roles}
	switch typ {
	case keyward.APICertificate:
		// Legacy encoding: these tests follow the certificate, not the bundle, and the modern
		// bundle's 200,000 PBKDF2 rounds (twice, to make and to read) dominate under -race.
		in.Password, in.Encoding = p12Password, "legacy"
	case keyward.KubeConfig:
		in.VirtualK8sName, in.VirtualK8sNamespace = cluster, "team-a"
	}
	c, err := f.a.CreateCredential(ctx, project, in)
	if err != nil {
		t.Fatalf("CreateCredential(%s %s in %s): %v", typ, name, project, err)
	}
	return c
}

var kubeCertRE = regexp.MustCompile(`client-certificate-data: "([^"]+)"`)

// leaf returns the client certificate an issued certificate credential carries.
func leaf(t *testing.T, ic *keyward.IssuedCredential) *x509.Certificate {
	t.Helper()
	data, err := base64.StdEncoding.DecodeString(ic.Data)
	if err != nil {
		t.Fatal(err)
	}
	if ic.Type == keyward.APICertificate {
		_, cert, _, err := pkcs12.DecodeChain(data, p12Password)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	m := kubeCertRE.FindSubmatch(data)
	if m == nil {
		t.Fatalf("no client certificate in kubeconfig:\n%s", data)
	}
	pemBytes, err := base64.StdEncoding.DecodeString(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// crl returns the serials the CRL (of cluster, "" for keyward's own) lists, after checking it
// is signed by the CA that signs that cluster's client certificates.
func (f *rbacFixture) crl(t *testing.T, cluster string) map[string]bool {
	t.Helper()
	der, err := f.a.CRL(context.Background(), cluster)
	if err != nil {
		t.Fatal(err)
	}
	list, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	signerPEM, err := f.a.CAChainPEM()
	if cluster != "" {
		signerPEM, err = f.a.ClusterClientCAPEM(context.Background(), cluster)
	}
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(signerPEM)
	signer, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := list.CheckSignatureFrom(signer); err != nil {
		t.Fatalf("CRL of %q is not signed by its cluster's client CA: %v", cluster, err)
	}
	out := map[string]bool{}
	for _, e := range list.RevokedCertificateEntries {
		out[e.SerialNumber.Text(16)] = true
	}
	return out
}

// revokeEvents returns the credential.revoke events of project (as its audit shows them to
// ctx's caller), by credential id.
func (f *rbacFixture) revokeEvents(t *testing.T, ctx context.Context, project string) map[int64]*keyward.Event {
	t.Helper()
	page, err := f.a.ListEvents(ctx, authority.ListEventsInput{Project: project, Limit: authority.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]*keyward.Event{}
	for _, ev := range page.Items {
		if ev.Action == "credential.revoke" {
			if out[ev.CredentialID] != nil {
				t.Fatalf("two credential.revoke events for credential %d", ev.CredentialID)
			}
			out[ev.CredentialID] = ev
		}
	}
	return out
}

// wantFollowed fails t unless each of cs is revoked and has one credential.revoke event in its
// project, with reason; and, a certificate, is in the CRL (a KUBE_CONFIG of the own cluster in
// that cluster's CRL too) and refused over mutual TLS.
func (f *rbacFixture) wantFollowed(t *testing.T, reason string, cs ...*keyward.IssuedCredential) {
	t.Helper()
	crl := f.crl(t, "")
	own := f.crl(t, "own")
	for _, c := range cs {
		got, err := f.a.Credential(f.admin, c.Project, c.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != keyward.StateRevoked {
			t.Fatalf("%s: state %s, want revoked", c.Name, got.State)
		}
		if c.Type != keyward.APIToken && !crl[c.Serial] {
			t.Fatalf("%s: serial %s is not in the CRL", c.Name, c.Serial)
		}
		if c.Cluster == "own" && !own[c.Serial] {
			t.Fatalf("%s: serial %s is not in cluster own's CRL", c.Name, c.Serial)
		}
		if c.Type != keyward.APIToken && c.Cluster != "own" {
			if _, err := f.a.AuthenticateCertificate(context.Background(), []*x509.Certificate{leaf(t, c)}, ""); keyward.ErrorCode(err) != keyward.EUnauthenticated {
				t.Fatalf("%s: authenticates over mTLS: %v", c.Name, err)
			}
		}
		ev := f.revokeEvents(t, f.admin, c.Project)[c.ID]
		if ev == nil {
			t.Fatalf("%s: no credential.revoke event in project %s", c.Name, c.Project)
		}
		if ev.Detail["reason"] != reason || ev.Outcome != keyward.OutcomeSuccess {
			t.Fatalf("%s: event %+v, want reason %s", c.Name, ev, reason)
		}
	}
}

// wantStanding fails t unless each of cs is active, out of the CRL and without a
// credential.revoke event.
func (f *rbacFixture) wantStanding(t *testing.T, cs ...*keyward.IssuedCredential) {
	t.Helper()
	crl := f.crl(t, "")
	for _, c := range cs {
		got, err := f.a.Credential(f.admin, c.Project, c.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != keyward.StateActive {
			t.Fatalf("%s: state %s, want active", c.Name, got.State)
		}
		if c.Serial != "" && crl[c.Serial] {
			t.Fatalf("%s: serial %s is in the CRL", c.Name, c.Serial)
		}
		if ev := f.revokeEvents(t, f.admin, c.Project)[c.ID]; ev != nil {
			t.Fatalf("%s: revoke event %+v", c.Name, ev)
		}
	}
}

// TestDisableUserRevokesCertificates: disabling a user puts every certificate it created into
// the CRL at once, each revocation audited in its project by the admin; its tokens are only
// refused while it stays disabled, and a certificate revoked before is left as it was.
// Enabling the user again brings back no certificate.
func TestDisableUserRevokesCertificates(t *testing.T) {
	t.Parallel()
	f := newFollow(t)
	dev := f.user(t, "dev", "Client")
	tok := f.issueAs(t, dev, "acme", "dev-token", keyward.APIToken, "")
	cert := f.issueAs(t, dev, "acme", "dev-cert", keyward.APICertificate, "")
	kube := f.issueAs(t, dev, "acme", "dev-kube", keyward.KubeConfig, "prod")
	own := f.issueAs(t, dev, "acme", "dev-kube-own", keyward.KubeConfig, "own")
	gone := f.issueAs(t, dev, "acme", "dev-gone", keyward.KubeConfig, "prod")
	for _, c := range []*keyward.IssuedCredential{cert, kube} {
		if _, err := f.a.AuthenticateCertificate(context.Background(), []*x509.Certificate{leaf(t, c)}, ""); err != nil {
			t.Fatalf("a fresh %s does not authenticate: %v", c.Name, err)
		}
	}
	f.wantStanding(t, tok, cert, kube, own)
	revoked, err := f.a.RevokeCredential(f.admin, "acme", "dev-gone")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Minute)
	defer f.clock.Set(t0)

	if _, err := f.a.UpdateUser(f.admin, "dev", keyward.UpdateUserInput{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	f.wantFollowed(t, "user.disable", cert, kube, own)
	for _, c := range []*keyward.IssuedCredential{cert, kube, own} {
		if ev := f.revokeEvents(t, f.admin, "acme")[c.ID]; ev.Actor != keyward.AdminUser || ev.Detail["user"] != "dev" {
			t.Fatalf("%s: event %+v, want by admin, naming dev", c.Name, ev)
		}
	}
	got, err := f.a.Credential(f.admin, "acme", "dev-gone")
	if err != nil {
		t.Fatal(err)
	}
	if !got.RevokedAt.Equal(*revoked.RevokedAt) || got.Version != revoked.Version {
		t.Fatalf("a revoked certificate changed: revoked_at %v version %d, want %v %d", got.RevokedAt, got.Version, revoked.RevokedAt, revoked.Version)
	}
	if ev := f.revokeEvents(t, f.admin, "acme")[gone.ID]; ev.Detail["reason"] != "" {
		t.Fatalf("the revoked certificate's only revoke event should be the explicit one: %+v", ev)
	}
	if got, _ := f.a.Credential(f.admin, "acme", "dev-token"); got.RevokedAt != nil {
		t.Fatal("disabling the user revoked its token")
	}
	if got, want := f.verifyCode(t, tok.Key), keyward.CodeDisabled; got != want {
		t.Fatalf("token of a disabled user: %s, want %s", got, want)
	}

	// Revocation is final.
	if _, err := f.a.UpdateUser(f.admin, "dev", keyward.UpdateUserInput{Disabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	f.wantFollowed(t, "user.disable", cert, kube, own)
	if got, want := f.verifyCode(t, tok.Key), keyward.CodeValid; got != want {
		t.Fatalf("token of a re-enabled user: %s, want %s", got, want)
	}
}

// TestDeleteUserAuditsEachRevocation: deleting a user revokes every credential it created, in
// every project and of every type, each with its own credential.revoke event that the
// project's own auditors see.
func TestDeleteUserAuditsEachRevocation(t *testing.T) {
	t.Parallel()
	f := newFollow(t)
	f.user(t, "ops", "Client")
	if _, err := f.a.AddMember(f.admin, "globex", keyward.BindingInput{User: "ops", Role: "Client"}); err != nil {
		t.Fatal(err)
	}
	ops := f.login(t, "ops")
	tok := f.issueAs(t, ops, "acme", "ops-token", keyward.APIToken, "")
	cert := f.issueAs(t, ops, "acme", "ops-cert", keyward.APICertificate, "")
	kube := f.issueAs(t, ops, "globex", "ops-kube", keyward.KubeConfig, "prod")
	session := keyward.CallerFrom(ops).Credential
	boss := f.user(t, "boss", "owner")

	if _, err := f.a.DeleteUser(f.admin, "ops"); err != nil {
		t.Fatal(err)
	}
	f.wantFollowed(t, "user.delete", tok, cert, kube)
	if got, want := f.verifyCode(t, tok.Key), keyward.CodeRevoked; got != want {
		t.Fatalf("token of a deleted user: %s, want %s", got, want)
	}
	if ev := f.revokeEvents(t, f.admin, keyward.SystemProject)[session.ID]; ev == nil || ev.Detail["reason"] != "user.delete" {
		t.Fatalf("the deleted user's session has no credential.revoke event: %+v", ev)
	}
	// acme's owner, who may read acme's audit only, sees acme's revocations there.
	seen := f.revokeEvents(t, boss, "acme")
	if seen[tok.ID] == nil || seen[cert.ID] == nil || seen[kube.ID] != nil {
		t.Fatalf("acme's audit shows revocations %v, want ops-token and ops-cert only", seen)
	}
}

// TestRemoveBindingRevokesCertificates: removing a project binding revokes the creator's
// certificates of that project that named the role or drew a permission from it; other
// projects' certificates and the creator's tokens stand.
func TestRemoveBindingRevokesCertificates(t *testing.T) {
	t.Parallel()
	f := newFollow(t)
	f.user(t, "dev", "Client")
	if _, err := f.a.AddMember(f.admin, "globex", keyward.BindingInput{User: "dev", Role: "Client"}); err != nil {
		t.Fatal(err)
	}
	dev := f.login(t, "dev")
	named := f.issueAs(t, dev, "acme", "dev-kube", keyward.KubeConfig, "prod") // O=Client
	// Names viewer, which dev is not bound to: its rights came through the Client binding.
	drawn := f.issueAs(t, dev, "acme", "dev-cert", keyward.APICertificate, "", "viewer")
	tok := f.issueAs(t, dev, "acme", "dev-token", keyward.APIToken, "")
	elsewhere := f.issueAs(t, dev, "globex", "dev-kube", keyward.KubeConfig, "own")
	boss := f.user(t, "boss", "owner")

	// dev's acme certificates also act in globex, where dev is bound too (a credential acts with
	// its creator's rights wherever they hold); an owner of acme alone does not dominate them,
	// so her unbinding would revoke credentials holding more than she does: refused, unchanged.
	if err := f.a.RemoveMember(boss, "acme", "dev", "Client"); keyward.ErrorCode(err) != keyward.EForbidden {
		t.Fatalf("unbinding by an owner of acme alone: %v, want forbidden", err)
	}
	f.wantStanding(t, named, drawn, tok, elsewhere)
	if _, err := f.a.AddMember(f.admin, "globex", keyward.BindingInput{User: "boss", Role: "owner"}); err != nil {
		t.Fatal(err)
	}
	boss = f.login(t, "boss")
	if err := f.a.RemoveMember(boss, "acme", "dev", "Client"); err != nil {
		t.Fatal(err)
	}
	f.wantFollowed(t, "binding.remove", named, drawn)
	f.wantStanding(t, tok, elsewhere)
	if ev := f.revokeEvents(t, f.admin, "acme")[named.ID]; ev.Actor != "boss" || ev.Detail["role"] != "Client" || ev.Detail["scope"] != "project" {
		t.Fatalf("revoke event %+v, want by boss, role Client, scope project", ev)
	}
	if own := f.crl(t, "own"); own[elsewhere.Serial] {
		t.Fatal("globex's kubeconfig is in the own cluster's CRL")
	}
}

// TestRevokeGlobalRoleRevokesCertificates: removing a global binding revokes, in every project,
// the certificates that name the role where the creator is no longer bound to it, even when
// another binding still grants its permissions; certificates it never backed stand.
func TestRevokeGlobalRoleRevokesCertificates(t *testing.T) {
	t.Parallel()
	f := newFollow(t)
	f.user(t, "dev", "owner")
	if _, err := f.a.GrantGlobalRole(f.admin, "dev", "Client"); err != nil {
		t.Fatal(err)
	}
	dev := f.login(t, "dev")
	globex := f.issueAs(t, dev, "globex", "dev-kube", keyward.KubeConfig, "prod") // O=Client
	// O=Client, though acme's owner binding grants every permission of Client.
	client := f.issueAs(t, dev, "acme", "dev-client", keyward.KubeConfig, "prod", "Client")
	owner := f.issueAs(t, dev, "acme", "dev-owner", keyward.KubeConfig, "prod", "owner")

	if err := f.a.RevokeGlobalRole(f.admin, "dev", "Client"); err != nil {
		t.Fatal(err)
	}
	f.wantFollowed(t, "binding.remove", globex, client)
	f.wantStanding(t, owner)
	if ev := f.revokeEvents(t, f.admin, "globex")[globex.ID]; ev.Detail["scope"] != "global" || ev.Detail["role"] != "Client" {
		t.Fatalf("revoke event %+v, want role Client, scope global", ev)
	}
}

// TestRefusedChangesRevokeNothing: a caller who may not disable, delete or unbind a user
// changes nothing, its certificates included; the same change by one who may then revokes
// them.
func TestRefusedChangesRevokeNothing(t *testing.T) {
	t.Parallel()
	f := newFollow(t)
	dev := f.user(t, "dev", "Client")
	kube := f.issueAs(t, dev, "acme", "dev-kube", keyward.KubeConfig, "prod")
	boss := f.user(t, "boss", "owner") // projects:admin in acme, not users:admin
	f.user(t, "cli", "Client")         // neither in acme; owner of globex
	if _, err := f.a.AddMember(f.admin, "globex", keyward.BindingInput{User: "cli", Role: "owner"}); err != nil {
		t.Fatal(err)
	}
	other := f.login(t, "cli")

	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"OwnerDisables", func() error {
			_, err := f.a.UpdateUser(boss, "dev", keyward.UpdateUserInput{Disabled: ptr(true)})
			return err
		}},
		{"OwnerDeletes", func() error { _, err := f.a.DeleteUser(boss, "dev"); return err }},
		{"ClientUnbinds", func() error { return f.a.RemoveMember(other, "acme", "dev", "Client") }},
		{"OtherProjectsOwnerUnbinds", func() error { return f.a.RemoveMember(other, "globex", "dev", "Client") }},
		{"OwnerUnbindsGlobally", func() error { return f.a.RevokeGlobalRole(boss, "dev", "Client") }},
		{"KeyOfTheUserDisablesItself", func() error {
			_, err := f.a.UpdateUser(dev, "dev", keyward.UpdateUserInput{Disabled: ptr(true)})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.bindings(t))
			if err := tc.do(); err == nil {
				t.Fatal("refused change succeeded")
			}
			f.wantStanding(t, kube)
			if got := len(f.bindings(t)); got != before {
				t.Fatalf("acme has %d bindings, want %d", got, before)
			}
			if u, err := f.a.User(f.admin, "dev"); err != nil || u.Disabled {
				t.Fatalf("dev: %+v, %v", u, err)
			}
		})
	}
	if err := f.a.RemoveMember(boss, "acme", "dev", "Client"); err != nil {
		t.Fatal(err)
	}
	f.wantFollowed(t, "binding.remove", kube)
}
