package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlstore"
)

// dialect is SQLite's sqlstore.Dialect. SQLite takes ? and ?N as written, keeps times as unix
// microseconds, and serializes write transactions (BEGIN IMMEDIATE on the one writer
// connection), so it needs no row locks, no lock for Bootstrap and no change feed;
// AUTOINCREMENT hands out ids past imported ones by itself.
type dialect struct{}

func (dialect) Name() string               { return "sqlite" }
func (dialect) Rebind(q string) string     { return q }
func (dialect) EncodeTime(t time.Time) any { return t.UnixMicro() }
func (dialect) ForUpdate(string) string    { return "" }
func (dialect) IDList() string             { return `SELECT value FROM json_each(?)` }
func (dialect) Aggregate(expr string) string {
	return `group_concat(` + expr + `, ',' ORDER BY ` + expr + `)`
}

func (dialect) Lock(context.Context, *sql.Tx) error                   { return nil }
func (dialect) ExplicitIDs(context.Context, *sql.Tx, ...string) error { return nil }
func (dialect) BeforeCommit(context.Context, *sql.Tx, keyward.Invalidation) error {
	return nil
}

// Classify sorts SQLite's result codes: a busy or locked database is contention (another
// process holds the write lock), worth running the transaction again.
func (dialect) Classify(err error) sqlstore.Class {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return sqlstore.Other
	}
	switch code := se.Code(); {
	case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE, code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqlstore.Unique
	case code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqlstore.ForeignKey
	case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED:
		return sqlstore.Contention
	case code&0xff == sqlite3.SQLITE_INTERRUPT:
		return sqlstore.Interrupted
	}
	return sqlstore.Other
}
