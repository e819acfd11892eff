import { createHash } from 'node:crypto';
import { request } from 'undici';
import { Readable } from 'node:stream';
import { BENCH_KEY, freshDataDir, startFlowgate } from './lib/servers.ts';

/**
 * `npm run bench:upload`: memory stays flat while a 50 MB file is uploaded (streamed to disk, never
 * held whole). Prints the server's RSS before and its peak after, and checks the stored sha256.
 */
const SIZE = Number(process.env.BENCH_UPLOAD_MB ?? 50) * 1024 * 1024;
const fg = await startFlowgate({ FLOWGATE_DATA_DIR: freshDataDir(), DATABASE_URL: '' });
try {
  await new Promise((r) => setTimeout(r, 500));
  const rssBefore = Number(/VmRSS:\s+(\d+)/.exec(await import('node:fs').then((fs) => fs.readFileSync(`/proc/${fg.pid}/status`, 'utf8')))![1]) / 1024;
  const peakBefore = fg.peakRssMb();
  const boundary = `----flowgate${Date.now()}`;
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(1024 * 1024, 7);
  async function* body() {
    yield head;
    for (let sent = 0; sent < SIZE; sent += chunk.length) {
      hash.update(chunk);
      yield chunk;
    }
    yield tail;
  }
  const started = Date.now();
  const res = await request(`${fg.url}/v1/openapi/files/upload`, {
    method: 'POST',
    headers: { authorization: `Bearer ${BENCH_KEY}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(head.length + SIZE + tail.length) },
    body: Readable.from(body()),
  });
  const json = (await res.body.json()) as { data: { files: { size: number; sha256: string }[] } };
  const file = json.data.files[0]!;
  const peakAfter = fg.peakRssMb();
  process.stdout.write(
    [
      `upload of ${SIZE / 1024 / 1024} MB: HTTP ${res.statusCode} in ${Date.now() - started} ms, stored ${file.size} bytes, sha256 ${file.sha256 === hash.digest('hex') ? 'matches' : 'DIFFERS'}`,
      `server RSS before: ${rssBefore.toFixed(0)} MB (peak so far ${peakBefore.toFixed(0)} MB); peak after the upload: ${peakAfter.toFixed(0)} MB (+${(peakAfter - peakBefore).toFixed(0)} MB)`,
      '',
    ].join('\n'),
  );
} finally {
  await fg.stop();
}
