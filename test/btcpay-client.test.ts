// The Greenfield client against the fake: every endpoint, the permission tree, retries only where they
// belong, and bad upstream data (garbage, truncated, huge, slow) turned into typed errors without the API key.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { inspect } from 'node:util';
import { BtcpayClient, BtcpayError, DEFAULT_MAX_RESPONSE_BYTES } from '../src/clients/btcpay/client.ts';
import { missingPermissions } from '../src/btcpay/permissions.ts';
import { Secret } from '../src/secret.ts';
import { startFakeBtcpay, type FakeBtcpay } from '../src/sim/btcpay/index.ts';
import { startReceiver, type TestReceiver } from '../src/sim/btcpay/recording-receiver.ts';

let fake: FakeBtcpay;
let rx: TestReceiver;
let key: string;
const client = (o: Partial<ConstructorParameters<typeof BtcpayClient>[0]> = {}) =>
  new BtcpayClient({ url: fake.url, apiKey: Secret.literal(key, 'env:BTCPAY_KEY'), storeId: fake.storeId, retryMinTimeoutMs: 5, ...o });

async function failure(p: Promise<unknown>): Promise<BtcpayError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(BtcpayError);
    const err = e as BtcpayError;
    // The API key never leaks through any rendering of an error.
    for (const text of [err.message, String(err), JSON.stringify(err), inspect(err), err.stack ?? '']) expect(text).not.toContain(key);
    return err;
  }
  throw new Error('expected a failure');
}

beforeAll(async () => {
  rx = await startReceiver();
  fake = await startFakeBtcpay({ timeScale: 0.001 });
  key = fake.addApiKey([`btcpay.store.canmodifystoresettings:${fake.storeId}`]);
});
afterAll(async () => {
  await fake.close();
  await rx.stop();
});
beforeEach(() => fake.clearFaults());

describe('permissions', () => {
  it('understands the policy tree and store scopes', () => {
    const s = 'STORE1';
    expect(missingPermissions(['btcpay.store.canmodifystoresettings'], ['btcpay.store.webhooks.canmodifywebhooks', 'btcpay.store.canviewinvoices'], s)).toEqual(
      [],
    );
    expect(missingPermissions(['btcpay.store.canviewstoresettings'], ['btcpay.store.webhooks.canmodifywebhooks', 'btcpay.store.canviewinvoices'], s)).toEqual([
      'btcpay.store.webhooks.canmodifywebhooks',
    ]);
    expect(missingPermissions(['btcpay.store.canmodifyinvoices:STORE1'], ['btcpay.store.canviewinvoices', 'btcpay.store.cancreateinvoice'], s)).toEqual([]);
    expect(missingPermissions(['btcpay.store.canmodifyinvoices:OTHER'], ['btcpay.store.canviewinvoices'], s)).toEqual(['btcpay.store.canviewinvoices']);
    expect(missingPermissions(['unrestricted'], ['btcpay.store.webhooks.canmodifywebhooks'], s)).toEqual([]);
  });

  it('currentApiKey and checkPermissions against the server', async () => {
    expect((await client().currentApiKey()).permissions).toEqual([`btcpay.store.canmodifystoresettings:${fake.storeId}`]);
    expect(await client().checkPermissions(['btcpay.store.webhooks.canmodifywebhooks', 'btcpay.store.canviewinvoices'])).toEqual([]);
    const weak = fake.addApiKey([`btcpay.store.canviewinvoices:${fake.storeId}`]);
    const c = new BtcpayClient({ url: fake.url, apiKey: Secret.literal(weak), storeId: fake.storeId });
    expect(await c.checkPermissions(['btcpay.store.webhooks.canmodifywebhooks', 'btcpay.store.canviewinvoices'])).toEqual([
      'btcpay.store.webhooks.canmodifywebhooks',
    ]);
    const e = await failure(c.listWebhooks());
    expect(e).toMatchObject({ kind: 'permission', status: 403, code: 'missing-permission' });
    expect(e.message).toContain('btcpay.store.webhooks.canmodifywebhooks');
    const bad = new BtcpayClient({ url: fake.url, apiKey: Secret.literal('not-a-key-123'), storeId: fake.storeId });
    expect(await failure(bad.currentApiKey())).toMatchObject({ kind: 'permission', status: 401 });
  });
});

describe('endpoints', () => {
  it('webhooks, deliveries, request body, redeliver', async () => {
    const c = client();
    const w = fake.createWebhook({ url: rx.url });
    expect((await c.listWebhooks()).map((x) => x.id)).toContain(w.id);
    expect(await c.getWebhook(w.id)).toMatchObject({ id: w.id, enabled: true, automaticRedelivery: true });
    // BTCPay 2.4 answers an unknown webhook id with 403 missing-permission (BuiltInPermissionScopeProvider.cs).
    expect(await failure(c.getWebhook('missing'))).toMatchObject({ kind: 'permission', status: 403, code: 'missing-permission' });
    const inv = fake.createInvoice({ amount: 0 });
    await fake.idle();
    expect(() => c.listDeliveries(w.id, 0)).toThrow(RangeError);
    const rows = await c.listDeliveries(w.id, 2);
    expect(rows).toHaveLength(2);
    const req = await c.getDeliveryRequest(w.id, rows[0]!.id);
    expect(req.body).toMatchObject({ type: 'InvoiceSettled', invoiceId: inv.id, originalDeliveryId: rows[0]!.id });
    expect(req.raw).toBe(fake.deliveries(w.id)[0]!.body);
    const newId = await c.redeliver(w.id, rows[0]!.id);
    await fake.idle();
    expect(fake.deliveries(w.id)[0]!.id).toBe(newId);
    fake.pruneDeliveriesOlderThan(-60_000); // prune everything
    expect(await failure(c.getDeliveryRequest(w.id, rows[0]!.id))).toMatchObject({ kind: 'pruned', status: 409, code: 'webhookdelivery-pruned' });
    expect(await failure(c.redeliver(w.id, rows[0]!.id))).toMatchObject({ kind: 'pruned' });
    fake.deleteWebhook(w.id);
  });

  it('invoices: create, get, list with filters, paging until done, payment methods, archive', async () => {
    const f2 = await startFakeBtcpay();
    try {
      const k = f2.addApiKey(['unrestricted']);
      const c = new BtcpayClient({ url: f2.url, apiKey: Secret.literal(k), storeId: f2.storeId });
      const made = await c.createInvoice({ amount: '12.50', currency: 'EUR', metadata: { orderId: 'x1' } });
      expect(made).toMatchObject({ amount: '12.50', status: 'New' });
      expect(await c.getInvoice(made.id)).toMatchObject({ id: made.id, metadata: { orderId: 'x1' } });
      for (let i = 0; i < 249; i++) f2.createInvoice({ amount: 0 });
      const before = c.stats.calls;
      const all = await c.listAllInvoices({}, { pageSize: 100 });
      expect(all).toHaveLength(250);
      expect(c.stats.calls - before).toBe(3);
      expect(await c.listInvoices({ status: 'settled', take: 5 })).toHaveLength(5);
      expect(() => c.listInvoices({ startDate: 1.5 })).toThrow(RangeError);
      expect(await failure(c.listAllInvoices({}, { pageSize: 10, maxPages: 3 }))).toMatchObject({ kind: 'too_large' });
      // A store bigger than the cap: the newest invoices and a clear truncation flag, not a failure.
      const capped = new BtcpayClient({ url: f2.url, apiKey: Secret.literal(k), storeId: f2.storeId, maxInvoicePages: 2 });
      const part = await capped.listInvoicesBounded({}, { pageSize: 100 });
      expect(part).toMatchObject({ truncated: true, pages: 2, pageSize: 100 });
      expect(part.invoices.map((i) => i.id)).toEqual(all.slice(0, 200).map((i) => i.id));
      expect(await failure(capped.listAllInvoices({}, { pageSize: 100 }))).toMatchObject({
        kind: 'too_large',
        message: expect.stringMatching(/2 pages of 100.*maxInvoicePages/),
      });
      expect(await c.listInvoicesBounded({}, { pageSize: 100 })).toMatchObject({ truncated: false, pages: 3 });
      // The default cap is well above the old 200 pages.
      expect(await c.listInvoicesBounded({}, { pageSize: 1 })).toMatchObject({ truncated: false, pages: 251 });
      f2.settleInvoice(made.id);
      const pms = await c.invoicePaymentMethods(made.id);
      expect(pms[0]!.payments).toHaveLength(1);
      await c.archiveInvoice(made.id);
      expect((await c.listAllInvoices()).map((i) => i.id)).not.toContain(made.id);
      expect(await failure(c.getInvoice('nope'))).toMatchObject({ kind: 'not_found', code: 'invoice-not-found' });
    } finally {
      await f2.close();
    }
  });
});

describe('bad upstream data', () => {
  it('garbage (HTML with 200) is malformed, not retried', async () => {
    fake.fault('/webhooks', { kind: 'garbage' });
    const c = client();
    const e = await failure(c.listWebhooks());
    expect(e.kind).toBe('malformed');
    expect(c.stats.calls).toBe(1);
  });

  it('truncated JSON is malformed', async () => {
    fake.createWebhook({ url: rx.url });
    fake.fault('/webhooks', { kind: 'truncated' });
    expect((await failure(client().listWebhooks())).kind).toBe('malformed');
  });

  it('a valid JSON of the wrong shape is malformed with the path', async () => {
    fake.fault('/deliveries', { kind: 'body', body: JSON.stringify([{ id: 'a', timestamp: '2026-01-01T00:00:00Z', status: 'HttpSuccess' }]) });
    const e = await failure(client().listDeliveries('w', 5));
    expect(e.kind).toBe('malformed');
    expect(e.message).toContain('0.timestamp');
  });

  it('a huge response is cut off at the size limit', async () => {
    fake.fault('/webhooks', { kind: 'huge', bytes: 8 * 1024 * 1024 });
    const e = await failure(client({ maxResponseBytes: 1024 * 1024 }).listWebhooks());
    expect(e.kind).toBe('too_large');
  });

  it('by default a 10 MB webhook list is refused before it is parsed (a parse of that size stalled the agent)', async () => {
    fake.fault('/webhooks', { kind: 'huge', bytes: 10 * 1024 * 1024 });
    const c = client();
    const e = await failure(c.listWebhooks());
    expect(e.kind).toBe('too_large');
    expect(e.message).toContain(`${DEFAULT_MAX_RESPONSE_BYTES}-byte limit`);
    expect(c.stats.bytes).toBe(0);
  });

  it('a deliveries list longer than the count asked for is read only up to count (the server ignored count)', async () => {
    fake.fault('/deliveries', { kind: 'huge', bytes: 8 * 1024 * 1024 });
    const c = client({ maxResponseBytes: 1024 * 1024 });
    const rows = await c.listDeliveries('any', 10);
    expect(rows).toHaveLength(10);
    expect(c.stats.overlongLists).toBe(1);
    expect(c.stats.bytes).toBeLessThan(4096);
  });

  it('a slow response times out (and is not retried)', async () => {
    fake.fault('/webhooks', { kind: 'slow', delayMs: 2000 });
    const c = client({ timeoutMs: 150 });
    const e = await failure(c.listWebhooks());
    expect(e.kind).toBe('timeout');
    expect(c.stats.calls).toBe(1);
  });

  it('the caller signal aborts', async () => {
    fake.fault('/webhooks', { kind: 'slow', delayMs: 2000 });
    const e = await failure(client().listWebhooks({ signal: AbortSignal.timeout(100) }));
    expect(e.kind).toBe('timeout');
  });

  it('5xx and 429 are retried with backoff, then succeed', async () => {
    fake.fault('/webhooks', { kind: 'status', status: 503, times: 1 });
    fake.fault('/webhooks', { kind: 'status', status: 429, times: 1 });
    const c = client();
    await c.listWebhooks();
    expect(c.stats.calls).toBe(3);
  });

  it('a reset connection is a network error, retried, and reported after the last retry', async () => {
    fake.fault('/webhooks', { kind: 'reset' });
    const c = client({ retries: 1 });
    const e = await failure(c.listWebhooks());
    expect(e.kind).toBe('network');
    expect(c.stats.calls).toBe(2);
  });

  it('4xx is not retried', async () => {
    fake.fault('/webhooks', { kind: 'status', status: 400 });
    const c = client();
    expect((await failure(c.listWebhooks())).kind).toBe('http');
    expect(c.stats.calls).toBe(1);
  });

  it('an unreachable server is a network error without the key', async () => {
    const c = new BtcpayClient({ url: 'http://127.0.0.1:1', apiKey: Secret.literal(key), storeId: 's', retries: 1, retryMinTimeoutMs: 1 });
    expect((await failure(c.listWebhooks())).kind).toBe('network');
  });
});
