import './runtime.ts';
import { Command, CommanderError } from 'commander';
import { loadConfig, type Config } from './config.ts';
import { createLogger, startServer } from './server.ts';
import { createKeyOffline, KeyOptionsError, parseScopes } from './cli/keysCreate.ts';
import { CliError, UsageError } from './cli/context.ts';
import { registerEvents } from './cli/events.ts';
import { registerExecutions } from './cli/executions.ts';
import { createKeyRemote, registerKeyClientCommands } from './cli/keys.ts';
import { registerLogin } from './cli/login.ts';
import { registerMcp } from './cli/mcp.ts';
import { registerRun } from './cli/run.ts';
import { registerSkill } from './cli/skill.ts';
import { registerWebhooks } from './cli/webhooks.ts';
import { registerWorkflows } from './cli/workflows.ts';
import { VERSION } from './version.ts';

/**
 * `flowgate serve` (the default): start the server. Flags override environment variables, which
 * override defaults (see src/config.ts and docs/configuration.md).
 */
const program = new Command()
  .name('flowgate')
  .description('Deterministic agent workflows as reliable APIs and webhooks')
  .version(VERSION, '-V, --version')
  // Usage mistakes exit 2 (see the catch at the end), not commander's default 1.
  .exitOverride()
  .option('--url <url>', 'the Flowgate server for client commands (FLOWGATE_URL; default http://127.0.0.1:8080)')
  .option('--api-key <key>', 'API key for client commands (FLOWGATE_API_KEY)')
  .option('--profile <name>', 'a profile saved by `flowgate login` (FLOWGATE_PROFILE; default "default")')
  .option('--json', 'print JSON (one object, or one line per event) instead of text')
  .addHelpText('after', '\nServer environment: PORT, HOST, FLOWGATE_DATA_DIR, DATABASE_URL, FLOWGATE_API_KEY, FLOWGATE_WORKFLOWS, FLOWGATE_ROLE, … (docs/configuration.md)\nClient commands: docs/cli.md');

program
  .command('serve', { isDefault: true })
  .description('Start the API and the worker')
  .option('-p, --port <port>', 'port to listen on (PORT)')
  .option('--host <host>', 'address to listen on (HOST)')
  .option('-w, --workflows <path>', 'file or folder of workflow definitions to load (FLOWGATE_WORKFLOWS)')
  .option('-d, --data-dir <dir>', 'SQLite file and uploads (FLOWGATE_DATA_DIR)')
  // `serve` is the default command, so a mistyped command name arrives here as an argument.
  .allowExcessArguments(true)
  .action(async (opts: { port?: string; host?: string; workflows?: string; dataDir?: string }, cmd: Command) => {
    const unknown = cmd.args;
    if (unknown.length) throw new UsageError(`unknown command "${unknown[0]}": flowgate --help lists the commands`);
    const overrides: Partial<Config> = {};
    if (opts.port !== undefined) {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new UsageError(`--port must be a whole number from 0 to 65535 (got "${opts.port}")`);
      overrides.port = port;
    }
    if (opts.host) overrides.host = opts.host;
    if (opts.workflows) overrides.workflowsPath = opts.workflows;
    const env = { ...process.env };
    if (opts.dataDir) env.FLOWGATE_DATA_DIR = opts.dataDir;
    const config = loadConfig(env, overrides);
    const logger = createLogger(config);
    const server = await startServer(config, logger, { onFirstStartKey: printFirstStartKey }).catch((e: unknown) => {
      throw explainStartFailure(e, config);
    });
    printBanner(server.url, server.firstStartKey, server.workflows.map((w) => w.canvasId), config);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down: no new requests, finishing nodes in flight');
      // Whatever is still open by then (a hung downstream, a stuck close), the process ends.
      const deadlineMs = config.shutdownGraceMs + 5000;
      setTimeout(() => {
        logger.error({ deadlineMs }, 'shutdown did not finish in time; exiting');
        process.exit(1);
      }, deadlineMs).unref();
      server.close().then(
        () => process.exit(0),
        (e) => {
          logger.error({ err: e }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });

const keys = program.command('keys').description('API keys');
keys
  .command('create')
  .description('Create an API key directly in the database (FLOWGATE_DATA_DIR or DATABASE_URL); works with the server stopped, e.g. when the only admin key is lost')
  .option('--admin', 'an admin key (same as --scopes admin)')
  .option('--scopes <list>', 'comma-separated scopes: run, read, admin', 'run,read')
  .option('--name <name>', 'a label to recognise the key by', 'created with flowgate keys create')
  .option('--workspace <id>', 'the workspace the key belongs to', 'ws-default')
  .option('-d, --data-dir <dir>', 'SQLite file and uploads (FLOWGATE_DATA_DIR)')
  .option('--remote', 'create it through the running server (FLOWGATE_URL, with an admin key) instead of in the database')
  .action(async (opts: { admin?: boolean; scopes?: string; name: string; workspace: string; dataDir?: string; remote?: boolean }, cmd: Command) => {
    if (opts.remote) return createKeyRemote(cmd, opts);
    const json = cmd.optsWithGlobals<{ json?: boolean }>().json === true;
    const env = { ...process.env };
    if (opts.dataDir) env.FLOWGATE_DATA_DIR = opts.dataDir;
    const config = loadConfig(env);
    try {
      const scopes = parseScopes(opts);
      const { record, secret } = await createKeyOffline(config, { workspaceId: opts.workspace, name: opts.name, scopes });
      const where = config.databaseUrl ? 'DATABASE_URL' : config.dataDir;
      process.stdout.write(
        json
          ? `${JSON.stringify({ id: record.id, workspaceId: record.workspaceId, scopes: record.scopes, secret })}\n`
          : `Created API key ${record.id} (${scopes.join(', ')}) in workspace ${record.workspaceId} of ${where}. It is shown only this once:\n  ${secret}\n`,
      );
    } catch (e) {
      throw e instanceof KeyOptionsError ? new UsageError(e.message) : explainStoreFailure(e);
    }
  });

registerKeyClientCommands(keys);
registerWorkflows(program);
registerRun(program);
registerExecutions(program);
registerWebhooks(program);
registerEvents(program);
registerSkill(program);
registerMcp(program);
registerLogin(program);

function printFirstStartKey(key: string): void {
  process.stdout.write(`First start: an admin API key was created. It is shown only this once:\n  ${key}\n\n`);
}

/** The errors a start commonly meets, as one line that says what to do. */
function explainStartFailure(e: unknown, config: Config): Error {
  const err = e as NodeJS.ErrnoException & { path?: string };
  if (err.code === 'EADDRINUSE') return new UsageError(`port ${config.port} on ${config.host} is already in use: stop the other process or pick another port (--port or PORT)`);
  if (err.code === 'EACCES' && err.syscall === 'listen') return new UsageError(`no permission to listen on port ${config.port}: use a port above 1023 (--port or PORT)`);
  if (err.code === 'ENOENT' && err.path) return new UsageError(`${err.path} does not exist (check --workflows / FLOWGATE_WORKFLOWS and --data-dir / FLOWGATE_DATA_DIR)`);
  return explainStoreFailure(e);
}

function explainStoreFailure(e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ECONNREFUSED') return new UsageError(`cannot reach the database at DATABASE_URL (${err.message}); is it running?`);
  return err instanceof Error ? err : new Error(String(e));
}

function printBanner(url: string, key: string | undefined, canvasIds: string[], config: Config): void {
  const store = config.databaseUrl ? 'postgres' : `sqlite in ${config.dataDir}`;
  if (config.role === 'worker') {
    process.stdout.write(`Flowgate worker running (store: ${store}); it serves no HTTP — start an API process (FLOWGATE_ROLE=api or all) to take requests\n`);
    return;
  }
  const lines = [`Flowgate ${config.role === 'api' ? 'API (no worker) ' : ''}listening on ${url} (store: ${store})`];
  // Double quotes, so that a shell expands $FLOWGATE_API_KEY when the line is pasted.
  const shownKey = key ?? (config.apiKey ? '$FLOWGATE_API_KEY' : '<your API key>');
  if (canvasIds.length) {
    const id = canvasIds[0];
    lines.push(
      '',
      `Try it (workflow ${id}):`,
      `  curl -s -X POST '${url}/v1/openapi/workflow/${id}/run?wait=10' -H "Authorization: Bearer ${shownKey}" -H 'Content-Type: application/json' -d '{"variables":{"feedback":"The new dashboard is great"}}'`,
    );
  }
  lines.push('', `Console: ${url}/ui (sign in with an API key)`, `API docs: ${url}/docs`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

program.parseAsync().catch((e: unknown) => {
  // One line for the user; the stack only when asked for (FLOWGATE_DEBUG=1).
  const err = e instanceof Error ? e : new Error(String(e));
  // Commander has printed its own message (or the help / version) already.
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2);
  process.stderr.write(`flowgate: ${process.env.FLOWGATE_DEBUG ? (err.stack ?? err.message) : err.message}\n`);
  process.exit(e instanceof UsageError ? 2 : e instanceof CliError ? e.exitCode : 1);
});
