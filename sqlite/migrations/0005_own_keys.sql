-- 0005: a credential's purpose, set only by keyward itself: 'own_key' for one of a user's own
-- keys (the self-service keys a user regenerates all at once, ServiceStack's API keys), '' for
-- every other credential. Own keys were told apart by their names before, which any user of
-- the project could take; the purpose is written when the key is created and never changed.
ALTER TABLE credentials ADD COLUMN purpose TEXT NOT NULL DEFAULT '';

-- The own keys created before: keyward audited each one's creation with own_key = "true".
UPDATE credentials SET purpose = 'own_key'
WHERE id IN (SELECT credential_id FROM events
             WHERE action = 'credential.create' AND outcome = 'success' AND credential_id <> 0
               AND json_extract(detail, '$.own_key') = 'true');
