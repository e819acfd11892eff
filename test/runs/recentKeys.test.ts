import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecentKeys } from '../../src/runs/recentKeys.ts';

const entry = (executionId: string, expiresAt: number) => ({ executionId, requestHash: 'h', response: { executionId }, expiresAt });

describe('RecentKeys', () => {
  it('answers a key until it expires, and not after', () => {
    const keys = new RecentKeys();
    keys.remember('a', entry('ex-1', 1_000), 0);
    assert.equal(keys.get('a', 999)?.executionId, 'ex-1');
    assert.equal(keys.get('a', 1_000), undefined);
    assert.equal(keys.get('b', 0), undefined);
  });

  it('drops expired keys as new ones arrive, so memory follows the window, not the total', () => {
    const keys = new RecentKeys();
    for (let t = 0; t < 10_000; t++) keys.remember(`k${t}`, entry(`ex-${t}`, t + 100), t);
    assert.ok(keys.size <= 101, `kept ${keys.size}`);
    assert.equal(keys.get('k9999', 9_999)?.executionId, 'ex-9999');
  });

  it('a key remembered again takes the new entry', () => {
    const keys = new RecentKeys();
    keys.remember('a', entry('ex-1', 100), 0);
    keys.remember('a', entry('ex-2', 300), 200);
    assert.equal(keys.get('a', 250)?.executionId, 'ex-2');
  });
});
