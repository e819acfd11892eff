-- A canvasId names a workflow inside its workspace, not across the instance: two workspaces may each
-- have c-orders, and creating one never reveals that another workspace holds the same id.
-- SQLite cannot change a primary key in place, so the workflow tables are rebuilt; the rows keep
-- their values, and every row of a version, webhook or response shape gains its workflow's workspace.
CREATE TABLE workflows_v7 (
  id TEXT NOT NULL,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  title TEXT NOT NULL,
  version INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER,
  PRIMARY KEY (workspace_id, id)
);
INSERT INTO workflows_v7 SELECT id, workspace_id, title, version, created_at, updated_at, deleted_at FROM workflows;

CREATE TABLE workflow_versions_v7 (
  workspace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  definition TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (workspace_id, workflow_id, version)
);
INSERT INTO workflow_versions_v7
  SELECT w.workspace_id, v.workflow_id, v.version, v.definition, v.created_at FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id;

CREATE TABLE webhooks_v7 (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  workflow_id TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  timeout_s INTEGER NOT NULL,
  body_mode TEXT NOT NULL,
  raw_variable TEXT,
  signature TEXT,
  rate_limit TEXT,
  expected_every_s INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  revoked_at INTEGER,
  silent_at INTEGER
);
INSERT INTO webhooks_v7 SELECT id, workspace_id, workflow_id, enabled, timeout_s, body_mode, raw_variable, signature, rate_limit,
  expected_every_s, created_at, updated_at, revoked_at, silent_at FROM webhooks;

CREATE TABLE response_shapes_v7 (
  workspace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  node_id TEXT NOT NULL,
  shape TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (workspace_id, workflow_id, node_id)
);
INSERT INTO response_shapes_v7
  SELECT w.workspace_id, s.workflow_id, s.node_id, s.shape, s.updated_at FROM response_shapes s JOIN workflows w ON w.id = s.workflow_id;

-- Children first: the old ones reference the old workflows table.
DROP TABLE webhooks;
DROP TABLE workflow_versions;
DROP TABLE response_shapes;
DROP TABLE workflows;
ALTER TABLE workflows_v7 RENAME TO workflows;
ALTER TABLE workflow_versions_v7 RENAME TO workflow_versions;
ALTER TABLE webhooks_v7 RENAME TO webhooks;
ALTER TABLE response_shapes_v7 RENAME TO response_shapes;

CREATE INDEX workflows_workspace ON workflows(workspace_id, created_at);
CREATE UNIQUE INDEX webhooks_live_per_workflow ON webhooks(workspace_id, workflow_id) WHERE revoked_at IS NULL;
DROP INDEX executions_history;
CREATE INDEX executions_history ON executions(workspace_id, workflow_id, id);
