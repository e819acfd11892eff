import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { enc, fieldErrors, type ApiFailure, type FlowgateClient } from '../client/api.ts';
import { toolName } from './names.ts';

/**
 * Workflows as MCP tools: one tool per workflow of the key's workspace (its variables' JSON Schema
 * as the input schema), plus tools to follow a run. Everything goes through the public API with
 * the caller's key, so scopes hold as they do over HTTP: a `read` key lists tools, and a call to
 * run with it comes back as a tool error saying which scope is missing.
 */
export interface McpOptions {
  /** How long a workflow tool waits for its run before answering with the execution id (≤ 60 s). */
  waitS: number;
  version: string;
}

const MAX_WORKFLOWS = 1000;

interface WorkflowTool {
  name: string;
  canvasId: string;
  title: string;
}

const HELPERS: Tool[] = [
  {
    name: 'get_execution_status',
    description: 'Status of a workflow run (executionId from a workflow tool): the run and each node with its attempts and errors.',
    inputSchema: { type: 'object', properties: { executionId: { type: 'string', description: 'we-…' } }, required: ['executionId'] },
  },
  {
    name: 'get_execution_output',
    description: "A workflow run's output (partial while it runs) and its output files.",
    inputSchema: { type: 'object', properties: { executionId: { type: 'string', description: 'we-…' } }, required: ['executionId'] },
  },
  {
    name: 'abort_execution',
    description: 'Abort a running workflow run (idempotent).',
    inputSchema: { type: 'object', properties: { executionId: { type: 'string', description: 'we-…' } }, required: ['executionId'] },
  },
];

const text = (value: unknown): CallToolResult['content'] => [{ type: 'text', text: typeof value === 'string' ? value : JSON.stringify(value, null, 2) }];

/** A failure of the API as a tool error: the model reads the code and the server's own message. */
function toolError(e: ApiFailure): CallToolResult {
  const detail = fieldErrors(e).map((f) => `\n- ${f}`).join('');
  return { isError: true, content: text(`${e.code}: ${e.message}${detail}`) };
}

async function listWorkflowTools(client: FlowgateClient): Promise<{ ok: true; tools: WorkflowTool[] } | { ok: false; error: ApiFailure }> {
  const tools: WorkflowTool[] = [];
  for (let page = 1; tools.length < MAX_WORKFLOWS; page++) {
    const r = await client.get<{ workflows: { canvasId: string; title: string }[]; total: number }>('/v1/workflows', { page, pageSize: 100 });
    if (!r.ok) return r;
    for (const w of r.value.workflows) tools.push({ name: toolName(w.title, w.canvasId), canvasId: w.canvasId, title: w.title });
    if (page * 100 >= r.value.total || r.value.workflows.length === 0) break;
  }
  return { ok: true, tools };
}

export function buildMcpServer(client: FlowgateClient, opts: McpOptions): Server {
  const server = new Server({ name: 'flowgate', version: opts.version }, { capabilities: { tools: {} } });

  server.setRequestHandler(ListToolsRequestSchema, async () => {
    const listed = await listWorkflowTools(client);
    if (!listed.ok) throw new Error(`${listed.error.code}: ${listed.error.message}`);
    const tools: Tool[] = [];
    for (const w of listed.tools) {
      const [schema, detail] = await Promise.all([
        client.get<Record<string, unknown>>(`/v1/openapi/workflows/${enc(w.canvasId)}/schema`),
        client.get<{ description?: string }>(`/v1/openapi/workflows/${enc(w.canvasId)}`),
      ]);
      if (!schema.ok || !detail.ok) continue; // deleted since it was listed
      const { $schema: _drop, ...inputSchema } = schema.value;
      tools.push({
        name: w.name,
        title: w.title,
        description: `${detail.value.description || w.title} (Flowgate workflow ${w.canvasId}: runs durably; answers with the output, or with the executionId and status if it takes longer than ${opts.waitS} s — then use get_execution_status / get_execution_output.)`,
        inputSchema: inputSchema as Tool['inputSchema'],
      });
    }
    return { tools: [...tools, ...HELPERS] };
  });

  server.setRequestHandler(CallToolRequestSchema, async (req): Promise<CallToolResult> => {
    const args = (req.params.arguments ?? {}) as Record<string, unknown>;
    const id = typeof args.executionId === 'string' ? args.executionId : '';
    switch (req.params.name) {
      case 'get_execution_status': {
        const r = await client.get(`/v1/openapi/workflow/${enc(id)}/status`);
        return r.ok ? { content: text(r.value), structuredContent: r.value as Record<string, unknown> } : toolError(r.error);
      }
      case 'get_execution_output': {
        const r = await client.get(`/v1/openapi/workflow/${enc(id)}/output`);
        return r.ok ? { content: text(r.value), structuredContent: r.value as Record<string, unknown> } : toolError(r.error);
      }
      case 'abort_execution': {
        const r = await client.post(`/v1/openapi/workflow/${enc(id)}/abort`);
        return r.ok ? { content: text(r.value), structuredContent: r.value as Record<string, unknown> } : toolError(r.error);
      }
    }
    const listed = await listWorkflowTools(client);
    if (!listed.ok) return toolError(listed.error);
    const w = listed.tools.find((t) => t.name === req.params.name);
    if (!w) return { isError: true, content: text(`Unknown tool ${req.params.name}: list the tools again (a workflow may have been renamed or deleted)`) };
    const r = await client.post<RunAnswer>(`/v1/openapi/workflow/${enc(w.canvasId)}/run`, { variables: args }, { query: { wait: opts.waitS } });
    if (!r.ok) return toolError(r.error);
    return runResult(r.value);
  });
  return server;
}

interface RunAnswer {
  executionId: string;
  status: string;
  errCode?: string;
  errMsg?: string;
  output?: { nodeId: string; title?: string; value: unknown }[];
  files?: unknown[];
}

/** The output as structured content (one entry per result node), or where the run stands. */
function runResult(a: RunAnswer): CallToolResult {
  if (a.status === 'finish') {
    const output = Object.fromEntries((a.output ?? []).map((o) => [o.nodeId, o.value]));
    const single = a.output?.length === 1 ? a.output[0]!.value : output;
    const structured = { executionId: a.executionId, status: a.status, output, files: a.files ?? [] };
    return { content: text(single), structuredContent: structured };
  }
  if (a.status === 'failed') {
    return { isError: true, content: text(`Run ${a.executionId} failed: ${a.errCode ?? 'ERROR'}: ${a.errMsg ?? ''}`), structuredContent: { executionId: a.executionId, status: a.status, errCode: a.errCode, errMsg: a.errMsg } };
  }
  return {
    content: text(`Run ${a.executionId} is still ${a.status}; call get_execution_status or get_execution_output with this executionId later.`),
    structuredContent: { executionId: a.executionId, status: a.status },
  };
}
