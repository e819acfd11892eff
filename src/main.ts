import { Command } from 'commander';
import { loadConfig, type Config } from './config.ts';
import { createLogger, startServer } from './server.ts';

/**
 * `flowgate serve` (the default): start the server. Flags override environment variables, which
 * override defaults (see src/config.ts and docs/configuration.md).
 */
const program = new Command()
  .name('flowgate')
  .description('Deterministic agent workflows as reliable APIs and webhooks')
  .addHelpText('after', '\nEnvironment: PORT, HOST, FLOWGATE_DATA_DIR, DATABASE_URL, FLOWGATE_API_KEY, FLOWGATE_WORKFLOWS, FLOWGATE_ROLE, … (docs/configuration.md)');

program
  .command('serve', { isDefault: true })
  .description('Start the API and the worker')
  .option('-p, --port <port>', 'port to listen on (PORT)')
  .option('--host <host>', 'address to listen on (HOST)')
  .option('-w, --workflows <path>', 'file or folder of workflow definitions to load (FLOWGATE_WORKFLOWS)')
  .option('-d, --data-dir <dir>', 'SQLite file and uploads (FLOWGATE_DATA_DIR)')
  .action(async (opts: { port?: string; host?: string; workflows?: string; dataDir?: string }) => {
    const overrides: Partial<Config> = {};
    if (opts.port) overrides.port = Number(opts.port);
    if (opts.host) overrides.host = opts.host;
    if (opts.workflows) overrides.workflowsPath = opts.workflows;
    const env = { ...process.env };
    if (opts.dataDir) env.FLOWGATE_DATA_DIR = opts.dataDir;
    const config = loadConfig(env, overrides);
    const logger = createLogger(config);
    const server = await startServer(config, logger);
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

function printBanner(url: string, key: string | undefined, canvasIds: string[], config: Config): void {
  const lines = [`Flowgate listening on ${url} (store: ${config.databaseUrl ? 'postgres' : `sqlite in ${config.dataDir}`})`];
  if (key) lines.push('', 'First start: an admin API key was created. It is shown only this once:', `  ${key}`);
  const shownKey = key ?? (config.apiKey ? '$FLOWGATE_API_KEY' : '<your API key>');
  if (canvasIds.length) {
    const id = canvasIds[0];
    lines.push(
      '',
      `Try it (workflow ${id}):`,
      `  curl -s -X POST '${url}/v1/openapi/workflow/${id}/run?wait=10' -H 'Authorization: Bearer ${shownKey}' -H 'Content-Type: application/json' -d '{"variables":{"feedback":"The new dashboard is great"}}'`,
    );
  }
  lines.push('', `API docs: ${url}/docs`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

program.parseAsync().catch((e: unknown) => {
  process.stderr.write(`flowgate: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
