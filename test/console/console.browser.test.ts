import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CONSOLE_DIR } from '../../src/http/console.ts';
import { fakeServer, json, type FakeServer } from '../helpers/fakes.ts';
import { ADMIN_KEY, startTestServer, type TestServer } from '../helpers/server.ts';

// The console in Debian's Chromium against a real server (SQLite: what the page shows does not
// depend on the store, which the API tests cover on both). `npm test` builds the console first.
// FLOWGATE_CONSOLE_SCREENSHOTS=docs/console writes the screenshots docs/console.md shows.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = process.env.FLOWGATE_CONSOLE_SCREENSHOTS;

describe('console (Chromium)', { skip: !existsSync(`${CONSOLE_DIR}index.html`) && 'console not built: npm run build:console' }, () => {
  let t: TestServer;
  let crm: FakeServer;
  let receiver: FakeServer;
  let browser: Browser;
  let crmUp = true;
  let receiverUp = false;
  /** Every console error, uncaught exception and CSP violation on any page, by page URL. */
  const problems: string[] = [];

  before(async () => {
    crm = await fakeServer((_req, _body, res) => (crmUp ? json(res, 200, { id: 'crm-1', ok: true }) : json(res, 503, { error: 'maintenance' })));
    receiver = await fakeServer((_req, _body, res) => (receiverUp ? json(res, 200, {}) : json(res, 500, { error: 'receiver down' })));
    t = await startTestServer('sqlite', { allowPrivateNetworks: true, deliveryRetrySchedule: [0, 0.05] });
    const wf = await t.api('POST', '/v1/workflows', {
      body: {
        canvasId: 'c-signup',
        title: 'Signup to CRM',
        description: 'Normalises a signup and upserts it in the CRM',
        variables: [
          { name: 'email', variableType: 'string', required: true, description: 'Who signed up' },
          { name: 'plan', variableType: 'option', options: ['free', 'pro'], default: 'free' },
          { name: 'seats', variableType: 'number' },
        ],
        tasks: [
          { id: 'normalize', kind: 'transform', title: 'Normalise', expression: '$lowercase(variables.email)' },
          {
            id: 'crm',
            kind: 'http',
            title: 'Upsert in CRM',
            dependentTasks: ['normalize'],
            request: { method: 'POST', url: `${crm.url}/contacts`, body: { email: '{{ tasks.normalize.output }}', plan: '{{ variables.plan }}' } },
            retry: { maxAttempts: 2, initialDelayMs: 20 },
          },
          { id: 'result', kind: 'output', title: 'Result', dependentTasks: ['crm'], value: { email: '{{ tasks.normalize.output }}', crm: '{{ tasks.crm.output.body.id }}' } },
        ],
      },
    });
    assert.equal(wf.status, 201, JSON.stringify(wf.body));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await t?.close();
    await crm?.close();
    await receiver?.close();
  });

  async function signedIn(key: string): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    page.on('console', (m) => m.type() === 'error' && problems.push(`${page.url()}: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`${page.url()}: ${e.message}`));
    await page.goto(t.url);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    return { context, page };
  }

  const shot = async (page: Page, name: string) => {
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: false });
  };

  /** Submits the generated form and lands on the new run's page; returns its id. */
  async function runFromForm(page: Page, email: string): Promise<string> {
    await page.goto(`${t.url}/ui/workflows/c-signup`);
    await page.getByLabel(/^email/).fill(email);
    await page.getByLabel(/^plan/).selectOption('pro');
    await page.getByLabel(/^seats/).fill('3');
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.waitForURL(/\/ui\/runs\/we-/);
    return page.url().split('/').pop()!;
  }

  it('serves the page with a strict CSP, long-cached assets, no key in the HTML, and / leads to it', async () => {
    const root = await fetch(`${t.url}/`, { redirect: 'manual' });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/ui/');
    const page = await fetch(`${t.url}/ui/runs/we-whatever`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.doesNotMatch(page.headers.get('content-security-policy') ?? '', /unsafe/);
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    const html = await page.text();
    assert.ok(!html.includes(ADMIN_KEY) && !/fg_/.test(html), 'the page carries no key');
    const asset = html.match(/\/ui\/assets\/[^"]+\.js/)![0];
    const a = await fetch(`${t.url}${asset}`);
    assert.equal(a.status, 200);
    assert.match(a.headers.get('cache-control') ?? '', /immutable/);
    assert.equal((await fetch(`${t.url}/ui/assets/nope.js`)).status, 404);
  });

  it('signs in, runs from the generated form and watches the run finish without reloading', async () => {
    const { context, page } = await signedIn(ADMIN_KEY);
    await shot(page, 'runs-empty');
    crmUp = true;
    const id = await runFromForm(page, 'Ada@Example.com');
    // Polling moves the page along: the heading's badge turns to finish with no reload.
    await page.locator('h1 .badge', { hasText: 'finish' }).waitFor({ timeout: 15_000 });
    await page.getByRole('heading', { name: 'Output' }).waitFor();
    assert.match(await page.getByLabel('Run output').innerText(), /ada@example\.com/);
    await page.locator('[data-node="crm"]').click();
    await page.getByTestId('node-panel').getByText('Upsert in CRM').waitFor();
    assert.match(await page.getByLabel('Node input').innerText(), /"method": "POST"[\s\S]*contacts/);
    assert.ok((await page.locator('.react-flow__node').count()) === 3, 'the DAG draws three nodes');
    await shot(page, 'run-detail');
    await page.goto(`${t.url}/ui/`);
    await page.locator(`a[href="/ui/runs/${id}"]`).waitFor();
    assert.equal(await page.getByTestId('count-finish').innerText(), '1');
    await shot(page, 'runs');
    await context.close();
  });

  it('shows a failed node\'s HTTP status and error, and a retry after the third party recovers finishes the run', async () => {
    const { context, page } = await signedIn(ADMIN_KEY);
    crmUp = false;
    await runFromForm(page, 'grace@example.com');
    await page.locator('h1 .badge', { hasText: 'failed' }).waitFor({ timeout: 15_000 });
    await page.locator('[data-node="crm"]').click();
    const panel = page.getByTestId('node-panel');
    await panel.getByTestId('node-error').waitFor();
    assert.match(await panel.getByTestId('node-error').innerText(), /HTTP_|503/);
    const statuses = await panel.getByTestId('attempt-http').allInnerTexts();
    assert.deepEqual(statuses, ['503', '503'], 'both attempts answered 503');
    await shot(page, 'run-failed');
    crmUp = true;
    await page.getByRole('button', { name: 'Retry', exact: true }).click();
    await page.locator('h1 .badge', { hasText: 'finish' }).waitFor({ timeout: 15_000 });
    await context.close();
  });

  it('shows why a node waits and when it runs next, and aborts the run from its page', async () => {
    const wf = await t.api('POST', '/v1/workflows', {
      body: {
        canvasId: 'c-patient',
        title: 'Patient caller',
        tasks: [{ id: 'call', kind: 'http', title: 'Call CRM', request: { url: `${crm.url}/slow` }, retry: { maxAttempts: 3, initialDelayMs: 60_000 } }],
      },
    });
    assert.equal(wf.status, 201, JSON.stringify(wf.body));
    crmUp = false;
    const run = await t.api('POST', '/v1/openapi/workflow/c-patient/run', { body: {} });
    const { context, page } = await signedIn(ADMIN_KEY);
    await page.goto(`${t.url}/ui/runs/${run.body.data.executionId}`);
    await page.locator('[data-node="call"]').click();
    const waiting = page.getByTestId('waiting-for');
    await waiting.waitFor({ timeout: 15_000 });
    assert.match(await waiting.innerText(), /Waiting for retry until .*UPSTREAM_ERROR/);
    await page.getByRole('button', { name: 'Abort' }).click();
    await page.locator('h1 .badge', { hasText: 'failed' }).waitFor({ timeout: 15_000 });
    assert.match(await page.getByTestId('run-error').innerText(), /ABORTED/);
    crmUp = true;
    await context.close();
  });

  it('replays a failed delivery from the endpoint page, and sends a test event', async () => {
    receiverUp = false;
    const ep = await t.api('POST', '/v1/event-endpoints', { body: { url: `${receiver.url}/hook`, eventTypes: ['execution.finished'] } });
    assert.equal(ep.status, 201, JSON.stringify(ep.body));
    const run = await t.api('POST', '/v1/openapi/workflow/c-signup/run?wait=10', { body: { variables: { email: 'x@example.com' } } });
    assert.equal(run.body.data.status, 'finish');
    const { context, page } = await signedIn(ADMIN_KEY);
    await page.getByRole('link', { name: 'Event endpoints' }).click();
    await shot(page, 'event-endpoints');
    await page.getByRole('link', { name: `${receiver.url}/hook` }).click();
    // Two attempts, both 500: the message fails and the page (polling) shows it.
    const row = page.locator('tr[data-message]').filter({ hasText: 'execution.finished' });
    await row.locator('.badge', { hasText: 'failed' }).waitFor({ timeout: 15_000 });
    await shot(page, 'event-endpoint');
    receiverUp = true;
    await row.getByRole('button', { name: 'Replay' }).click();
    await row.locator('.badge', { hasText: 'succeeded' }).waitFor({ timeout: 15_000 });
    // Edit: a description and a narrower subscription, through the form.
    await page.getByText('Edit endpoint').click();
    await page.getByRole('form', { name: 'Edit endpoint' }).getByLabel('Description').fill('CRM sync');
    await page.getByRole('button', { name: 'Save endpoint' }).click();
    await page.locator('main > p', { hasText: 'CRM sync' }).waitFor();
    assert.equal((await t.api('GET', `/v1/event-endpoints/${ep.body.data.id}`)).body.data.description, 'CRM sync');
    await page.getByRole('button', { name: 'Send test event' }).click();
    await page.getByRole('status').filter({ hasText: 'Test event queued' }).waitFor();
    // The page lists it beside the replayed one, and the receiver gets it signed like any event.
    await page.locator('tr[data-message]').nth(1).waitFor();
    await page.locator('tr[data-message]').first().locator('.badge', { hasText: 'succeeded' }).waitFor({ timeout: 15_000 });
    const test = receiver.requests.find((r) => r.body.includes('"test":true'));
    assert.ok(test, 'the receiver got the test event');
    assert.ok(test.headers['webhook-signature'], 'signed');
    await context.close();
  });

  it('bulk-retries failed runs from the failed-runs page', async () => {
    crmUp = false;
    for (const email of ['a@x.io', 'b@x.io']) {
      const r = await t.api('POST', '/v1/openapi/workflow/c-signup/run?wait=10', { body: { variables: { email } } });
      assert.equal(r.body.data.status, 'failed');
    }
    const { context, page } = await signedIn(ADMIN_KEY);
    await page.getByRole('link', { name: 'Failed runs' }).click();
    // The aborted run of another workflow is failed too; the filter leaves it out of the replay.
    await page.getByLabel('Workflow').selectOption('c-signup');
    await page.waitForURL(/canvasId=c-signup/);
    // Runs in the page (this file is compiled without the DOM's types, hence the casts).
    await page.waitForFunction(() => {
      const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<{ textContent: string | null }> } }).document;
      const rows = Array.from(doc.querySelectorAll('table[aria-label="Runs"][aria-busy="false"] tbody tr'));
      return rows.length >= 2 && rows.every((r) => r.textContent?.includes('c-signup'));
    });
    assert.equal(await page.locator('tr[data-status="failed"]').count(), 2);
    await shot(page, 'failed-runs');
    crmUp = true;
    page.once('dialog', (d) => d.accept());
    await page.getByRole('button', { name: 'Retry all matching' }).click();
    assert.match(await page.getByTestId('bulk-result').innerText(), /Retried 2 run/);
    await context.close();
  });

  it('creates an API key (secret shown once) and a read key sees no mutating buttons', async () => {
    const { context, page } = await signedIn(ADMIN_KEY);
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByLabel('Name').fill('dashboard reader');
    await page.getByLabel('run').uncheck();
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = await page.getByTestId('secret').innerText();
    assert.match(secret, /^fg_/);
    await page.getByRole('cell', { name: 'dashboard reader' }).waitFor();
    await shot(page, 'api-keys');
    await page.getByRole('link', { name: 'Workflows' }).click();
    await page.getByRole('link', { name: 'Signup to CRM' }).waitFor();
    await shot(page, 'workflows');
    await page.goto(`${t.url}/ui/workflows/c-signup`);
    await page.getByTestId('webhook-url').or(page.getByRole('button', { name: 'Enable webhook' })).first().waitFor();
    if (await page.getByRole('button', { name: 'Enable webhook' }).isVisible()) await page.getByRole('button', { name: 'Enable webhook' }).click();
    await page.getByTestId('webhook-url').waitFor();
    await shot(page, 'workflow');
    await context.close();

    const reader = await signedIn(secret);
    const failed = await t.api('GET', '/v1/executions?status=failed&limit=1');
    const anyRun = await t.api('GET', '/v1/executions?limit=1');
    for (const path of [`/ui/runs/${anyRun.body.data.records[0].executionId}`, '/ui/workflows/c-signup', '/ui/failed', '/ui/']) {
      await reader.page.goto(`${t.url}${path}`);
      await reader.page.locator('main h1').first().waitFor();
      await reader.page.waitForLoadState('networkidle');
      for (const name of ['Run', 'Abort', 'Retry', 'Retry all matching', 'Enable webhook', 'Disable', 'Reset URL']) {
        assert.equal(await reader.page.getByRole('button', { name, exact: true }).count(), 0, `${path} shows no "${name}" button to a read key`);
      }
    }
    assert.equal(await reader.page.getByRole('link', { name: 'API keys' }).count(), 0);
    assert.equal(await reader.page.getByRole('link', { name: 'Event endpoints' }).count(), 0);
    assert.ok(failed.status === 200);
    await reader.context.close();
  });

  it('a wrong key is refused at sign-in with the server\'s reason', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${t.url}/ui/`);
    await page.getByLabel('API key').fill('fg_not_a_real_key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Invalid API key' }).waitFor();
    await context.close();
  });

  it('no page logged an error, threw, or broke the CSP', () => {
    // The wrong-key sign-in's 401 is the only request expected to fail; it is not on this list
    // because that page has no listener.
    assert.deepEqual(problems, []);
  });
});
