// Cost of one delivery_rate poll on a busy store: a fake BTCPay with 100 000 historic deliveries and 50 new
// ones per poll. The incremental probe (count-limited list + one /request per NEW row, cached) against a naive
// full re-read (list without count = every row, then /request for every row in the window, each poll).
// Loopback only, bounded: 10 polls each.
// Second scenario, on the simulated clock: a receiver that never answers (each attempt costs BTCPay's 100 s) while
// paid events stack up in the webhook's queue for two hours; API calls per poll while the tracker reads back to
// the oldest event that could still be queued, and after recovery.
import { deliveryRate } from '../probes/delivery-rate/index.ts';
import { BtcpayClient } from '../src/clients/btcpay/client.ts';
import { Secret } from '../src/secret.ts';
import { MetricRegistry } from '../src/metrics/registry.ts';
import { RunMetrics } from '../src/metrics/run-metrics.ts';
import { createLogger } from '../src/log.ts';
import type { ProbeContext } from '../src/probe/types.ts';
import { startFakeBtcpay } from '../src/sim/btcpay/index.ts';
import { startReceiver } from '../src/sim/btcpay/recording-receiver.ts';
import { Writable } from 'node:stream';

const HISTORY = 100_000;
const NEW_PER_POLL = 50;
const POLLS = 10;
const WINDOW_MS = 15 * 60_000;
const POLL_MS = 60_000;

const clock = { ms: Date.UTC(2026, 4, 1) };
const fake = await startFakeBtcpay({ now: () => clock.ms });
const key = fake.addApiKey(['unrestricted']);
const hook = fake.createWebhook({ url: 'http://127.0.0.1:9/never', enabled: true });
// History: 100 000 rows over the previous 60 days, 1 in 50 failed.
fake.seedDeliveries(hook.id, HISTORY, { startMs: clock.ms - 60 * 86_400_000, stepMs: Math.floor((60 * 86_400_000 - 3 * 3600_000) / HISTORY), failEvery: 50 });

const source = { name: 'btcpay', type: 'btcpay' as const, url: fake.url, apiKey: Secret.literal(key), storeId: fake.storeId, timeoutMs: 30_000 };
const registry = new MetricRegistry({ processMetrics: false });
const state = new Map<string, unknown>();
const ctx = (): ProbeContext => ({
  signal: new AbortController().signal,
  log: createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }) }),
  metrics: RunMetrics.standalone(registry, 'bench'),
  now: () => clock.ms,
  state,
  config: { file: 'bench', global: { intervalMs: POLL_MS, timeoutMs: 30_000, resolver: 'system' }, secrets: [], destinations: { probes: [], targets: [] } },
  source: () => source,
});
const probe = {
  name: 'bench',
  type: 'delivery_rate',
  intervalMs: POLL_MS,
  timeoutMs: 60_000,
  thresholds: {},
  source: 'btcpay',
  webhookId: hook.id,
  window: WINDOW_MS,
};

function addNew(): void {
  // 50 fresh deliveries spread over the last minute.
  fake.seedDeliveries(hook.id, NEW_PER_POLL, { startMs: clock.ms - POLL_MS + 1000, stepMs: Math.floor(POLL_MS / NEW_PER_POLL) - 10 });
}

interface Sample {
  calls: number;
  bytes: number;
  ms: number;
}
async function measure(f: () => Promise<unknown>): Promise<Sample> {
  const c0 = fake.apiRequests;
  const b0 = fake.apiBytes;
  const t0 = performance.now();
  await f();
  return { calls: fake.apiRequests - c0, bytes: fake.apiBytes - b0, ms: performance.now() - t0 };
}
const avg = (xs: Sample[]) => ({
  calls: xs.reduce((s, x) => s + x.calls, 0) / xs.length,
  bytes: xs.reduce((s, x) => s + x.bytes, 0) / xs.length,
  ms: xs.reduce((s, x) => s + x.ms, 0) / xs.length,
});

// Incremental: one baseline poll (the start-up rebuild), then steady polls.
// Fill the window first so both sides see a realistic 15 minutes of traffic.
for (let i = 0; i < 15; i++) {
  clock.ms += POLL_MS;
  addNew();
}
const baseline = await measure(() => deliveryRate.run(probe, ctx()));
const inc: Sample[] = [];
for (let i = 0; i < POLLS; i++) {
  clock.ms += POLL_MS;
  addNew();
  inc.push(
    await measure(async () => {
      const r = await deliveryRate.run(probe, ctx());
      if (!r.details) throw new Error(`poll failed: ${r.reason}`);
    }),
  );
}

// Naive: every poll lists every row and reads every body in the window again.
const client = new BtcpayClient({ url: fake.url, apiKey: Secret.literal(key), storeId: fake.storeId, timeoutMs: 60_000, maxResponseBytes: 256 * 1024 * 1024 });
const naive: Sample[] = [];
for (let i = 0; i < POLLS; i++) {
  clock.ms += POLL_MS;
  addNew();
  naive.push(
    await measure(async () => {
      const rows = await client.listDeliveries(hook.id, 'all');
      const from = Math.floor((clock.ms - WINDOW_MS) / 1000);
      const inWindow = rows.filter((r) => r.timestamp >= from);
      for (let j = 0; j < inWindow.length; j += 8) await Promise.all(inWindow.slice(j, j + 8).map((r) => client.getDeliveryRequest(hook.id, r.id)));
    }),
  );
}
await fake.close();

const a = avg(inc);
const n = avg(naive);
const kb = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
console.log(`btcpay-poll: ${HISTORY} historic deliveries, ${NEW_PER_POLL} new per poll, window ${WINDOW_MS / 60_000} min, ${POLLS} polls each`);
console.log(`${'mode'.padEnd(26)}${'API calls/poll'.padStart(16)}${'bytes/poll'.padStart(14)}${'ms/poll'.padStart(10)}`);
console.log(`${'incremental (steady)'.padEnd(26)}${a.calls.toFixed(1).padStart(16)}${kb(a.bytes).padStart(14)}${a.ms.toFixed(1).padStart(10)}`);
console.log(
  `${'incremental (first poll)'.padEnd(26)}${baseline.calls.toFixed(1).padStart(16)}${kb(baseline.bytes).padStart(14)}${baseline.ms.toFixed(1).padStart(10)}`,
);
console.log(`${'naive full re-read'.padEnd(26)}${n.calls.toFixed(1).padStart(16)}${kb(n.bytes).padStart(14)}${n.ms.toFixed(1).padStart(10)}`);

// ---- stacked queue ----------------------------------------------------------------------------------------
const stacked = await (async () => {
  const rx = await startReceiver();
  const f = await startFakeBtcpay({ clock: 'virtual', startMs: Date.UTC(2026, 4, 1), deliveryTimeoutMs: 50 });
  const k = f.addApiKey(['unrestricted']);
  const w = f.createWebhook({ url: rx.url, specificEvents: ['InvoiceSettled'] });
  f.seedDeliveries(w.id, 20_000, { startMs: f.now() - 30 * 86_400_000, stepMs: Math.floor((30 * 86_400_000 - 3600_000) / 20_000) });
  const src = { name: 'btcpay', type: 'btcpay' as const, url: f.url, apiKey: Secret.literal(k), storeId: f.storeId, timeoutMs: 30_000 };
  const st = new Map<string, unknown>();
  const c = (): ProbeContext => ({ ...ctx(), now: () => f.now(), state: st, source: () => src });
  const p = { ...probe, webhookId: w.id };
  const one = async () => {
    const c0 = f.apiRequests;
    await deliveryRate.run(p, c());
    return f.apiRequests - c0;
  };
  await one();
  await rx.setMode({ kind: 'hang' });
  const during: number[] = [];
  for (let m = 0; m < 120; m++) {
    const inv = f.createInvoice({ amount: 20 });
    f.settleInvoice(inv.id);
    await f.run(60_000);
    during.push(await one());
  }
  await rx.heal();
  const after: number[] = [];
  for (let m = 0; m < 30; m++) {
    await f.run(60_000);
    after.push(await one());
  }
  await f.close();
  await rx.stop();
  const sum = (xs: number[]) => ({ avg: xs.reduce((s, x) => s + x, 0) / xs.length, max: Math.max(...xs) });
  return { during: sum(during), after: sum(after) };
})();
console.log(
  `stacked queue (receiver times out, 120 paid events over 2 h, 20 000 rows of history): calls/poll avg ${stacked.during.avg.toFixed(1)} max ${stacked.during.max} during, avg ${stacked.after.avg.toFixed(1)} max ${stacked.after.max} in the 30 min after recovery`,
);
console.log(
  JSON.stringify({
    bench: 'btcpay-poll',
    history: HISTORY,
    newPerPoll: NEW_PER_POLL,
    incremental: a,
    firstPoll: baseline,
    naive: n,
    speedup: n.ms / a.ms,
    stacked,
  }),
);
