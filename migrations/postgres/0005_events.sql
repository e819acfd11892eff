-- Outbound events (SPEC §4.12). An endpoint receives a message per event it subscribes to; a message
-- is the exact signed body plus its delivery state, and every attempt to deliver it is a row.
CREATE TABLE event_endpoints (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  url TEXT NOT NULL,
  description TEXT,
  event_types TEXT,
  enabled INTEGER NOT NULL,
  ordered INTEGER NOT NULL,
  headers TEXT,
  rate_limit INTEGER,
  secret TEXT NOT NULL,
  previous_secret TEXT,
  previous_secret_expires_at BIGINT,
  -- Set for a run's callbackUrl: the endpoint hears only that execution's events.
  execution_id TEXT,
  disabled_reason TEXT,
  failing_since BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  deleted_at BIGINT
);
CREATE INDEX event_endpoints_workspace ON event_endpoints(workspace_id, execution_id) WHERE deleted_at IS NULL;

CREATE TABLE event_messages (
  id TEXT PRIMARY KEY,
  endpoint_id TEXT NOT NULL,
  workspace_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  execution_id TEXT,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  ordered INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  -- Attempts made before the current round (a replay or recover starts the schedule over).
  schedule_from INTEGER NOT NULL,
  next_attempt_at BIGINT,
  lease_owner TEXT,
  lease_expires_at BIGINT,
  last_http_status INTEGER,
  last_error TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX event_messages_due ON event_messages(next_attempt_at) WHERE status = 'pending';
CREATE INDEX event_messages_leased ON event_messages(lease_expires_at) WHERE status = 'delivering';
CREATE INDEX event_messages_endpoint ON event_messages(endpoint_id, id);
CREATE INDEX event_messages_execution ON event_messages(execution_id) WHERE execution_id IS NOT NULL;

CREATE TABLE event_attempts (
  message_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  worker_id TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  finished_at BIGINT NOT NULL,
  http_status INTEGER,
  latency_ms INTEGER NOT NULL,
  response_excerpt TEXT,
  error TEXT,
  outcome TEXT NOT NULL,
  PRIMARY KEY (message_id, attempt)
);

-- Who triggered a run (API key id or webhook id) and with which Idempotency-Key / webhook-id, for
-- the execution's timeline.
ALTER TABLE executions ADD COLUMN triggered_by TEXT;
ALTER TABLE executions ADD COLUMN trigger_key TEXT;
-- When webhook.silent was last emitted for a webhook, so one silence makes one event.
ALTER TABLE webhooks ADD COLUMN silent_at BIGINT;
