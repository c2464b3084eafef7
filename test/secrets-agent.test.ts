// The whole agent, every probe kind at once, with every kind of secret (BTCPay API key, webhook
// secret, internal API token, database password), failing and passing: no secret value may appear
// in /metrics, /status, the HTML page, the run logs, `once` output or the agent's own log.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeBtcpay, type FakeBtcpay } from '../src/sim/btcpay/index.ts';
import { startReceiver, type Receiver } from '../src/sim/receiver.ts';
import { startPostgres, type TestPostgres } from './helpers/postgres.ts';
import { missingBinaries } from './helpers/daemons.ts';
import { runCli, startAgent, waitFor, type AgentProcess } from './helpers/agent-process.ts';

const WEBHOOK_SECRET = 'whsec-test-0f1e2d3c4b5a69788796a5b4';
const INTERNAL_TOKEN = 'Bearer internal-token-a1b2c3d4e5f6';
const DB_PASSWORD = 'db-pass-7h8i9j0k1l2m';

describe.skipIf(missingBinaries('initdb', 'postgres'))('secrets never leak from a running agent', () => {
  let btcpay: FakeBtcpay;
  let receiver: Receiver;
  let pg: TestPostgres;
  let agent: AgentProcess;
  let apiKey = '';
  let cfg = '';
  const env: Record<string, string> = {};

  beforeAll(async () => {
    pg = await startPostgres({ password: DB_PASSWORD });
    await pg.sql('CREATE TABLE payments (id text, amount numeric, currency text, time timestamptz)');
    await pg.sql(`GRANT SELECT ON payments TO ${pg.user}`);
    receiver = await startReceiver({ scheme: 'btcpay', secret: WEBHOOK_SECRET, host: '127.0.0.1' });
    btcpay = await startFakeBtcpay({ timeScale: 0.001 });
    apiKey = btcpay.addApiKey(['btcpay.store.canmodifystoresettings', 'btcpay.store.cancreateinvoice', 'btcpay.store.canmodifyinvoices']);
    btcpay.createWebhook({ url: receiver.webhookUrl, secret: WEBHOOK_SECRET, automaticRedelivery: true });
    for (let i = 0; i < 3; i++) btcpay.settleInvoice(btcpay.createInvoice({ amount: '5.00', currency: 'USD' }).id);
    // A receiver that rejects the signature on the second target: failures must not leak either.
    const dir = mkdtempSync(join(tmpdir(), 'hw-secrets-'));
    writeFileSync(join(dir, 'db-password'), DB_PASSWORD + '\n');
    Object.assign(env, { HW_API_KEY: apiKey, HW_WEBHOOK_SECRET: WEBHOOK_SECRET, HW_TOKEN: INTERNAL_TOKEN });
    cfg = join(dir, 'probes.yaml');
    writeFileSync(
      cfg,
      `global: { interval: 1s, timeout: 5s }
sources:
  btcpay: { type: btcpay, url: "${btcpay.url}", apiKey: { env: HW_API_KEY }, storeId: "${btcpay.storeId}" }
  internal:
    type: http-json
    url: "http://127.0.0.1:9/payments?since={since}&until={until}"
    headers: { authorization: { env: HW_TOKEN } }
  db:
    type: postgres
    host: 127.0.0.1
    port: ${pg.port}
    database: ${pg.database}
    user: ${pg.user}
    password: { file: ${join(dir, 'db-password')} }
    query: SELECT id, amount, currency, time FROM payments WHERE time BETWEEN $1 AND $2
  db-wrong:
    type: postgres
    host: 127.0.0.1
    port: ${pg.port}
    database: ${pg.database}
    user: nosuchuser
    password: { file: ${join(dir, 'db-password')} }
    query: SELECT id FROM payments WHERE time BETWEEN $1 AND $2
probes:
  - { name: delivery, type: delivery_rate, source: btcpay }
  - { name: latency, type: paid_latency, source: btcpay }
  - name: synthetic
    type: synthetic
    targets: ["${receiver.webhookUrl}", "http://127.0.0.1:9/webhook"]
    signing: { scheme: btcpay, secret: { env: HW_WEBHOOK_SECRET } }
    security: true
  - { name: synthetic-btcpay, type: synthetic, mode: btcpay, source: btcpay, within: 3s, responseTimeout: 2s, timeout: 8s, interval: 10s }
  - { name: reconcile-db, type: reconcile, source: btcpay, records: db, grace: 0s }
  - { name: reconcile-db-wrong, type: reconcile, source: btcpay, records: db-wrong }
  - { name: reconcile-http, type: reconcile, source: btcpay, records: internal }
  - { name: dns, type: dns_drift, hosts: [localhost], authoritative: ["127.0.0.1:9"], timeout: 3s }
`,
    );
    agent = await startAgent(cfg, { env, extraArgs: ['--log.level', 'debug'] });
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await Promise.allSettled([btcpay?.close(), receiver?.stop(), pg?.stop()]);
  });

  const secrets = () => [apiKey, WEBHOOK_SECRET, INTERNAL_TOKEN, DB_PASSWORD, INTERNAL_TOKEN.slice(7)];

  it('every probe has run, some failing, and nothing shows a secret', async () => {
    const status = await waitFor(
      async () => {
        const s = (await (await fetch(`${agent.url}/status`)).json()) as { probes: Array<{ name: string; ok: boolean | null; reason: string | null }> };
        return s.probes.every((p) => p.ok !== null) && s;
      },
      { timeoutMs: 30_000, what: 'every probe to run' },
    );
    // The setup has both outcomes, so error paths are covered too.
    expect(status.probes.some((p) => p.ok)).toBe(true);
    expect(status.probes.find((p) => p.name === 'reconcile-db-wrong')!.ok).toBe(false);
    expect(status.probes.find((p) => p.name === 'reconcile-http')!.ok).toBe(false);
    const pages = await Promise.all(
      ['/metrics', '/status', '/', ...status.probes.map((p) => `/probe/${p.name}/log`)].map(async (p) => (await fetch(agent.url + p)).text()),
    );
    const once = await runCli(['once', '--config.file', cfg, '--format', 'json', '--log.level', 'debug'], { env });
    const onceText = await runCli(['once', '--config.file', cfg, '--log.level', 'debug'], { env });
    const all = [...pages, agent.logs.join('\n'), once.stdout, once.stderr, onceText.stdout, onceText.stderr].join('\n');
    expect(all).toContain('reconcile-db-wrong');
    for (const s of secrets()) expect(all).not.toContain(s);
  }, 90_000);

  it('a reload rejected for a secret problem names the reference, not the value', async () => {
    const bad = await runCli(['check', '--config.file', cfg], { env: { ...env, HW_WEBHOOK_SECRET: '' } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('env:HW_WEBHOOK_SECRET is not set');
    for (const s of secrets()) expect(bad.stderr + bad.stdout).not.toContain(s);
  });
});
