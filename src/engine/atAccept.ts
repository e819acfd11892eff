import type { Config } from '../config.ts';
import type { AdvanceNode, ExecutionRecord, NewExecution, NodeContext, SettledAtAccept, SettledNode } from '../store/store.ts';
import type { WorkflowDefinition } from '../workflows/definition.ts';
import { advance } from './advance.ts';
import { evalContext } from './context.ts';
import { evaluateInline, evaluatesInline } from './inline.ts';

/** Whether every task of a workflow is an expression task its accept can evaluate, by definition. */
const expressionOnly = new WeakMap<WorkflowDefinition, boolean>();

/**
 * A run of a workflow made only of expression tasks (`transform`, `condition`, `output`, none reading
 * files) is evaluated while it is accepted — roots first, then what their results release, dead
 * branches skipped by the same advance rule a worker applies — and committed finished (or failed, on
 * an expression error) with the run, instead of being queued for a worker that would claim, evaluate
 * and commit it a moment later. These tasks have no side effects, so nothing a crash could split
 * happens outside that one transaction.
 *
 * A workflow with any other task is queued whole, as before: a run is either finished by its accept
 * or untouched by it, so "accepted but not started" (the backlog bound) keeps its meaning. Undefined
 * when the run is to be queued.
 */
export async function settleAtAccept(workflow: WorkflowDefinition, execution: NewExecution, config: Config): Promise<SettledAtAccept | undefined> {
  let only = expressionOnly.get(workflow);
  if (only === undefined) expressionOnly.set(workflow, (only = workflow.tasks.length > 0 && workflow.tasks.every(evaluatesInline)));
  if (!only) return undefined;
  const nodes: AdvanceNode[] = workflow.tasks.map((t) => ({ nodeId: t.id, kind: t.kind, deps: t.dependentTasks ?? [], status: 'init', runnable: false }));
  const byId = new Map(nodes.map((n) => [n.nodeId, n]));
  const record = asRecord(execution);
  const ended: NodeContext[] = [];
  const settled: SettledNode[] = [];
  let next = advance(nodes);
  while (!next.outcome) {
    for (const id of next.skipped) {
      byId.get(id)!.status = 'skipped';
      settled.push({ nodeId: id, status: 'skipped' });
      ended.push({ nodeId: id, status: 'skipped' });
    }
    for (const id of next.runnable) {
      const node = byId.get(id)!;
      const task = workflow.tasks.find((t) => t.id === id)!;
      const outcome = await evaluateInline(task, workflow, evalContext(record, ended), execution.executionId, 1, config);
      // Not settled on the spot after all (a failure another attempt could change): the worker takes the run.
      if (!outcome) return undefined;
      // Expression results are plain JSON values already (evaluate normalises them): what a worker
      // would read back from the store.
      const messages = outcome.messages;
      if (outcome.type === 'finished') {
        node.status = 'finish';
        node.output = outcome.output;
        settled.push({ nodeId: id, status: 'finish', output: outcome.output, messages });
        ended.push({ nodeId: id, status: 'finish', output: outcome.output, messages });
      } else {
        node.status = 'failed';
        node.errCode = outcome.errCode;
        node.errMsg = outcome.message;
        settled.push({ nodeId: id, status: 'failed', errCode: outcome.errCode, errMsg: outcome.message, messages });
        ended.push({ nodeId: id, status: 'failed', messages });
      }
    }
    if (next.runnable.length === 0 && next.skipped.length === 0) return undefined;
    next = advance(nodes);
  }
  // Skips found by the advance that ended the run are part of its record too.
  for (const id of next.skipped) settled.push({ nodeId: id, status: 'skipped' });
  const o = next.outcome;
  return o.status === 'failed' ? { status: 'failed', errCode: o.errCode, errMsg: o.errMsg, nodes: settled } : { status: 'finish', nodes: settled };
}

/** The run as its tasks will see it once stored (`evalContext` reads these fields). */
const asRecord = (e: NewExecution): ExecutionRecord => ({
  executionId: e.executionId,
  workspaceId: e.workspaceId,
  canvasId: e.canvasId,
  version: e.version,
  status: 'executing',
  trigger: e.trigger,
  variables: e.variables,
  createdAt: e.now,
  startedAt: e.now,
  deadlineAt: e.deadlineAt,
  triggeredBy: e.triggeredBy,
  triggerHeaders: e.triggerHeaders,
});
