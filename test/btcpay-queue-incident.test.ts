// Incident replay on the simulated clock: the receiver stops answering (every attempt runs into BTCPay's 100 s
// HttpClient timeout) while four paid invoices queue up on one webhook. The first event holds the queue for its
// whole retry cycle (~76 min), the next one retries behind it, and the last two are attempted only ~100 min after
// they were paid, with their original timestamps (BTCPay: WebhookSender.cs Process retries inside the queue slot;
// MultiProcessingQueue.cs keeps one ordered queue per webhook). After the receiver recovers and the exhausted event
// is redelivered, every paid event must count as delivered: no event may stay "undelivered" because its late row
// fell below a fixed re-read horizon.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paidLatency } from '../probes/paid-latency/index.ts';
import { deliveryRate } from '../probes/delivery-rate/index.ts';
import { BtcpayClient } from '../src/clients/btcpay/client.ts';
import { planRedelivery } from '../src/commands/redeliver/plan.ts';
import { probeEntry, startHarness, type Harness } from './helpers/btcpay-harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ fake: { clock: 'virtual' }, webhook: { url: 'x', specificEvents: ['InvoiceSettled'] } });
  h.fake.updateWebhook(h.webhookId, { url: h.rx.url });
});
afterAll(async () => h.close());

describe('queue stacked behind a timing-out receiver', () => {
  it('finds every late row after recovery: all events delivered, no false undelivered count', async () => {
    const latency = probeEntry('paid_latency', paidLatency.schema.parse({ source: 'btcpay', window: '1h' }));
    const rate = probeEntry('delivery_rate', deliveryRate.schema.parse({ source: 'btcpay', window: '15m', checks: [] }));
    const latState = new Map<string, unknown>();
    const rateState = new Map<string, unknown>();
    const poll = async () => {
      await deliveryRate.run(rate, h.ctx({ state: rateState, probe: 'rate' }));
      return paidLatency.run(latency, h.ctx({ state: latState, probe: 'latency' }));
    };
    const undelivered = () => h.ctx({ state: latState, probe: 'latency' }).metricValue('undelivered_paid_events');
    await poll();

    await h.rx.setMode({ kind: 'hang' });
    const paid: string[] = [];
    for (let i = 0; i < 4; i++) {
      const inv = h.fake.createInvoice({ amount: 20 });
      h.fake.settleInvoice(inv.id);
      paid.push(inv.id);
      await h.fake.run(60_000);
    }
    // 100 minutes of outage, polled every 5 minutes.
    for (let t = 0; t < 96; t += 5) {
      await h.fake.run(5 * 60_000);
      const r = await poll();
      expect(r.ok).toBe(false);
    }
    const timedOut = h.fake.deliveries(h.webhookId).filter((d) => d.status === 'Failed');
    expect(timedOut.length).toBeGreaterThanOrEqual(9);
    expect(timedOut.every((d) => d.errorMessage === 'The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing.')).toBe(true);

    await h.rx.heal();
    for (let i = 0; i < 15; i++) {
      await h.fake.run(60_000);
      await poll();
    }
    // The first event exhausted its 9 attempts during the outage; the other three were delivered from the queue,
    // two of them with rows timestamped ~100 minutes before they were written.
    const rows = h.fake.deliveries(h.webhookId);
    const late = rows.filter((d) => d.status === 'HttpSuccess' && d.deliveryTime! - d.timestamp > 75 * 60);
    expect(late.length).toBeGreaterThanOrEqual(2);
    expect(await undelivered()).toBe(1);

    const client = new BtcpayClient({ url: h.source.url, apiKey: h.source.apiKey, storeId: h.source.storeId });
    const log = { info: () => undefined, warn: () => undefined };
    const rep = await planRedelivery(client, { sinceMs: 4 * 3600_000, nowMs: h.clock.ms, apply: true, log, verifyMs: 0 });
    expect(rep.items.filter((i) => i.action === 'redelivered')).toHaveLength(1);
    await h.fake.run(60_000);
    const final = await poll();
    expect(await undelivered()).toBe(0);
    expect(final.ok).toBe(true);
    const settledAt = new Set(h.rx.received.filter((r) => r.body.type === 'InvoiceSettled').map((r) => r.body.invoiceId));
    expect(paid.every((id) => settledAt.has(id))).toBe(true);
  });
});
