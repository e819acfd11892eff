import type { Kysely } from 'kysely';
import type { EndpointPatch, EndpointRecord } from '../delivery.ts';
import { fromJson, opt, optNum, toJson } from './rows.ts';
import type { EventEndpointsTable, Tables } from './tables.ts';

/** Event endpoints: where outbound events go. */
type Db = Kysely<Tables>;

export const toEndpoint = (r: EventEndpointsTable): EndpointRecord => ({
  id: r.id,
  workspaceId: r.workspace_id,
  url: r.url,
  description: opt(r.description),
  eventTypes: fromJson(r.event_types),
  enabled: Number(r.enabled) === 1,
  ordered: Number(r.ordered) === 1,
  headers: fromJson(r.headers),
  rateLimit: optNum(r.rate_limit),
  secret: r.secret,
  previousSecret: opt(r.previous_secret),
  previousSecretExpiresAt: optNum(r.previous_secret_expires_at),
  executionId: opt(r.execution_id),
  disabledReason: opt(r.disabled_reason),
  failingSince: optNum(r.failing_since),
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

export async function createEndpoint(db: Db, e: EndpointRecord): Promise<void> {
  await db
    .insertInto('event_endpoints')
    .values({
      id: e.id,
      workspace_id: e.workspaceId,
      url: e.url,
      description: e.description ?? null,
      event_types: toJson(e.eventTypes),
      enabled: e.enabled ? 1 : 0,
      ordered: e.ordered ? 1 : 0,
      headers: toJson(e.headers),
      rate_limit: e.rateLimit ?? null,
      secret: e.secret,
      previous_secret: null,
      previous_secret_expires_at: null,
      execution_id: e.executionId ?? null,
      disabled_reason: null,
      failing_since: null,
      created_at: e.createdAt,
      updated_at: e.updatedAt,
      deleted_at: null,
    })
    .execute();
}

const live = (db: Db, workspaceId: string) =>
  db.selectFrom('event_endpoints').selectAll().where('workspace_id', '=', workspaceId).where('deleted_at', 'is', null);

/** Workspace endpoints; a run's callback endpoints are not listed here (they belong to their execution). */
export async function listEndpoints(db: Db, workspaceId: string): Promise<EndpointRecord[]> {
  const rows = await live(db, workspaceId).where('execution_id', 'is', null).orderBy('created_at').orderBy('id').execute();
  return rows.map(toEndpoint);
}

export async function getEndpoint(db: Db, workspaceId: string, id: string): Promise<EndpointRecord | undefined> {
  const r = await live(db, workspaceId).where('id', '=', id).executeTakeFirst();
  return r && toEndpoint(r);
}

export async function updateEndpoint(db: Db, workspaceId: string, id: string, p: EndpointPatch, now: number): Promise<EndpointRecord | undefined> {
  const set: Partial<EventEndpointsTable> = { updated_at: now };
  if (p.url !== undefined) set.url = p.url;
  if (p.description !== undefined) set.description = p.description;
  if (p.eventTypes !== undefined) set.event_types = toJson(p.eventTypes ?? undefined);
  if (p.ordered !== undefined) set.ordered = p.ordered ? 1 : 0;
  if (p.headers !== undefined) set.headers = toJson(p.headers ?? undefined);
  if (p.rateLimit !== undefined) set.rate_limit = p.rateLimit;
  if (p.enabled !== undefined) {
    set.enabled = p.enabled ? 1 : 0;
    // Re-enabling starts a fresh failure window; what it missed comes back through recover.
    if (p.enabled) Object.assign(set, { disabled_reason: null, failing_since: null });
    else set.disabled_reason = 'disabled by an operator';
  }
  const r = await db
    .updateTable('event_endpoints')
    .set(set)
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
  if (r && p.ordered !== undefined) {
    await db.updateTable('event_messages').set({ ordered: p.ordered ? 1 : 0 }).where('endpoint_id', '=', id).where('status', 'in', ['pending', 'delivering']).execute();
  }
  return r && toEndpoint(r);
}

/** Deleting stops deliveries at once: pending messages are given up, their history stays. */
export async function deleteEndpoint(db: Db, workspaceId: string, id: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('event_endpoints')
    .set({ deleted_at: now, enabled: 0, updated_at: now })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) return false;
  await db
    .updateTable('event_messages')
    .set({ status: 'failed', next_attempt_at: null, last_error: 'endpoint deleted', updated_at: now })
    .where('endpoint_id', '=', id)
    .where('status', '=', 'pending')
    .execute();
  return true;
}

/** The new secret signs from now on; the old one also signs until `previousExpiresAt`. */
export async function rotateEndpointSecret(
  db: Db,
  workspaceId: string,
  id: string,
  secret: string,
  previousExpiresAt: number,
  now: number,
): Promise<EndpointRecord | undefined> {
  const r = await db
    .updateTable('event_endpoints')
    .set((eb) => ({ previous_secret: eb.ref('secret'), previous_secret_expires_at: previousExpiresAt, secret, updated_at: now }))
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
  return r && toEndpoint(r);
}
