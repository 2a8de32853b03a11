-- 0006: how many verifications of each credential ended with each code, per hour (UTC; hour is
-- the hour's start in unix microseconds, like every time). Written behind in batches by the
-- authority (keyward.UsageStore.AddUsage), never one write per verification; rows older than
-- the authority's retention (UsageRetention, 400 days) are deleted once an hour. project_id is
-- the credential's, copied so that a project's report reads one index range.
CREATE TABLE usage_hourly (
    credential_id INTEGER NOT NULL REFERENCES credentials(id),
    project_id    INTEGER NOT NULL REFERENCES projects(id),
    hour          INTEGER NOT NULL,
    code          TEXT    NOT NULL,
    count         INTEGER NOT NULL,
    PRIMARY KEY (credential_id, hour, code)
) WITHOUT ROWID;
-- A project's report over a window.
CREATE INDEX usage_hourly_project_hour ON usage_hourly (project_id, hour);
-- The hourly prune of old rows.
CREATE INDEX usage_hourly_hour ON usage_hourly (hour);
