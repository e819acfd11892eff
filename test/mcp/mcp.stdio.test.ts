import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { toolName } from '../../src/mcp/names.ts';
import { BIN } from '../helpers/process.ts';
import { ADMIN_KEY, startTestServer, type TestServer } from '../helpers/server.ts';

// `flowgate mcp` launched as a command, as Claude Code does, driven by the official SDK's stdio client.
describe('MCP over stdio (flowgate mcp)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer('sqlite', { workflowsPath: 'examples/workflows' });
  });
  after(() => t.close());

  const launch = async (key: string) => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'mcp', '--wait', '10'],
      env: { ...(process.env as Record<string, string>), FLOWGATE_URL: t.url, FLOWGATE_API_KEY: key, LOG_LEVEL: 'silent' },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'flowgate-stdio-test', version: '1.0.0' });
    await client.connect(transport);
    return client;
  };

  it('lists the workflows as tools and runs one to its output', async () => {
    const c = await launch(ADMIN_KEY);
    try {
      const { tools } = await c.listTools();
      const name = toolName('Feedback triage', 'c-feedback-triage');
      const tool = tools.find((x) => x.name === name);
      assert.ok(tool);
      assert.deepEqual(tool.inputSchema.required, ['feedback']);
      const r = await c.callTool({ name, arguments: { feedback: 'all good' } });
      assert.ok(!r.isError, JSON.stringify(r));
      const s = r.structuredContent as { executionId: string; status: string; output: { result: { urgent: boolean } } };
      assert.equal(s.status, 'finish');
      assert.equal(s.output.result.urgent, false);
      assert.equal((await t.api('GET', `/v1/openapi/workflow/${s.executionId}/status`)).body.data.trigger, 'mcp');
      const missing = await c.callTool({ name, arguments: {} });
      assert.equal(missing.isError, true);
      assert.match((missing.content as { text: string }[])[0]!.text, /feedback/);
    } finally {
      await c.close();
    }
  });

  it('a wrong key fails tools/list with the server\'s reason', async () => {
    const c = await launch('fg_wrong_key');
    try {
      await assert.rejects(() => c.listTools(), /UNAUTHORIZED: Invalid API key/);
    } finally {
      await c.close();
    }
  });
});
