package keyward

import (
	"context"
	"time"
)

// Store persists the domain. It is one interface made of a role interface per part of the
// domain (ProjectStore, IdentityStore, CredentialStore, PKIStore, AuditStore, UsageStore), plus the
// transaction and lifecycle methods; storetest holds every implementation to what these
// comments say.
//
// Rules for every method:
//   - Every mutating method writes the Event it is given in the same transaction as the change
//     and returns only once both are committed.
//   - Methods return *Error with the codes they name; anything else is an internal failure
//     (EUnavailable when the database cannot be reached, ETimeout when ctx's deadline passed).
//   - A failed mutation (EConflict, ENotFound, EInvalid) writes nothing, its event included,
//     and leaves the caller's structs (ids, event id and detail) as they were.
//   - Every write refuses a string that ValidText refuses (a NUL byte, invalid UTF-8), in any
//     field or event, with EInvalid naming the field and nothing written (CheckText); every
//     lookup by such a string (slug, name, serial, setting key) is ENotFound.
//   - Times come back in UTC, truncated to whole microseconds.
//   - Lists return a non-nil empty slice when nothing matches; a Limit of 0 means 100, and
//     none is above 1000.
type Store interface {
	ProjectStore
	IdentityStore
	CredentialStore
	PKIStore
	AuditStore
	UsageStore

	// Bootstrap writes, in one transaction, everything a first start creates; it fills the
	// event's ActorUserID with the admin's id, and the admin's UpdatedAt with CreatedAt when
	// zero. It returns EConflict when the store was bootstrapped before, and then changes
	// nothing.
	Bootstrap(ctx context.Context, b *Bootstrap) error

	// WithTx runs fn in one database transaction and commits it when fn returns nil; otherwise
	// it rolls back, so nothing fn wrote (its events included) remains, and returns fn's
	// error. fn receives a Store bound to the transaction: every method called on it, reads
	// included (ConsumeCredit too), runs inside it and sees its writes; each mutating method
	// still writes its own Event and stays atomic (a method that fails undoes only its own
	// writes, through a savepoint, and the transaction goes on usable). fn must use only tx,
	// never the Store WithTx was called on: on SQLite that would wait for the writer connection
	// tx holds. WithTx on a bound Store joins the transaction under a savepoint; a nested WithTx
	// that fails undoes only its own writes. When the database reports contention (a
	// serialization failure or deadlock on PostgreSQL, a busy database on SQLite) WithTx runs
	// fn again, a bounded number of times, so fn must be re-runnable: it may not keep state
	// from an earlier run, nor act outside the store (such as invalidating caches) before
	// WithTx returns. Change notifications are sent at commit, never for a rollback. Ids set on
	// values during fn are meaningless when WithTx fails.
	WithTx(ctx context.Context, fn func(tx Store) error) error

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// ProjectStore keeps projects.
type ProjectStore interface {
	// CreateProject stores p and sets its ID; it fills the event's ProjectID when 0, since the
	// caller cannot know the new id. EConflict when the slug is taken.
	CreateProject(ctx context.Context, p *Project, ev *Event) error
	// ProjectByID returns the project with id. ENotFound.
	ProjectByID(ctx context.Context, id int64) (*Project, error)
	// ProjectBySlug returns the project with slug. ENotFound.
	ProjectBySlug(ctx context.Context, slug string) (*Project, error)
	// ListProjects returns projects by ascending id.
	ListProjects(ctx context.Context, f ProjectFilter) ([]*Project, error)
	// UpdateProject writes p.Name and p.RecoverableKeys only, never Slug or CreatedAt.
	// ENotFound.
	UpdateProject(ctx context.Context, p *Project, ev *Event) error
}

// IdentityStore keeps users, their login sessions, roles and role bindings. Every User it
// returns has HasPassword filled (a non-empty hash is stored) and carries no hash. A deleted
// user keeps its row, read by UserByID only: every other user method answers ENotFound for
// it, CreateRoleBinding included.
type IdentityStore interface {
	// CreateUser stores u with its password hash ("" for none) and sets u.ID, and u.UpdatedAt
	// to u.CreatedAt when zero. It sets the event's Detail["user_id"] to the new id (decimal)
	// unless the caller set that key, in a new map (the caller's is not modified). EConflict
	// when the name is taken.
	CreateUser(ctx context.Context, u *User, passwordHash string, ev *Event) error
	// UserByID returns the user with id, deleted users included. ENotFound.
	UserByID(ctx context.Context, id int64) (*User, error)
	// UserByName returns the user named name; deleted users have lost their name. ENotFound.
	UserByName(ctx context.Context, name string) (*User, error)
	// ListUsers returns users that are not deleted, by ascending id.
	ListUsers(ctx context.Context, f UserFilter) ([]*User, error)
	// UpdateUser writes u.Disabled and u.UpdatedAt. ENotFound (also for a deleted user).
	UpdateUser(ctx context.Context, u *User, ev *Event) error
	// PasswordHash returns the user's password hash, "" when it has none. ENotFound.
	PasswordHash(ctx context.Context, userID int64) (string, error)
	// SetPasswordHash replaces the user's password hash ("" removes it; UpdatedAt does not
	// move) and, in the same transaction, ends the user's login sessions as end says (see
	// RevokeSessions), so that a changed password leaves no session opened with the old one.
	// It returns the ids of the sessions it revoked. ENotFound; EInvalid without end.Event.
	SetPasswordHash(ctx context.Context, userID int64, hash string, ev *Event, end SessionEnd) ([]int64, error)
	// RevokeSessions revokes, in one transaction, exactly the login sessions (Type Session) the
	// user created that are neither revoked nor expired at end.At, except end.Keep: revoked_at
	// and updated_at become end.At and versions are bumped, and each gets its own copy of
	// end.Event with CredentialID and ProjectID set (the caller's event is not modified). It
	// returns the ids it revoked, ascending, an empty slice for none. ENotFound for a missing or
	// deleted user; EInvalid, with nothing written, without end.Event.
	RevokeSessions(ctx context.Context, userID int64, end SessionEnd) ([]int64, error)
	// DeleteUser, in one transaction: marks the user deleted and disabled (Disabled, DeletedAt
	// and UpdatedAt set to at), frees its name (the stored name becomes "<name>~deleted~<id>"),
	// drops its password hash and removes its role bindings (the user's own rows), and writes
	// ev. It revokes nothing: while a credential the user created is not revoked it is
	// EConflict and writes nothing, so the caller (the authority) revokes them first, each
	// audited, in the same WithTx (RevokeCreated). ENotFound for a missing or deleted user.
	DeleteUser(ctx context.Context, userID int64, at time.Time, ev *Event) error

	// Roles returns every role by ascending id.
	Roles(ctx context.Context) ([]*Role, error)
	// CreateRole stores r and sets r.ID (or uses r.ID when non-zero; ids the store picks later
	// never collide with it); a nil Permissions becomes empty. It sets the event's
	// Detail["role_id"] like CreateUser sets "user_id". EConflict when the name or id is taken.
	CreateRole(ctx context.Context, r *Role, ev *Event) error
	// UpdateRole writes r.Name and r.Permissions (nil becomes empty), never BuiltIn.
	// ENotFound, EConflict (name taken).
	UpdateRole(ctx context.Context, r *Role, ev *Event) error
	// DeleteRole deletes a role. EConflict while a binding or a credential, a revoked one
	// included, names it; ENotFound.
	DeleteRole(ctx context.Context, id int64, ev *Event) error
	// RoleBindings returns the user's role bindings, global ones (ProjectID 0) first, then by
	// project and role id.
	RoleBindings(ctx context.Context, userID int64) ([]RoleBinding, error)
	// ProjectBindings returns the bindings in one project (not the global ones), by user id
	// then role id.
	ProjectBindings(ctx context.Context, projectID int64) ([]RoleBinding, error)
	// CreateRoleBinding stores b (ProjectID 0: every project). EConflict when it exists;
	// ENotFound, never EInvalid, when its user (or a deleted one), project or role does not
	// exist: it checks them itself.
	CreateRoleBinding(ctx context.Context, b RoleBinding, ev *Event) error
	// DeleteRoleBinding removes b. ENotFound when it does not exist (a global binding is not a
	// project's, nor the other way round).
	DeleteRoleBinding(ctx context.Context, b RoleBinding, ev *Event) error

	// UpdateUserRevoking does what UpdateUser does and, in the same transaction, revokes at
	// u.UpdatedAt the credentials rv.Select picks (the user's bindings do not change: before
	// and after are alike), as Revocation describes. It returns the ids of the
	// credentials it revoked. ENotFound; then nothing is written and Select is not called.
	UpdateUserRevoking(ctx context.Context, u *User, ev *Event, rv Revocation) ([]int64, error)
	// RevokeCreated revokes at, in one transaction, the credentials rv.Select picks among those
	// the user created that are not revoked yet (before and after: the user's bindings), as
	// Revocation describes; it writes no event of its own, and leaves what Select does not
	// pick as it was. It returns the ids it revoked. ENotFound for a missing or deleted user;
	// then nothing is written and Select is not called.
	RevokeCreated(ctx context.Context, userID int64, at time.Time, rv Revocation) ([]int64, error)
	// DeleteRoleBindingRevoking does what DeleteRoleBinding does and, in the same transaction,
	// revokes at `at` the credentials of b's user that rv.Select picks, as Revocation
	// describes. It returns the ids of the credentials it revoked. ENotFound; then nothing is
	// written and Select is not called.
	DeleteRoleBindingRevoking(ctx context.Context, b RoleBinding, at time.Time, ev *Event, rv Revocation) ([]int64, error)
}

// CredentialStore keeps credentials, their secrets and their counted uses. On every credential
// it returns: Project (the slug) is filled; Meta is never nil; RoleIDs is never nil and sorted
// ascending; Serial, Fingerprint, Cluster and Namespace are "" when absent; RateLimit
// (Duration in whole milliseconds), Remaining, Refill and LastRefillAt round-trip, nil as nil
// and 0 as 0; Purpose is what CreateCredential wrote (no other method changes it); and
// Recoverable is derived on every read: true exactly when the credential's current secret
// (ValidUntil nil) has a Sealed token.
type CredentialStore interface {
	// CreateCredential stores c (with its rate limit, remaining, refill and purpose) and its
	// first secret, which is the current one (ValidUntil nil), and sets c.ID, c.Version (1),
	// c.Project, c.Recoverable and s.CredentialID; it fills the event's ProjectID and
	// CredentialID when 0. s is nil for a certificate credential, which instead has c.Serial
	// and c.ExpiresAt, its not-after (EInvalid without them): the store then also records the
	// certificate, NotAfter = ExpiresAt, CreatedAt = c.CreatedAt. EConflict when the name is
	// taken in the project, the digest exists, or any certificate, current, rolled or revoked,
	// ever had the serial (a serial is never reused). EInvalid for a RateLimit.Limit outside 32
	// bits.
	CreateCredential(ctx context.Context, c *Credential, s *CredentialSecret, ev *Event) error
	// CredentialByID returns the credential id of the project. ENotFound.
	CredentialByID(ctx context.Context, projectID, id int64) (*Credential, error)
	// CredentialByName returns the credential name of the project. ENotFound.
	CredentialByName(ctx context.Context, projectID int64, name string) (*Credential, error)
	// ListCredentials returns the credentials that match f by ascending id; sessions (Type
	// Session) only when f.Type asks for them. EInvalid without a project or with an unknown
	// state.
	ListCredentials(ctx context.Context, f CredentialFilter) ([]*Credential, error)
	// UpdateCredential writes c's mutable fields (name, description, meta, not_before,
	// expires_at, active, revoked_at, role ids, rate limit, refill (nil clears them),
	// updated_at; never remaining or last_refill_at, which only SetRemaining and ConsumeCredit
	// write, nor Serial, Fingerprint, Start, Cluster, Namespace or Purpose) if the stored
	// version still equals c.Version, then increments c.Version. When it leaves revoked_at set,
	// every certificate of the credential not revoked yet is revoked at that same instant (a
	// certificate's revocation is never undone nor moved). EConflict when stale or when the new
	// name is taken, ENotFound when missing, EInvalid for a RateLimit.Limit outside 32 bits.
	UpdateCredential(ctx context.Context, c *Credential, ev *Event) error
	// RollCredential does what UpdateCredential does, also writes c.Start, and replaces the
	// current secret with s: earlier secrets stay valid until graceUntil (or their own earlier
	// end), and secrets whose end has passed are deleted. For a certificate credential s is nil
	// and c carries the new Serial, Fingerprint and ExpiresAt (EInvalid without Serial and
	// ExpiresAt), which are written: the earlier certificates are revoked at c.UpdatedAt and
	// the new one recorded (CreatedAt c.UpdatedAt); graceUntil does not apply to them. It sets
	// c.Recoverable. EConflict (stale, digest taken, a serial ever used), ENotFound.
	RollCredential(ctx context.Context, c *Credential, s *CredentialSecret, graceUntil time.Time, ev *Event) error
	// CredentialBySecret returns the credential that owns digest and that secret, with the
	// secret's Sealed (nil when none). ENotFound.
	CredentialBySecret(ctx context.Context, digest []byte) (*Credential, *CredentialSecret, error)
	// VerificationBySecret returns in one read (one statement, so one consistent snapshot)
	// everything verification needs about the secret with digest: the credential and the
	// secret as CredentialBySecret returns them, the credential's creator as UserByID returns
	// it (nil when no user has that id), and the creator's role bindings as RoleBindings
	// returns them. ENotFound.
	VerificationBySecret(ctx context.Context, digest []byte) (*VerificationRecord, error)
	// SecretDigests returns the digests of stored secrets greater than after (bytewise; nil
	// starts at the first), ascending, at most limit of them: every stored secret's (a rolled
	// one in its grace period too), of every credential type (sessions included), so that a server can load
	// the set of issued secrets page by page and answer never-issued keys without asking.
	SecretDigests(ctx context.Context, after []byte, limit int) ([][]byte, error)
	// ConsumeCredit takes one use from a credential with counted uses, atomically, so that N
	// concurrent calls on K remaining succeed exactly K times across every server sharing the
	// store. When the credential has a refill and its last refill is before refillFrom (the
	// start of the current refill period), remaining is first set to the refill amount and
	// last_refill_at to refillFrom; a refillFrom of zero never refills. It returns the uses left
	// after this one and true, or (0, false) when none was left; remaining is nil and ok true
	// when the credential's uses are not counted (it is left as it is, even with a Refill). It
	// never bumps the version nor moves UpdatedAt, writes no event, and changes nothing when it
	// refuses a use (a refill amount of 0 included: the refill is not recorded then).
	// ENotFound.
	ConsumeCredit(ctx context.Context, credentialID int64, refillFrom time.Time) (remaining *int64, ok bool, err error)
	// SetRemaining sets a credential's uses left (nil: unlimited) and writes ev as given (it
	// fills no id), without bumping the version, moving UpdatedAt or touching LastRefillAt: it
	// is a counter, not a change of the credential. ENotFound.
	SetRemaining(ctx context.Context, credentialID int64, remaining *int64, ev *Event) error
	// SealedSecret returns the sealed token of the credential's current secret. ENotFound when
	// it has none (the key is not recoverable).
	SealedSecret(ctx context.Context, credentialID int64) ([]byte, error)
	// TouchCredentials moves last_used_at forward to the given times; it neither bumps versions
	// nor writes events, since it records use, not a change.
	TouchCredentials(ctx context.Context, used map[int64]time.Time) error
}

// VerificationRecord is what VerificationBySecret reads about one secret.
type VerificationRecord struct {
	Credential *Credential
	Secret     *CredentialSecret
	Creator    *User // nil when the creator no longer exists
	Bindings   []RoleBinding
}

// PKIStore keeps what the certificate authority needs: certificates and their revocations,
// Kubernetes clusters, and server settings (the CA's sealed state among them).
type PKIStore interface {
	// CredentialBySerial returns the credential that was issued the certificate with serial,
	// and that certificate. ENotFound.
	CredentialBySerial(ctx context.Context, serial string) (*Credential, *Certificate, error)
	// RevokedCertificates returns the revoked certificates whose NotAfter is after now, by
	// serial: what a CRL lists.
	RevokedCertificates(ctx context.Context, now time.Time) ([]*Certificate, error)

	// CreateCluster stores cl and sets its ID; it sets the event's Detail["cluster_id"] like
	// CreateUser sets "user_id". A nil or empty ClientCA is stored as none and comes back nil.
	// EConflict when the name is taken.
	CreateCluster(ctx context.Context, cl *Cluster, ev *Event) error
	// ClusterByName returns a cluster. ENotFound.
	ClusterByName(ctx context.Context, name string) (*Cluster, error)
	// ListClusters returns every cluster by name.
	ListClusters(ctx context.Context) ([]*Cluster, error)
	// DeleteCluster deletes a cluster; credentials issued for it keep its name. ENotFound.
	DeleteCluster(ctx context.Context, id int64, ev *Event) error

	// Setting returns a stored server setting (the CA's sealed state, the master key check),
	// never nil. ENotFound.
	Setting(ctx context.Context, key string) ([]byte, error)
	// PutSetting creates or replaces a setting. ev may be nil for settings written at start;
	// then no event is written.
	PutSetting(ctx context.Context, key string, value []byte, ev *Event) error
	// CreateSetting stores a setting only if none exists under key, atomically, so that of
	// servers starting at once exactly one writes (the CA, the master key check). EConflict
	// when the key exists; then nothing is written. ev may be nil.
	CreateSetting(ctx context.Context, key string, value []byte, ev *Event) error
	// Reseal rewrites, in one transaction, every sealed value the store holds through fn, for
	// a master key rotation: fn is called once per existing setting named in keys (a repeated
	// key once), per cluster with a client CA and per secret with a Sealed token, old and
	// current ones alike, with a label telling what the blob is: "setting:<key>", "cluster",
	// "secret". An error from fn, or an empty result, leaves every value as it was and writes
	// no event; the error returned wraps fn's (errors.Is), keeping the code of a *Error.
	Reseal(ctx context.Context, keys []string, fn func(label string, blob []byte) ([]byte, error), ev *Event) error
}

// AuditStore keeps the audit trail.
type AuditStore interface {
	// AppendEvent stores an event that has no change of its own (a denied attempt).
	AppendEvent(ctx context.Context, ev *Event) error
	// ListEvents returns events that match f, newest first. An Event's zero ids round-trip as
	// 0, and ProjectIDs {0} selects the events without a project; an empty Detail comes back
	// nil.
	ListEvents(ctx context.Context, f EventFilter) ([]*Event, error)
}

// UsageStore keeps how many verifications of each credential ended with each code, per hour
// (UsageCount). The counts are usage, not changes: no method writes an event, bumps a version
// or announces a change.
type UsageStore interface {
	// AddUsage adds each count to the stored count of its credential, hour and code, creating
	// the row when there is none, in one transaction. A count's hour is its Hour truncated to
	// the hour (UTC); the row's project is the credential's own (ProjectID is not read). Counts
	// of credentials that do not exist are dropped, so that a batch never fails for one of them.
	// EInvalid, with nothing written, for a code not in VerificationCodes or a Count below 1.
	AddUsage(ctx context.Context, counts []UsageCount) error
	// Usage returns the counts of f.ProjectID (and of f.CredentialID when not 0) whose hour is
	// in [f.From, f.To) (a zero bound is open), summed as f.Sum says, by ascending hour, then
	// credential id, then code. EInvalid without a project or with an unknown Sum.
	Usage(ctx context.Context, f UsageFilter) ([]UsageCount, error)
	// PruneUsage deletes the counts of hours before before, of every project, and returns how
	// many rows it deleted.
	PruneUsage(ctx context.Context, before time.Time) (int64, error)
}

// Bootstrap is what a first start writes: the system project, the built-in roles, the admin
// user bound globally to the admin role, and the admin's first token.
type Bootstrap struct {
	Project    *Project
	Roles      []*Role
	Admin      *User
	Credential *Credential // its CreatedBy and RoleIDs are filled in by the store
	Secret     *CredentialSecret
	Event      *Event
}

// Revocation is what a change to a user revokes with it, in the change's own transaction: the
// methods that take one (UpdateUserRevoking, RevokeCreated, DeleteRoleBindingRevoking) call
// Select once, inside the transaction (never when they answer ENotFound), with exactly the
// credentials the user created that are not revoked yet (every project and type, by ascending
// id) and the user's role bindings before and after the change; each credential it picks (by
// id; picking one not offered is an error) is revoked: revoked_at and updated_at set to the
// change's time, version + 1, every certificate of it not revoked yet revoked at that instant
// (so the CRL lists it), and the event Event returns for it, given the credential as stored
// after the revocation, written; a nil Event fails the whole change. The methods return the
// ids revoked, ascending. Select and Event must be quick and must not call the store. A nil
// Select picks nothing. An error from Select (a refusal: the caller may not remove what the
// change would revoke) rolls the whole change back and is returned as it is.
type Revocation struct {
	Select func(created []*Credential, before, after []RoleBinding) ([]*Credential, error)
	Event  func(revoked *Credential) *Event
}

// ProjectFilter selects projects for ListProjects.
type ProjectFilter struct {
	IDs     []int64 // when not nil, only these
	AfterID int64
	Limit   int
}

// UserFilter selects users for ListUsers.
type UserFilter struct {
	AfterID int64
	Limit   int
}

// CredentialFilter selects credentials for ListCredentials.
type CredentialFilter struct {
	ProjectID int64
	CreatedBy int64 // 0 for any creator
	// Type selects one type; "" is every type but Session: login sessions belong to their
	// user, not to the project that stores them, so they are listed only when asked for.
	Type        CredentialType
	Environment Environment // "" for any
	State       State       // "" for any; evaluated at Now
	// NotRevoked leaves revoked credentials out, in the query so that pages stay full (the
	// vendor APIs where a revoked key is a deleted one).
	NotRevoked bool
	// IdleSince, when not zero, keeps only credentials whose last use is at or before it, or
	// that were never used and were created at or before it: the unused keys of a usage report.
	IdleSince time.Time
	Now       time.Time
	AfterID   int64
	Limit     int
}

// SessionEnd says which login sessions of a user SetPasswordHash and RevokeSessions end, and
// how: at At, every one not revoked nor expired yet but Keep (a session's id, 0 for none),
// each audited by a copy of Event (required) whose CredentialID and ProjectID the store sets.
type SessionEnd struct {
	At    time.Time
	Keep  int64
	Event *Event
}

// EventFilter selects events for ListEvents.
type EventFilter struct {
	ProjectIDs   []int64 // when not nil, only these
	CredentialID int64   // 0 for any
	BeforeID     int64   // 0 for the newest
	Limit        int
}

type callerKey struct{}

// Caller is the authenticated principal of a request: a user acting through one of its
// credentials. Grants holds the effective permissions per project id (0 for every project):
// the intersection of the credential's roles with the user's current bindings. User,
// Credential and Grants may be shared with the verification cache: they are read-only.
type Caller struct {
	User       *User
	Credential *Credential
	Grants     map[int64]map[Permission]bool
	RemoteAddr string
}

// Can reports whether the caller holds p in project (or globally).
func (c *Caller) Can(p Permission, projectID int64) bool {
	if c == nil {
		return false
	}
	return c.Grants[0][p] || (projectID != 0 && c.Grants[projectID][p])
}

// NewContext returns a context that carries caller.
func NewContext(ctx context.Context, caller *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, caller)
}

// CallerFrom returns the caller a context carries, or nil.
func CallerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

// Invalidation names what changed in a way that can change a verification answer, so that
// every replica drops what it cached about it.
//
// Secrets are the digests of secrets the change created, which invalidate nothing but must
// reach every replica's set of issued secrets (authority's membership set), so that a key
// created on one replica verifies on the others. A change that creates too many to announce
// one by one sets All instead.
type Invalidation struct {
	CredentialIDs []int64  `json:"c,omitempty"`
	UserIDs       []int64  `json:"u,omitempty"`
	Secrets       [][]byte `json:"s,omitempty"`
	All           bool     `json:"a,omitempty"`
}

// ChangeFeed is implemented by stores that several servers share: Watch calls fn for every
// change any server commits, until ctx ends. Whenever the feed may have missed changes (at
// start, after a lost connection) it calls fn with All set.
type ChangeFeed interface {
	Watch(ctx context.Context, fn func(Invalidation)) error
}

// SingleServer is implemented by a store that one server owns (the embedded SQLite): every write
// goes through that server, and its ChangeFeed reports another process's writes (an offline
// command's) as an invalidation of everything. A key the server has not heard of then does not
// exist, and is answered without asking the store.
type SingleServer interface {
	SingleServer() bool
}
