import type { FastifyRequest } from 'fastify';
import { outputFiles } from '../files/outputs.ts';
import { outputView } from '../runs/views.ts';
import type { AppDeps } from './app.ts';

/** The output of an execution as Refly shows it: result nodes and files with signed links. */
export async function executionOutput(deps: AppDeps, req: FastifyRequest, executionId: string) {
  const [nodes, files] = await Promise.all([
    deps.store.runs.listNodes(executionId),
    outputFiles(deps.store, executionId, {
      baseUrl: `${req.protocol}://${req.host}`,
      secret: deps.fileLinkSecret,
      ttlS: deps.config.fileLinkTtlS,
      nowMs: (deps.now ?? Date.now)(),
    }),
  ]);
  return { ...outputView(nodes), files };
}
