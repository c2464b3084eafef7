// Memory and series under a hostile BTCPay, on loopback, bounded in time: a Greenfield lookalike that
// (A) ignores `count` and answers every deliveries list with 300 000 rows, (B) answers every list with 20 000 rows
// of fresh ids, a tenth of them dated an hour ahead, and (C) has 20 000 webhooks. delivery_rate polls it
// back-to-back for a fixed time per scenario; we report peak RSS, rows kept, series and the result size.
// Usage: node --import tsx bench/btcpay-hostile.ts [secondsPerScenario=20] [scenarios=ABC]
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { deliveryRate } from '../probes/delivery-rate/index.ts';
import { Secret } from '../src/secret.ts';
import { createLogger } from '../src/log.ts';
import { MetricRegistry } from '../src/metrics/registry.ts';
import { RunMetrics } from '../src/metrics/run-metrics.ts';
import type { ProbeContext } from '../src/probe/types.ts';
import { forgetDeliveryLogs, type DeliveryReader } from '../src/btcpay/shared-log.ts';

const SECONDS = Number(process.argv[2] ?? 20);
const STORE = 'HostileStore';
let scenario: 'A' | 'B' | 'C' = 'A';
let nowSec = Math.floor(Date.now() / 1000);
let seq = 0;

const row = (id: string, ts: number, ok: boolean) =>
  `{"id":"${id}","timestamp":${ts},"deliveryTime":${ts},"httpCode":${ok ? 200 : 'null'},"errorMessage":${ok ? 'null' : '"Connection refused (x:443)"'},"status":"${ok ? 'HttpSuccess' : 'Failed'}"}`;
// A: 300 000 rows, built once (~33 MB of JSON).
const bigList = Buffer.from('[' + Array.from({ length: 300_000 }, (_, i) => row(`r${i}`, nowSec - i, i % 7 !== 0)).join(',') + ']');
const hooks = (n: number) =>
  JSON.stringify(
    Array.from({ length: n }, (_, i) => ({
      id: `w${i}`,
      enabled: i % 3 !== 0,
      automaticRedelivery: i % 5 !== 0,
      url: `https://h${i % 977}.example.com/hook/${i}`,
      authorizedEvents: { everything: true, specificEvents: [] },
    })),
  );
const oneHook = hooks(1);
const manyHooks = hooks(20_000);

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const send = (body: string | Buffer) => (res.writeHead(200, { 'content-type': 'application/json' }), res.end(body));
  if (url.pathname === '/api/v1/api-keys/current') return send(JSON.stringify({ permissions: ['unrestricted'] }));
  if (url.pathname === `/api/v1/stores/${STORE}/webhooks`) return send(scenario === 'C' ? manyHooks : oneHook);
  if (url.pathname.endsWith('/deliveries')) {
    if (scenario === 'A') return send(bigList);
    // B: fresh ids every time, whatever count says.
    const rows: string[] = [];
    for (let i = 0; i < 20_000; i++) rows.push(row(`f${seq++}`, i % 10 === 0 ? nowSec + 3600 : nowSec - (i % 600), i % 3 !== 0));
    return send('[' + rows.join(',') + ']');
  }
  if (url.pathname.endsWith('/request'))
    return send(JSON.stringify({ type: 'InvoiceSettled', invoiceId: 'i', originalDeliveryId: url.pathname.split('/').at(-2), timestamp: nowSec }));
  res.writeHead(404).end('{}');
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const source = { name: 'btcpay', type: 'btcpay' as const, url: base, apiKey: Secret.literal('k'.repeat(40)), storeId: STORE, timeoutMs: 60_000 };
const probe = {
  name: 'bench',
  type: 'delivery_rate',
  intervalMs: 60_000,
  timeoutMs: 120_000,
  thresholds: {},
  source: 'btcpay',
  window: 15 * 60_000,
  perEvent: false,
};

async function run(s: typeof scenario) {
  scenario = s;
  // Each scenario as a fresh agent process: no delivery log shared from the previous one.
  forgetDeliveryLogs();
  const registry = new MetricRegistry({ processMetrics: false });
  const state = new Map<string, unknown>();
  const ctx = (): ProbeContext => ({
    signal: AbortSignal.timeout(120_000),
    log: createLogger({ level: 'error', destination: new Writable({ write: (_c, _e, cb) => cb() }) }),
    metrics: RunMetrics.standalone(registry, 'bench'),
    now: () => nowSec * 1000,
    state,
    config: { file: 'bench', global: { intervalMs: 60_000, timeoutMs: 60_000, resolver: 'system' }, secrets: [], destinations: { probes: [], targets: [] } },
    source: () => source,
  });
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const end = Date.now() + SECONDS * 1000;
  let polls = 0;
  let last: Awaited<ReturnType<typeof deliveryRate.run>> | undefined;
  while (Date.now() < end && polls < 1000) {
    last = await deliveryRate.run(probe, ctx());
    polls++;
    nowSec += 60;
  }
  clearInterval(timer);
  const reader = state.get('reader') as DeliveryReader | undefined;
  const t0 = performance.now();
  const text = await registry.exposition();
  const scrapeMs = performance.now() - t0;
  const series = text.split('\n').filter((l) => l && !l.startsWith('#')).length;
  const out = {
    scenario: s,
    polls,
    peakRssMB: Math.round(peak / 2 ** 20),
    endRssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
    rowsKept: reader?.tracker.rows.size ?? 0,
    series,
    scrapeMs: Number(scrapeMs.toFixed(1)),
    resultBytes: JSON.stringify(last ?? {}).length,
    ok: last?.ok,
    reason: (last?.reason ?? '').slice(0, 120),
  };
  console.log(JSON.stringify(out));
}

console.log(`btcpay-hostile: ${SECONDS} s per scenario; baseline RSS ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB`);
for (const s of (process.argv[3] ?? 'ABC').split('')) await run(s as typeof scenario);
server.close();
