// Paid events without a delivery row: queued behind a delivery BTCPay is still retrying (wait, or fix the
// receiver) versus really never attempted (webhook disabled at the time, queue lost in a restart), which BTCPay
// cannot resend (its invoice page only redelivers an existing delivery, UIInvoiceController.UI.cs) and
// `redeliver --send-missing` posts itself: composed like BTCPay's redelivery, signed with the configured secret,
// dry run first, at most once per invoice across runs, refused without a secret.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BtcpayClient } from '../src/clients/btcpay/client.ts';
import { Secret } from '../src/secret.ts';
import { formatRedeliverReport, planRedelivery } from '../src/commands/redeliver/plan.ts';
import { formatSendMissing, sendMissing } from '../src/commands/redeliver/send-missing.ts';
import { runRedeliverCommand, webhookSecretsFromConfig } from '../src/commands/redeliver/index.ts';
import { startReceiver, type TestReceiver } from '../src/sim/btcpay/recording-receiver.ts';
import { startHarness, type Harness } from './helpers/btcpay-harness.ts';

let h: Harness;
let rx2: TestReceiver;
let dir: string;
beforeAll(async () => {
  h = await startHarness({ fake: { clock: 'virtual' }, webhook: { url: 'x' } });
  rx2 = await startReceiver();
  dir = mkdtempSync(join(tmpdir(), 'hookwatch-send-missing-'));
});
afterAll(async () => {
  await h.close();
  await rx2.stop();
  rmSync(dir, { recursive: true, force: true });
});
const log = { info: () => undefined, warn: () => undefined };

describe('paid events without a delivery row', () => {
  it('tells queued-behind-a-retry from never attempted, and --send-missing posts only the latter, once', async () => {
    const client = new BtcpayClient({ url: h.source.url, apiKey: h.source.apiKey, storeId: h.source.storeId });
    // Webhook 1: the receiver refuses; the first event's retries hold the queue, everything else waits behind it.
    h.fake.updateWebhook(h.webhookId, { url: h.rx.url });
    await h.rx.setMode({ kind: 'down' });
    // Webhook 2: disabled while the invoices are paid (BTCPay drops those events without a row), enabled later.
    const secret = 'webhook-2-secret-' + 'x'.repeat(8);
    const w2 = h.fake.createWebhook({ url: rx2.url, secret, specificEvents: ['InvoiceSettled'], enabled: false });
    const paid: string[] = [];
    for (let i = 0; i < 3; i++) {
      const inv = h.fake.createInvoice({ amount: 10, metadata: { orderId: `o-${i}` } });
      h.fake.settleInvoice(inv.id);
      paid.push(inv.id);
      await h.fake.run(30_000);
    }
    h.fake.updateWebhook(w2.id, { enabled: true });
    await h.fake.run(2 * 60_000);

    const report = await planRedelivery(client, { sinceMs: 3600_000, nowMs: h.clock.ms, apply: false, log });
    // Webhook 1: its only rows are the first InvoiceCreated's attempts; the three settled invoices wait behind it.
    expect(report.queuedBehind.map((q) => q.invoiceId).sort()).toEqual([...paid].sort());
    const q = report.queuedBehind[0]!;
    expect(q).toMatchObject({ webhookId: h.webhookId, blockingType: 'InvoiceCreated', blockingInvoiceId: paid[0] });
    expect(q.blockingLastError).toMatch(/^Connection refused/);
    // Webhook 2: never attempted.
    const never = report.missing.filter((m) => m.state === 'never_attempted');
    expect(never.map((m) => `${m.webhookId} ${m.invoiceId}`).sort()).toEqual(paid.map((p) => `${w2.id} ${p}`).sort());
    const text = formatRedeliverReport(report);
    expect(text).toMatch(/queued behind a retrying delivery: invoice .* waits behind delivery .*InvoiceCreated.*wait, or fix the receiver/);
    expect(text).toMatch(/never attempted: InvoiceSettled invoice .*hookwatch redeliver --send-missing/);
    expect(text).not.toMatch(/invoice page/);

    const record = join(dir, 'sent.jsonl');
    const webhooks = new Map([...h.fake.webhooks.values()].map((w) => [w.id, { url: w.url }]));
    const posts: Array<{ url: string; body: string; sig: string }> = [];
    const post = async (url: string, body: Buffer, headers: Record<string, string>) => {
      posts.push({ url, body: body.toString('utf8'), sig: headers['btcpay-sig']! });
      return { ok: true, status: 200 };
    };
    const base = { storeId: h.fake.storeId, webhooks, recordFile: record, nowSec: Math.floor(h.clock.ms / 1000), post };

    // Without a configured secret: refused.
    const refused = await sendMissing(report.missing, { ...base, apply: true, secrets: [] });
    expect(refused.map((i) => i.action)).toEqual(['refused_no_secret', 'refused_no_secret', 'refused_no_secret']);
    expect(posts).toHaveLength(0);

    const secrets = [{ url: rx2.url, secret: Secret.literal(secret) }];
    const dry = await sendMissing(report.missing, { ...base, apply: false, secrets });
    expect(dry.map((i) => i.action)).toEqual(['would_send', 'would_send', 'would_send']);
    expect(posts).toHaveLength(0);

    const sent = await sendMissing(report.missing, { ...base, apply: true, secrets });
    expect(sent.map((i) => i.action)).toEqual(['sent', 'sent', 'sent']);
    expect(posts.map((p) => p.url)).toEqual([rx2.url, rx2.url, rx2.url]);
    for (const p of posts) {
      expect(p.sig).toBe(`sha256=${createHmac('sha256', secret).update(p.body).digest('hex')}`);
      const body = JSON.parse(p.body);
      expect(p.body).toBe(JSON.stringify(body, null, 2));
      expect(Object.keys(body)).toEqual([
        'deliveryId',
        'webhookId',
        'originalDeliveryId',
        'isRedelivery',
        'type',
        'timestamp',
        'manuallyMarked',
        'overPaid',
        'storeId',
        'invoiceId',
        'metadata',
      ]);
      expect(body).toMatchObject({ webhookId: w2.id, isRedelivery: true, type: 'InvoiceSettled', storeId: h.fake.storeId });
      expect(body.metadata.orderId).toMatch(/^o-/);
    }
    expect(new Set(posts.map((p) => JSON.parse(p.body).deliveryId)).size).toBe(3);
    expect(formatSendMissing(sent, true, record)).toMatch(/SENT as delivery/);

    // A second run (a restart: only the record file carries over) sends nothing again.
    const again = await sendMissing(report.missing, { ...base, apply: true, secrets });
    expect(again.map((i) => i.action)).toEqual(['already_sent', 'already_sent', 'already_sent']);
    expect(posts).toHaveLength(3);
    expect(readFileSync(record, 'utf8').trim().split('\n')).toHaveLength(6); // intent + result per invoice
  });

  it('the command: --send-missing without a configured secret is refused (exit 1); with the secret of a btcpay-signing synthetic probe it sends once', async () => {
    const h2 = await startHarness({ webhook: { url: 'x', specificEvents: ['InvoiceSettled'], enabled: false } });
    try {
      const secret = 'cmd-secret-' + 'y'.repeat(10);
      h2.fake.updateWebhook(h2.webhookId, { url: h2.rx.url, secret });
      const inv = h2.fake.createInvoice({ amount: 0 });
      await h2.fake.idle();
      h2.fake.updateWebhook(h2.webhookId, { enabled: true });
      const record = join(dir, 'cmd.jsonl');
      const out: string[] = [];
      const common = { source: h2.source, sinceMs: 3600_000, nowMs: h2.clock.ms, format: 'text' as const, out: (x: string) => out.push(x), verifyMs: 0 };
      expect(await runRedeliverCommand({ ...common, apply: true, sendMissing: { secrets: [], recordFile: record } })).toBe(1);
      expect(out.join('\n')).toMatch(/REFUSED: no webhook secret configured/);
      const secrets = webhookSecretsFromConfig({
        probes: [
          {
            name: 's',
            type: 'synthetic',
            intervalMs: 1,
            timeoutMs: 1,
            thresholds: {},
            targets: [h2.rx.url],
            signing: { scheme: 'btcpay', secret: Secret.literal(secret) },
          },
        ],
      });
      expect(secrets).toHaveLength(1);
      out.length = 0;
      expect(await runRedeliverCommand({ ...common, apply: false, sendMissing: { secrets, recordFile: record } })).toBe(0);
      expect(out.join('\n')).toMatch(/DRY RUN[\s\S]*would send \(add --apply\): InvoiceSettled invoice/);
      expect(h2.rx.received).toHaveLength(0);
      expect(await runRedeliverCommand({ ...common, apply: true, sendMissing: { secrets, recordFile: record } })).toBe(0);
      expect(h2.rx.received).toHaveLength(1);
      const got = h2.rx.received[0]!;
      expect(got.headers['btcpay-sig']).toBe(`sha256=${createHmac('sha256', secret).update(got.raw).digest('hex')}`);
      expect(got.body).toMatchObject({ invoiceId: inv.id, type: 'InvoiceSettled', isRedelivery: true });
      expect(await runRedeliverCommand({ ...common, apply: true, sendMissing: { secrets, recordFile: record } })).toBe(0);
      expect(h2.rx.received).toHaveLength(1);
    } finally {
      await h2.close();
    }
  });
});
