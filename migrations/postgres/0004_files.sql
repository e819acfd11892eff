-- Files produced by tasks belong to an execution and a node; uploads have neither until referenced.
ALTER TABLE files ADD COLUMN execution_id TEXT;
ALTER TABLE files ADD COLUMN node_id TEXT;
CREATE INDEX files_execution ON files(execution_id) WHERE execution_id IS NOT NULL;
CREATE INDEX files_expiry ON files(expires_at) WHERE expires_at IS NOT NULL;

-- Instance-wide values every process must agree on (e.g. the secret that signs download links).
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
