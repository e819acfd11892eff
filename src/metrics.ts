import client from 'prom-client';
import type { CircuitBreakers } from './engine/breaker.ts';
import type { Store } from './store/store.ts';

/**
 * Prometheus metrics (`GET /metrics`). One registry per app instance so tests can build several
 * apps in one process without "metric already registered" errors.
 */
export class Metrics {
  readonly registry = new client.Registry();
  readonly httpDuration = new client.Histogram({
    name: 'flowgate_http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
    registers: [this.registry],
  });
  readonly executionsEnded = new client.Counter({
    name: 'flowgate_executions_total',
    help: 'Executions that reached a terminal status in this process, by status',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly executionsAccepted = new client.Counter({
    name: 'flowgate_executions_accepted_total',
    help: 'Executions committed by this process, by trigger',
    labelNames: ['trigger'] as const,
    registers: [this.registry],
  });
  readonly nodeDuration = new client.Histogram({
    name: 'flowgate_node_duration_seconds',
    help: 'Time spent inside a task attempt, by kind and outcome',
    labelNames: ['kind', 'outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly nodesEvaluatedInTurn = new client.Counter({
    name: 'flowgate_nodes_evaluated_in_turn_total',
    help: 'transform, condition and output nodes evaluated and committed inside the worker turn that claimed them',
    registers: [this.registry],
  });

  readonly nodesEvaluatedAtAccept = new client.Counter({
    name: 'flowgate_nodes_evaluated_at_accept_total',
    help: 'transform, condition and output nodes evaluated and committed by the accept of their run (runs of expression tasks only)',
    registers: [this.registry],
  });

  readonly deliveryAttempts = new client.Histogram({
    name: 'flowgate_event_delivery_seconds',
    help: 'Outbound event delivery attempts by outcome (succeeded, retry, failed, disabled), with their latency',
    labelNames: ['outcome'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15],
    registers: [this.registry],
  });

  readonly contractDrift = new client.Counter({
    name: 'flowgate_contract_drift_total',
    help: 'http task responses whose shape lost a field or changed a type since the previous response',
    registers: [this.registry],
  });

  /** Exposes which downstream hosts have an open circuit (1) in this process. */
  watchBreakers(breakers: CircuitBreakers): void {
    new client.Gauge({
      name: 'flowgate_circuit_open',
      help: 'Downstream hosts whose circuit breaker is not closed (open or half-open) in this worker (1 per host)',
      labelNames: ['host'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const host of breakers.openHosts()) this.set({ host }, 1);
      },
    });
  }

  constructor(store: Store, now: () => number) {
    // A scrape collects both gauges at once: they share one count of the backlog.
    let reading: ReturnType<Store['queue']['backlog']> | undefined;
    const backlog = () => (reading ??= store.queue.backlog(now()).finally(() => (reading = undefined)));
    new client.Gauge({
      name: 'flowgate_backlog_executions',
      help: 'Accepted executions no worker has started yet',
      registers: [this.registry],
      async collect() {
        this.set((await backlog()).pendingExecutions);
      },
    });
    new client.Gauge({
      name: 'flowgate_backlog_runnable_nodes',
      help: 'Nodes ready to run and waiting for a worker',
      registers: [this.registry],
      async collect() {
        this.set((await backlog()).runnableNodes);
      },
    });
    client.collectDefaultMetrics({ register: this.registry, prefix: 'flowgate_' });
  }
}
