import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import Stripe from 'stripe';
import { Webhook as SvixWebhook } from 'svix';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { sign as githubSign } from '@octokit/webhooks-methods';
import { SENDER_DEDUPE_MS } from '../../src/ingest/webhookCall.ts';
import { startTestServer, waitDone, type TestServer } from '../helpers/server.ts';

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

  it('GitHub: JSON and form deliveries signed by @octokit/webhooks-methods; the workflow branches on X-GitHub-Event; secrets never reach trigger.headers', async () => {
    const secret = 'github-webhook-secret';
    const wf = await t.api('POST', '/v1/workflows', {
      body: {
        title: 'GitHub',
        variables: [{ name: 'event', variableType: 'json' }],
        tasks: [
          { id: 'isPush', kind: 'condition', expression: "trigger.headers.`x-github-event` = 'push'" },
          { id: 'push', kind: 'output', dependentTasks: ['isPush'], value: { ref: '{{ variables.event.ref }}', kind: '{{ trigger.kind }}', via: '{{ trigger.webhookId }}' } },
        ],
      },
    });
    const hook = await t.api('POST', '/v1/webhook/enable', { body: { canvasId: wf.body.data.canvasId, bodyMode: 'raw', rawVariable: 'event', signature: { scheme: 'github', secret } } });
    const webhookId = hook.body.data.webhookId as string;
    const headers = async (event: string, delivery: string, body: string, type = 'application/json') => ({
      'content-type': type,
      'x-github-event': event,
      'x-github-delivery': delivery,
      'x-hub-signature-256': await githubSign(secret, body),
    });
    const json = JSON.stringify({ ref: 'refs/heads/main' });
    const push = await deliver(webhookId, json, await headers('push', 'd-push', json));
    assert.equal(push.status, 200, JSON.stringify(push.body));
    const pushed = await waitDone(t, push.body.data.executionId);
    assert.equal(pushed.status, 'finish');
    const out = await t.api('GET', `/v1/openapi/workflow/${push.body.data.executionId}/output`);
    assert.deepEqual(out.body.data.output[0].value, { ref: 'refs/heads/main', kind: 'webhook', via: webhookId });
    const timeline = await t.api('GET', `/v1/openapi/workflow/${push.body.data.executionId}/timeline`);
    const seen = timeline.body.data.trigger.headers as Record<string, string>;
    assert.equal(seen['x-github-event'], 'push');
    assert.ok(!Object.keys(seen).some((k) => /signature|authorization/.test(k)), JSON.stringify(seen));

    const pr = await deliver(webhookId, json, await headers('pull_request', 'd-pr', json));
    await waitDone(t, pr.body.data.executionId);
    const prStatus = await t.api('GET', `/v1/openapi/workflow/${pr.body.data.executionId}/status`);
    assert.equal(prStatus.body.data.nodeExecutions.find((n: { nodeId: string }) => n.nodeId === 'push').flowgateStatus, 'skipped', 'a pull_request does not take the push branch');

    const form = `payload=${encodeURIComponent(JSON.stringify({ ref: 'refs/heads/form' }))}`;
    const viaForm = await deliver(webhookId, form, await headers('push', 'd-form', form, 'application/x-www-form-urlencoded'));
    assert.equal(viaForm.status, 200, JSON.stringify(viaForm.body));
    await waitDone(t, viaForm.body.data.executionId);
    const formOut = await t.api('GET', `/v1/openapi/workflow/${viaForm.body.data.executionId}/output`);
    assert.equal(formOut.body.data.output[0].value.ref, 'refs/heads/form', "GitHub's form delivery reaches the workflow as the same object");

    const tampered = await deliver(webhookId, json.replace('main', 'evil'), await headers('push', 'd-bad', json));
    assert.equal(tampered.body.errCode, 'INVALID_SIGNATURE');
    const refused = await t.api('POST', '/v1/webhook/update', { body: { webhookId, forwardHeaders: ['X-Hub-Signature-256'] } });
    assert.equal(refused.status, 400);
  });

  it('a dedupe rule per webhook: a JSON pointer, JSONata over body and headers, a preset; its window; bad keys refused', async () => {
    const wf = await t.api('POST', '/v1/workflows', { body: WORKFLOW });
    const canvasId = wf.body.data.canvasId as string;
    const enable = async (dedupe: unknown) => t.api('POST', '/v1/webhook/enable', { body: { canvasId, bodyMode: 'raw', rawVariable: 'event', dedupe } });
    const send = async (webhookId: string, body: unknown, headers: Record<string, string> = {}) =>
      (await deliver(webhookId, JSON.stringify(body), { 'content-type': 'application/json', ...headers })).body.data.executionId as string;

    const byPointer = (await enable({ key: '/data/id', windowHours: 1 })).body.data.webhookId as string;
    const a = await send(byPointer, { type: 'order.created', data: { id: 'o-1' }, sentAt: 1 });
    assert.equal(await send(byPointer, { type: 'order.created', data: { id: 'o-1' }, sentAt: 2 }), a, 'same id, different body bytes: the same event');
    assert.notEqual(await send(byPointer, { type: 'order.created', data: { id: 'o-2' } }), a);
    const db = new Database(path.join(t.target.config.dataDir, 'flowgate.db'), { readonly: true });
    const key = db.prepare("SELECT created_at, expires_at FROM idempotency_keys WHERE key = 'dedupe:o-1'").get() as { created_at: number; expires_at: number };
    db.close();
    assert.equal(key.expires_at - key.created_at, 3_600_000, 'remembered for windowHours');

    const byExpression = (await enable({ key: "headers.`x-delivery` & ':' & body.type" })).body.data.webhookId as string;
    assert.equal(byExpression, byPointer, 'enable updates the same webhook');
    const e1 = await send(byExpression, { type: 't', n: 1 }, { 'x-delivery': 'd1' });
    assert.equal(await send(byExpression, { type: 't', n: 2 }, { 'x-delivery': 'd1' }), e1);
    assert.notEqual(await send(byExpression, { type: 't', n: 3 }, { 'x-delivery': 'd2' }), e1);

    const preset = (await enable({ key: 'stripe' })).body.data;
    assert.deepEqual(preset.dedupe, { key: 'stripe' });
    const s1 = await send(preset.webhookId, { id: 'evt_unsigned', type: 'x' });
    assert.equal(await send(preset.webhookId, { id: 'evt_unsigned', type: 'x', retry: true }), s1);

    for (const key of ['/bad~2pointer', '$$$(', 'body.(']) {
      const r = await enable({ key });
      assert.equal(r.status, 400, key);
      assert.equal(r.body.errCode, 'INVALID_REQUEST_BODY');
    }
    const off = await enable(null);
    assert.equal(off.body.data.dedupe, null);
  });
});
