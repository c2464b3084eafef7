// Redirects: BTCPay's webhook HttpClients follow them like any .NET HttpClient (BTCPayServer/Plugins/Webhooks/
// WebhooksPlugin.cs keeps AllowAutoRedirect): on 301/302 the POST becomes a GET without body and the final status
// is recorded, so a redirecting webhook URL can be logged HttpSuccess while nothing arrives. The simulator does the
// same; the synthetic probe reports a redirecting target as class `redirect`; delivery_rate flags the webhook.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthetic } from '../probes/synthetic/index.ts';
import { deliveryRate } from '../probes/delivery-rate/index.ts';
import { resolveDeferred } from '../src/config/deferred.ts';
import { startFakeBtcpay, type FakeBtcpay } from '../src/sim/btcpay/index.ts';
import { startReceiver, type TestReceiver } from '../src/sim/btcpay/recording-receiver.ts';
import { probeEntry, startHarness, type Harness } from './helpers/btcpay-harness.ts';
import { makeTestContext } from './helpers/context.ts';

let fake: FakeBtcpay;
let rx: TestReceiver;
beforeAll(async () => {
  fake = await startFakeBtcpay({ deliveryTimeoutMs: 2000 });
  rx = await startReceiver();
});
afterAll(async () => {
  await fake.close();
  await rx.stop();
});

describe('the simulated sender follows redirects like .NET', () => {
  it('302: the POST becomes a GET without body or signature, and the row records the final 200 as HttpSuccess', async () => {
    await rx.setMode({ kind: 'redirect', status: 302, location: '/moved' });
    const w = fake.createWebhook({ url: `${rx.url}`, specificEvents: ['InvoiceSettled'], automaticRedelivery: false });
    const before = rx.received.length;
    fake.createInvoice({ amount: 0 });
    await fake.idle();
    const got = rx.received.slice(before);
    expect(got.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /btcpay/webhook', 'GET /moved']);
    expect(got[1]!.raw).toBe('');
    expect(got[1]!.headers['btcpay-sig']).toBeUndefined();
    expect(fake.deliveries(w.id)[0]).toMatchObject({ status: 'HttpSuccess', httpCode: 200, errorMessage: null });
    fake.deleteWebhook(w.id);
  });

  it('307 repeats the POST with its body and signature', async () => {
    await rx.setMode({ kind: 'redirect', status: 307, location: '/moved' });
    const w = fake.createWebhook({ url: rx.url, specificEvents: ['InvoiceSettled'], automaticRedelivery: false });
    const before = rx.received.length;
    fake.createInvoice({ amount: 0 });
    await fake.idle();
    const got = rx.received.slice(before);
    expect(got.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /btcpay/webhook', 'POST /moved']);
    expect(got[1]!.raw).toBe(got[0]!.raw);
    expect(got[1]!.headers['btcpay-sig']).toBe(got[0]!.headers['btcpay-sig']);
    fake.deleteWebhook(w.id);
    await rx.heal();
  });
});

describe('hookwatch catches a redirecting webhook URL', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h.close());

  it('synthetic reports class redirect with the cause; delivery_rate flags url_redirects and a URL the synthetic probe does not test', async () => {
    await h.rx.setMode({ kind: 'redirect', status: 301, location: '/v2/webhook' });
    const synth = {
      name: 'synth',
      type: 'synthetic',
      intervalMs: 3_600_000,
      timeoutMs: 60_000,
      thresholds: {},
      ...resolveDeferred(
        synthetic.schema.parse({
          targets: [h.rx.url],
          signing: { scheme: 'btcpay', secret: { env: 'SYNTH_SECRET' } },
          connectTimeout: '2s',
          responseTimeout: '2s',
        }),
        { env: { SYNTH_SECRET: 'redirect-test-secret' }, baseDir: '.' },
      ),
    };
    const sctx = makeTestContext({ probe: 'synth' });
    const r = await synthetic.run(synth, sctx);
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/redirect \(.*answered HTTP 301 redirecting to .*\/v2\/webhook: BTCPay follows it .*GET without body/);
    expect(r.cause).toMatch(/BTCPay follows it and turns the POST into a GET without body/);
    expect(await sctx.metricValue('synthetic_failure_class', { target: h.rx.url, class: 'redirect' })).toBe(1);

    // The store's webhook posts to the redirecting URL (logged HttpSuccess!); a second one to a path nobody tests.
    h.fake.updateWebhook(h.webhookId, { url: h.rx.url });
    const other = h.fake.createWebhook({ url: `http://127.0.0.1:${h.rx.port}/other/path` });
    const rate = probeEntry('delivery_rate', deliveryRate.schema.parse({ source: 'btcpay' }));
    const ctx = h.ctx({ config: { probes: [synth] } });
    const d = await deliveryRate.run(rate, ctx);
    expect(d.ok).toBe(false);
    expect(await ctx.metricValue('webhook_misconfigured', { webhook: h.webhookId, check: 'url_redirects' })).toBe(1);
    expect(await ctx.metricValue('webhook_misconfigured', { webhook: h.webhookId, check: 'url_unchecked' })).toBe(0);
    expect(await ctx.metricValue('webhook_misconfigured', { webhook: other.id, check: 'url_unchecked' })).toBe(1);
    expect(d.reason).toContain(`${h.webhookId} url_redirects`);

    // Fixed at the receiver: the next synthetic run clears the note and delivery_rate stops flagging it.
    await h.rx.heal();
    expect((await synthetic.run(synth, sctx)).ok).toBe(true);
    await deliveryRate.run(rate, ctx);
    expect(await ctx.metricValue('webhook_misconfigured', { webhook: h.webhookId, check: 'url_redirects' })).toBe(0);
  });
});
