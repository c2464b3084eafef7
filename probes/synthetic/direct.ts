// Direct mode: hookwatch signs a synthetic event and POSTs it to each target itself, then
// (optionally) asks the receiver's receipt URL whether the internal system processed it, and
// (optionally) probes the receiver's security behaviour.
import { httpRequest, type HttpResult } from '../../src/clients/http/index.ts';
import type { SigningScheme } from '../../src/signing/index.ts';
import type { Secret } from '../../src/secret.ts';
import { buildEvent, signedHeaders, wrongSecret, type SyntheticEvent } from './events.ts';

export interface TransportOpts {
  resolver: string;
  caFile?: string;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  signal: AbortSignal;
  /** The probe's extra headers (secret references already revealed), sent with every request. */
  headers?: Record<string, string>;
}

/** How both modes reach receivers: the probe's resolver (else the global one), CA, timeouts and headers. */
export function transportOpts(
  p: { resolver?: string; caFile?: string; connectTimeout: number; responseTimeout: number; headers?: Record<string, string | Secret> },
  ctx: { config: { global: { resolver: string } }; signal: AbortSignal },
): TransportOpts {
  return {
    headers: Object.fromEntries(Object.entries(p.headers ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : v.reveal()])),
    resolver: p.resolver ?? ctx.config.global.resolver,
    caFile: p.caFile,
    connectTimeoutMs: p.connectTimeout,
    responseTimeoutMs: p.responseTimeout,
    signal: ctx.signal,
  };
}

export interface ConfirmOpts {
  url: string;
  withinMs: number;
}

export interface ConfirmOutcome {
  ok: boolean;
  seconds: number;
  /** Times processed, when the receipt says (JSON field count). */
  count?: number;
  polls: number;
  lastStatus?: number;
  message: string;
}

export type SecurityCheck = 'bad_signature' | 'replay' | 'duplicate';
export interface SecurityOutcome {
  check: SecurityCheck;
  result: 'pass' | 'fail' | 'skipped';
  sentence: string;
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export function post(target: string, ev: SyntheticEvent, headers: Record<string, string>, t: TransportOpts): Promise<HttpResult> {
  return httpRequest({
    url: target,
    method: 'POST',
    headers: { ...t.headers, ...headers },
    body: ev.body,
    resolver: t.resolver,
    caFile: t.caFile,
    connectTimeoutMs: t.connectTimeoutMs,
    responseTimeoutMs: t.responseTimeoutMs,
    signal: t.signal,
    maxBodyBytes: 4096,
  });
}

export function receiptUrl(template: string, deliveryId: string): string {
  return template.split('{deliveryId}').join(encodeURIComponent(deliveryId));
}

/**
 * Poll the receipt URL until it says processed or the deadline passes. Contract: 2xx means
 * processed unless the JSON body says "processed": false; 404 (or anything else) means not yet.
 * An optional numeric "count" says how many times it was processed (used by the duplicate check).
 */
export async function confirmDelivery(c: ConfirmOpts, deliveryId: string, t: TransportOpts): Promise<ConfirmOutcome> {
  const url = receiptUrl(c.url, deliveryId);
  const start = performance.now();
  const elapsed = () => (performance.now() - start) / 1000;
  const pause = Math.min(1000, Math.max(50, Math.floor(c.withinMs / 20)));
  let lastStatus: number | undefined;
  let lastProblem = '';
  let polls = 0;
  // Bounded by the deadline and by a hard cap on polls.
  while (polls < 1000 && !t.signal.aborted) {
    const left = c.withinMs - elapsed() * 1000;
    if (left <= 0) break;
    polls++;
    const r = await httpRequest({
      url,
      method: 'GET',
      headers: { ...t.headers, accept: 'application/json', 'user-agent': 'hookwatch-synthetic/0.1' },
      resolver: t.resolver,
      caFile: t.caFile,
      connectTimeoutMs: Math.min(t.connectTimeoutMs, Math.max(50, left)),
      responseTimeoutMs: Math.min(t.responseTimeoutMs, Math.max(50, left)),
      signal: t.signal,
      maxBodyBytes: 4096,
    });
    lastStatus = r.status;
    if (r.ok) {
      let body: Record<string, unknown> = {};
      try {
        const parsed: unknown = JSON.parse(r.body ?? '');
        if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>;
      } catch {
        /* a non-JSON 2xx still means processed */
      }
      if (body.processed !== false) {
        const count = typeof body.count === 'number' ? body.count : undefined;
        return { ok: true, seconds: elapsed(), count, polls, lastStatus, message: `receipt confirmed after ${elapsed().toFixed(2)}s` };
      }
      lastProblem = 'receipt says not processed';
    } else {
      lastProblem = r.failure?.message ?? 'no answer';
    }
    const wait = Math.min(pause, c.withinMs - elapsed() * 1000);
    if (wait > 0) await sleep(wait, t.signal);
  }
  return {
    ok: false,
    seconds: elapsed(),
    polls,
    lastStatus,
    message: `delivery ${deliveryId} was acknowledged but not confirmed processed within ${(c.withinMs / 1000).toFixed(1)}s (${polls} polls of the receipt URL; last: ${lastProblem || 'nothing'})`,
  };
}

const is4xx = (r: HttpResult) => r.status !== undefined && r.status >= 400 && r.status < 500;
const answer = (r: HttpResult) => (r.status !== undefined ? `HTTP ${r.status}` : (r.failure?.message ?? 'no answer'));

/** The opt-in receiver checks. Each sends its own synthetic events, never reusing the main delivery. */
export async function securityChecks(
  target: string,
  scheme: SigningScheme,
  secret: string,
  nowMs: number,
  confirm: ConfirmOpts | undefined,
  t: TransportOpts,
  /** The main delivery was not confirmed: the duplicate check could not tell anything. */
  confirmBroken = false,
): Promise<SecurityOutcome[]> {
  const out: SecurityOutcome[] = [];

  const bad = buildEvent(scheme, nowMs);
  const badRes = await post(target, bad, signedHeaders(scheme, bad, wrongSecret(scheme, secret)), t);
  out.push(
    is4xx(badRes)
      ? { check: 'bad_signature', result: 'pass', sentence: `a request signed with a wrong secret was rejected with ${answer(badRes)}` }
      : {
          check: 'bad_signature',
          result: 'fail',
          sentence: badRes.ok
            ? `the receiver ACCEPTED a request signed with a wrong secret (${answer(badRes)}): it does not verify signatures, so anyone can forge payment webhooks`
            : `a request signed with a wrong secret got ${answer(badRes)} instead of a 4xx rejection`,
        },
  );

  if (scheme === 'btcpay') {
    out.push({
      check: 'replay',
      result: 'skipped',
      sentence: 'BTCPay signatures carry no timestamp; replays can only be caught by delivery-id idempotency (the duplicate check)',
    });
  } else {
    // Correctly signed, but over a timestamp an hour old: a captured request played back later.
    const old = buildEvent(scheme, nowMs, { timestamp: Math.floor(nowMs / 1000) - 3600 });
    const oldRes = await post(target, old, signedHeaders(scheme, old, secret), t);
    out.push(
      is4xx(oldRes)
        ? { check: 'replay', result: 'pass', sentence: `a correctly signed request with a one-hour-old timestamp was rejected with ${answer(oldRes)}` }
        : {
            check: 'replay',
            result: 'fail',
            sentence: oldRes.ok
              ? `the receiver ACCEPTED a correctly signed request with a one-hour-old timestamp (${answer(oldRes)}): captured webhooks can be replayed`
              : `a replayed (one-hour-old) request got ${answer(oldRes)} instead of a 4xx rejection`,
          },
    );
  }

  if (confirm && confirmBroken) {
    out.push({
      check: 'duplicate',
      result: 'skipped',
      sentence: 'the receipt URL did not confirm the main delivery, so it cannot show double processing either',
    });
    return out;
  }
  if (!confirm) {
    out.push({ check: 'duplicate', result: 'skipped', sentence: 'needs confirm.url to see how often a delivery was processed' });
    return out;
  }
  const dup = buildEvent(scheme, nowMs);
  const headers = signedHeaders(scheme, dup, secret);
  const first = await post(target, dup, headers, t);
  const second = await post(target, dup, headers, t);
  if (!first.ok) {
    out.push({ check: 'duplicate', result: 'fail', sentence: `the first copy of a delivery sent twice got ${answer(first)}` });
    return out;
  }
  const c = await confirmDelivery(confirm, dup.deliveryId, t);
  if (!c.ok) out.push({ check: 'duplicate', result: 'fail', sentence: `a delivery sent twice was never confirmed processed: ${c.message}` });
  else if (c.count === undefined)
    out.push({
      check: 'duplicate',
      result: 'skipped',
      sentence: 'the receipt does not report a processing count ("count"), so double processing cannot be seen',
    });
  else if (c.count === 1)
    out.push({ check: 'duplicate', result: 'pass', sentence: `the same delivery sent twice (second answer ${answer(second)}) was processed once` });
  else
    out.push({
      check: 'duplicate',
      result: 'fail',
      sentence: `the same delivery sent twice was processed ${c.count} times: the receiver is not idempotent by delivery id, so retries double-fulfil orders`,
    });
  return out;
}
