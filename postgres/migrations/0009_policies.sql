-- 0009: per-project key policies (the twin of sqlite/migrations/0009_policies.sql).
-- policy is the project's keyward.Policy as a JSON object; '{}' imposes nothing. Text, not
-- jsonb, so that both engines store and return the same bytes.
ALTER TABLE projects ADD COLUMN policy text NOT NULL DEFAULT '{}';
-- enabled_at is when the credential was last enabled again after being disabled: the sweep
-- that disables unused keys counts from it, so that it does not undo an operator's enable.
ALTER TABLE credentials ADD COLUMN enabled_at timestamptz NULL;
-- ends_at_first_use marks a rolled-away secret that ends when the credential's current secret
-- is first seen (or at valid_until, its hard limit, whichever comes first).
ALTER TABLE credential_secrets ADD COLUMN ends_at_first_use boolean NOT NULL DEFAULT false;
