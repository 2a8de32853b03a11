-- 0007: the tamper-evident audit chain (the twin of sqlite/migrations/0007_audit_chain.sql).
-- Each event gets its place in the chain (seq, from 1, in commit order and without gaps), the
-- previous event's hash, its own hash and a MAC of it under the chain key. Events written
-- before this migration keep NULLs until the first server start with the chain key chains
-- them, in id order (ChainBacklog).
ALTER TABLE events ADD COLUMN seq bigint NULL;
ALTER TABLE events ADD COLUMN prev_hash bytea NULL;
ALTER TABLE events ADD COLUMN hash bytea NULL;
ALTER TABLE events ADD COLUMN mac bytea NULL;
CREATE UNIQUE INDEX events_seq ON events (seq);

-- The chain's last position and hash: one row, which every writing transaction locks (SELECT
-- ... FOR UPDATE) and moves just before it commits, so that replicas chain in commit order.
CREATE TABLE audit_chain_head (
    id   integer PRIMARY KEY CHECK (id = 1),
    seq  bigint  NOT NULL,
    hash bytea   NOT NULL
);
INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, '\x');
