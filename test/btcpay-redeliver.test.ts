// `hookwatch redeliver` semantics against the fake: dry run by default, one resend per failed paid event,
// never again once it succeeded, pruned deliveries reported, events never attempted listed, no key in output.
import { afterEach, describe, expect, it } from 'vitest';
import { BtcpayClient } from '../src/clients/btcpay/client.ts';
import { formatRedeliverReport, planRedelivery } from '../src/clients/btcpay/redeliver.ts';
import { runRedeliverCommand } from '../src/clients/btcpay/redeliver-command.ts';
import { startHarness, type Harness } from './fakes/btcpay/harness.ts';

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
