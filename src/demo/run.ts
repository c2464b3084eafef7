// `hookwatch demo`: the agent watching a simulated BTCPay store, the merchant's receiver and DNS, all
// on loopback, with the incident replayed part-way: the receiver moves from 127.0.0.2 to 127.0.0.3
// while the sender's resolver keeps serving the old address. The simulators live with the tests
// (test/fakes, test/helpers) so the demo and the suite exercise the very same fakes.
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { PROBE_KINDS } from '../../probes/registry.ts';
import { Agent } from '../agent.ts';
import { createLogger } from '../log.ts';
import { RunLogStore } from '../scheduler/run-log.ts';
import { formatText } from '../server/text.ts';
import { runView } from '../server/status.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OLD_IP = '127.0.0.2';
const NEW_IP = '127.0.0.3';

export async function runDemo(opts: { listenAddress: string; durationMs?: number; summaryEveryMs?: number; out: (s: string) => void }): Promise<void> {
  const { out } = opts;
  const { startFakeBtcpay } = await import('../sim/btcpay/index.ts');
  const { startFakeDns } = await import('../../test/fakes/dns-server.ts');
  const { startReceiver } = await import('../../test/helpers/receiver.ts');

  const webhookSecret = randomBytes(16).toString('hex');
  const dns = await startFakeDns({ zone: 'pay.test', records: [{ name: 'hooks.pay.test', type: 'A', ttl: 30, values: [OLD_IP] }], minTtl: 172_800 });
  let receiver = await startReceiver({ scheme: 'btcpay', secret: webhookSecret, host: OLD_IP });
  const port = receiver.port;
  const receivers = [receiver];
  // Retries 100x faster than BTCPay's 10 s / 1 min / 10 min schedule, so the demo shows them.
  const btcpay = await startFakeBtcpay({ timeScale: 0.01, resolver: dns.resolver.address });
  const apiKey = btcpay.addApiKey(['btcpay.store.canmodifystoresettings', 'btcpay.store.canmodifyinvoices', 'btcpay.store.cancreateinvoice'], 'hookwatch demo');
  btcpay.createWebhook({ url: `http://hooks.pay.test:${port}/webhook`, secret: webhookSecret, automaticRedelivery: true });

  // The merchant's records: what the receiver processed, as the internal system's payments API.
  const records: Server = createServer((req, res) => {
    const list: Array<{ invoiceId: string; amount?: string; currency?: string }> = [];
    const seen = new Set<string>();
    for (const r of receivers.flatMap((x) => x.received)) {
      if (r.verdict !== 'processed') continue;
      try {
        const body = JSON.parse(r.body) as { type?: string; invoiceId?: string; metadata?: Record<string, unknown> };
        if (body.type === 'InvoiceSettled' && body.invoiceId && !seen.has(body.invoiceId) && !String(body.invoiceId).startsWith('__test__')) {
          seen.add(body.invoiceId);
          const inv = btcpay.invoices?.get?.(body.invoiceId) as { amount?: string; currency?: string } | undefined;
          list.push({ invoiceId: body.invoiceId, amount: inv?.amount, currency: inv?.currency });
        }
      } catch {
        /* synthetic or malformed bodies are not payments */
      }
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.url?.startsWith('/payments') ? list : []));
  });
  await new Promise<void>((r) => records.listen(0, '127.0.0.1', r));
  const recordsUrl = `http://127.0.0.1:${(records.address() as { port: number }).port}`;

  const dir = mkdtempSync(join(tmpdir(), 'hookwatch-demo-'));
  const configFile = join(dir, 'demo.yaml');
  const fill: Record<string, string> = {
    __RESOLVER__: dns.resolver.address,
    __AUTHORITATIVE__: dns.auth.address,
    __BTCPAY_URL__: btcpay.url,
    __STORE_ID__: btcpay.storeId,
    __RECORDS_URL__: recordsUrl,
    __RECEIVER_PORT__: String(port),
  };
  let yaml = readFileSync(join(ROOT, 'probes', 'demo.yaml'), 'utf8');
  for (const [k, v] of Object.entries(fill)) yaml = yaml.split(k).join(v);
  writeFileSync(configFile, yaml);

  const runLogs = new RunLogStore();
  const log = createLogger({ level: 'error', sink: runLogs.sink });
  const agent = new Agent({
    configFile,
    kinds: PROBE_KINDS,
    log,
    runLogs,
    listenAddress: opts.listenAddress,
    env: { ...process.env, HOOKWATCH_DEMO_API_KEY: apiKey, HOOKWATCH_DEMO_WEBHOOK_SECRET: webhookSecret },
  });
  await agent.start();
  const a = agent.address()!;
  const base = `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
  out(`hookwatch demo: agent on ${base}/  (metrics ${base}/metrics, status ${base}/status)`);
  out(`  simulated BTCPay ${btcpay.url}  receiver hooks.pay.test -> ${OLD_IP}:${port}  authoritative DNS ${dns.auth.address}  sender's resolver ${dns.resolver.address} (inflates TTLs to 2 days)`);

  // Steady payments: one settled invoice every 2 s.
  let n = 0;
  const payments = setInterval(() => {
    const inv = btcpay.createInvoice({ amount: (10 + (n++ % 7)).toFixed(2), currency: 'USD', metadata: { orderId: `demo-${n}` }, paymentMethod: n % 3 === 0 ? 'lightning' : 'chain' });
    btcpay.settleInvoice(inv.id);
  }, 2000);

  const migrateAt = opts.durationMs !== undefined ? Math.floor(opts.durationMs * 0.4) : 60_000;
  const migrate = setTimeout(async () => {
    out(`\n>>> INCIDENT: the receiver moves ${OLD_IP} -> ${NEW_IP}; the authoritative record changes (TTL 30 s) but the sender's resolver keeps the old answer.\n`);
    receiver = await startReceiver({ scheme: 'btcpay', secret: webhookSecret, host: NEW_IP, port });
    receivers.push(receiver);
    dns.auth.set('hooks.pay.test', 'A', [NEW_IP]);
    await receivers[0]!.stop();
  }, migrateAt);

  const summary = () => {
    const views = agent.scheduler.status().map((p) => runView(p.name, p.type, p.last));
    out(`\n--- ${new Date().toISOString()} ---`);
    out(formatText(views, { details: false }));
  };
  const ticker = setInterval(summary, opts.summaryEveryMs ?? 10_000);

  await new Promise<void>((resolve) => {
    let done = false;
    const stop = () => {
      if (done) return;
      done = true;
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (opts.durationMs !== undefined) setTimeout(stop, opts.durationMs);
  });
  summary();
  clearInterval(ticker);
  clearInterval(payments);
  clearTimeout(migrate);
  await agent.stop();
  await Promise.allSettled([btcpay.close(), dns.stop(), ...receivers.map((r) => r.stop()), new Promise((r) => records.close(r))]);
  rmSync(dir, { recursive: true, force: true });
}
