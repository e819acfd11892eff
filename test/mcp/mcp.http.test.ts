import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { hashSecret } from '../../src/http/auth.ts';
import { toolName } from '../../src/mcp/names.ts';
import { ADMIN_KEY, startTestServer, type TestServer } from '../helpers/server.ts';
import { STORE_KINDS } from '../helpers/stores.ts';

// The official SDK client against POST /mcp on a real server.
const READER = 'fg_mcp_reader_key_000000000000000000';
const TRIAGE = toolName('Feedback triage', 'c-feedback-triage');

async function connect(t: TestServer, key?: string): Promise<Client> {
  const client = new Client({ name: 'flowgate-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`), { requestInit: { headers: key ? { authorization: `Bearer ${key}` } : {} } });
  await client.connect(transport);
  return client;
}

for (const kind of STORE_KINDS) {
  describe(`MCP over streamable HTTP (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(kind, { workflowsPath: 'examples/workflows', mcpWaitS: 10 });
      await t.server.store.catalog.createApiKey({ id: 'ak-mcp-read', workspaceId: 'ws-default', name: 'reader', prefix: 'fg_mcp_', secretHash: hashSecret(READER), scopes: ['read'], createdAt: 1 });
    });
    after(() => t.close());

    it('lists one tool per workflow with its variables as the input schema, plus the helpers', async () => {
      const c = await connect(t, ADMIN_KEY);
      const { tools } = await c.listTools();
      const triage = tools.find((x) => x.name === TRIAGE);
      assert.ok(triage, `tool ${TRIAGE} in ${tools.map((x) => x.name).join(', ')}`);
      assert.match(triage.description ?? '', /Normalises customer feedback/);
      assert.equal(triage.inputSchema.type, 'object');
      assert.deepEqual(triage.inputSchema.required, ['feedback']);
      assert.deepEqual((triage.inputSchema.properties as any).tone.enum, ['formal', 'casual']);
      for (const h of ['get_execution_status', 'get_execution_output', 'abort_execution']) assert.ok(tools.some((x) => x.name === h), h);
      await c.close();
    });

    it('a call runs the workflow durably (trigger mcp) and returns its output as structured content and text', async () => {
      const c = await connect(t, ADMIN_KEY);
      const r = await c.callTool({ name: TRIAGE, arguments: { feedback: 'The site is DOWN', tone: 'casual' } });
      assert.ok(!r.isError, JSON.stringify(r));
      const s = r.structuredContent as { executionId: string; status: string; output: Record<string, any> };
      assert.equal(s.status, 'finish');
      assert.equal(s.output.result.urgent, true);
      assert.match((r.content as { text: string }[])[0]!.text, /Got it!/);
      const history = await t.api('GET', `/v1/openapi/workflow/${s.executionId}/status`);
      assert.equal(history.body.data.trigger, 'mcp');
      const status = await c.callTool({ name: 'get_execution_status', arguments: { executionId: s.executionId } });
      assert.equal((status.structuredContent as { status: string }).status, 'finish');
      const out = await c.callTool({ name: 'get_execution_output', arguments: { executionId: s.executionId } });
      assert.equal((out.structuredContent as { output: unknown[] }).output.length, 1);
      const unknown = await c.callTool({ name: 'get_execution_status', arguments: { executionId: 'we-nope' } });
      assert.equal(unknown.isError, true);
      assert.match((unknown.content as { text: string }[])[0]!.text, /EXECUTION_NOT_FOUND/);
      await c.close();
    });

    it('a missing or mistyped variable is a tool error that names it', async () => {
      const c = await connect(t, ADMIN_KEY);
      const r = await c.callTool({ name: TRIAGE, arguments: { tone: 'shouty' } });
      assert.equal(r.isError, true);
      const msg = (r.content as { text: string }[])[0]!.text;
      assert.match(msg, /INVALID_VARIABLES/);
      assert.match(msg, /feedback/);
      assert.match(msg, /tone/);
      await c.close();
    });

    it('a read key lists the tools but cannot run one; no key is refused', async () => {
      const c = await connect(t, READER);
      const { tools } = await c.listTools();
      assert.ok(tools.some((x) => x.name === TRIAGE));
      const r = await c.callTool({ name: TRIAGE, arguments: { feedback: 'hi' } });
      assert.equal(r.isError, true);
      assert.match((r.content as { text: string }[])[0]!.text, /FORBIDDEN.*"run" scope/);
      await c.close();
      await assert.rejects(() => connect(t), /401|Unauthorized|Missing API key/i);
      const raw = await fetch(`${t.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(raw.status, 401);
    });
  });
}
