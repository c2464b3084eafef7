// Webhook signature schemes: sign (for synthetic webhooks) and verify (for the test receiver and
// for checking what a sender sent). All HMAC-SHA256; comparisons are constant-time.
import { createHmac, timingSafeEqual } from 'node:crypto';

export type SigningScheme = 'btcpay' | 'stripe' | 'standard-webhooks';
export const SIGNING_SCHEMES: readonly SigningScheme[] = ['btcpay', 'stripe', 'standard-webhooks'];

/** Default replay window for schemes that sign a timestamp (Stripe and Standard Webhooks both use 5 minutes). */
export const DEFAULT_TOLERANCE_S = 300;

export interface SignInput {
  /** The exact bytes that will be sent. */
  body: string | Buffer;
  secret: string;
  /** Unix seconds; used by stripe and standard-webhooks. */
  timestamp?: number;
  /** Message id; standard-webhooks signs it. */
  id?: string;
}

/** Header names are lower-case (HTTP headers are case-insensitive; undici and node lower-case them anyway). */
export type SignedHeaders = Record<string, string>;

export interface VerifyInput {
  body: string | Buffer;
  secret: string;
  /** Request headers, any case. */
  headers: Record<string, string | string[] | undefined>;
  /** Current unix seconds (injected so tests and fake clocks work). */
  nowS: number;
  toleranceS?: number;
}

export type VerifyResult =
  | { ok: true; timestamp?: number; id?: string }
  | {
      ok: false;
      reason: 'missing_header' | 'malformed_header' | 'bad_signature' | 'timestamp_too_old' | 'timestamp_in_future' | 'bad_secret';
      message: string;
    };

const toBuf = (b: string | Buffer): Buffer => (typeof b === 'string' ? Buffer.from(b, 'utf8') : b);

function hmac(key: Buffer | string, ...parts: Array<string | Buffer>): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Constant-time equality of two strings of possibly different length (length leaks, content does not). */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ab.length !== bb.length) {
    // Still spend a comparison so timing does not depend on where a mismatch is.
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}

function header(headers: VerifyInput['headers'], name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== want || v === undefined) continue;
    return Array.isArray(v) ? v.join(',') : v;
  }
  return undefined;
}

/** Standard Webhooks secrets are `whsec_` + base64; the HMAC key is the decoded bytes. */
export function standardWebhooksKey(secret: string): Buffer | undefined {
  const b64 = secret.startsWith('whsec_') ? secret.slice(6) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return undefined;
  const key = Buffer.from(b64, 'base64');
  return key.length > 0 ? key : undefined;
}

export function sign(scheme: SigningScheme, input: SignInput): SignedHeaders {
  const body = toBuf(input.body);
  switch (scheme) {
    case 'btcpay':
      return { 'btcpay-sig': `sha256=${hmac(input.secret, body).toString('hex')}` };
    case 'stripe': {
      const t = input.timestamp ?? Math.floor(Date.now() / 1000);
      // Stripe keys the HMAC with the secret string as-is (whsec_ prefix included).
      return { 'stripe-signature': `t=${t},v1=${hmac(input.secret, `${t}.`, body).toString('hex')}` };
    }
    case 'standard-webhooks': {
      const t = input.timestamp ?? Math.floor(Date.now() / 1000);
      const id = input.id;
      if (!id) throw new Error('standard-webhooks signing needs a message id');
      const key = standardWebhooksKey(input.secret);
      if (!key) throw new Error('standard-webhooks secret must be whsec_ followed by base64');
      const sig = hmac(key, `${id}.${t}.`, body).toString('base64');
      return { 'webhook-id': id, 'webhook-timestamp': String(t), 'webhook-signature': `v1,${sig}` };
    }
  }
}

function checkTime(t: number, nowS: number, toleranceS: number, futureToo: boolean): VerifyResult | undefined {
  if (nowS - t > toleranceS) return { ok: false, reason: 'timestamp_too_old', message: `timestamp ${t} is ${nowS - t}s old, tolerance ${toleranceS}s` };
  if (futureToo && t - nowS > toleranceS)
    return { ok: false, reason: 'timestamp_in_future', message: `timestamp ${t} is ${t - nowS}s in the future, tolerance ${toleranceS}s` };
  return undefined;
}

export function verify(scheme: SigningScheme, input: VerifyInput): VerifyResult {
  const body = toBuf(input.body);
  const tol = input.toleranceS ?? DEFAULT_TOLERANCE_S;
  switch (scheme) {
    case 'btcpay': {
      const h = header(input.headers, 'btcpay-sig');
      if (!h) return { ok: false, reason: 'missing_header', message: 'no BTCPay-Sig header' };
      const m = /^sha256=([0-9a-fA-F]{64})$/.exec(h.trim());
      if (!m) return { ok: false, reason: 'malformed_header', message: 'BTCPay-Sig is not sha256=<64 hex>' };
      const want = hmac(input.secret, body).toString('hex');
      return safeEqual(m[1]!.toLowerCase(), want) ? { ok: true } : { ok: false, reason: 'bad_signature', message: 'BTCPay-Sig does not match the body' };
    }
    case 'stripe': {
      const h = header(input.headers, 'stripe-signature');
      if (!h) return { ok: false, reason: 'missing_header', message: 'no Stripe-Signature header' };
      let t: number | undefined;
      const v1: string[] = [];
      for (const part of h.split(',')) {
        const i = part.indexOf('=');
        if (i < 0) continue;
        const k = part.slice(0, i).trim();
        const v = part.slice(i + 1).trim();
        if (k === 't' && /^\d+$/.test(v)) t = Number(v);
        else if (k === 'v1') v1.push(v);
      }
      if (t === undefined || v1.length === 0) return { ok: false, reason: 'malformed_header', message: 'Stripe-Signature lacks t= or v1=' };
      const want = hmac(input.secret, `${t}.`, body).toString('hex');
      // Check every v1 (secret rotation) without stopping early.
      let match = false;
      for (const s of v1) match = safeEqual(s.toLowerCase(), want) || match;
      if (!match) return { ok: false, reason: 'bad_signature', message: 'no v1 signature in Stripe-Signature matches' };
      // Stripe rejects only too-old timestamps.
      return checkTime(t, input.nowS, tol, false) ?? { ok: true, timestamp: t };
    }
    case 'standard-webhooks': {
      const id = header(input.headers, 'webhook-id');
      const ts = header(input.headers, 'webhook-timestamp');
      const sigs = header(input.headers, 'webhook-signature');
      if (!id || !ts || !sigs) return { ok: false, reason: 'missing_header', message: 'webhook-id, webhook-timestamp and webhook-signature are required' };
      if (!/^\d+$/.test(ts.trim())) return { ok: false, reason: 'malformed_header', message: 'webhook-timestamp is not integer seconds' };
      const t = Number(ts.trim());
      const key = standardWebhooksKey(input.secret);
      if (!key) return { ok: false, reason: 'bad_secret', message: 'secret is not whsec_<base64>' };
      const tooOld = checkTime(t, input.nowS, tol, true);
      if (tooOld) return tooOld;
      const want = hmac(key, `${id}.${t}.`, body).toString('base64');
      let match = false;
      for (const entry of sigs.split(' ')) {
        const [ver, sig] = entry.split(',', 2);
        if (ver === 'v1' && sig !== undefined) match = safeEqual(sig, want) || match;
      }
      return match ? { ok: true, timestamp: t, id } : { ok: false, reason: 'bad_signature', message: 'no v1 entry in webhook-signature matches' };
    }
  }
}
