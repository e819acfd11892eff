-- Request headers a webhook passes to its runs as `trigger.headers` (an allow-list of names, JSON;
-- NULL means the signature scheme's defaults), and the headers each run received (JSON).
ALTER TABLE webhooks ADD COLUMN forward_headers TEXT;
ALTER TABLE executions ADD COLUMN trigger_headers TEXT;
