import type { Config } from '../config.ts';
import type { AdvanceNode, ExecutionRecord, NewExecution, NodeContext, SettledAtAccept, SettledNode } from '../store/store.ts';
import type { WorkflowDefinition } from '../workflows/definition.ts';
import { advance } from './advance.ts';
import { evalContext } from './context.ts';
import { evaluateInline } from './inline.ts';

/**
 * A run's deterministic prefix, evaluated while it is accepted: its transform, condition and output
 * tasks whose inputs are all known — the roots, then what their results release, and so on — are
 * evaluated in the request and committed with the run, instead of being queued for a worker that
 * would claim, evaluate and commit them a moment later. They have no side effects, so "a finished
 * node never runs again" holds as it does for the worker's own in-turn evaluation; the first task
 * that reaches outside (`http`, `agent`), or that reads files, is queued as usual.
 *
 * A workflow of such tasks only is finished when its trigger is answered. Undefined when no node
 * could be settled: the run is queued whole.
 */
export async function settlePrefix(workflow: WorkflowDefinition, execution: NewExecution, config: Config): Promise<SettledAtAccept | undefined> {
  const nodes: AdvanceNode[] = workflow.tasks.map((t) => ({ nodeId: t.id, kind: t.kind, deps: t.dependentTasks ?? [], status: 'init', runnable: false }));
  const byId = new Map(nodes.map((n) => [n.nodeId, n]));
  const record = asRecord(execution);
  const ended: NodeContext[] = [];
  const settled: SettledNode[] = [];
  let next = advance(nodes);
  for (;;) {
    for (const id of next.skipped) {
      byId.get(id)!.status = 'skipped';
      settled.push({ nodeId: id, status: 'skipped' });
      ended.push({ nodeId: id, status: 'skipped' });
    }
    if (next.outcome) break;
    let progressed = next.skipped.length > 0;
    for (const id of next.runnable) {
      const node = byId.get(id)!;
      node.runnable = true;
      const task = workflow.tasks.find((t) => t.id === id)!;
      const outcome = await evaluateInline(task, workflow, evalContext(record, ended), execution.executionId, 1, config);
      if (!outcome) continue;
      progressed = true;
      node.runnable = false;
      // Expression results are already plain JSON values (evaluate normalises them), as a worker
      // would read them back from the store.
      const messages = outcome.messages;
      if (outcome.type === 'finished') {
        const output = outcome.output;
        node.status = 'finish';
        node.output = output;
        settled.push({ nodeId: id, status: 'finish', output, messages });
        ended.push({ nodeId: id, status: 'finish', output, messages });
      } else {
        node.status = 'failed';
        node.errCode = outcome.errCode;
        node.errMsg = outcome.message;
        settled.push({ nodeId: id, status: 'failed', errCode: outcome.errCode, errMsg: outcome.message, messages });
        ended.push({ nodeId: id, status: 'failed', messages });
      }
    }
    if (!progressed) break;
    next = advance(nodes);
  }
  if (settled.length === 0) return undefined;
  // The last advance saw every node as it now is (the loop stops only after one that changed nothing).
  const outcome = next.outcome;
  if (outcome?.status === 'failed') return { status: 'failed', errCode: outcome.errCode, errMsg: outcome.errMsg, nodes: settled, runnable: [] };
  if (outcome?.status === 'finish') return { status: 'finish', nodes: settled, runnable: [] };
  return { status: 'executing', nodes: settled, runnable: nodes.filter((n) => n.runnable).map((n) => n.nodeId) };
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
