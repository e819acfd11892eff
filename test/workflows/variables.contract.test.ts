import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resourceFileKeys, validateVariables, variablesJsonSchema } from '../../src/workflows/variables.ts';
import type { WorkflowDefinition } from '../../src/workflows/definition.ts';

const def: Pick<WorkflowDefinition, 'variables'> = {
  variables: [
    { name: 'text', variableType: 'string', required: true },
    { name: 'tone', variableType: 'option', options: ['formal', 'casual'], default: 'formal' },
    { name: 'count', variableType: 'number' },
    { name: 'flag', variableType: 'boolean' },
    { name: 'meta', variableType: 'json' },
    { name: 'docs', variableType: 'resource' },
  ],
};

describe('variable contract', () => {
  it('publishes a JSON Schema', () => {
    const s = variablesJsonSchema(def) as { properties: Record<string, { type?: string; enum?: string[] }>; required: string[]; additionalProperties: boolean };
    assert.deepEqual(s.required, ['text']);
    assert.deepEqual(s.properties.tone!.enum, ['formal', 'casual']);
    assert.equal(s.properties.count!.type, 'number');
    assert.equal(s.additionalProperties, false);
  });

  it('applies defaults and accepts valid input', () => {
    const r = validateVariables(def, { text: 'hi', count: 2, flag: true, meta: { a: [1] }, docs: ['fk-abc', 'fk-def'] });
    assert.ok(r.ok);
    assert.equal(r.ok && r.value.tone, 'formal');
  });

  it('reports one error per bad field, unknown names individually', () => {
    const r = validateVariables(def, { tone: 'angry', count: 'two', flag: 'yes', docs: 'not-a-key', typo: 1, other: 2 });
    assert.ok(!r.ok);
    const errors = (r.ok ? [] : (r.error.data as { errors: { field: string; code: string }[] }).errors).map((e) => [e.field, e.code]).sort();
    assert.deepEqual(errors, [
      ['variables.count', 'type'],
      ['variables.docs', 'format'],
      ['variables.flag', 'type'],
      ['variables.other', 'unknown'],
      ['variables.text', 'required'],
      ['variables.tone', 'enum'],
      ['variables.typo', 'unknown'],
    ]);
  });

  it('rejects a non-object', () => {
    const r = validateVariables(def, [1]);
    assert.ok(!r.ok && r.error.code === 'INVALID_VARIABLES');
  });

  it('lists the fileKeys to check', () => {
    assert.deepEqual(resourceFileKeys(def, { docs: ['fk-a', 'fk-b'] }), [
      { variable: 'docs', fileKey: 'fk-a' },
      { variable: 'docs', fileKey: 'fk-b' },
    ]);
    assert.deepEqual(resourceFileKeys(def, {}), []);
  });
});
