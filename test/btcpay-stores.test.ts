// Every store a key can see: discovery (stores and webhooks added and removed without a reload), the `store` label,
// the per-source request budget, maxStores, quiet stores polled less often within the staleness bound, and a
// single storeId left exactly as it was.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Secret } from '../src/secret.ts';
import { deliveryRate } from '../probes/delivery-rate/index.ts';
import { paidLatency } from '../probes/paid-latency/index.ts';
import { MetricRegistry } from '../src/metrics/registry.ts';
import { RequestBudget, setBudgetClock } from '../src/btcpay/budget.ts';
import { forgetDiscoveredStores, perStore, storeDue } from '../src/btcpay/stores.ts';
import { defineMetrics } from '../src/metrics/run-metrics.ts';
import { defineProbe } from '../src/probe/types.ts';
import { z } from 'zod';
import { DeliveryTracker } from '../src/btcpay/tracker.ts';
import { clientFromSource } from '../src/btcpay/source.ts';
import { startFakeBtcpayStores, type FakeBtcpayStores } from '../src/sim/btcpay/stores.ts';
import { loadConfigText, ConfigError } from '../src/config/load.ts';
import { PROBE_KINDS } from '../probes/registry.ts';
import type { SourceConfig } from '../src/probe/types.ts';
import { makeTestContext, type TestContext } from './helpers/context.ts';
import { probeEntry, startHarness, T0 } from './helpers/btcpay-harness.ts';
import { runCli } from './helpers/agent-process.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Src = Extract<SourceConfig, { type: 'btcpay' }>;

let fake: FakeBtcpayStores | undefined;
const clock = { ms: T0 };
beforeEach(() => {
  clock.ms = T0;
  setBudgetClock(() => clock.ms);
  forgetDiscoveredStores();
});
afterEach(async () => {
  await fake?.close();
  fake = undefined;
  setBudgetClock(Date.now);
});

async function start(n: number, o: { rowsPerStore?: number; rowAgeMs?: number } = {}) {
  fake = await startFakeBtcpayStores({ now: () => clock.ms, timeScale: 0.0005, deliveryTimeoutMs: 1000 });
  const key = fake.addApiKey(['btcpay.store.canmodifystoresettings'], 'hookwatch');
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(addStore(o.rowsPerStore ?? 3, o.rowAgeMs ?? 5 * 60_000));
  return { key, ids };
}

function addStore(rows: number, ageMs: number): string {
  const s = fake!.addStore();
  const w = s.createWebhook({ url: 'http://127.0.0.1:9/hook' });
  if (rows) s.seedDeliveries(w.id, rows, { startMs: clock.ms - ageMs, stepMs: 1000 });
  return s.storeId;
}

function source(key: string, extra: Partial<Src> = {}): Src {
  const apiKey = new Secret(key, 'env:BTCPAY_API_KEY');
  return { name: 'btcpay', type: 'btcpay', url: fake!.url, apiKey, storeId: '', stores: 'all', timeoutMs: 2000, ...extra };
}

function ctxFor(src: Src, state: Map<string, unknown>, registry: MetricRegistry): TestContext {
  const ctx = makeTestContext({ probe: 'btcpay', sources: { btcpay: src }, registry, state, now: clock.ms, config: { secrets: [src.apiKey] } });
  ctx.now = () => clock.ms;
  return ctx;
}

const drProbe = (own: Record<string, unknown> = {}) => probeEntry('delivery_rate', deliveryRate.schema.parse({ source: 'btcpay', window: '15m', ...own }));

/** store label values present on a metric in the exposition. */
async function storesIn(registry: MetricRegistry, metric: string): Promise<Set<string>> {
  const text = await registry.registry.metrics();
  const out = new Set<string>();
  for (const m of text.matchAll(new RegExp(`^hookwatch_${metric}\\{[^}]*store="([^"]+)"`, 'gm'))) out.add(m[1]!);
  return out;
}

describe('every store a key can see', () => {
  it('watches every store, labels series by store id only, and follows stores and webhooks added and removed without a reload', async () => {
    const { key, ids } = await start(2);
    const src = source(key, { discoveryIntervalMs: 60_000 });
    const registry = new MetricRegistry({ processMetrics: false });
    const state = new Map<string, unknown>();
    const probe = drProbe();

    const r1 = await deliveryRate.run(probe, ctxFor(src, state, registry));
    expect(r1.ok, r1.reason).toBe(true);
    expect(r1.details).toMatchObject({ stores: 2, polled: 2 });
    expect(await ctxFor(src, state, registry).metricValue('btcpay_stores_watched')).toBe(2);
    expect(await ctxFor(src, state, registry).metricValue('btcpay_oldest_store_view_age_seconds')).toBe(0);
    expect(await storesIn(registry, 'webhook_delivery_success_ratio')).toEqual(new Set(ids));
    expect(await ctxFor(src, state, registry).metricValue('webhook_delivery_window_count', { store: ids[0]!, basis: 'attempt' })).toBe(3);
    const text = await registry.registry.metrics();
    expect(text).not.toMatch(/Store 1|Store 2/); // names are never read into series
    expect(text).not.toContain(key);

    // A new store and a new webhook on an existing store: seen on the run after the discovery interval.
    const added = addStore(2, 60_000);
    const extraHook = fake!.store(ids[1]!).createWebhook({ url: 'http://127.0.0.1:9/second' });
    clock.ms += 61_000;
    const r2 = await deliveryRate.run(probe, ctxFor(src, state, registry));
    expect(r2.details).toMatchObject({ stores: 3 });
    expect(await ctxFor(src, state, registry).metricValue('btcpay_stores_watched')).toBe(3);
    expect(await storesIn(registry, 'webhook_delivery_success_ratio')).toEqual(new Set([...ids, added]));
    const mis = await registry.registry.metrics();
    expect(mis).toMatch(new RegExp(`webhook_misconfigured\\{[^}]*webhook="${extraHook.id}"[^}]*store="${ids[1]}"`));

    // A removed store loses every series; a removed webhook loses its own.
    await fake!.removeStore(ids[0]!);
    fake!.store(ids[1]!).deleteWebhook(extraHook.id);
    clock.ms += 61_000;
    const r3 = await deliveryRate.run(probe, ctxFor(src, state, registry));
    expect(r3.details).toMatchObject({ stores: 2, removed: [ids[0]] });
    const after = await registry.registry.metrics();
    expect(after).not.toContain(`store="${ids[0]}"`);
    expect(after).not.toContain(extraHook.id);
    expect(await storesIn(registry, 'webhook_delivery_success_ratio')).toEqual(new Set([ids[1]!, added]));

    // Archived stores are not watched.
    fake!.archiveStore(added);
    clock.ms += 61_000;
    const r4 = await deliveryRate.run(probe, ctxFor(src, state, registry));
    expect(r4.details).toMatchObject({ stores: 1 });
    expect(await storesIn(registry, 'webhook_delivery_success_ratio')).toEqual(new Set([ids[1]!]));
  });

  it('a list of store ids watches exactly those; paid_latency runs per store too', async () => {
    const { key, ids } = await start(3);
    const src = source(key, { stores: [ids[0]!, ids[2]!] });
    const registry = new MetricRegistry({ processMetrics: false });
    const r = await paidLatency.run(probeEntry('paid_latency', paidLatency.schema.parse({ source: 'btcpay' })), ctxFor(src, new Map(), registry));
    expect(r.ok, r.reason).toBe(true);
    expect(r.details).toMatchObject({ stores: 2 });
    expect(await storesIn(registry, 'undelivered_paid_events')).toEqual(new Set([ids[0]!, ids[2]!]));
    // The latency histogram exists per store from the first run, every series with its store.
    expect(await storesIn(registry, 'paid_to_delivered_seconds_count')).toEqual(new Set([ids[0]!, ids[2]!]));
    expect(await registry.registry.metrics()).not.toMatch(/hookwatch_paid_to_delivered_seconds_count\{probe="btcpay",method="[a-z]+"\}/);
    expect(fake!.storeListRequests).toBe(0);
  });

  it('the simulated instance answers like BTCPay 2.4.1: store list by permission and role, unknown store ids 403', async () => {
    const { ids } = await start(3, { rowsPerStore: 0 });
    const get = async (key: string, path: string) => {
      const r = await fetch(fake!.url + path, { headers: { authorization: `token ${key}` } });
      return { status: r.status, body: (await r.json()) as unknown };
    };
    const scoped = fake!.addApiKey([`btcpay.store.canviewstoresettings:${ids[1]}`]);
    expect((await get(scoped, '/api/v1/stores')).body).toEqual([expect.objectContaining({ id: ids[1], archived: false })]);
    const employee = fake!.addApiKey(['btcpay.store.canmodifystoresettings'], 'employee', 'Employee');
    expect((await get(employee, '/api/v1/stores')).body).toEqual([]);
    const owner = fake!.addApiKey(['btcpay.store.canmodifystoresettings']);
    expect((await get(owner, '/api/v1/stores')).body).toHaveLength(3);
    const unknown = await get(owner, '/api/v1/stores/NoSuchStore1111111111/webhooks');
    expect(unknown.status).toBe(403);
    expect(unknown.body).toMatchObject({ code: 'missing-permission' });
    expect((await fetch(fake!.url + '/api/v1/stores')).status).toBe(401);
  });

  it('maxStores: more stores than allowed fails with a clear reason and exports no store series', async () => {
    const { key } = await start(5);
    const registry = new MetricRegistry({ processMetrics: false });
    const r = await deliveryRate.run(drProbe(), ctxFor(source(key, { maxStores: 3 }), new Map(), registry));
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/sees more than maxStores 3 stores: not watching any/);
    expect(r.cause).toMatch(/Raise maxStores/);
    expect(await storesIn(registry, 'webhook_delivery_success_ratio')).toEqual(new Set());
    expect(await ctxFor(source(key), new Map(), registry).metricValue('btcpay_stores_watched')).toBeUndefined();
  });

  it('a key that cannot list stores, or sees none, says what permission is needed', async () => {
    await start(2);
    const scoped = fake!.addApiKey(['btcpay.store.webhooks.canmodifywebhooks'], 'webhooks only');
    const r = await deliveryRate.run(drProbe(), ctxFor(source(scoped), new Map(), new MetricRegistry({ processMetrics: false })));
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/sees no store/);
    expect(r.reason).toMatch(/canviewstoresettings/);
  });

  it('the request budget: never more than N requests in any minute, all stores get their turn, and the reason names the budget', async () => {
    const { key, ids } = await start(12, { rowsPerStore: 2 });
    const perMinute = 20;
    const src = source(key, { requestBudget: perMinute, storeConcurrency: 3 });
    const registry = new MetricRegistry({ processMetrics: false });
    const state = new Map<string, unknown>();
    const perRun: Array<{ atMs: number; requests: number }> = [];
    let sawBudget = false;
    let maxViewAge = 0;
    for (let i = 0; i < 24; i++) {
      const before = fake!.apiRequests;
      const r = await deliveryRate.run(drProbe({ perEvent: false }), ctxFor(src, state, registry));
      perRun.push({ atMs: clock.ms, requests: fake!.apiRequests - before });
      maxViewAge = Math.max(maxViewAge, (await ctxFor(src, state, registry).metricValue('btcpay_oldest_store_view_age_seconds')) ?? 0);
      if (!r.ok) {
        expect(r.reason).toMatch(/request budget of source "btcpay" spent \(20 requests per minute\): \d+ of \d+ due stores not polled this run/);
        expect(r.cause).toMatch(/requestBudget/);
        sawBudget = true;
      }
      clock.ms += 15_000;
    }
    expect(sawBudget).toBe(true);
    // While the budget held stores back, the oldest view was visibly older than one run.
    expect(maxViewAge).toBeGreaterThan(15);
    // Sliding 60 s windows over the runs: the server never saw more than the budget.
    for (const a of perRun) {
      const inWindow = perRun.filter((b) => b.atMs >= a.atMs && b.atMs < a.atMs + 60_000).reduce((n, b) => n + b.requests, 0);
      expect(inWindow).toBeLessThanOrEqual(perMinute);
    }
    // Least recently polled first: every store was reached despite the budget.
    expect(await storesIn(registry, 'webhook_delivery_success_ratio')).toEqual(new Set(ids));
  });

  it('the budget is shared: delivery_rate and paid_latency on one source stay under N together', async () => {
    const { key } = await start(8, { rowsPerStore: 2 });
    const perMinute = 25;
    const src = source(key, { requestBudget: perMinute });
    const registry = new MetricRegistry({ processMetrics: false });
    const dr = new Map<string, unknown>();
    const pl = new Map<string, unknown>();
    const plProbe = probeEntry('paid_latency', paidLatency.schema.parse({ source: 'btcpay' }));
    const perRun: Array<{ atMs: number; requests: number }> = [];
    const reasons: string[] = [];
    for (let i = 0; i < 12; i++) {
      const before = fake!.apiRequests;
      const a = await deliveryRate.run(drProbe({ perEvent: false }), ctxFor(src, dr, registry));
      const b = await paidLatency.run(plProbe, ctxFor(src, pl, registry));
      perRun.push({ atMs: clock.ms, requests: fake!.apiRequests - before });
      for (const r of [a, b]) if (!r.ok) reasons.push(r.reason ?? '');
      clock.ms += 20_000;
    }
    for (const a of perRun) {
      const inWindow = perRun.filter((b) => b.atMs >= a.atMs && b.atMs < a.atMs + 60_000).reduce((n, b) => n + b.requests, 0);
      expect(inWindow).toBeLessThanOrEqual(perMinute);
    }
    expect(reasons.some((r) => /request budget of source "btcpay" spent \(25 requests per minute\)/.test(r))).toBe(true);
  });

  it('a run cut short by its timeout says so, not that the budget is spent, and the rest go first next run', async () => {
    const { key, ids } = await start(6, { rowsPerStore: 1 });
    const src = source(key, { storeConcurrency: 1 });
    const registry = new MetricRegistry({ processMetrics: false });
    const state = new Map<string, unknown>();
    const ac = new AbortController();
    let nowCalls = 0;
    // The run's clock aborts it on its third reading: the first store or two have started, the rest have not.
    const ctx = { ...ctxFor(src, state, registry), signal: ac.signal, now: () => (++nowCalls === 3 && ac.abort(), clock.ms) };
    const r = await deliveryRate.run(drProbe(), ctx);
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/the run ended \(timeout or shutdown\) before \d+ of 6 due stores were polled/);
    expect(r.reason).not.toMatch(/budget/);
    expect(r.details).toMatchObject({ notPolledBeforeTimeout: expect.any(Number) });
    clock.ms += 60_000;
    const r2 = await deliveryRate.run(drProbe(), ctxFor(src, state, registry));
    expect(r2.ok, r2.reason).toBe(true);
    expect(r2.details).toMatchObject({ stores: 6 });
    expect(await storesIn(registry, 'webhook_delivery_success_ratio')).toEqual(new Set(ids));
  });

  it('RequestBudget on a fake clock: at most N grants in any 60 s, refusals take nothing', () => {
    let now = 0;
    const b = new RequestBudget(7, () => now);
    const granted: number[] = [];
    // A deterministic but irregular arrival pattern over ten minutes.
    for (let i = 0; i < 2000; i++) {
      now += (i * 7919) % 1000;
      if (b.tryTake()) granted.push(now);
    }
    for (let i = 0; i < granted.length; i++) {
      const n = granted.filter((t) => t >= granted[i]! && t < granted[i]! + 60_000).length;
      expect(n).toBeLessThanOrEqual(7);
    }
    expect(granted.length).toBeGreaterThan(7 * 5); // it keeps granting as the window moves
    expect(b.refused).toBe(2000 - granted.length);
  });

  it('quiet stores are polled less often than busy ones, but never less than once per maxStaleness', async () => {
    // Store 0 is busy (a new delivery every minute); stores 1 and 2 last delivered an hour ago.
    const { key, ids } = await start(3, { rowsPerStore: 2, rowAgeMs: 3600_000 });
    const busy = fake!.store(ids[0]!);
    const busyHook = [...busy.webhooks.keys()][0]!;
    const src = source(key, { maxStalenessMs: 5 * 60_000, quietAfterMs: 15 * 60_000 });
    const registry = new MetricRegistry({ processMetrics: false });
    const state = new Map<string, unknown>();
    const polls = new Map<string, number[]>(ids.map((id) => [id, []]));
    for (let minute = 0; minute < 16; minute++) {
      busy.seedDeliveries(busyHook, 1, { startMs: clock.ms - 1000, stepMs: 1000 });
      const before = new Map(ids.map((id) => [id, fake!.store(id).apiRequests]));
      const r = await deliveryRate.run(drProbe(), ctxFor(src, state, registry));
      expect(r.ok, r.reason).toBe(true);
      for (const id of ids) if (fake!.store(id).apiRequests > before.get(id)!) polls.get(id)!.push(minute);
      // A store not polled this run keeps the series of its last poll.
      expect(await storesIn(registry, 'webhook_delivery_window_count')).toEqual(new Set(ids));
      clock.ms += 60_000;
    }
    expect(polls.get(ids[0]!)).toHaveLength(16);
    for (const quiet of [ids[1]!, ids[2]!]) {
      const at = polls.get(quiet)!;
      // Once per 2.5 to 5 minutes (a stable spread per store id, storeDue), against every minute for the busy store.
      expect(at.length).toBeGreaterThanOrEqual(4);
      expect(at.length).toBeLessThanOrEqual(7);
      // The staleness bound: never more than 5 minutes between two polls of a quiet store.
      for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeLessThanOrEqual(5);
      expect(15 - at.at(-1)!).toBeLessThan(5);
    }
  });

  it('per-run snapshots: a store not due this run keeps its last gauges, a removed store loses gauges and counters', async () => {
    const runs = new Map<string, number>();
    const kind = perStore(
      defineProbe({
        type: 'store_echo',
        schema: z.strictObject({ source: z.string() }),
        sources: { source: ['btcpay'] },
        metrics: defineMetrics({
          echo_store_runs: { type: 'gauge', help: 'Runs of the store so far.', labels: [] },
          echo_store_polls_total: { type: 'counter', help: 'Polls of the store.', labels: [] },
        }),
        async run(_p, ctx) {
          const id = ctx.sources.source.storeId;
          runs.set(id, (runs.get(id) ?? 0) + 1);
          ctx.metrics.gauge('echo_store_runs', {}, runs.get(id)!);
          ctx.metrics.inc('echo_store_polls_total', {});
          return { ok: true };
        },
      }),
    );
    const registry = new MetricRegistry({ processMetrics: false });
    const state = new Map<string, unknown>();
    const listed = (stores: string[]): Src => ({
      name: 'btcpay',
      type: 'btcpay',
      url: 'http://127.0.0.1:9',
      apiKey: Secret.literal('k', 'env:K'),
      storeId: '',
      stores,
    });
    const probe = probeEntry('store_echo', { source: 'btcpay' });
    const ctx = ctxFor(listed(['A', 'B']), state, registry);
    const first = await kind.run(probe, ctx);
    expect(first.ok, first.reason).toBe(true);
    expect(first.details).toMatchObject({ stores: 2, polled: 2 });
    clock.ms += 60_000; // quiet: neither store is due
    expect((await kind.run(probe, ctxFor(listed(['A', 'B']), state, registry))).details).toMatchObject({ polled: 0, quietNotDue: 2 });
    expect(await storesIn(registry, 'echo_store_runs')).toEqual(new Set(['A', 'B']));
    expect(await ctx.metricValue('echo_store_runs', { store: 'A' })).toBe(1);
    expect(await ctx.metricValue('btcpay_stores_watched')).toBe(2);

    clock.ms += 60_000;
    await kind.run(probe, ctxFor(listed(['B']), state, registry));
    expect(await storesIn(registry, 'echo_store_runs')).toEqual(new Set(['B']));
    expect(await storesIn(registry, 'echo_store_polls_total')).toEqual(new Set(['B']));
    expect(await ctx.metricValue('btcpay_stores_watched')).toBe(1);
  });

  it('quiet webhooks of a busy store are listed once per maxStaleness, and a row written meanwhile is still counted once', async () => {
    const h = await startHarness({ webhook: false });
    try {
      const busy = h.fake.createWebhook({ url: 'http://127.0.0.1:9/busy' }).id;
      const quiet = h.fake.createWebhook({ url: 'http://127.0.0.1:9/quiet' }).id;
      h.fake.seedDeliveries(quiet, 2, { startMs: h.clock.ms - 3600_000, stepMs: 1000 });
      const client = clientFromSource(h.source);
      const listed: string[] = [];
      const list = client.listDeliveries.bind(client);
      client.listDeliveries = (wid, n, o) => (listed.push(wid), list(wid, n, o));
      const t = new DeliveryTracker();
      t.quiet = { quietAfterSec: 900, maxStaleSec: 300 };
      const freshQuiet: string[] = [];
      const quietListedAt: number[] = [];
      for (let minute = 0; minute < 12; minute++) {
        h.fake.seedDeliveries(busy, 1, { startMs: h.clock.ms - 1000, stepMs: 1000 });
        if (minute === 2) h.fake.seedDeliveries(quiet, 1, { startMs: h.clock.ms - 1000, stepMs: 1000 }); // while skipped
        const before = listed.length;
        const r = await t.poll(client, [busy, quiet], { nowSec: Math.floor(h.clock.ms / 1000), windowSec: 900, bodies: false });
        if (listed.slice(before).includes(quiet)) quietListedAt.push(minute);
        freshQuiet.push(...r.fresh.filter((d) => d.webhookId === quiet && !r.baseline).map((d) => d.id));
        h.advance(60_000);
      }
      expect(listed.filter((w) => w === busy)).toHaveLength(12);
      // Listed at the start, then once per 5 minutes (the row at minute 2 makes it busy again only once it is seen).
      expect(quietListedAt[0]).toBe(0);
      expect(quietListedAt.length).toBeLessThan(12);
      for (let i = 1; i < quietListedAt.length; i++) expect(quietListedAt[i]! - quietListedAt[i - 1]!).toBeLessThanOrEqual(5);
      expect(freshQuiet).toHaveLength(1);
      expect(new Set(freshQuiet).size).toBe(1);
    } finally {
      await h.close();
    }
  });

  it('a quiet store whose last run saw a paid event still undelivered stays due every run', () => {
    const s = { maxStalenessMs: 600_000, quietAfterMs: 900_000 };
    const now = T0 + 60_000;
    const quiet = { state: new Map<string, unknown>(), lastRunMs: T0, last: { ok: true, details: { undelivered: [] } } };
    expect(storeDue(quiet, now, s, 'StoreA')).toBe(false);
    expect(storeDue({ ...quiet, last: { ok: true, details: { undelivered: [{ invoiceId: 'x' }] } } }, now, s, 'StoreA')).toBe(true);
    expect(storeDue({ ...quiet, last: { ok: false } }, now, s, 'StoreA')).toBe(true);
    expect(storeDue(undefined, now, s, 'StoreA')).toBe(true);
    expect(storeDue(quiet, T0 + 600_000, s, 'StoreA')).toBe(true); // the staleness bound
  });

  it("switching a source between one store and all of them (a reload that keeps the probe) drops the other mode's series", async () => {
    const { key, ids } = await start(2);
    const registry = new MetricRegistry({ processMetrics: false });
    const state = new Map<string, unknown>();
    const one = source(key, { stores: undefined, storeId: ids[0]! });
    const ctx1 = ctxFor(one, state, registry);
    ctx1.metrics.set('probe_success', { type: 'delivery_rate' }, 1); // a core series, as the scheduler sets it
    expect((await deliveryRate.run(drProbe(), ctx1)).ok).toBe(true);
    expect(await registry.registry.metrics()).toMatch(/hookwatch_webhook_delivery_window_count\{probe="btcpay",basis="attempt"\} 3/);

    const all = await deliveryRate.run(drProbe(), ctxFor(source(key), state, registry));
    expect(all.ok, all.reason).toBe(true);
    let text = await registry.registry.metrics();
    expect(text).not.toMatch(/hookwatch_webhook_delivery_window_count\{probe="btcpay",basis="attempt"\}/);
    expect(await storesIn(registry, 'webhook_delivery_window_count')).toEqual(new Set(ids));
    expect(text).toMatch(/hookwatch_probe_success\{probe="btcpay",type="delivery_rate"\} 1/);

    expect((await deliveryRate.run(drProbe(), ctxFor(one, state, registry))).ok).toBe(true);
    text = await registry.registry.metrics();
    expect(text).not.toContain('store=');
    expect(text).toMatch(/hookwatch_webhook_delivery_window_count\{probe="btcpay",basis="attempt"\} 3/);
  });

  it('a single storeId keeps its series without a store label and never lists stores', async () => {
    const h = await startHarness();
    try {
      const r = await deliveryRate.run(drProbe(), h.ctx());
      expect(r.ok, r.reason).toBe(true);
      const text = await h.registry.registry.metrics();
      expect(text).toMatch(/hookwatch_webhook_delivery_window_count\{probe="btcpay",basis="attempt"\} 0/);
      expect(text).not.toContain('store=');
      expect(h.fake.requestsBySegment.get('stores') ?? 0).toBe(0);
    } finally {
      await h.close();
    }
  });

  it('config: storeId all or a list is accepted; probes that handle one store refuse such a source with file and key path', () => {
    const yaml = (probe: string) => `
sources:
  btcpay:
    type: btcpay
    url: https://btcpay.example.com
    apiKey: { env: KEY }
    storeId: all
    requestBudget: 120
    maxStaleness: 5m
probes:
${probe}`;
    const env = { KEY: 'k' };
    const c = loadConfigText(yaml('  - { name: d, type: delivery_rate, source: btcpay }'), { kinds: PROBE_KINDS, file: '/x/probes.yaml', env });
    expect(c.sources.btcpay).toMatchObject({ stores: 'all', storeId: '', requestBudget: 120, maxStalenessMs: 300_000 });
    let err: unknown;
    try {
      loadConfigText(yaml('  - { name: r, type: reconcile, source: btcpay, records: btcpay }'), { kinds: PROBE_KINDS, file: '/x/probes.yaml', env });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/watches several stores \(storeId: all\); reconcile needs a source with one storeId/);
  });

  it('redeliver on a multi-store source needs --store and acts on that store only', async () => {
    const { key, ids } = await start(2, { rowsPerStore: 0 });
    const dir = mkdtempSync(join(tmpdir(), 'hw-stores-'));
    try {
      const cfg = join(dir, 'hookwatch.yaml');
      const yaml = [
        'sources:',
        '  shop:',
        '    type: btcpay',
        `    url: ${fake!.url}`,
        '    apiKey: { env: HW_STORES_KEY }',
        `    storeId: [${ids[0]}]`,
        'probes:',
        '  - { name: d, type: delivery_rate, source: shop }',
        '',
      ];
      writeFileSync(cfg, yaml.join('\n'));
      const env = { HW_STORES_KEY: key };
      const cli = (...args: string[]) => runCli(['redeliver', '--config.file', cfg, '--probe', 'd', '--format', 'json', ...args], { env, timeoutMs: 60_000 });
      const none = await cli();
      expect(none.code).toBe(2);
      expect(none.stderr + none.stdout).toMatch(/watches several stores: pass --store ID/);
      const other = await cli('--store', ids[1]!);
      expect(other.code).toBe(2);
      expect(other.stderr + other.stdout).toMatch(/is not one of the stores of source "shop"/);
      const before = fake!.store(ids[0]!).apiRequests;
      const ok = await cli('--store', ids[0]!);
      expect(ok.code, ok.stderr).toBe(0);
      expect(fake!.store(ids[0]!).apiRequests).toBeGreaterThan(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
