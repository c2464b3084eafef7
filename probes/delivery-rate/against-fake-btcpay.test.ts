// delivery_rate against the fake BTCPay: ratios, counters without double counting (polls and restarts),
// incremental cost, late rows from the in-order queue, webhook misconfiguration, bad upstream data, secrets.
import { afterEach, describe, expect, it } from 'vitest';
import { Secret } from '../../src/secret.ts';
import { deliveryRate } from './index.ts';
import { expectGolden } from '../../test/helpers/golden.ts';
import { probeEntry, startHarness, until, type Harness } from '../../test/helpers/btcpay-harness.ts';
import { forgetDeliveryLogs } from '../../src/btcpay/shared-log.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const parse = (own: Record<string, unknown>, thresholds: Record<string, number> = {}) =>
  probeEntry('delivery_rate', deliveryRate.schema.parse({ source: 'btcpay', ...own }), thresholds);

async function settleMany(h: Harness, n: number, stepMs = 1000) {
  for (let i = 0; i < n; i++) {
    h.fake.createInvoice({ amount: 0 });
    h.advance(stepMs);
  }
  await h.fake.idle();
}

describe('delivery_rate against a fake BTCPay', () => {
  it('reports ratios per attempt and per event, counts only new deliveries, and survives restarts without double counting', async () => {
    h = await startHarness();
    const probe = parse({ window: '15m' });
    const state = new Map<string, unknown>();
    await settleMany(h, 4); // 12 deliveries before the agent starts
    let ctx = h.ctx({ state });
    const r1 = await deliveryRate.run(probe, ctx);
    expect(r1.ok).toBe(true);
    expect(r1.details).toMatchObject({ attempts: 12, successes: 12, events: 12, poll: { baseline: true } });
    expect(await ctx.metricValue('webhook_delivery_success_ratio')).toBe(1);
    // History from before the start is in the ratio, not in the counters.
    expect(await ctx.metricValue('webhook_deliveries_total', { outcome: 'success' })).toBe(0);

    await settleMany(h, 3);
    h.advance(60_000);
    const r2 = await deliveryRate.run(probe, (ctx = h.ctx({ state })));
    expect(r2.details).toMatchObject({ attempts: 21, poll: { baseline: false, newRows: 9 } });
    expect(await ctx.metricValue('webhook_deliveries_total', { outcome: 'success' })).toBe(9);

    // Same rows again: nothing new.
    h.advance(60_000);
    await deliveryRate.run(probe, (ctx = h.ctx({ state })));
    expect(await ctx.metricValue('webhook_deliveries_total', { outcome: 'success' })).toBe(9);

    // A restart (fresh state, same registry as a stand-in for the process): the window is rebuilt, not re-counted.
    forgetDeliveryLogs(); // the process's shared delivery logs go too
    const r3 = await deliveryRate.run(probe, (ctx = h.ctx({ state: new Map() })));
    expect(r3.details).toMatchObject({ attempts: 21, poll: { baseline: true } });
    expect(await ctx.metricValue('webhook_deliveries_total', { outcome: 'success' })).toBe(9);
    expectGolden(new URL('./exposition.prom', import.meta.url), await h.registry.registry.metrics());
  });

  it('a poll that fails while reading request bodies loses no delivery: the next clean poll counts every row the fake wrote', async () => {
    h = await startHarness();
    const probe = parse({ window: '15m' });
    const state = new Map<string, unknown>();
    await deliveryRate.run(probe, h.ctx({ state })); // baseline, nothing yet
    await settleMany(h, 3); // 9 new rows
    h.advance(30_000);
    const rows = h.fake.deliveries(h.webhookId);
    expect(rows).toHaveLength(9);
    // Only the oldest row's body fails (500 on every attempt): the poll dies after the others were read.
    const oldest = [...rows].sort((a, b) => a.timestamp - b.timestamp)[0]!;
    h.fake.fault(`/deliveries/${oldest.id}/request`, { kind: 'status', status: 500 });
    let ctx = h.ctx({ state });
    const bad = await deliveryRate.run(probe, ctx);
    expect(bad.ok).toBe(false);
    expect(bad.reason).toMatch(/HTTP 500/);
    h.fake.clearFaults();
    h.advance(30_000);
    const good = await deliveryRate.run(probe, (ctx = h.ctx({ state })));
    expect(good.ok).toBe(true);
    expect(good.details).toMatchObject({ attempts: 9, events: 9, poll: { baseline: false, newRows: 9 } });
    // Bodies read by the failed poll are not read again.
    expect((good.details as { poll: { bodyCalls: number } }).poll.bodyCalls).toBeLessThan(9);
    expect(await ctx.metricValue('webhook_deliveries_total', { outcome: 'success' })).toBe(rows.length);
    h.advance(30_000);
    await deliveryRate.run(probe, (ctx = h.ctx({ state })));
    expect(await ctx.metricValue('webhook_deliveries_total', { outcome: 'success' })).toBe(rows.length);
  }, 20_000);

  it('a poll aborted (probe timeout) while reading bodies loses no delivery either', async () => {
    h = await startHarness();
    const probe = parse({ window: '15m' });
    const state = new Map<string, unknown>();
    await deliveryRate.run(probe, h.ctx({ state }));
    await settleMany(h, 2); // 6 new rows
    h.advance(30_000);
    h.fake.fault('/request', { kind: 'slow', delayMs: 5000 });
    const ac = new AbortController();
    const aborted = h.ctx({ state });
    Object.assign(aborted, { signal: ac.signal });
    const timer = setTimeout(() => ac.abort(), 300);
    const bad = await deliveryRate.run(probe, aborted);
    clearTimeout(timer);
    expect(bad.ok).toBe(false);
    expect(bad.reason).toMatch(/timeout/);
    h.fake.clearFaults();
    h.advance(30_000);
    const ctx = h.ctx({ state });
    const good = await deliveryRate.run(probe, ctx);
    expect(good.ok).toBe(true);
    expect(await ctx.metricValue('webhook_deliveries_total', { outcome: 'success' })).toBe(h.fake.deliveries(h.webhookId).length);
    expect(h.fake.deliveries(h.webhookId)).toHaveLength(6);
  }, 20_000);

  it('classifies failures into a fixed reason set and fails below min_success_ratio', async () => {
    h = await startHarness({ webhook: { url: 'placeholder' } });
    h.fake.updateWebhook(h.webhookId, { url: h.rx.url, automaticRedelivery: false });
    const probe = parse({ checks: [] });
    const state = new Map<string, unknown>();
    await deliveryRate.run(probe, h.ctx({ state }));
    await h.rx.setMode({ kind: 'status', status: 502 });
    await settleMany(h, 3);
    const ctx = h.ctx({ state });
    const r = await deliveryRate.run(probe, ctx);
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/attempt success ratio 0\.000 < 0\.95/);
    expect(r.cause).toMatch(/5xx/);
    expect(r.action).toMatch(/`hookwatch redeliver --config\.file test\.yaml --probe \S+ --since 6h`/);
    expect(await ctx.metricValue('webhook_delivery_failures_total', { reason: 'http_5xx' })).toBe(9);
    expect(await ctx.metricValue('webhook_deliveries_total', { outcome: 'http_error' })).toBe(9);
    expect(await ctx.metricValue('webhook_event_success_ratio')).toBe(0);
    // Volume guard: fewer deliveries than min_deliveries give no verdict on the ratio.
    const guarded = await deliveryRate.run(parse({ checks: [] }, { min_deliveries: 100 }), h.ctx({ state }));
    expect(guarded.ok).toBe(true);
  });

  it('reads incrementally: cost follows new deliveries, not history', async () => {
    h = await startHarness();
    // 5000 historic deliveries, the newest two hours old.
    h.fake.seedDeliveries(h.webhookId, 5000, { startMs: h.clock.ms - 7 * 86_400_000, stepMs: 100_000 });
    const probe = parse({});
    const state = new Map<string, unknown>();
    const first = await deliveryRate.run(probe, h.ctx({ state }));
    expect(first.ok).toBe(true);
    const calls = [] as Array<{ listedRows: number; bodyCalls: number; listCalls: number }>;
    for (let i = 0; i < 3; i++) {
      await settleMany(h, 10, 2000); // 30 new rows
      h.advance(30_000);
      const r = await deliveryRate.run(probe, h.ctx({ state }));
      calls.push((r.details as { poll: { listedRows: number; bodyCalls: number; listCalls: number } }).poll);
    }
    for (const c of calls) {
      expect(c.bodyCalls).toBe(30);
      expect(c.listCalls).toBeLessThanOrEqual(2);
      expect(c.listedRows).toBeLessThan(300);
    }
  });

  it('finds rows written late below already-seen rows (events queued behind a retry loop)', async () => {
    h = await startHarness();
    const probe = parse({ checks: [] });
    const state = new Map<string, unknown>();
    await deliveryRate.run(probe, h.ctx({ state }));
    await h.rx.setMode({ kind: 'status', status: 500 });
    h.fake.createInvoice({ amount: 0 }); // 3 events; the first blocks the others in its retry loop
    await until(() => h!.fake.deliveries(h!.webhookId).length > 0); // the first attempt failed and was written
    h.advance(120_000);
    const mid = await deliveryRate.run(probe, h.ctx({ state }));
    expect((mid.details as { attempts: number }).attempts).toBeGreaterThan(0);
    await h.rx.heal();
    await h.fake.idle(15_000);
    h.advance(600_000);
    const ctx = h.ctx({ state });
    const r = await deliveryRate.run(probe, ctx);
    const rows = h.fake.deliveries(h.webhookId);
    const total =
      (await ctx.metricValue('webhook_deliveries_total', { outcome: 'success' }))! +
      (await ctx.metricValue('webhook_deliveries_total', { outcome: 'http_error' }))!;
    expect(total).toBe(rows.length);
    expect(r.details).toMatchObject({ attempts: rows.length, eventsDelivered: 3, events: 3 });
    expect((r.details as { backlogSeconds: number }).backlogSeconds).toBeGreaterThanOrEqual(120);
    expect(await ctx.metricValue('webhook_delivery_backlog_seconds')).toBeGreaterThanOrEqual(120);
  });

  it('flags sender-side misconfiguration: disabled, redelivery off, paid event not subscribed, URL host not checked by synthetic', async () => {
    h = await startHarness({
      webhook: { url: 'http://other.example:8080/hook', enabled: false, automaticRedelivery: false, specificEvents: ['InvoiceCreated'] },
    });
    const probe = parse({});
    const ctx = h.ctx({
      config: {
        probes: [{ name: 'syn', type: 'synthetic', intervalMs: 1, timeoutMs: 1, thresholds: {}, targets: ['https://internal.example.com/btcpay/webhook'] }],
      },
    });
    const r = await deliveryRate.run(probe, ctx);
    expect(r.ok).toBe(false);
    for (const c of ['disabled', 'redelivery_off', 'paid_event_unsubscribed', 'url_host_unchecked']) {
      expect(r.reason).toContain(c);
      expect(await ctx.metricValue('webhook_misconfigured', { webhook: h.webhookId, check: c })).toBe(1);
    }
    expect(r.cause).toMatch(/disabled/);
    // A healthy webhook pointing at the synthetic target passes every check.
    h.fake.updateWebhook(h.webhookId, {
      url: 'https://internal.example.com/btcpay/webhook',
      enabled: true,
      automaticRedelivery: true,
      authorizedEvents: { everything: true, specificEvents: [] },
    });
    const ok = await deliveryRate.run(probe, ctx);
    expect(ok.ok).toBe(true);
    expect(await ctx.metricValue('webhook_misconfigured', { webhook: h.webhookId, check: 'disabled' })).toBe(0);
  });

  it('a key without the webhook permission fails with a clear reason', async () => {
    h = await startHarness({ permissions: ['btcpay.store.canviewstoresettings'] });
    const r = await deliveryRate.run(parse({}), h.ctx());
    expect(r.ok).toBe(false);
    expect(r.reason).toContain('btcpay.store.webhooks.canmodifywebhooks');
  });

  it('a mistyped webhookId says the webhook does not exist in the store (BTCPay answers 403 for it), not a permission problem', async () => {
    h = await startHarness();
    const r = await deliveryRate.run(parse({ webhookId: 'NoSuchWebhook1234567890' }), h.ctx());
    expect(r.ok).toBe(false);
    expect(r.reason).toContain(`webhook NoSuchWebhook1234567890 does not exist in store ${h.fake.storeId}`);
    expect(r.reason).toContain(h.webhookId); // names the ids that do exist
    expect(r.cause).not.toMatch(/lacks a permission/);
  });

  it("a 403 after a passed key check names the store role (the key's user is an Employee)", async () => {
    h = await startHarness();
    const key = h.fake.addApiKey([`btcpay.store.canmodifystoresettings:${h.fake.storeId}`], 'employee key', 'Employee');
    const src = { ...h.source, apiKey: Secret.literal(key) };
    const ctx = h.ctx();
    ctx.source = () => src;
    const r = await deliveryRate.run(parse({}), ctx);
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/HTTP 403/);
    expect(r.cause).toMatch(/store role/);
    expect(r.cause).toMatch(/Employee and Guest/);
  });

  it.each([
    ['garbage', { kind: 'garbage' as const }, /malformed/],
    ['truncated', { kind: 'truncated' as const }, /malformed/],
    // A huge deliveries list is cut at the count asked for (test/btcpay-hostile.test.ts); a huge webhooks list is not.
    ['huge', { kind: 'huge' as const, bytes: 40 * 1024 * 1024 }, /too_large/, /\/webhooks$/],
    ['slow', { kind: 'slow' as const, delayMs: 5000 }, /timeout/],
    ['wrong shape', { kind: 'body' as const, body: '{"unexpected":true}' }, /malformed/],
  ])(
    'bad upstream data (%s): fails with a reason, then the next poll recovers',
    async (_n, fault, re, match: string | RegExp = '/deliveries') => {
      h = await startHarness();
      await settleMany(h, 2);
      const probe = parse({});
      const state = new Map<string, unknown>();
      await deliveryRate.run(probe, h.ctx({ state }));
      h.fake.fault(match, { ...fault, times: 1 });
      const bad = await deliveryRate.run(probe, h.ctx({ state }));
      expect(bad.ok).toBe(false);
      expect(bad.reason).toMatch(re);
      expect(bad.cause).toBeTruthy();
      const good = await deliveryRate.run(probe, h.ctx({ state }));
      expect(good.ok).toBe(true);
    },
    20_000,
  );

  it('never shows the API key in results, logs or metrics', async () => {
    h = await startHarness();
    await settleMany(h, 2);
    const ctx = h.ctx();
    h.fake.fault('/webhooks', { kind: 'status', status: 500 });
    const results = [await deliveryRate.run(parse({}), ctx)];
    h.fake.clearFaults();
    results.push(await deliveryRate.run(parse({}), ctx));
    const all = JSON.stringify(results) + ctx.logLines.join('') + (await h.registry.registry.metrics());
    expect(all).not.toContain(h.key);
    expect(results[0]!.ok).toBe(false);
  });

  it('exports one destination info series per distinct webhook host, and drops hosts no webhook uses any more', async () => {
    h = await startHarness();
    const probe = parse({ window: '15m' });
    const state = new Map<string, unknown>();
    const rxHost = new URL(h.rx.url).hostname.toLowerCase();
    const a = h.fake.createWebhook({ url: 'https://Shop.Example.COM:8443/btcpay/a' });
    const b = h.fake.createWebhook({ url: 'https://shop.example.com/btcpay/b' });
    let ctx = h.ctx({ state });
    await deliveryRate.run(probe, ctx);
    expect(await ctx.metricValue('webhook_destination_info', { destination: rxHost })).toBe(1);
    expect(await ctx.metricValue('webhook_destination_info', { destination: 'shop.example.com' })).toBe(1);
    const series = (await h.registry.registry.getSingleMetric('hookwatch_webhook_destination_info')!.get()).values;
    expect(series.map((v) => v.labels.destination).sort()).toEqual([rxHost, 'shop.example.com'].sort());

    h.fake.deleteWebhook(a.id);
    h.fake.deleteWebhook(b.id);
    h.advance(60_000);
    await deliveryRate.run(probe, (ctx = h.ctx({ state })));
    expect(await ctx.metricValue('webhook_destination_info', { destination: 'shop.example.com' })).toBeUndefined();
    expect(await ctx.metricValue('webhook_destination_info', { destination: rxHost })).toBe(1);
  });
});
