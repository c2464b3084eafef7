// A huge or hostile BTCPay must cost bounded memory, series and /status size, and fail with a reason: a server that
// ignores `count`, rows dated in the future, thousands of webhooks, a flood of rows.
import { afterEach, describe, expect, it } from 'vitest';
import { deliveryRate } from '../probes/delivery-rate/index.ts';
import { DeliveryTracker } from '../src/btcpay/tracker.ts';
import { BtcpayClient } from '../src/clients/btcpay/client.ts';
import { JsonArrayCutter } from '../src/clients/btcpay/json-array-cut.ts';
import { probeEntry, startHarness, type Harness } from './helpers/btcpay-harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});
const parse = (own: Record<string, unknown>) => probeEntry('delivery_rate', deliveryRate.schema.parse({ source: 'btcpay', checks: [], ...own }));

describe('hostile or huge BTCPay', () => {
  it('a server that ignores count: reads no further than the rows asked for, and says so', async () => {
    h = await startHarness();
    h.fake.seedDeliveries(h.webhookId, 40_000, { startMs: h.clock.ms - 10 * 86_400_000, stepMs: 20_000 });
    h.fake.fault('/deliveries?count=', { kind: 'ignore-count' });
    const state = new Map<string, unknown>();
    await deliveryRate.run(parse({}), h.ctx({ state }));
    h.advance(60_000);
    const r = await deliveryRate.run(parse({}), h.ctx({ state }));
    const poll = (r.details as { poll: { listedRows: number; countIgnored?: boolean; listCalls: number } }).poll;
    expect(poll.countIgnored).toBe(true);
    // The whole list is 40 000 rows; we read at most what we asked for (pages grow x4 from 64 only while needed).
    expect(poll.listedRows).toBeLessThanOrEqual(64 * 4 ** (poll.listCalls - 1));
    expect(poll.listedRows).toBeLessThan(1000);
  });

  it('rows dated in the future are rejected with a reason and do not keep the ratio down once the server is healthy', async () => {
    h = await startHarness();
    // 40 failed rows "from the next hour": a server with a broken clock, or a hostile one.
    h.fake.seedDeliveries(h.webhookId, 40, { startMs: h.clock.ms + 3600_000, stepMs: 1000, failEvery: 1 });
    for (let i = 0; i < 6; i++) h.fake.createInvoice({ amount: 0 });
    await h.fake.idle();
    const state = new Map<string, unknown>();
    await deliveryRate.run(parse({}), h.ctx({ state }));
    h.advance(60_000);
    for (let i = 0; i < 6; i++) h.fake.createInvoice({ amount: 0 });
    await h.fake.idle();
    const r = await deliveryRate.run(parse({}), h.ctx({ state }));
    expect(r.ok).toBe(true);
    expect(r.details).toMatchObject({ attemptRatio: 1, poll: { futureRowsRejected: 40 } });
    expect((r.details as { poll: { futureMaxAheadSeconds: number } }).poll.futureMaxAheadSeconds).toBeGreaterThan(3000);
  });

  it('a store with more webhooks than maxWebhooks fails clearly and exports no per-webhook series', async () => {
    h = await startHarness();
    for (let i = 0; i < 150; i++) h.fake.createWebhook({ url: `https://hooks.example.com/${i}`, enabled: i % 2 === 0 });
    const ctx = h.ctx();
    const r = await deliveryRate.run(parse({}), ctx);
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/has 151 webhooks, more than the 100 this probe watches/);
    expect(r.cause).toMatch(/webhookId|maxWebhooks/);
    expect((await ctx.registry.exposition()).match(/hookwatch_webhook_misconfigured\{/g) ?? []).toHaveLength(0);
    expect(JSON.stringify(r).length).toBeLessThan(2000);
  });

  it('reason and details stay small with many flagged webhooks', async () => {
    h = await startHarness();
    for (let i = 0; i < 80; i++) h.fake.createWebhook({ url: `https://hooks.example.com/${i}`, enabled: false });
    const r = await deliveryRate.run(parse({ checks: ['disabled'] }), h.ctx());
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/and 70 more/);
    expect((r.details as { webhooks: unknown[]; webhooksNotShown: number }).webhooks).toHaveLength(50);
    expect((r.details as { webhooksNotShown: number }).webhooksNotShown).toBe(31);
  });

  it('the tracker keeps at most maxTrackedRows and never counts a dropped row again', async () => {
    h = await startHarness();
    h.fake.seedDeliveries(h.webhookId, 500, { startMs: h.clock.ms - 10 * 60_000, stepMs: 1000 });
    const client = new BtcpayClient({ url: h.source.url, apiKey: h.source.apiKey, storeId: h.source.storeId });
    const t = new DeliveryTracker();
    const nowSec = Math.floor(h.clock.ms / 1000);
    const first = await t.poll(client, [h.webhookId], { nowSec, windowSec: 900, maxTrackedRows: 100, bodies: false });
    expect(first.fresh.length).toBe(500);
    expect(first.rowsDropped).toBe(400);
    expect(t.rows.size).toBe(100);
    const again = await t.poll(client, [h.webhookId], { nowSec: nowSec + 60, windowSec: 900, maxTrackedRows: 100, bodies: false });
    expect(again.fresh).toHaveLength(0);
  });

  it('the array cutter counts elements, not brackets inside strings, across chunk boundaries', () => {
    const rows = [{ a: 'x]}{["' }, { b: 'back\\slash\\"' }, { c: [1, { d: 2 }] }, { e: 'ünïcode ]' }];
    const text = Buffer.from(JSON.stringify(rows));
    for (const size of [1, 3, 7, text.length]) {
      const cut = new JsonArrayCutter(3);
      let done = false;
      for (let i = 0; i < text.length && !done; i += size) done = cut.feed(text.subarray(i, i + size));
      expect(done).toBe(true);
      expect(JSON.parse(text.subarray(0, cut.cutAt).toString('utf8') + ']')).toEqual(rows.slice(0, 3));
    }
  });
});
