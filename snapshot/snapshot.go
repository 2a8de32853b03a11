// Package snapshot is the store-independent form of every row a keyward store holds, for
// copying a deployment from one store to another ("keyward migrate copy", SQLite to PostgreSQL
// or back). It is not part of keyward.Store: a store package that can be copied offers
//
//	Export(ctx) (*snapshot.Snapshot, error)  // every row, ids and secret digests included
//	Import(ctx, *snapshot.Snapshot) error     // into an empty store, keeping every id
//
// Ids are kept, so URLs, audit records and role ids stay valid, and secret digests are kept, so
// every token issued before the copy verifies after it. A snapshot holds password hashes and
// secret digests: treat it as the database itself. It lives in memory, which suits the sizes a
// single-machine SQLite deployment reaches. Sealed values (recoverable keys, the CA, clusters'
// client CAs) are copied sealed: the target server needs the source's master key.
package snapshot

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// Snapshot is every row of a store. Each slice is in a fixed order, so that the snapshots of
// two stores that hold the same rows are equal (reflect.DeepEqual): projects, users, roles,
// credentials and events by id; role bindings by user, project (0 first), role; secrets by
// credential id, then digest; certificates by serial and settings by key (byte order); clusters
// by id; usage counts by credential, hour, code. Credentials carry their rate limits and refills, and their counters (Remaining,
// LastRefillAt) as they stood at the export: uses taken on the source after it are not copied.
type Snapshot struct {
	// SchemaVersion is the exporting store's schema version, for the record.
	SchemaVersion int64
	Projects      []keyward.Project
	Users         []User
	Roles         []keyward.Role
	RoleBindings  []keyward.RoleBinding      // ProjectID 0: every project
	Credentials   []keyward.Credential       // with RoleIDs (sorted); Project (the slug) is filled on export, ignored on import
	Secrets       []keyward.CredentialSecret // with their sealed tokens, if any
	Certificates  []keyward.Certificate      // every certificate issued, the revoked ones a CRL lists included
	Clusters      []keyward.Cluster          // with their sealed client CAs
	Settings      []Setting                  // the CA's sealed state and the like
	Events        []keyward.Event
	// Usage is the hourly verification counts (keyward.UsageCount), by credential id, hour
	// and code: counts still in a server's memory at the export are not in it.
	Usage []keyward.UsageCount
}

// Setting is one server setting. Its value may be sealed under the master key: a copy keeps
// it as it is, so the target needs the same master key.
type Setting struct {
	Key       string
	Value     []byte
	UpdatedAt time.Time
}

// User is a user with its password hash ("" for none), which keyward.User never carries.
type User struct {
	keyward.User
	PasswordHash string
}

// Exporter is a store that can be read whole.
type Exporter interface {
	Export(ctx context.Context) (*Snapshot, error)
}

// Importer is a store that can be filled whole.
type Importer interface {
	Import(ctx context.Context, s *Snapshot) error
}

// ErrNotEmpty is returned (wrapped) by Import into a store that holds any row.
var ErrNotEmpty = fmt.Errorf("the target store is not empty")

// Summary counts the rows of s, for a person.
func (s *Snapshot) Summary() string {
	return fmt.Sprintf("%d projects, %d users, %d roles, %d role bindings, %d credentials (%d secrets, %d certificates), %d clusters, %d settings, %d events, %d hourly usage counts",
		len(s.Projects), len(s.Users), len(s.Roles), len(s.RoleBindings), len(s.Credentials), len(s.Secrets),
		len(s.Certificates), len(s.Clusters), len(s.Settings), len(s.Events), len(s.Usage))
}

// Empty reports whether s holds no row.
func (s *Snapshot) Empty() bool {
	return len(s.Projects)+len(s.Users)+len(s.Roles)+len(s.RoleBindings)+len(s.Credentials)+len(s.Secrets)+
		len(s.Certificates)+len(s.Clusters)+len(s.Settings)+len(s.Events)+len(s.Usage) == 0
}

// Diff lists where b differs from a, at most a few lines per table; nil when they hold the
// same rows. SchemaVersion is not compared.
func Diff(a, b *Snapshot) []string {
	var d []string
	d = diffRows(d, "projects", a.Projects, b.Projects)
	d = diffRows(d, "users", a.Users, b.Users)
	d = diffRows(d, "roles", a.Roles, b.Roles)
	d = diffRows(d, "role bindings", a.RoleBindings, b.RoleBindings)
	d = diffRows(d, "credentials", a.Credentials, b.Credentials)
	d = diffRows(d, "secrets", a.Secrets, b.Secrets)
	d = diffRows(d, "certificates", a.Certificates, b.Certificates)
	d = diffRows(d, "clusters", a.Clusters, b.Clusters)
	d = diffRows(d, "settings", a.Settings, b.Settings)
	d = diffRows(d, "events", a.Events, b.Events)
	d = diffRows(d, "usage", a.Usage, b.Usage)
	return d
}

func diffRows[T any](d []string, table string, a, b []T) []string {
	if len(a) != len(b) {
		return append(d, fmt.Sprintf("%s: %d rows, then %d", table, len(a), len(b)))
	}
	n := 0
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			if n++; n > 3 {
				return append(d, table+": more rows differ")
			}
			// Only the position: rows hold password hashes and secret digests.
			d = append(d, fmt.Sprintf("%s: row %d differs", table, i+1))
		}
	}
	return d
}

// Copy exports from and imports into to, then exports to again and checks that it holds
// exactly what from held. It returns what it copied. to must be empty (ErrNotEmpty). A source
// holding text keyward no longer stores is refused before anything is written
// (*InvalidTextError); CopyWith can repair it instead.
func Copy(ctx context.Context, from Exporter, to interface {
	Exporter
	Importer
}) (*Snapshot, error) {
	s, _, err := CopyWith(ctx, from, to, CopyOptions{})
	return s, err
}

// CopyOptions change what CopyWith does.
type CopyOptions struct {
	// ReplaceInvalidText copies a string that holds a NUL byte or invalid UTF-8 with each bad
	// byte replaced by U+FFFD (see ReplaceInvalidText) instead of refusing the copy.
	ReplaceInvalidText bool
}

// CopyWith is Copy with options. It also returns the places whose text it replaced.
func CopyWith(ctx context.Context, from Exporter, to interface {
	Exporter
	Importer
}, opts CopyOptions) (*Snapshot, []string, error) {
	s, err := from.Export(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read the source: %w", err)
	}
	// Checked before the import so that the report names every bad value at once, not the
	// first one the target's engine happens to trip on.
	var replaced []string
	if bad := s.InvalidText(); len(bad) > 0 {
		if !opts.ReplaceInvalidText {
			return nil, nil, fmt.Errorf("read the source: %w", &InvalidTextError{Places: bad})
		}
		replaced = s.ReplaceInvalidText()
	}
	if err := to.Import(ctx, s); err != nil {
		return nil, nil, fmt.Errorf("write the target: %w", err)
	}
	got, err := to.Export(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read the target back: %w", err)
	}
	if d := Diff(s, got); len(d) > 0 {
		return nil, nil, fmt.Errorf("the target differs from the source after the copy:\n  %s", strings.Join(d, "\n  "))
	}
	return s, replaced, nil
}
