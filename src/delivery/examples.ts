import type { NewEvent } from '../store/delivery.ts';
import type { EventType } from './eventTypes.ts';
import { driftEvent, endpointDisabledEvent, executionEvent, nodeEvent, webhookReceivedEvent, webhookSilentEvent } from './payloads.ts';

/**
 * An example of each event type, built by the same builders as the real ones, for "send a test event"
 * (the Svix dashboard's "send example"): ids are recognisably fake and `data.test` is true, so a
 * receiver can tell it from a real event and the payload still validates against the catalog.
 */
export function exampleEvent(type: EventType['type'], workspaceId: string, now: number): NewEvent {
  const run = { executionId: 'we-test00000000000000000000', workspaceId, canvasId: 'c-test', trigger: 'api', createdAt: now - 1500, startedAt: now - 1000 };
  const node = { executionId: run.executionId, workspaceId, canvasId: run.canvasId, nodeId: 'fetch', attempt: 1, httpStatus: 200 };
  let event: NewEvent;
  switch (type) {
    case 'execution.started':
    case 'execution.finished':
      event = executionEvent(run, type, now);
      break;
    case 'execution.failed':
      event = executionEvent({ ...run, errCode: 'UPSTREAM_ERROR', errMsg: 'the downstream service answered 503' }, type, now);
      break;
    case 'node.finished':
      event = nodeEvent(node, type, now);
      break;
    case 'node.failed':
      event = nodeEvent({ ...node, httpStatus: 503, errCode: 'UPSTREAM_ERROR', errMsg: 'the downstream service answered 503' }, type, now);
      break;
    case 'node.contract_drift':
      event = driftEvent(node, { missing: ['data.total'], changed: { 'data.id': { from: 'number', to: 'string' } } }, now);
      break;
    case 'webhook.received':
      event = webhookReceivedEvent({ workspaceId, webhookId: 'wh_test0000000000000000000000000000', canvasId: run.canvasId, executionId: run.executionId, recordId: 'whc-test', bodySize: 42 }, now);
      break;
    case 'webhook.silent':
      event = webhookSilentEvent({ workspaceId, webhookId: 'wh_test0000000000000000000000000000', canvasId: run.canvasId, expectedEvery: 3600, lastCallAt: now - 7_200_000, quietSince: now - 7_200_000 }, now);
      break;
    case 'endpoint.disabled':
      event = endpointDisabledEvent({ workspaceId, endpointId: 'ep-test', url: 'https://example.com/hook', failingSince: now - 432_000_000 }, 'failing for 7200 min (example)', now);
      break;
    default:
      throw new Error(`no example for event type ${type}`);
  }
  // Test events belong to no execution: they must not appear in a run's timeline.
  return { ...event, executionId: undefined, data: { ...(event.data as object), test: true } };
}
