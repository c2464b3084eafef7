// `hookwatch redeliver` semantics against the fake: dry run by default, one resend per failed paid event,
// never again once it succeeded, pruned deliveries reported, events never attempted listed, no key in output.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BtcpayClient } from '../src/clients/btcpay/client.ts';
import { DEFAULT_PENDING_SECONDS, formatRedeliverReport, planRedelivery } from '../src/commands/redeliver/plan.ts';
import { runRedeliverCommand } from '../src/commands/redeliver/index.ts';
import { startHarness, type Harness } from './helpers/btcpay-harness.ts';
import { startFakeBtcpay } from '../src/sim/btcpay/index.ts';
import { startReceiver } from '../src/sim/btcpay/recording-receiver.ts';
import { runCli } from './helpers/agent-process.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});
const logLines: string[] = [];
const log = { info: (o: object, m?: string) => logLines.push(JSON.stringify(o) + m), warn: (o: object, m?: string) => logLines.push(JSON.stringify(o) + m) };

describe('planRedelivery', () => {
  it('dry run lists, apply sends each failed paid event once, a second apply sends nothing', async () => {
    h = await startHarness({ webhook: { url: 'x', specificEvents: ['InvoiceSettled', 'InvoiceCreated'], automaticRedelivery: false } });
    h.fake.updateWebhook(h.webhookId, { url: h.rx.url });
    const client = new BtcpayClient({ url: h.source.url, apiKey: h.source.apiKey, storeId: h.source.storeId });
    const okInv = h.fake.createInvoice({ amount: 0 });
    await h.fake.idle();
    await h.rx.setMode({ kind: 'status', status: 500 });
    const bad = [h.fake.createInvoice({ amount: 0 }), h.fake.createInvoice({ amount: 0 })];
    await h.fake.idle();
    await h.rx.heal();
    h.rx.received.length = 0;

    const dry = await planRedelivery(client, { sinceMs: 6 * 3600_000, nowMs: h.clock.ms, apply: false, log });
    expect(dry.applied).toBe(false);
    // Only paid events (InvoiceSettled), not the failed InvoiceCreated ones.
    expect(dry.items.map((i) => i.invoiceId).sort()).toEqual(bad.map((b) => b.id).sort());
    expect(dry.items.every((i) => i.action === 'would_redeliver' && i.type === 'InvoiceSettled' && i.lastError === 'HTTP Error Code 500')).toBe(true);
    expect(dry.succeeded).toBe(1);
    await h.fake.idle();
    expect(h.rx.received).toHaveLength(0);
    expect(formatRedeliverReport(dry)).toMatch(/DRY RUN[\s\S]*would redeliver: InvoiceSettled invoice/);

    const applied = await planRedelivery(client, { webhookId: h.webhookId, sinceMs: 6 * 3600_000, nowMs: h.clock.ms, apply: true, log });
    expect(applied.items.map((i) => i.action)).toEqual(['redelivered', 'redelivered']);
    await h.fake.idle();
    expect(h.rx.received.map((r) => r.body.invoiceId).sort()).toEqual(bad.map((b) => b.id).sort());
    expect(h.rx.received.every((r) => r.body.isRedelivery === true)).toBe(true);

    const second = await planRedelivery(client, { sinceMs: 6 * 3600_000, nowMs: h.clock.ms, apply: true, log });
    expect(second.items).toEqual([]);
    expect(second.succeeded).toBe(3);
    await h.fake.idle();
    expect(h.rx.received).toHaveLength(2);
    expect(okInv.id).toBeTruthy();
  });

  it('--apply on a disabled webhook says it was not sent (BTCPay would return an id and drop it at send time); a healthy one is verified after', async () => {
    h = await startHarness({ webhook: { url: 'x', specificEvents: ['InvoiceSettled'], automaticRedelivery: false } });
    h.fake.updateWebhook(h.webhookId, { url: h.rx.url });
    const client = new BtcpayClient({ url: h.source.url, apiKey: h.source.apiKey, storeId: h.source.storeId });
    await h.rx.setMode({ kind: 'status', status: 500 });
    const inv = h.fake.createInvoice({ amount: 0 });
    await h.fake.idle();
    await h.rx.heal();
    h.rx.received.length = 0;
    h.fake.updateWebhook(h.webhookId, { enabled: false });
    const r = await planRedelivery(client, { sinceMs: 3600_000, nowMs: h.clock.ms, apply: true, log });
    expect(r.items).toHaveLength(1);
    expect(r.items[0]).toMatchObject({ invoiceId: inv.id, action: 'not_sent' });
    expect(r.items[0]!.notSentReason).toMatch(/is disabled/);
    expect(formatRedeliverReport(r)).toMatch(/NOT SENT: webhook .* is disabled/);
    await h.fake.idle();
    expect(h.rx.received).toHaveLength(0);

    h.fake.updateWebhook(h.webhookId, { enabled: true });
    const ok = await planRedelivery(client, { sinceMs: 3600_000, nowMs: h.clock.ms, apply: true, log });
    expect(ok.items[0]).toMatchObject({ action: 'redelivered', outcome: { status: 'HttpSuccess', httpCode: 200 } });
    expect(formatRedeliverReport(ok)).toMatch(/redelivered as \S+: HttpSuccess HTTP 200/);
  });

  it('leaves an event alone while BTCPay may still retry it: the window is the 10-minute wait plus the 100 s attempt (src/btcpay/retry.ts)', async () => {
    h = await startHarness({ webhook: { url: 'x', specificEvents: ['InvoiceSettled'] } });
    h.fake.updateWebhook(h.webhookId, { url: h.rx.url });
    const client = new BtcpayClient({ url: h.source.url, apiKey: h.source.apiKey, storeId: h.source.storeId });
    await h.rx.setMode({ kind: 'status', status: 502 });
    h.fake.createInvoice({ amount: 0 });
    await h.fake.idle(); // nine attempts, all at the harness clock's "now"
    await h.rx.heal();
    expect(DEFAULT_PENDING_SECONDS).toBeGreaterThanOrEqual(600 + 100);
    h.advance(12 * 60_000); // past the old 11-minute window, still inside BTCPay's 10 min + 100 s
    const r = await planRedelivery(client, { sinceMs: 3600_000, nowMs: h.clock.ms, apply: true, log });
    expect(r.items.map((i) => i.action)).toEqual(['redelivery_pending']);
    h.advance(2 * 60_000);
    const later = await planRedelivery(client, { sinceMs: 3600_000, nowMs: h.clock.ms, apply: false, log });
    expect(later.items.map((i) => i.action)).toEqual(['would_redeliver']);
  });

  it('reports pruned deliveries instead of retrying them, and lists paid events never attempted', async () => {
    h = await startHarness({ webhook: { url: 'x', specificEvents: ['InvoiceSettled'], automaticRedelivery: false } });
    h.fake.updateWebhook(h.webhookId, { url: h.rx.url });
    const client = new BtcpayClient({ url: h.source.url, apiKey: h.source.apiKey, storeId: h.source.storeId });
    await h.rx.setMode({ kind: 'status', status: 503 });
    h.fake.createInvoice({ amount: 0 });
    await h.fake.idle();
    h.fake.pruneDeliveriesOlderThan(-1000);
    h.fake.updateWebhook(h.webhookId, { enabled: false });
    const lost = h.fake.createInvoice({ amount: 0 }); // no record at all
    await h.rx.heal();
    h.rx.received.length = 0;
    const r = await planRedelivery(client, { sinceMs: 3600_000, nowMs: h.clock.ms, apply: true, log });
    expect(r.items).toHaveLength(1);
    expect(r.items[0]!.action).toBe('pruned');
    expect(r.neverAttempted).toContain(lost.id);
    await h.fake.idle();
    expect(h.rx.received).toHaveLength(0);
    expect(formatRedeliverReport(r)).toMatch(/PRUNED[\s\S]*never attempted/);
  });

  it('a second apply while the first redelivery is still recent reports it pending and sends nothing', async () => {
    h = await startHarness({ webhook: { url: 'x', specificEvents: ['InvoiceSettled'], automaticRedelivery: false } });
    h.fake.updateWebhook(h.webhookId, { url: h.rx.url });
    const client = new BtcpayClient({ url: h.source.url, apiKey: h.source.apiKey, storeId: h.source.storeId });
    await h.rx.setMode({ kind: 'status', status: 500 }); // the receiver stays broken throughout
    const inv = h.fake.createInvoice({ amount: 0 });
    await h.fake.idle();
    h.advance(60_000);
    const first = await planRedelivery(client, { sinceMs: 3600_000, nowMs: h.clock.ms, apply: true, log });
    expect(first.items.map((i) => [i.invoiceId, i.action])).toEqual([[inv.id, 'redelivered']]);
    await h.fake.idle();
    const rowsAfterFirst = h.fake.deliveries(h.webhookId).length;
    expect(rowsAfterFirst).toBe(2); // the first attempt and the failed redelivery

    h.advance(2 * 60_000);
    const second = await planRedelivery(client, { sinceMs: 3600_000, nowMs: h.clock.ms, apply: true, log });
    expect(second.items).toHaveLength(1);
    expect(second.items[0]).toMatchObject({
      invoiceId: inv.id,
      action: 'redelivery_pending',
      pendingDeliveryId: first.items[0]!.newDeliveryId,
      pendingAgeSeconds: 120,
    });
    expect(formatRedeliverReport(second)).toMatch(/redelivery pending .*not sent again/);
    await h.fake.idle();
    expect(h.fake.deliveries(h.webhookId)).toHaveLength(rowsAfterFirst);

    // Once the redelivery is old enough to be final, the event is sent again.
    h.advance(15 * 60_000);
    const third = await planRedelivery(client, { sinceMs: 3600_000, nowMs: h.clock.ms, apply: true, log });
    expect(third.items.map((i) => i.action)).toEqual(['redelivered']);
    await h.fake.idle();
    expect(h.fake.deliveries(h.webhookId)).toHaveLength(rowsAfterFirst + 1);
  });

  it('runRedeliverCommand prints JSON or text and never the API key', async () => {
    h = await startHarness();
    const out: string[] = [];
    const code = await runRedeliverCommand({ source: h.source, sinceMs: 3600_000, apply: false, format: 'json', out: (s) => out.push(s) });
    expect(code).toBe(0);
    expect(JSON.parse(out[0]!)).toMatchObject({ applied: false, items: [] });
    h.fake.fault('/webhooks', { kind: 'garbage' });
    const bad = await runRedeliverCommand({ source: h.source, sinceMs: 3600_000, apply: true, format: 'text', out: (s) => out.push(s) });
    expect(bad).toBe(1);
    expect(out[1]).toMatch(/malformed/);
    expect(out.join('') + logLines.join('')).not.toContain(h.key);
  });
});

describe('hookwatch redeliver (the CLI as users run it)', () => {
  it('dry run lists without sending, --apply sends once, exit codes for usage and upstream errors', async () => {
    const fake = await startFakeBtcpay({ timeScale: 0.0005, deliveryTimeoutMs: 1000 });
    const rx = await startReceiver();
    const dir = mkdtempSync(join(tmpdir(), 'hw-redeliver-'));
    try {
      const key = fake.addApiKey([`btcpay.store.canmodifystoresettings:${fake.storeId}`], 'hookwatch');
      const hook = fake.createWebhook({ url: rx.url, specificEvents: ['InvoiceSettled'], automaticRedelivery: false });
      const cfg = join(dir, 'hookwatch.yaml');
      writeFileSync(
        cfg,
        `sources:
  shop:
    type: btcpay
    url: ${fake.url}
    apiKey: { env: HW_REDELIVER_KEY }
    storeId: ${fake.storeId}
probes:
  - name: shop-delivery
    type: delivery_rate
    source: shop
    webhookId: ${hook.id}
`,
      );
      const env = { HW_REDELIVER_KEY: key };
      const cli = (...args: string[]) => runCli(['redeliver', '--config.file', cfg, '--probe', 'shop-delivery', ...args], { env, timeoutMs: 60_000 });

      await rx.setMode({ kind: 'status', status: 500 });
      const bad = [fake.createInvoice({ amount: 0 }), fake.createInvoice({ amount: 0 })];
      await fake.idle();
      await rx.heal();
      rx.received.length = 0;

      const dry = await cli('--since', '6h', '--format', 'json');
      expect(dry.code).toBe(0);
      const dryReport = JSON.parse(dry.stdout) as { applied: boolean; items: Array<{ invoiceId: string; action: string }> };
      expect(dryReport.applied).toBe(false);
      expect(dryReport.items.map((i) => i.invoiceId).sort()).toEqual(bad.map((b) => b.id).sort());
      expect(dryReport.items.every((i) => i.action === 'would_redeliver')).toBe(true);
      const dryText = await cli('--since', '6h');
      expect(dryText.code).toBe(0);
      expect(dryText.stdout).toMatch(/DRY RUN[\s\S]*would redeliver: InvoiceSettled invoice/);
      await fake.idle();
      expect(rx.received).toHaveLength(0);

      const applied = await cli('--since', '6h', '--apply', '--format', 'json');
      expect(applied.code).toBe(0);
      expect((JSON.parse(applied.stdout) as { items: Array<{ action: string }> }).items.map((i) => i.action)).toEqual(['redelivered', 'redelivered']);
      await fake.idle();
      expect(rx.received.map((r) => r.body.invoiceId).sort()).toEqual(bad.map((b) => b.id).sort());

      // Delivered now: a second apply sends nothing.
      const again = await cli('--since', '6h', '--apply');
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/nothing to redeliver/);
      await fake.idle();
      expect(rx.received).toHaveLength(2);

      // Usage errors exit 2; an upstream failure exits 1 with a reason.
      expect((await runCli(['redeliver', '--config.file', cfg, '--probe', 'nope'], { env })).code).toBe(2);
      expect((await cli('--since', 'soon')).code).toBe(2);
      fake.fault('/webhooks', { kind: 'garbage' });
      const broken = await cli('--since', '6h', '--apply');
      expect(broken.code).toBe(1);
      expect(broken.stdout).toMatch(/malformed/);

      const all = [dry, dryText, applied, again, broken].map((r) => r.stdout + r.stderr).join('');
      expect(all).not.toContain(key);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await fake.close();
      await rx.stop();
    }
  }, 120_000);
});
