import { FlowgateClient, type Fetch } from '../../client/api.ts';
import { VERSION } from '../../version.ts';
import { presentedKey } from '../auth.ts';
import type { App, AppDeps } from '../app.ts';

/**
 * `POST /mcp`: the workspace's workflows as MCP tools over streamable HTTP (stateless: every
 * request stands alone, so any API process can answer it). The tools call the public API in-process
 * with the caller's own key, so each call is authorised, validated and recorded exactly as over HTTP,
 * with `trigger: mcp`.
 */
// The SDK (with zod) is ≈ 27 MB of memory and ≈ 100 ms of start-up: loaded on the first MCP request.
let sdk: Promise<[typeof import('@modelcontextprotocol/sdk/server/streamableHttp.js'), typeof import('../../mcp/tools.ts')]> | undefined;
const loadSdk = () => (sdk ??= Promise.all([import('@modelcontextprotocol/sdk/server/streamableHttp.js'), import('../../mcp/tools.ts')]));

export const mcpRoutes = (deps: AppDeps) => async (app: App) => {
  const inProcess: Fetch = async (url, init) => {
    const u = new URL(url);
    const res = await app.inject({ method: init.method as 'GET', url: u.pathname + u.search, headers: init.headers, payload: init.body });
    return { status: res.statusCode, text: async () => res.payload };
  };

  app.post(
    '/mcp',
    {
      config: { scope: 'read' },
      schema: {
        // JSON-RPC, not the envelope: described in docs/mcp.md, kept out of the REST document.
        hide: true,
        tags: ['mcp'],
        summary: 'MCP (streamable HTTP, stateless): one tool per workflow plus get_execution_status, get_execution_output, abort_execution',
        description: 'JSON-RPC 2.0 as the Model Context Protocol defines it; send `Accept: application/json, text/event-stream`. Authenticate with an API key as a bearer token: a `read` key lists the tools, running one needs `run` (docs/mcp.md).',
      },
    },
    async (req, reply) => {
      const [{ StreamableHTTPServerTransport }, { buildMcpServer }] = await loadSdk();
      const client = new FlowgateClient({ baseUrl: 'http://in-process', apiKey: presentedKey(req), trigger: 'mcp', fetch: inProcess });
      const server = buildMcpServer(client, { waitS: deps.config.mcpWaitS, version: VERSION });
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      reply.hijack();
      reply.raw.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req.raw, reply.raw, req.body);
    },
  );

  // Stateless: there is no session to resume (GET) or end (DELETE).
  for (const method of ['GET', 'DELETE'] as const) {
    app.route({
      method,
      url: '/mcp',
      schema: { hide: true },
      handler: async (_req, reply) =>
        reply.code(405).header('allow', 'POST').send({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this MCP endpoint is stateless, use POST' }, id: null }),
    });
  }
};
