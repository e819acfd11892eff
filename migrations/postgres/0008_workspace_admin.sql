-- Workspaces an instance administrator can disable: their keys and webhooks stop working, their data stays.
ALTER TABLE workspaces ADD COLUMN disabled_at BIGINT;
