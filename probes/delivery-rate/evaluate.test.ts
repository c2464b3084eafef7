// The delivery_rate verdict without BTCPay: delivery rows and webhook checks in, figures and sentences out.
import { describe, expect, it } from 'vitest';
import type { TrackedDelivery } from '../../src/btcpay/tracker.ts';
import { FAILURE_CAUSES } from '../../src/btcpay/failures.ts';
import { DEFAULTS, evaluate, windowFigures, type DeliveryInput } from './evaluate.ts';
import type { Check } from './webhook-checks.ts';

const T = 1_780_000_000;
let seq = 0;
/** One attempt of event `event` (retries share it); `ok` a 2xx, else a refused connection. */
const row = (event: string, ok: boolean, over: Partial<TrackedDelivery> = {}): TrackedDelivery => ({
  id: `d${++seq}`,
  webhookId: 'wh1',
  timestamp: T,
  deliveryTime: T + 1,
  status: ok ? 'HttpSuccess' : 'Failed',
  httpCode: ok ? 200 : null,
  errorMessage: ok ? null : 'Connection refused (127.0.0.1:9)',
  info: { type: 'InvoiceSettled', originalDeliveryId: event, isRedelivery: false },
  ...over,
});
const rows = (okCount: number, failCount: number): TrackedDelivery[] => [
  ...Array.from({ length: okCount }, (_, i) => row(`ok${i}`, true)),
  ...Array.from({ length: failCount }, (_, i) => row(`bad${i}`, false)),
];
const input = (over: Partial<DeliveryInput>): DeliveryInput => ({
  deliveries: [],
  windowSec: 900,
  perEvent: true,
  webhooks: 1,
  misconfig: new Map([['wh1', new Set<Check>()]]),
  checks: new Set<Check>(['disabled', 'redelivery_off']),
  paidEvents: ['InvoiceSettled'],
  thresholds: {},
  redeliver: { configFile: '/etc/hookwatch/hookwatch.yaml', probe: 'deliveries' },
  ...over,
});

describe('delivery_rate verdict', () => {
  it('passes a window of successful deliveries', () => {
    const v = evaluate(input({ deliveries: rows(10, 0) }));
    expect(v.ok).toBe(true);
    expect(v.reason).toBeUndefined();
    expect(v.figures).toMatchObject({ attempts: 10, successes: 10, attemptRatio: 1, events: 10, eventRatio: 1 });
    expect(v.belowObjective).toBe(false);
  });

  it('fails below min_success_ratio, names the commonest failure reason and the redeliver command', () => {
    const v = evaluate(input({ deliveries: rows(8, 2) }));
    expect(v.ok).toBe(false);
    expect(v.reason).toBe('attempt success ratio 0.800 < 0.95 over 15 min (8/10); event success ratio 0.800 < 0.95 (8/10 events delivered)');
    expect(v.cause).toBe(FAILURE_CAUSES.refused);
    expect(v.action).toBe(
      'Once the receiver answers, redeliver, dry run first: `hookwatch redeliver --config.file /etc/hookwatch/hookwatch.yaml --probe deliveries --since 6h` (add --apply to send).',
    );
    expect(v.figures.failureReasons).toEqual({ refused: 2 });
  });

  it('judges per event too: a failed attempt retried successfully counts against attempts, not events', () => {
    const deliveries = [...rows(5, 0), row('retried', false), row('retried', true), row('retried2', false), row('retried2', true)];
    const v = evaluate(input({ deliveries }));
    expect(v.figures).toMatchObject({ attempts: 9, successes: 7, events: 7, eventsDelivered: 7, eventRatio: 1 });
    expect(v.reason).toBe('attempt success ratio 0.778 < 0.95 over 15 min (7/9)');
  });

  it('with perEvent off, the event ratio is not judged', () => {
    // Three events each delivered three times (redeliveries), two events failed once: 9/11 attempts, 3/5 events.
    const deliveries = [...['a', 'b', 'c'].flatMap((e) => [row(e, true), row(e, true), row(e, true)]), row('x', false), row('y', false)];
    expect(evaluate(input({ deliveries, thresholds: { min_success_ratio: 0.7 } })).reason).toBe('event success ratio 0.600 < 0.7 (3/5 events delivered)');
    expect(evaluate(input({ deliveries, perEvent: false, thresholds: { min_success_ratio: 0.7 } })).ok).toBe(true);
  });

  it('the volume guard: fewer than min_deliveries attempts are not judged, and say so', () => {
    const v = evaluate(input({ deliveries: rows(1, 3) }));
    expect(v.ok).toBe(true);
    expect(v.volumeGuard).toBe(`fewer than ${DEFAULTS.min_deliveries} deliveries in the window: ratio not judged`);
    expect(v.belowObjective).toBe(true);
    expect(evaluate(input({ deliveries: rows(1, 3), thresholds: { min_deliveries: 4 } })).ok).toBe(false);
  });

  it('thresholds override the defaults: min_success_ratio and the objective', () => {
    const v = evaluate(input({ deliveries: rows(97, 3), thresholds: { min_success_ratio: 0.9, objective: 0.98 } }));
    expect(v.ok).toBe(true);
    expect(v.belowObjective).toBe(true);
    expect(evaluate(input({ deliveries: rows(97, 3) })).belowObjective).toBe(true);
    expect(evaluate(input({ deliveries: rows(99, 1) })).belowObjective).toBe(false);
  });

  it('a webhook setting among the enabled checks fails with its cause and no redeliver action; other checks only show', () => {
    const misconfig = new Map([
      ['wh1', new Set<Check>(['url_host_unchecked'])],
      ['wh2', new Set<Check>(['redelivery_off'])],
    ]);
    const v = evaluate(input({ deliveries: rows(10, 0), misconfig, webhooks: 2 }));
    expect(v.ok).toBe(false);
    expect(v.reason).toBe('webhook settings: wh2 redelivery_off');
    expect(v.cause).toMatch(/^Automatic redelivery is off/);
    expect(v.action).toBeUndefined();
  });

  it('a store without webhooks fails, and says to create one', () => {
    const v = evaluate(input({ webhooks: 0, misconfig: new Map() }));
    expect(v.ok).toBe(false);
    expect(v.reason).toBe('the store has no webhooks');
    expect(v.cause).toMatch(/^No webhook is configured on the store/);
    expect(v.figures.attemptRatio).toBeUndefined();
  });
});

describe('delivery_rate window figures', () => {
  it('the backlog is the longest queue wait, and failures are classified by reason', () => {
    const f = windowFigures([
      row('a', true, { timestamp: T, deliveryTime: T + 40 }),
      row('b', false, { status: 'HttpError', httpCode: 503, errorMessage: 'HTTP Error Code 503' }),
      row('c', false, { errorMessage: 'Name or service not known (hooks.example:443)' }),
    ]);
    expect(f.backlogSeconds).toBe(40);
    expect(f.failureReasons).toEqual({ http_5xx: 1, dns: 1 });
    expect(f.failures.map((d) => d.status)).toEqual(['HttpError', 'Failed']);
  });

  it('an empty window has no ratio', () => {
    const f = windowFigures([]);
    expect(f).toMatchObject({ attempts: 0, events: 0, backlogSeconds: 0 });
    expect('attemptRatio' in f || 'eventRatio' in f).toBe(false);
  });
});
