-- Why a waiting node waits when it is not a retry: JSON, e.g. {"kind":"circuit","host":"api.example.com"}.
ALTER TABLE node_executions ADD COLUMN wait_reason TEXT;
