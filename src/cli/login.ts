import type { Command } from 'commander';
import { FlowgateClient } from '../client/api.ts';
import { apiError, DEFAULT_URL, print, saveProfile, UsageError, type GlobalOptions } from './context.ts';

/** `flowgate login`: checks the key against the server, then saves both as a profile (file mode 0600). */
export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('Save a server URL and API key as a profile, after checking them')
    .action(async (_o: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const url = g.url || process.env.FLOWGATE_URL || DEFAULT_URL;
      const apiKey = g.apiKey || process.env.FLOWGATE_API_KEY;
      if (!apiKey) throw new UsageError('flowgate login --url <url> --api-key <key> (or FLOWGATE_API_KEY)');
      const me = await new FlowgateClient({ baseUrl: url, apiKey }).get<{ id: string; workspaceId: string; scopes: string[] }>('/v1/api-keys/current');
      if (!me.ok) throw apiError(me.error);
      const name = g.profile ?? 'default';
      const file = saveProfile(name, { url, apiKey });
      print({ json: g.json === true }, { profile: name, url, keyId: me.value.id, workspaceId: me.value.workspaceId, scopes: me.value.scopes, file }, () => `logged in to ${url} as ${me.value.id} (${me.value.scopes.join(', ')}) in ${me.value.workspaceId}; saved as profile "${name}" in ${file}`);
    });
}
