import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, openAsBlob } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Where file bytes live. Local disk under the data dir today; the interface is what an
 * S3-compatible backend would implement (put a stream, get a stream, delete).
 */
export interface StoredBlob {
  storagePath: string;
  size: number;
  sha256: string;
}

export interface FileStorage {
  /** Streams `source` in without holding it in memory; the blob is visible only once complete. */
  put(source: Readable): Promise<StoredBlob>;
  open(storagePath: string): Readable;
  /** A Blob that reads the bytes when consumed (multipart request bodies). */
  blob(storagePath: string, type: string): Promise<Blob>;
  remove(storagePath: string): Promise<void>;
}

/**
 * Writes to a temporary name and renames when the stream ended: a crash mid-upload leaves only a
 * `.partial` file, which no record points at and nothing ever serves.
 */
export class LocalDiskStorage implements FileStorage {
  constructor(private readonly root: string) {}

  async put(source: Readable): Promise<StoredBlob> {
    await mkdir(this.root, { recursive: true });
    const name = randomBytes(16).toString('hex');
    const partial = path.join(this.root, `${name}.partial`);
    const hash = createHash('sha256');
    let size = 0;
    source.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      size += chunk.length;
    });
    try {
      await pipeline(source, createWriteStream(partial, { flags: 'wx' }));
      await rename(partial, path.join(this.root, name));
    } catch (e) {
      await rm(partial, { force: true });
      throw e;
    }
    return { storagePath: name, size, sha256: hash.digest('hex') };
  }

  open(storagePath: string): Readable {
    return createReadStream(this.resolve(storagePath));
  }

  blob(storagePath: string, type: string): Promise<Blob> {
    return openAsBlob(this.resolve(storagePath), { type });
  }

  async remove(storagePath: string): Promise<void> {
    await rm(this.resolve(storagePath), { force: true });
  }

  async exists(storagePath: string): Promise<boolean> {
    return stat(this.resolve(storagePath)).then(
      () => true,
      () => false,
    );
  }

  private resolve(storagePath: string): string {
    if (!/^[0-9a-f]{32}$/.test(storagePath)) throw new Error(`invalid storage path ${storagePath}`);
    return path.join(this.root, storagePath);
  }
}
