// The BTCPay domain layer (src/btcpay/): one permission check per source shared by every probe, the paid-invoice
// rule, event subscriptions, the retry window.
import { afterEach, describe, expect, it } from 'vitest';
import { deliveryRate } from '../probes/delivery-rate/index.ts';
import { paidLatency } from '../probes/paid-latency/index.ts';
import { isPaid as reconcilePaid } from '../probes/reconcile/index.ts';
import { isPaid, paidStatuses } from '../src/btcpay/invoices.ts';
import { subscribesTo, subscribesToAll, subscribesToAny, wouldDeliver } from '../src/btcpay/subscriptions.ts';
import { MAX_RETRY_GAP_SEC, REDELIVERY_PENDING_SEC, RETRY_CYCLE_SEC, isRetryable } from '../src/btcpay/retry.ts';
import { probeEntry, startHarness, type Harness } from './helpers/btcpay-harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('BTCPay domain layer', () => {
  it('checks a source key once, shared by every probe using the source; a 403 makes the next run check again', async () => {
    h = await startHarness();
    const rate = probeEntry('delivery_rate', deliveryRate.schema.parse({ source: 'btcpay' }));
    const lat = probeEntry('paid_latency', paidLatency.schema.parse({ source: 'btcpay' }));
    const checks = () => h!.fake.requestsBySegment.get('current') ?? 0;
    await deliveryRate.run(rate, h.ctx());
    await paidLatency.run(lat, h.ctx());
    await deliveryRate.run(rate, h.ctx()); // a restarted probe (fresh state) reuses it too
    expect(checks()).toBe(1);
    h.fake.fault('/webhooks', { kind: 'status', status: 403, times: 1 });
    await deliveryRate.run(rate, h.ctx());
    await deliveryRate.run(rate, h.ctx());
    expect(checks()).toBe(2);
  });

  it('paid invoices: Settled; Processing only for processing events; Expired only with PaidLate', () => {
    const s = (status: string, additionalStatus = 'None') => ({ status, additionalStatus }) as never;
    const settled = { paidEvents: ['InvoiceSettled'] };
    expect(isPaid(s('Settled'), settled)).toBe(true);
    expect(isPaid(s('Processing'), settled)).toBe(false);
    expect(isPaid(s('Processing'), { paidEvents: ['InvoiceProcessing'] })).toBe(true);
    expect(isPaid(s('Expired', 'PaidLate'), settled)).toBe(true);
    expect(isPaid(s('Expired', 'PaidLate'), { ...settled, includePaidLate: false })).toBe(false);
    expect(isPaid(s('Expired', 'PaidPartial'), settled)).toBe(false);
    expect(isPaid(s('New'), settled)).toBe(false);
    expect(paidStatuses(settled)).toEqual(['Settled', 'Expired']);
    // reconcile follows the same rule
    for (const [st, add] of [
      ['Settled', 'None'],
      ['Expired', 'PaidLate'],
      ['Expired', 'None'],
      ['Processing', 'None'],
    ])
      expect(reconcilePaid(s(st!, add))).toBe(isPaid(s(st!, add), settled));
  });

  it('subscriptions follow ShouldDeliver: enabled and (everything or the type listed)', () => {
    const h1 = { enabled: true, authorizedEvents: { everything: false, specificEvents: ['InvoiceSettled'] } };
    expect(subscribesTo(h1, 'InvoiceSettled')).toBe(true);
    expect(subscribesTo(h1, 'InvoiceCreated')).toBe(false);
    expect(subscribesToAll(h1, ['InvoiceSettled', 'InvoicePaidAfterExpiration'])).toBe(false);
    expect(subscribesToAny(h1, ['InvoiceSettled', 'InvoicePaidAfterExpiration'])).toBe(true);
    expect(wouldDeliver({ ...h1, enabled: false }, 'InvoiceSettled')).toBe(false);
    expect(wouldDeliver({ enabled: true, authorizedEvents: { everything: true, specificEvents: null } }, 'Anything')).toBe(true);
  });

  it('the retry window comes from the schedule and the 100 s attempt timeout', () => {
    expect(MAX_RETRY_GAP_SEC).toBe(600 + 100);
    expect(REDELIVERY_PENDING_SEC).toBeGreaterThan(MAX_RETRY_GAP_SEC);
    expect(RETRY_CYCLE_SEC).toBe(10 + 60 + 6 * 600 + 9 * 100); // ~76 min
    expect([null, 500, 503, 408, 429].every(isRetryable)).toBe(true);
    expect([200, 302, 400, 401, 404].some(isRetryable)).toBe(false);
  });
});
