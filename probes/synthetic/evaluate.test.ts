// The synthetic verdict from hand-written transport results: no receiver, no BTCPay.
import { describe, expect, it } from 'vitest';
import type { HttpResult } from '../../src/clients/http/index.ts';
import { directOutcome, lastSuccess, summarize } from './evaluate.ts';
import type { TargetOutcome } from './outcome.ts';

const T = 'https://hooks.example/webhook';
const posted = (over: Partial<HttpResult> = {}): HttpResult => ({
  ok: true,
  url: T,
  status: 200,
  address: '192.0.2.1',
  phases: { resolve: 0.01, connect: 0.02, response: 0.05 },
  ...over,
});
const outcome = (target: string, ok: boolean, over: Partial<TargetOutcome> = {}): TargetOutcome => ({ target, ok, phases: {}, details: { target }, ...over });

describe('synthetic direct-mode outcome', () => {
  it('a 2xx with no receipt asked for passes, with the phases in seconds', () => {
    const o = directOutcome({ target: T, deliveryId: 'd1', post: posted() });
    expect(o).toMatchObject({ ok: true, address: '192.0.2.1', failureClass: undefined });
    expect(o.details).toEqual({
      target: T,
      deliveryId: 'd1',
      address: '192.0.2.1',
      status: 200,
      phasesSeconds: { resolve: 0.01, connect: 0.02, response: 0.05 },
    });
  });

  it('a 2xx the receiver never confirms is not_confirmed, with the receipt phase', () => {
    const o = directOutcome({ target: T, deliveryId: 'd1', post: posted(), confirm: { ok: false, seconds: 30, polls: 7, message: 'no receipt within 30s' } });
    expect(o).toMatchObject({ ok: false, failureClass: 'not_confirmed', message: 'no receipt within 30s', phases: { confirm: 30 } });
    expect(o.details).toMatchObject({ confirm: { ok: false, seconds: 30, polls: 7 }, failureClass: 'not_confirmed', error: 'no receipt within 30s' });
  });

  it('a transport failure keeps its class and message', () => {
    const o = directOutcome({
      target: T,
      deliveryId: 'd1',
      post: posted({ ok: false, status: undefined, failure: { class: 'connect_refused', message: 'ECONNREFUSED 192.0.2.1:443' } }),
    });
    expect(o).toMatchObject({ ok: false, failureClass: 'connect_refused' });
  });
});

describe('synthetic run verdict', () => {
  it('passes when every target passed and no security check failed', () => {
    expect(summarize([outcome('a', true), outcome('b', true)])).toEqual({ ok: true, details: { targets: [{ target: 'a' }, { target: 'b' }] } });
  });

  it('names each failed target with its class, and the cause of each class once', () => {
    const r = summarize([
      outcome('a', false, { failureClass: 'http_status', message: 'HTTP 401' }),
      outcome('b', false, { failureClass: 'http_status', message: 'HTTP 403' }),
      outcome('c', true),
    ]);
    expect(r.ok).toBe(false);
    expect(r.reason).toBe('synthetic webhook failed for 2 of 3 target(s): a: http_status (HTTP 401); b: http_status (HTTP 403)');
    expect(r.cause).toMatch(/^The receiver refused the webhook/);
    expect(r.cause!.match(/refused the webhook/g)).toHaveLength(1);
  });

  it('a receiver that accepts a bad signature fails the run even when delivery passed', () => {
    const r = summarize([
      outcome('a', true, {
        security: [
          { check: 'bad_signature', result: 'fail', sentence: 'accepted a wrong signature' },
          { check: 'replay', result: 'pass', sentence: '' },
        ],
      }),
    ]);
    expect(r).toMatchObject({ ok: false, reason: 'receiver security checks failed: a: security check bad_signature failed: accepted a wrong signature' });
    expect(r.cause).toContain('signature verification');
  });

  it('keeps the last success of a failing target, moves it on a pass, and forgets targets no longer tested', () => {
    const prev = { a: 100, b: 200, gone: 50 };
    expect(lastSuccess(prev, [outcome('a', false), outcome('b', true), outcome('new', false)], 300_000)).toEqual({ a: 100, b: 300 });
  });
});
