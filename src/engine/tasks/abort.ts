import type { ErrorCode } from '../../errors.ts';

/**
 * The worker aborts a task's signal with `{ code }` as the reason: `NODE_TIMEOUT` (the attempt ran
 * too long, retryable), `EXECUTION_ABORTED`/`EXECUTION_TIMEOUT` (the run ended) or `WORKER_LOST`
 * (shutdown). Runners turn that into the attempt's error code.
 */
export function abortCode(signal: AbortSignal): ErrorCode {
  const code = (signal.reason as { code?: ErrorCode } | undefined)?.code;
  return code ?? 'EXECUTION_ABORTED';
}

export const isRetryableAbort = (code: ErrorCode): boolean => code === 'NODE_TIMEOUT' || code === 'WORKER_LOST';

export function abortMessage(code: ErrorCode): string {
  switch (code) {
    case 'NODE_TIMEOUT':
      return 'the attempt exceeded the task timeout and was cancelled';
    case 'EXECUTION_TIMEOUT':
      return 'the execution exceeded its timeout';
    case 'WORKER_LOST':
      return 'the worker shut down';
    default:
      return 'the execution was aborted';
  }
}
