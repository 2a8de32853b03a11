-- 0004: per-credential rate limits and usage credits.
--
-- A rate limit allows ratelimit_limit verifications per ratelimit_duration_ms milliseconds;
-- both are NULL when the credential has none. remaining counts the uses left (NULL: not
-- counted, unlimited). A refill (refill_interval 'daily' or 'monthly', refill_amount; both NULL
-- when there is none) sets remaining to refill_amount at the start of every period, and
-- last_refill_at (unix microseconds, NULL before the first) records the start of the period it
-- last did so for.
--
-- remaining and last_refill_at are counters: only ConsumeCredit (one atomic UPDATE ... RETURNING
-- per use) and SetRemaining write them, never the versioned UpdateCredential, and neither moves
-- the version.
ALTER TABLE credentials ADD COLUMN ratelimit_limit       INTEGER NULL;
ALTER TABLE credentials ADD COLUMN ratelimit_duration_ms INTEGER NULL;
ALTER TABLE credentials ADD COLUMN remaining             INTEGER NULL;
ALTER TABLE credentials ADD COLUMN refill_interval       TEXT    NULL;
ALTER TABLE credentials ADD COLUMN refill_amount         INTEGER NULL;
ALTER TABLE credentials ADD COLUMN last_refill_at        INTEGER NULL;
