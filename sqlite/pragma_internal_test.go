package sqlite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPragmas checks that the DSN reaches every pool: durability and foreign keys on the
// writer, query_only on the readers.
func TestPragmas(t *testing.T) {
	// The odd characters check that the path survives the file: URI.
	path := filepath.Join(t.TempDir(), "key ward?#%.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at its path: %v", err)
	}
	for _, tc := range []struct {
		name   string
		pool   string
		pragma string
		want   string
	}{
		{"WriteSynchronousFull", "write", "synchronous", "2"},
		{"WriteForeignKeys", "write", "foreign_keys", "1"},
		{"WriteBusyTimeout", "write", "busy_timeout", "5000"},
		{"WriteJournalMode", "write", "journal_mode", "wal"},
		{"ReadQueryOnly", "read", "query_only", "1"},
		{"ReadBusyTimeout", "read", "busy_timeout", "5000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := s.write
			if tc.pool == "read" {
				db = s.read
			}
			var got string
			if err := db.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
			}
			if got != tc.want {
				t.Fatalf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
			}
		})
	}
	if _, err := s.read.ExecContext(t.Context(), `INSERT INTO events (time, action, outcome) VALUES (0, 'x', 'y')`); err == nil {
		t.Fatal("the read pool accepted a write")
	}
}

// TestQueryPlans checks that the user, role and certificate statements that could grow with
// the data walk an index rather than a table, and that a project's members and the CRL come
// out of their indexes in order.
func TestQueryPlans(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	for _, tc := range []struct {
		name  string
		query string
		index string
	}{
		{"RevokeByCreator", `UPDATE credentials SET revoked_at = 1 WHERE created_by = 1 AND revoked_at IS NULL`, "credentials_created_by"},
		{"ListByCreator", `SELECT c.id FROM credentials c WHERE c.project_id = 1 AND c.id > 0 AND c.created_by = 1 ORDER BY c.id`, "credentials_"},
		{"ProjectBindings", `SELECT user_id, project_id, role_id FROM role_bindings WHERE project_id = 1 ORDER BY user_id, role_id`, "role_bindings_project"},
		{"RoleInBinding", `SELECT EXISTS (SELECT 1 FROM role_bindings WHERE role_id = 1)`, "role_bindings_role"},
		{"RoleInCredential", `SELECT EXISTS (SELECT 1 FROM credential_roles WHERE role_id = 1)`, "credential_roles_role"},
		{"DeleteBinding", `DELETE FROM role_bindings WHERE user_id = 1 AND COALESCE(project_id, 0) = 0 AND role_id = 1`, "role_bindings_unique"},
		{"RevokedCertificates", `SELECT k.serial FROM certificates k WHERE k.revoked_at IS NOT NULL AND k.not_after > 0 ORDER BY k.serial`, "certificates_revoked"},
		{"RevokeCertificates", `UPDATE certificates SET revoked_at = 1 WHERE credential_id = 1 AND revoked_at IS NULL`, "certificates_credential_id"},
		{"RevokeCertificatesByCreator", `UPDATE certificates SET revoked_at = 1 WHERE revoked_at IS NULL
			AND credential_id IN (SELECT id FROM credentials WHERE created_by = 1 AND revoked_at IS NULL)`, "certificates_credential_id"},
		{"SerialTaken", `SELECT EXISTS (SELECT 1 FROM credentials WHERE serial = 'x')`, "credentials_serial"},
		{"Recoverable", `SELECT EXISTS (SELECT 1 FROM credential_secrets rs
			WHERE rs.credential_id = 1 AND rs.valid_until IS NULL AND rs.sealed IS NOT NULL)`, "credential_secrets_sealed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := s.write.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tc.query)
			if err != nil {
				t.Fatalf("EXPLAIN: %v", err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(plan, "; ")
			if !strings.Contains(joined, tc.index) || strings.Contains(joined, "TEMP B-TREE") {
				t.Fatalf("plan = %q, want it to use %s and no temporary sort", joined, tc.index)
			}
		})
	}
}
