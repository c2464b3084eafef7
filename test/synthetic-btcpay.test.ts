// btcpay mode against the fake BTCPay: a zero-amount invoice makes the fake send real signed
// deliveries to a real receiver; the probe watches them, confirms the receipt and archives the invoice.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { synthetic } from '../probes/synthetic/index.ts';
import { Secret } from '../src/secret.ts';
import { POLICIES } from '../src/btcpay/permissions.ts';
import type { SourceConfig } from '../src/probe/types.ts';
import { makeTestContext } from './helpers/context.ts';
import { startReceiver, type Receiver } from '../src/sim/receiver.ts';
import { startFakeBtcpay, type FakeBtcpay } from '../src/sim/btcpay/index.ts';

const SECRET = 'btcpay-webhook-secret-' + Math.random().toString(36).slice(2);

describe('synthetic, btcpay mode', () => {
  let fake: FakeBtcpay;
  let rx: Receiver;
  let key: string;
  beforeAll(async () => {
    fake = await startFakeBtcpay({ timeScale: 0.001 });
    rx = await startReceiver({ scheme: 'btcpay', secret: SECRET });
    key = fake.addApiKey([POLICIES.createInvoice, POLICIES.modifyWebhooks, POLICIES.modifyInvoices].map((p) => `${p}:${fake.storeId}`));
  });
  afterAll(async () => {
    await fake?.close();
    await rx?.stop();
  });

  const sources = (apiKey = key): Record<string, SourceConfig> => ({
    btcpay: { name: 'btcpay', type: 'btcpay', url: fake.url, apiKey: Secret.literal(apiKey, 'env:BTCPAY_KEY'), storeId: fake.storeId },
  });
  const probe = (over: Record<string, unknown> = {}) => ({
    name: 'synth-btcpay',
    type: 'synthetic',
    intervalMs: 3_600_000,
    timeoutMs: 60_000,
    thresholds: {},
    ...synthetic.schema.parse({ mode: 'btcpay', source: 'btcpay', within: '5s', ...over }),
  });
  const secretFree = async (ctx: ReturnType<typeof makeTestContext>, r: unknown) => {
    const all = JSON.stringify(r) + ctx.logLines.join('') + (await ctx.registry.exposition());
    expect(all).not.toContain(SECRET);
    expect(all).not.toContain(key);
  };

  it('BTCPay delivers the synthetic invoice to the receiver, which processes it; the invoice is archived', async () => {
    const hook = fake.createWebhook({ url: rx.webhookUrl, secret: SECRET });
    try {
      const ctx = makeTestContext({ probe: 'synth-btcpay', sources: sources() });
      const r = await synthetic.run(probe({ confirm: { url: rx.receiptUrl, within: '3s' } }), ctx);
      expect(r.ok, r.reason).toBe(true);
      const t = (r.details?.targets as Array<Record<string, any>>)[0]!;
      expect(t.webhookId).toBe(hook.id);
      const inv = fake.invoices.get(t.invoiceId)!;
      expect(inv.amount).toBe('0');
      expect(inv.metadata.hookwatchSynthetic).toBe(true);
      expect(String(inv.metadata.orderId)).toMatch(/^hookwatch-synthetic-/);
      expect(inv.archived).toBe(true);
      // The receiver verified BTCPay's real signature and processed the delivery the probe saw.
      const settled = rx.received.find(
        (x) => x.verdict === 'processed' && JSON.parse(x.body).type === 'InvoiceSettled' && JSON.parse(x.body).invoiceId === t.invoiceId,
      );
      expect(settled).toBeDefined();
      expect(JSON.parse(settled!.body).deliveryId).toBe(t.deliveryId);
      expect(await ctx.metricValue('synthetic_success', { target: rx.webhookUrl })).toBe(1);
      expect(await ctx.metricValue('synthetic_phase_duration_seconds', { target: rx.webhookUrl, phase: 'delivery' })).toBeGreaterThanOrEqual(0);
      expect(await ctx.metricValue('synthetic_phase_duration_seconds', { target: rx.webhookUrl, phase: 'confirm' })).toBeGreaterThanOrEqual(0);
      await secretFree(ctx, r);
    } finally {
      fake.deleteWebhook(hook.id);
    }
  });

  it("a receiver with another secret -> http_status from BTCPay's own delivery", async () => {
    const hook = fake.createWebhook({ url: rx.webhookUrl, secret: SECRET + '-old' });
    try {
      const ctx = makeTestContext({ probe: 'synth-btcpay', sources: sources() });
      const r = await synthetic.run(probe({ within: '3s' }), ctx);
      expect(r.ok).toBe(false);
      expect(await ctx.metricValue('synthetic_failure_class', { target: rx.webhookUrl, class: 'http_status' })).toBe(1);
      expect(r.reason).toMatch(/HttpError HTTP 401/);
      await secretFree(ctx, r);
    } finally {
      fake.deleteWebhook(hook.id);
    }
  });

  it('a receiver that is down -> connect_refused, and the watched target filter applies', async () => {
    const down = await startReceiver({ scheme: 'btcpay', secret: SECRET });
    await down.stop();
    const good = fake.createWebhook({ url: rx.webhookUrl, secret: SECRET });
    const bad = fake.createWebhook({ url: down.webhookUrl, secret: SECRET });
    try {
      const ctx = makeTestContext({ probe: 'synth-btcpay', sources: sources() });
      const r = await synthetic.run(probe({ within: '3s', targets: [down.webhookUrl] }), ctx);
      expect(r.ok).toBe(false);
      expect((r.details?.targets as unknown[]).length).toBe(1);
      expect(await ctx.metricValue('synthetic_failure_class', { target: down.webhookUrl, class: 'connect_refused' })).toBe(1);
      expect(r.reason).toMatch(/Connection refused/);
      expect(await ctx.metricValue('synthetic_success', { target: rx.webhookUrl })).toBeUndefined();
    } finally {
      fake.deleteWebhook(good.id);
      fake.deleteWebhook(bad.id);
    }
  });

  it('reports missing permissions at start', async () => {
    const weak = fake.addApiKey([`${POLICIES.viewInvoices}:${fake.storeId}`]);
    const ctx = makeTestContext({ probe: 'synth-btcpay', sources: sources(weak) });
    const r = await synthetic.run(probe(), ctx);
    expect(r.ok).toBe(false);
    expect(r.reason).toContain(POLICIES.createInvoice);
    expect(r.reason).toContain(POLICIES.modifyWebhooks);
    expect(r.details?.missingPermissions).toEqual([POLICIES.createInvoice, POLICIES.modifyWebhooks, POLICIES.modifyInvoices]);
    expect(JSON.stringify(r)).not.toContain(weak);
  });

  it('no webhook listening for paid events fails and says so', async () => {
    const hook = fake.createWebhook({ url: rx.webhookUrl, secret: SECRET, specificEvents: ['InvoiceCreated'] });
    try {
      const ctx = makeTestContext({ probe: 'synth-btcpay', sources: sources() });
      const r = await synthetic.run(probe(), ctx);
      expect(r.ok).toBe(false);
      expect(r.reason).toMatch(/no enabled webhook .* receives InvoiceSettled/);
    } finally {
      fake.deleteWebhook(hook.id);
    }
  });

  it('when a later run cannot start, the target stops reporting success', async () => {
    const hook = fake.createWebhook({ url: rx.webhookUrl, secret: SECRET });
    try {
      const state = new Map<string, unknown>();
      const registry = makeTestContext().registry;
      const ctx1 = makeTestContext({ probe: 'synth-btcpay', sources: sources(), state, registry });
      expect((await synthetic.run(probe(), ctx1)).ok).toBe(true);
      expect(await ctx1.metricValue('synthetic_success', { target: rx.webhookUrl })).toBe(1);
      const revoked = fake.addApiKey([]);
      const ctx2 = makeTestContext({ probe: 'synth-btcpay', sources: sources(revoked), state, registry });
      const r = await synthetic.run(probe(), ctx2);
      expect(r.ok).toBe(false);
      expect(r.reason).toMatch(/btcpay mode could not run: .*HTTP 403/);
      expect(await ctx2.metricValue('synthetic_success', { target: rx.webhookUrl })).toBe(0);
      expect(JSON.stringify(r)).not.toContain(revoked);
    } finally {
      fake.deleteWebhook(hook.id);
    }
  });
});
