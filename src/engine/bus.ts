import { EventEmitter } from 'node:events';
import type { ExecutionStatus } from '../store/store.ts';

/**
 * In-process notifications between the API and the worker of one process: they only make things
 * faster (wake the worker, answer `?wait` early). Correctness never depends on them — the worker
 * also polls the store, and waiters also poll — so a lost event delays but never loses work.
 */
export interface BusEvents {
  'execution.created': [executionId: string];
  'execution.terminal': [executionId: string, status: ExecutionStatus];
  'execution.abort': [executionId: string];
}

export class Bus extends EventEmitter<BusEvents> {
  constructor() {
    super();
    // Every `?wait` request listens while it waits; the count is bounded by the HTTP server's
    // connection limit, not by a leak.
    this.setMaxListeners(0);
  }
}
