// Contract tests pinning the fake BTCPay to docs/btcpay-greenfield.md (the §N in test names are its sections):
// one per endpoint and per trap. They talk raw HTTP (undici) so they test the wire format, not our client's reading of it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import dnsPacket from 'dns-packet';
import { request } from 'undici';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeBtcpay, RETRY_SCHEDULE_MS, type FakeBtcpay } from '../src/sim/btcpay/index.ts';
import { startReceiver, type TestReceiver } from '../src/sim/btcpay/recording-receiver.ts';
import { bin, missingBinaries } from './helpers/daemons.ts';
import { RETRY_CYCLE_SEC } from '../src/btcpay/retry.ts';

let fake: FakeBtcpay;
let rx: TestReceiver;
let key: string;

async function api(method: string, path: string, body?: unknown, k: string | null = key) {
  const res = await request(fake.url + path, {
    method: method as 'GET',
    headers: { ...(k ? { authorization: `token ${k}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, text, json: json as any };
}
const S = () => `/api/v1/stores/${fake.storeId}`;

async function until<T>(f: () => T | undefined | false, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

beforeAll(async () => {
  rx = await startReceiver();
  fake = await startFakeBtcpay({ timeScale: 0.0005, deliveryTimeoutMs: 500 });
  key = fake.addApiKey(['btcpay.store.canmodifystoresettings']);
});
afterAll(async () => {
  await fake.close();
  await rx.stop();
});
afterEach(async () => {
  fake.restart();
  for (const id of [...fake.webhooks.keys()]) fake.deleteWebhook(id);
  await rx.heal();
  rx.received.length = 0;
});

describe('auth and errors (§1, §8)', () => {
  it('api-keys/current returns label and permissions; no key gives 401 unauthenticated', async () => {
    const r = await api('GET', '/api/v1/api-keys/current');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ apiKey: key, label: expect.any(String), permissions: ['btcpay.store.canmodifystoresettings'] });
    const anon = await api('GET', '/api/v1/api-keys/current', undefined, null);
    expect(anon.status).toBe(401);
    expect(anon.json.code).toBe('unauthenticated');
    const bearer = await request(fake.url + '/api/v1/api-keys/current', { headers: { authorization: `Bearer ${key}` } });
    expect(bearer.statusCode).toBe(200);
    await bearer.body.dump();
  });

  it('403 missing-permission names the policy; store scopes are honoured; canviewstoresettings cannot read webhooks', async () => {
    const view = fake.addApiKey(['btcpay.store.canviewstoresettings']);
    const r = await api('GET', `${S()}/webhooks`, undefined, view);
    expect(r.status).toBe(403);
    expect(r.json).toMatchObject({ code: 'missing-permission', missingPermission: 'btcpay.store.webhooks.canmodifywebhooks' });
    expect((await api('GET', `${S()}/invoices`, undefined, view)).status).toBe(200);
    const other = fake.addApiKey(['btcpay.store.webhooks.canmodifywebhooks:SomeOtherStore']);
    expect((await api('GET', `${S()}/webhooks`, undefined, other)).status).toBe(403);
    const scoped = fake.addApiKey([`btcpay.store.webhooks.canmodifywebhooks:${fake.storeId}`]);
    expect((await api('GET', `${S()}/webhooks`, undefined, scoped)).status).toBe(200);
    expect((await api('GET', `${S()}/invoices`, undefined, scoped)).status).toBe(403);
    // The 403 body words the policy as BTCPay does (GreenfieldPermissionAPIError.cs).
    expect(r.json.message).toBe(
      'Insufficient API Permissions. Please use an API key with permission "btcpay.store.webhooks.canmodifywebhooks". You can create an API key in your account\'s settings / Api Keys.',
    );
  });

  it('an unknown storeId is 403 missing-permission, not 404, even for an unrestricted key (PermissionAuthorizationHandler.cs)', async () => {
    const all = fake.addApiKey(['unrestricted']);
    for (const path of ['/api/v1/stores/NoSuchStore/webhooks', '/api/v1/stores/NoSuchStore/invoices']) {
      const r = await api('GET', path, undefined, all);
      expect(r.status).toBe(403);
      expect(r.json.code).toBe('missing-permission');
    }
  });

  it("a key's rights are capped by its user's store role: an Employee's key with canmodifystoresettings cannot read webhooks", async () => {
    const emp = fake.addApiKey([`btcpay.store.canmodifystoresettings:${fake.storeId}`], 'employee', 'Employee');
    const cur = await api('GET', '/api/v1/api-keys/current', undefined, emp);
    expect(cur.json.permissions).toEqual([`btcpay.store.canmodifystoresettings:${fake.storeId}`]); // the key check passes...
    const r = await api('GET', `${S()}/webhooks`, undefined, emp);
    expect(r.status).toBe(403); // ...the call does not
    expect(r.json.missingPermission).toBe('btcpay.store.webhooks.canmodifywebhooks');
    expect((await api('GET', `${S()}/invoices`, undefined, emp)).status).toBe(200);
  });

  it('health is anonymous and answers {synchronized}', async () => {
    const r = await api('GET', '/api/v1/health', undefined, null);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ synchronized: true });
  });
});

describe('webhooks (§2)', () => {
  it('create returns the secret once; GET never does; defaults are enabled/automaticRedelivery/everything', async () => {
    const c = await api('POST', `${S()}/webhooks`, { url: rx.url });
    expect(c.status).toBe(200);
    expect(c.json).toMatchObject({ enabled: true, automaticRedelivery: true, url: rx.url, authorizedEvents: { everything: true, specificEvents: [] } });
    expect(typeof c.json.secret).toBe('string');
    expect(c.json.secret.length).toBeGreaterThan(10);
    const g = await api('GET', `${S()}/webhooks/${c.json.id}`);
    expect(g.json).not.toHaveProperty('secret');
    const l = await api('GET', `${S()}/webhooks`);
    expect(l.json.map((w: any) => w.id)).toEqual([c.json.id]);
    expect(l.json[0]).not.toHaveProperty('secret');
  });

  it('PUT replaces the whole object: omitted fields return to defaults, the secret is kept', async () => {
    const c = await api('POST', `${S()}/webhooks`, {
      url: rx.url,
      secret: 'keepme-secret',
      enabled: false,
      automaticRedelivery: false,
      authorizedEvents: { everything: false, specificEvents: ['InvoiceSettled'] },
    });
    const p = await api('PUT', `${S()}/webhooks/${c.json.id}`, { url: rx.url });
    expect(p.json).toMatchObject({ enabled: true, automaticRedelivery: true, authorizedEvents: { everything: true } });
    expect(fake.webhooks.get(c.json.id)!.secret).toBe('keepme-secret');
  });

  it('422 is an array of {path, message} for a relative URL (GreenfieldExtensions.cs CreateValidationError); an unknown or deleted webhook id is 403 missing-permission (BuiltInPermissionScopeProvider.cs); DELETE cascades deliveries', async () => {
    const bad = await api('POST', `${S()}/webhooks`, { url: '/relative' });
    expect(bad.status).toBe(422);
    expect(bad.json).toEqual([{ path: 'Url', message: expect.any(String) }]);
    for (const path of ['/webhooks/nope', '/webhooks/nope/deliveries?count=5', '/webhooks/nope/deliveries/x']) {
      const nf = await api('GET', `${S()}${path}`);
      expect(nf.status).toBe(403);
      expect(nf.json).toMatchObject({ code: 'missing-permission', missingPermission: 'btcpay.store.webhooks.canmodifywebhooks' });
    }
    const w = fake.createWebhook({ url: rx.url });
    fake.createInvoice({ amount: 0 });
    await fake.idle();
    expect(fake.deliveries(w.id).length).toBe(3);
    expect((await api('GET', `${S()}/webhooks/${w.id}/deliveries/${'x'}`)).json.code).toBe('webhookdelivery-not-found');
    expect((await api('DELETE', `${S()}/webhooks/${w.id}`)).status).toBe(200);
    expect((await api('GET', `${S()}/webhooks/${w.id}/deliveries?count=10`)).status).toBe(403);
  });
});

describe('deliveries (§3) and the sender (§4-§6)', () => {
  it('zero-amount invoice: Created, Processing, Settled, signed pretty JSON over exact bytes, BTCPay user agent', async () => {
    const w = fake.createWebhook({ url: rx.url, secret: 'wh-secret-1' });
    const inv = fake.createInvoice({ amount: 0, metadata: { orderId: 'o-1' } });
    await fake.idle();
    expect(rx.received.map((r) => r.body.type)).toEqual(['InvoiceCreated', 'InvoiceProcessing', 'InvoiceSettled']);
    const settled = rx.received[2]!;
    expect(settled.headers['user-agent']).toMatch(/^BTCPayServer\//);
    expect(settled.headers['content-type']).toBe('application/json');
    const sig = createHmac('sha256', 'wh-secret-1').update(Buffer.from(settled.raw, 'utf8')).digest('hex');
    expect(settled.headers['btcpay-sig']).toBe(`sha256=${sig}`);
    expect(settled.raw).toBe(JSON.stringify(settled.body, null, 2));
    expect(Object.keys(settled.body)).toEqual([
      'manuallyMarked',
      'overPaid',
      'deliveryId',
      'webhookId',
      'originalDeliveryId',
      'isRedelivery',
      'type',
      'timestamp',
      'storeId',
      'invoiceId',
      'metadata',
    ]);
    expect(settled.body).toMatchObject({ webhookId: w.id, isRedelivery: false, invoiceId: inv.id, storeId: fake.storeId, metadata: { orderId: 'o-1' } });
    expect(settled.body.originalDeliveryId).toBe(settled.body.deliveryId);
    expect(Number.isInteger(settled.body.timestamp)).toBe(true);
    // /request returns the exact stored bytes
    const req = await api('GET', `${S()}/webhooks/${w.id}/deliveries/${settled.body.deliveryId}/request`);
    expect(req.text).toBe(settled.raw);
  });

  it('a zero-amount invoice is created New with no payment methods and settles moments later; an omitted amount is a top-up invoice that waits (InvoiceWatcher.cs, GreenfieldInvoiceController.cs)', async () => {
    const created = await api('POST', `${S()}/invoices`, { amount: '0', currency: 'USD' });
    expect(created.status).toBe(200);
    expect(created.json).toMatchObject({ status: 'New', type: 'Standard' });
    await fake.idle();
    expect((await api('GET', `${S()}/invoices/${created.json.id}`)).json.status).toBe('Settled');
    expect((await api('GET', `${S()}/invoices/${created.json.id}/payment-methods`)).json).toEqual([]);
    const topUp = await api('POST', `${S()}/invoices`, { currency: 'USD' });
    expect(topUp.json).toMatchObject({ status: 'New', type: 'TopUp' });
    await fake.idle();
    expect((await api('GET', `${S()}/invoices/${topUp.json.id}`)).json.status).toBe('New');
    expect((await api('GET', `${S()}/invoices/${topUp.json.id}/payment-methods`)).json).toHaveLength(1);
    const neg = await api('POST', `${S()}/invoices`, { amount: '-1' });
    expect(neg.status).toBe(422);
  });

  it('event order: on-chain ReceivedPayment, Processing, PaymentSettled, Settled; Lightning PaymentSettled first (PaymentService.cs, LightningListener.cs)', async () => {
    fake.createWebhook({ url: rx.url, specificEvents: ['InvoiceReceivedPayment', 'InvoiceProcessing', 'InvoicePaymentSettled', 'InvoiceSettled'] });
    fake.settleInvoice(fake.createInvoice({ amount: 10, paymentMethod: 'chain' }).id);
    await fake.idle();
    expect(rx.received.map((r) => r.body.type)).toEqual(['InvoiceReceivedPayment', 'InvoiceProcessing', 'InvoicePaymentSettled', 'InvoiceSettled']);
    rx.received.length = 0;
    fake.settleInvoice(fake.createInvoice({ amount: 10, paymentMethod: 'lightning' }).id);
    await fake.idle();
    expect(rx.received.map((r) => r.body.type)).toEqual(['InvoicePaymentSettled', 'InvoiceReceivedPayment', 'InvoiceProcessing', 'InvoiceSettled']);
  });

  it('the invoice list embeds payment methods with includePaymentMethods=true (GreenfieldInvoiceController.cs ToModel)', async () => {
    const inv = fake.createInvoice({ amount: 10 });
    fake.settleInvoice(inv.id);
    const withPm = (await api('GET', `${S()}/invoices?includePaymentMethods=true`)).json.find((i: any) => i.id === inv.id);
    expect(withPm.paymentMethods[0]).toMatchObject({ paymentMethodId: 'BTC-CHAIN', payments: [expect.objectContaining({ status: 'Settled' })] });
    const without = (await api('GET', `${S()}/invoices`)).json.find((i: any) => i.id === inv.id);
    expect(without.paymentMethods).toEqual([]);
  });

  it('list: newest first, count limits, no count returns every row, an unknown webhook is 403 (2.4.0+, BuiltInPermissionScopeProvider.cs)', async () => {
    const w = fake.createWebhook({ url: rx.url });
    for (let i = 0; i < 3; i++) fake.createInvoice({ amount: 0 });
    await fake.idle();
    const all = await api('GET', `${S()}/webhooks/${w.id}/deliveries`);
    expect(all.json.length).toBe(9);
    const ts = all.json.map((d: any) => d.timestamp);
    expect([...ts].sort((a: number, b: number) => b - a)).toEqual(ts);
    expect(Object.keys(all.json[0])).toEqual(['id', 'timestamp', 'deliveryTime', 'httpCode', 'errorMessage', 'status']);
    expect(all.json[0]).toMatchObject({ status: 'HttpSuccess', httpCode: 200, errorMessage: null });
    const two = await api('GET', `${S()}/webhooks/${w.id}/deliveries?count=2`);
    expect(two.json.map((d: any) => d.id)).toEqual(all.json.slice(0, 2).map((d: any) => d.id));
    expect((await api('GET', `${S()}/webhooks/unknownhook/deliveries?count=5`)).status).toBe(403);
    const one = await api('GET', `${S()}/webhooks/${w.id}/deliveries/${all.json[0].id}`);
    expect(one.json).toEqual(all.json[0]);
  });

  it('each retry is its own row; 5xx retried on the 10s/1m/10m x6 schedule (9 attempts), "HTTP Error Code" text', async () => {
    expect(RETRY_SCHEDULE_MS).toEqual([10_000, 60_000, 600_000, 600_000, 600_000, 600_000, 600_000, 600_000]);
    await rx.setMode({ kind: 'status', status: 500 });
    const w = fake.createWebhook({ url: rx.url, specificEvents: ['InvoiceSettled'] });
    fake.createInvoice({ amount: 0 });
    await fake.idle(15_000);
    const rows = fake.deliveries(w.id);
    expect(rows.length).toBe(9);
    expect(new Set(rows.map((r) => r.id)).size).toBe(9);
    expect(rows.every((r) => r.status === 'HttpError' && r.httpCode === 500 && r.errorMessage === 'HTTP Error Code 500')).toBe(true);
    const bodies = rx.received.map((r) => r.body);
    expect(bodies[0]!.isRedelivery).toBe(false);
    expect(
      bodies.slice(1).every((b) => b.isRedelivery === true && b.originalDeliveryId === bodies[0]!.deliveryId && b.timestamp === bodies[0]!.timestamp),
    ).toBe(true);
    // Retries re-serialise from the stored body: common fields first.
    expect(Object.keys(bodies[1]!).slice(0, 6)).toEqual(['deliveryId', 'webhookId', 'originalDeliveryId', 'isRedelivery', 'type', 'timestamp']);
  });

  it('a 4xx other than 408/429 stops the retries (2.3.4+); automaticRedelivery off means one attempt', async () => {
    await rx.setMode({ kind: 'status', status: 404 });
    const a = fake.createWebhook({ url: rx.url, specificEvents: ['InvoiceSettled'] });
    fake.createInvoice({ amount: 0 });
    await fake.idle();
    expect(fake.deliveries(a.id).length).toBe(1);
    fake.deleteWebhook(a.id);
    await rx.setMode({ kind: 'status', status: 503 });
    const b = fake.createWebhook({ url: rx.url, specificEvents: ['InvoiceSettled'], automaticRedelivery: false });
    fake.createInvoice({ amount: 0 });
    await fake.idle();
    expect(fake.deliveries(b.id).length).toBe(1);
  });

  it('no HTTP response is a Failed row with httpCode null and the .NET error text', async () => {
    await rx.setMode({ kind: 'down' });
    const w = fake.createWebhook({ url: rx.url, specificEvents: ['InvoiceSettled'], automaticRedelivery: false });
    fake.createInvoice({ amount: 0 });
    await fake.idle();
    const [row] = fake.deliveries(w.id);
    expect(row).toMatchObject({ status: 'Failed', httpCode: null, errorMessage: `Connection refused (127.0.0.1:${rx.port})` });
  });

  it('a receiver that never answers is the HttpClient.Timeout text (100 s, whatever the simulated wait), a reset is "Connection reset by peer"', async () => {
    const f2 = await startFakeBtcpay({ deliveryTimeoutMs: 300 });
    const { createServer } = await import('node:http');
    const rst = createServer((req) => req.socket.destroy());
    await new Promise<void>((r) => rst.listen(0, '127.0.0.1', r));
    try {
      await rx.setMode({ kind: 'hang' });
      const hang = f2.createWebhook({ url: rx.url, specificEvents: ['InvoiceSettled'], automaticRedelivery: false });
      const reset = f2.createWebhook({
        url: `http://127.0.0.1:${(rst.address() as AddressInfo).port}/hook`,
        specificEvents: ['InvoiceSettled'],
        automaticRedelivery: false,
      });
      f2.createInvoice({ amount: 0 });
      await f2.idle();
      expect(f2.deliveries(hang.id)[0]).toMatchObject({
        status: 'Failed',
        httpCode: null,
        errorMessage: 'The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing.',
      });
      expect(f2.deliveries(reset.id)[0]).toMatchObject({ status: 'Failed', httpCode: null, errorMessage: 'Connection reset by peer' });
    } finally {
      await rx.heal();
      await f2.close();
      rst.closeAllConnections();
      await new Promise<void>((r) => rst.close(() => r()));
    }
  });

  it('re-checks the webhook at send time: queued events of a webhook disabled meanwhile are dropped without a row, manual redeliveries too (WebhookSender.cs Process)', async () => {
    const f2 = await startFakeBtcpay({ deliveryTimeoutMs: 1500, timeScale: 0.0001 });
    const k = f2.addApiKey(['unrestricted']);
    try {
      await rx.setMode({ kind: 'hang' });
      const w = f2.createWebhook({ url: rx.url, automaticRedelivery: false });
      f2.createInvoice({ amount: 0 }); // Created (in flight), Processing and Settled queued
      await new Promise((r) => setTimeout(r, 200)); // the first attempt is under way (it times out after 1.5 s)
      f2.updateWebhook(w.id, { enabled: false });
      await f2.idle();
      expect(f2.deliveries(w.id)).toHaveLength(1);
      expect(f2.droppedAtSend).toBe(2);
      // A manual redelivery on the disabled webhook: the API hands out a new id, nothing is sent, no row appears.
      const before = rx.received.length;
      const res = await request(`${f2.url}/api/v1/stores/${f2.storeId}/webhooks/${w.id}/deliveries/${f2.deliveries(w.id)[0]!.id}/redeliver`, {
        method: 'POST',
        headers: { authorization: `token ${k}` },
      });
      expect(res.statusCode).toBe(200);
      expect(typeof (await res.body.json())).toBe('string');
      await f2.idle();
      expect(f2.deliveries(w.id)).toHaveLength(1);
      expect(rx.received.length).toBe(before);
      expect(f2.droppedAtSend).toBe(3);
    } finally {
      await rx.heal();
      await f2.close();
    }
  });

  it('the first attempt uses the URL captured when the event was created; only retries read the webhook again', async () => {
    const f2 = await startFakeBtcpay({ deliveryTimeoutMs: 300, timeScale: 0.0001 });
    const rx2 = await startReceiver();
    try {
      await rx.setMode({ kind: 'hang' });
      const w = f2.createWebhook({ url: rx.url, specificEvents: ['InvoiceCreated', 'InvoiceSettled'] });
      f2.createInvoice({ amount: 0 }); // Created in flight, Settled queued with the old URL
      await new Promise((r) => setTimeout(r, 100));
      f2.updateWebhook(w.id, { url: rx2.url });
      await f2.idle(15_000);
      // rx2 got both events, but only as retries: every first attempt went to the URL captured at fan-out.
      expect(new Set(rx2.received.map((r) => r.body.type))).toEqual(new Set(['InvoiceCreated', 'InvoiceSettled']));
      expect(rx2.received.every((r) => r.body.isRedelivery === true)).toBe(true);
    } finally {
      await rx.heal();
      await rx2.stop();
      await f2.close();
    }
  });

  it('virtual clock: an attempt that times out holds the queue 100 s before its row is written, and events stack behind a full retry cycle (WebhookSender.cs, MultiProcessingQueue.cs)', async () => {
    const t0 = Date.UTC(2026, 0, 1);
    const f2 = await startFakeBtcpay({ clock: 'virtual', startMs: t0, deliveryTimeoutMs: 200 });
    try {
      await rx.setMode({ kind: 'hang' });
      const w = f2.createWebhook({ url: rx.url, specificEvents: ['InvoiceSettled'] });
      f2.createInvoice({ amount: 0 });
      f2.createInvoice({ amount: 0 }); // queued behind the first
      await f2.run(99_000);
      expect(f2.deliveries(w.id)).toHaveLength(0); // the attempt is still "in flight"
      await f2.run(1_000);
      expect(f2.deliveries(w.id)).toHaveLength(1);
      expect(f2.deliveries(w.id)[0]).toMatchObject({ timestamp: t0 / 1000, deliveryTime: t0 / 1000 });
      await rx.heal();
      await f2.run(RETRY_CYCLE_SEC * 1000);
      const rows = f2.deliveries(w.id);
      const second = rows.find((r) => r.originalDeliveryId !== rows.at(-1)!.originalDeliveryId)!;
      // The first retry (100 s attempt + 10 s wait) succeeds now that the receiver answers; the second event follows at once.
      expect(second).toMatchObject({ status: 'HttpSuccess', timestamp: t0 / 1000 });
      expect(second.deliveryTime! - second.timestamp).toBe(100 + 10);
    } finally {
      await rx.heal();
      await f2.close();
    }
  });

  it('in-order queue: a retrying delivery blocks later events, which then land with old timestamps and a deliveryTime gap', async () => {
    let clock = Date.UTC(2026, 0, 1);
    // Retry waits of 20 ms, 120 ms, then 1.2 s: the loop is still running when the clock moves and we heal.
    const f2 = await startFakeBtcpay({ timeScale: 0.002, now: () => clock });
    try {
      await rx.setMode({ kind: 'status', status: 500 });
      const w = f2.createWebhook({ url: rx.url, specificEvents: ['InvoiceSettled'] });
      f2.createInvoice({ amount: 0 });
      clock += 5_000;
      f2.createInvoice({ amount: 0 }); // queued behind the first one's retries: invisible
      await until(() => f2.deliveries(w.id).length >= 2);
      clock += 600_000; // the retries take "ten minutes"
      expect(f2.deliveries(w.id).every((r) => r.originalDeliveryId === f2.deliveries(w.id)[0]!.originalDeliveryId)).toBe(true);
      await rx.heal();
      await f2.idle(15_000);
      const rows = f2.deliveries(w.id); // newest first by timestamp
      const second = rows.find(
        (r) => r.originalDeliveryId !== rows.at(-1)!.originalDeliveryId && r.status === 'HttpSuccess' && !JSON.parse(r.body).isRedelivery,
      )!;
      expect(second).toBeDefined();
      expect(second.deliveryTime! - second.timestamp).toBeGreaterThanOrEqual(600);
      // It was written last but sorts below the retry rows created later.
      expect(rows.indexOf(second)).toBeGreaterThan(0);
    } finally {
      await f2.close();
    }
  });

  it('disabled webhooks get no record; a restart drops queued events without a trace', async () => {
    const w = fake.createWebhook({ url: rx.url, enabled: false });
    fake.createInvoice({ amount: 0 });
    await fake.idle();
    expect(fake.deliveries(w.id)).toEqual([]);
    fake.updateWebhook(w.id, { enabled: true });
    await rx.setMode({ kind: 'status', status: 500 });
    fake.createInvoice({ amount: 0 });
    await until(() => fake.deliveries(w.id).length >= 1);
    fake.restart();
    await fake.idle();
    const n = fake.deliveries(w.id).length;
    await new Promise((r) => setTimeout(r, 100));
    expect(fake.deliveries(w.id).length).toBe(n);
    expect(fake.deliveries(w.id).every((r) => r.type === 'InvoiceCreated')).toBe(true);
  });

  it('redeliver returns the new id as a JSON string; redelivering a redelivery keeps the first id', async () => {
    await rx.setMode({ kind: 'status', status: 400 });
    const w = fake.createWebhook({ url: rx.url, specificEvents: ['InvoiceSettled'] });
    fake.createInvoice({ amount: 0 });
    await fake.idle();
    const [first] = fake.deliveries(w.id);
    await rx.heal();
    rx.received.length = 0;
    const r = await api('POST', `${S()}/webhooks/${w.id}/deliveries/${first!.id}/redeliver`);
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/^"[1-9A-HJ-NP-Za-km-z]+"$/);
    await fake.idle();
    const again = await api('POST', `${S()}/webhooks/${w.id}/deliveries/${r.json}/redeliver`);
    await fake.idle();
    const bodies = rx.received.map((x) => x.body);
    expect(bodies.map((b) => b.deliveryId)).toEqual([r.json, again.json]);
    expect(bodies.every((b) => b.originalDeliveryId === first!.id && b.isRedelivery === true)).toBe(true);
    expect(fake.deliveries(w.id)[0]!.status).toBe('HttpSuccess');
  });

  it('pruning keeps rows but strips bodies: /request and /redeliver give 409 webhookdelivery-pruned', async () => {
    let clock = Date.UTC(2026, 0, 1);
    const f2 = await startFakeBtcpay({ now: () => clock });
    try {
      const k = f2.addApiKey(['unrestricted']);
      const w = f2.createWebhook({ url: rx.url, specificEvents: ['InvoiceSettled'] });
      f2.createInvoice({ amount: 0 });
      await f2.idle();
      clock += 61 * 86_400_000;
      expect(f2.pruneDeliveriesOlderThan(60 * 86_400_000)).toBe(1);
      const [row] = f2.deliveries(w.id);
      const base = `${f2.url}/api/v1/stores/${f2.storeId}/webhooks/${w.id}/deliveries`;
      const list = await request(`${base}?count=5`, { headers: { authorization: `token ${k}` } });
      expect(((await list.body.json()) as any[])[0]).toMatchObject({ id: row!.id, status: 'HttpSuccess' });
      for (const [m, p] of [
        ['GET', 'request'],
        ['POST', 'redeliver'],
      ] as const) {
        const r = await request(`${base}/${row!.id}/${p}`, { method: m, headers: { authorization: `token ${k}` } });
        expect(r.statusCode).toBe(409);
        expect(((await r.body.json()) as any).code).toBe('webhookdelivery-pruned');
      }
    } finally {
      await f2.close();
    }
  });

  it('resolves the receiver host through the configured DNS server (stale cache or NXDOMAIN)', async () => {
    const dns: Socket = createSocket('udp4');
    dns.on('message', (msg, rinfo) => {
      const q = dnsPacket.decode(msg);
      const name = q.questions?.[0]?.name ?? '';
      const answers = name === 'receiver.test' ? [{ type: 'A' as const, name, ttl: 60, data: '127.0.0.1' }] : [];
      // gone.test: NXDOMAIN (rcode 3); broken.test: SERVFAIL (rcode 2), what getaddrinfo reports as EAI_AGAIN.
      const rcode = name === 'receiver.test' ? 0 : name === 'broken.test' ? 2 : 3;
      const out = dnsPacket.encode({ type: 'response', id: q.id, flags: rcode | dnsPacket.RECURSION_DESIRED, questions: q.questions, answers });
      dns.send(out, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => dns.bind(0, '127.0.0.1', r));
    const f2 = await startFakeBtcpay({ resolver: `127.0.0.1:${dns.address().port}`, deliveryTimeoutMs: 2000 });
    try {
      const ok = f2.createWebhook({ url: `http://receiver.test:${rx.port}/hook`, specificEvents: ['InvoiceSettled'] });
      const bad = f2.createWebhook({ url: `http://gone.test:${rx.port}/hook`, specificEvents: ['InvoiceSettled'], automaticRedelivery: false });
      const flaky = f2.createWebhook({ url: `https://broken.test/hook`, specificEvents: ['InvoiceSettled'], automaticRedelivery: false });
      f2.createInvoice({ amount: 0 });
      await f2.idle();
      expect(f2.deliveries(ok.id)[0]).toMatchObject({ status: 'HttpSuccess' });
      // The exact .NET texts on Linux (WebhookSender.cs stores ex.Message): NXDOMAIN vs EAI_AGAIN.
      expect(f2.deliveries(bad.id)[0]).toMatchObject({ status: 'Failed', httpCode: null, errorMessage: `Name or service not known (gone.test:${rx.port})` });
      expect(f2.deliveries(flaky.id)[0]).toMatchObject({
        status: 'Failed',
        httpCode: null,
        errorMessage: 'Resource temporarily unavailable (broken.test:443)',
      });
      expect(rx.received.at(-1)!.headers.host).toBe(`receiver.test:${rx.port}`);
    } finally {
      await f2.close();
      dns.close();
    }
  });
});

describe.skipIf(missingBinaries('openssl'))('TLS (§4)', () => {
  it('skips certificate validation for loopback URLs only; elsewhere a bad certificate is a Failed row with the .NET TLS text', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookwatch-tls-'));
    execFileSync(
      bin('openssl'),
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        '/CN=self-signed.invalid',
        '-days',
        '1',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
      ],
      { stdio: 'ignore' },
    );
    const srv = createHttpsServer({ key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) }, (_q, res) => res.end('ok'));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    const dns: Socket = createSocket('udp4');
    dns.on('message', (msg, rinfo) => {
      const q = dnsPacket.decode(msg);
      const name = q.questions?.[0]?.name ?? '';
      dns.send(
        dnsPacket.encode({
          type: 'response',
          id: q.id,
          flags: dnsPacket.RECURSION_DESIRED,
          questions: q.questions,
          answers: [{ type: 'A', name, ttl: 60, data: '127.0.0.1' }],
        }),
        rinfo.port,
        rinfo.address,
      );
    });
    await new Promise<void>((r) => dns.bind(0, '127.0.0.1', r));
    const f2 = await startFakeBtcpay({ resolver: `127.0.0.1:${dns.address().port}` });
    try {
      const loop = f2.createWebhook({ url: `https://127.0.0.1:${port}/hook`, specificEvents: ['InvoiceSettled'] });
      const named = f2.createWebhook({ url: `https://receiver.test:${port}/hook`, specificEvents: ['InvoiceSettled'], automaticRedelivery: false });
      f2.createInvoice({ amount: 0 });
      await f2.idle();
      expect(f2.deliveries(loop.id)[0]).toMatchObject({ status: 'HttpSuccess' });
      expect(f2.deliveries(named.id)[0]).toMatchObject({ status: 'Failed', errorMessage: expect.stringMatching(/SSL connection could not be established/) });
    } finally {
      await f2.close();
      srv.close();
      dns.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('invoices (§7)', () => {
  it('status aliases, unix-second date bounds (inclusive, on creation), skip/take, newest first, archived hidden', async () => {
    let clock = Date.UTC(2026, 1, 1);
    const f2 = await startFakeBtcpay({ now: () => clock });
    const k = f2.addApiKey(['btcpay.store.canmodifyinvoices']);
    const get = async (qs: string) => {
      const r = await request(`${f2.url}/api/v1/stores/${f2.storeId}/invoices${qs}`, { headers: { authorization: `token ${k}` } });
      return { status: r.statusCode, json: (await r.body.json()) as any };
    };
    try {
      const a = f2.createInvoice({ amount: '10.00', currency: 'EUR' });
      clock += 1000;
      const b = f2.createInvoice({ amount: 0 });
      clock += 1000;
      const c = f2.createInvoice({ amount: 5 });
      f2.settleInvoice(c.id);
      expect((await get('')).json.map((i: any) => i.id)).toEqual([c.id, b.id, a.id]);
      expect((await get('?status=complete')).json.map((i: any) => i.id)).toEqual([c.id, b.id]);
      expect((await get('?status=NEW')).json.map((i: any) => i.id)).toEqual([a.id]);
      expect((await get('?status=bogus')).json.length).toBe(3);
      expect((await get(`?startDate=${b.createdTime}&endDate=${b.createdTime}`)).json.map((i: any) => i.id)).toEqual([b.id]);
      const bad = await get('?startDate=2026-01-01');
      expect(bad.status).toBe(422);
      expect(bad.json[0]).toMatchObject({ path: 'startDate', message: 'Invalid unix timestamp' });
      // Both paths are named (GreenfieldInvoiceController.cs, GetInvoices).
      const swapped = await get(`?startDate=${c.createdTime}&endDate=${a.createdTime}`);
      expect(swapped.status).toBe(422);
      expect(swapped.json.map((e: any) => e.path)).toEqual(['startDate', 'endDate']);
      expect((await get('?skip=1&take=1')).json.map((i: any) => i.id)).toEqual([b.id]);
      const one = (await get(`/${a.id}`)).json;
      expect(one).toMatchObject({ id: a.id, amount: '10.00', currency: 'EUR', status: 'New', additionalStatus: 'None', type: 'Standard' });
      expect(Number.isInteger(one.createdTime)).toBe(true);
      const pm = (await get(`/${c.id}/payment-methods`)).json;
      expect(pm[0]).toMatchObject({ paymentMethodId: 'BTC-CHAIN', amount: expect.stringMatching(/^\d+\.\d+$/) });
      expect(pm[0].payments[0]).toMatchObject({ receivedDate: expect.any(Number), value: expect.any(String), status: 'Settled' });
      expect((await get(`/nope`)).json.code).toBe('invoice-not-found');
      const del = await request(`${f2.url}/api/v1/stores/${f2.storeId}/invoices/${a.id}`, { method: 'DELETE', headers: { authorization: `token ${k}` } });
      await del.body.dump();
      expect(del.statusCode).toBe(200);
      expect((await get('')).json.map((i: any) => i.id)).toEqual([c.id, b.id]);
      expect((await get('?includeArchived=true')).json.length).toBe(3);
    } finally {
      await f2.close();
    }
  });

  it('paid late: Expired + PaidLate, never Settled', async () => {
    const w = fake.createWebhook({ url: rx.url });
    const inv = fake.createInvoice({ amount: 3, paymentMethod: 'lightning' });
    const after = fake.expirePaidLate(inv.id);
    await fake.idle();
    expect(after).toMatchObject({ status: 'Expired', additionalStatus: 'PaidLate' });
    expect(rx.received.map((r) => r.body.type)).toEqual(['InvoiceCreated', 'InvoiceExpired', 'InvoiceReceivedPayment', 'InvoicePaidAfterExpiration']);
    expect(rx.received[2]!.body).toMatchObject({ afterExpiration: true, paymentMethodId: 'BTC-LN' });
    expect(fake.deliveries(w.id).length).toBe(4);
  });
});
