import type { Store } from '../store/store.ts';
import { signLink } from './links.ts';

/** The `files` of an execution's output: name, type, size, producing node, and a signed, expiring link. */
export async function outputFiles(store: Store, executionId: string, link: { baseUrl: string; secret: string; ttlS: number; nowMs: number }) {
  const expires = Math.floor(link.nowMs / 1000) + link.ttlS;
  return (await store.files.listExecutionFiles(executionId)).map((f) => ({
    name: f.name,
    type: f.type,
    size: f.size,
    nodeId: f.nodeId ?? '',
    fileKey: f.fileKey,
    url: signLink(link.baseUrl, f.fileKey, expires, link.secret),
  }));
}
