import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming, ChatCompletionMessageParam } from 'openai/resources/chat/completions';

/**
 * The demo model (`FLOWGATE_MODEL_BASE_URL=demo`): lets agent tasks be tried with no provider
 * account and no network. It is not a model: answers are canned and deterministic, and every
 * answer says so (`[demo model]`). It picks a label when the prompt offers a choice ("one of: a, b,
 * c"), calls each offered tool once (arguments filled from the prompt), then reports what the
 * tools answered. Never the default: it runs only when asked for by name.
 */
export const DEMO_MODEL_URL = 'demo';
export const DEMO_PREFIX = '[demo model]';

const textOf = (m: ChatCompletionMessageParam | undefined): string => (typeof m?.content === 'string' ? m.content : Array.isArray(m?.content) ? m.content.map((p) => ('text' in p ? p.text : '')).join(' ') : '');

/** "one of: bug, feature, question" / "one of bug, feature or question" → the options. */
function choices(prompt: string): string[] {
  const m = /one of[:\s]+([^\n.]+)/i.exec(prompt);
  if (!m) return [];
  return m[1]!
    .split(/,|\bor\b|\|/)
    .map((s) => s.trim().replace(/^["'`]|["'`]$/g, ''))
    .filter((s) => /^[\w-]{1,40}$/.test(s));
}

/** The first option that the rest of the prompt mentions (as a word), else the first option. */
export function demoLabel(prompt: string, options: string[]): string {
  const rest = prompt.replace(/one of[:\s]+[^\n.]+/i, ' ').toLowerCase();
  return options.find((o) => new RegExp(`\\b${o.toLowerCase().replace(/[-]/g, '\\-')}`).test(rest)) ?? options[0]!;
}

function toolArguments(parameters: unknown, prompt: string): Record<string, unknown> {
  const props = (parameters as { properties?: Record<string, { type?: string }> } | undefined)?.properties ?? {};
  const args: Record<string, unknown> = {};
  for (const [name, p] of Object.entries(props)) args[name] = p.type === 'number' || p.type === 'integer' ? 1 : p.type === 'boolean' ? true : prompt.slice(0, 200);
  return args;
}

export function demoCompletion(body: ChatCompletionCreateParamsNonStreaming): ChatCompletion {
  const user = textOf([...body.messages].reverse().find((m) => m.role === 'user'));
  const toolResults = body.messages.filter((m) => m.role === 'tool');
  const tools = (body.tools ?? []).filter((t) => t.type === 'function');
  let message: ChatCompletion.Choice['message'];
  if (tools.length && toolResults.length === 0) {
    message = {
      role: 'assistant',
      content: null,
      refusal: null,
      tool_calls: tools.map((t, i) => ({ id: `demo-call-${i}`, type: 'function' as const, function: { name: t.function.name, arguments: JSON.stringify(toolArguments(t.function.parameters, user)) } })),
    };
  } else if (toolResults.length) {
    const seen = toolResults.map((m) => textOf(m).replace(/\s+/g, ' ').slice(0, 300)).join(' | ');
    message = { role: 'assistant', content: `${DEMO_PREFIX} From the tools: ${seen}`, refusal: null };
  } else {
    const options = choices(user);
    const first = user.replace(/\s+/g, ' ').trim().split(/(?<=[.!?])\s/)[0]!.slice(0, 200);
    message = { role: 'assistant', content: options.length ? demoLabel(user, options) : `${DEMO_PREFIX} ${first}`, refusal: null };
  }
  return {
    id: 'demo',
    object: 'chat.completion',
    created: 0,
    model: body.model,
    choices: [{ index: 0, finish_reason: message.tool_calls ? 'tool_calls' : 'stop', logprobs: null, message }],
    usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
  };
}
