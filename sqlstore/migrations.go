package sqlstore

import (
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Migration is one embedded schema step of an engine.
type Migration struct {
	Version int64
	Name    string
	SQL     string
}

// Migrations returns the migrations in fsys's directory "migrations" by ascending version.
// Files are named NNNN_description.sql; the number is the version. Each engine keeps its own
// history, since the SQL differs; the versions mean the same schema on every engine.
func Migrations(fsys fs.FS) ([]Migration, error) {
	ms, err := migrations(fsys)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return ms, nil
}

// LatestVersion is the newest version among fsys's migrations, 0 when they cannot be read.
func LatestVersion(fsys fs.FS) int64 {
	ms, err := migrations(fsys)
	if err != nil {
		return 0
	}
	return ms[len(ms)-1].Version
}

func migrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		if !ok || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration %q is not named NNNN_name.sql", name)
		}
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q has no positive version", name)
		}
		b, err := fs.ReadFile(fsys, "migrations/"+name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %q and %q share a version", ms[i-1].Name, ms[i].Name)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("no embedded migrations")
	}
	return ms, nil
}
