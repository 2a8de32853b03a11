-- 0003: certificate and kubeconfig credentials, recoverable keys, virtual clusters, settings.
--
-- None of this stores a secret in the clear: a certificate is known by its serial and
-- fingerprint, a recoverable key and a cluster's client CA only in their sealed form (AES-GCM
-- under the master key, done by the caller), and the CA's own state is a sealed setting.

-- Opt-in per project: new API tokens are also kept sealed, so that they can be revealed again.
ALTER TABLE projects ADD COLUMN recoverable_keys INTEGER NOT NULL DEFAULT 0;

-- The current certificate of an API_CERTIFICATE or KUBE_CONFIG credential (serial in lower-case
-- hex, SHA-256 fingerprint of the DER), and the virtual cluster of a KUBE_CONFIG. NULL, never
-- '', when there is none, so that the partial UNIQUE index ignores token credentials.
ALTER TABLE credentials ADD COLUMN serial      TEXT NULL;
ALTER TABLE credentials ADD COLUMN fingerprint TEXT NULL;
ALTER TABLE credentials ADD COLUMN cluster     TEXT NULL;
ALTER TABLE credentials ADD COLUMN namespace   TEXT NULL;
CREATE UNIQUE INDEX credentials_serial ON credentials (serial) WHERE serial IS NOT NULL;

-- The token sealed under the master key, in projects with recoverable keys only.
ALTER TABLE credential_secrets ADD COLUMN sealed BLOB NULL;
-- Whether a credential is recoverable (its current secret is sealed) is read on every
-- credential read, the verify path included: this index answers it without touching the table.
CREATE INDEX credential_secrets_sealed ON credential_secrets (credential_id)
    WHERE valid_until IS NULL AND sealed IS NOT NULL;

-- Every certificate ever issued to a credential: the current one, and those a roll or a
-- revocation ended, which the CRL lists until not_after. Serials are never reused.
CREATE TABLE certificates (
    serial        TEXT    PRIMARY KEY,
    credential_id INTEGER NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
    fingerprint   TEXT    NOT NULL DEFAULT '',
    not_after     INTEGER NOT NULL,
    revoked_at    INTEGER NULL,
    created_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX certificates_credential_id ON certificates (credential_id);
-- The CRL: revoked certificates not yet expired, by serial. The partial index holds only the
-- revoked ones, already in serial order, with not_after to filter on.
CREATE INDEX certificates_revoked ON certificates (serial, not_after) WHERE revoked_at IS NOT NULL;

-- Virtual Kubernetes clusters that KUBE_CONFIG credentials point at. client_ca is the sealed
-- state of a per-cluster client-signing CA, NULL when keyward's own CA signs. Credentials keep
-- the cluster's name, not a reference, so a cluster can be deleted.
CREATE TABLE clusters (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    server     TEXT    NOT NULL,
    ca_pem     TEXT    NOT NULL DEFAULT '',
    client_ca  BLOB    NULL,
    created_at INTEGER NOT NULL
);

-- Server settings: the CA's sealed state, the master key check, and the like.
CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      BLOB    NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
