import type OpenAI from 'openai';
import { demoCompletion, DEMO_MODEL_URL } from './demoModel.ts';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { coerceError } from '../../errors.ts';
import type { AgentTask, ToolDef } from '../../workflows/definition.ts';
import { renderText } from '../expressions.ts';
import { evalOptions } from './evalOptions.ts';
import { abortCode, abortMessage, isRetryableAbort } from './abort.ts';
import { isRetryableStatus, parseRetryAfter, performHttpRequest } from './http.ts';
import type { Message, TaskInput, TaskOutcome, TokenUsage } from './types.ts';

const DEFAULT_MAX_STEPS = 8;
/** Tool results are fed back to the model; more than this is cut (and said so). */
const TOOL_RESULT_MAX = 20 * 1024;

/** The SDK, loaded on the first agent task: a process that never calls a model does not carry it. */
let sdk: typeof OpenAI | undefined;
const clients = new Map<string, OpenAI>();
async function clientFor(baseURL: string, apiKey: string | undefined): Promise<OpenAI> {
  if (baseURL === DEMO_MODEL_URL) return { chat: { completions: { create: async (body: Parameters<typeof demoCompletion>[0]) => demoCompletion(body) } } } as unknown as OpenAI;
  const key = `${baseURL}\u0000${apiKey ?? ''}`;
  let c = clients.get(key);
  if (!c) {
    sdk ??= (await import('openai')).default;
    // Retries belong to the engine (recorded per attempt, waiting in the store), not to the SDK.
    c = new sdk({ baseURL, apiKey: apiKey ?? 'not-needed', maxRetries: 0, timeout: 10 * 60_000 });
    clients.set(key, c);
  }
  return c;
}

function toolSpec(t: ToolDef): ChatCompletionTool {
  return {
    type: 'function',
    function: { name: t.name, description: t.description, parameters: (t.parameters as Record<string, unknown>) ?? { type: 'object', properties: {} } },
  };
}

const truncate = (s: string) => (s.length > TOOL_RESULT_MAX ? `${s.slice(0, TOOL_RESULT_MAX)}\n[truncated ${s.length - TOOL_RESULT_MAX} characters]` : s);

function providerFailure(e: unknown, signal: AbortSignal, extra: { messages: Message[]; usage: TokenUsage }): TaskOutcome {
  if (signal.aborted) {
    const code = abortCode(signal);
    return { type: 'failed', errCode: code, message: `model call: ${abortMessage(code)}`, retryable: isRetryableAbort(code), ...extra };
  }
  if (sdk && e instanceof sdk.APIError && typeof e.status === 'number') {
    const retryable = isRetryableStatus(e.status);
    const retryAfter = (e.headers as Headers | undefined)?.get?.('retry-after') ?? undefined;
    return {
      type: 'failed',
      errCode: 'UPSTREAM_ERROR',
      message: `model provider answered ${e.status}: ${e.message}`,
      retryable,
      httpStatus: e.status,
      retryAfterMs: retryable ? parseRetryAfter(retryAfter ?? undefined) : undefined,
      ...extra,
    };
  }
  return { type: 'failed', errCode: 'UPSTREAM_ERROR', message: `model provider unreachable: ${coerceError(e).message}`, retryable: true, ...extra };
}

/**
 * The `agent` task: a rendered prompt to an OpenAI-compatible chat-completions endpoint, with the
 * workflow's tools, looping over tool calls until the model answers or `maxSteps` model calls are
 * spent. Deterministic settings: temperature 0 and a fixed seed.
 */
export async function runAgent(input: TaskInput<AgentTask>): Promise<TaskOutcome> {
  const sent: { prompt?: { system?: string; user: string } } = {};
  const outcome = await converse(input, sent);
  if (outcome.type === 'deferred' || !sent.prompt) return outcome;
  const model = input.task.model ?? input.config.model.model ?? (input.config.model.baseUrl === DEMO_MODEL_URL ? 'demo' : undefined);
  return { ...outcome, input: { model, prompt: sent.prompt } };
}

/** The conversation with the model; what was rendered (system and user prompt) goes into `sent` for the node's record. */
async function converse(input: TaskInput<AgentTask>, sent: { prompt?: { system?: string; user: string } }): Promise<TaskOutcome> {
  const { task, config, context, signal, workflow } = input;
  // The demo model needs no model name; a real provider does.
  const model = task.model ?? config.model.model ?? (config.model.baseUrl === DEMO_MODEL_URL ? 'demo' : undefined);
  if (!config.model.baseUrl || !model) {
    return {
      type: 'failed',
      errCode: 'MODEL_NOT_CONFIGURED',
      message: 'agent tasks need a model provider: set FLOWGATE_MODEL_BASE_URL and FLOWGATE_MODEL (and FLOWGATE_MODEL_API_KEY if it needs one), or FLOWGATE_MODEL_BASE_URL=demo to try them with canned answers',
      retryable: false,
    };
  }
  const env = evalOptions(input);
  const chat: ChatCompletionMessageParam[] = [];
  try {
    if (task.systemPrompt) chat.push({ role: 'system', content: await renderText(task.systemPrompt, context, env) });
    chat.push({ role: 'user', content: await renderText(task.prompt, context, env) });
    sent.prompt = { system: chat.find((m) => m.role === 'system')?.content as string | undefined, user: chat.at(-1)!.content as string };
  } catch (e) {
    return { type: 'failed', errCode: 'EXPRESSION_ERROR', message: `prompt template failed: ${coerceError(e).message}`, retryable: false };
  }
  const tools = (task.toolsets ?? []).map((name) => workflow.tools?.find((t) => t.name === name)).filter((t): t is ToolDef => !!t);
  const client = await clientFor(config.model.baseUrl, config.model.apiKey);
  const messages: Message[] = [];
  const usage: TokenUsage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
  const maxSteps = task.maxSteps ?? DEFAULT_MAX_STEPS;

  for (let step = 0; step < maxSteps; step++) {
    let res: OpenAI.Chat.Completions.ChatCompletion;
    try {
      res = await client.chat.completions.create(
        { model, messages: chat, temperature: 0, seed: 0, ...(tools.length ? { tools: tools.map(toolSpec) } : {}) },
        { signal },
      );
    } catch (e) {
      return providerFailure(e, signal, { messages, usage });
    }
    usage.promptTokens += res.usage?.prompt_tokens ?? 0;
    usage.completionTokens += res.usage?.completion_tokens ?? 0;
    usage.totalTokens += res.usage?.total_tokens ?? 0;
    const msg = res.choices[0]?.message;
    if (!msg) return { type: 'failed', errCode: 'UPSTREAM_ERROR', message: 'model provider returned no choices', retryable: true, messages, usage };
    const calls = (msg.tool_calls ?? []).filter((c) => c.type === 'function');
    messages.push({
      messageId: `${task.id}-m${messages.length}`,
      type: 'ai',
      content: msg.content ?? '',
      reasoningContent: (msg as { reasoning_content?: string }).reasoning_content,
      toolCalls: calls.length ? calls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })) : undefined,
    });
    if (calls.length === 0) return { type: 'finished', output: msg.content ?? '', messages, usage };

    chat.push({ role: 'assistant', content: msg.content ?? null, tool_calls: calls });
    for (const call of calls) {
      const content = await runTool(input, tools, call.id, call.function.name, call.function.arguments);
      if (signal.aborted) return providerFailure(new Error('aborted'), signal, { messages, usage });
      chat.push({ role: 'tool', tool_call_id: call.id, content });
      messages.push({ messageId: `${task.id}-m${messages.length}`, type: 'tool', content, toolCallId: call.id });
    }
  }
  return { type: 'failed', errCode: 'UPSTREAM_ERROR', message: `the model did not answer within ${maxSteps} steps`, retryable: false, messages, usage };
}

async function runTool(input: TaskInput<AgentTask>, tools: ToolDef[], callId: string, name: string, rawArgs: string): Promise<string> {
  const tool = tools.find((t) => t.name === name);
  if (!tool) return `error: unknown tool "${name}"`;
  let args: unknown;
  try {
    args = rawArgs ? JSON.parse(rawArgs) : {};
  } catch {
    return 'error: tool arguments were not valid JSON';
  }
  const r = await performHttpRequest(tool.request, { ...input.context, args }, {
    config: input.config,
    evalOptions: evalOptions(input),
    files: input.files,
    signal: input.signal,
    idempotencyKey: `${input.executionId}:${input.task.id}:${callId}`,
  });
  if ('deferred' in r) return `error: ${r.deferred.reason}`;
  if (!r.ok) return `error: ${r.failure.message}`;
  return truncate(r.response.text);
}
