import type { Bus } from '../engine/bus.ts';
import { TERMINAL_EXECUTION, type Store } from '../store/store.ts';
import { waitingFor } from './views.ts';

/**
 * The changes of one execution as a sequence of events, for `GET …/{executionId}/events` (SSE):
 * the execution's status and each node's status and attempt count, first as a snapshot, then each
 * change, then `end`. Changes are found by comparing snapshots from the store — woken early by the
 * bus, polled otherwise — so the stream works whichever process runs the execution.
 */
export interface StreamEvent {
  event: 'execution.status' | 'node.status' | 'end';
  data: Record<string, unknown>;
}

const POLL_MS = 250;

export async function streamExecution(
  deps: { store: Store; bus: Bus },
  workspaceId: string,
  executionId: string,
  emit: (e: StreamEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const seen = new Map<string, string>();
  let wake: (() => void) | undefined;
  const onTerminal = (id: string) => id === executionId && wake?.();
  deps.bus.on('execution.terminal', onTerminal);
  try {
    while (!signal.aborted) {
      const e = await deps.store.runs.getExecution(workspaceId, executionId);
      if (!e) return;
      const nodes = await deps.store.runs.listNodes(executionId);
      const terminal = TERMINAL_EXECUTION.has(e.status);
      const execution = () => {
        const execKey = `${e.status}|${e.errCode ?? ''}`;
        if (seen.get('') === execKey) return;
        seen.set('', execKey);
        emit({ event: 'execution.status', data: { executionId, status: e.status, errCode: e.errCode, errMsg: e.errMsg } });
      };
      // The execution's final status comes after every node's final status (they commit together);
      // otherwise the execution's status leads, as a snapshot reads top-down.
      if (!terminal) execution();
      for (const n of nodes) {
        const wait = waitingFor(n);
        const key = `${n.status}|${n.attempts}|${n.errCode ?? ''}|${wait?.reason ?? ''}|${wait?.until ?? ''}`;
        if (seen.get(n.nodeId) === key) continue;
        seen.set(n.nodeId, key);
        emit({ event: 'node.status', data: { executionId, nodeId: n.nodeId, status: n.status, attempts: n.attempts, errCode: n.errCode, errorMessage: n.errMsg, waitingFor: wait } });
      }
      if (terminal) {
        execution();
        emit({ event: 'end', data: { executionId, status: e.status } });
        return;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, POLL_MS);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
        signal.addEventListener('abort', wake, { once: true });
      });
    }
  } finally {
    deps.bus.off('execution.terminal', onTerminal);
  }
}
