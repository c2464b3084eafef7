// Probes reading one store share its delivery log (src/btcpay/shared-log.ts) and its paid invoice list
// (src/btcpay/shared-read.ts): BTCPay is listed and each request body read once per round however many probes watch
// the store, and every probe still counts every delivery exactly once.
import { afterEach, describe, expect, it } from 'vitest';
import { deliveryRate } from '../probes/delivery-rate/index.ts';
import { paidLatency } from '../probes/paid-latency/index.ts';
import { probeEntry, startHarness, type Harness } from './helpers/btcpay-harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const rate = (name: string) => ({ ...probeEntry('delivery_rate', deliveryRate.schema.parse({ source: 'btcpay', window: '15m' })), name });
const latency = (name: string) => ({ ...probeEntry('paid_latency', paidLatency.schema.parse({ source: 'btcpay', window: '15m' })), name });
const calls = (h: Harness, seg: string) => h.fake.requestsBySegment.get(seg) ?? 0;

async function settle(h: Harness, n: number) {
  for (let i = 0; i < n; i++) {
    h.fake.createInvoice({ amount: 0 });
    h.advance(1000);
  }
  await h.fake.idle();
}

describe('shared delivery log', () => {
  it('seven probes on one store: one list and one body read per row per round, and each probe counts every delivery once', async () => {
    h = await startHarness();
    const H = h;
    const probes = [
      ...['a', 'b', 'c', 'd', 'e'].map((n) => ({ kind: deliveryRate, probe: rate(`rate-${n}`) })),
      { kind: paidLatency, probe: latency('latency') },
      { kind: paidLatency, probe: latency('latency-2') },
    ];
    const states = probes.map(() => new Map<string, unknown>());
    // One after the other, as a scheduler spreads them (a poll under way is joined instead: see the abort test below).
    const round = async () => {
      const out = [];
      for (const [i, p] of probes.entries()) out.push(await p.kind.run(p.probe, H.ctx({ state: states[i], probe: p.probe.name })));
      return out;
    };
    await settle(h, 2);
    await round();

    await settle(h, 3); // 3 invoices, 9 delivery rows
    h.advance(30_000);
    const lists0 = calls(h, 'deliveries');
    const bodies0 = calls(h, 'request');
    const invoices0 = calls(h, 'invoices');
    const results = await round();
    expect(results.every((r) => r.ok)).toBe(true);
    // One poll went to BTCPay; the other five readers shared it and say so.
    const polls = results.map((r) => (r.details as { poll: { listCalls: number; shared?: boolean; newRows: number } }).poll);
    expect(polls.filter((p) => !p.shared)).toHaveLength(1); // of seven
    expect(polls.filter((p) => p.shared).every((p) => p.listCalls === 0)).toBe(true);
    expect(calls(h, 'deliveries') - lists0).toBe(polls.reduce((a, p) => a + p.listCalls, 0));
    expect(calls(h, 'deliveries') - lists0).toBeLessThanOrEqual(2);
    expect(calls(h, 'request') - bodies0).toBe(9);
    expect(polls.every((p) => p.newRows === 9)).toBe(true);
    for (const p of probes.slice(0, 5)) {
      expect(await H.ctx({ probe: p.probe.name }).metricValue('webhook_deliveries_total', { outcome: 'success' })).toBe(9);
    }
    expect(results[5]!.details).toMatchObject({ paidEvents: 5, delivered: 5 });
    expect(results[6]!.details).toMatchObject({ paidEvents: 5, delivered: 5 });
    // Both paid_latency probes judged the same paid invoices from one list (one page).
    expect(calls(h, 'invoices') - invoices0).toBe(1);
  });

  it('a reader never takes a shared result older than its own last poll: back-to-back polls of one probe see new rows', async () => {
    h = await startHarness();
    const probe = rate('rate');
    const other = rate('other');
    const state = new Map<string, unknown>();
    await deliveryRate.run(probe, h.ctx({ state, probe: 'rate' }));
    await deliveryRate.run(other, h.ctx({ probe: 'other' }));
    await settle(h, 1); // 3 rows
    // "other" shared the first poll; that poll is not newer than this reader's own last one, so it polls anew.
    const r = await deliveryRate.run(probe, h.ctx({ state, probe: 'rate' }));
    expect(r.details).toMatchObject({ poll: { newRows: 3 } });
    expect((r.details as { poll: { shared?: boolean } }).poll.shared).toBeUndefined();
    expect(await h.ctx({ probe: 'rate' }).metricValue('webhook_deliveries_total', { outcome: 'success' })).toBe(3);
  });

  it('a probe that gives up (its timeout) does not abort the poll another probe is waiting for', async () => {
    h = await startHarness();
    const a = rate('a');
    const b = rate('b');
    const sa = new Map<string, unknown>();
    const sb = new Map<string, unknown>();
    await Promise.all([deliveryRate.run(a, h.ctx({ state: sa, probe: 'a' })), deliveryRate.run(b, h.ctx({ state: sb, probe: 'b' }))]);
    await settle(h, 2); // 6 rows
    h.advance(30_000);
    h.fake.fault('/request', { kind: 'slow', delayMs: 600 });
    const ac = new AbortController();
    const ctxA = Object.assign(h.ctx({ state: sa, probe: 'a' }), { signal: ac.signal });
    const timer = setTimeout(() => ac.abort(), 150);
    const [ra, rb] = await Promise.all([deliveryRate.run(a, ctxA), deliveryRate.run(b, h.ctx({ state: sb, probe: 'b' }))]);
    clearTimeout(timer);
    expect(ra.ok).toBe(false);
    expect(ra.reason).toMatch(/aborted|timeout/);
    expect(rb.ok).toBe(true);
    expect(rb.details).toMatchObject({ poll: { newRows: 6 } });
    // The reader that gave up gets the rows on its next poll: nothing lost, nothing read twice.
    h.fake.clearFaults();
    const bodies = calls(h, 'request');
    const again = await deliveryRate.run(a, h.ctx({ state: sa, probe: 'a' }));
    expect(again.details).toMatchObject({ poll: { newRows: 6 } });
    expect(calls(h, 'request')).toBe(bodies);
    expect(await h.ctx({ probe: 'a' }).metricValue('webhook_deliveries_total', { outcome: 'success' })).toBe(6);
  }, 20_000);
});
