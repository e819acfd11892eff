import { createRequire } from 'node:module';
import { DEMO_MODEL_URL } from './engine/tasks/demoModel.ts';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { LocalDiskStorage } from './files/storage.ts';
import { ensureBootstrapKey, loadWorkflows, type LoadedWorkflow } from './bootstrap.ts';
import type { Config } from './config.ts';
import { Bus } from './engine/bus.ts';
import { Worker } from './engine/worker.ts';
import { Dispatcher } from './delivery/dispatcher.ts';
import { buildApp, type App } from './http/app.ts';
import { Metrics } from './metrics.ts';
import { RateLimits } from './ingest/rateLimit.ts';
import { Backpressure } from './runs/backpressure.ts';
import { RunTrigger } from './runs/trigger.ts';
import { GroupCommitter } from './runs/groupCommit.ts';
import { ReadCache } from './runs/readCache.ts';
import { openStore } from './store/index.ts';
import type { ApiKeyRecord, Store, WebhookRecord, WorkflowRecord, WorkspaceRecord } from './store/store.ts';

export interface Server {
  app: App;
  config: Config;
  store: Store;
  worker?: Worker;
  /** Delivers outbound events; runs wherever the worker runs. */
  dispatcher?: Dispatcher;
  /** Where it listens, e.g. http://127.0.0.1:8080 */
  url: string;
  /** Printed once on the very first start when no FLOWGATE_API_KEY is set. */
  firstStartKey?: string;
  workflows: LoadedWorkflow[];
  /** Graceful stop: stop accepting, let nodes finish within the grace period, release leases. */
  close(): Promise<void>;
}

export function createLogger(config: Pick<Config, 'logLevel' | 'logFormat'>): Logger {
  const options = {
    level: config.logLevel,
    // Secrets never reach the log, even if a future log line includes headers.
    redact: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers["x-refly-api-key"]', '*.secret', '*.apiKey'],
  };
  if (config.logFormat !== 'pretty') return pino(options);
  // Loaded only when asked for; in-process (no worker thread), local times, colours on a terminal.
  const pretty = createRequire(import.meta.url)('pino-pretty') as (o: Record<string, unknown>) => NodeJS.WritableStream;
  return pino(options, pretty({ colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true, sync: true }));
}

/** The chaos benchmark's fault: die between a commit and its answers, as a power cut would. */
function killAfterCommits(n: number | undefined, logger: Logger): ((items: number) => void) | undefined {
  if (!n) return undefined;
  logger.warn({ commits: n }, 'FLOWGATE_FAULT_KILL_AFTER_COMMITS is set: this process will kill itself (testing only)');
  let left = n;
  return () => {
    if (--left === 0) process.kill(process.pid, 'SIGKILL');
  };
}

export interface StartOptions {
  /**
   * Called as soon as a first-start admin key is created, before anything that can still fail (binding
   * the port): the key is stored hashed, so if it were shown only after, a failed start would lose it.
   */
  onFirstStartKey?: (key: string) => void;
}

/** A broken connection's error as logged: its message and code only, since pg's error carries its whole client, settings included. */
const pgError = (err: Error) => ({ message: err.message, code: (err as { code?: string }).code });

/** Opens the store, migrates, bootstraps, builds the app and starts the worker as the role asks. */
export async function startServer(config: Config, logger: Logger = createLogger(config), opts: StartOptions = {}): Promise<Server> {
  if (config.model.baseUrl === DEMO_MODEL_URL) logger.warn('FLOWGATE_MODEL_BASE_URL=demo: agent tasks get canned answers from the demo model, not from a real model (development only)');
  const store = await openStore(config, (err, where) =>
    logger.warn(
      { err: pgError(err), where },
      where === 'pool' ? 'a PostgreSQL connection broke while idle; the pool opens another when needed' : 'lost the connection that listens for wake-ups; reconnecting (until then, polling)',
    ),
  );
  await store.migrate();
  const now = Date.now();
  const firstStartKey = await ensureBootstrapKey(store, config, now);
  if (firstStartKey) opts.onFirstStartKey?.(firstStartKey);
  const workflows = config.workflowsPath ? await loadWorkflows(store, config.workflowsPath, now, logger) : [];

  const bus = new Bus();
  const metrics = new Metrics(store, Date.now);
  const backpressure = new Backpressure(store, config.maxBacklog);
  const commits = new GroupCommitter(store.runs, undefined, killAfterCommits(config.faultKillAfterCommits, logger), store.singleProcess ? 1 : 2);
  const workflowCache = new ReadCache<WorkflowRecord>();
  const webhookCache = new ReadCache<WebhookRecord>();
  const workspaceCache = new ReadCache<WorkspaceRecord>();
  const apiKeyCache = new ReadCache<ApiKeyRecord>();
  const trigger = new RunTrigger({ store, commits, workflows: workflowCache, config, bus, metrics, backpressure });
  // Shared counters across instances when Redis is configured; failing fast keeps a Redis outage
  // from stalling requests (the in-memory limiter stands in).
  // Both clients are loaded only when configured: most single-node installs need neither.
  const redis = config.redisUrl
    ? new (await import('ioredis')).Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false })
    : undefined;
  redis?.on('error', (err) => logger.warn({ err }, 'redis unavailable; rate limits fall back to this process'));
  // Without Redis, processes sharing PostgreSQL count in it; a small pool keeps it off the store's.
  const rateLimitPool =
    !redis && config.databaseUrl
      ? new (await import('pg')).default.Pool({ connectionString: config.databaseUrl, max: 4, ...(config.databaseSchema ? { options: `-c search_path=${config.databaseSchema}` } : {}) })
      : undefined;
  rateLimitPool?.on('error', (err) => logger.warn({ err: pgError(err) }, 'a rate-limit connection broke while idle; the pool opens another when needed'));
  const rateLimits = new RateLimits({ redis, postgres: rateLimitPool && { pool: rateLimitPool, schema: config.databaseSchema }, keyPrefix: config.redisKeyPrefix });
  const storage = new LocalDiskStorage(path.join(config.dataDir, 'files'));
  const fileLinkSecret = await store.catalog.setting('file_link_secret', randomBytes(32).toString('hex'));
  const closing = new AbortController();
  const app = await buildApp({ store, config, logger, bus, metrics, trigger, commits, workflows: workflowCache, webhooks: webhookCache, workspaces: workspaceCache, apiKeys: apiKeyCache, rateLimits, storage, fileLinkSecret, closing: closing.signal });
  const worker = config.role === 'api' ? undefined : new Worker({ store, config, logger, bus, metrics, storage });
  await worker?.start();
  const dispatcher = config.role === 'api' ? undefined : new Dispatcher({ store, config, logger, metrics });
  await dispatcher?.start();
  const url = config.role === 'worker' ? '' : await app.listen({ port: config.port, host: config.host });

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      closing.abort();
      // Nodes in flight and open requests share one grace period, so the whole stop fits in it (plus
      // the worker's last commit and release), well inside the process's deadline of grace + 5 s.
      const stopping = Promise.all([worker?.stop(config.shutdownGraceMs), dispatcher?.stop(config.shutdownGraceMs)]);
      // Idle keep-alive sockets close at once; requests still open after the grace period (a slow
      // client, a stuck handler) are cut so that close() always ends.
      const cut = setTimeout(() => app.server.closeAllConnections(), config.shutdownGraceMs);
      await app.close();
      clearTimeout(cut);
      await commits.drain();
      await stopping;
      redis?.disconnect();
      await rateLimitPool?.end();
      await store.close();
    })());
  return { app, config, store, worker, dispatcher, url, firstStartKey, workflows, close };
}
