/**
 * Outbound events in the store. An event becomes one message per endpoint that
 * subscribes to it, written in the same transaction as the state change it reports, so an event
 * exists if and only if the change committed. Messages are then delivered, retried and replayed on
 * their own; their attempts are rows.
 */
export type MessageStatus = 'pending' | 'delivering' | 'succeeded' | 'failed' | 'skipped';

export interface EndpointRecord {
  id: string;
  workspaceId: string;
  url: string;
  description?: string;
  /** Event types this endpoint hears; undefined means all. */
  eventTypes?: string[];
  enabled: boolean;
  /** Deliver strictly in order: a message waits until the previous one succeeded or was given up. */
  ordered: boolean;
  headers?: Record<string, string>;
  /** Deliveries per second this endpoint accepts (per worker process). */
  rateLimit?: number;
  secret: string;
  /** Still signs during a rotation's grace period. */
  previousSecret?: string;
  previousSecretExpiresAt?: number;
  /** A run's `callbackUrl`: hears only this execution's events. */
  executionId?: string;
  disabledReason?: string;
  /** First failure since the last success; an endpoint failing for too long is disabled. */
  failingSince?: number;
  createdAt: number;
  updatedAt: number;
}

export type EndpointPatch = Partial<Pick<EndpointRecord, 'url' | 'description' | 'eventTypes' | 'enabled' | 'ordered' | 'headers' | 'rateLimit'>> & {
  /** `null` clears the field. */
  description?: string | null;
  eventTypes?: string[] | null;
  headers?: Record<string, string> | null;
  rateLimit?: number | null;
};

/** What a state change reports; `emitEvent` fans it out to subscribed endpoints. */
export interface NewEvent {
  workspaceId: string;
  type: string;
  executionId?: string;
  data: Record<string, unknown>;
  now: number;
}

export interface MessageAttemptRecord {
  attempt: number;
  startedAt: number;
  finishedAt: number;
  httpStatus?: number;
  latencyMs: number;
  /** At most 20 KB of the response body. */
  responseExcerpt?: string;
  error?: string;
  outcome: 'succeeded' | 'failed';
}

export interface MessageRecord {
  id: string;
  endpointId: string;
  workspaceId: string;
  eventType: string;
  executionId?: string;
  /** The exact body delivered: `{type, timestamp, data}`. */
  payload: string;
  status: MessageStatus;
  attempts: number;
  nextAttemptAt?: number;
  lastHttpStatus?: number;
  lastError?: string;
  createdAt: number;
  updatedAt: number;
}

/** A message leased to a dispatcher, with what it needs to send it. */
export interface ClaimedMessage {
  /** What sending it needs of the message. */
  message: Pick<MessageRecord, 'id' | 'payload'>;
  endpoint: EndpointRecord;
  /** The number of this attempt (1 for the first). */
  attempt: number;
  /** Its number within the current round of the retry schedule (a replay starts a new round). */
  round: number;
}

/** What happens to a message after an attempt. */
export type MessageNext =
  | { type: 'succeeded' }
  | { type: 'retry'; at: number }
  /** Schedule exhausted: given up (replay can bring it back). */
  | { type: 'failed' }
  /** The endpoint asked never to be called again (410 Gone). */
  | { type: 'disable_endpoint'; reason: string };

export interface CompleteMessageInput {
  messageId: string;
  workerId: string;
  attempt: MessageAttemptRecord;
  next: MessageNext;
  now: number;
}

/**
 * The delivery policy a turn applies inside its transaction; `delivery/rules.ts` decides it, the
 * store only asks (as the worker's turn asks `SchedulingRules`).
 */
export interface DeliveryRules {
  /** Why to disable an endpoint that has been failing since `failingSince`, or undefined to keep trying. */
  disableReason(failingSince: number, now: number): string | undefined;
  /** The `endpoint.disabled` event, written with the change. */
  endpointDisabled(endpoint: { workspaceId: string; endpointId: string; url: string; failingSince?: number }, reason: string, now: number): NewEvent;
}

/** A dispatcher's turn: what finished since the last one, and how much to claim next. */
export interface MessageTurn {
  workerId: string;
  completions: CompleteMessageInput[];
  /** How many due messages to claim after settling (0: none). */
  claim: number;
  now: number;
  leaseMs: number;
  rules: DeliveryRules;
}

export interface ListMessagesQuery {
  workspaceId: string;
  endpointId: string;
  status?: MessageStatus;
  /** Exclusive upper bound on the message id (ids sort by time). */
  cursor?: string;
  limit: number;
}
