import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { enc } from '../client/api.ts';
import { toolName } from '../mcp/names.ts';
import { ctxOf, must, print } from './context.ts';

interface Detail {
  canvasId: string;
  title: string;
  description?: string;
  /** Refly's detail shows json, number and boolean variables as `string`, with Flowgate's type beside it. */
  variables: { name: string; variableType: string; flowgateVariableType?: string; required: boolean; options?: string[]; default?: unknown; description?: string }[];
}

/** A skill's `name`: lowercase letters, digits and hyphens, at most 64. */
const skillName = (title: string) => title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64) || 'flowgate-workflow';

/** SKILL.md for Claude Code: when to use the workflow, its inputs, and how to run it (CLI or MCP). */
export function skillMarkdown(d: Detail, baseUrl: string): string {
  const typeOf = (v: Detail['variables'][number]) => v.flowgateVariableType ?? v.variableType;
  const example = Object.fromEntries(d.variables.filter((v) => v.required).map((v) => [v.name, v.options?.[0] ?? (typeOf(v) === 'number' ? 1 : typeOf(v) === 'boolean' ? true : `<${v.name}>`)]));
  const varFlags = Object.entries(example).map(([k, v]) => ` --var ${k}=${JSON.stringify(String(v))}`).join('');
  const inputs = d.variables.length
    ? d.variables
        .map((v) => `- \`${v.name}\` (${typeOf(v)}${v.required ? ', required' : ''}${v.options?.length ? `: one of ${v.options.map((o) => `\`${o}\``).join(', ')}` : ''}${v.default !== undefined ? `, default \`${JSON.stringify(v.default)}\`` : ''})${v.description ? ` — ${v.description}` : ''}`)
        .join('\n')
    : '- none';
  const description = `${(d.description || d.title).replace(/[.\s]+$/, '')}. Runs the Flowgate workflow ${d.canvasId} durably and returns its output.`.replace(/\s+/g, ' ');
  return `---
name: ${skillName(d.title)}
description: ${JSON.stringify(description)}
---

# ${d.title}

${d.description ?? ''}

This skill runs the deterministic Flowgate workflow \`${d.canvasId}\` on ${baseUrl}. Every run is
recorded; the same inputs take the same path.

## Inputs

${inputs}

## Run it

With the CLI (\`FLOWGATE_URL=${baseUrl}\` and \`FLOWGATE_API_KEY\` set, or after \`flowgate login\`):

\`\`\`sh
npx flowgate run ${d.canvasId}${varFlags} --wait --json
\`\`\`

It prints one JSON object: \`status\` (\`finish\` or \`failed\`), \`output\` (by result node), \`files\`;
the exit code is 0 when the run finished and 1 when it failed. Use \`--idempotency-key <key>\` when a
retry must not start a second run.

Or through MCP (\`claude mcp add --transport http flowgate ${baseUrl}/mcp --header "Authorization: Bearer $FLOWGATE_API_KEY"\`):
call the tool \`${toolName(d.title, d.canvasId)}\` with the inputs above as its arguments.

## When it does not finish

\`npx flowgate executions status <executionId>\` shows each node with its attempts and errors;
\`npx flowgate executions retry <executionId>\` resumes it from the failed nodes.
`;
}

export function registerSkill(program: Command): void {
  program
    .command('skill')
    .description('Ship workflows to Claude Code')
    .command('export <canvasId>')
    .description('Write a Claude Code skill folder (SKILL.md) for a workflow')
    .option('--out <dir>', 'where to create the skill folder', '.claude/skills')
    .action(async (canvasId: string, opts: { out: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const d = must(await ctx.client.get<Detail>(`/v1/openapi/workflows/${enc(canvasId)}`));
      const dir = path.join(opts.out, skillName(d.title));
      mkdirSync(dir, { recursive: true });
      const file = path.join(dir, 'SKILL.md');
      writeFileSync(file, skillMarkdown(d, ctx.url));
      print(ctx, { file, name: skillName(d.title), canvasId }, () => `wrote ${file}`);
    });
}
