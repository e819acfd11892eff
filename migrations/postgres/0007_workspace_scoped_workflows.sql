-- A canvasId names a workflow inside its workspace, not across the instance: two workspaces may each
-- have c-orders, and creating one never reveals that another workspace holds the same id.
ALTER TABLE workflow_versions DROP CONSTRAINT workflow_versions_workflow_id_fkey;
ALTER TABLE webhooks DROP CONSTRAINT webhooks_workflow_id_fkey;
ALTER TABLE workflows DROP CONSTRAINT workflows_pkey;
ALTER TABLE workflows ADD PRIMARY KEY (workspace_id, id);

ALTER TABLE workflow_versions ADD COLUMN workspace_id TEXT;
UPDATE workflow_versions v SET workspace_id = w.workspace_id FROM workflows w WHERE w.id = v.workflow_id;
ALTER TABLE workflow_versions ALTER COLUMN workspace_id SET NOT NULL;
ALTER TABLE workflow_versions DROP CONSTRAINT workflow_versions_pkey;
ALTER TABLE workflow_versions ADD PRIMARY KEY (workspace_id, workflow_id, version);
ALTER TABLE workflow_versions ADD FOREIGN KEY (workspace_id, workflow_id) REFERENCES workflows(workspace_id, id);

ALTER TABLE webhooks ADD FOREIGN KEY (workspace_id, workflow_id) REFERENCES workflows(workspace_id, id);
DROP INDEX webhooks_live_per_workflow;
CREATE UNIQUE INDEX webhooks_live_per_workflow ON webhooks(workspace_id, workflow_id) WHERE revoked_at IS NULL;

ALTER TABLE response_shapes ADD COLUMN workspace_id TEXT;
UPDATE response_shapes s SET workspace_id = w.workspace_id FROM workflows w WHERE w.id = s.workflow_id;
DELETE FROM response_shapes WHERE workspace_id IS NULL;
ALTER TABLE response_shapes ALTER COLUMN workspace_id SET NOT NULL;
ALTER TABLE response_shapes DROP CONSTRAINT response_shapes_pkey;
ALTER TABLE response_shapes ADD PRIMARY KEY (workspace_id, workflow_id, node_id);

DROP INDEX executions_history;
CREATE INDEX executions_history ON executions(workspace_id, workflow_id, id);
