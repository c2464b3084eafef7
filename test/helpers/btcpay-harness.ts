// Wiring for probe tests: a fake BTCPay on a settable clock, a receiver, a webhook, an API key and
// ProbeContexts that point a btcpay source at the fake.
import { Secret } from '../../src/secret.ts';
import type { LoadedConfig, ProbeBase, SourceConfig } from '../../src/probe/types.ts';
import { MetricRegistry } from '../../src/metrics/registry.ts';
import { makeTestContext, type TestContext } from './context.ts';
import { startFakeBtcpay, type FakeBtcpay, type FakeBtcpayOptions } from '../../src/sim/btcpay/index.ts';
import { startReceiver, type TestReceiver } from '../../src/sim/btcpay/recording-receiver.ts';

export interface Harness {
  fake: FakeBtcpay;
  rx: TestReceiver;
  key: string;
  webhookId: string;
  clock: { ms: number };
  source: Extract<SourceConfig, { type: 'btcpay' }>;
  registry: MetricRegistry;
  /** A context on the harness clock; pass `state` to continue a probe's memory, omit it to simulate a restart. */
  ctx(o?: { state?: Map<string, unknown>; probe?: string; config?: Partial<LoadedConfig>; registry?: MetricRegistry }): TestContext;
  advance(ms: number): void;
  close(): Promise<void>;
}

export const T0 = Date.UTC(2026, 4, 1, 12, 0, 0);

export async function startHarness(
  o: { fake?: FakeBtcpayOptions; webhook?: Parameters<FakeBtcpay['createWebhook']>[0] | false; permissions?: string[] } = {},
): Promise<Harness> {
  const rx = await startReceiver();
  let fake: FakeBtcpay;
  let clock: { ms: number };
  if (o.fake?.clock === 'virtual') {
    // One simulated clock for BTCPay and the probes; it moves only through advance() / run().
    fake = await startFakeBtcpay({ startMs: T0, deliveryTimeoutMs: 300, ...o.fake });
    const f = fake;
    clock = {
      get ms() {
        return f.now();
      },
      set ms(v: number) {
        f.setNow(v);
      },
    };
  } else {
    const c = { ms: T0 };
    clock = c;
    fake = await startFakeBtcpay({ timeScale: 0.0005, deliveryTimeoutMs: 1000, now: () => c.ms, ...o.fake });
  }
  const key = fake.addApiKey(o.permissions ?? [`btcpay.store.canmodifystoresettings:${fake.storeId}`], 'hookwatch');
  const webhookId = o.webhook === false ? '' : fake.createWebhook(o.webhook ?? { url: rx.url }).id;
  const source = {
    name: 'btcpay',
    type: 'btcpay' as const,
    url: fake.url,
    apiKey: new Secret(key, 'env:BTCPAY_API_KEY'),
    storeId: fake.storeId,
    timeoutMs: 2000,
  };
  const registry = new MetricRegistry({ processMetrics: false });
  return {
    fake,
    rx,
    key,
    webhookId,
    clock,
    source,
    registry,
    ctx(c = {}) {
      const ctx = makeTestContext({
        probe: c.probe ?? 'btcpay',
        sources: { btcpay: source },
        registry: c.registry ?? registry,
        now: clock.ms,
        ...(c.state ? { state: c.state } : {}),
        config: { secrets: [source.apiKey], ...c.config },
      });
      // Follow the harness clock.
      ctx.now = () => clock.ms;
      return ctx;
    },
    advance(ms: number) {
      clock.ms += ms;
    },
    async close() {
      await fake.close();
      await rx.stop();
    },
  };
}

/** A probe entry as the config loader would build it (kind-specific keys already parsed). */
export function probeEntry<T extends Record<string, unknown>>(type: string, own: T, thresholds: Record<string, number> = {}): ProbeBase & T {
  return { name: 'btcpay', type, intervalMs: 60_000, timeoutMs: 20_000, thresholds, ...own };
}

/** Wait (bounded) until a condition holds; for states reached by the fake's background sender. */
export async function until(f: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`condition not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
