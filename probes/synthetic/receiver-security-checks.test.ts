// Receiver security checks (security: true): a correct receiver passes every check, a lax one
// (no signature check, no replay window, no idempotency) is flagged with a metric and a sentence.
import { describe, it, expect, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { synthetic } from '../synthetic/index.ts';
import { resolveDeferred, type ResolveEnv } from '../../src/config/deferred.ts';
import { makeTestContext } from '../../test/helpers/context.ts';
import { startReceiver, type Receiver } from '../../src/sim/receiver.ts';
import { expectGolden } from '../../test/helpers/golden.ts';
import type { SigningScheme } from '../../src/signing/index.ts';

const SECRETS: Record<SigningScheme, string> = {
  btcpay: 'btcpaySecret' + randomBytes(8).toString('hex'),
  stripe: 'whsec_' + randomBytes(24).toString('base64'),
  'standard-webhooks': 'whsec_' + randomBytes(32).toString('base64'),
};

function probe(rx: Receiver, scheme: SigningScheme, over: Record<string, unknown> = {}) {
  const env = { env: { SYNTH_SECRET: SECRETS[scheme] }, baseDir: process.cwd() };
  const own = parseOwn(env, {
    targets: [rx.webhookUrl],
    signing: { scheme, secret: { env: 'SYNTH_SECRET' } },
    confirm: { url: rx.receiptUrl, within: '3s' },
    security: true,
    ...over,
  });
  return { name: 'synth', type: 'synthetic', intervalMs: 3_600_000, timeoutMs: 60_000, thresholds: {}, ...own };
}

type Sec = { check: string; result: string; sentence: string };
const security = (r: { details?: Record<string, unknown> }) => (r.details?.targets as Array<{ security?: Sec[] }>)[0]!.security ?? [];

describe('receiver security checks', () => {
  const receivers: Receiver[] = [];
  const start = async (scheme: SigningScheme, faults = {}) => {
    const rx = await startReceiver({ scheme, secret: SECRETS[scheme], faults });
    receivers.push(rx);
    return rx;
  };
  afterAll(async () => {
    for (const rx of receivers) await rx.stop();
  });

  for (const scheme of ['stripe', 'standard-webhooks'] as const) {
    it(`a correct ${scheme} receiver passes bad_signature, replay and duplicate`, async () => {
      const rx = await start(scheme);
      const ctx = makeTestContext({ probe: 'synth' });
      const r = await synthetic.run(probe(rx, scheme), ctx);
      expect(r.ok, r.reason).toBe(true);
      expect(security(r).map((s) => [s.check, s.result])).toEqual([
        ['bad_signature', 'pass'],
        ['replay', 'pass'],
        ['duplicate', 'pass'],
      ]);
      for (const check of ['bad_signature', 'replay', 'duplicate'])
        expect(await ctx.metricValue('synthetic_security_check_passed', { target: rx.webhookUrl, check })).toBe(1);
      // What the receiver saw: the genuine one, a forged one (401), an old one (400), and a duplicate pair.
      expect(rx.received.map((x) => x.status)).toEqual([200, 401, 400, 200, 200]);
      expect(JSON.stringify(r)).not.toContain(SECRETS[scheme]);
      if (scheme === 'stripe') expectGolden(new URL('./exposition.prom', import.meta.url), await ctx.registry.exposition());
    });
  }

  it('btcpay has no signed timestamp: replay is skipped (no series), the rest pass', async () => {
    const rx = await start('btcpay');
    const ctx = makeTestContext({ probe: 'synth' });
    const r = await synthetic.run(probe(rx, 'btcpay'), ctx);
    expect(r.ok, r.reason).toBe(true);
    expect(security(r).find((s) => s.check === 'replay')).toMatchObject({ result: 'skipped' });
    expect(await ctx.metricValue('synthetic_security_check_passed', { target: rx.webhookUrl, check: 'replay' })).toBeUndefined();
    expect(await ctx.metricValue('synthetic_security_check_passed', { target: rx.webhookUrl, check: 'duplicate' })).toBe(1);
  });

  it('a receiver that skips signature checks is flagged (bad_signature and replay)', async () => {
    const rx = await start('stripe', { skipSignature: true });
    const ctx = makeTestContext({ probe: 'synth' });
    const r = await synthetic.run(probe(rx, 'stripe'), ctx);
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/security check bad_signature failed: the receiver ACCEPTED a request signed with a wrong secret/);
    expect(r.reason).toMatch(/replay failed/);
    expect(r.cause).toMatch(/signature verification/);
    expect(await ctx.metricValue('synthetic_security_check_passed', { target: rx.webhookUrl, check: 'bad_signature' })).toBe(0);
    expect(await ctx.metricValue('synthetic_security_check_passed', { target: rx.webhookUrl, check: 'replay' })).toBe(0);
    // The delivery path itself works: synthetic_success stays 1, the security metric carries the finding.
    expect(await ctx.metricValue('synthetic_success', { target: rx.webhookUrl })).toBe(1);
    expect(JSON.stringify(r)).not.toContain(SECRETS.stripe);
    expect(ctx.logLines.join('')).not.toContain(SECRETS.stripe);
  });

  it('a receiver that processes the same delivery twice is flagged (duplicate)', async () => {
    const rx = await start('btcpay', { noDedupe: true });
    const ctx = makeTestContext({ probe: 'synth' });
    const r = await synthetic.run(probe(rx, 'btcpay'), ctx);
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/processed 2 times/);
    expect(await ctx.metricValue('synthetic_security_check_passed', { target: rx.webhookUrl, check: 'duplicate' })).toBe(0);
    expect(await ctx.metricValue('synthetic_security_check_passed', { target: rx.webhookUrl, check: 'bad_signature' })).toBe(1);
  });

  it('without confirm the duplicate check is skipped, and says why', async () => {
    const rx = await start('standard-webhooks');
    const ctx = makeTestContext({ probe: 'synth' });
    const p = probe(rx, 'standard-webhooks');
    delete (p as { confirm?: unknown }).confirm;
    const r = await synthetic.run(p, ctx);
    expect(r.ok, r.reason).toBe(true);
    expect(security(r).find((s) => s.check === 'duplicate')).toMatchObject({ result: 'skipped', sentence: expect.stringMatching(/confirm\.url/) });
  });
});

/** The probe's own keys as the loader would hand them over: parsed, then secrets resolved from `env`. */
function parseOwn(env: ResolveEnv, raw: unknown) {
  return resolveDeferred(synthetic.schema.parse(raw), env);
}
