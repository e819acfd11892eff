import type { Kysely } from 'kysely';
import { listenerOf, type Listener } from './outbox.ts';
import { run } from './statements.ts';
import type { Tables } from './tables.ts';

/**
 * What a workspace's endpoints look like to the outbox, as one value PostgreSQL computes from their
 * rows: everything `Listener` reads of an endpoint that hears the whole workspace (not a run's
 * callback). The same expression runs where the endpoints are read and where an accept checks them
 * (`STALE` in acceptStatement.ts), so the two can only agree when the endpoints are unchanged. Ids are
 * ordered byte-wise (`COLLATE "C"`), whatever the database's collation.
 */
export const fingerprintOf = (alias: string): string =>
  `md5(coalesce(string_agg(${alias}.id || ':' || ${alias}.enabled || ':' || ${alias}.ordered || ':' || coalesce(${alias}.event_types, ''), ',' ORDER BY ${alias}.id COLLATE "C"), ''))`;

/** The condition that makes an endpoint one of its workspace's listeners (callbacks hear one run only). */
export const hearsWorkspace = (alias: string): string => `${alias}.execution_id IS NULL AND ${alias}.deleted_at IS NULL`;

export interface WorkspaceListeners {
  listeners: Listener[];
  fingerprint: string;
}

/** Enough for every workspace of a busy instance; past it the cache starts over (a miss costs one read). */
const WORKSPACES_MAX = 10_000;

/**
 * The endpoints of each workspace as a PostgreSQL accept last read them, with their fingerprint. An
 * accept builds its messages from this and sends the fingerprints along; its statement writes nothing
 * if a workspace's endpoints no longer match (created, changed or deleted meanwhile, by any process),
 * and the accept reads them again and retries. So nothing here is ever invalidated by hand, and a batch
 * saves the read it used to make before every statement: a round trip, planned afresh, on the commit's
 * critical path (0.7–1.1 ms of a 4–5 ms group commit at c = 50).
 */
export class ListenerCache {
  private readonly byWorkspace = new Map<string, WorkspaceListeners>();

  /** The cached endpoints of `workspaces`, reading (and caching) those not cached. */
  async of(db: Kysely<Tables>, workspaces: readonly string[]): Promise<Map<string, WorkspaceListeners>> {
    const out = new Map<string, WorkspaceListeners>();
    const missing: string[] = [];
    for (const w of workspaces) {
      const cached = this.byWorkspace.get(w);
      if (cached) out.set(w, cached);
      else missing.push(w);
    }
    if (missing.length === 0) return out;
    for (const [w, read] of await readWorkspaceListeners(db, missing)) {
      if (this.byWorkspace.size >= WORKSPACES_MAX) this.byWorkspace.clear();
      this.byWorkspace.set(w, read);
      out.set(w, read);
    }
    return out;
  }

  /** Forgets workspaces whose endpoints changed since they were read. */
  forget(workspaces: readonly string[]): void {
    for (const w of workspaces) this.byWorkspace.delete(w);
  }
}

type EndpointRow = Pick<Tables['event_endpoints'], 'id' | 'workspace_id' | 'execution_id' | 'enabled' | 'ordered' | 'event_types'>;

/** One read of the listeners of `workspaces` and their fingerprints; a workspace with none has an empty list. */
async function readWorkspaceListeners(db: Kysely<Tables>, workspaces: readonly string[]): Promise<Map<string, WorkspaceListeners>> {
  // Not prepared: it runs once per workspace and process until the endpoints change.
  const rows = await run<{ workspace_id: string; fingerprint: string; endpoints: EndpointRow[] }>(
    db,
    `SELECT w.id AS workspace_id, ${fingerprintOf('ep')} AS fingerprint,
            coalesce(json_agg(json_build_object('id', ep.id, 'workspace_id', ep.workspace_id, 'execution_id', ep.execution_id,
                                                'enabled', ep.enabled, 'ordered', ep.ordered, 'event_types', ep.event_types))
                     FILTER (WHERE ep.id IS NOT NULL), '[]') AS endpoints
       FROM unnest(CAST($1 AS TEXT[])) AS w(id)
       LEFT JOIN event_endpoints ep ON ep.workspace_id = w.id AND ${hearsWorkspace('ep')}
      GROUP BY w.id`,
    [workspaces],
  );
  return new Map(rows.map((r) => [r.workspace_id, { fingerprint: r.fingerprint, listeners: r.endpoints.map(listenerOf) }]));
}
