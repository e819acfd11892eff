import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { enc } from '../client/api.ts';
import { CliError, ctxOf, must, print, UsageError, type Ctx } from './context.ts';
import { followExecution } from './events-stream.ts';

interface SchemaProp {
  type?: string;
  'x-variableType'?: string;
}

/** `--var k=v` as the variable's type wants it (from the workflow's schema): numbers, booleans and JSON are parsed. */
export function coerceVar(raw: string, prop: SchemaProp | undefined): unknown {
  const kind = prop?.['x-variableType'] ?? prop?.type;
  if (kind === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--var: "${raw}" is not a number`);
    return n;
  }
  if (kind === 'boolean') {
    if (raw === 'true' || raw === 'false') return raw === 'true';
    throw new UsageError(`--var: "${raw}" is not true or false`);
  }
  if (kind === 'json' || (kind === undefined && /^[[{]/.test(raw))) {
    try {
      return JSON.parse(raw);
    } catch {
      if (kind === 'json') throw new UsageError(`--var: "${raw}" is not JSON`);
    }
  }
  return raw;
}

async function variablesFrom(ctx: Ctx, canvasId: string, opts: { var?: string[]; varsFile?: string }): Promise<Record<string, unknown>> {
  let vars: Record<string, unknown> = {};
  if (opts.varsFile) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(opts.varsFile, 'utf8'));
    } catch (e) {
      throw new UsageError(`--vars-file ${opts.varsFile}: ${(e as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`--vars-file ${opts.varsFile} must hold a JSON object`);
    vars = parsed as Record<string, unknown>;
  }
  if (opts.var?.length) {
    // The schema says how to read each value; without read scope, values that look like JSON are parsed.
    const schema = await ctx.client.get<{ properties?: Record<string, SchemaProp> }>(`/v1/openapi/workflows/${enc(canvasId)}/schema`);
    const props = schema.ok ? (schema.value.properties ?? {}) : {};
    for (const kv of opts.var) {
      const i = kv.indexOf('=');
      if (i < 1) throw new UsageError(`--var takes name=value (got "${kv}")`);
      const name = kv.slice(0, i);
      vars[name] = coerceVar(kv.slice(i + 1), props[name]);
    }
  }
  return vars;
}

interface Progress {
  node(nodeId: string, status: string, extra: string): void;
  done(): void;
}

/** Lines for logs and pipes; on a terminal, the same lines plus a live summary line that rewrites itself. */
function progress(total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  const tty = stream.isTTY === true;
  const status = new Map<string, string>();
  const mark: Record<string, string> = { finish: '✓', failed: '✗', skipped: '–', running: '▶', waiting: '…', init: '·' };
  const summary = () => {
    const done = [...status.values()].filter((s) => s === 'finish' || s === 'failed' || s === 'skipped').length;
    const running = [...status.entries()].filter(([, s]) => s === 'running').map(([n]) => n);
    return `[${done}/${total}] ${running.length ? `running ${running.join(', ')}` : ''}`;
  };
  return {
    node(nodeId, s, extra) {
      if (status.get(nodeId) === s && !extra) return;
      status.set(nodeId, s);
      const line = tty ? `${mark[s] ?? ' '} ${nodeId}: ${s}${extra}` : `node ${nodeId}: ${s}${extra}`;
      stream.write(tty ? `\r\x1b[K${line}\n${summary()}` : `${line}\n`);
    },
    done() {
      if (tty) stream.write('\r\x1b[K');
    },
  };
}

/** Follows a run to its end with live progress, prints its output, and exits 0 if it finished, 1 if not. */
export async function waitAndReport(ctx: Ctx, executionId: string): Promise<void> {
  const first = must(await ctx.client.get<{ nodeExecutions: unknown[] }>(`/v1/openapi/workflow/${enc(executionId)}/status`));
  const p = ctx.json ? undefined : progress(first.nodeExecutions.length);
  let final: { status: string; errCode?: string; errMsg?: string } | undefined;
  for await (const e of followExecution(ctx, executionId)) {
    if (e.event === 'node.status' && p) {
      const d = e.data;
      const wait = d.waitingFor ? ` (${d.waitingFor.reason}${d.waitingFor.host ? ` ${d.waitingFor.host}` : ''} until ${new Date(d.waitingFor.until).toLocaleTimeString()})` : '';
      const err = d.errCode ? ` ${d.errCode}${d.errorMessage ? `: ${d.errorMessage}` : ''}` : '';
      p.node(d.nodeId, d.status, `${wait}${err}`);
    }
    if (e.event === 'execution.status') final = e.data as typeof final;
    if (e.event === 'end') final = { ...final, ...e.data } as typeof final;
  }
  p?.done();
  const out = must(await ctx.client.get<{ status: string; output: { nodeId: string; value: unknown }[]; files: { name: string; url: string }[] }>(`/v1/openapi/workflow/${enc(executionId)}/output`));
  const values = Object.fromEntries(out.output.map((o) => [o.nodeId, o.value]));
  const answer = { executionId, status: out.status, errCode: final?.errCode, errMsg: final?.errMsg, output: values, files: out.files };
  if (out.status === 'finish') {
    print(ctx, answer, () => {
      const single = out.output.length === 1 ? out.output[0]!.value : values;
      const files = out.files.map((f) => `file ${f.name}: ${f.url}`).join('\n');
      return `${typeof single === 'string' ? single : JSON.stringify(single, null, 2)}${files ? `\n${files}` : ''}`;
    });
    return;
  }
  if (ctx.json) print(ctx, answer, () => '');
  throw new CliError(`execution ${executionId} ${out.status}: ${final?.errCode ?? ''}${final?.errMsg ? `: ${final.errMsg}` : ''}`);
}

export function registerRun(program: Command): void {
  program
    .command('run <canvasId>')
    .description('Run a workflow; with --wait, follow it node by node and print its output (exit 0 finished, 1 failed)')
    .option('--var <name=value...>', 'a variable (repeat for more); typed by the workflow\'s schema')
    .option('--vars-file <file>', 'variables from a JSON object file (--var wins)')
    .option('--wait', 'follow the run to its end and print its output')
    .option('--idempotency-key <key>', 'the same key within 24 h returns the first run instead of starting another')
    .action(async (canvasId: string, opts: { var?: string[]; varsFile?: string; wait?: boolean; idempotencyKey?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const variables = await variablesFrom(ctx, canvasId, opts);
      const r = must(
        await ctx.client.post<{ executionId: string; status: string }>(
          `/v1/openapi/workflow/${enc(canvasId)}/run`,
          { variables },
          { headers: opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {} },
        ),
      );
      if (!opts.wait) return print(ctx, r, () => r.executionId);
      if (!ctx.json) process.stderr.write(`execution ${r.executionId}\n`);
      await waitAndReport(ctx, r.executionId);
    });
}
