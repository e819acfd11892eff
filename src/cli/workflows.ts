import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import YAML from 'yaml';
import { enc } from '../client/api.ts';
import { validateDefinition } from '../workflows/validate.ts';
import { CliError, ctxOf, must, positiveInt, print, table, UsageError } from './context.ts';

/** A definition file as the server would read it: JSON by extension or content, YAML otherwise. */
function readDefinition(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  try {
    return /\.json$/i.test(file) || /^\s*[{[]/.test(text) ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw new CliError(`${file}: not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
}

interface WorkflowView {
  canvasId: string;
  title: string;
  version: number;
  updatedAt: string;
  definition?: unknown;
}

export function registerWorkflows(program: Command): void {
  const wf = program.command('workflows').description('List, read, push and validate workflow definitions');

  wf.command('list')
    .description('Workflows of the key\'s workspace, newest first')
    .option('--page <n>', 'page (100 a page)', positiveInt('--page'), 1)
    .action(async (opts: { page: number }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const r = must(await ctx.client.get<{ workflows: WorkflowView[]; total: number }>('/v1/workflows', { page: opts.page, pageSize: 100 }));
      print(ctx, r, () =>
        r.workflows.length === 0
          ? 'no workflows yet: flowgate workflows push <file>'
          : table([['CANVAS ID', 'VERSION', 'UPDATED', 'TITLE'], ...r.workflows.map((w) => [w.canvasId, String(w.version), w.updatedAt, w.title])]),
      );
    });

  wf.command('get <canvasId>')
    .description('A workflow\'s definition (YAML; --json for JSON)')
    .option('--at <version>', 'an earlier version (1 is the first)', positiveInt('--at'))
    .action(async (canvasId: string, opts: { at?: number }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const r = opts.at
        ? must(await ctx.client.get<{ definition: unknown; version: number }>(`/v1/workflows/${enc(canvasId)}/versions/${opts.at}`))
        : must(await ctx.client.get<WorkflowView>(`/v1/workflows/${enc(canvasId)}`));
      print(ctx, r, () => YAML.stringify(r.definition).trimEnd());
    });

  wf.command('push <file>')
    .description('Create the workflow in a JSON or YAML file, or add a version when its canvasId exists')
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const def = readDefinition(file) as { canvasId?: unknown };
      const id = typeof def?.canvasId === 'string' ? def.canvasId : undefined;
      const existing = id ? await ctx.client.get<WorkflowView>(`/v1/workflows/${enc(id)}`) : undefined;
      if (existing && !existing.ok && existing.error.code !== 'CANVAS_NOT_FOUND') must(existing);
      const r = must(existing?.ok ? await ctx.client.put<WorkflowView & { unchanged?: boolean }>(`/v1/workflows/${enc(id!)}`, def) : await ctx.client.post<WorkflowView>('/v1/workflows', def));
      const unchanged = 'unchanged' in r && r.unchanged === true;
      const verb = !existing?.ok ? 'created' : unchanged ? 'unchanged' : 'updated';
      print(ctx, { canvasId: r.canvasId, version: r.version, title: r.title, created: !existing?.ok, unchanged }, () => `${verb} ${r.canvasId} (version ${r.version}): ${r.title}`);
    });

  wf.command('validate <file>')
    .description('Check a definition offline, with the messages the server would give (exit 1 when invalid)')
    .action((file: string, _opts: unknown, cmd: Command) => {
      const json = cmd.optsWithGlobals<{ json?: boolean }>().json === true;
      const r = validateDefinition(readDefinition(file));
      if (r.ok) {
        const d = r.value;
        print({ json }, { valid: true, title: d.title, tasks: d.tasks.length, variables: (d.variables ?? []).length }, () => `${file}: valid (${d.tasks.length} tasks, ${(d.variables ?? []).length} variables)`);
        return;
      }
      if (json) print({ json }, { valid: false, errCode: r.error.code, errMsg: r.error.message, errors: (r.error.data as { errors?: unknown })?.errors }, () => '');
      throw new CliError(`${file}: ${r.error.code}: ${r.error.message}`);
    });
}
