import type { Command } from 'commander';
import { FlowgateClient } from '../client/api.ts';
import { VERSION } from '../version.ts';
import { ctxOf, positiveInt } from './context.ts';

/** `flowgate mcp`: the same tools as POST /mcp, over stdio, for clients that launch a command. */
export function registerMcp(program: Command): void {
  program
    .command('mcp')
    .description('Serve the workspace\'s workflows as MCP tools over stdio (claude mcp add flowgate -- npx flowgate mcp)')
    .option('--wait <seconds>', 'how long a workflow tool waits for its run (≤ 60)', positiveInt('--wait'), 30)
    .action(async (opts: { wait: number }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      // Loaded here, not at start: every other command (and `serve`) does without the SDK.
      const [{ StdioServerTransport }, { buildMcpServer }] = await Promise.all([import('@modelcontextprotocol/sdk/server/stdio.js'), import('../mcp/tools.ts')]);
      const client = new FlowgateClient({ baseUrl: ctx.url, apiKey: ctx.key, trigger: 'mcp' });
      const server = buildMcpServer(client, { waitS: Math.min(opts.wait, 60), version: VERSION });
      await server.connect(new StdioServerTransport());
      // stdout is the protocol's: nothing else may be written there. The process lives until stdin closes.
      await new Promise<void>((resolve) => {
        server.onclose = () => resolve();
      });
    });
}
