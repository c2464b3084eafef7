// A world for the scale benchmarks and a mixed probe configuration of any size against it: plain HTTP
// checks, DNS drift checks, signed synthetic webhooks and BTCPay delivery/latency probes, all on loopback.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { within } from './common.ts';
import { startDnsLab, startFakeBtcpay, TestReceiver, type DnsLab, type FakeBtcpay } from './world.ts';

export const WEBHOOK_SECRET = 'bench-webhook-secret-0b7e';

export interface World {
  httpUrl: string;
  lab: DnsLab;
  fake: FakeBtcpay;
  receiver: TestReceiver;
  apiKey: string;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** HTTP target (own process), DNS lab, fake BTCPay settling an invoice every `paymentEveryMs`, a receiver. */
export async function startWorld(opts: { paymentEveryMs?: number } = {}): Promise<World> {
  const target: ChildProcess = spawn(
    process.execPath,
    ['-e', "require('http').createServer((q,s)=>s.end('ok')).listen(0,'127.0.0.1',function(){console.log(this.address().port)})"],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const port = await within(10_000, new Promise<number>((r) => createInterface({ input: target.stdout! }).once('line', (l) => r(Number(l)))), 'http target');
  const lab = await startDnsLab();
  const receiver = await new TestReceiver().start();
  const fake = await startFakeBtcpay({ timeScale: 0.001, deliveryTimeoutMs: 2000 });
  const apiKey = fake.addApiKey(['unrestricted'], 'bench');
  fake.createWebhook({ url: receiver.url, specificEvents: ['InvoiceSettled'] });
  const traffic = setInterval(() => {
    const inv = fake.createInvoice({ amount: 10 });
    fake.settleInvoice(inv.id);
  }, opts.paymentEveryMs ?? 1000);
  return {
    httpUrl: `http://127.0.0.1:${port}/`,
    lab,
    fake,
    receiver,
    apiKey,
    env: { BTCPAY_API_KEY: apiKey, WEBHOOK_SECRET },
    async stop() {
      clearInterval(traffic);
      target.kill();
      await fake.close();
      await receiver.stop();
      await lab.stop();
    },
  };
}

/** Share of each kind in a mixed configuration, and its interval. */
export const MIX: Array<{ type: string; share: number; interval: string }> = [
  { type: 'http', share: 0.5, interval: '5s' },
  { type: 'dns_drift', share: 0.25, interval: '5s' },
  { type: 'synthetic', share: 0.1, interval: '10s' },
  { type: 'delivery_rate', share: 0.1, interval: '10s' },
  { type: 'paid_latency', share: 0.05, interval: '10s' },
];

/** Runs per second the mix asks for with `n` probes. */
export function runsPerSecond(n: number): number {
  return MIX.reduce((a, m) => a + (n * m.share) / Number(m.interval.replace('s', '')), 0);
}

export function writeMixedConfig(file: string, world: World, n: number): Record<string, number> {
  const probes: Array<Record<string, unknown>> = [];
  const counts: Record<string, number> = {};
  let i = 0;
  for (const m of MIX) {
    const k = Math.round(n * m.share);
    for (let j = 0; j < k && i < n; j++, i++) {
      const name = `${m.type.replace('_', '-')}-${j}`;
      const base = { name, type: m.type, interval: m.interval };
      if (m.type === 'http') probes.push({ ...base, url: `${world.httpUrl}${j}` });
      if (m.type === 'dns_drift')
        probes.push({ ...base, hosts: [world.lab.hooksHost], resolver: world.lab.goodResolver, authoritative: [world.lab.authoritative], recordTypes: ['A'] });
      if (m.type === 'synthetic')
        probes.push({
          ...base,
          mode: 'direct',
          targets: [world.receiver.url],
          signing: { scheme: 'btcpay', secret: { env: 'WEBHOOK_SECRET' } },
          connectTimeout: '1s',
          responseTimeout: '2s',
        });
      // A 1-minute window, so the probes' state reaches its steady size within the warm-up and a soak
      // measures leaks, not a 15-minute window filling up.
      if (m.type === 'delivery_rate') probes.push({ ...base, source: 'btcpay', window: '1m', paidEvents: ['InvoiceSettled'] });
      if (m.type === 'paid_latency') probes.push({ ...base, source: 'btcpay', window: '1m', paidEvents: ['InvoiceSettled'] });
      counts[m.type] = (counts[m.type] ?? 0) + 1;
    }
  }
  const config = {
    global: { interval: '5s', timeout: '4s', resolver: 'system' },
    sources: { btcpay: { type: 'btcpay', url: world.fake.url, apiKey: { env: 'BTCPAY_API_KEY' }, storeId: world.fake.storeId } },
    probes,
  };
  writeFileSync(file, stringify(config));
  return counts;
}
