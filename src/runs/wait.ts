import type { Bus } from '../engine/bus.ts';
import { TERMINAL_EXECUTION, type ExecutionStatus, type Store } from '../store/store.ts';

/** Poll interval while waiting: the bus usually answers first; polling covers other processes' workers. */
const POLL_MS = 250;

/**
 * Resolves when the execution is terminal or `timeoutMs` passed (for `?wait=N` and webhook
 * `timeout`). Never throws on timeout: the caller answers with whatever status the run has.
 */
export async function waitForTerminal(
  store: Store,
  bus: Bus,
  workspaceId: string,
  executionId: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ExecutionStatus | undefined> {
  if (timeoutMs <= 0) return undefined;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (s: ExecutionStatus | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearInterval(poll);
      bus.off('execution.terminal', onTerminal);
      signal?.removeEventListener('abort', onAbort);
      resolve(s);
    };
    const onTerminal = (id: string, status: ExecutionStatus) => {
      if (id === executionId) finish(status);
    };
    const onAbort = () => finish(undefined);
    const check = async () => {
      const e = await store.runs.getExecution(workspaceId, executionId).catch(() => undefined);
      if (e && TERMINAL_EXECUTION.has(e.status)) finish(e.status);
    };
    bus.on('execution.terminal', onTerminal);
    signal?.addEventListener('abort', onAbort);
    const deadline = setTimeout(() => finish(undefined), timeoutMs);
    const poll = setInterval(() => void check(), POLL_MS);
    void check();
  });
}
