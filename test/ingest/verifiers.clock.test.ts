import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { TOLERANCE_S, verifySignature } from '../../src/ingest/verifiers.ts';

const SECRET = 'whsec_' + Buffer.from('clock-test-key').toString('base64');
const body = Buffer.from('{"variables":{}}');
const signedAt = new Date('2026-01-01T00:00:00Z');
const headers = {
  'webhook-id': 'msg_clock',
  'webhook-timestamp': String(signedAt.getTime() / 1000),
  'webhook-signature': new Webhook(SECRET).sign('msg_clock', signedAt, body.toString()),
};
const verify = (nowMs: number, h: Record<string, string> = headers) =>
  verifySignature({ rawBody: body, headers: h, signature: { scheme: 'standard-webhooks', secret: SECRET }, nowMs });

describe('signature tolerance with an injected clock', () => {
  it('accepts within 5 minutes either way and refuses beyond', () => {
    const t = signedAt.getTime();
    assert.deepEqual(verify(t), { ok: true, idempotencyKey: 'msg_clock' });
    assert.equal(verify(t + TOLERANCE_S * 1000).ok, true);
    assert.equal(verify(t - TOLERANCE_S * 1000).ok, true);
    assert.equal(verify(t + TOLERANCE_S * 1000 + 1000).ok, false);
    assert.equal(verify(t - TOLERANCE_S * 1000 - 1000).ok, false);
  });

  it('accepts any one valid signature during a secret rotation', () => {
    const other = new Webhook('whsec_' + Buffer.from('old-key').toString('base64')).sign('msg_clock', signedAt, body.toString());
    assert.equal(verify(signedAt.getTime(), { ...headers, 'webhook-signature': `${other} ${headers['webhook-signature']}` }).ok, true);
    assert.equal(verify(signedAt.getTime(), { ...headers, 'webhook-signature': other }).ok, false);
  });
});
