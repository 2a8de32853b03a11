-- 0007: the tamper-evident audit chain (package auditchain). Each event gets its place in the
-- chain (seq, from 1, in commit order and without gaps), the previous event's hash, its own
-- hash and a MAC of it under the chain key. Events written before this migration keep NULLs
-- until the first server start with the chain key chains them, in id order (ChainBacklog).
ALTER TABLE events ADD COLUMN seq INTEGER NULL;
ALTER TABLE events ADD COLUMN prev_hash BLOB NULL;
ALTER TABLE events ADD COLUMN hash BLOB NULL;
ALTER TABLE events ADD COLUMN mac BLOB NULL;
CREATE UNIQUE INDEX events_seq ON events (seq);

-- The chain's last position and hash: one row, which every writing transaction reads and moves
-- just before it commits (on SQLite the one writer serializes them anyway).
CREATE TABLE audit_chain_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash BLOB    NOT NULL
);
INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, X'');
