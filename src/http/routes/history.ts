import { Type, type Static } from 'typebox';
import type { Store } from '../../store/store.ts';
import { summaryView } from '../../runs/views.ts';

const Status = Type.Union([Type.Literal('init'), Type.Literal('executing'), Type.Literal('finish'), Type.Literal('failed')]);
const TriggerT = Type.Union([Type.Literal('api'), Type.Literal('webhook'), Type.Literal('cli'), Type.Literal('retry'), Type.Literal('schedule')]);

export const historyFields = {
  status: Type.Optional(Status),
  trigger: Type.Optional(TriggerT),
  since: Type.Optional(Type.String({ format: 'date-time', description: 'Created at or after (ISO 8601)' })),
  until: Type.Optional(Type.String({ format: 'date-time', description: 'Created before (ISO 8601)' })),
  cursor: Type.Optional(Type.String({ maxLength: 64, description: 'nextCursor of the previous page' })),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
};
export const historyQuery = Type.Object(historyFields);

/** Cursor pagination over time-sortable ids: stable under concurrent inserts, no OFFSET scans. */
export async function listHistory(store: Store, workspaceId: string, q: Static<typeof historyQuery>, canvasId?: string) {
  const records = await store.runs.listExecutions({
    workspaceId,
    canvasId,
    status: q.status,
    trigger: q.trigger,
    since: q.since ? Date.parse(q.since) : undefined,
    until: q.until ? Date.parse(q.until) : undefined,
    cursor: q.cursor,
    limit: q.limit,
  });
  return {
    records: records.map(summaryView),
    nextCursor: records.length === q.limit ? records[records.length - 1]!.executionId : null,
  };
}
