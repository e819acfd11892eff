import { useQuery, type Query } from '@tanstack/react-query';
import { api } from './api.ts';
import type { WorkflowSummary } from './types.ts';

/** Live lists poll; after failures they back off (3 s, 6 s, 12 s … 60 s) instead of hammering a server that is down. */
export const pollWithBackoff =
  (everyMs: number) =>
  (q: Query<any, any, any, any>): number =>
    Math.min(everyMs * 2 ** q.state.fetchFailureCount, 60_000);

/** The workspace's workflows, for filters and pickers (the first 100, newest first). */
export function useWorkflowOptions() {
  return useQuery({
    queryKey: ['workflow-options'],
    queryFn: () => api.get<{ workflows: WorkflowSummary[] }>('/v1/workflows', { pageSize: 100 }),
    staleTime: 30_000,
  });
}

export const TERMINAL = new Set(['finish', 'failed']);
