-- Webhook triggers (SPEC §3 webhook rows, §4.8–4.11). A reset revokes the old row and inserts a new
-- one, so history keeps pointing at the id that was called.
CREATE TABLE webhooks (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  workflow_id TEXT NOT NULL REFERENCES workflows(id),
  enabled INTEGER NOT NULL,
  timeout_s INTEGER NOT NULL,
  body_mode TEXT NOT NULL,
  raw_variable TEXT,
  signature TEXT,
  rate_limit TEXT,
  expected_every_s INTEGER,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE UNIQUE INDEX webhooks_live_per_workflow ON webhooks(workflow_id) WHERE revoked_at IS NULL;

CREATE TABLE webhook_calls (
  id TEXT PRIMARY KEY,
  webhook_id TEXT NOT NULL,
  status TEXT NOT NULL,
  http_status INTEGER NOT NULL,
  err_code TEXT,
  execution_id TEXT,
  response_ms INTEGER NOT NULL,
  source_ip TEXT,
  body_size INTEGER NOT NULL,
  duplicate INTEGER NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX webhook_calls_by_webhook ON webhook_calls(webhook_id, id);
