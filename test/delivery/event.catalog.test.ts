import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { exampleEvent } from '../../src/delivery/examples.ts';
import { EVENT_TYPES, eventSchema } from '../../src/delivery/eventTypes.ts';

const dir = new URL('../../docs/events/', import.meta.url);

it('docs/events/ publishes exactly the catalog, schema for schema (npm run docs:events regenerates it)', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  assert.deepEqual(files, EVENT_TYPES.map((e) => `${e.type}.json`).sort());
  for (const e of EVENT_TYPES) {
    const published = JSON.parse(readFileSync(new URL(`${e.type}.json`, dir), 'utf8'));
    assert.deepEqual(published, eventSchema(e), `${e.type}.json is stale`);
  }
});

it('every schema compiles and accepts a body shaped like the ones we send', () => {
  const ajv = new Ajv2020({ strict: false });
  const execution = ajv.compile(eventSchema(EVENT_TYPES.find((e) => e.type === 'execution.failed')!));
  const body = {
    type: 'execution.failed',
    timestamp: new Date().toISOString(),
    data: { executionId: 'we-1', canvasId: 'c-1', status: 'failed', trigger: 'api', errCode: 'EXECUTION_ABORTED', errMsg: 'Aborted', createdAt: new Date().toISOString() },
  };
  assert.ok(execution(body), JSON.stringify(execution.errors));
  assert.ok(!execution({ ...body, type: 'execution.finished' }), 'the type is pinned');
  for (const e of EVENT_TYPES.filter((x) => x.type !== 'execution.failed')) ajv.compile(eventSchema(e));
});

it('the example of every type (what "send a test event" sends) validates against its published schema', () => {
  const ajv = new Ajv2020({ strict: false });
  addFormats.default(ajv);
  for (const e of EVENT_TYPES) {
    const ev = exampleEvent(e.type, 'ws-1', Date.now());
    const body = JSON.parse(JSON.stringify({ type: ev.type, timestamp: new Date(ev.now).toISOString(), data: ev.data })) as { data: { test?: boolean } };
    const validate = ajv.compile(eventSchema(e));
    assert.ok(validate(body), `${e.type}: ${ajv.errorsText(validate.errors)}`);
    assert.equal(body.data.test, true);
  }
});
