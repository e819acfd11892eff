import type { Command } from 'commander';
import { enc } from '../client/api.ts';
import { EXECUTION_STATUSES, TRIGGERS } from '../store/store.ts';
import { CliError, ctxOf, must, parseSince, positiveInt, print, table, UsageError, type Ctx } from './context.ts';
import { followExecution } from './events-stream.ts';
import { waitAndReport } from './run.ts';

interface Summary {
  executionId: string;
  canvasId: string;
  status: string;
  trigger: string;
  createdAt: string;
  errCode?: string | null;
}


/** A progress bar on a terminal, a line per step elsewhere. */
function bar(done: number, total: number): string {
  const width = 30;
  const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : width;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}`;
}

async function bulkRetry(ctx: Ctx, opts: { workflow?: string; since?: string; until?: string }): Promise<void> {
  if (!opts.since) throw new UsageError('executions retry --failed needs --since (for example --since 24h)');
  const filter = { canvasId: opts.workflow, since: opts.since, until: opts.until };
  const counts = must(await ctx.client.get<{ counts: Record<string, number> }>('/v1/executions/counts', filter));
  // Each pass retries up to 100, newest first; runs that fail again at once could come back, so the
  // number failed at the start bounds the passes.
  const total = counts.counts.failed ?? 0;
  const tty = process.stderr.isTTY === true && !ctx.json;
  const ids: string[] = [];
  while (ids.length < total) {
    const r = must(await ctx.client.post<{ retried: number; executionIds: string[]; more: boolean }>('/v1/executions/retry', { status: 'failed', ...filter, limit: Math.min(100, total - ids.length) }));
    ids.push(...r.executionIds);
    if (!ctx.json) process.stderr.write(tty ? `\r${bar(ids.length, total)}` : `retried ${ids.length}/${total}\n`);
    if (!r.more || r.retried === 0) break;
  }
  if (tty) process.stderr.write('\n');
  print(ctx, { retried: ids.length, executionIds: ids }, () => `retried ${ids.length} failed execution(s)`);
}

export function registerExecutions(program: Command): void {
  const ex = program.command('executions').description('Runs: list, status, output, follow, abort, retry');

  ex.command('list')
    .description('Executions newest first, across workflows')
    .option('--workflow <canvasId>', 'one workflow')
    .option('--status <status>', EXECUTION_STATUSES.join(' | '))
    .option('--trigger <trigger>', TRIGGERS.join(' | '))
    .option('--since <time>', 'created since: ISO time or 30m, 2h, 7d', parseSince)
    .option('--limit <n>', 'how many (≤ 100)', positiveInt('--limit'), 20)
    .option('--cursor <id>', 'nextCursor of the previous page')
    .action(async (opts: { workflow?: string; status?: string; trigger?: string; since?: string; limit: number; cursor?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const r = must(await ctx.client.get<{ records: Summary[]; nextCursor: string | null }>('/v1/executions', { canvasId: opts.workflow, status: opts.status, trigger: opts.trigger, since: opts.since, limit: Math.min(opts.limit, 100), cursor: opts.cursor }));
      print(ctx, r, () =>
        r.records.length === 0
          ? 'no executions match'
          : table([['EXECUTION', 'WORKFLOW', 'STATUS', 'TRIGGER', 'CREATED', 'ERROR'], ...r.records.map((e) => [e.executionId, e.canvasId, e.status, e.trigger, e.createdAt, e.errCode ?? ''])]) +
            (r.nextCursor ? `\nmore: --cursor ${r.nextCursor}` : ''),
      );
    });

  ex.command('status <executionId>')
    .description('An execution and each node with its attempts')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const s = must(await ctx.client.get<{ status: string; canvasId: string; errCode?: string; errMsg?: string; nodeExecutions: { nodeId: string; status: string; flowgateStatus?: string; attempts: unknown[]; errCode?: string; errorMessage?: string; waitingFor?: { reason: string; until: string } }[] }>(`/v1/openapi/workflow/${enc(id)}/status`));
      print(ctx, s, () =>
        [
          `${id} (${s.canvasId}): ${s.status}${s.errCode ? ` ${s.errCode}: ${s.errMsg ?? ''}` : ''}`,
          table(s.nodeExecutions.map((n) => [`  ${n.nodeId}`, n.flowgateStatus ?? n.status, `${n.attempts.length} attempt(s)`, n.waitingFor ? `${n.waitingFor.reason} until ${n.waitingFor.until}` : n.errCode ? `${n.errCode}: ${n.errorMessage ?? ''}` : ''])),
        ].join('\n'),
      );
    });

  ex.command('output <executionId>')
    .description('An execution\'s output (partial while it runs)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const o = must(await ctx.client.get<{ status: string; output: { nodeId: string; value: unknown }[]; files: { name: string; url: string }[] }>(`/v1/openapi/workflow/${enc(id)}/output`));
      print(ctx, o, () => JSON.stringify(Object.fromEntries(o.output.map((x) => [x.nodeId, x.value])), null, 2) + o.files.map((f) => `\nfile ${f.name}: ${f.url}`).join(''));
    });

  ex.command('tail <executionId>')
    .description('Follow an execution live until it ends, then print its output (exit 0 finished, 1 failed)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = ctxOf(cmd);
      if (ctx.json) {
        // One JSON line per event, for scripts.
        let status = '';
        for await (const e of followExecution(ctx, id)) {
          process.stdout.write(`${JSON.stringify(e)}\n`);
          if (e.event === 'end') status = String(e.data.status);
        }
        if (status !== 'finish') throw new CliError(`execution ${id} ${status}`);
        return;
      }
      await waitAndReport(ctx, id);
    });

  ex.command('abort <executionId>')
    .description('Abort a running execution (idempotent)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const r = must(await ctx.client.post<{ aborted: boolean; status: string }>(`/v1/openapi/workflow/${enc(id)}/abort`));
      print(ctx, r, () => (r.aborted ? `aborted ${id}` : `${id} had already ended (${r.status})`));
    });

  ex.command('retry [executionId]')
    .description('Resume a failed execution from its failed nodes; with --failed, every failed execution since a time')
    .option('--failed', 'bulk: every failed execution matching --since/--until/--workflow')
    .option('--workflow <canvasId>', 'with --failed: one workflow')
    .option('--since <time>', 'with --failed: ISO time or 30m, 2h, 7d', parseSince)
    .option('--until <time>', 'with --failed: ISO time or a duration back from now', parseSince)
    .action(async (id: string | undefined, opts: { failed?: boolean; workflow?: string; since?: string; until?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      if (opts.failed) {
        if (id) throw new UsageError('give an executionId or --failed, not both');
        return bulkRetry(ctx, opts);
      }
      if (!id) throw new UsageError('executions retry needs an executionId, or --failed --since <time>');
      const r = must(await ctx.client.post<{ retried: boolean; status: string }>(`/v1/openapi/workflow/${enc(id)}/retry`));
      print(ctx, r, () => (r.retried ? `retrying ${id}` : `${id} is not failed (${r.status}); nothing to retry`));
    });
}
