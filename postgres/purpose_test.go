package postgres_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/postgrestest"
	"github.com/keyward/keyward/storetest"
)

// TestMigrationOwnKeysFromVersion4: 0005 on a database that 0004 made and used marks as own
// keys exactly the credentials whose creation keyward audited as one; a credential that only
// has an own key's name stays ordinary.
func TestMigrationOwnKeysFromVersion4(t *testing.T) {
	t.Parallel()
	url := postgrestest.SchemaURL(t, postgrestest.URL(t))
	postgrestest.Exec(t, url, `CREATE TABLE schema_migrations (version bigint PRIMARY KEY, name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`)
	for i, name := range []string{"0001_init.sql", "0002_users.sql", "0003_certificates.sql", "0004_limits.sql"} {
		schema, err := os.ReadFile(filepath.Join("migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		postgrestest.Exec(t, url, string(schema))
		postgrestest.Exec(t, url, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, i+1, name)
	}
	for _, q := range []string{
		`INSERT INTO projects (id, slug, name, created_at) VALUES (1, 'acme', 'Acme', now())`,
		`INSERT INTO users (id, name, created_at, updated_at) VALUES (1, 'alice', now(), now()), (2, 'mallory', now(), now())`,
		`INSERT INTO credentials (id, project_id, name, type, environment, key_type, created_by, active, created_at, updated_at, version, start)
			VALUES (1, 1, 'alice-live-secret-1', 'API_TOKEN', 'live', 'secret', 1, true, now(), now(), 1, 'kw_live_A'),
			       (2, 1, 'alice-live-secret-2', 'API_TOKEN', 'live', 'secret', 2, true, now(), now(), 1, 'kw_live_B'),
			       (3, 1, 'alice-test-secret-1', 'API_TOKEN', 'test', 'secret', 1, true, now(), now(), 1, 'kw_test_C')`,
		`INSERT INTO events (time, actor_user_id, action, project_id, credential_id, outcome, detail) VALUES
			(now(), 1, 'credential.create', 1, 1, 'success', '{"name":"alice-live-secret-1","own_key":"true","type":"API_TOKEN"}'),
			(now(), 2, 'credential.create', 1, 2, 'success', '{"name":"alice-live-secret-2","type":"API_TOKEN"}'),
			(now(), 1, 'credential.create', 1, 3, 'success', '{"name":"alice-test-secret-1","type":"API_TOKEN"}'),
			(now(), 2, 'credential.create', 1, 2, 'denied', '{"own_key":"true"}')`,
	} {
		postgrestest.Exec(t, url, q)
	}

	s := MustOpen(t, url)
	storetest.OwnKeysMigrated(t, s)
}
