import type { FileRecord } from '../store/store.ts';

/** How a file appears to templates and in responses: never its storage path. */
export const fileView = (f: FileRecord) => ({ fileKey: f.fileKey, name: f.name, type: f.type, size: f.size, sha256: f.sha256 });
export type FileView = ReturnType<typeof fileView>;
