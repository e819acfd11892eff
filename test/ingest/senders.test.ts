import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import Stripe from 'stripe';
import { Webhook as SvixWebhook } from 'svix';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { SENDER_DEDUPE_MS } from '../../src/ingest/webhookCall.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Real senders, signed by their own libraries and delivered as they deliver (Stripe's
 * `application/json; charset=utf-8` included): accepted, tampering and stale timestamps refused,
 * and a retry of the same delivery answered with the first execution.
 */
const WORKFLOW = { title: 'Sender', variables: [{ name: 'event', variableType: 'json' }], tasks: [{ id: 'out', kind: 'output', value: '{{ variables.event.type }}' }] };

describe('real senders reach a webhook', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer('sqlite');
  });
  after(() => t.close());

  const hook = async (signature: Record<string, unknown>) => {
    const wf = await t.api('POST', '/v1/workflows', { body: WORKFLOW });
    const r = await t.api('POST', '/v1/webhook/enable', { body: { canvasId: wf.body.data.canvasId, bodyMode: 'raw', rawVariable: 'event', signature } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.data.webhookId as string;
  };
  const deliver = (webhookId: string, raw: string, headers: Record<string, string>) => t.api('POST', `/v1/openapi/webhook/${webhookId}/run`, { key: null, raw, headers });

  it('Stripe: the SDK-signed event is accepted; a retry of the same event id (new signature) gets the first execution, remembered for 72 h', async () => {
    const secret = 'whsec_stripe_test_secret_0123456789';
    const id = await hook({ scheme: 'stripe', secret });
    const stripe = new Stripe('sk_test_not_used');
    const payload = JSON.stringify({ id: 'evt_1Sender', object: 'event', type: 'invoice.paid', data: { object: { id: 'in_1' } } });
    const now = Math.floor(Date.now() / 1000);
    const headers = (timestamp: number, body = payload) => ({
      'content-type': 'application/json; charset=utf-8',
      'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp }),
    });
    const first = await deliver(id, payload, headers(now - 120));
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const retry = await deliver(id, payload, headers(now));
    assert.equal(retry.status, 200);
    assert.equal(retry.body.data.executionId, first.body.data.executionId);
    assert.equal(retry.body.data.duplicate, true);

    const tampered = await deliver(id, payload.replace('invoice.paid', 'invoice.void'), headers(now));
    assert.equal(tampered.status, 401);
    assert.equal(tampered.body.errCode, 'INVALID_SIGNATURE');
    const stale = await deliver(id, payload, headers(now - 600));
    assert.equal(stale.status, 401);

    const db = new Database(path.join(t.target.config.dataDir, 'flowgate.db'), { readonly: true });
    const key = db.prepare("SELECT created_at, expires_at FROM idempotency_keys WHERE key = 'stripe:evt_1Sender'").get() as { created_at: number; expires_at: number };
    db.close();
    assert.equal(key.expires_at - key.created_at, SENDER_DEDUPE_MS, 'an hour (or two days) later the retry still finds the first execution');
  });

  it('Svix-hosted sender: svix-* headers are accepted as Standard Webhooks; a redelivery keeps its svix-id and gets the first execution', async () => {
    const secret = 'whsec_' + Buffer.from('svix-hosted-sender-secret-bytes!').toString('base64');
    const id = await hook({ scheme: 'standard-webhooks', secret });
    const svix = new SvixWebhook(secret);
    const payload = JSON.stringify({ type: 'user.created', data: { id: 'u_1' } });
    const sign = (msgId: string, at: Date, body = payload) => ({
      'content-type': 'application/json',
      'svix-id': msgId,
      'svix-timestamp': String(Math.floor(at.getTime() / 1000)),
      'svix-signature': svix.sign(msgId, at, body),
    });
    const first = await deliver(id, payload, sign('msg_svix_1', new Date()));
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const again = await deliver(id, payload, sign('msg_svix_1', new Date(Date.now() + 1000)));
    assert.equal(again.body.data.executionId, first.body.data.executionId);
    const other = await deliver(id, payload, sign('msg_svix_2', new Date()));
    assert.notEqual(other.body.data.executionId, first.body.data.executionId);
    const tampered = await deliver(id, payload.replace('u_1', 'u_2'), sign('msg_svix_3', new Date(), payload));
    assert.equal(tampered.body.errCode, 'INVALID_SIGNATURE');
    const stale = await deliver(id, payload, sign('msg_svix_4', new Date(Date.now() - 10 * 60_000)));
    assert.equal(stale.body.errCode, 'INVALID_SIGNATURE');
  });

  it('Standard Webhooks library: accepted with webhook-* headers, deduplicated by webhook-id', async () => {
    const secret = 'whsec_' + Buffer.from('standard-webhooks-sender-secret!').toString('base64');
    const id = await hook({ scheme: 'standard-webhooks', secret });
    const sw = new StandardWebhook(secret);
    const payload = JSON.stringify({ type: 'order.paid' });
    const at = new Date();
    const headers = { 'content-type': 'application/json', 'webhook-id': 'msg_sw_1', 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': sw.sign('msg_sw_1', at, payload) };
    const first = await deliver(id, payload, headers);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal((await deliver(id, payload, headers)).body.data.executionId, first.body.data.executionId);
  });
});
