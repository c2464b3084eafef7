// Cost of watching every store of a BTCPay instance (source `storeId: all`): 1, 100 and 1000 stores holding
// 100 000 stored deliveries in total (history ending 3 h ago), 100 new deliveries a minute landing on at most 10
// busy stores. delivery_rate runs every 60 s on a simulated clock (the request budget counts simulated minutes).
// Figures: API calls and response bytes per minute in steady state, and in the first minutes after a restart
// (fresh probe state: every store is read again, under the default budget of 600 requests per minute), plus the
// minutes until every store has been seen. For contrast, the same steady state polling every store every run.
// Loopback only, bounded: 20 + 12 simulated minutes per size (+ 5 for the contrast).
import { Writable } from 'node:stream';
import { deliveryRate } from '../probes/delivery-rate/index.ts';
import { setBudgetClock } from '../src/btcpay/budget.ts';
import { forgetDiscoveredStores } from '../src/btcpay/stores.ts';
import { Secret } from '../src/secret.ts';
import { createLogger } from '../src/log.ts';
import { MetricRegistry } from '../src/metrics/registry.ts';
import { RunMetrics } from '../src/metrics/run-metrics.ts';
import type { ProbeContext, ProbeResult, SourceConfig } from '../src/probe/types.ts';
import { startFakeBtcpayStores, type FakeBtcpayStores } from '../src/sim/btcpay/stores.ts';
import { forgetDeliveryLogs } from '../src/btcpay/shared-log.ts';

const TOTAL_HISTORY = 100_000;
const NEW_PER_MIN = 100;
const MAX_BUSY = 10;
const STEADY_MIN = 20;
const RESTART_MIN = 12;
const CONTRAST_MIN = 5;
const MIN = 60_000;

type Src = Extract<SourceConfig, { type: 'btcpay' }>;
interface Minute {
  calls: number;
  bytes: number;
  ms: number;
  ok: boolean;
  polled: number;
}

const quietLog = createLogger({ level: 'error', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

async function scenario(stores: number) {
  const clock = { ms: Date.UTC(2026, 4, 1) };
  setBudgetClock(() => clock.ms);
  forgetDiscoveredStores();
  const fake: FakeBtcpayStores = await startFakeBtcpayStores({ now: () => clock.ms });
  const key = fake.addApiKey(['btcpay.store.canmodifystoresettings'], 'bench');
  const hooks: Array<{ store: string; hook: string }> = [];
  const perStore = Math.floor(TOTAL_HISTORY / stores);
  const span = 30 * 86_400_000;
  const end = clock.ms - 3 * 3600_000;
  for (let i = 0; i < stores; i++) {
    const s = fake.addStore();
    const w = s.createWebhook({ url: 'http://127.0.0.1:9/hook' });
    s.seedDeliveries(w.id, perStore, { startMs: end - span, stepMs: Math.floor(span / perStore), failEvery: 50 });
    hooks.push({ store: s.storeId, hook: w.id });
  }
  const busy = hooks.slice(0, Math.min(MAX_BUSY, stores));
  const addTraffic = () => {
    const each = Math.floor(NEW_PER_MIN / busy.length);
    for (const b of busy) fake.store(b.store).seedDeliveries(b.hook, each, { startMs: clock.ms - MIN + 500, stepMs: Math.floor(MIN / each) - 5 });
  };

  const run = async (src: Src, state: Map<string, unknown>, registry: MetricRegistry): Promise<Minute> => {
    addTraffic();
    clock.ms += MIN;
    const c0 = fake.apiRequests;
    const b0 = fake.apiBytes;
    const t0 = performance.now();
    const ctx: ProbeContext = {
      signal: new AbortController().signal,
      log: quietLog,
      metrics: RunMetrics.standalone(registry, 'bench'),
      now: () => clock.ms,
      state,
      config: { file: 'bench', global: { intervalMs: MIN, timeoutMs: 30_000, resolver: 'system' }, secrets: [], destinations: { probes: [], targets: [] } },
      source: () => src,
    };
    const probe = { name: 'bench', type: 'delivery_rate', intervalMs: MIN, timeoutMs: 60_000, thresholds: {}, source: 'btcpay', window: 15 * MIN };
    const r: ProbeResult = await deliveryRate.run(probe, ctx);
    const d = r.details as { polled?: number } | undefined;
    return { calls: fake.apiRequests - c0, bytes: fake.apiBytes - b0, ms: performance.now() - t0, ok: r.ok, polled: d?.polled ?? 0 };
  };

  const src: Src = { name: 'btcpay', type: 'btcpay', url: fake.url, apiKey: Secret.literal(key), storeId: '', stores: 'all', timeoutMs: 30_000 };
  // Warm up (the first view of every store), then steady state.
  let state = new Map<string, unknown>();
  let registry = new MetricRegistry({ processMetrics: false });
  for (let i = 0; i < RESTART_MIN; i++) await run(src, state, registry);
  const steady: Minute[] = [];
  for (let i = 0; i < STEADY_MIN; i++) steady.push(await run(src, state, registry));

  // Restart: fresh state and registry (a new process); the store list is read again; a new budget minute.
  state = new Map();
  registry = new MetricRegistry({ processMetrics: false });
  forgetDiscoveredStores();
  forgetDeliveryLogs();
  setBudgetClock(() => clock.ms);
  const restart: Minute[] = [];
  const seen = new Set<string>();
  let fullViewAfterMin: number | undefined;
  for (let i = 0; i < RESTART_MIN; i++) {
    restart.push(await run(src, state, registry));
    const ms = state.get('multiStore') as { stores: Map<string, { last?: unknown }> } | undefined;
    for (const [id, st] of ms?.stores ?? []) if (st.last) seen.add(id);
    if (fullViewAfterMin === undefined && seen.size === stores) fullViewAfterMin = i + 1;
  }

  // Contrast: every store every run (no quiet scheduling, no budget).
  const every: Src = { ...src, maxStalenessMs: 1, quietAfterMs: 1, requestBudget: 1_000_000 };
  forgetDiscoveredStores();
  const eState = new Map<string, unknown>();
  const eReg = new MetricRegistry({ processMetrics: false });
  await run(every, eState, eReg);
  const everyRun: Minute[] = [];
  for (let i = 0; i < CONTRAST_MIN; i++) everyRun.push(await run(every, eState, eReg));

  await fake.close();
  return {
    stores,
    perStoreHistory: perStore,
    steady: stats(steady),
    restart: stats(restart),
    restartFirstMinute: restart[0],
    fullViewAfterMin: fullViewAfterMin ?? null,
    everyRun: stats(everyRun),
  };
}

function stats(xs: Minute[]) {
  const mean = (f: (m: Minute) => number) => xs.reduce((s, x) => s + f(x), 0) / xs.length;
  return {
    callsPerMin: mean((m) => m.calls),
    maxCallsPerMin: Math.max(...xs.map((m) => m.calls)),
    bytesPerMin: mean((m) => m.bytes),
    msPerRun: mean((m) => m.ms),
    storesPolledPerRun: mean((m) => m.polled),
    failedRuns: xs.filter((m) => !m.ok).length,
  };
}

const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
const t0 = performance.now();
const results = [];
for (const n of [1, 100, 1000]) results.push(await scenario(n));
console.log(
  `btcpay-stores: ${TOTAL_HISTORY} stored deliveries in total, ${NEW_PER_MIN} new per minute on <= ${MAX_BUSY} stores, delivery_rate every 60 s (simulated)`,
);
console.log(
  `${'stores'.padEnd(8)}${'steady calls/min'.padStart(18)}${'steady bytes/min'.padStart(18)}` +
    `${'restart calls/min (max)'.padStart(26)}${'restart bytes/min'.padStart(19)}` +
    `${'full view after'.padStart(17)}${'every-run calls/min'.padStart(21)}`,
);
for (const r of results) {
  console.log(
    `${String(r.stores).padEnd(8)}${r.steady.callsPerMin.toFixed(1).padStart(18)}${kb(r.steady.bytesPerMin).padStart(18)}` +
      `${`${r.restart.callsPerMin.toFixed(1)} (${r.restart.maxCallsPerMin})`.padStart(26)}${kb(r.restart.bytesPerMin).padStart(19)}` +
      `${(r.fullViewAfterMin === null ? `> ${RESTART_MIN} min` : `${r.fullViewAfterMin} min`).padStart(17)}${r.everyRun.callsPerMin.toFixed(1).padStart(21)}`,
  );
}
console.log(`wall time ${((performance.now() - t0) / 1000).toFixed(1)} s`);
console.log(JSON.stringify({ bench: 'btcpay-stores', totalHistory: TOTAL_HISTORY, newPerMinute: NEW_PER_MIN, results }));
