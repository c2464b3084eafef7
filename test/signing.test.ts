// Vectors come from the openssl binary, not from our code, and are checked in both directions:
// our signature equals openssl's, and our verifier accepts openssl's header and rejects tampering.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { sign, verify, safeEqual, standardWebhooksKey } from '../src/signing/index.ts';
import { missingBinaries } from './helpers/daemons.ts';

function opensslHmac(keyHex: string, data: Buffer): Buffer {
  return execFileSync('openssl', ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${keyHex}`, '-binary'], { input: data });
}
const hex = (s: string) => Buffer.from(s, 'utf8').toString('hex');

const BODY = '{\n  "deliveryId": "JaEp4EVAgQeuyV4HWky7tU",\n  "type": "InvoiceSettled",\n  "amount": "5.00 €"\n}';

describe.skipIf(missingBinaries('openssl'))('signing against openssl', () => {
  it('btcpay: BTCPay-Sig is HMAC-SHA256 hex over the raw body, keyed with the secret bytes', () => {
    const secret = 'Z8rQm4tY6pWxs9Lk2Vb3';
    const expected = opensslHmac(hex(secret), Buffer.from(BODY)).toString('hex');
    expect(sign('btcpay', { body: BODY, secret })).toEqual({ 'btcpay-sig': `sha256=${expected}` });
    expect(verify('btcpay', { body: BODY, secret, headers: { 'BTCPay-Sig': `sha256=${expected}` }, nowS: 0 })).toEqual({ ok: true });
    expect(verify('btcpay', { body: BODY, secret, headers: { 'btcpay-sig': `sha256=${expected.toUpperCase()}` }, nowS: 0 }).ok).toBe(true);
    const r = verify('btcpay', { body: BODY + ' ', secret, headers: { 'btcpay-sig': `sha256=${expected}` }, nowS: 0 });
    expect(r).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(verify('btcpay', { body: BODY, secret: 'other', headers: { 'btcpay-sig': `sha256=${expected}` }, nowS: 0 }).ok).toBe(false);
    expect(verify('btcpay', { body: BODY, secret, headers: {}, nowS: 0 })).toMatchObject({ ok: false, reason: 'missing_header' });
    expect(verify('btcpay', { body: BODY, secret, headers: { 'btcpay-sig': 'md5=abc' }, nowS: 0 })).toMatchObject({ ok: false, reason: 'malformed_header' });
  });

  it('stripe: t=<ts>,v1=<hex> over "<t>.<body>", keyed with the whole whsec_ string', () => {
    const secret = 'whsec_' + randomBytes(24).toString('base64');
    const t = 1_747_315_881;
    const expected = opensslHmac(hex(secret), Buffer.from(`${t}.${BODY}`)).toString('hex');
    expect(sign('stripe', { body: BODY, secret, timestamp: t })).toEqual({ 'stripe-signature': `t=${t},v1=${expected}` });
    // Rotation: several v1 entries, one of them right, plus a v0 that is ignored.
    const header = `t=${t},v0=deadbeef,v1=${'0'.repeat(64)},v1=${expected}`;
    expect(verify('stripe', { body: BODY, secret, headers: { 'Stripe-Signature': header }, nowS: t + 10 })).toEqual({ ok: true, timestamp: t });
    expect(verify('stripe', { body: BODY, secret, headers: { 'stripe-signature': header }, nowS: t + 301 })).toMatchObject({
      ok: false,
      reason: 'timestamp_too_old',
    });
    // Stripe does not reject future timestamps.
    expect(verify('stripe', { body: BODY, secret, headers: { 'stripe-signature': header }, nowS: t - 3600 }).ok).toBe(true);
    expect(verify('stripe', { body: BODY, secret, headers: { 'stripe-signature': `t=${t + 1},v1=${expected}` }, nowS: t })).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
    expect(verify('stripe', { body: BODY, secret, headers: { 'stripe-signature': `v1=${expected}` }, nowS: t })).toMatchObject({
      ok: false,
      reason: 'malformed_header',
    });
  });

  it('standard-webhooks: v1,<base64> over "<id>.<ts>.<body>", keyed with the base64-decoded whsec_ secret', () => {
    const key = randomBytes(32);
    const secret = 'whsec_' + key.toString('base64');
    const id = 'msg_2Lh3Yx9';
    const t = 1_747_315_881;
    const expected = opensslHmac(key.toString('hex'), Buffer.from(`${id}.${t}.${BODY}`)).toString('base64');
    expect(sign('standard-webhooks', { body: BODY, secret, timestamp: t, id })).toEqual({
      'webhook-id': id,
      'webhook-timestamp': String(t),
      'webhook-signature': `v1,${expected}`,
    });
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(t), 'webhook-signature': `v1a,AAAA v1,${'A'.repeat(43)}= v1,${expected}` };
    expect(verify('standard-webhooks', { body: BODY, secret, headers, nowS: t })).toEqual({ ok: true, timestamp: t, id });
    expect(verify('standard-webhooks', { body: BODY, secret, headers, nowS: t + 301 })).toMatchObject({ ok: false, reason: 'timestamp_too_old' });
    expect(verify('standard-webhooks', { body: BODY, secret, headers, nowS: t - 301 })).toMatchObject({ ok: false, reason: 'timestamp_in_future' });
    expect(verify('standard-webhooks', { body: BODY, secret, headers: { ...headers, 'webhook-id': 'msg_other' }, nowS: t })).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
    // The Stripe-style key (secret string as-is) must not verify: the key is the decoded part.
    const stripeStyle = opensslHmac(hex(secret), Buffer.from(`${id}.${t}.${BODY}`)).toString('base64');
    expect(verify('standard-webhooks', { body: BODY, secret, headers: { ...headers, 'webhook-signature': `v1,${stripeStyle}` }, nowS: t }).ok).toBe(false);
  });
});

describe('signing helpers', () => {
  it('safeEqual compares content and length', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
  });
  it('standard-webhooks keys must be base64', () => {
    expect(standardWebhooksKey('whsec_not base64!')).toBeUndefined();
    expect(standardWebhooksKey('whsec_AAEC')).toEqual(Buffer.from([0, 1, 2]));
    expect(() => sign('standard-webhooks', { body: '{}', secret: 'whsec_AAEC' })).toThrow(/message id/);
  });
});
