// The paid_latency verdict without BTCPay: paid events (paired or not), delivery rows and webhooks in, figures and sentences out.
import { describe, expect, it } from 'vitest';
import type { Blocker } from '../../src/btcpay/blockers.ts';
import type { TrackedDelivery } from '../../src/btcpay/tracker.ts';
import { DEFAULTS, evaluate, median, type LatencyInput, type PaidEvent } from './evaluate.ts';

const NOW = 1_780_000_000;
const paid = (invoiceId: string, agoSec: number, deliveredAfterSec?: number): PaidEvent => ({
  invoiceId,
  webhookId: 'wh1',
  status: 'Settled',
  method: 'chain',
  paidSec: NOW - agoSec,
  ...(deliveredAfterSec !== undefined ? { deliveredSec: NOW - agoSec + deliveredAfterSec, deliveryId: `del-${invoiceId}` } : {}),
});
const failedRow = (invoiceId: string, atSec: number): TrackedDelivery => ({
  id: `fail-${invoiceId}`,
  webhookId: 'wh1',
  timestamp: atSec,
  deliveryTime: atSec,
  status: 'HttpError',
  httpCode: 502,
  errorMessage: 'HTTP Error Code 502',
  info: { type: 'InvoiceSettled', invoiceId, originalDeliveryId: `fail-${invoiceId}`, isRedelivery: false },
});
const input = (over: Partial<LatencyInput>): LatencyInput => ({
  events: [],
  nowSec: NOW,
  windowSec: 3600,
  thresholds: {},
  rowsByInvoice: new Map(),
  heads: new Map(),
  webhooks: [{ id: 'wh1', enabled: true }],
  paidEvents: ['InvoiceSettled'],
  redeliver: { configFile: '/etc/hookwatch/hookwatch.yaml', probe: 'latency' },
  ...over,
});

describe('paid_latency verdict', () => {
  it('passes when paid events were delivered fast; the median counts deliveries of events paid in the window', () => {
    // The 9000 s one was paid before the 1 h window: not in the median.
    const v = evaluate(input({ events: [paid('a', 600, 4), paid('b', 300, 10), paid('c', 100, 20), paid('old', 7200, 9000)] }));
    expect(v.ok).toBe(true);
    expect(v.medianSeconds).toBe(10);
    expect(v.undelivered).toBe(0);
    expect(v.oldestUndeliveredSeconds).toBe(0);
    expect(v.slowest.map((s) => s.invoiceId)).toEqual(['old', 'c', 'b', 'a']);
  });

  it('no paid event: no median, a pass', () => {
    const v = evaluate(input({}));
    expect(v.ok).toBe(true);
    expect(v.medianSeconds).toBeUndefined();
  });

  it('fails when the median exceeds max_median_seconds, with the redeliver command as action', () => {
    const v = evaluate(input({ events: [paid('a', 3000, 400), paid('b', 2000, 500), paid('c', 1000, 450)] }));
    expect(v.ok).toBe(false);
    expect(v.reason).toBe(`median paid-to-delivered 450 s > ${DEFAULTS.max_median_seconds} s over 3 paid events`);
    expect(v.action).toBe(
      'Once the receiver is reachable, redeliver, dry run first: `hookwatch redeliver --config.file /etc/hookwatch/hookwatch.yaml --probe latency --since 6h` (add --apply to send).',
    );
    expect(evaluate(input({ events: [paid('a', 3000, 400)], thresholds: { max_median_seconds: 500 } })).ok).toBe(true);
  });

  it('an undelivered paid event counts at its growing age; past max_undelivered_age_seconds it fails, naming the last failed attempt', () => {
    const rows = new Map([['late', [failedRow('late', NOW - 500)]]]);
    const v = evaluate(input({ events: [paid('a', 100, 5), paid('late', 900)], rowsByInvoice: rows }));
    expect(v.ok).toBe(false);
    expect(v.reason).toBe('median paid-to-delivered 453 s > 300 s over 2 paid events; 1 paid event(s) undelivered, oldest 900 s > 300 s');
    expect(v.undelivered).toBe(1);
    expect(v.oldestUndeliveredSeconds).toBe(900);
    expect(v.oldestUndelivered[0]).toMatchObject({ invoiceId: 'late', ageSeconds: 900, lastAttempt: { deliveryId: 'fail-late', httpCode: 502 } });
    expect(v.cause).toMatch(/^Deliveries of paid events fail or wait behind retries/);
    expect(
      evaluate(input({ events: [paid('late', 900)], rowsByInvoice: rows, thresholds: { max_undelivered_age_seconds: 1000, max_median_seconds: 1000 } })).ok,
    ).toBe(true);
  });

  it('no attempt and nothing queued: never attempted, which only redeliver --send-missing can fix', () => {
    const v = evaluate(input({ events: [paid('lost', 900)] }));
    expect(v.oldestUndelivered[0]!.lastAttempt).toMatch(/^none: BTCPay never attempted it/);
    expect(v.cause).toMatch(/^Paid events have no delivery attempt and nothing is queued ahead of them/);
  });

  it('no attempt yet, behind a delivery BTCPay is still retrying: "queued behind" it', () => {
    const head: Blocker = { rows: [failedRow('first', NOW - 1000)], type: 'InvoiceSettled', invoiceId: 'first' };
    const v = evaluate(input({ events: [paid('waiting', 900)], heads: new Map([['wh1', head]]) }));
    expect(v.oldestUndelivered[0]!.lastAttempt).toMatch(/^none yet: queued behind delivery fail-first \(InvoiceSettled of invoice first, 1 attempt\(s\)/);
    expect(v.cause).toMatch(/^Paid events are queued behind a delivery BTCPay is still retrying \(queued behind delivery fail-first/);
  });

  it('a disabled webhook is the cause, whatever else holds', () => {
    const v = evaluate(input({ events: [paid('lost', 900)], webhooks: [{ id: 'wh1', enabled: false }] }));
    expect(v.cause).toMatch(/^Webhook wh1 is disabled: BTCPay drops its events without a record/);
  });

  it('no webhook subscribed to the paid events: the reason says so', () => {
    const v = evaluate(input({ events: [{ ...paid('lost', 900), webhookId: '(no webhook subscribed)' }], webhooks: [] }));
    expect(v.reason).toBe(
      'median paid-to-delivered 900 s > 300 s over 1 paid events; 1 paid event(s) undelivered, oldest 900 s > 300 s; no webhook is subscribed to InvoiceSettled',
    );
    expect(v.cause).toMatch(/^No webhook of the store receives the paid events/);
    expect(v.action).toBeUndefined();
  });
});

describe('median', () => {
  it('of odd and even counts, and of nothing', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeUndefined();
  });
});
