import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { fieldErrors, FlowgateClient, type ApiFailure, type ApiResult } from '../client/api.ts';

/** A mistake of the user's, reported as one line without a stack trace; exit code 2. */
export class UsageError extends Error {}

/** A failure to report as one line; `exitCode` 1 unless said otherwise. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** The options every client command accepts (on the root command, so they go anywhere on the line). */
export interface GlobalOptions {
  url?: string;
  apiKey?: string;
  profile?: string;
  json?: boolean;
}

export const DEFAULT_URL = 'http://127.0.0.1:8080';

interface Profile {
  url: string;
  apiKey?: string;
}

/** `$XDG_CONFIG_HOME/flowgate/profiles.json` (default ~/.config), written by `flowgate login`. */
export function profilesFile(env = process.env): string {
  return path.join(env.XDG_CONFIG_HOME || path.join(homedir(), '.config'), 'flowgate', 'profiles.json');
}

function readProfiles(): Record<string, Profile> {
  try {
    return JSON.parse(readFileSync(profilesFile(), 'utf8')) as Record<string, Profile>;
  } catch {
    return {};
  }
}

export function saveProfile(name: string, p: Profile): string {
  const file = profilesFile();
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify({ ...readProfiles(), [name]: p }, null, 2)}\n`, { mode: 0o600 });
  return file;
}

/** Flags, then FLOWGATE_URL / FLOWGATE_API_KEY, then the profile, then the local default. */
export function resolveTarget(g: GlobalOptions, env = process.env): Profile {
  const profile = readProfiles()[g.profile ?? env.FLOWGATE_PROFILE ?? 'default'];
  return {
    url: g.url || env.FLOWGATE_URL || profile?.url || DEFAULT_URL,
    apiKey: g.apiKey || env.FLOWGATE_API_KEY || profile?.apiKey,
  };
}

export interface Ctx {
  client: FlowgateClient;
  json: boolean;
  url: string;
  key: string;
}

/** The context of a client command: its server, key and output mode. */
export function ctxOf(cmd: Command): Ctx {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const t = resolveTarget(g);
  if (!t.apiKey) throw new UsageError('no API key: pass --api-key, set FLOWGATE_API_KEY, or run `flowgate login`');
  return { client: new FlowgateClient({ baseUrl: t.url, apiKey: t.apiKey, trigger: 'cli' }), json: g.json === true, url: t.url, key: t.apiKey };
}

/** The value of a successful call, or a one-line error with the server's code. */
export function must<T>(r: ApiResult<T>): T {
  if (r.ok) return r.value;
  throw apiError(r.error);
}

export function apiError(e: ApiFailure): CliError {
  // The message usually names every field already; the list is added only when it does not.
  const fields = fieldErrors(e);
  const detail = fields.length && !fields.every((f) => e.message.includes(f.slice(0, f.indexOf(':')))) ? ` (${fields.join('; ')})` : '';
  return new CliError(`${e.code}: ${e.message}${detail}`);
}

/** Prints `value` as one JSON line with --json, else what `human` makes of it. */
export function print(ctx: Pick<Ctx, 'json'>, value: unknown, human: () => string): void {
  process.stdout.write(ctx.json ? `${JSON.stringify(value)}\n` : `${human()}\n`);
}

/** Left-aligned columns, for lists on a terminal. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export const positiveInt = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a whole number ≥ 1 (got "${v}")`);
  return n;
};

/** An ISO 8601 time, or a duration back from now: 30m, 2h, 7d. */
export function parseSince(v: string): string {
  const rel = /^(\d+)([smhd])$/.exec(v);
  if (rel) return new Date(Date.now() - Number(rel[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[rel[2] as 's']).toISOString();
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new UsageError(`expected a time (2026-11-24T10:00:00Z) or a duration back from now (30m, 2h, 7d), got "${v}"`);
  return new Date(t).toISOString();
}
