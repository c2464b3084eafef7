// Benchmarks for the synthetic and reconcile probes, loopback only and bounded:
// 1. sign+verify throughput per signature scheme;
// 2. a direct-mode synthetic run (POST + confirm) against the real receiver app: latency per phase;
// 3. one reconcile run over N paid invoices (fake BTCPay) against N http-json records.
// Run: node --import tsx bench/synthetic-reconcile.ts
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sign, verify, SIGNING_SCHEMES } from '../src/signing/index.ts';
import { Secret } from '../src/secret.ts';
import { synthetic } from '../probes/synthetic/index.ts';
import { reconcile } from '../probes/reconcile/index.ts';
import { makeTestContext } from '../test/helpers/context.ts';
import { startReceiver } from '../src/sim/receiver.ts';
import { startFakeBtcpay } from '../src/sim/btcpay/index.ts';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};
const ms = (x: number) => Number(x.toFixed(3));
const summary: Record<string, unknown> = {};

// 1. signing
const body = JSON.stringify({ deliveryId: 'x'.repeat(22), type: 'InvoiceSettled', metadata: { orderId: 'o'.repeat(40) } }, null, 2);
const secrets = {
  btcpay: 'b'.repeat(22),
  stripe: 'whsec_' + Buffer.alloc(24, 7).toString('base64'),
  'standard-webhooks': 'whsec_' + Buffer.alloc(32, 9).toString('base64'),
};
const N = 20_000;
for (const scheme of SIGNING_SCHEMES) {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const headers = sign(scheme, { body, secret: secrets[scheme], timestamp: 1_700_000_000, id: 'msg_1' });
    if (!verify(scheme, { body, secret: secrets[scheme], headers, nowS: 1_700_000_000 }).ok) throw new Error('verify failed');
  }
  const perSec = Math.round(N / ((performance.now() - t0) / 1000));
  console.log(`sign+verify ${scheme}: ${perSec} pairs/s (${body.length}-byte body)`);
  summary[`sign_verify_per_s_${scheme}`] = perSec;
}

// 2. synthetic direct runs
{
  const secret = 'bench-secret-0123456789';
  const rx = await startReceiver({ scheme: 'btcpay', secret });
  const probe = {
    name: 'bench',
    type: 'synthetic',
    intervalMs: 3_600_000,
    timeoutMs: 30_000,
    thresholds: {},
    ...synthetic.schema.parse({ targets: [rx.webhookUrl], confirm: { url: rx.receiptUrl, within: '5s' } }),
    signing: { scheme: 'btcpay' as const, secret: Secret.literal(secret) },
  };
  const RUNS = 200;
  const total: number[] = [];
  const phases: Record<string, number[]> = {};
  const ctx = makeTestContext({ probe: 'bench' });
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const r = await synthetic.run(probe, ctx);
    total.push(performance.now() - t0);
    if (!r.ok) throw new Error(r.reason);
    const ph = (r.details!.targets as Array<{ phasesSeconds: Record<string, number> }>)[0]!.phasesSeconds;
    for (const [k, v] of Object.entries(ph)) (phases[k] ??= []).push(v * 1000);
  }
  await rx.stop();
  console.log(`synthetic direct run (POST + confirm, loopback, ${RUNS} runs): median ${ms(pct(total, 50))} ms, p95 ${ms(pct(total, 95))} ms`);
  for (const [k, v] of Object.entries(phases)) console.log(`  phase ${k}: median ${ms(pct(v, 50))} ms, p95 ${ms(pct(v, 95))} ms`);
  summary.synthetic_run_median_ms = ms(pct(total, 50));
  summary.synthetic_run_p95_ms = ms(pct(total, 95));
}

// 3. reconcile over N invoices
{
  const INVOICES = 2000;
  const fake = await startFakeBtcpay();
  const key = fake.addApiKey([`btcpay.store.canviewinvoices:${fake.storeId}`]);
  const now = Date.now();
  const rows: Array<{ id: string; amount: string; currency: string; at: number }> = [];
  for (let i = 0; i < INVOICES; i++) {
    fake.setNow(now - 20 * 3_600_000 + i * 30_000);
    const inv = fake.createInvoice({ amount: '12.50' });
    fake.settleInvoice(inv.id);
    if (i % 100 !== 0) rows.push({ id: inv.id, amount: '12.5', currency: 'USD', at: Math.floor(fake.now() / 1000) + 5 });
  }
  fake.setNow(now);
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(rows)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/records?since={since}&until={until}`;
  const ctx = makeTestContext({
    probe: 'bench-recon',
    now,
    sources: {
      btcpay: { name: 'btcpay', type: 'btcpay', url: fake.url, apiKey: Secret.literal(key), storeId: fake.storeId },
      internal: {
        name: 'internal',
        type: 'http-json',
        url,
        headers: {},
        itemsPath: '',
        fields: { id: 'id', amount: 'amount', currency: 'currency', time: 'at' },
      },
    },
  });
  const probe = {
    name: 'bench-recon',
    type: 'reconcile',
    intervalMs: 300_000,
    timeoutMs: 30_000,
    thresholds: { max_missing: 0 },
    ...reconcile.schema.parse({ source: 'btcpay', records: 'internal' }),
  };
  const times: number[] = [];
  let missing = 0;
  for (let i = 0; i < 5; i++) {
    const before = fake.apiRequests;
    const t0 = performance.now();
    const r = await reconcile.run(probe, ctx);
    times.push(performance.now() - t0);
    missing = Number((r.details as Record<string, unknown>).missingCount);
    if (i === 0) summary.reconcile_api_requests = fake.apiRequests - before;
  }
  await fake.close();
  await new Promise<void>((r) => server.close(() => r()));
  console.log(
    `reconcile over ${INVOICES} paid invoices vs ${rows.length} records: median ${ms(pct(times, 50))} ms (${summary.reconcile_api_requests} Greenfield requests, ${missing} missing found)`,
  );
  summary.reconcile_invoices = INVOICES;
  summary.reconcile_median_ms = ms(pct(times, 50));
}

console.log(JSON.stringify({ bench: 'synthetic-reconcile', ...summary }));
