package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/snapshot"
	"github.com/keyward/keyward/sqlite"
)

// newMigrateCmd is "keyward migrate": the schema of a database, and copying one store to another.
// These commands work on the database directly, not through a server.
func newMigrateCmd(a *app) *cobra.Command {
	cmd := newGroupCmd("migrate", "Migrate the database schema, or copy the data to another database",
		newMigrateUpCmd(a),
		newMigrateStatusCmd(a),
		newMigrateCopyCmd(a),
	)
	cmd.Long = `Migrate the database schema, or copy the data to another database.

These commands open the database directly, as "keyward serve" does, not through a server.
The database is named by --database (or $KEYWARD_DATABASE_URL):

  postgres://user:password@host:5432/keyward?sslmode=verify-full   PostgreSQL
  sqlite:///var/lib/keyward/keyward.db                              SQLite, absolute path
  sqlite://keyward.db                                               SQLite, relative path
  (empty)                                                           SQLite at <--data>/keyward.db

"keyward serve" migrates on start too; replicas that start together take turns (an advisory
lock), and a server refuses a database whose schema is newer than it knows.`
	return cmd
}

// databaseFlags adds --database and --data to cmd; their defaults come from the environment.
func databaseFlags(a *app, cmd *cobra.Command, database, data *string) {
	cmd.Flags().StringVar(database, "database", a.getenv("KEYWARD_DATABASE_URL"), databaseHelp)
	def := a.getenv("KEYWARD_DATA")
	if def == "" {
		def = "./keyward-data"
	}
	cmd.Flags().StringVar(data, "data", def, "data directory of the default SQLite database (env KEYWARD_DATA)")
}

// schemaStatus returns the current and newest schema versions of db without changing it.
func schemaStatus(ctx context.Context, db database) (current, latest int64, err error) {
	if db.kind == kindSQLite {
		return sqlite.SchemaStatus(ctx, db.path)
	}
	return postgres.SchemaStatus(ctx, db.url)
}

// errNewerSchema says that db was migrated by a newer keyward.
func errNewerSchema(db database, current, latest int64) error {
	return fmt.Errorf("the schema of %s is at version %d, newer than the %d this keyward knows; upgrade keyward", db, current, latest)
}

func newMigrateUpCmd(a *app) *cobra.Command {
	var databaseURL, data string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Apply the migrations the database lacks",
		Example: `  keyward migrate up --database postgres://keyward@db.internal/keyward
  KEYWARD_DATABASE_URL=postgres://... keyward migrate up`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			db, err := parseDatabase(databaseURL, data)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			before, latest, err := schemaStatus(ctx, db)
			if err != nil {
				return err
			}
			if before > latest {
				return errNewerSchema(db, before, latest)
			}
			if db.kind == kindSQLite {
				s, _, err := openStore(ctx, databaseURL, data)
				if err != nil {
					return err
				}
				if err := s.Close(); err != nil {
					return err
				}
			} else if _, err := postgres.Migrate(ctx, db.url); err != nil {
				return err
			}
			after, _, err := schemaStatus(ctx, db)
			if err != nil {
				return err
			}
			if a.jsonOut() {
				return a.printJSON(map[string]any{"database": db.String(), "from": before, "version": after, "latest": latest})
			}
			if after == before {
				fmt.Fprintf(a.stdout, "%s is up to date at schema version %d\n", db, after)
			} else {
				fmt.Fprintf(a.stdout, "%s migrated from schema version %d to %d\n", db, before, after)
			}
			return nil
		},
	}
	databaseFlags(a, cmd, &databaseURL, &data)
	return cmd
}

func newMigrateStatusCmd(a *app) *cobra.Command {
	var databaseURL, data string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the database's schema version and the newest this keyward knows",
		Long: `Show the database's schema version and the newest this keyward knows.

The exit code is 1 when the database is newer than this keyward (a newer keyward migrated it:
upgrade this one), 0 otherwise, pending migrations included.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			db, err := parseDatabase(databaseURL, data)
			if err != nil {
				return err
			}
			current, latest, err := schemaStatus(cmd.Context(), db)
			if err != nil {
				return err
			}
			state := "up to date"
			switch {
			case current > latest:
				state = "newer than this keyward: upgrade keyward"
			case current == 0:
				state = "empty: keyward serve or keyward migrate up creates the schema"
			case current < latest:
				state = fmt.Sprintf("%d migration(s) pending: run keyward migrate up (keyward serve does it too)", latest-current)
			}
			if a.jsonOut() {
				if err := a.printJSON(map[string]any{"database": db.String(), "current": current, "latest": latest, "state": state}); err != nil {
					return err
				}
			} else if err := table(a.stdout, []string{"DATABASE", "CURRENT", "LATEST", "STATE"},
				[][]string{{db.String(), fmt.Sprint(current), fmt.Sprint(latest), state}}); err != nil {
				return err
			}
			if current > latest {
				return errNewerSchema(db, current, latest)
			}
			return nil
		},
	}
	databaseFlags(a, cmd, &databaseURL, &data)
	return cmd
}

func newMigrateCopyCmd(a *app) *cobra.Command {
	var from, to, data string
	var replaceText bool
	cmd := &cobra.Command{
		Use:   "copy --from URL --to URL",
		Short: "Copy every record to another, empty database (SQLite to PostgreSQL, say)",
		Long: `Copy every record to another, empty database: projects, users (with their password hashes),
roles, role bindings, credentials (with their roles and secret digests) and the audit trail,
keeping every id. Tokens issued before the copy verify after it, and URLs and audit records
that name ids stay valid.

Stop the servers that write to --from first: what they write during the copy is not copied.
Both databases are migrated to this keyward's schema first. --to must be empty: a new
PostgreSQL database, or a SQLite path with no data (do not start "keyward serve" on it before
the copy, since its first start creates records). After the copy, keyward reads the target back
and checks that it holds exactly what the source held.

Text holding a NUL byte or invalid UTF-8, which keyward refuses now but older versions stored
in SQLite, cannot go to PostgreSQL: the copy then lists every such value (table, id, field)
and copies nothing, unless --replace-invalid-text copies them with each bad byte replaced by
U+FFFD.`,
		Example: `  keyward migrate copy --from sqlite:///var/lib/keyward/keyward.db \
      --to postgres://keyward@db.internal/keyward?sslmode=verify-full`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if from == "" || to == "" {
				return usageErrorf("both --from and --to are required")
			}
			src, err := parseDatabase(from, data)
			if err != nil {
				return err
			}
			dst, err := parseDatabase(to, data)
			if err != nil {
				return err
			}
			if src == dst {
				return usageErrorf("--from and --to name the same database")
			}
			ctx := cmd.Context()
			s, _, err := openStore(ctx, from, data)
			if err != nil {
				return fmt.Errorf("opening %s: %w", src, err)
			}
			defer s.Close()
			t, _, err := openStore(ctx, to, data)
			if err != nil {
				return fmt.Errorf("opening %s: %w", dst, err)
			}
			defer t.Close()
			exp, ok1 := s.(snapshot.Exporter)
			imp, ok2 := t.(interface {
				snapshot.Exporter
				snapshot.Importer
			})
			if !ok1 || !ok2 {
				return errors.New("this store cannot be copied")
			}
			snap, replaced, err := snapshot.CopyWith(ctx, exp, imp, snapshot.CopyOptions{ReplaceInvalidText: replaceText})
			var badText *snapshot.InvalidTextError
			switch {
			case errors.Is(err, snapshot.ErrNotEmpty):
				return fmt.Errorf("%s is not empty: copy into a new, empty database", dst)
			case errors.As(err, &badText):
				return fmt.Errorf("nothing was copied: %s holds text that keyward no longer stores (PostgreSQL cannot):\n  %s\n"+
					"Correct these values on the source, or copy again with --replace-invalid-text to copy them with each bad byte replaced by U+FFFD",
					src, strings.Join(badText.Places, "\n  "))
			case err != nil:
				return err
			}
			if a.jsonOut() {
				return a.printJSON(map[string]any{"from": src.String(), "to": dst.String(), "schema_version": snap.SchemaVersion,
					"projects": len(snap.Projects), "users": len(snap.Users), "roles": len(snap.Roles),
					"role_bindings": len(snap.RoleBindings), "credentials": len(snap.Credentials),
					"secrets": len(snap.Secrets), "events": len(snap.Events), "replaced_invalid_text": nonNil(replaced)})
			}
			if len(replaced) > 0 {
				fmt.Fprintf(a.stdout, "replaced NUL bytes and invalid UTF-8 by U+FFFD in:\n  %s\n", strings.Join(replaced, "\n  "))
			}
			fmt.Fprintf(a.stdout, "copied %s\nfrom %s\nto   %s\nThe copy was read back and matches. Start keyward serve --database on the target; existing tokens keep working.\n",
				snap.Summary(), src, dst)
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "database to copy from (a --database URL)")
	cmd.Flags().StringVar(&to, "to", "", "empty database to copy to (a --database URL)")
	cmd.Flags().BoolVar(&replaceText, "replace-invalid-text", false,
		"copy text holding a NUL byte or invalid UTF-8 (which older versions stored in SQLite) with each bad byte replaced by U+FFFD, instead of refusing the copy")
	def := a.getenv("KEYWARD_DATA")
	if def == "" {
		def = "./keyward-data"
	}
	cmd.Flags().StringVar(&data, "data", def, "data directory, for an empty URL's default SQLite database (env KEYWARD_DATA)")
	return cmd
}
