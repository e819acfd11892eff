import { EventSourceParserStream } from 'eventsource-parser/stream';
import { enc } from '../client/api.ts';
import { CliError, type Ctx } from './context.ts';

export interface RunEvent {
  event: 'snapshot' | 'execution.status' | 'node.status' | 'end' | 'shutdown' | string;
  data: Record<string, any>;
}

/**
 * Follows an execution's Server-Sent Events (GET …/{executionId}/events) until `end`. When the
 * server closes the stream first (`shutdown`, a restart), it reconnects: the stream starts with a
 * snapshot, so nothing is missed, only repeated.
 */
export async function* followExecution(ctx: Ctx, executionId: string, opts: { maxReconnects?: number } = {}): AsyncGenerator<RunEvent> {
  let reconnects = 0;
  for (;;) {
    let res: Response;
    try {
      res = await fetch(`${ctx.client.baseUrl}/v1/openapi/workflow/${enc(executionId)}/events`, { headers: { authorization: `Bearer ${ctx.key}`, accept: 'text/event-stream' } });
    } catch (e) {
      if (reconnects++ < (opts.maxReconnects ?? 30)) {
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      throw new CliError(`lost the event stream of ${executionId}: ${(e as Error).message}`);
    }
    if (!res.ok || !res.body) {
      const body = (await res.json().catch(() => ({}))) as { errCode?: string; errMsg?: string };
      throw new CliError(`${body.errCode ?? `HTTP ${res.status}`}: ${body.errMsg ?? 'cannot follow the execution'}`);
    }
    const stream = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
    let ended = false;
    try {
      for await (const m of stream) {
        const data = m.data ? (JSON.parse(m.data) as Record<string, any>) : {};
        yield { event: m.event ?? 'message', data };
        if (m.event === 'end') {
          ended = true;
          break;
        }
      }
    } catch {
      // The connection dropped mid-stream: reconnect below.
    }
    if (ended) return;
    if (reconnects++ >= (opts.maxReconnects ?? 30)) throw new CliError(`the event stream of ${executionId} keeps closing; try \`flowgate executions status ${executionId}\``);
    await new Promise((r) => setTimeout(r, 500));
  }
}
