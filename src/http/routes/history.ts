import { Type, type Static } from 'typebox';
import { EXECUTION_STATUSES, TRIGGERS, type Store } from '../../store/store.ts';
import { summaryView } from '../../runs/views.ts';

const Status = Type.Union(EXECUTION_STATUSES.map((s) => Type.Literal(s)));
const TriggerT = Type.Union(TRIGGERS.map((t) => Type.Literal(t)));

export const historyFields = {
  status: Type.Optional(Status),
  trigger: Type.Optional(TriggerT),
  since: Type.Optional(Type.String({ format: 'date-time', description: 'Created at or after (ISO 8601)' })),
  until: Type.Optional(Type.String({ format: 'date-time', description: 'Created before (ISO 8601)' })),
  cursor: Type.Optional(Type.String({ maxLength: 64, description: 'nextCursor of the previous page' })),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
};
export const historyQuery = Type.Object(historyFields);

/** `since`/`until` (ISO 8601, checked by the schema) as the store's epoch milliseconds. */
export const timeRange = (q: { since?: string; until?: string }) => ({
  since: q.since ? Date.parse(q.since) : undefined,
  until: q.until ? Date.parse(q.until) : undefined,
});

/** Cursor pagination over time-sortable ids: stable under concurrent inserts, no OFFSET scans. */
export async function listHistory(store: Store, workspaceId: string, q: Static<typeof historyQuery>, canvasId?: string) {
  const records = await store.runs.listExecutions({
    workspaceId,
    canvasId,
    status: q.status,
    trigger: q.trigger,
    ...timeRange(q),
    cursor: q.cursor,
    limit: q.limit,
  });
  return {
    records: records.map(summaryView),
    nextCursor: records.length === q.limit ? records[records.length - 1]!.executionId : null,
  };
}
