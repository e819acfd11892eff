import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { ERRORS } from '../src/errors.ts';

// fastify's errors.test.js habit: the registry and docs/errors.md list the same codes with the same status.
it('docs/errors.md and src/errors.ts list the same codes and statuses', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Map<string, string>();
  for (const m of doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}|—) \|/gm)) documented.set(m[1]!, m[2]!);
  for (const [code, { status }] of Object.entries(ERRORS)) {
    assert.ok(documented.has(code), `${code} is missing from docs/errors.md`);
    assert.equal(documented.get(code), status === null ? '—' : String(status), `${code} has a different status in the docs`);
  }
  for (const code of documented.keys()) assert.ok(code in ERRORS, `${code} is documented but not in src/errors.ts`);
});
