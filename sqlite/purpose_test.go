package sqlite_test

import (
	"testing"

	"github.com/keyward/keyward/storetest"
)

// TestMigrationOwnKeysFromVersion4: 0005 on a database that 0004 made and used marks as own
// keys exactly the credentials whose creation keyward audited as one; a credential that only
// has an own key's name stays ordinary.
func TestMigrationOwnKeysFromVersion4(t *testing.T) {
	path := atVersion(t, 4,
		`INSERT INTO projects (id, slug, name, created_at) VALUES (1, 'acme', 'Acme', 0)`,
		`INSERT INTO users (id, name, created_at, updated_at) VALUES (1, 'alice', 0, 0), (2, 'mallory', 0, 0)`,
		`INSERT INTO credentials (id, project_id, name, type, environment, key_type, created_by, active, created_at, updated_at, version, start)
			VALUES (1, 1, 'alice-live-secret-1', 'API_TOKEN', 'live', 'secret', 1, 1, 0, 0, 1, 'kw_live_A'),
			       (2, 1, 'alice-live-secret-2', 'API_TOKEN', 'live', 'secret', 2, 1, 0, 0, 1, 'kw_live_B'),
			       (3, 1, 'alice-test-secret-1', 'API_TOKEN', 'test', 'secret', 1, 1, 0, 0, 1, 'kw_test_C')`,
		`INSERT INTO events (time, actor_user_id, action, project_id, credential_id, outcome, detail) VALUES
			(0, 1, 'credential.create', 1, 1, 'success', '{"name":"alice-live-secret-1","own_key":"true","type":"API_TOKEN"}'),
			(0, 2, 'credential.create', 1, 2, 'success', '{"name":"alice-live-secret-2","type":"API_TOKEN"}'),
			(0, 1, 'credential.create', 1, 3, 'success', '{"name":"alice-test-secret-1","type":"API_TOKEN"}'),
			(0, 2, 'credential.create', 1, 2, 'denied', '{"own_key":"true"}')`,
	)

	s := MustOpen(t, path)
	storetest.OwnKeysMigrated(t, s)
}
