-- 0008: webhooks from a transactional outbox.
--
-- webhook_endpoints are a project's receivers: the URL, the event types it subscribes to (a
-- JSON array of names) and its signing secret, sealed under the master key (signing needs it,
-- so it cannot be a digest); enabled 0 pauses its deliveries.
CREATE TABLE webhook_endpoints (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    url         TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    types       TEXT    NOT NULL DEFAULT '[]',
    enabled     INTEGER NOT NULL,
    secret      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_project_id ON webhook_endpoints (project_id, id);

-- webhook_deliveries is the outbox: one row per endpoint and event, written in the event's
-- transaction. id is the webhook-id header (random, the same on every attempt); seq orders the
-- rows for paging. state is pending, delivering, delivered, failed or dead; a delivering row
-- belongs to the server holding lease_token until lease_until, after which another may claim
-- it. last_error is bounded and never holds a secret.
CREATE TABLE webhook_deliveries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    endpoint_id     INTEGER NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id        INTEGER NOT NULL,
    type            TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER NULL,
    lease_token     TEXT    NULL,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, seq);

-- webhook_expiry_marks remembers which expiries the sweep announced: once per credential,
-- action (credential.expiring or credential.expired) and expires_at, so that a renewed key is
-- announced again and servers sweeping at once announce each expiry once.
CREATE TABLE webhook_expiry_marks (
    credential_id INTEGER NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
    action        TEXT    NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (credential_id, action, expires_at)
) WITHOUT ROWID;
