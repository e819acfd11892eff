import swagger from '@fastify/swagger';
import { Type } from 'typebox';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyContextConfig, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Bus } from '../engine/bus.ts';
import { newTraceId } from '../ids.ts';
import type { Metrics } from '../metrics.ts';
import type { RunTrigger } from '../runs/trigger.ts';
import type { GroupCommitter } from '../runs/groupCommit.ts';
import type { ReadCache } from '../runs/readCache.ts';
import type { FileStorage } from '../files/storage.ts';
import { fileRoutes } from './routes/files.ts';
import type { RateLimits } from '../ingest/rateLimit.ts';
import type { ApiKeyRecord, Scope, Store, WebhookRecord, WorkflowRecord, WorkspaceRecord } from '../store/store.ts';
import { authenticate, authenticateInstanceAdmin, type KeyLookups } from './auth.ts';
import { registerBodyParsers } from './bodyParsers.ts';
import { requestLogger } from './requestLogger.ts';
import { clientErrorHandler, frameworkErrors, MAX_PARAM_LENGTH, registerErrorHandling } from './httpErrors.ts';
import { FlowgateError } from '../errors.ts';
import { apiKeyRoutes } from './routes/apiKeys.ts';
import { executionRoutes } from './routes/executions.ts';
import { opsRoutes } from './routes/ops.ts';
import { runRoutes } from './routes/runs.ts';
import { workflowCatalogRoutes } from './routes/workflowCatalog.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { eventEndpointRoutes } from './routes/eventEndpoints.ts';
import { workflowRoutes } from './routes/workflows.ts';
import { workspaceRoutes } from './routes/workspaces.ts';
import { consoleRoutes } from './console.ts';
import { mcpRoutes } from './routes/mcp.ts';

export interface AppDeps {
  store: Store;
  config: Config;
  logger: Logger;
  bus: Bus;
  metrics: Metrics;
  trigger: RunTrigger;
  /** The group committer: webhook calls recorded after their answer share its transactions. */
  commits: GroupCommitter;
  /** What triggers read on every call; routes that change a workflow or webhook forget it here. */
  workflows: ReadCache<WorkflowRecord>;
  webhooks: ReadCache<WebhookRecord>;
  /** Whether a key's or webhook's workspace is disabled; the workspace admin routes forget it here. */
  workspaces: ReadCache<WorkspaceRecord>;
  /** API keys by secret hash; revoking one clears it (other processes see a revocation within 1 s). */
  apiKeys: ReadCache<ApiKeyRecord>;
  now?: () => number;
  rateLimits: RateLimits;
  storage: FileStorage;
  /** Signs download links; one value shared by every process (kept in the store's settings). */
  fileLinkSecret: string;
  /** Aborted when the server starts closing, so long-polls (`?wait`) answer at once instead of holding shutdown. */
  closing: AbortSignal;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated key, set by the scope check for routes that declare `config.scope`. */
    apiKey: ApiKeyRecord;
    rawBody?: Buffer;
  }
  interface FastifyContextConfig {
    /** Scope the route requires; routes without one are public. */
    scope?: Scope;
    /** The route takes the instance admin key (FLOWGATE_ADMIN_KEY), not a workspace's API key. */
    instanceAdmin?: boolean;
    /**
     * The name the OpenAPI document gives the route's `:id` (Refly's `{canvasId}` or `{executionId}`).
     * The router needs one name per path position, so sibling routes share `:id` at run time.
     */
    pathParam?: 'canvasId' | 'executionId';
  }
}

export type App = FastifyInstance<any, any, any, Logger, TypeBoxTypeProvider>;

/**
 * Builds the HTTP app without listening (tests drive it directly; `server.ts` listens). Every route
 * declares TypeBox schemas, which drive validation and the OpenAPI document at `/openapi.json`.
 */
export async function buildApp(deps: AppDeps): Promise<App> {
  const app = Fastify({
    loggerInstance: deps.logger,
    genReqId: () => newTraceId(),
    childLoggerFactory: requestLogger,
    // Our onResponse hook logs one line per request with the route and latency instead.
    logController: new LogController({ requestIdLogLabel: 'traceId', disableRequestLogging: true }),
    bodyLimit: deps.config.bodyLimit,
    // A slow or stalled client gets 408 after this, whether it trickles its body or stops sending.
    requestTimeout: deps.config.requestTimeoutMs,
    // How often Node checks that timeout (its default, 30 s, would stretch it by up to that much);
    // Node enforces the request timeout only when the headers timeout is not longer.
    http: {
      connectionsCheckingInterval: 1000,
      requestTimeout: deps.config.requestTimeoutMs,
      headersTimeout: deps.config.requestTimeoutMs > 0 ? Math.min(deps.config.requestTimeoutMs, 60_000) : 60_000,
    },
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
    clientErrorHandler,
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorateRequest('apiKey', null as unknown as ApiKeyRecord);
  registerBodyParsers(app, deps.config.jsonMaxDepth);
  registerErrorHandling(app);

  // Hooks on every request take a callback: an async one costs each request a promise and a turn.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-trace-id', req.id);
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    deps.metrics.httpDuration.observe({ method: req.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    // Through the process's logger, naming the traceId: req.log is made only when something uses it.
    if (deps.logger.isLevelEnabled('info')) deps.logger.info({ traceId: req.id, method: req.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
    done();
  });
  const lookups: KeyLookups = {
    keyByHash: (hash) => deps.apiKeys.fresh(hash) ?? deps.apiKeys.get(hash, () => deps.store.catalog.findApiKeyByHash(hash)),
    workspace: (id) => deps.workspaces.fresh(id) ?? deps.workspaces.get(id, () => deps.store.catalog.getWorkspace(id)),
  };
  const authenticateRoute = async (req: FastifyRequest): Promise<void> => {
    if (req.routeOptions.config.instanceAdmin) {
      const admin = authenticateInstanceAdmin(deps.config.adminKey, req);
      if (!admin.ok) throw new FlowgateError(admin.error);
      return;
    }
    const r = await authenticate(lookups, req, req.routeOptions.config.scope!);
    if (!r.ok) throw new FlowgateError(r.error);
    req.apiKey = r.value;
  };
  // Authentication is the first preHandler of the routes that declare a key (`config.scope` or
  // `config.instanceAdmin`); public routes (webhook URLs, docs, health) do not run it at all.
  app.addHook('onRoute', (route) => {
    const config = route.config as FastifyContextConfig | undefined;
    if (!config?.scope && !config?.instanceAdmin) return;
    const own = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
    route.preHandler = [authenticateRoute, ...own];
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Flowgate',
        version: '0.1.0',
        description: [
          'Deterministic agent workflows as reliable APIs and webhooks. Every /v1 response is the Refly envelope `{success, errCode?, errMsg?, traceId, data?}`.',
          '',
          "Guides (in the repository's `docs/` folder, linked from its README): `api.md` (every endpoint, scopes, pagination), `webhooks.md` and `senders.md` (webhook triggers, Stripe, GitHub, Svix), `events.md` (signed outbound events), `files.md`, `workflows.md` (the definition format), `failure-handling.md` (finding and replaying failed runs), `reliability.md`, `cli.md`, `mcp.md` (workflows as MCP tools at `POST /mcp`), `console.md` (the web console at `/ui`), `configuration.md`, `deployment.md`, and `errors.md` (every error code).",
        ].join('\n'),
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'An API key; also accepted as X-API-Key or X-Refly-Api-Key' },
          instanceAdmin: { type: 'http', scheme: 'bearer', description: 'The instance admin key (FLOWGATE_ADMIN_KEY); only /v1/workspaces accepts it' },
        },
      },
    },
    transform: ({ schema, url, route }) => {
      const { scope, instanceAdmin, pathParam } = (route.config ?? {}) as { scope?: Scope; instanceAdmin?: boolean; pathParam?: 'canvasId' | 'executionId' };
      const s = { ...(schema as Record<string, unknown>) };
      if (scope) s.security = [{ bearer: [] }];
      if (instanceAdmin) s.security = [{ instanceAdmin: [] }];
      if (pathParam) {
        s.params = Type.Object({ [pathParam]: Type.String({ minLength: 1, maxLength: 128, description: pathParam === 'canvasId' ? 'The workflow (c-…)' : 'The execution (we-…)' }) });
        return { schema: s as typeof schema, url: url.replace(':id', `:${pathParam}`) };
      }
      return { schema: s as typeof schema, url };
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(opsRoutes(deps));
  await app.register(workflowRoutes(deps));
  await app.register(workflowCatalogRoutes(deps));
  await app.register(runRoutes(deps));
  await app.register(executionRoutes(deps));
  await app.register(apiKeyRoutes(deps));
  await app.register(workspaceRoutes(deps));
  await app.register(webhookRoutes(deps));
  await app.register(eventEndpointRoutes(deps));
  await app.register(fileRoutes(deps));
  await app.register(mcpRoutes(deps));
  await app.register(consoleRoutes());
  return app;
}
