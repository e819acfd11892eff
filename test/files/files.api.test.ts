import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { signLink } from '../../src/files/links.ts';
import { LocalDiskStorage } from '../../src/files/storage.ts';
import { sweepExpiredFiles } from '../../src/files/sweeper.ts';
import { hashSecret } from '../../src/http/auth.ts';
import { fakeServer, json, type FakeServer } from '../helpers/fakes.ts';
import { ADMIN_KEY, startTestServer, waitDone, type TestServer } from '../helpers/server.ts';
import { STORE_KINDS } from '../helpers/stores.ts';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const OTHER = 'fg_files_other_ws_key_0000000000000';

async function upload(t: TestServer, files: { name: string; type: string; content: Buffer | string }[], key = ADMIN_KEY) {
  const form = new FormData();
  for (const f of files) form.append('files', new Blob([f.content], { type: f.type }), f.name);
  const res = await fetch(`${t.url}/v1/openapi/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
  return { status: res.status, body: (await res.json()) as any };
}

for (const kind of STORE_KINDS) {
  describe(`files (${kind})`, () => {
    let t: TestServer;
    let rx: FakeServer;
    const received: { headers: Record<string, unknown>; body: Buffer }[] = [];
    const produced = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
    before(async () => {
      rx = await fakeServer((req, body, res) => {
        if (req.url === '/report.bin') return res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': 'attachment; filename="report.bin"' }).end(produced);
        json(res, 200, { ok: true });
      });
      // Raw bytes matter here, so a second receiver keeps the body as a Buffer.
      t = await startTestServer(kind, { allowPrivateNetworks: true, uploadMaxFiles: 3, uploadMaxFileBytes: 64 * 1024 });
      await t.server.store.catalog.ensureWorkspace('ws-files-other', 1);
      await t.server.store.catalog.createApiKey({ id: 'ak-fo', workspaceId: 'ws-files-other', name: 'o', prefix: 'fg_file', secretHash: hashSecret(OTHER), scopes: ['admin'], createdAt: 1 });
    });
    after(async () => {
      await t.close();
      await rx.close();
    });
    const filesDir = () => path.join(t.target.config.dataDir, 'files');
    const blobCount = () => readdirSync(filesDir()).length;

    it('uploads one and many, streaming to storage, with size, type and sha256', async () => {
      const r = await upload(t, [
        { name: 'a.txt', type: 'text/plain', content: 'hello file' },
        { name: 'b.json', type: 'application/json', content: '{"x":1}' },
      ]);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.data.files.length, 2);
      const [a] = r.body.data.files;
      assert.match(a.fileKey, /^fk-[A-Za-z0-9]{24}$/);
      assert.deepEqual([a.fileName, a.type, a.size, a.sha256], ['a.txt', 'text/plain', 10, sha('hello file')]);
    });

    it('a file sent as octet-stream (curl -F does for .md) or untyped gets the type its extension names', async () => {
      // This server takes three files a request.
      const r = await upload(t, [
        { name: 'notes.md', type: 'application/octet-stream', content: '# hi' },
        { name: 'rows.csv', type: '', content: 'a,b' },
        { name: 'blob.unknownext', type: 'application/octet-stream', content: 'x' },
      ]);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.data.files.map((f: { type: string }) => f.type), ['text/markdown', 'text/csv', 'application/octet-stream']);
      const declared = await upload(t, [{ name: 'keep.md', type: 'text/plain', content: 'declared wins' }]);
      assert.equal(declared.body.data.files[0].type, 'text/plain');
    });

    it('refuses over-limit uploads with 413 naming the limit, and stores nothing from them', async () => {
      await upload(t, [{ name: 'warm.txt', type: 'text/plain', content: 'x' }]);
      const before = blobCount();
      const many = await upload(t, Array.from({ length: 4 }, (_, i) => ({ name: `${i}.txt`, type: 'text/plain', content: 'x' })));
      assert.equal(many.status, 413);
      assert.equal(many.body.errCode, 'PAYLOAD_TOO_LARGE');
      assert.match(many.body.errMsg, /3 files/);
      const big = await upload(t, [{ name: 'ok.txt', type: 'text/plain', content: 'small' }, { name: 'big.bin', type: 'application/octet-stream', content: Buffer.alloc(70 * 1024) }]);
      assert.equal(big.status, 413);
      assert.match(big.body.errMsg, /65536 bytes/);
      assert.equal(blobCount(), before, 'no blob left behind');
      const json = await t.api('POST', '/v1/openapi/files/upload', { body: { files: [] } });
      assert.equal(json.status, 415);
      assert.equal(json.body.errCode, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('resolves fileKeys in API and webhook runs; unknown or foreign keys are FILE_NOT_FOUND', async () => {
      const up = await upload(t, [{ name: 'doc.txt', type: 'text/plain', content: 'the contract text' }]);
      const key = up.body.data.files[0].fileKey;
      const wf = await t.api('POST', '/v1/workflows', {
        body: { title: 'Doc', variables: [{ name: 'doc', variableType: 'resource', required: true }], tasks: [{ id: 'o', kind: 'output', value: { doc: '{{ variables.doc }}', text: '{{ $fileText(variables.doc) }}' } }] },
      });
      const canvasId = wf.body.data.canvasId;
      const run = await t.api('POST', `/v1/openapi/workflow/${canvasId}/run?wait=10`, { body: { variables: { doc: key } } });
      assert.equal(run.body.data.status, 'finish', JSON.stringify(run.body));
      assert.deepEqual(run.body.data.output[0].value, {
        doc: { fileKey: key, name: 'doc.txt', type: 'text/plain', size: 17, sha256: sha('the contract text') },
        text: 'the contract text',
      });
      const wh = (await t.api('POST', '/v1/webhook/enable', { body: { canvasId, timeout: 10 } })).body.data;
      const hook = await t.api('POST', `/v1/openapi/webhook/${wh.webhookId}/run`, { key: null, body: { variables: { doc: key } } });
      assert.equal(hook.body.data.output[0].value.doc.fileKey, key);
      const unknown = await t.api('POST', `/v1/openapi/workflow/${canvasId}/run`, { body: { variables: { doc: 'fk-nope' } } });
      assert.equal(unknown.body.errCode, 'FILE_NOT_FOUND');
      const foreign = await upload(t, [{ name: 'x.txt', type: 'text/plain', content: 'theirs' }], OTHER);
      const cross = await t.api('POST', `/v1/openapi/workflow/${canvasId}/run`, { body: { variables: { doc: foreign.body.data.files[0].fileKey } } });
      assert.equal(cross.status, 400);
      assert.equal(cross.body.errCode, 'FILE_NOT_FOUND');
      assert.match(cross.body.errMsg, /variables\.doc/);
    });

    it('sends a file as an http body and as a multipart part; saves a response as an output file with a signed link', async () => {
      const content = Buffer.from('%PDF-1.7 fake pdf bytes \u0000\u0001\u0002');
      const up = await upload(t, [{ name: 'in.pdf', type: 'application/pdf', content }]);
      const key = up.body.data.files[0].fileKey;
      const wf = await t.api('POST', '/v1/workflows', {
        body: {
          title: 'Files through http',
          variables: [{ name: 'doc', variableType: 'resource', required: true }],
          tasks: [
            { id: 'raw', kind: 'http', request: { method: 'PUT', url: `${rx.url}/raw`, bodyFile: '{{ variables.doc }}' } },
            { id: 'form', kind: 'http', request: { url: `${rx.url}/form`, multipart: { document: '{{ variables.doc }}', note: 'hi' } } },
            { id: 'fetch', kind: 'http', saveAs: 'file', request: { url: `${rx.url}/report.bin` } },
          ],
        },
      });
      assert.equal(wf.status, 201, JSON.stringify(wf.body));
      const run = await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run?wait=10`, { body: { variables: { doc: key } } });
      assert.equal(run.body.data.status, 'finish', JSON.stringify(run.body));
      const raw = rx.requests.find((r) => r.url === '/raw')!;
      assert.equal(raw.headers['content-type'], 'application/pdf');
      assert.equal(sha(Buffer.from(raw.body, 'utf8')), sha(Buffer.from(content.toString('utf8'), 'utf8')));
      const form = rx.requests.find((r) => r.url === '/form')!;
      assert.match(String(form.headers['content-type']), /^multipart\/form-data; boundary=/);
      assert.match(form.body, /filename="in\.pdf"/);
      assert.match(form.body, /%PDF-1\.7 fake pdf bytes/);

      const files = run.body.data.files;
      assert.equal(files.length, 1);
      assert.deepEqual([files[0].name, files[0].type, files[0].size, files[0].nodeId], ['report.bin', 'application/octet-stream', 3000, 'fetch']);
      const dl = await fetch(files[0].url);
      assert.equal(dl.status, 200);
      assert.equal(sha(Buffer.from(await dl.arrayBuffer())), sha(produced));
      const secret = await t.server.store.catalog.setting('file_link_secret', 'unused');
      const expired = signLink(t.url, files[0].fileKey, Math.floor(Date.now() / 1000) - 10, secret);
      const gone = await fetch(expired);
      assert.equal(gone.status, 401);
      assert.equal(((await gone.json()) as { errCode: string }).errCode, 'INVALID_SIGNATURE');
      const forged = await fetch(files[0].url.replace(/sig=[0-9a-f]{4}/, 'sig=0000'));
      assert.equal(forged.status, 401);
    });

    it('sweeps unreferenced uploads after their expiry (injected clock) and keeps referenced ones', async () => {
      const up = await upload(t, [
        { name: 'keep.txt', type: 'text/plain', content: 'keep' },
        { name: 'drop.txt', type: 'text/plain', content: 'drop' },
      ]);
      const [keep, drop] = up.body.data.files.map((f: { fileKey: string }) => f.fileKey);
      const wf = await t.api('POST', '/v1/workflows', { body: { title: 'Ref', variables: [{ name: 'doc', variableType: 'resource' }], tasks: [{ id: 'o', kind: 'output', value: 1 }] } });
      const run = await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run`, { body: { variables: { doc: keep } } });
      await waitDone(t, run.body.data.executionId);
      const store = t.server.store;
      const storage = new LocalDiskStorage(filesDir());
      const later = Date.now() + 25 * 3600 * 1000;
      assert.ok((await sweepExpiredFiles(store, storage, later)) >= 1);
      assert.equal((await store.files.getFiles('ws-default', [drop], Date.now())).length, 0, 'expired upload is gone');
      assert.equal((await store.files.getFiles('ws-default', [keep], later)).length, 1, 'referenced upload stays');
    });
  });
}
