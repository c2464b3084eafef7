// The synthetic probe in direct mode against a real receiver app (HTTP and HTTPS with a test CA),
// a real DNS server on loopback for the resolver cases, and the receiver's broken modes.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import dnsPacket from 'dns-packet';
import { synthetic } from '../synthetic/index.ts';
import { resolveDeferred, type ResolveEnv } from '../../src/config/deferred.ts';
import { makeTestContext, type TestContext } from '../../test/helpers/context.ts';
import { startReceiver, makeTestCa, type Receiver, type TestCa } from '../../src/sim/receiver.ts';
import { missingBinaries } from '../../test/helpers/daemons.ts';
import { randomBytes } from 'node:crypto';
import type { SigningScheme } from '../../src/signing/index.ts';

const SECRETS: Record<SigningScheme, string> = {
  btcpay: 'btcpaySecret' + randomBytes(8).toString('hex'),
  stripe: 'whsec_' + randomBytes(24).toString('base64'),
  'standard-webhooks': 'whsec_' + randomBytes(32).toString('base64'),
};

function probe(over: Record<string, unknown>, scheme: SigningScheme = 'btcpay') {
  const env = { env: { SYNTH_SECRET: SECRETS[scheme] }, baseDir: process.cwd() };
  const own = parseOwn(env, { signing: { scheme, secret: { env: 'SYNTH_SECRET' } }, connectTimeout: '2s', responseTimeout: '2s', ...over });
  return { name: 'synth', type: 'synthetic', intervalMs: 3_600_000, timeoutMs: 60_000, thresholds: {}, ...own };
}

/** Every way a result could leak the secret: result JSON, log lines, exposition. */
async function expectNoSecret(ctx: TestContext, result: unknown, scheme: SigningScheme = 'btcpay') {
  const s = SECRETS[scheme];
  expect(JSON.stringify(result)).not.toContain(s);
  expect(ctx.logLines.join('')).not.toContain(s);
  expect(await ctx.registry.exposition()).not.toContain(s);
}

/** A loopback DNS server answering A queries from a table (AAAA: NOERROR, no data). */
async function startDns(table: Record<string, string>): Promise<{ addr: string; stop(): Promise<void> }> {
  const sock: UdpSocket = createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    let q: dnsPacket.Packet;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const question = q.questions?.[0];
    if (!question) return;
    const ip = table[question.name.toLowerCase()];
    const answers = question.type === 'A' && ip ? [{ type: 'A' as const, name: question.name, ttl: 60, class: 'IN' as const, data: ip }] : [];
    const res = dnsPacket.encode({
      id: q.id,
      type: 'response',
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (ip || question.type !== 'A' ? 0 : 3),
      questions: q.questions,
      answers,
    });
    sock.send(res, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { addr: `127.0.0.1:${sock.address().port}`, stop: () => new Promise<void>((r) => sock.close(() => r())) };
}

describe('synthetic, direct mode over HTTP', () => {
  let rx: Receiver;
  beforeAll(async () => {
    rx = await startReceiver({ scheme: 'btcpay', secret: SECRETS.btcpay });
  });
  afterAll(async () => rx.stop());

  it('passes end to end, confirms the receipt, and records phases, address and classes', async () => {
    const ctx = makeTestContext({ probe: 'synth' });
    const p = probe({ targets: [rx.webhookUrl], confirm: { url: rx.receiptUrl, within: '5s' } });
    const r = await synthetic.run(p, ctx);
    expect(r.ok, r.reason).toBe(true);
    const target = rx.webhookUrl;
    expect(await ctx.metricValue('synthetic_success', { target })).toBe(1);
    expect(await ctx.metricValue('synthetic_last_success_timestamp_seconds', { target })).toBeGreaterThan(1.7e9);
    for (const phase of ['resolve', 'connect', 'response', 'confirm'])
      expect(await ctx.metricValue('synthetic_phase_duration_seconds', { target, phase })).toBeGreaterThanOrEqual(0);
    expect(await ctx.metricValue('synthetic_phase_duration_seconds', { target, phase: 'tls' })).toBeUndefined();
    expect(await ctx.metricValue('synthetic_connection_info', { target, address: '127.0.0.1' })).toBe(1);
    expect(await ctx.metricValue('synthetic_failure_class', { target, class: 'http_status' })).toBe(0);
    // The receiver saw one genuine, signed, synthetic-marked InvoiceSettled and processed it.
    const last = rx.received.at(-1)!;
    expect(last.verdict).toBe('processed');
    expect(last.headers['x-hookwatch-synthetic']).toBe('1');
    const body = JSON.parse(last.body) as Record<string, unknown>;
    expect(body.type).toBe('InvoiceSettled');
    expect(String(body.invoiceId)).toMatch(/^__test__.+__test__$/);
    expect(last.body).toContain('\n  "deliveryId"');
    expect(rx.processed.get(String(body.deliveryId))).toBe(1);
    expect((r.details?.targets as Array<Record<string, unknown>>)[0]!.deliveryId).toBe(body.deliveryId);
    await expectNoSecret(ctx, r);
  });

  it('wrong secret on the receiver -> http_status', async () => {
    rx.faults.wrongSecret = true;
    try {
      const ctx = makeTestContext({ probe: 'synth' });
      const r = await synthetic.run(probe({ targets: [rx.webhookUrl] }), ctx);
      expect(r.ok).toBe(false);
      expect(r.reason).toMatch(/http_status/);
      expect(r.reason).toMatch(/HTTP 401/);
      expect(r.cause).toMatch(/secret/);
      expect(await ctx.metricValue('synthetic_failure_class', { target: rx.webhookUrl, class: 'http_status' })).toBe(1);
      expect(await ctx.metricValue('synthetic_success', { target: rx.webhookUrl })).toBe(0);
      await expectNoSecret(ctx, r);
    } finally {
      rx.faults.wrongSecret = false;
    }
  });

  it('accepting but never answering -> response_timeout', async () => {
    rx.faults.neverAnswer = true;
    try {
      const ctx = makeTestContext({ probe: 'synth' });
      const r = await synthetic.run(probe({ targets: [rx.webhookUrl], responseTimeout: '300ms' }), ctx);
      expect(r.ok).toBe(false);
      expect(await ctx.metricValue('synthetic_failure_class', { target: rx.webhookUrl, class: 'response_timeout' })).toBe(1);
      expect(r.reason).toMatch(/no complete response from 127\.0\.0\.1:\d+ within 300ms/);
      expect(await ctx.metricValue('synthetic_phase_duration_seconds', { target: rx.webhookUrl, phase: 'response' })).toBeGreaterThanOrEqual(0.25);
    } finally {
      rx.faults.neverAnswer = false;
    }
  });

  it('200 without processing -> confirm fails (not_confirmed)', async () => {
    rx.faults.noProcessing = true;
    try {
      const ctx = makeTestContext({ probe: 'synth' });
      const r = await synthetic.run(probe({ targets: [rx.webhookUrl], confirm: { url: rx.receiptUrl, within: '400ms' } }), ctx);
      expect(r.ok).toBe(false);
      expect(r.reason).toMatch(/not_confirmed/);
      expect(r.reason).toMatch(/not confirmed processed within 0\.4s/);
      expect(await ctx.metricValue('synthetic_failure_class', { target: rx.webhookUrl, class: 'not_confirmed' })).toBe(1);
      expect(await ctx.metricValue('synthetic_phase_duration_seconds', { target: rx.webhookUrl, phase: 'response' })).toBeGreaterThanOrEqual(0);
    } finally {
      rx.faults.noProcessing = false;
    }
  });

  it('primary and backup: each target gets its own verdict; a stopped receiver -> connect_refused', async () => {
    const down = await startReceiver({ scheme: 'btcpay', secret: SECRETS.btcpay });
    const downUrl = down.webhookUrl;
    await down.stop();
    const ctx = makeTestContext({ probe: 'synth' });
    const r = await synthetic.run(probe({ targets: [rx.webhookUrl, downUrl] }), ctx);
    expect(r.ok).toBe(false);
    expect(await ctx.metricValue('synthetic_success', { target: rx.webhookUrl })).toBe(1);
    expect(await ctx.metricValue('synthetic_success', { target: downUrl })).toBe(0);
    expect(await ctx.metricValue('synthetic_failure_class', { target: downUrl, class: 'connect_refused' })).toBe(1);
    expect(r.reason).toContain(`connect to 127.0.0.1:${down.port}`);
    expect(r.reason).toMatch(/1 of 2 target/);
    await expectNoSecret(ctx, r);
  });

  it('a target leaving the config loses its series', async () => {
    const ctx = makeTestContext({ probe: 'synth' });
    const other = 'http://127.0.0.1:1/webhook';
    await synthetic.run(probe({ targets: [rx.webhookUrl, other], connectTimeout: '500ms' }), ctx);
    expect(await ctx.metricValue('synthetic_success', { target: other })).toBe(0);
    await synthetic.run(probe({ targets: [rx.webhookUrl] }), ctx);
    expect(await ctx.metricValue('synthetic_success', { target: other })).toBeUndefined();
    expect(await ctx.metricValue('synthetic_success', { target: rx.webhookUrl })).toBe(1);
  });
});

describe('synthetic through a configured resolver', () => {
  let rx: Receiver;
  let dns: Awaited<ReturnType<typeof startDns>>;
  beforeAll(async () => {
    rx = await startReceiver({ scheme: 'standard-webhooks', secret: SECRETS['standard-webhooks'] });
    dns = await startDns({ 'hooks.shop.test': '127.0.0.1', 'stale.shop.test': '127.0.0.2' });
  });
  afterAll(async () => {
    await rx.stop();
    await dns.stop();
  });

  it('resolves through IP:PORT and reports the address connected to', async () => {
    const ctx = makeTestContext({ probe: 'synth' });
    const target = `http://hooks.shop.test:${rx.port}/webhook`;
    const r = await synthetic.run(probe({ targets: [target], resolver: dns.addr }, 'standard-webhooks'), ctx);
    expect(r.ok, r.reason).toBe(true);
    expect(await ctx.metricValue('synthetic_connection_info', { target, address: '127.0.0.1' })).toBe(1);
    expect(rx.received.at(-1)!.headers['webhook-id']).toMatch(/^msg_/);
  });

  it('an address where nothing listens: the failure names the address used', async () => {
    const ctx = makeTestContext({ probe: 'synth' });
    const target = `http://stale.shop.test:${rx.port}/webhook`;
    const r = await synthetic.run(probe({ targets: [target], resolver: dns.addr }, 'standard-webhooks'), ctx);
    expect(r.ok).toBe(false);
    expect(r.reason).toContain(`127.0.0.2:${rx.port}`);
    expect(r.reason).toContain('stale.shop.test');
    expect(await ctx.metricValue('synthetic_failure_class', { target, class: 'connect_refused' })).toBe(1);
    expect(await ctx.metricValue('synthetic_connection_info', { target, address: '127.0.0.2' })).toBe(1);
    await expectNoSecret(ctx, r, 'standard-webhooks');
  });

  it('a name the resolver does not know -> dns_error', async () => {
    const ctx = makeTestContext({ probe: 'synth' });
    const target = `http://nowhere.shop.test:${rx.port}/webhook`;
    const r = await synthetic.run(probe({ targets: [target], resolver: dns.addr }, 'standard-webhooks'), ctx);
    expect(r.ok).toBe(false);
    expect(await ctx.metricValue('synthetic_failure_class', { target, class: 'dns_error' })).toBe(1);
    expect(r.reason).toContain('nowhere.shop.test');
  });
});

describe.skipIf(missingBinaries('openssl'))('synthetic over HTTPS with a test CA', () => {
  let ca: TestCa;
  let rx: Receiver;
  beforeAll(async () => {
    ca = makeTestCa();
    rx = await startReceiver({ scheme: 'stripe', secret: SECRETS.stripe, tls: { key: ca.key, cert: ca.cert } });
  });
  afterAll(async () => {
    await rx.stop();
    ca.cleanup();
  });

  it('passes with caFile and records the tls phase', async () => {
    const ctx = makeTestContext({ probe: 'synth' });
    const r = await synthetic.run(probe({ targets: [rx.webhookUrl], caFile: ca.caFile, confirm: { url: rx.receiptUrl, within: '5s' } }, 'stripe'), ctx);
    expect(r.ok, r.reason).toBe(true);
    expect(rx.webhookUrl).toMatch(/^https:\/\/localhost:/);
    expect(await ctx.metricValue('synthetic_phase_duration_seconds', { target: rx.webhookUrl, phase: 'tls' })).toBeGreaterThan(0);
    expect(rx.received.at(-1)!.headers['stripe-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
  });

  it('without the CA -> tls_error', async () => {
    const ctx = makeTestContext({ probe: 'synth' });
    const r = await synthetic.run(probe({ targets: [rx.webhookUrl] }, 'stripe'), ctx);
    expect(r.ok).toBe(false);
    expect(await ctx.metricValue('synthetic_failure_class', { target: rx.webhookUrl, class: 'tls_error' })).toBe(1);
    expect(r.reason).toMatch(/TLS handshake with 127\.0\.0\.1:\d+ \(localhost\) failed/);
    await expectNoSecret(ctx, r, 'stripe');
  });
});

describe('synthetic configuration', () => {
  it('refuses inline secrets and checks mode-specific keys', () => {
    expect(synthetic.schema.safeParse({ targets: ['http://x/'], signing: { scheme: 'btcpay', secret: 'inline' } }).success).toBe(false);
    expect(synthetic.schema.safeParse({ targets: ['ftp://x/'] }).success).toBe(false);
    expect(synthetic.schema.safeParse({ targets: ['http://x/'], confirm: { url: 'http://x/receipts' } }).success).toBe(false);
    const base = { name: 's', type: 'synthetic', intervalMs: 1, timeoutMs: 600_000, thresholds: {} };
    const cfg = { file: 'x', global: { intervalMs: 1, timeoutMs: 1, resolver: 'system' }, sources: {}, secrets: [], probes: [] };
    const errs = synthetic.validate!({ ...base, ...synthetic.schema.parse({}) }, cfg);
    expect(errs.map((e) => e.key).sort()).toEqual(['signing', 'targets']);
    const errs2 = synthetic.validate!({ ...base, ...synthetic.schema.parse({ mode: 'btcpay', source: 'nope' }) }, cfg);
    expect(errs2).toEqual([]); // the loader checks the name against the sources (test/config-errors.test.ts)
    expect(synthetic.validate!({ ...base, ...synthetic.schema.parse({ mode: 'btcpay' }) }, cfg)).toEqual([
      { key: 'source', message: 'btcpay mode needs source: the name of a btcpay source' },
    ]);
    expect(synthetic.defaultIntervalMs).toBe(3_600_000);
  });

  it('a standard-webhooks secret that is not whsec_<base64> is a config error, and a run with it never throws', async () => {
    const env = { env: { BAD: 'not base64 at all!' }, baseDir: process.cwd() };
    const own = parseOwn(env, { targets: ['http://127.0.0.1:1/x'], signing: { scheme: 'standard-webhooks', secret: { env: 'BAD' } } });
    const p = { name: 's', type: 'synthetic', intervalMs: 1, timeoutMs: 600_000, thresholds: {}, ...own };
    const cfg = { file: 'x', global: { intervalMs: 1, timeoutMs: 1, resolver: 'system' }, sources: {}, secrets: [], probes: [] };
    const errs = synthetic.validate!(p, cfg);
    expect(errs).toEqual([{ key: 'signing.secret', message: 'standard-webhooks secrets are whsec_ followed by base64 (<secret env:BAD> is not)' }]);
    const ctx = makeTestContext({ probe: 's' });
    const r = await synthetic.run(p, ctx);
    expect(r.ok).toBe(false);
    expect(JSON.stringify(r)).not.toContain('not base64 at all!');
  });
});

/** The probe's own keys as the loader would hand them over: parsed, then secrets resolved from `env`. */
function parseOwn(env: ResolveEnv, raw: unknown) {
  return resolveDeferred(synthetic.schema.parse(raw), env);
}
