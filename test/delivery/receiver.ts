import { Webhook } from 'standardwebhooks';
import type { ServerResponse } from 'node:http';
import { fakeServer, type FakeServer } from '../helpers/fakes.ts';

export interface Delivery {
  id: string;
  type: string;
  data: any;
  /** Secrets (by index into `secrets`) whose signature verified. */
  verifiedWith: number[];
  at: number;
}

/**
 * A loopback receiver that checks every delivery the way a customer would, with the
 * `standardwebhooks` package. A delivery no current secret verifies is recorded in `badSignatures`
 * (and answered 401), so a test fails on it.
 */
export interface Receiver extends FakeServer {
  deliveries: Delivery[];
  badSignatures: string[];
  secrets: string[];
  /** Decides the answer; default 200. */
  answer: (d: Delivery, res: ServerResponse) => void;
  ids(): string[];
}

/**
 * `holdUntilSecret`: for an endpoint whose secret the test learns from an answer (a run's
 * `callbackUrl`), a delivery that arrives before the test has it is answered 503, to come again, and
 * not judged: the dispatcher may deliver before the test has read the answer that names the secret.
 */
export async function receiver(opts: { holdUntilSecret?: boolean } = {}): Promise<Receiver> {
  // The handler reads `state` through the returned object, so tests can swap `answer` and `secrets`.
  const state = {
    deliveries: [] as Delivery[],
    badSignatures: [] as string[],
    secrets: [] as string[],
    answer: ((_d: Delivery, res: ServerResponse) => res.writeHead(200).end('ok')) as Receiver['answer'],
    ids(): string[] {
      return state.deliveries.map((d) => d.id);
    },
  } as Receiver;
  const server = await fakeServer((req, body, res) => {
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
    if (opts.holdUntilSecret && state.secrets.length === 0) return res.writeHead(503).end('not ready');
    const verifiedWith = state.secrets.flatMap((s, i) => {
      try {
        new Webhook(s).verify(body, headers);
        return [i];
      } catch {
        return [];
      }
    });
    if (verifiedWith.length === 0) {
      state.badSignatures.push(`${headers['webhook-id']}: ${headers['webhook-signature']}`);
      return res.writeHead(401).end('bad signature');
    }
    const parsed = JSON.parse(body);
    const d: Delivery = { id: headers['webhook-id']!, type: parsed.type, data: parsed.data, verifiedWith, at: Date.now() };
    state.deliveries.push(d);
    state.answer(d, res);
  });
  return Object.assign(state, { url: server.url, requests: server.requests, close: server.close });
}

/** Polls `cond` every 20 ms for at most `ms` (bounded). */
export async function until(cond: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}
