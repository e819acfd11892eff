import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import jsonata from 'jsonata';
import { evaluate, renderString } from '../../src/engine/expressions.ts';

/**
 * `evaluate` reads a bare path of field names over plain objects without JSONata's evaluator; the
 * answer must be JSONata's, normalised the same way, for every shape of value on the way.
 */
const byJsonata = async (expr: string, input: unknown) => {
  const v = await jsonata(expr).evaluate(input);
  return v === undefined || typeof v === 'function' ? null : JSON.parse(JSON.stringify(v) ?? 'null');
};

const input = {
  variables: {
    s: 'text',
    n: 42,
    zero: 0,
    f: false,
    nul: null,
    obj: { a: { b: 'deep' }, list: [1, 2] },
    list: [{ name: 'a' }, { name: 'b', tags: ['x', 'y'] }],
    nested: [[1, 2], [3]],
    one: [7],
    empty: {},
    'with space': 1,
  },
  tasks: { prep: { output: { body: { ok: true, items: [{ id: 1 }] } }, messages: [], status: 'finish' } },
  execution: { id: 'we-1', canvasId: 'c-1' },
};

describe('expression paths', () => {
  const cases = [
    'variables.s',
    'variables.n',
    'variables.zero',
    'variables.f',
    'variables.nul',
    'variables.nul.x',
    'variables.missing',
    'variables.missing.deeper',
    'variables.obj',
    'variables.obj.a.b',
    'variables.obj.list',
    'variables.list',
    'variables.list.name',
    'variables.list.tags',
    'variables.nested',
    'variables.one',
    'variables.s.length',
    'variables.empty',
    'variables.`with space`',
    'tasks.prep.output.body',
    'tasks.prep.output.body.items.id',
    'tasks.prep.messages',
    'execution.id',
    'variables',
    'nothing',
    'variables.obj.list[0]',
    'variables.list[name="b"].tags',
    '$count(variables.list)',
    'variables.n + 1',
  ];
  for (const expr of cases) {
    it(`${expr} gives what JSONata gives`, async () => {
      assert.deepEqual(await evaluate(expr, input), await byJsonata(expr, input));
    });
  }

  it('a template that is one path yields the raw value; text around it interpolates', async () => {
    assert.deepEqual(await renderString('{{ variables.obj }}', input), input.variables.obj);
    assert.equal(await renderString('n={{ variables.n }}, s={{variables.s}}, x={{ variables.missing }}', input), 'n=42, s=text, x=');
  });
});
