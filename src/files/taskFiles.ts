import { Readable } from 'node:stream';
import type { Config } from '../config.ts';
import { newFileKey } from '../ids.ts';
import type { FileRecord, Store } from '../store/store.ts';
import type { FileStorage } from './storage.ts';
import { fileView, type FileView } from './views.ts';

/**
 * What a running task may do with files, bound to its execution's workspace: read an input file
 * (by its fileKey or the `{fileKey, …}` object templates see), and save a produced file.
 */
export interface TaskFiles {
  /** The file's text (UTF-8), for prompts: `{{ $fileText(variables.doc) }}`. */
  text(ref: unknown): Promise<string>;
  /** The file's bytes as a lazily read Blob, for request bodies and multipart parts. */
  blob(ref: unknown): Promise<{ blob: Blob; file: FileView }>;
  /** Stores a produced file for this execution and node; it never expires on its own. */
  save(source: Readable, meta: { name: string; type: string }): Promise<FileView>;
}

export class FileAccessError extends Error {}

export function taskFiles(deps: {
  store: Store;
  storage: FileStorage;
  config: Config;
  workspaceId: string;
  executionId: string;
  nodeId: string;
  now: () => number;
}): TaskFiles {
  const find = async (ref: unknown): Promise<FileRecord> => {
    const key = typeof ref === 'string' ? ref : (ref as { fileKey?: unknown } | null)?.fileKey;
    if (typeof key !== 'string') throw new FileAccessError('expected a file (a fileKey or a resource variable)');
    // Workspace-bound: a fileKey from another workspace reads as not found.
    const [f] = await deps.store.files.getFiles(deps.workspaceId, [key], deps.now());
    if (!f) throw new FileAccessError(`file ${key} not found`);
    return f;
  };
  return {
    async text(ref) {
      const f = await find(ref);
      if (f.size > deps.config.fileTextMaxBytes) throw new FileAccessError(`file ${f.fileKey} is larger than ${deps.config.fileTextMaxBytes} bytes`);
      const chunks: Buffer[] = [];
      for await (const c of deps.storage.open(f.storagePath)) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    async blob(ref) {
      const f = await find(ref);
      return { blob: await deps.storage.blob(f.storagePath, f.type), file: fileView(f) };
    },
    async save(source, meta) {
      const stored = await deps.storage.put(source);
      const rec: FileRecord = {
        fileKey: newFileKey(),
        workspaceId: deps.workspaceId,
        name: meta.name,
        type: meta.type,
        size: stored.size,
        sha256: stored.sha256,
        storagePath: stored.storagePath,
        createdAt: deps.now(),
        executionId: deps.executionId,
        nodeId: deps.nodeId,
      };
      await deps.store.files.createFile(rec);
      return fileView(rec);
    },
  };
}
