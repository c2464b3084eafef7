// paid_latency against the fake BTCPay: pairing paid invoices with their first successful delivery, events
// BTCPay never attempted (disabled webhook, queue lost in a restart), paid-late invoices, labels, bad data.
import { afterEach, describe, expect, it } from 'vitest';
import { paidLatency } from './index.ts';
import { expectGolden } from '../../test/helpers/golden.ts';
import { probeEntry, startHarness, type Harness } from '../../test/helpers/btcpay-harness.ts';
import { forgetDeliveryLogs } from '../../src/btcpay/shared-log.ts';
import { stateOf } from './state.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Observation count of the paid_to_delivered_seconds histogram for one method. */
async function observed(h: Harness, method: string, probe = 'btcpay'): Promise<number | undefined> {
  const m = await h.registry.registry.getSingleMetric('hookwatch_paid_to_delivered_seconds')?.get();
  return m?.values.find(
    (v) => (v as { metricName?: string }).metricName === 'hookwatch_paid_to_delivered_seconds_count' && v.labels.method === method && v.labels.probe === probe,
  )?.value;
}

const parse = (own: Record<string, unknown> = {}, thresholds: Record<string, number> = {}) =>
  probeEntry('paid_latency', paidLatency.schema.parse({ source: 'btcpay', ...own }), thresholds);

describe('paid_latency against a fake BTCPay', () => {
  it('pairs paid invoices with their first successful delivery, per payment method family, observed once', async () => {
    h = await startHarness({ webhook: { url: 'x', specificEvents: ['InvoiceSettled'] } });
    h.fake.updateWebhook(h.webhookId, { url: h.rx.url });
    const probe = parse();
    const state = new Map<string, unknown>();
    let ctx = h.ctx({ state });
    expect((await paidLatency.run(probe, ctx)).ok).toBe(true);
    const a = h.fake.createInvoice({ amount: 10, paymentMethod: 'chain' });
    const b = h.fake.createInvoice({ amount: 10, paymentMethod: 'lightning' });
    h.advance(5000);
    h.fake.settleInvoice(a.id);
    h.fake.settleInvoice(b.id);
    await h.fake.idle();
    h.advance(60_000);
    const r = await paidLatency.run(probe, (ctx = h.ctx({ state })));
    expect(r.ok).toBe(true);
    expect(r.details).toMatchObject({ paidEvents: 2, delivered: 2, medianSeconds: 0, undelivered: [] });
    expect(await observed(h, 'chain')).toBe(1);
    expect(await observed(h, 'lightning')).toBe(1);
    expect(await ctx.metricValue('undelivered_paid_events')).toBe(0);
    // Polls and a restart do not observe the same event again.
    h.advance(60_000);
    await paidLatency.run(probe, h.ctx({ state }));
    forgetDeliveryLogs(); // a restart: the process's shared delivery logs go too
    await paidLatency.run(probe, h.ctx({ state: new Map() }));
    expect(await observed(h, 'chain')).toBe(1);
    const text = await h.registry.registry.metrics();
    expect(text).not.toContain(a.id);
    expect(text).not.toContain(h.key);
    expectGolden(new URL('./exposition.prom', import.meta.url), text);
  });

  it('keeps only the id of an invoice delivered everywhere once it is paid before the window, and still counts it', async () => {
    h = await startHarness({ webhook: { url: 'x', specificEvents: ['InvoiceSettled'] } });
    h.fake.updateWebhook(h.webhookId, { url: h.rx.url });
    const probe = parse({ window: '10m' });
    const state = new Map<string, unknown>();
    await paidLatency.run(probe, h.ctx({ state }));
    const delivered = h.fake.createInvoice({ amount: 10 });
    h.fake.settleInvoice(delivered.id);
    await h.fake.idle();
    await h.rx.setMode({ kind: 'down' });
    const failing = h.fake.createInvoice({ amount: 10 });
    h.fake.settleInvoice(failing.id);
    await h.fake.idle();
    h.advance(60_000);
    await paidLatency.run(probe, h.ctx({ state }));
    const st = stateOf(state);
    expect([...st.invoices.keys()].sort()).toEqual([delivered.id, failing.id].sort()); // in the window: full records
    h.advance(15 * 60_000);
    const r = await paidLatency.run(probe, h.ctx({ state }));
    // Delivered and out of the window: only its id stays. Undelivered: judged on every poll, so its record stays.
    expect(st.done.has(delivered.id)).toBe(true);
    expect([...st.invoices.keys()]).toEqual([failing.id]);
    expect(r.ok).toBe(false);
    expect(r.details).toMatchObject({ paidEvents: 2, delivered: 1, undelivered: [{ invoiceId: failing.id }] });
    // Later polls count the done invoice without a record, and the verdict is the same.
    h.advance(60_000);
    const again = await paidLatency.run(probe, h.ctx({ state }));
    expect(again.details).toMatchObject({ paidEvents: 2, delivered: 1 });
    expect(again.ok).toBe(false);
    expect(again.reason).toMatch(/^median paid-to-delivered \d+ s > 300 s over 1 paid events; 1 paid event\(s\) undelivered/);
    expect(st.invoices.has(delivered.id)).toBe(false);
  });

  it('probes with the same store and settings share one set of done ids; another window keeps its own', async () => {
    h = await startHarness({ webhook: { url: 'x', specificEvents: ['InvoiceSettled'] } });
    h.fake.updateWebhook(h.webhookId, { url: h.rx.url });
    const [a, b, other] = [parse({ window: '10m' }), parse({ window: '10m' }), parse({ window: '5m' })];
    const states = [new Map<string, unknown>(), new Map<string, unknown>(), new Map<string, unknown>()];
    const runAll = async () => {
      const out = [];
      for (const [i, p] of [a, b, other].entries()) out.push(await paidLatency.run(p, h!.ctx({ state: states[i]! })));
      return out;
    };
    await runAll();
    const inv = h.fake.createInvoice({ amount: 10 });
    h.fake.settleInvoice(inv.id);
    await h.fake.idle();
    h.advance(60_000);
    await runAll();
    const [sa, sb, so] = states.map((s) => stateOf(s));
    expect(sb!.invoices.has(inv.id)).toBe(true);
    h.advance(15 * 60_000);
    // Only the first probe polls past the window: its mark reaches the second, whose record goes on its next poll.
    await paidLatency.run(a, h.ctx({ state: states[0]! }));
    expect(sa!.done).toBe(sb!.done);
    expect(sb!.done.has(inv.id)).toBe(true);
    expect(so!.done).not.toBe(sa!.done);
    expect(so!.done.has(inv.id)).toBe(false);
    const rb = await paidLatency.run(b, h.ctx({ state: states[1]! }));
    expect(sb!.invoices.has(inv.id)).toBe(false);
    expect(rb.details).toMatchObject({ paidEvents: 1, delivered: 1 });
  });

  it('a paid event waiting behind a delivery BTCPay is still retrying is "queued behind" it, not "never attempted"', async () => {
    h = await startHarness({ fake: { clock: 'virtual' } });
    const probe = parse();
    const state = new Map<string, unknown>();
    await paidLatency.run(probe, h.ctx({ state }));
    await h.rx.setMode({ kind: 'down' });
    const a = h.fake.createInvoice({ amount: 10 });
    h.fake.settleInvoice(a.id);
    const b = h.fake.createInvoice({ amount: 10 });
    h.fake.settleInvoice(b.id);
    await h.fake.run(6 * 60_000);
    const r = await paidLatency.run(probe, h.ctx({ state }));
    expect(r.ok).toBe(false);
    const und = (r.details as { undelivered: Array<{ invoiceId: string; lastAttempt: unknown }> }).undelivered;
    expect(und.map((u) => u.invoiceId).sort()).toEqual([a.id, b.id].sort());
    // Invoice a's own InvoiceCreated is the failing head; b has no row at all and waits behind it.
    expect(und.find((u) => u.invoiceId === a.id)!.lastAttempt).toMatchObject({ status: 'Failed', errorMessage: expect.stringMatching(/^Connection refused/) });
    expect(und.find((u) => u.invoiceId === b.id)!.lastAttempt).toMatch(
      new RegExp(`queued behind delivery \\S+ \\(InvoiceCreated of invoice ${a.id}, \\d+ attempt\\(s\\), last: Connection refused`),
    );
    expect(r.cause).not.toMatch(/invoice page|never attempted/);
  });

  it('counts a paid event BTCPay never attempted (disabled webhook) at its growing age, with the invoice id in details', async () => {
    h = await startHarness({ webhook: { url: 'x', enabled: false, specificEvents: ['InvoiceSettled'] } });
    h.fake.updateWebhook(h.webhookId, { url: h.rx.url });
    const probe = parse();
    const state = new Map<string, unknown>();
    await paidLatency.run(probe, h.ctx({ state }));
    const inv = h.fake.createInvoice({ amount: 0 }); // settles at once, but the webhook is disabled: no record
    await h.fake.idle();
    h.advance(60_000);
    let ctx = h.ctx({ state });
    const early = await paidLatency.run(probe, ctx);
    expect(early.ok).toBe(true);
    expect(await ctx.metricValue('undelivered_paid_events')).toBe(1);
    h.advance(10 * 60_000);
    const r = await paidLatency.run(probe, (ctx = h.ctx({ state })));
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/undelivered/);
    expect(r.cause).toMatch(/disabled/);
    expect(r.action).toMatch(/`hookwatch redeliver --config\.file test\.yaml --probe \S+ --since 6h`/);
    const und = (r.details as { undelivered: Array<{ invoiceId: string; ageSeconds: number; lastAttempt: unknown }> }).undelivered;
    expect(und[0]).toMatchObject({ invoiceId: inv.id, lastAttempt: expect.stringMatching(/never attempted/) });
    expect(und[0]!.ageSeconds).toBeGreaterThanOrEqual(600);
    expect(await ctx.metricValue('oldest_undelivered_paid_event_age_seconds')).toBeGreaterThanOrEqual(600);
    expect(await ctx.metricValue('paid_to_delivered_median_seconds')).toBeGreaterThanOrEqual(600);
  });

  it('counts events lost with the in-memory queue in a BTCPay restart', async () => {
    h = await startHarness({ webhook: { url: 'x', specificEvents: ['InvoiceSettled'] } });
    h.fake.updateWebhook(h.webhookId, { url: h.rx.url });
    const probe = parse();
    const state = new Map<string, unknown>();
    await paidLatency.run(probe, h.ctx({ state }));
    await h.rx.setMode({ kind: 'hang' });
    const a = h.fake.createInvoice({ amount: 0 });
    const b = h.fake.createInvoice({ amount: 0 }); // queued behind a's hanging delivery
    await new Promise((r) => setTimeout(r, 50));
    h.fake.restart(); // a's pending retries and b's queued event vanish
    await h.rx.heal();
    await h.fake.idle(5000);
    h.advance(6 * 60_000);
    const r = await paidLatency.run(probe, h.ctx({ state }));
    expect(r.ok).toBe(false);
    const ids = (r.details as { undelivered: Array<{ invoiceId: string }> }).undelivered.map((u) => u.invoiceId).sort();
    expect(ids).toEqual([a.id, b.id].sort());
  });

  it('treats Expired + PaidLate invoices as paid (delivered through InvoicePaidAfterExpiration)', async () => {
    h = await startHarness();
    const probe = parse();
    const state = new Map<string, unknown>();
    await paidLatency.run(probe, h.ctx({ state }));
    const inv = h.fake.createInvoice({ amount: 5, paymentMethod: 'lightning' });
    h.fake.expirePaidLate(inv.id);
    await h.fake.idle();
    const ctx = h.ctx({ state });
    const r = await paidLatency.run(probe, ctx);
    expect(r.details).toMatchObject({ paidEvents: 1, delivered: 1 });
    expect(await observed(h, 'lightning')).toBe(1);
    const off = await paidLatency.run(parse({ includePaidLate: false }), h.ctx());
    expect(off.details).toMatchObject({ paidEvents: 0 });
  });

  it('bad upstream data fails the run with a reason; the next run recovers', async () => {
    h = await startHarness();
    h.fake.createInvoice({ amount: 0 });
    await h.fake.idle();
    const probe = parse();
    const state = new Map<string, unknown>();
    for (const fault of [{ kind: 'garbage' as const }, { kind: 'truncated' as const }, { kind: 'body' as const, body: '[{"id":1}]' }]) {
      h.fake.fault('/invoices', { ...fault, times: 1 });
      const bad = await paidLatency.run(probe, h.ctx({ state }));
      expect(bad.ok).toBe(false);
      expect(bad.reason).toMatch(/malformed/);
      expect((await paidLatency.run(probe, h.ctx({ state }))).ok).toBe(true);
    }
  });

  it('after a restart, invoices paid before the delivery log it read are not reported undelivered', async () => {
    h = await startHarness();
    h.fake.createInvoice({ amount: 0 });
    await h.fake.idle();
    h.advance(3 * 3600_000); // delivered three hours ago: beyond the 75 min re-read depth
    const r = await paidLatency.run(parse(), h.ctx());
    expect(r.ok).toBe(true);
    expect(r.details).toMatchObject({ paidEvents: 0 });
  });

  it('with no webhook subscribed to the paid events, every paid invoice is undelivered', async () => {
    h = await startHarness({ webhook: { url: 'http://127.0.0.1:9/x', specificEvents: ['InvoiceCreated'] } });
    const state = new Map<string, unknown>();
    await paidLatency.run(parse(), h.ctx({ state }));
    h.fake.createInvoice({ amount: 0 });
    await h.fake.idle();
    h.advance(10 * 60_000);
    const r = await paidLatency.run(parse(), h.ctx({ state }));
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/no webhook is subscribed to InvoiceSettled/);
  });

  it('a poll that fails while reading delivery bodies observes every delivered event on the next clean poll', async () => {
    h = await startHarness({ webhook: { url: 'x', specificEvents: ['InvoiceSettled'] } });
    h.fake.updateWebhook(h.webhookId, { url: h.rx.url });
    const probe = parse();
    const state = new Map<string, unknown>();
    await paidLatency.run(probe, h.ctx({ state }));
    for (let i = 0; i < 3; i++) h.fake.createInvoice({ amount: 0, paymentMethod: 'chain' });
    await h.fake.idle();
    h.advance(30_000);
    const rows = h.fake.deliveries(h.webhookId);
    expect(rows).toHaveLength(3);
    h.fake.fault(`/deliveries/${rows[0]!.id}/request`, { kind: 'status', status: 500 });
    const bad = await paidLatency.run(probe, h.ctx({ state }));
    expect(bad.ok).toBe(false);
    h.fake.clearFaults();
    h.advance(30_000);
    const good = await paidLatency.run(probe, h.ctx({ state }));
    expect(good.details).toMatchObject({ paidEvents: 3, delivered: 3 });
    expect(await observed(h, 'chain')).toBe(rows.length);
  }, 20_000);

  it('uses includePaymentMethods=true on the invoice list: no payment-methods call per invoice', async () => {
    h = await startHarness();
    for (let i = 0; i < 12; i++) h.fake.settleInvoice(h.fake.createInvoice({ amount: 10, paymentMethod: i % 2 ? 'lightning' : 'chain' }).id);
    await h.fake.idle();
    const r = await paidLatency.run(parse(), h.ctx());
    expect(r.details).toMatchObject({ paidEvents: 12, poll: { paymentMethodCalls: 0 } });
    expect(h.fake.requestsBySegment.get('payment-methods') ?? 0).toBe(0);
  });

  it('on a server without includePaymentMethods, reads payment methods of many new invoices with bounded concurrency, and stops on abort', async () => {
    h = await startHarness({ fake: { legacyInvoiceList: true } });
    for (let i = 0; i < 30; i++) h.fake.settleInvoice(h.fake.createInvoice({ amount: 10 }).id);
    await h.fake.idle();
    const probe = parse();
    // Each payment-methods call takes 100 ms at the fake, so parallel calls overlap there.
    h.fake.fault('payment-methods', { kind: 'slow', delayMs: 100 });
    const first = await paidLatency.run(probe, h.ctx());
    expect(first.details).toMatchObject({ paidEvents: 30, poll: { paymentMethodCalls: 30 } });
    const peak = h.fake.maxInFlight.get('payment-methods')!;
    expect(peak).toBeGreaterThan(1);
    expect(peak).toBeLessThanOrEqual(8);

    h.fake.clearFaults();
    h.fake.fault('payment-methods', { kind: 'slow', delayMs: 10_000 });
    const ac = new AbortController();
    const ctx = h.ctx();
    Object.assign(ctx, { signal: ac.signal });
    const pm = () => h!.fake.requestsBySegment.get('payment-methods') ?? 0;
    const before = pm();
    // Abort (as the probe timeout would) once the payment-method calls are under way.
    const timer = setInterval(() => pm() > before && ac.abort(), 5);
    const aborted = await paidLatency.run(probe, ctx);
    clearInterval(timer);
    expect(aborted.ok).toBe(false);
    expect(aborted.reason).toMatch(/timeout/);
    // No call started after the abort: one batch of 8 at most, not all 30.
    expect(pm() - before).toBeLessThanOrEqual(8);
    expect(pm() - before).toBeGreaterThan(0);
  }, 30_000);

  it('exports the host of each webhook it pairs paid events with as destination info, and drops hosts that leave', async () => {
    h = await startHarness({ webhook: { url: 'https://Shop.Example.com/btcpay', specificEvents: ['InvoiceSettled'] } });
    const probe = parse();
    const state = new Map<string, unknown>();
    // Not subscribed to the paid events: not a destination of this probe.
    h.fake.createWebhook({ url: 'https://crm.example.org/hook', specificEvents: ['InvoiceCreated'] });
    const erp = h.fake.createWebhook({ url: 'https://erp.example.net:8443/hook', specificEvents: ['InvoiceSettled'] });
    let ctx = h.ctx({ state });
    await paidLatency.run(probe, ctx);
    const hosts = async () =>
      (await h!.registry.registry.getSingleMetric('hookwatch_webhook_destination_info')!.get()).values
        .filter((v) => v.value === 1)
        .map((v) => v.labels.destination)
        .sort();
    expect(await hosts()).toEqual(['erp.example.net', 'shop.example.com']);

    h.fake.deleteWebhook(erp.id);
    h.advance(60_000);
    await paidLatency.run(probe, (ctx = h.ctx({ state })));
    expect(await hosts()).toEqual(['shop.example.com']);
    expect(await ctx.metricValue('webhook_destination_info', { destination: 'shop.example.com' })).toBe(1);
  });
});
