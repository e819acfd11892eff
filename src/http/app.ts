import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import YAML from 'yaml';
import type { Config } from '../config.ts';
import type { Bus } from '../engine/bus.ts';
import { failure, FlowgateError, type Failure } from '../errors.ts';
import { newTraceId } from '../ids.ts';
import type { Metrics } from '../metrics.ts';
import type { RunTrigger } from '../runs/trigger.ts';
import type { GroupCommitter } from '../runs/groupCommit.ts';
import type { ReadCache } from '../runs/readCache.ts';
import type { FileStorage } from '../files/storage.ts';
import multipart from '@fastify/multipart';
import { fileRoutes } from './routes/files.ts';
import type { RateLimits } from '../ingest/rateLimit.ts';
import { parseForm } from '../ingest/webhookCall.ts';
import type { ApiKeyRecord, Scope, Store, WebhookRecord, WorkflowRecord } from '../store/store.ts';
import { isStoreUnavailable } from '../store/unavailable.ts';
import { authenticate } from './auth.ts';
import { sendFailure } from './envelope.ts';
import { apiKeyRoutes } from './routes/apiKeys.ts';
import { executionRoutes } from './routes/executions.ts';
import { opsRoutes } from './routes/ops.ts';
import { runRoutes } from './routes/runs.ts';
import { workflowCatalogRoutes } from './routes/workflowCatalog.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { eventEndpointRoutes } from './routes/eventEndpoints.ts';
import { workflowRoutes } from './routes/workflows.ts';

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
    // Our onResponse hook logs one line per request with the route and latency instead.
    logController: new LogController({ requestIdLogLabel: 'traceId', disableRequestLogging: true }),
    bodyLimit: deps.config.bodyLimit,
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorateRequest('apiKey', null as unknown as ApiKeyRecord);
  registerBodyParsers(app);
  registerErrorHandling(app);

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-trace-id', req.id);
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    deps.metrics.httpDuration.observe({ method: req.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    req.log.info({ method: req.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
  });
  app.addHook('preHandler', async (req) => {
    const scope = req.routeOptions.config.scope;
    if (!scope) return;
    const r = await authenticate(deps.store, req, scope);
    if (!r.ok) throw new FlowgateError(r.error);
    req.apiKey = r.value;
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Flowgate',
        version: '0.1.0',
        description: 'Deterministic agent workflows as reliable APIs and webhooks. Every /v1 response is the Refly envelope `{success, errCode?, errMsg?, traceId, data?}`; error codes are listed in docs/errors.md.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'An API key; also accepted as X-API-Key or X-Refly-Api-Key' },
        },
      },
    },
    transform: ({ schema, url, route }) => {
      const scope = (route.config as { scope?: Scope } | undefined)?.scope;
      const s = { ...(schema as Record<string, unknown>) };
      if (scope) s.security = [{ bearer: [] }];
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
  await app.register(webhookRoutes(deps));
  await app.register(eventEndpointRoutes(deps));
  await app.register(multipart, { throwFileSizeLimit: true });
  await app.register(fileRoutes(deps));
  return app;
}

function registerBodyParsers(app: App): void {
  // Our own JSON parser keeps the raw bytes (idempotency fingerprints, webhook signatures) and
  // accepts an empty body, which Refly's run endpoint allows.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(/^application\/([\w.+-]+\+)?json$/, { parseAs: 'buffer' }, (req, body, done) => {
    const buf = body as Buffer;
    req.rawBody = buf;
    if (buf.length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(buf.toString('utf8')));
    } catch (e) {
      done(new FlowgateError(failure('INVALID_REQUEST_BODY', `Malformed JSON: ${(e as Error).message}`)), undefined);
    }
  });
  // Form posts exist for webhook senders that cannot send JSON (raw body mode).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, (req, body, done) => {
    req.rawBody = body as Buffer;
    done(null, parseForm((body as Buffer).toString('utf8')));
  });
  app.addContentTypeParser(['application/yaml', 'application/x-yaml', 'text/yaml'], { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, YAML.parse(body as string));
    } catch (e) {
      done(new FlowgateError(failure('INVALID_REQUEST_BODY', `Malformed YAML: ${(e as Error).message}`)), undefined);
    }
  });
}

/** Maps Fastify's own errors onto our codes so that every failure is one of SPEC §3's. */
function toFailure(err: FastifyError, bodyLimit: number): Failure {
  if (err.validation) return failure('INVALID_REQUEST_BODY', `${err.validationContext ?? 'request'} ${err.message}`);
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return failure('PAYLOAD_TOO_LARGE', `Request body exceeds the limit of ${bodyLimit} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? failure('UNSUPPORTED_MEDIA_TYPE', 'Send application/json (or YAML for workflow definitions)')
        : failure('INVALID_REQUEST_BODY', err.message);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return failure('INVALID_REQUEST_BODY', err.message);
  }
  if (err.statusCode === 413) return failure('PAYLOAD_TOO_LARGE');
  if (err.statusCode === 415) return failure('UNSUPPORTED_MEDIA_TYPE');
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return failure('INVALID_REQUEST_BODY', err.message);
  return failure('INTERNAL_ERROR');
}

function registerErrorHandling(app: App): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof FlowgateError) {
      return sendFailure(req, reply, { code: err.code, message: err.message, data: err.data }, err.headers);
    }
    if (isStoreUnavailable(err)) {
      req.log.error({ err }, 'store unavailable');
      return sendFailure(req, reply, failure('SERVICE_UNAVAILABLE'), { 'retry-after': '1' });
    }
    const f = toFailure(err, app.initialConfig.bodyLimit ?? 0);
    // 5xx never carry internal details to the caller; the log has them, keyed by traceId.
    if (f.code === 'INTERNAL_ERROR') req.log.error({ err }, 'unhandled error');
    return sendFailure(req, reply, f);
  });
  app.setNotFoundHandler((req, reply) => sendFailure(req, reply, failure('NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}`)));
}
