-- 0004: per-credential rate limits and usage credits (the twin of
-- sqlite/migrations/0004_limits.sql).
--
-- A rate limit allows ratelimit_limit verifications per ratelimit_duration_ms milliseconds;
-- both are NULL when the credential has none. remaining counts the uses left (NULL: not
-- counted, unlimited). A refill (refill_interval 'daily' or 'monthly', refill_amount; both NULL
-- when there is none) sets remaining to refill_amount at the start of every period, and
-- last_refill_at (NULL before the first) records the start of the period it last did so for.
--
-- remaining and last_refill_at are counters: only ConsumeCredit (one atomic UPDATE ... RETURNING
-- per use, which waits for nothing but the credential's row lock) and SetRemaining write them,
-- never the versioned UpdateCredential, and neither moves the version.
ALTER TABLE credentials
    ADD COLUMN ratelimit_limit       integer     NULL,
    ADD COLUMN ratelimit_duration_ms bigint      NULL,
    ADD COLUMN remaining             bigint      NULL,
    ADD COLUMN refill_interval       text        NULL,
    ADD COLUMN refill_amount         bigint      NULL,
    ADD COLUMN last_refill_at        timestamptz NULL;

-- Every counted verification rewrites its credential's row. None of the columns it changes is
-- indexed, so the new row version can stay on its page (a HOT update, no index writes) when the
-- page has room: leave some.
ALTER TABLE credentials SET (fillfactor = 90);
