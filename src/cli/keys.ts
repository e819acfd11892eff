import type { Command } from 'commander';
import { enc } from '../client/api.ts';
import { ctxOf, must, print, table } from './context.ts';
import { parseScopes } from './keysCreate.ts';

interface KeyView {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  createdAt: string;
}

/** `keys list`, `keys revoke`, and `keys create --remote` over the API (`keys create` alone writes to the database: main.ts). */
export function registerKeyClientCommands(keys: Command): void {
  keys
    .command('list')
    .description('API keys of the workspace (never their secrets)')
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const r = must(await ctx.client.get<{ keys: KeyView[] }>('/v1/api-keys'));
      print(ctx, r, () => table([['ID', 'PREFIX', 'SCOPES', 'CREATED', 'NAME'], ...r.keys.map((k) => [k.id, `${k.prefix}…`, k.scopes.join(','), k.createdAt, k.name])]));
    });

  keys
    .command('revoke <id>')
    .description('Revoke an API key (calls with it fail at once)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const r = must(await ctx.client.del<{ id: string; deleted: boolean }>(`/v1/api-keys/${enc(id)}`));
      print(ctx, r, () => `revoked ${id}`);
    });
}

/** `keys create --remote`: through the running server with an admin key. */
export async function createKeyRemote(cmd: Command, opts: { admin?: boolean; scopes?: string; name: string }): Promise<void> {
  const ctx = ctxOf(cmd);
  const r = must(await ctx.client.post<KeyView & { secret: string }>('/v1/api-keys', { name: opts.name, scopes: parseScopes(opts) }));
  print(ctx, r, () => `Created API key ${r.id} (${r.scopes.join(', ')}). It is shown only this once:\n  ${r.secret}`);
}
