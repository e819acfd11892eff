import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fakeServer, json, type FakeServer } from '../helpers/fakes.ts';
import { BIN, exited, freePort, runCli } from '../helpers/process.ts';
import { ADMIN_KEY, startTestServer, type TestServer } from '../helpers/server.ts';

// The `flowgate` binary against a real server (SQLite: the CLI is a client of the API, whose
// behaviour on both stores the API tests pin).
describe('flowgate CLI against a running server', () => {
  let t: TestServer;
  let crm: FakeServer;
  let receiver: FakeServer;
  let crmUp = true;
  let env: Record<string, string>;
  const dir = mkdtempSync(path.join(tmpdir(), 'flowgate-cli-'));
  const cli = (...args: string[]) => runCli(args, env);

  before(async () => {
    crm = await fakeServer((_req, _body, res) => (crmUp ? json(res, 200, { id: 'crm-7' }) : json(res, 500, { error: 'down' })));
    receiver = await fakeServer((_req, _body, res) => json(res, 200, {}));
    t = await startTestServer('sqlite', { workflowsPath: 'examples/workflows', allowPrivateNetworks: true, deliveryRetrySchedule: [0, 0.05] });
    // A profile directory of its own, so a developer's ~/.config/flowgate never leaks in.
    env = { FLOWGATE_URL: t.url, FLOWGATE_API_KEY: ADMIN_KEY, XDG_CONFIG_HOME: dir };
    writeFileSync(
      path.join(dir, 'crm.yaml'),
      [
        'canvasId: c-crm-sync',
        'title: CRM sync',
        'description: Pushes a contact to the CRM',
        'variables:',
        '  - { name: email, variableType: string, required: true }',
        '  - { name: seats, variableType: number }',
        'tasks:',
        `  - { id: push, kind: http, title: Push, request: { method: POST, url: "${crm.url}/contacts", body: { email: "{{ variables.email }}", seats: "{{ variables.seats }}" } }, retry: { maxAttempts: 1 } }`,
        '  - { id: result, kind: output, dependentTasks: [push], value: { crm: "{{ tasks.push.output.body.id }}", seats: "{{ variables.seats }}" } }',
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await t.close();
    await crm.close();
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--version prints the package version', async () => {
    const r = await cli('--version');
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), JSON.parse(readFileSync('package.json', 'utf8')).version);
  });

  it('validates offline with the server\'s own messages, and usage mistakes exit 2', async () => {
    const good = await runCli(['workflows', 'validate', 'examples/workflows/feedback-triage.json'], { XDG_CONFIG_HOME: dir });
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /valid \(5 tasks, 3 variables\)/);
    const badDef = { title: 'Loop', tasks: [{ id: 'a', kind: 'transform', expression: '1', dependentTasks: ['b'] }, { id: 'b', kind: 'transform', expression: '2', dependentTasks: ['a'] }] };
    writeFileSync(path.join(dir, 'loop.json'), JSON.stringify(badDef));
    const bad = await runCli(['workflows', 'validate', path.join(dir, 'loop.json')], { XDG_CONFIG_HOME: dir });
    assert.equal(bad.code, 1);
    const server = await t.api('POST', '/v1/workflows', { body: badDef });
    assert.equal(bad.stderr.trim(), `flowgate: ${path.join(dir, 'loop.json')}: ${server.body.errCode}: ${server.body.errMsg}`);
    assert.equal(bad.stderr.trim().split('\n').length, 1, 'one line');
    const missing = await cli('workflows', 'validate', path.join(dir, 'nope.yaml'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no such file/);
    assert.equal((await cli('run')).code, 2);
    assert.equal((await cli('frobnicate')).code, 2);
  });

  it('pushes a YAML workflow (create, then a new version) and lists it', async () => {
    const first = await cli('workflows', 'push', path.join(dir, 'crm.yaml'));
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /created c-crm-sync \(version 1\)/);
    const same = await cli('--json', 'workflows', 'push', path.join(dir, 'crm.yaml'));
    assert.deepEqual(JSON.parse(same.stdout), { canvasId: 'c-crm-sync', version: 1, title: 'CRM sync', created: false, unchanged: true });
    writeFileSync(path.join(dir, 'crm.yaml'), readFileSync(path.join(dir, 'crm.yaml'), 'utf8').replace('Pushes a contact', 'Upserts a contact'));
    const again = await cli('--json', 'workflows', 'push', path.join(dir, 'crm.yaml'));
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout), { canvasId: 'c-crm-sync', version: 2, title: 'CRM sync', created: false, unchanged: false });
    const list = await cli('workflows', 'list');
    assert.match(list.stdout, /c-crm-sync\s+2\s/);
    const get = await cli('workflows', 'get', 'c-crm-sync', '--at', '1');
    assert.match(get.stdout, /title: CRM sync/);
  });

  it('run --wait: a finishing run prints its output (exit 0); a failing one exits 1 with its error on one line', async () => {
    crmUp = true;
    const ok = await cli('run', 'c-crm-sync', '--var', 'email=ada@example.com', '--var', 'seats=3', '--wait');
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout), { crm: 'crm-7', seats: 3 });
    assert.match(ok.stderr, /node push: finish/);
    const sent = JSON.parse(crm.requests.at(-1)!.body);
    assert.equal(sent.seats, 3, '--var seats=3 went as a number, as the schema says');
    const run = (await t.api('GET', '/v1/executions?canvasId=c-crm-sync&limit=1')).body.data.records[0];
    assert.equal(run.trigger, 'cli');

    crmUp = false;
    const bad = await cli('--json', 'run', 'c-crm-sync', '--var', 'email=x@example.com', '--wait', '--idempotency-key', 'cli-fail-1');
    assert.equal(bad.code, 1);
    assert.equal(JSON.parse(bad.stdout).status, 'failed');
    assert.match(bad.stderr, /^flowgate: execution we-\S+ failed: UPSTREAM_ERROR/);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    const again = await cli('--json', 'run', 'c-crm-sync', '--var', 'email=x@example.com', '--idempotency-key', 'cli-fail-1');
    assert.equal(JSON.parse(again.stdout).executionId, JSON.parse(bad.stdout).executionId, 'the same key returns the first run');
    crmUp = true;

    const invalid = await cli('run', 'c-crm-sync', '--var', 'seats=3');
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /INVALID_VARIABLES.*email/);
  });

  it('tails a run live to its end, then lists, reads and bulk-retries failed runs', async () => {
    const started = await cli('run', 'c-feedback-triage', '--var', 'feedback=The site is down');
    assert.equal(started.code, 0, started.stderr);
    const id = started.stdout.trim();
    const tail = await cli('executions', 'tail', id);
    assert.equal(tail.code, 0, tail.stderr);
    assert.match(tail.stdout, /"urgent": true/);
    const status = await cli('executions', 'status', id);
    assert.match(status.stdout, new RegExp(`${id} \\(c-feedback-triage\\): finish`));

    crmUp = false;
    for (const email of ['a@x.io', 'b@x.io']) assert.equal((await cli('run', 'c-crm-sync', '--var', `email=${email}`, '--wait')).code, 1);
    const failed = await cli('--json', 'executions', 'list', '--status', 'failed', '--workflow', 'c-crm-sync');
    assert.ok(JSON.parse(failed.stdout).records.length >= 2);
    crmUp = true;
    const retried = await cli('--json', 'executions', 'retry', '--failed', '--since', '1h', '--workflow', 'c-crm-sync');
    assert.equal(retried.code, 0, retried.stderr);
    const r = JSON.parse(retried.stdout) as { retried: number; executionIds: string[] };
    assert.ok(r.retried >= 2);
    for (const e of r.executionIds) {
      const done = await cli('executions', 'tail', e);
      assert.equal(done.code, 0, `${e} finishes after the retry: ${done.stderr}`);
    }
    assert.equal((await cli('executions', 'retry', '--failed')).code, 2, '--failed needs --since');
  });

  it('events listen receives, verifies and forwards a real delivery, refuses a forged one, and removes its endpoint', async () => {
    const child = spawn(process.execPath, [BIN, 'events', 'listen', '--count', '1', '--events', 'execution.finished', '--forward-to', `${receiver.url}/local`], { env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    try {
      for (let i = 0; i < 100 && !/Ready: .* arrive at (\S+)/.test(err); i++) await new Promise((r) => setTimeout(r, 100));
      const listenUrl = /arrive at (\S+) /.exec(err)![1]!;
      const forged = await fetch(listenUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'webhook-id': 'msg_x', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,Zm9yZ2Vk' }, body: '{"type":"execution.finished"}' });
      assert.equal(forged.status, 400, 'a delivery not signed with the listener\'s secret is refused');
      const run = await cli('run', 'c-feedback-triage', '--var', 'feedback=ping', '--wait');
      assert.equal(run.code, 0, run.stderr);
      assert.equal(await exited(child), 0, err);
    } finally {
      child.kill();
    }
    assert.match(out, /execution\.finished we-/);
    const forwarded = receiver.requests.find((r) => r.url === '/local');
    assert.ok(forwarded, 'forwarded to --forward-to');
    assert.match(String(forwarded.headers['webhook-signature']), /^v1,/);
    assert.equal(JSON.parse(forwarded.body).type, 'execution.finished');
    assert.match(err, /endpoint ep-\S+ removed/);
    assert.equal((await t.api('GET', '/v1/event-endpoints')).body.data.endpoints.length, 0);
  });

  it('webhooks: enable prints the URL, call starts a run, history lists it; keys: list, create --remote, revoke', async () => {
    const en = await cli('--json', 'webhooks', 'enable', 'c-feedback-triage');
    assert.equal(en.code, 0, en.stderr);
    const w = JSON.parse(en.stdout) as { webhookId: string; webhookUrl: string };
    assert.match(w.webhookUrl, /\/v1\/openapi\/webhook\/wh_/);
    const call = await cli('webhooks', 'call', w.webhookId, '--data', '{"variables":{"feedback":"from the cli"}}');
    assert.equal(call.code, 0, call.stderr);
    assert.match(call.stdout, /^we-/);
    const history = await cli('webhooks', 'history', 'c-feedback-triage');
    assert.match(history.stdout, new RegExp(call.stdout.trim()));
    assert.equal((await cli('webhooks', 'disable', 'c-feedback-triage')).code, 0);
    const refused = await cli('webhooks', 'call', w.webhookId, '--data', '{}');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /WEBHOOK_DISABLED/);

    const made = await cli('--json', 'keys', 'create', '--remote', '--scopes', 'read', '--name', 'ci reader');
    assert.equal(made.code, 0, made.stderr);
    const key = JSON.parse(made.stdout) as { id: string; secret: string };
    assert.match((await cli('keys', 'list')).stdout, /ci reader/);
    const denied = await runCli(['run', 'c-feedback-triage', '--var', 'feedback=x'], { ...env, FLOWGATE_API_KEY: key.secret });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /FORBIDDEN/);
    assert.equal((await cli('keys', 'revoke', key.id)).code, 0);
  });

  it('a bad key or an unreachable server is one line, no stack trace', async () => {
    const bad = await runCli(['executions', 'list'], { ...env, FLOWGATE_API_KEY: 'fg_wrong' });
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'flowgate: UNAUTHORIZED: Invalid API key\n');
    const closed = await freePort();
    const down = await runCli(['workflows', 'list'], { ...env, FLOWGATE_URL: `http://127.0.0.1:${closed}` });
    assert.equal(down.code, 1);
    assert.equal(down.stderr, `flowgate: UNREACHABLE: cannot reach Flowgate at http://127.0.0.1:${closed} (ECONNREFUSED); is it running? (FLOWGATE_URL)\n`);
    assert.equal(down.stderr.split('\n').filter(Boolean).length, 1);
    const none = await runCli(['workflows', 'list'], { FLOWGATE_URL: t.url, FLOWGATE_API_KEY: '', XDG_CONFIG_HOME: dir });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no API key/);
  });

  it('login saves a checked profile that later commands use; skill export writes SKILL.md', async () => {
    const login = await runCli(['login', '--url', t.url, '--api-key', ADMIN_KEY], { XDG_CONFIG_HOME: dir, FLOWGATE_URL: '', FLOWGATE_API_KEY: '' });
    assert.equal(login.code, 0, login.stderr);
    const list = await runCli(['workflows', 'list'], { XDG_CONFIG_HOME: dir, FLOWGATE_URL: '', FLOWGATE_API_KEY: '' });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /c-feedback-triage/);
    const out = path.join(dir, 'skills');
    const skill = await cli('skill', 'export', 'c-feedback-triage', '--out', out);
    assert.equal(skill.code, 0, skill.stderr);
    const md = readFileSync(path.join(out, 'feedback-triage', 'SKILL.md'), 'utf8');
    assert.match(md, /^---\nname: feedback-triage\ndescription: "Normalises customer feedback/);
    assert.match(md, /npx flowgate run c-feedback-triage --var feedback="<feedback>" --wait --json/);
    assert.match(md, /`customer` \(json\)/);
    assert.match(md, /feedback_triage__c-feedback-triage/);
  });
});
