-- How a webhook recognises a sender's retry of the same event (JSON: {key, windowHours}); NULL keeps
-- the built-in rules (Idempotency-Key, the signature scheme's delivery id, a 1 s identical body).
ALTER TABLE webhooks ADD COLUMN dedupe TEXT;
