import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { enc, FlowgateClient } from '../client/api.ts';
import { CliError, ctxOf, must, positiveInt, print, table, UsageError, type Ctx } from './context.ts';

interface Webhook {
  webhookId: string;
  webhookUrl: string;
  canvasId: string;
  isEnabled: boolean;
}

/** A webhook named by its id (wh_…) or by its workflow's canvasId. */
async function webhookIdOf(ctx: Ctx, idOrCanvas: string): Promise<string> {
  if (idOrCanvas.startsWith('wh_')) return idOrCanvas;
  const w = must(await ctx.client.get<Webhook | undefined>('/v1/webhook/config', { canvasId: idOrCanvas }));
  if (!w) throw new CliError(`workflow ${idOrCanvas} has no webhook: flowgate webhooks enable ${idOrCanvas}`);
  return w.webhookId;
}

function readData(data: string): string {
  if (!data.startsWith('@')) return data;
  try {
    return readFileSync(data.slice(1), 'utf8');
  } catch (e) {
    throw new UsageError(`--data ${data}: ${(e as Error).message}`);
  }
}

export function registerWebhooks(program: Command): void {
  const wh = program.command('webhooks').description("A workflow's webhook: enable, disable, reset, call, history");

  wh.command('enable <canvasId>')
    .description('Enable (and on first use create) the workflow\'s webhook; prints its URL')
    .action(async (canvasId: string, _o: unknown, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const w = must(await ctx.client.post<Webhook>('/v1/webhook/enable', { canvasId }));
      print(ctx, w, () => `${w.webhookUrl}\n(anyone with this URL can start runs: keep it secret)`);
    });

  for (const [name, desc] of [
    ['disable', 'Disable a webhook (calls answer 403 WEBHOOK_DISABLED)'],
    ['reset', 'Replace the webhook id: the old URL stops working at once; prints the new URL'],
  ] as const) {
    wh.command(`${name} <webhookIdOrCanvasId>`)
      .description(desc)
      .action(async (target: string, _o: unknown, cmd: Command) => {
        const ctx = ctxOf(cmd);
        const webhookId = await webhookIdOf(ctx, target);
        const r = must(await ctx.client.post<Partial<Webhook>>(`/v1/webhook/${name}`, { webhookId }));
        print(ctx, r, () => (name === 'reset' ? `new URL: ${r.webhookUrl}` : `disabled ${webhookId}`));
      });
  }

  wh.command('call <webhookId>')
    .description('Call a webhook as a sender would (no API key: the id is the credential)')
    .option('--data <json|@file>', 'the body: JSON text, or @file', '{}')
    .option('--header <name:value...>', 'extra request headers (e.g. Idempotency-Key:abc)')
    .action(async (webhookId: string, opts: { data: string; header?: string[] }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const headers: Record<string, string> = {};
      for (const h of opts.header ?? []) {
        const i = h.indexOf(':');
        if (i < 1) throw new UsageError(`--header takes name:value (got "${h}")`);
        headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
      }
      const body = readData(opts.data);
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        throw new UsageError('--data must be JSON (or @file holding JSON)');
      }
      const anonymous = new FlowgateClient({ baseUrl: ctx.url });
      const r = must(await anonymous.post<{ executionId: string; status: string; duplicate: boolean }>(`/v1/openapi/webhook/${enc(webhookId)}/run`, parsed, { headers }));
      print(ctx, r, () => `${r.executionId}${r.duplicate ? ' (duplicate: the first call\'s run)' : ''}`);
    });

  wh.command('history <webhookIdOrCanvasId>')
    .description('Every call to the webhook, accepted or rejected, newest first')
    .option('--page <n>', 'page (20 a page)', positiveInt('--page'), 1)
    .action(async (target: string, opts: { page: number }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const webhookId = await webhookIdOf(ctx, target);
      const r = must(await ctx.client.get<{ records: { createdAt: string; httpStatus: number; callStatus: string; executionId?: string; errCode?: string; duplicate: boolean }[]; total: number }>('/v1/webhook/history', { webhookId, page: opts.page, pageSize: 20 }));
      print(ctx, r, () =>
        r.records.length === 0
          ? 'no calls yet'
          : table([['RECEIVED', 'HTTP', 'RESULT', 'EXECUTION', 'ERROR'], ...r.records.map((c) => [c.createdAt, String(c.httpStatus), c.callStatus + (c.duplicate ? ' (dup)' : ''), c.executionId ?? '', c.errCode ?? ''])]) + `\n${r.total} call(s)`,
      );
    });
}
