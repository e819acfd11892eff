import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReadCache } from '../../src/runs/readCache.ts';

describe('ReadCache', () => {
  it('serves a value for its TTL, then reads again; misses are not cached', async () => {
    let now = 0;
    let reads = 0;
    const cache = new ReadCache<string>(1000, 10, () => now);
    const load = async () => (++reads, 'v');
    assert.equal(await cache.get('k', load), 'v');
    now = 999;
    assert.equal(await cache.get('k', load), 'v');
    assert.equal(reads, 1);
    now = 1000;
    await cache.get('k', load);
    assert.equal(reads, 2);
    let missReads = 0;
    await cache.get('missing', async () => (++missReads, undefined));
    await cache.get('missing', async () => (++missReads, undefined));
    assert.equal(missReads, 2);
  });

  it('a burst of requests for an expired key shares one read', async () => {
    let reads = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const cache = new ReadCache<number>();
    const load = async () => {
      reads++;
      await gate;
      return 7;
    };
    const all = Promise.all(Array.from({ length: 50 }, () => cache.get('k', load)));
    release();
    assert.deepEqual(new Set(await all), new Set([7]));
    assert.equal(reads, 1);
  });

  it('a read that started before a write is answered but not cached', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const cache = new ReadCache<string>();
    const stale = cache.get('k', async () => {
      await gate;
      return 'before';
    });
    cache.forget('k'); // the write happened while the read was in flight
    release();
    assert.equal(await stale, 'before');
    assert.equal(await cache.get('k', async () => 'after'), 'after');
  });
});
