-- Flowgate schema, PostgreSQL dialect. Times are epoch milliseconds; JSON is stored as TEXT, as on SQLite, so both stores read it the same way.
CREATE TABLE workspaces (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  name TEXT NOT NULL,
  prefix TEXT NOT NULL,
  secret_hash TEXT NOT NULL UNIQUE,
  scopes TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX api_keys_workspace ON api_keys(workspace_id);

CREATE TABLE workflows (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  title TEXT NOT NULL,
  version INTEGER NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  deleted_at BIGINT
);
CREATE INDEX workflows_workspace ON workflows(workspace_id, created_at);

CREATE TABLE workflow_versions (
  workflow_id TEXT NOT NULL REFERENCES workflows(id),
  version INTEGER NOT NULL,
  definition TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (workflow_id, version)
);

CREATE TABLE executions (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  workflow_version INTEGER NOT NULL,
  status TEXT NOT NULL,
  trigger TEXT NOT NULL,
  variables TEXT NOT NULL,
  err_code TEXT,
  err_msg TEXT,
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  finished_at BIGINT,
  deadline_at BIGINT NOT NULL
);
-- Ids are time-sortable, so "newest first" is ORDER BY id DESC on these.
CREATE INDEX executions_history ON executions(workflow_id, id);
CREATE INDEX executions_workspace_status ON executions(workspace_id, status, id);
CREATE INDEX executions_live_deadline ON executions(deadline_at) WHERE status IN ('init', 'executing');
-- Backlog depth (SPEC §4.10) is read often; only unstarted executions are in this index.
CREATE INDEX executions_pending ON executions(created_at) WHERE status = 'init';

CREATE TABLE node_executions (
  execution_id TEXT NOT NULL REFERENCES executions(id),
  node_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  kind TEXT NOT NULL,
  title TEXT,
  deps TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  runnable_at BIGINT,
  lease_owner TEXT,
  lease_expires_at BIGINT,
  output TEXT,
  messages TEXT,
  usage TEXT,
  err_code TEXT,
  err_msg TEXT,
  started_at BIGINT,
  finished_at BIGINT,
  PRIMARY KEY (execution_id, node_id)
);
-- The work queue: only runnable rows are in this index, so claiming stays cheap with millions of rows.
CREATE INDEX node_executions_runnable ON node_executions(runnable_at) WHERE runnable_at IS NOT NULL;
CREATE INDEX node_executions_leases ON node_executions(lease_expires_at) WHERE lease_owner IS NOT NULL;

CREATE TABLE node_attempts (
  execution_id TEXT NOT NULL,
  node_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  worker_id TEXT NOT NULL,
  status TEXT NOT NULL,
  http_status INTEGER,
  err_code TEXT,
  err_msg TEXT,
  started_at BIGINT NOT NULL,
  finished_at BIGINT,
  PRIMARY KEY (execution_id, node_id, attempt)
);

CREATE TABLE idempotency_keys (
  workspace_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  execution_id TEXT NOT NULL,
  response TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (workspace_id, scope, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys(expires_at);

CREATE TABLE files (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  size BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  storage_path TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT
);
CREATE INDEX files_workspace ON files(workspace_id);
