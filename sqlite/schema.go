package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// SchemaStatus returns the schema version of the database at path (0 when the file does not
// exist or keyward never migrated it) and the newest this build knows. It changes nothing and
// creates no file.
func SchemaStatus(ctx context.Context, path string) (current, latest int64, err error) {
	latest = LatestSchemaVersion()
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: %w", err)
	}
	if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
		return 0, latest, nil
	} else if err != nil {
		return 0, 0, fmt.Errorf("sqlite: %w", err)
	}
	db, err := openDB(abs, "deferred", []string{"busy_timeout(5000)", "query_only(1)"})
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')`).Scan(&exists); err != nil {
		return 0, 0, fmt.Errorf("sqlite: read schema version: %w", err)
	}
	if exists {
		if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return 0, 0, fmt.Errorf("sqlite: read schema version: %w", err)
		}
	}
	return current, latest, nil
}
