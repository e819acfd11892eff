import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import YAML from 'yaml';
import { readFileSync } from 'node:fs';
import { canvasIdFor, loadDefinitionsFrom } from '../../src/workflows/load.ts';
import { topologicalOrder, validateDefinition, type DefinitionError } from '../../src/workflows/validate.ts';

const spec = YAML.parse(readFileSync(new URL('../../examples/more/classify-and-notify.yaml', import.meta.url), 'utf8'));
const errorsOf = (def: unknown): DefinitionError[] => {
  const r = validateDefinition(def);
  assert.equal(r.ok, false, 'expected the definition to be rejected');
  return r.ok ? [] : (r.error.data as { errors: DefinitionError[] }).errors;
};
const base = { title: 'T', variables: [{ name: 'x', variableType: 'string' }] };

describe('workflow definition validation', () => {
  it("accepts SPEC §2's example", () => {
    const r = validateDefinition(spec);
    assert.equal(r.ok, true, JSON.stringify(!r.ok && r.error));
  });

  it('names duplicate ids, unknown dependencies and cycles', () => {
    const dup = errorsOf({ ...base, tasks: [{ id: 'a', kind: 'transform', expression: '1' }, { id: 'a', kind: 'transform', expression: '2' }] });
    assert.deepEqual(dup.map((e) => [e.task, e.field]), [['a', 'tasks[1].id']]);
    const unknown = errorsOf({ ...base, tasks: [{ id: 'a', kind: 'transform', expression: '1', dependentTasks: ['ghost'] }] });
    assert.match(unknown[0]!.message, /unknown task "ghost"/);
    const cycle = errorsOf({
      ...base,
      tasks: [
        { id: 'a', kind: 'transform', expression: '1', dependentTasks: ['c'] },
        { id: 'b', kind: 'transform', expression: '1', dependentTasks: ['a'] },
        { id: 'c', kind: 'transform', expression: '1', dependentTasks: ['b'] },
      ],
    });
    assert.match(cycle[0]!.message, /cycle: a → c → b → a/);
  });

  it('checks expressions parse and reference only declared variables and upstream tasks', () => {
    const errors = errorsOf({
      ...base,
      tasks: [
        { id: 'a', kind: 'transform', expression: '1 +' },
        { id: 'b', kind: 'transform', expression: 'variables.y' },
        { id: 'c', kind: 'transform', expression: 'tasks.d.output' },
        { id: 'd', kind: 'output', value: { v: '{{ tasks.c.output }}' } },
        { id: 'e', kind: 'http', request: { url: 'https://x.test/{{ tasks.nope.output }}' } },
      ],
    });
    const byTask = Object.fromEntries(errors.map((e) => [e.task, e]));
    assert.match(byTask.a!.message, /does not parse/);
    assert.match(byTask.b!.message, /variables\.y, which is not declared/);
    assert.match(byTask.c!.message, /tasks\.d, which is not upstream/);
    assert.equal(byTask.d!.field, 'tasks[3].value');
    assert.match(byTask.e!.message, /tasks\.nope, which does not exist/);
  });

  it('checks variables and toolsets', () => {
    const errors = errorsOf({
      title: 'T',
      variables: [
        { name: 'o', variableType: 'option' },
        { name: 'p', variableType: 'option', options: ['a'], default: 'b' },
        { name: 'n', variableType: 'number', default: 'one' },
      ],
      tasks: [{ id: 'ag', kind: 'agent', prompt: 'hi', toolsets: ['missing'] }],
    });
    assert.deepEqual(errors.map((e) => e.field).sort(), ['tasks[0].toolsets', 'variables[0].options', 'variables[1].default', 'variables[2].default']);
  });

  it('reports schema errors per task with the field', () => {
    const errors = errorsOf({ title: 'T', tasks: [{ id: 'a', kind: 'transform' }, { id: 'b', kind: 'http', request: { url: 'x' }, bogus: 1 }] });
    assert.deepEqual(errors.map((e) => [e.task, e.field, e.message]), [
      ['a', 'tasks[0].expression', 'is required'],
      ['b', 'tasks[1].bogus', 'is not allowed here'],
    ]);
    assert.equal(errorsOf({ tasks: [] })[0]!.field, 'title');
    assert.equal(errorsOf('nope')[0]!.field, '(root)');
  });

  it('orders tasks topologically', () => {
    const order = topologicalOrder(spec);
    assert.ok('order' in order);
    if ('order' in order) assert.ok(order.order.indexOf('upper') < order.order.indexOf('classify'));
  });

  it('loads JSON and YAML files from a folder and names a broken file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fg-load-'));
    writeFileSync(path.join(dir, 'a.json'), JSON.stringify({ title: 'A', tasks: [] }));
    writeFileSync(path.join(dir, 'B Flow.yaml'), 'title: B\ntasks: []\n');
    writeFileSync(path.join(dir, 'notes.txt'), 'ignored');
    const loaded = await loadDefinitionsFrom(dir);
    assert.deepEqual(loaded.map((l) => path.basename(l.file)), ['B Flow.yaml', 'a.json']);
    assert.equal(canvasIdFor(loaded[0]!.file, {}), 'c-b-flow');
    assert.equal(canvasIdFor('x.json', { canvasId: 'c-fixed' }), 'c-fixed');
    writeFileSync(path.join(dir, 'c.json'), '{ broken');
    await assert.rejects(loadDefinitionsFrom(dir), /c\.json: cannot parse/);
  });
});
