import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { sign as githubSign } from '@octokit/webhooks-methods';
import { Webhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { fakeServer, json, type FakeServer } from '../helpers/fakes.ts';
import { ADMIN_KEY, startTestServer, waitDone, type TestServer } from '../helpers/server.ts';

// Each example of examples/gallery end to end, with loopback stand-ins for the third parties (one
// server, one path prefix each) and the demo model for the agents.
const example = (name: string) => readFileSync(`examples/gallery/${name}/workflow.yaml`, 'utf8');

describe('the gallery (examples/gallery)', () => {
  let t: TestServer;
  let third: FakeServer;
  let receiver: FakeServer;
  let enrichCalls = 0;
  const calls = (prefix: string) => third.requests.filter((r) => r.url.startsWith(prefix));

  before(async () => {
    third = await fakeServer((req, body, res) => {
      const url = req.url!;
      if (url.startsWith('/crm/contacts/')) return json(res, 200, { id: 'ct_42', ...JSON.parse(body) });
      if (/^\/gh\/repos\/.+\/labels$/.test(url)) return json(res, 200, JSON.parse(body).labels.map((name: string) => ({ name })));
      if (/^\/gh\/repos\/.+\/comments$/.test(url)) return json(res, 201, { id: 1, html_url: 'https://github.com/acme/app/issues/7#issuecomment-1' });
      // The enrichment API is down for its first call: the task retries.
      if (url.startsWith('/enrich/companies')) return ++enrichCalls === 1 ? json(res, 503, { error: 'busy' }) : json(res, 200, { company: 'Acme', employees: 120 });
      if (url.startsWith('/notify')) return json(res, 200, { ok: true });
      if (url.startsWith('/scoring/score')) {
        const records = JSON.parse(body).records as { id: string; spend: string }[];
        const csv = ['id,score', ...records.map((r) => `${r.id},${Number(r.spend) > 100 ? 'high' : 'low'}`)].join('\n');
        return res.writeHead(200, { 'content-type': 'text/csv', 'content-disposition': 'attachment; filename="scores.csv"' }).end(csv);
      }
      if (url.startsWith('/help/search')) return json(res, 200, { article: 'Parcels arrive in 3-5 days; track them from your account.' });
      if (url.startsWith('/orders/orders/')) return json(res, 200, { id: url.split('/').pop(), status: 'shipped', carrier: 'DHL' });
      if (url.startsWith('/approvals/approvals')) return json(res, 200, { approved: true, by: 'finance' });
      json(res, 404, { error: `no stand-in for ${url}` });
    });
    receiver = await fakeServer((_req, _body, res) => json(res, 200, {}));
    const base = third.url;
    t = await startTestServer('sqlite', {
      allowPrivateNetworks: true,
      model: { baseUrl: 'demo' },
      deliveryRetrySchedule: [0, 0.05],
      templateEnv: {
        CRM_URL: `${base}/crm`,
        CRM_TOKEN: 'crm_token_123',
        GITHUB_API_URL: `${base}/gh`,
        GITHUB_TOKEN: 'ghp_token_123',
        ENRICH_URL: `${base}/enrich`,
        NOTIFY_URL: `${base}/notify`,
        SCORING_URL: `${base}/scoring`,
        HELP_URL: `${base}/help`,
        ORDERS_URL: `${base}/orders`,
        APPROVALS_URL: `${base}/approvals`,
      },
    });
    for (const name of ['stripe-checkout-to-crm', 'github-issue-triage', 'form-enrich-notify', 'nightly-batch', 'support-agent', 'fan-in-approval']) {
      const r = await t.api('POST', '/v1/workflows', { raw: example(name), headers: { 'content-type': 'application/yaml' } });
      assert.equal(r.status, 201, `${name}: ${JSON.stringify(r.body)}`);
    }
  });
  after(async () => {
    await t.close();
    await third.close();
    await receiver.close();
  });

  const output = async (executionId: string) => {
    const done = await waitDone(t, executionId);
    assert.equal(done.status, 'finish', JSON.stringify(done));
    return (await t.api('GET', `/v1/openapi/workflow/${executionId}/output`)).body.data;
  };
  const enable = async (body: Record<string, unknown>) => {
    const r = await t.api('POST', '/v1/webhook/enable', { body });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.data.webhookId as string;
  };
  const call = (webhookId: string, raw: string, headers: Record<string, string>) => t.api('POST', `/v1/openapi/webhook/${webhookId}/run`, { key: null, raw, headers });

  it('Stripe checkout → CRM upsert once however often Stripe retries → a signed execution.finished event', async () => {
    const secret = 'whsec_gallery_stripe_secret_012345';
    const hook = await enable({ canvasId: 'c-stripe-checkout-to-crm', bodyMode: 'raw', rawVariable: 'event', signature: { scheme: 'stripe', secret } });
    const ep = await t.api('POST', '/v1/event-endpoints', { body: { url: `${receiver.url}/stripe-done`, eventTypes: ['execution.finished'] } });
    const stripe = new Stripe('sk_test_not_used');
    const payload = JSON.stringify({
      id: 'evt_gallery_1',
      object: 'event',
      type: 'checkout.session.completed',
      data: { object: { id: 'cs_1', payment_status: 'paid', customer: 'cus_9', amount_total: 4900, customer_details: { email: 'ada@example.com', name: 'Ada Lovelace' } } },
    });
    const headers = () => ({ 'content-type': 'application/json', 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload, secret }) });
    const first = await call(hook, payload, headers());
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const retry = await call(hook, payload, headers());
    assert.equal(retry.body.data.executionId, first.body.data.executionId, "Stripe's retry gets the first run");
    const out = await output(first.body.data.executionId);
    assert.deepEqual(out.output[0].value, { contactId: 'ct_42', email: 'ada@example.com' });
    const puts = calls('/crm/contacts/');
    assert.equal(puts.length, 1);
    assert.equal(puts[0]!.url, '/crm/contacts/ada%40example.com');
    assert.equal(puts[0]!.headers.authorization, 'Bearer crm_token_123');

    for (let i = 0; i < 100 && !receiver.requests.some((r) => r.url === '/stripe-done'); i++) await new Promise((r) => setTimeout(r, 50));
    const delivered = receiver.requests.find((r) => r.url === '/stripe-done');
    assert.ok(delivered, 'the signed event arrived');
    const event = new Webhook(ep.body.data.secret).verify(delivered.body, delivered.headers as Record<string, string>) as { type: string; data: { executionId: string } };
    assert.deepEqual([event.type, event.data.executionId], ['execution.finished', first.body.data.executionId]);

    const other = JSON.stringify({ id: 'evt_gallery_2', object: 'event', type: 'invoice.paid', data: { object: { id: 'in_1' } } });
    const skipped = await call(hook, other, { 'content-type': 'application/json', 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: other, secret }) });
    const s = await waitDone(t, skipped.body.data.executionId);
    assert.equal(s.status, 'finish');
    assert.equal(calls('/crm/contacts/').length, 1, 'other event types touch nothing');
  });

  it('GitHub issue opened → agent triage → label and comment; other events branch away', async () => {
    const secret = 'gh_gallery_secret_123';
    const hook = await enable({ canvasId: 'c-github-issue-triage', bodyMode: 'raw', rawVariable: 'event', signature: { scheme: 'github', secret } });
    const send = async (eventName: string, payload: unknown, delivery: string) => {
      const raw = JSON.stringify(payload);
      return call(hook, raw, { 'content-type': 'application/json', 'x-github-event': eventName, 'x-github-delivery': delivery, 'x-hub-signature-256': await githubSign(secret, raw) });
    };
    const opened = await send('issues', { action: 'opened', issue: { number: 7, title: 'Crash when exporting', body: 'Export throws, looks like a bug' }, repository: { full_name: 'acme/app' } }, 'd-1');
    assert.equal(opened.status, 200, JSON.stringify(opened.body));
    const out = await output(opened.body.data.executionId);
    assert.deepEqual(out.output[0].value, { label: 'bug', comment: 'https://github.com/acme/app/issues/7#issuecomment-1' });
    const label = calls('/gh/repos/acme/app/issues/7/labels');
    assert.deepEqual(JSON.parse(label[0]!.body), { labels: ['bug'] });
    assert.equal(label[0]!.headers.authorization, 'Bearer ghp_token_123');
    assert.match(JSON.parse(calls('/gh/repos/acme/app/issues/7/comments')[0]!.body).body, /Triaged as \*\*bug\*\*/);

    const ping = await send('ping', { zen: 'Keep it logically awesome.', hook_id: 1 }, 'd-2');
    await waitDone(t, ping.body.data.executionId);
    assert.equal(calls('/gh/').length, 2, 'a ping labels and comments nothing');
  });

  it('form post (urlencoded) → enrichment retried after a 503 and checked → notification', async () => {
    const hook = await enable({ canvasId: 'c-form-enrich-notify', bodyMode: 'raw', rawVariable: 'form' });
    const r = await call(hook, 'email=grace%40Acme.io&name=Grace+Hopper', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const out = await output(r.body.data.executionId);
    assert.deepEqual(out.output[0].value, { company: 'Acme', announced: true });
    assert.equal(enrichCalls, 2, 'the 503 was retried');
    assert.equal(calls('/enrich/companies')[1]!.url, '/enrich/companies?domain=acme.io');
    assert.equal(JSON.parse(calls('/notify')[0]!.body).text, 'New lead: Grace Hopper <grace@Acme.io> from Acme (120 people)');
  });

  it('batch: a CSV upload scored row by row, the results as an output file', async () => {
    const form = new FormData();
    form.append('files', new Blob(['id,spend\nc1,250\nc2,40\n\nc3, 101\n'], { type: 'text/csv' }), 'customers.csv');
    const up = (await (await fetch(`${t.url}/v1/openapi/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` }, body: form })).json()) as any;
    const run = await t.api('POST', '/v1/openapi/workflow/c-nightly-batch/run', { body: { variables: { rows: up.data.files[0].fileKey } } });
    const out = await output(run.body.data.executionId);
    assert.deepEqual(out.output[0].value, { rows: 3, results: 'scores.csv' });
    const file = out.files.find((f: { name: string }) => f.name === 'scores.csv');
    assert.ok(file, JSON.stringify(out.files));
    assert.equal(await (await fetch(file.url)).text(), 'id,score\nc1,high\nc2,low\nc3,high');
  });

  it('support agent: two HTTP tools called, their answers in the reply', async () => {
    const run = await t.api('POST', '/v1/openapi/workflow/c-support-agent/run', { body: { variables: { question: 'Where is my parcel?', orderId: 'o-55' } } });
    const out = await output(run.body.data.executionId);
    const answer = out.output[0].value.answer as string;
    assert.match(answer, /3-5 days/);
    assert.match(answer, /shipped/);
    assert.equal(calls('/orders/orders/o-55').length, 1);
    assert.equal(calls('/help/search').length, 1);
  });

  it('fan-in: a condition skips one branch, the output joins whichever ran', async () => {
    const small = await t.api('POST', '/v1/openapi/workflow/c-fan-in-approval/run?wait=10', { body: { variables: { amount: 50, customer: 'cus_1' } } });
    assert.deepEqual(small.body.data.output[0].value, { approved: true, by: 'policy' });
    assert.equal(calls('/approvals').length, 0);
    const nodes = (await t.api('GET', `/v1/openapi/workflow/${small.body.data.executionId}/status`)).body.data.nodeExecutions;
    assert.equal(nodes.find((n: { nodeId: string }) => n.nodeId === 'askApproval').flowgateStatus, 'skipped');
    const large = await t.api('POST', '/v1/openapi/workflow/c-fan-in-approval/run?wait=10', { body: { variables: { amount: 5000, customer: 'cus_2' } } });
    assert.deepEqual(large.body.data.output[0].value, { approved: true, by: 'finance' });
    assert.deepEqual(JSON.parse(calls('/approvals')[0]!.body), { customer: 'cus_2', amount: 5000 });
  });
});
