import type { Transaction } from 'kysely';
import { newMessageId } from '../../ids.ts';
import type { NewEvent } from '../delivery.ts';
import type { BackendProfile } from './profile.ts';
import { notifyWork } from './notify.ts';
import { fromJson } from './rows.ts';
import type { ExecutionsTable, Tables } from './tables.ts';

type Trx = Transaction<Tables>;
const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? undefined : new Date(Number(ms)).toISOString());

/**
 * Writes one message per endpoint that hears `ev`, inside the caller's transaction: the event exists
 * exactly when the change it reports committed (a transactional outbox). Disabled endpoints get the
 * message as `skipped`, so recovering them after re-enabling finds what they missed.
 *
 * When no endpoint listens this is one indexed read and nothing is written.
 */
export async function emitEvent(trx: Trx, profile: BackendProfile, ev: NewEvent): Promise<number> {
  const endpoints = await trx
    .selectFrom('event_endpoints')
    .select(['id', 'enabled', 'ordered', 'event_types'])
    .where('workspace_id', '=', ev.workspaceId)
    .where('deleted_at', 'is', null)
    .where((eb) => eb.or([eb('execution_id', 'is', null), eb('execution_id', '=', ev.executionId ?? '')]))
    .execute();
  const targets = endpoints.filter((e) => {
    const types = fromJson<string[]>(e.event_types);
    return !types || types.includes(ev.type);
  });
  if (targets.length === 0) return 0;
  const payload = JSON.stringify({ type: ev.type, timestamp: new Date(ev.now).toISOString(), data: ev.data });
  await trx
    .insertInto('event_messages')
    .values(
      targets.map((e) => {
        const enabled = Number(e.enabled) === 1;
        return {
          id: newMessageId(ev.now),
          endpoint_id: e.id,
          workspace_id: ev.workspaceId,
          event_type: ev.type,
          execution_id: ev.executionId ?? null,
          payload,
          status: enabled ? 'pending' : 'skipped',
          ordered: Number(e.ordered),
          attempts: 0,
          schedule_from: 0,
          next_attempt_at: enabled ? ev.now : null,
          lease_owner: null,
          lease_expires_at: null,
          last_http_status: null,
          last_error: enabled ? null : 'endpoint disabled',
          created_at: ev.now,
          updated_at: ev.now,
        };
      }),
    )
    .execute();
  if (targets.some((e) => Number(e.enabled) === 1)) await notifyWork(trx, profile);
  return targets.length;
}

type ExecutionHead = Pick<ExecutionsTable, 'id' | 'workspace_id' | 'workflow_id' | 'trigger' | 'created_at'> &
  Partial<Pick<ExecutionsTable, 'started_at' | 'finished_at' | 'status' | 'err_code' | 'err_msg'>>;

/** `execution.started|finished|failed` data: the execution as the status endpoint names it. */
export function executionEvent(e: ExecutionHead, type: 'execution.started' | 'execution.finished' | 'execution.failed', now: number): NewEvent {
  return {
    workspaceId: e.workspace_id,
    type,
    executionId: e.id,
    now,
    data: {
      executionId: e.id,
      canvasId: e.workflow_id,
      status: type === 'execution.started' ? 'executing' : type === 'execution.finished' ? 'finish' : 'failed',
      trigger: e.trigger,
      errCode: e.err_code ?? undefined,
      errMsg: e.err_msg ?? undefined,
      createdAt: iso(e.created_at),
      startedAt: iso(e.started_at ?? (type === 'execution.started' ? now : undefined)),
      finishedAt: type === 'execution.started' ? undefined : iso(e.finished_at ?? now),
    },
  };
}

export interface NodeEventInput {
  execution: Pick<ExecutionsTable, 'id' | 'workspace_id' | 'workflow_id'>;
  nodeId: string;
  attempt: number;
  httpStatus?: number;
  errCode?: string;
  errMsg?: string;
}

export function nodeEvent(n: NodeEventInput, type: 'node.finished' | 'node.failed', now: number): NewEvent {
  return {
    workspaceId: n.execution.workspace_id,
    type,
    executionId: n.execution.id,
    now,
    data: {
      executionId: n.execution.id,
      canvasId: n.execution.workflow_id,
      nodeId: n.nodeId,
      status: type === 'node.finished' ? 'finish' : 'failed',
      attempt: n.attempt,
      httpStatus: n.httpStatus,
      errCode: n.errCode,
      errMsg: n.errMsg,
    },
  };
}

/** Reads the execution fields events report, under the lock the caller already holds. */
export async function executionHead(trx: Trx, executionId: string) {
  return trx
    .selectFrom('executions')
    .select(['id', 'workspace_id', 'workflow_id', 'trigger', 'created_at', 'started_at', 'finished_at', 'status', 'err_code', 'err_msg'])
    .where('id', '=', executionId)
    .executeTakeFirst();
}

