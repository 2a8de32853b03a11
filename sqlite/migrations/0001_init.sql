-- 0001: the initial schema. Times are INTEGER unix microseconds (UTC); NULL means "no time".
-- Ids use AUTOINCREMENT so that an id, once handed out in a URL or an audit record, is never
-- reused.

CREATE TABLE projects (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    slug       TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    password_hash TEXT    NULL
);

-- permissions is a JSON array of permission names, in the order the role was written with.
CREATE TABLE roles (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    permissions TEXT    NOT NULL DEFAULT '[]',
    built_in    INTEGER NOT NULL DEFAULT 0
);

-- project_id NULL binds the role in every project; the expression index keeps such global
-- bindings unique too, which a plain UNIQUE would not (NULLs are distinct).
CREATE TABLE role_bindings (
    user_id    INTEGER NOT NULL REFERENCES users(id),
    project_id INTEGER NULL     REFERENCES projects(id),
    role_id    INTEGER NOT NULL REFERENCES roles(id)
);
CREATE UNIQUE INDEX role_bindings_unique ON role_bindings (user_id, COALESCE(project_id, 0), role_id);

CREATE TABLE credentials (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id   INTEGER NOT NULL REFERENCES projects(id),
    name         TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    type         TEXT    NOT NULL,
    environment  TEXT    NOT NULL,
    key_type     TEXT    NOT NULL,
    created_by   INTEGER NOT NULL REFERENCES users(id),
    meta         TEXT    NOT NULL DEFAULT '{}',
    not_before   INTEGER NULL,
    expires_at   INTEGER NULL,
    active       INTEGER NOT NULL,
    revoked_at   INTEGER NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    last_used_at INTEGER NULL,
    version      INTEGER NOT NULL,
    start        TEXT    NOT NULL DEFAULT '',
    UNIQUE (project_id, name)
);
-- Listing walks one project's credentials by id.
CREATE INDEX credentials_project_id ON credentials (project_id, id);

CREATE TABLE credential_roles (
    credential_id INTEGER NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
    role_id       INTEGER NOT NULL REFERENCES roles(id),
    PRIMARY KEY (credential_id, role_id)
) WITHOUT ROWID;

-- Only SHA-256 digests, never a secret. WITHOUT ROWID makes the verify lookup one B-tree probe.
CREATE TABLE credential_secrets (
    digest        BLOB    PRIMARY KEY,
    credential_id INTEGER NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
    valid_until   INTEGER NULL,
    created_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX credential_secrets_credential_id ON credential_secrets (credential_id);

-- Audit records carry no foreign keys: a denied attempt may name a credential or project that
-- does not exist, and the record must outlive whatever it names. A zero id (no project, an
-- unauthenticated actor) is stored as 0, so a ProjectIDs filter can ask for it like any other.
CREATE TABLE events (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    time                INTEGER NOT NULL,
    actor_user_id       INTEGER NOT NULL DEFAULT 0,
    actor_credential_id INTEGER NOT NULL DEFAULT 0,
    actor               TEXT    NOT NULL DEFAULT '',
    action              TEXT    NOT NULL,
    project_id          INTEGER NOT NULL DEFAULT 0,
    credential_id       INTEGER NOT NULL DEFAULT 0,
    remote_addr         TEXT    NOT NULL DEFAULT '',
    outcome             TEXT    NOT NULL,
    detail              TEXT    NULL
);
CREATE INDEX events_project_id ON events (project_id, id);
CREATE INDEX events_credential_id ON events (credential_id, id);
