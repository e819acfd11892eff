/** The workflows the scenarios run, as data. */

/** One `output` task: the cheapest run, evaluated by the accept itself (engine/prefix.ts), so ingest measures accepting. */
export const ONE_TASK = {
  title: 'Ingest',
  variables: [{ name: 'n', variableType: 'json' }],
  tasks: [{ id: 'out', kind: 'output', value: '{{ variables.n }}' }],
};

/** One `http` task to a loopback receiver: what ingest costs when the worker runs each accepted run's call meanwhile. */
export const oneHttpTask = (receiverUrl: string) => ({
  title: 'Ingest to http',
  variables: [{ name: 'n', variableType: 'json' }],
  tasks: [{ id: 'call', kind: 'http', request: { method: 'POST', url: receiverUrl, body: '{{ variables }}' } }],
});

/** transform → http to a loopback receiver → output: every kind of step a real run has. */
export const threeTasks = (title: string, receiverUrl: string) => ({
  title,
  variables: [{ name: 'n', variableType: 'json' }],
  tasks: [
    { id: 'prep', kind: 'transform', expression: '{"n": variables.n}' },
    { id: 'call', kind: 'http', dependentTasks: ['prep'], request: { method: 'POST', url: receiverUrl, body: '{{ tasks.prep.output }}' } },
    { id: 'out', kind: 'output', dependentTasks: ['call'], value: '{{ tasks.call.output.status }}' },
  ],
});
