-- The console's run list and the cross-workflow history read a workspace's newest executions:
-- without this index the planner sorted the whole workspace for every page (≈ 260 ms at 1M rows).
CREATE INDEX executions_workspace_recent ON executions(workspace_id, id);
