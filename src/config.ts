import path from 'node:path';

/**
 * All configuration, parsed once. This is the only module that reads `process.env`.
 * Precedence: defaults < environment < explicit overrides (CLI flags, tests).
 */
export interface Config {
  /** Where the server listens. */
  port: number;
  host: string;
  /** SQLite file and uploaded files. */
  dataDir: string;
  /** `postgres://…` switches the store to PostgreSQL. */
  databaseUrl?: string;
  /** PostgreSQL schema to use (tests isolate themselves with one). */
  databaseSchema?: string;
  redisUrl?: string;
  /** Prefix of every Redis key (rate-limit counters), so several deployments can share one Redis. */
  redisKeyPrefix: string;
  /** If set, an admin key with this value exists in `ws-default`. */
  apiKey?: string;
  /**
   * The instance administrator's credential: it manages workspaces (`/v1/workspaces`) and nothing
   * else. Unset, workspace administration is off.
   */
  adminKey?: string;
  /** File or folder of workflow definitions upserted at start. */
  workflowsPath?: string;
  model: { baseUrl?: string; apiKey?: string; model?: string };
  /** Let `http` tasks reach loopback/private addresses (SSRF guard off). */
  allowPrivateNetworks: boolean;
  role: 'api' | 'worker' | 'all';
  /**
   * PostgreSQL connections in this process's store pool. By role: an API process needs about one per
   * concurrent request in a transaction, a worker one per claim/complete in flight (10 each), `all`
   * both (20). Each process also holds up to 2 LISTEN connections and 4 for shared rate limits.
   */
  dbPoolSize: number;
  /** Environment variables templates may read as `$env.NAME`, with their values. */
  templateEnv: Readonly<Record<string, string>>;
  /** Seconds before each delivery attempt of an outbound event; the first is usually 0. */
  deliveryRetrySchedule: number[];
  /** A delivery that has no 2xx answer within this is a failed attempt. */
  deliveryTimeoutMs: number;
  /** Outbound deliveries this process makes at once. */
  deliveryConcurrency: number;
  /** An endpoint failing continuously for this long is disabled (and `endpoint.disabled` is emitted). */
  endpointDisableAfterMs: number;
  /** How often webhooks with `expectedEvery` are checked for silence. */
  silenceCheckMs: number;
  rateLimitPerMinute: number;
  rateLimitPerDay: number;
  /** Unstarted executions past which new triggers get 503 SERVICE_OVERLOADED. */
  maxBacklog: number;
  /** `json` (one object per line, the default) or `pretty` (readable lines for development, through pino-pretty). */
  logFormat: 'json' | 'pretty';
  /** How long an MCP workflow tool waits for its run before answering with the executionId (0–60 s). */
  mcpWaitS: number;
  /** Max JSON body size in bytes. */
  bodyLimit: number;
  /** Deepest nesting of arrays and objects a JSON or YAML body may have (400 above; recursion stays bounded). */
  jsonMaxDepth: number;
  /** Longest a client may take to send a whole request, headers and body (408 after). */
  requestTimeoutMs: number;
  /**
   * Whether a trigger of a workflow made only of transform, condition and output tasks evaluates the
   * run itself and commits it finished, instead of queueing it for a worker.
   */
  evaluateOnAccept: boolean;
  /** Nodes this process runs at once. */
  workerConcurrency: number;
  /** How long a claimed node stays ours without a heartbeat. */
  leaseMs: number;
  /** How often the worker looks for work when nothing woke it. */
  pollMs: number;
  /** Default per-node timeout. */
  nodeTimeoutMs: number;
  /** Default per-execution timeout. */
  executionTimeoutMs: number;
  /** Consecutive failures that open a downstream host's circuit. */
  breakerThreshold: number;
  /** How long an open circuit stays open before one probe is let through. */
  breakerCoolOffMs: number;
  /** SIGTERM grace period for in-flight nodes. */
  shutdownGraceMs: number;
  /** Upload limits. */
  uploadMaxFiles: number;
  uploadMaxFileBytes: number;
  /** Unreferenced uploads are deleted this long after upload. */
  uploadTtlMs: number;
  /** How long a signed download link works. */
  fileLinkTtlS: number;
  /** Largest file `$fileText()` reads into a prompt or template. */
  fileTextMaxBytes: number;
  /** Largest response body an `http` task or a model call reads, in bytes. */
  maxResponseBytes: number;
  logLevel: string;
  /**
   * Testing only (`npm run chaos`): the process kills itself with SIGKILL right after its Nth group
   * commit, before that batch's answers are written. Unset in every real deployment.
   */
  faultKillAfterCommits?: number;
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, dflt: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got ${JSON.stringify(raw)}`);
  return n;
}

function logFormat(raw: string | undefined): 'json' | 'pretty' {
  if (raw === undefined || raw === '' || raw === 'json') return 'json';
  if (raw === 'pretty') return 'pretty';
  throw new Error(`FLOWGATE_LOG_FORMAT must be json or pretty, got ${JSON.stringify(raw)}`);
}

function bool(env: Env, name: string, dflt: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new Error(`${name} must be true or false, got ${JSON.stringify(raw)}`);
}

function secret(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  // A guessable instance credential would hand over every workspace.
  if (raw.length < 24) throw new Error(`${name} must be at least 24 characters (for example: openssl rand -hex 24)`);
  return raw;
}

function role(raw: string | undefined): Config['role'] {
  const r = raw ?? 'all';
  if (r === 'api' || r === 'worker' || r === 'all') return r;
  throw new Error(`FLOWGATE_ROLE must be api, worker or all, got ${JSON.stringify(r)}`);
}

function schedule(raw: string | undefined): number[] {
  const text = raw || '0,5,300,1800,7200,18000,36000,36000';
  const steps = text.split(',').map((s) => Number(s.trim()));
  if (steps.some((n) => !Number.isFinite(n) || n < 0)) {
    throw new Error(`FLOWGATE_DELIVERY_RETRY_SCHEDULE must be comma-separated seconds ≥ 0, got ${JSON.stringify(text)}`);
  }
  return steps;
}

export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Readonly<Config> {
  const templateEnvNames = (env.FLOWGATE_TEMPLATE_ENV ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const templateEnv: Record<string, string> = {};
  for (const name of templateEnvNames) if (env[name] !== undefined) templateEnv[name] = env[name]!;

  const config: Config = {
    port: int(env, 'PORT', 8080),
    host: env.HOST ?? '127.0.0.1',
    dataDir: path.resolve(env.FLOWGATE_DATA_DIR ?? './data'),
    databaseUrl: env.DATABASE_URL || undefined,
    databaseSchema: env.FLOWGATE_DATABASE_SCHEMA || undefined,
    redisUrl: env.REDIS_URL || undefined,
    redisKeyPrefix: env.FLOWGATE_REDIS_PREFIX || 'flowgate',
    apiKey: env.FLOWGATE_API_KEY || undefined,
    adminKey: secret(env, 'FLOWGATE_ADMIN_KEY'),
    workflowsPath: env.FLOWGATE_WORKFLOWS || undefined,
    model: {
      baseUrl: env.FLOWGATE_MODEL_BASE_URL || undefined,
      apiKey: env.FLOWGATE_MODEL_API_KEY || undefined,
      model: env.FLOWGATE_MODEL || undefined,
    },
    allowPrivateNetworks: bool(env, 'FLOWGATE_ALLOW_PRIVATE_NETWORKS', false),
    role: role(env.FLOWGATE_ROLE),
    dbPoolSize: int(env, 'FLOWGATE_DB_POOL_SIZE', role(env.FLOWGATE_ROLE) === 'all' ? 20 : 10),
    templateEnv: Object.freeze(templateEnv),
    deliveryRetrySchedule: schedule(env.FLOWGATE_DELIVERY_RETRY_SCHEDULE),
    deliveryTimeoutMs: int(env, 'FLOWGATE_DELIVERY_TIMEOUT_MS', 15_000),
    deliveryConcurrency: int(env, 'FLOWGATE_DELIVERY_CONCURRENCY', 16),
    endpointDisableAfterMs: int(env, 'FLOWGATE_ENDPOINT_DISABLE_AFTER_MS', 5 * 24 * 3600 * 1000),
    silenceCheckMs: int(env, 'FLOWGATE_SILENCE_CHECK_MS', 10_000),
    rateLimitPerMinute: int(env, 'FLOWGATE_RATE_LIMIT_PER_MINUTE', 100),
    rateLimitPerDay: int(env, 'FLOWGATE_RATE_LIMIT_PER_DAY', 10_000),
    mcpWaitS: Math.min(60, int(env, 'FLOWGATE_MCP_WAIT_S', 30)),
    bodyLimit: int(env, 'FLOWGATE_BODY_LIMIT', 1024 * 1024),
    jsonMaxDepth: int(env, 'FLOWGATE_JSON_MAX_DEPTH', 64),
    requestTimeoutMs: int(env, 'FLOWGATE_REQUEST_TIMEOUT_MS', 60_000),
    maxBacklog: int(env, 'FLOWGATE_MAX_BACKLOG', 10_000),
    evaluateOnAccept: bool(env, 'FLOWGATE_EVALUATE_ON_ACCEPT', true),
    workerConcurrency: int(env, 'FLOWGATE_WORKER_CONCURRENCY', 32),
    leaseMs: int(env, 'FLOWGATE_LEASE_MS', 30_000),
    pollMs: int(env, 'FLOWGATE_POLL_MS', 500),
    nodeTimeoutMs: int(env, 'FLOWGATE_NODE_TIMEOUT_MS', 60_000),
    executionTimeoutMs: int(env, 'FLOWGATE_EXECUTION_TIMEOUT_MS', 3_600_000),
    shutdownGraceMs: int(env, 'FLOWGATE_SHUTDOWN_GRACE_MS', 10_000),
    breakerThreshold: int(env, 'FLOWGATE_BREAKER_THRESHOLD', 5),
    breakerCoolOffMs: int(env, 'FLOWGATE_BREAKER_COOLOFF_MS', 30_000),
    maxResponseBytes: int(env, 'FLOWGATE_MAX_RESPONSE_BYTES', 10 * 1024 * 1024),
    uploadMaxFiles: int(env, 'FLOWGATE_UPLOAD_MAX_FILES', 10),
    uploadMaxFileBytes: int(env, 'FLOWGATE_UPLOAD_MAX_FILE_BYTES', 50 * 1024 * 1024),
    uploadTtlMs: int(env, 'FLOWGATE_UPLOAD_TTL_MS', 24 * 3600 * 1000),
    fileLinkTtlS: int(env, 'FLOWGATE_FILE_LINK_TTL_S', 3600),
    fileTextMaxBytes: int(env, 'FLOWGATE_FILE_TEXT_MAX_BYTES', 1024 * 1024),
    logLevel: env.LOG_LEVEL ?? 'info',
    logFormat: logFormat(env.FLOWGATE_LOG_FORMAT),
    faultKillAfterCommits: env.FLOWGATE_FAULT_KILL_AFTER_COMMITS ? int(env, 'FLOWGATE_FAULT_KILL_AFTER_COMMITS', 0) : undefined,
    ...overrides,
  };
  return Object.freeze(config);
}
