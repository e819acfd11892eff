-- When an attempt failed and will be retried: when the next one is due (the delay that was chosen).
ALTER TABLE node_attempts ADD COLUMN next_attempt_at BIGINT;
-- A node whose response changed shape against the last one recorded for its task (contract drift).
ALTER TABLE node_executions ADD COLUMN drift TEXT;

-- The last response shape seen per workflow task, to notice a third party changing a field.
CREATE TABLE response_shapes (
  workflow_id TEXT NOT NULL,
  node_id TEXT NOT NULL,
  shape TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (workflow_id, node_id)
);
