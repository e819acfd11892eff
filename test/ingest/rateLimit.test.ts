import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { RateLimits } from '../../src/ingest/rateLimit.ts';
import { freshTarget, TEST_DATABASE_URL, type StoreTarget } from '../helpers/stores.ts';

/** Rate-limit counters shared through PostgreSQL (no Redis): taken in blocks, one upsert per block. */
describe('rate limits on PostgreSQL', () => {
  let target: StoreTarget;
  let pool: pg.Pool;
  before(async () => {
    target = freshTarget('postgres');
    const store = target.open();
    await store.migrate();
    await store.close();
    pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 4, options: `-c search_path=${target.config.databaseSchema}` });
  });
  after(async () => {
    await pool.end();
    await target.cleanup(false);
  });

  const taken = async (key: string) => {
    const r = await pool.query<{ key: string; points: number }>('SELECT key, points FROM rate_limits WHERE key LIKE $1', [`%${key}`]);
    return Object.fromEntries(r.rows.map((row) => [row.key.split(':')[2], Number(row.points)]));
  };

  it('200 requests at once take blocks of 50 per window, one block ahead at most, not one block each', async () => {
    const limits = new RateLimits({ postgres: { pool, schema: target.config.databaseSchema }, keyPrefix: 'fg' });
    const answers = await Promise.all(Array.from({ length: 200 }, () => limits.consume('ws-burst', { perMinute: 1_000_000, perDay: 10_000_000 })));
    assert.ok(answers.every((a) => a.allowed));
    // Points are taken from the shared counter 50 at a time, the next block once half of one is spent
    // (whether the last one is taken ahead depends on how the calls interleave); a block per request
    // would have taken 10,000.
    const points = await taken('ws-burst');
    assert.deepEqual(Object.keys(points).sort(), ['60', '86400']);
    for (const [window, n] of Object.entries(points)) assert.ok(n % 50 === 0 && n >= 200 && n <= 250, `window ${window}: ${n} points taken`);
    const remaining = answers.map((a) => Number(a.headers['x-ratelimit-remaining-rpm'])).sort((a, b) => a - b);
    assert.equal(remaining[0], 1_000_000 - 200, 'the last answer counts every request before it');
  });

  it('a small limit is exact: points are taken one at a time, the 6th of 5 is refused', async () => {
    const limits = new RateLimits({ postgres: { pool, schema: target.config.databaseSchema }, keyPrefix: 'fg' });
    const answers = await Promise.all(Array.from({ length: 6 }, () => limits.consume('ws-small', { perMinute: 5, perDay: 100 })));
    assert.equal(answers.filter((a) => a.allowed).length, 5);
    const refused = answers.find((a) => !a.allowed)!;
    assert.ok(Number(refused.headers['retry-after']) >= 1);
  });
});

/** The headers every answer carries name the tightest window, or the one that refused the call. */
describe('rate limit headers', () => {
  it('name the tightest window while allowed, and the window that refused when not', async () => {
    const limits = new RateLimits();
    const tight = { perMinute: 10, perDay: 3 };
    const first = await limits.consume('ws-headers', tight);
    assert.equal(first.allowed, true);
    assert.equal(first.headers['ratelimit-policy'], '"minute";q=10;w=60, "day";q=3;w=86400');
    assert.deepEqual(
      [first.headers['x-ratelimit-limit-rpm'], first.headers['x-ratelimit-remaining-rpm'], first.headers['x-ratelimit-limit-daily'], first.headers['x-ratelimit-remaining-daily']],
      ['10', '9', '3', '2'],
    );
    assert.match(first.headers['ratelimit']!, /^"day";r=2;t=\d+$/);
    await limits.consume('ws-headers', tight);
    await limits.consume('ws-headers', tight);
    const refused = await limits.consume('ws-headers', tight);
    assert.equal(refused.allowed, false);
    assert.match(refused.headers['ratelimit']!, /^"day";r=0;t=\d+$/);
    assert.equal(refused.headers['x-ratelimit-remaining-daily'], '0');
    assert.ok(Number(refused.headers['retry-after']) > 60, 'a day window refuses until it resets');

    const perMinute = { perMinute: 1, perDay: 100 };
    await limits.consume('ws-minute', perMinute);
    const byMinute = await limits.consume('ws-minute', perMinute);
    assert.equal(byMinute.allowed, false);
    assert.match(byMinute.headers['ratelimit']!, /^"minute";r=0;t=\d+$/);
    assert.equal(byMinute.headers['x-ratelimit-remaining-daily'], undefined, 'the day window was not consulted');
    assert.ok(Number(byMinute.headers['retry-after']) >= 1 && Number(byMinute.headers['retry-after']) <= 60);
  });
});
