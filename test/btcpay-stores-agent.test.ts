// A running agent (the real `hookwatch run`) watching every store of a simulated BTCPay instance: stores added and
// removed while it runs show up in, and disappear from, /metrics without a reload.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeBtcpayStores, type FakeBtcpayStores } from '../src/sim/btcpay/stores.ts';
import { startAgent, waitFor, type AgentProcess } from './helpers/agent-process.ts';

let fake: FakeBtcpayStores | undefined;
let agent: AgentProcess | undefined;
let dir: string | undefined;
afterEach(async () => {
  await agent?.stop();
  await fake?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  agent = fake = dir = undefined;
});

const storesOnMetrics = async (url: string): Promise<Set<string>> => {
  const text = await (await fetch(`${url}/metrics`)).text();
  return new Set([...text.matchAll(/^hookwatch_webhook_delivery_window_count\{[^}]*store="([^"]+)"/gm)].map((m) => m[1]!));
};
const same = (a: Set<string>, b: string[]) => a.size === b.length && b.every((x) => a.has(x));

describe('agent with storeId: all', () => {
  it('follows stores added and removed at run time, series labelled by store id', async () => {
    fake = await startFakeBtcpayStores();
    const key = fake.addApiKey(['btcpay.store.canmodifystoresettings'], 'hookwatch');
    const ids = [0, 1].map(() => {
      const s = fake!.addStore();
      s.createWebhook({ url: 'http://127.0.0.1:9/hook' });
      return s.storeId;
    });
    dir = mkdtempSync(join(tmpdir(), 'hw-stores-agent-'));
    const cfg = join(dir, 'hookwatch.yaml');
    writeFileSync(
      cfg,
      `global: { interval: 1s, timeout: 5s }
sources:
  btcpay:
    type: btcpay
    url: ${fake.url}
    apiKey: { env: HW_STORES_KEY }
    storeId: all
    discoveryInterval: 1s
probes:
  - { name: every-store, type: delivery_rate, source: btcpay }
`,
    );
    agent = await startAgent(cfg, { env: { HW_STORES_KEY: key } });
    const url = agent.url;
    await waitFor(async () => same(await storesOnMetrics(url), ids), { timeoutMs: 20_000, what: 'both stores on /metrics' });

    const added = fake.addStore();
    added.createWebhook({ url: 'http://127.0.0.1:9/hook' });
    await waitFor(async () => same(await storesOnMetrics(url), [...ids, added.storeId]), { timeoutMs: 20_000, what: 'the new store on /metrics' });

    await fake.removeStore(ids[0]!);
    await waitFor(async () => same(await storesOnMetrics(url), [ids[1]!, added.storeId]), { timeoutMs: 20_000, what: 'the removed store gone' });
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).not.toContain(`store="${ids[0]}"`);
    expect(text).not.toMatch(/Store \d/);
    expect(text).not.toContain(key);
    expect(text).toMatch(/hookwatch_probe_success\{probe="every-store",type="delivery_rate"\} 1/);
  });
});
