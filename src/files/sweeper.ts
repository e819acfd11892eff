import type { Store } from '../store/store.ts';
import type { FileStorage } from './storage.ts';

/**
 * Deletes uploads that expired unreferenced (default 24 h after upload). The bytes go first: a crash
 * in between leaves an expired record, which nothing serves (expired files are invisible) and the
 * next sweep removes. Returns how many were removed.
 */
export async function sweepExpiredFiles(store: Store, storage: FileStorage, now: number, batch = 500): Promise<number> {
  let removed = 0;
  for (;;) {
    const expired = await store.files.expiredFiles(now, batch);
    for (const f of expired) {
      await storage.remove(f.storagePath);
      await store.files.deleteFile(f.fileKey);
      removed++;
    }
    if (expired.length < batch) return removed;
  }
}
