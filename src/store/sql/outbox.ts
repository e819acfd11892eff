import type { Kysely, Transaction } from 'kysely';
import { newMessageId } from '../../ids.ts';
import type { NewEvent } from '../delivery.ts';
import type { BackendProfile } from './profile.ts';
import { insertChunked } from './insert.ts';
import { inList, padded, run, statement } from './statements.ts';
import { notifyWork } from './notify.ts';
import { fromJson } from './rows.ts';
import type { Tables } from './tables.ts';

type Trx = Transaction<Tables>;

/**
 * Writes one message per endpoint that hears each event, inside the caller's transaction: an event
 * exists exactly when the change it reports committed (a transactional outbox). Disabled endpoints
 * get the message as `skipped`, so recovering them after re-enabling finds what they missed.
 *
 * A whole batch of events costs one read of the endpoints of the workspaces involved (plus the
 * callback endpoints of the executions involved, in the same statement) and one multi-row insert;
 * when no endpoint listens, nothing is written.
 */
export async function writeEvents(trx: Trx, profile: BackendProfile, events: readonly NewEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const listening = await listenersOf(trx, profile, events, events.flatMap((e) => (e.executionId ? [e.executionId] : [])));
  if (listening.length === 0) return 0;
  const rows = messageRows(events, listening);
  await insertChunked(trx, profile, 'event_messages', rows);
  if (rows.some((r) => r.status === 'pending')) await notifyWork(trx, profile, 'messages');
  return rows.length;
}

/** An endpoint as the outbox matches events against it. */
export interface Listener {
  id: string;
  workspace_id: string;
  execution_id: string | null;
  ordered: number;
  /** Subscribed event types; null: every type. */
  types: string[] | null;
  on: boolean;
}

/** The endpoints of the events' workspaces, and the callback endpoints of `executionIds`, in one read. */
export async function listenersOf(db: Kysely<Tables>, profile: BackendProfile, events: readonly NewEvent[], executionIds: readonly string[]): Promise<Listener[]> {
  const workspaces = [...new Set(events.map((e) => e.workspaceId))];
  const executions = [...new Set(executionIds)];
  const columns = 'id, workspace_id, execution_id, enabled, ordered, event_types';
  let text: string;
  let params: unknown[];
  if (profile.keyArrays) {
    // One text for any number of keys, prepared on the queue's connections (turns of workers and dispatchers).
    text = statement(
      profile,
      'listeners',
      (p) => `SELECT ${columns} FROM event_endpoints
               WHERE workspace_id = ANY(CAST(${p()} AS TEXT[])) AND deleted_at IS NULL AND (execution_id IS NULL OR execution_id = ANY(CAST(${p()} AS TEXT[])))`,
      { prepared: 'queue' },
    );
    params = [workspaces, executions];
  } else {
    const ws = padded(profile, workspaces);
    const ex = padded(profile, executions);
    text = statement(
      profile,
      `listeners ${ws.length} ${ex.length}`,
      (p) => `SELECT ${columns} FROM event_endpoints
               WHERE workspace_id IN (${inList(p, ws.length)}) AND deleted_at IS NULL
                 AND (execution_id IS NULL${ex.length ? ` OR execution_id IN (${inList(p, ex.length)})` : ''})`,
    );
    params = [...ws, ...ex];
  }
  const endpoints = await run<Pick<Tables['event_endpoints'], 'id' | 'workspace_id' | 'execution_id' | 'enabled' | 'ordered' | 'event_types'>>(db, text, params);
  return endpoints.map((e) => listenerOf(e));
}

export const listenerOf = (e: Pick<Tables['event_endpoints'], 'id' | 'workspace_id' | 'execution_id' | 'enabled' | 'ordered' | 'event_types'>): Listener => ({
  id: e.id,
  workspace_id: e.workspace_id,
  execution_id: e.execution_id,
  ordered: Number(e.ordered),
  types: fromJson<string[]>(e.event_types) ?? null,
  on: Number(e.enabled) === 1,
});

/** One message per endpoint that hears each event: pending where the endpoint is on, skipped where not. */
export function messageRows(events: readonly NewEvent[], listening: readonly Listener[]): Tables['event_messages'][] {
  const rows: Tables['event_messages'][] = [];
  for (const ev of events) {
    const targets = listening.filter(
      (e) => e.workspace_id === ev.workspaceId && (e.execution_id === null || e.execution_id === ev.executionId) && (!e.types || e.types.includes(ev.type)),
    );
    if (targets.length === 0) continue;
    const payload = payloadOf(ev);
    for (const e of targets) rows.push(messageRow(ev, payload, e.id, e.ordered, e.on));
  }
  return rows;
}

const payloadOf = (ev: NewEvent) => JSON.stringify({ type: ev.type, timestamp: new Date(ev.now).toISOString(), data: ev.data });

/** One endpoint's message for an event: pending if the endpoint is on, kept as skipped if not. */
function messageRow(ev: NewEvent, payload: string, endpointId: string, ordered: number, on: boolean): Tables['event_messages'] {
  return {
    id: newMessageId(ev.now),
    endpoint_id: endpointId,
    workspace_id: ev.workspaceId,
    event_type: ev.type,
    execution_id: ev.executionId ?? null,
    payload,
    status: on ? 'pending' : 'skipped',
    ordered,
    attempts: 0,
    schedule_from: 0,
    next_attempt_at: on ? ev.now : null,
    lease_owner: null,
    lease_expires_at: null,
    last_http_status: null,
    last_error: on ? null : 'endpoint disabled',
    created_at: ev.now,
    updated_at: ev.now,
  };
}

/**
 * Queues `ev` for one enabled endpoint of its workspace, whether or not the endpoint subscribes to its
 * type (a test send). Returns the message id, or why nothing was queued.
 */
export async function enqueueForEndpoint(trx: Trx, profile: BackendProfile, endpointId: string, ev: NewEvent): Promise<string | 'not_found' | 'endpoint_disabled'> {
  const ep = await trx
    .selectFrom('event_endpoints')
    .select(['id', 'enabled', 'ordered'])
    .where('id', '=', endpointId)
    .where('workspace_id', '=', ev.workspaceId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (!ep) return 'not_found';
  if (Number(ep.enabled) !== 1) return 'endpoint_disabled';
  const row = messageRow(ev, payloadOf(ev), ep.id, Number(ep.ordered), true);
  await trx.insertInto('event_messages').values(row).execute();
  await notifyWork(trx, profile, 'messages');
  return row.id;
}
