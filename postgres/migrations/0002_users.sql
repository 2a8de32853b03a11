-- 0002: users that can be changed and deleted, and what finding their records needs (the twin
-- of sqlite/migrations/0002_users.sql).
--
-- A deleted user keeps its row (audit records and credentials name it) with deleted_at set;
-- its name is renamed to "<name>~deleted~<id>", which no valid name can be, so UNIQUE (name)
-- still holds and the name is free for a new user.

ALTER TABLE users ADD COLUMN updated_at timestamptz NULL;
UPDATE users SET updated_at = created_at;
ALTER TABLE users ALTER COLUMN updated_at SET NOT NULL;
ALTER TABLE users ADD COLUMN deleted_at timestamptz NULL;

-- Deleting a user revokes the credentials it created; listing can filter by creator.
CREATE INDEX credentials_created_by ON credentials (created_by);

-- A project's members, by user then role; and whether a role is in use, without a full scan.
CREATE INDEX role_bindings_project ON role_bindings (project_id, user_id, role_id);
CREATE INDEX role_bindings_role ON role_bindings (role_id);
CREATE INDEX credential_roles_role ON credential_roles (role_id);
