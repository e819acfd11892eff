import { createServer, type IncomingMessage } from 'node:http';
import type { Command } from 'commander';
import { Webhook } from 'standardwebhooks';
import { enc } from '../client/api.ts';
import { CliError, ctxOf, must, positiveInt, print, table, UsageError } from './context.ts';

interface Endpoint {
  id: string;
  url: string;
  enabled: boolean;
  eventTypes: string[] | null;
  description: string | null;
  disabledReason?: string | null;
}

interface Message {
  id: string;
  eventType: string;
  executionId?: string | null;
  status: string;
  attempts: { httpStatus?: number | null; error?: string | null }[];
  createdAt: string;
}

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });

/** The Standard Webhooks headers a receiver needs to verify what it is forwarded. */
const PASSED_ON = ['webhook-id', 'webhook-timestamp', 'webhook-signature', 'content-type'];

export function registerEvents(program: Command): void {
  const ev = program.command('events').description('Outbound events: endpoints, messages, replay, and a local listener');

  ev.command('endpoints')
    .description('Event endpoints of the workspace')
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const r = must(await ctx.client.get<{ endpoints: Endpoint[] }>('/v1/event-endpoints'));
      print(ctx, r, () =>
        r.endpoints.length === 0
          ? 'no event endpoints'
          : table([['ID', 'STATE', 'EVENTS', 'URL'], ...r.endpoints.map((e) => [e.id, e.enabled ? 'enabled' : `disabled${e.disabledReason ? ` (${e.disabledReason})` : ''}`, e.eventTypes?.join(',') ?? 'all', e.url])]),
      );
    });

  ev.command('messages <endpointId>')
    .description('Messages sent (or being sent) to an endpoint, newest first, with their attempts')
    .option('--status <status>', 'pending | delivering | succeeded | failed | skipped')
    .option('--limit <n>', 'how many (≤ 100)', positiveInt('--limit'), 20)
    .action(async (endpointId: string, opts: { status?: string; limit: number }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const r = must(await ctx.client.get<{ messages: Message[]; nextCursor: string | null }>(`/v1/event-endpoints/${enc(endpointId)}/messages`, { status: opts.status, limit: Math.min(opts.limit, 100) }));
      print(ctx, r, () =>
        r.messages.length === 0
          ? 'no messages'
          : table([
              ['MESSAGE', 'EVENT', 'STATUS', 'ATTEMPTS', 'LAST', 'EXECUTION'],
              ...r.messages.map((m) => {
                const last = m.attempts[m.attempts.length - 1];
                return [m.id, m.eventType, m.status, String(m.attempts.length), last ? (last.httpStatus ? `HTTP ${last.httpStatus}` : (last.error ?? '')) : '', m.executionId ?? ''];
              }),
            ]),
      );
    });

  ev.command('replay <messageId>')
    .description('Send a message again (same webhook-id, fresh schedule)')
    .action(async (messageId: string, _o: unknown, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const r = must(await ctx.client.post<{ replayed: boolean }>(`/v1/messages/${enc(messageId)}/replay`));
      print(ctx, r, () => (r.replayed ? `replaying ${messageId}` : `${messageId} is still pending; nothing to replay`));
    });

  ev.command('listen')
    .description('Receive the workspace\'s events on this machine: a temporary endpoint, each delivery verified, printed and forwarded')
    .option('--forward-to <url>', 'POST each verified event there, with its webhook-* headers (its status is what Flowgate sees)')
    .option('--events <types>', 'comma-separated event types (default: all)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (default: any free one)', positiveInt('--port'))
    .option('--public-url <url>', 'the URL Flowgate should call, when it cannot reach this machine directly (a tunnel)')
    .option('--count <n>', 'stop after this many events', positiveInt('--count'))
    .action(async (opts: { forwardTo?: string; events?: string; host: string; port?: number; publicUrl?: string; count?: number }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      if (opts.forwardTo && !/^https?:\/\//.test(opts.forwardTo)) throw new UsageError(`--forward-to must be an http(s) URL (got "${opts.forwardTo}")`);
      let verifier: Webhook | undefined;
      let taken = 0;
      let seen = 0;
      let finish: (() => void) | undefined;
      const done = new Promise<void>((r) => (finish = r));

      const server = createServer(async (req, res) => {
        // Past --count, deliveries are refused so Flowgate keeps them for whoever listens next.
        if (opts.count && taken >= opts.count) return void res.writeHead(503).end();
        taken++;
        const body = await readBody(req);
        let event: { type?: string; data?: { executionId?: string } };
        try {
          if (!verifier) throw new Error('not ready');
          event = verifier.verify(body, req.headers as Record<string, string>) as typeof event;
        } catch (e) {
          taken--;
          process.stderr.write(`rejected a request: ${(e as Error).message} (not signed with this listener's secret)\n`);
          res.writeHead(400).end();
          return;
        }
        let status = 204;
        let forwarded = '';
        if (opts.forwardTo) {
          const headers: Record<string, string> = {};
          for (const h of PASSED_ON) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h] as string;
          try {
            const f = await fetch(opts.forwardTo, { method: 'POST', headers, body });
            status = f.status;
            forwarded = ` → ${opts.forwardTo} ${f.status}`;
          } catch (e) {
            status = 502;
            forwarded = ` → ${opts.forwardTo} unreachable (${(e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message})`;
          }
        }
        res.writeHead(status >= 200 && status < 300 ? 200 : status >= 500 ? status : 502).end();
        const id = req.headers['webhook-id'];
        if (ctx.json) process.stdout.write(`${JSON.stringify({ webhookId: id, forwardStatus: opts.forwardTo ? status : undefined, event })}\n`);
        else process.stdout.write(`${new Date().toISOString()} ${event.type ?? 'event'} ${event.data?.executionId ?? ''} [${id}]${forwarded}\n`);
        if (opts.count && ++seen >= opts.count) finish!();
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) => reject(new CliError(e.code === 'EADDRINUSE' ? `port ${opts.port} is in use: pick another --port` : e.message)));
        server.listen(opts.port ?? 0, opts.host, resolve);
      });
      const port = (server.address() as { port: number }).port;
      const url = opts.publicUrl ?? `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}/`;
      const created = await ctx.client.post<Endpoint & { secret: string }>('/v1/event-endpoints', {
        url,
        description: `flowgate events listen (temporary, pid ${process.pid})`,
        ...(opts.events ? { eventTypes: opts.events.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
      });
      if (!created.ok) {
        server.close();
        if (created.error.code === 'ENDPOINT_URL_REFUSED') {
          throw new CliError(`Flowgate refuses to send events to ${url} (${created.error.message}). On one machine, start the server with FLOWGATE_ALLOW_PRIVATE_NETWORKS=true; otherwise pass --public-url with an address it can reach`);
        }
        must(created);
        return;
      }
      const endpoint = created.value;
      verifier = new Webhook(endpoint.secret);
      process.stderr.write(`Ready: events for ${ctx.url} arrive at ${url} (endpoint ${endpoint.id})${opts.forwardTo ? `, forwarded to ${opts.forwardTo}` : ''}. Ctrl-C to stop.\n`);

      const stop = () => finish!();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await done;
      // The endpoint was only for this session: remove it so nothing piles up for a listener that is gone.
      const removed = await ctx.client.del(`/v1/event-endpoints/${enc(endpoint.id)}`);
      server.closeAllConnections();
      server.close();
      if (!removed.ok) throw new CliError(`could not remove the temporary endpoint ${endpoint.id}: ${removed.error.message}`);
      process.stderr.write(`Stopped; endpoint ${endpoint.id} removed.\n`);
    });
}
