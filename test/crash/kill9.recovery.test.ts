import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { exited, freePort, spawnServer } from '../helpers/process.ts';
import { freshTarget, STORE_KINDS } from '../helpers/stores.ts';

const KEY = 'fg_crash_test_key_000000000000000000';

/** Counts calls per Idempotency-Key; answers after a short delay so some calls are in flight at the kill. */
function receiver(): Promise<{ server: Server; url: string; calls: Map<string, number> }> {
  const calls = new Map<string, number>();
  const server = createServer((req, res) => {
    const key = String(req.headers['idempotency-key']);
    calls.set(key, (calls.get(key) ?? 0) + 1);
    req.resume();
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), 20);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, calls })));
}

for (const kind of STORE_KINDS) {
  describe(`kill -9 mid-burst loses nothing (${kind})`, () => {
    it('every accepted run reaches a terminal state and no finished node calls out twice', async () => {
      const target = freshTarget(kind);
      const rx = await receiver();
      const wfFile = path.join(target.config.dataDir, 'crash.json');
      writeFileSync(
        wfFile,
        JSON.stringify({
          canvasId: 'c-crash',
          title: 'Crash',
          variables: [{ name: 'n', variableType: 'number', required: true }],
          tasks: [
            { id: 'prep', kind: 'transform', expression: 'variables.n * 2' },
            { id: 'call', kind: 'http', dependentTasks: ['prep'], request: { method: 'POST', url: `${rx.url}/hook`, body: { n: '{{ tasks.prep.output }}' } } },
            { id: 'out', kind: 'output', dependentTasks: ['call'], value: '{{ tasks.call.output.status }}' },
          ],
        }),
      );
      const env: Record<string, string> = {
        FLOWGATE_DATA_DIR: target.config.dataDir,
        FLOWGATE_API_KEY: KEY,
        FLOWGATE_WORKFLOWS: wfFile,
        FLOWGATE_ALLOW_PRIVATE_NETWORKS: 'true',
        FLOWGATE_RATE_LIMIT_PER_MINUTE: '1000000',
        FLOWGATE_LEASE_MS: '1500',
        LOG_LEVEL: 'warn',
      };
      if (target.config.databaseUrl) {
        env.DATABASE_URL = target.config.databaseUrl;
        env.FLOWGATE_DATABASE_SCHEMA = target.config.databaseSchema!;
      }
      const port = await freePort();
      let proc = await spawnServer(env, port);
      const accepted: string[] = [];
      let stop = false;
      const fire = async (i: number) => {
        while (!stop && i < 400) {
          try {
            const r = await fetch(`${proc.url}/v1/openapi/workflow/c-crash/run`, {
              method: 'POST',
              headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
              body: JSON.stringify({ variables: { n: i } }),
            });
            const body = (await r.json()) as { data?: { executionId: string } };
            if (r.status === 200 && body.data) accepted.push(body.data.executionId);
          } catch {
            return; // the server died under us: an unanswered request was never accepted
          }
          i += 20;
        }
      };
      const burst = Promise.all(Array.from({ length: 20 }, (_, i) => fire(i)));
      const burstDeadline = Date.now() + 30_000;
      while (accepted.length < 120 && Date.now() < burstDeadline) await new Promise((r) => setTimeout(r, 5));
      assert.ok(accepted.length >= 120, `only ${accepted.length} runs accepted before the kill:\n${proc.output()}`);
      proc.child.kill('SIGKILL');
      await exited(proc.child);
      stop = true;
      await burst;

      proc = await spawnServer(env, port);
      try {
        const statuses = new Map<string, { status: string; nodeExecutions: { nodeId: string; status: string; attempts: unknown[] }[] }>();
        const deadline = Date.now() + 60_000;
        for (const id of accepted) {
          for (;;) {
            const r = await fetch(`${proc.url}/v1/openapi/workflow/${id}/status`, { headers: { authorization: `Bearer ${KEY}` } });
            const body = (await r.json()) as { data: { status: string; nodeExecutions: { nodeId: string; status: string; attempts: unknown[] }[] } };
            assert.equal(r.status, 200, `accepted execution ${id} must exist after the crash`);
            if (body.data.status === 'finish' || body.data.status === 'failed') {
              statuses.set(id, body.data);
              break;
            }
            assert.ok(Date.now() < deadline, `execution ${id} still ${body.data.status} after recovery`);
            await new Promise((r) => setTimeout(r, 50));
          }
        }
        let repeated = 0;
        for (const [id, s] of statuses) {
          assert.equal(s.status, 'finish', `${id} should finish: the receiver is healthy; got ${JSON.stringify(s)}`);
          const call = s.nodeExecutions.find((n) => n.nodeId === 'call')!;
          const seen = rx.calls.get(`${id}:call`) ?? 0;
          assert.ok(seen >= 1, `${id}: the finished http node reached the receiver`);
          // A call can repeat only when its attempt was interrupted; a finished attempt never runs again.
          assert.ok(seen <= call.attempts.length, `${id}: ${seen} calls but ${call.attempts.length} attempts`);
          if (seen > 1) repeated++;
        }
        process.stdout.write(`# crash (${kind}): ${accepted.length} accepted, all terminal; ${repeated} in-flight calls repeated with the same Idempotency-Key\n`);
      } finally {
        proc.child.kill('SIGTERM');
        await exited(proc.child);
        rx.server.close();
        await target.cleanup(false);
      }
    });
  });
}
