import type { ExecutionRecord, NodeContext } from '../store/store.ts';
import type { EvalContext, Message } from './tasks/types.ts';

/** The JSONata context a task sees: its run's variables and the output of every node that has ended. */
export function evalContext(execution: ExecutionRecord, nodes: NodeContext[]): EvalContext {
  const tasks: EvalContext['tasks'] = {};
  for (const n of nodes) {
    tasks[n.nodeId] = { output: n.output ?? null, messages: (n.messages as Message[] | undefined) ?? [], status: n.status };
  }
  return {
    variables: execution.variables,
    tasks,
    execution: { id: execution.executionId, canvasId: execution.canvasId },
    trigger: {
      kind: execution.trigger,
      webhookId: execution.trigger === 'webhook' ? execution.triggeredBy : undefined,
      receivedAt: new Date(execution.createdAt).toISOString(),
      headers: execution.triggerHeaders ?? {},
    },
  };
}
