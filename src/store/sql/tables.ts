/**
 * Kysely's view of the tables in `migrations/<dialect>/`. Both dialects share it: times are epoch
 * milliseconds and JSON is TEXT on both, so rows read the same way everywhere.
 */
export interface WorkspacesTable { id: string; name: string; created_at: number; disabled_at: number | null }
export interface ApiKeysTable {
  id: string; workspace_id: string; name: string; prefix: string; secret_hash: string; scopes: string; created_at: number;
}
export interface WorkflowsTable {
  id: string; workspace_id: string; title: string; version: number; created_at: number; updated_at: number; deleted_at: number | null;
}
export interface WorkflowVersionsTable { workspace_id: string; workflow_id: string; version: number; definition: string; created_at: number }
export interface ExecutionsTable {
  id: string; workspace_id: string; workflow_id: string; workflow_version: number; status: string; trigger: string;
  variables: string; err_code: string | null; err_msg: string | null; created_at: number; started_at: number | null;
  finished_at: number | null; deadline_at: number; triggered_by: string | null;
  trigger_key: string | null; trigger_headers: string | null;
}
export interface NodeExecutionsTable {
  execution_id: string; node_id: string; position: number; kind: string; title: string | null; deps: string; status: string;
  attempts: number; runnable_at: number | null; lease_owner: string | null; lease_expires_at: number | null;
  output: string | null; messages: string | null; usage: string | null; err_code: string | null; err_msg: string | null;
  started_at: number | null; finished_at: number | null; drift: string | null;
  wait_reason: string | null;
}
export interface NodeAttemptsTable {
  execution_id: string; node_id: string; attempt: number; worker_id: string; status: string; http_status: number | null;
  err_code: string | null; err_msg: string | null; started_at: number; finished_at: number | null;
  next_attempt_at: number | null; input: string | null;
}
export interface IdempotencyKeysTable {
  workspace_id: string; scope: string; key: string; request_hash: string; execution_id: string; response: string;
  created_at: number; expires_at: number;
}
export interface FilesTable {
  id: string; workspace_id: string; name: string; type: string; size: number; sha256: string; storage_path: string;
  created_at: number; expires_at: number | null; execution_id: string | null; node_id: string | null;
}

export interface Tables {
  workspaces: WorkspacesTable;
  api_keys: ApiKeysTable;
  workflows: WorkflowsTable;
  workflow_versions: WorkflowVersionsTable;
  executions: ExecutionsTable;
  node_executions: NodeExecutionsTable;
  node_attempts: NodeAttemptsTable;
  idempotency_keys: IdempotencyKeysTable;
  files: FilesTable;
  webhooks: WebhooksTable;
  webhook_calls: WebhookCallsTable;
  response_shapes: ResponseShapesTable;
  settings: { key: string; value: string };
  event_endpoints: EventEndpointsTable;
  event_messages: EventMessagesTable;
  event_attempts: EventAttemptsTable;
}

export interface EventEndpointsTable {
  id: string; workspace_id: string; url: string; description: string | null; event_types: string | null; enabled: number;
  ordered: number; headers: string | null; rate_limit: number | null; secret: string; previous_secret: string | null;
  previous_secret_expires_at: number | null; execution_id: string | null; disabled_reason: string | null;
  failing_since: number | null; created_at: number; updated_at: number; deleted_at: number | null;
}
export interface EventMessagesTable {
  id: string; endpoint_id: string; workspace_id: string; event_type: string; execution_id: string | null; payload: string;
  status: string; ordered: number; attempts: number; schedule_from: number; next_attempt_at: number | null; lease_owner: string | null;
  lease_expires_at: number | null; last_http_status: number | null; last_error: string | null; created_at: number;
  updated_at: number;
}
export interface EventAttemptsTable {
  message_id: string; attempt: number; worker_id: string; started_at: number; finished_at: number; http_status: number | null;
  latency_ms: number; response_excerpt: string | null; error: string | null; outcome: string;
}

export interface WebhooksTable {
  id: string; workspace_id: string; workflow_id: string; enabled: number; timeout_s: number; body_mode: string;
  raw_variable: string | null; signature: string | null; rate_limit: string | null; expected_every_s: number | null;
  created_at: number; updated_at: number; revoked_at: number | null; silent_at: number | null; forward_headers: string | null;
  dedupe: string | null;
}
export interface WebhookCallsTable {
  id: string; webhook_id: string; status: string; http_status: number; err_code: string | null; execution_id: string | null;
  response_ms: number; source_ip: string | null; body_size: number; duplicate: number; created_at: number;
}
export interface ResponseShapesTable { workspace_id: string; workflow_id: string; node_id: string; shape: string; updated_at: number }
