import type { App, AppDeps } from '../app.ts';

/** Liveness, readiness (store reachable) and Prometheus metrics; no auth, no envelope. */
export const opsRoutes = (deps: AppDeps) => async (app: App) => {
  app.get('/healthz', { schema: { tags: ['ops'], summary: 'Liveness' } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { tags: ['ops'], summary: 'Readiness: the store answers' } }, async (_req, reply) => {
    const up = await deps.store.ping();
    return reply.code(up ? 200 : 503).send({ status: up ? 'ready' : 'store unreachable', store: deps.store.kind });
  });
  app.get('/metrics', { schema: { tags: ['ops'], summary: 'Prometheus metrics' } }, async (_req, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
};
