import type { Kysely } from 'kysely';
import type { FileRecord } from '../store.ts';
import type { FilesTable, Tables } from './tables.ts';

/** Uploaded and produced files (metadata; the bytes live in a FileStorage). */
type Db = Kysely<Tables>;

const toFile = (r: FilesTable): FileRecord => ({
  fileKey: r.id,
  workspaceId: r.workspace_id,
  name: r.name,
  type: r.type,
  size: Number(r.size),
  sha256: r.sha256,
  storagePath: r.storage_path,
  createdAt: Number(r.created_at),
  expiresAt: r.expires_at === null ? undefined : Number(r.expires_at),
  executionId: r.execution_id ?? undefined,
  nodeId: r.node_id ?? undefined,
});

export async function createFile(db: Db, f: FileRecord): Promise<void> {
  await db
    .insertInto('files')
    .values({
      id: f.fileKey,
      workspace_id: f.workspaceId,
      name: f.name,
      type: f.type,
      size: f.size,
      sha256: f.sha256,
      storage_path: f.storagePath,
      created_at: f.createdAt,
      expires_at: f.expiresAt ?? null,
      execution_id: f.executionId ?? null,
      node_id: f.nodeId ?? null,
    })
    .execute();
}

export async function getFiles(db: Db, workspaceId: string, keys: string[], now: number): Promise<FileRecord[]> {
  if (keys.length === 0) return [];
  const rows = await db
    .selectFrom('files')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('id', 'in', keys)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .execute();
  return rows.map(toFile);
}

export async function getFile(db: Db, key: string): Promise<FileRecord | undefined> {
  const r = await db.selectFrom('files').selectAll().where('id', '=', key).executeTakeFirst();
  return r && toFile(r);
}

export async function pinFiles(db: Db, workspaceId: string, keys: string[]): Promise<void> {
  if (keys.length === 0) return;
  await db.updateTable('files').set({ expires_at: null }).where('workspace_id', '=', workspaceId).where('id', 'in', keys).execute();
}

export async function listExecutionFiles(db: Db, executionId: string): Promise<FileRecord[]> {
  const rows = await db.selectFrom('files').selectAll().where('execution_id', '=', executionId).orderBy('created_at').execute();
  return rows.map(toFile);
}

export async function expiredFiles(db: Db, now: number, limit: number): Promise<FileRecord[]> {
  const rows = await db.selectFrom('files').selectAll().where('expires_at', 'is not', null).where('expires_at', '<=', now).limit(limit).execute();
  return rows.map(toFile);
}

export async function deleteFile(db: Db, key: string): Promise<void> {
  await db.deleteFrom('files').where('id', '=', key).execute();
}

export async function setting(db: Db, key: string, value: string): Promise<string> {
  await db.insertInto('settings').values({ key, value }).onConflict((oc) => oc.column('key').doNothing()).execute();
  const r = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirstOrThrow();
  return r.value;
}
