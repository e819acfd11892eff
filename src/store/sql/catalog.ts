import { sql, type Kysely } from 'kysely';
import type { WorkflowDefinition } from '../../workflows/definition.ts';
import type { ApiKeyRecord, ListWorkflowsQuery, Scope, WorkflowRecord, WorkflowSummary, WorkspaceRecord } from '../store.ts';
import type { ApiKeysTable, Tables, WorkspacesTable } from './tables.ts';
import { transaction } from './tx.ts';

/** Workspaces, API keys and workflows with their immutable versions. */
type Db = Kysely<Tables>;

const toKey = (r: ApiKeysTable): ApiKeyRecord => ({
  id: r.id,
  workspaceId: r.workspace_id,
  name: r.name,
  prefix: r.prefix,
  secretHash: r.secret_hash,
  scopes: JSON.parse(r.scopes) as Scope[],
  createdAt: Number(r.created_at),
});

export async function ensureWorkspace(db: Db, id: string, now: number): Promise<void> {
  await db
    .insertInto('workspaces')
    .values({ id, name: id, created_at: now })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

const toWorkspace = (r: WorkspacesTable): WorkspaceRecord => ({
  id: r.id,
  name: r.name,
  createdAt: Number(r.created_at),
  ...(r.disabled_at === null ? {} : { disabledAt: Number(r.disabled_at) }),
});

export async function createWorkspace(db: Db, w: WorkspaceRecord): Promise<boolean> {
  const r = await db
    .insertInto('workspaces')
    .values({ id: w.id, name: w.name, created_at: w.createdAt, disabled_at: w.disabledAt ?? null })
    .onConflict((oc) => oc.column('id').doNothing())
    .returning('id')
    .executeTakeFirst();
  return r !== undefined;
}

export async function getWorkspace(db: Db, id: string): Promise<WorkspaceRecord | undefined> {
  const r = await db.selectFrom('workspaces').selectAll().where('id', '=', id).executeTakeFirst();
  return r && toWorkspace(r);
}

export async function listWorkspaces(db: Db, q: { offset: number; limit: number }): Promise<{ items: WorkspaceRecord[]; total: number }> {
  const [rows, count] = await Promise.all([
    db.selectFrom('workspaces').selectAll().orderBy('created_at').orderBy('id').offset(q.offset).limit(q.limit).execute(),
    db.selectFrom('workspaces').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { items: rows.map(toWorkspace), total: Number(count.n) };
}

export async function updateWorkspace(db: Db, id: string, patch: { name?: string; disabledAt?: number | null }): Promise<WorkspaceRecord | undefined> {
  const set = { ...(patch.name === undefined ? {} : { name: patch.name }), ...(patch.disabledAt === undefined ? {} : { disabled_at: patch.disabledAt }) };
  if (Object.keys(set).length > 0) await db.updateTable('workspaces').set(set).where('id', '=', id).execute();
  return getWorkspace(db, id);
}

export async function createApiKey(db: Db, k: ApiKeyRecord): Promise<void> {
  await db
    .insertInto('api_keys')
    .values({
      id: k.id,
      workspace_id: k.workspaceId,
      name: k.name,
      prefix: k.prefix,
      secret_hash: k.secretHash,
      scopes: JSON.stringify(k.scopes),
      created_at: k.createdAt,
    })
    .execute();
}

export async function findApiKeyByHash(db: Db, hash: string): Promise<ApiKeyRecord | undefined> {
  const r = await db.selectFrom('api_keys').selectAll().where('secret_hash', '=', hash).executeTakeFirst();
  return r && toKey(r);
}

export async function listApiKeys(db: Db, workspaceId: string): Promise<ApiKeyRecord[]> {
  const rows = await db.selectFrom('api_keys').selectAll().where('workspace_id', '=', workspaceId).orderBy('created_at').execute();
  return rows.map(toKey);
}

export async function deleteApiKey(db: Db, workspaceId: string, id: string): Promise<boolean> {
  const r = await db.deleteFrom('api_keys').where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function countApiKeys(db: Db): Promise<number> {
  const r = await db.selectFrom('api_keys').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function createWorkflow(db: Db, workspaceId: string, canvasId: string, def: WorkflowDefinition, now: number): Promise<boolean> {
  return transaction(db, async (trx) => {
    // ON CONFLICT rather than look-then-insert: processes loading the same folder at the same moment
    // (or two clients creating one id) see one winner and no error.
    const created = await trx
      .insertInto('workflows')
      .values({ id: canvasId, workspace_id: workspaceId, title: def.title, version: 1, created_at: now, updated_at: now, deleted_at: null })
      .onConflict((oc) => oc.columns(['workspace_id', 'id']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!created) return false;
    await trx
      .insertInto('workflow_versions')
      .values({ workspace_id: workspaceId, workflow_id: canvasId, version: 1, definition: JSON.stringify(def), created_at: now })
      .execute();
    return true;
  });
}

export async function updateWorkflow(
  db: Db,
  workspaceId: string,
  canvasId: string,
  def: WorkflowDefinition,
  now: number,
): Promise<WorkflowRecord | undefined> {
  return transaction(db, async (trx) => {
    // The version bump is guarded by the version we read, so two concurrent updates cannot both
    // write the same version number.
    const row = await trx
      .selectFrom('workflows')
      .selectAll()
      .where('id', '=', canvasId)
      .where('workspace_id', '=', workspaceId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!row) return undefined;
    const version = Number(row.version) + 1;
    const r = await trx
      .updateTable('workflows')
      .set({ version, title: def.title, updated_at: now })
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', canvasId)
      .where('version', '=', row.version)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) throw new Error(`concurrent update of ${canvasId}`);
    await trx
      .insertInto('workflow_versions')
      .values({ workspace_id: workspaceId, workflow_id: canvasId, version, definition: JSON.stringify(def), created_at: now })
      .execute();
    return { canvasId, workspaceId, title: def.title, version, definition: def, createdAt: Number(row.created_at), updatedAt: now };
  });
}

export async function getWorkflow(db: Db, workspaceId: string, canvasId: string): Promise<WorkflowRecord | undefined> {
  const r = await db
    .selectFrom('workflows as w')
    .innerJoin('workflow_versions as v', (j) =>
      j.onRef('v.workspace_id', '=', 'w.workspace_id').onRef('v.workflow_id', '=', 'w.id').onRef('v.version', '=', 'w.version'),
    )
    .select(['w.id', 'w.workspace_id', 'w.title', 'w.version', 'w.created_at', 'w.updated_at', 'v.definition'])
    .where('w.id', '=', canvasId)
    .where('w.workspace_id', '=', workspaceId)
    .where('w.deleted_at', 'is', null)
    .executeTakeFirst();
  if (!r) return undefined;
  return {
    canvasId: r.id,
    workspaceId: r.workspace_id,
    title: r.title,
    version: Number(r.version),
    definition: JSON.parse(r.definition) as WorkflowDefinition,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export async function getWorkflowVersion(db: Db, workspaceId: string, canvasId: string, version: number): Promise<WorkflowDefinition | undefined> {
  const r = await db
    .selectFrom('workflow_versions')
    .select('definition')
    .where('workspace_id', '=', workspaceId)
    .where('workflow_id', '=', canvasId)
    .where('version', '=', version)
    .executeTakeFirst();
  return r && (JSON.parse(r.definition) as WorkflowDefinition);
}

const ORDERS = {
  creationAsc: ['created_at', 'asc'],
  creationDesc: ['created_at', 'desc'],
  updationAsc: ['updated_at', 'asc'],
  updationDesc: ['updated_at', 'desc'],
} as const;

export async function listWorkflows(db: Db, workspaceId: string, q: ListWorkflowsQuery): Promise<{ items: WorkflowSummary[]; total: number }> {
  let base = db.selectFrom('workflows').where('workspace_id', '=', workspaceId).where('deleted_at', 'is', null);
  if (q.keyword) {
    // lower() on both sides makes the dialects agree on case; ESCAPE is explicit because only
    // PostgreSQL treats backslash as LIKE's escape by default.
    const pattern = `%${q.keyword.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    base = base.where(sql<boolean>`lower(title) LIKE ${pattern} ESCAPE '\\'`);
  }
  const [col, dir] = ORDERS[q.order];
  const [rows, count] = await Promise.all([
    base.selectAll().orderBy(col, dir).orderBy('id', dir).offset(q.offset).limit(q.limit).execute(),
    base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return {
    items: rows.map((r) => ({
      canvasId: r.id,
      title: r.title,
      version: Number(r.version),
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
    })),
    total: Number(count.n),
  };
}

export async function deleteWorkflow(db: Db, workspaceId: string, canvasId: string, now: number): Promise<boolean> {
  // Soft delete: executions keep pointing at their pinned version.
  const r = await db
    .updateTable('workflows')
    .set({ deleted_at: now })
    .where('id', '=', canvasId)
    .where('workspace_id', '=', workspaceId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
