// Acceptance against real daemons: nsd (authoritative), a misconfigured unbound (cache-min-ttl
// 172800) and a well-behaved unbound, all on loopback. Real time passes here only to let a 2 s TTL
// expire; every wait is a bounded poll.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { missingBinaries } from '../../test/helpers/daemons.ts';
import { startDnsLab, type DnsLab } from '../../test/helpers/dns-lab.ts';
import { makeTestContext } from '../../test/helpers/context.ts';
import { dnsDrift } from '../dns-drift/index.ts';
import { lookupVia, resolveAuthoritative, parseServer } from '../../src/clients/dns/index.ts';
import type { ProbeResult } from '../../src/probe/types.ts';

const skip = missingBinaries('nsd', 'nsd-control', 'nsd-checkzone', 'unbound', 'unbound-control');

type HostDetails = { verdicts: string[]; resolver: { addresses: string[]; ttl?: number } };
const verdictsOf = (r: ProbeResult, host: string) => (r.details!.hosts as Record<string, HostDetails>)[host]!.verdicts;
const addrsOf = (r: ProbeResult, host: string) => (r.details!.hosts as Record<string, HostDetails>)[host]!.resolver.addresses;

function conf(lab: DnsLab, over: Record<string, unknown>) {
  const own = dnsDrift.schema.parse({ authoritative: [lab.authoritative], ...over });
  return { name: 'dns', type: 'dns_drift', intervalMs: 5_000, timeoutMs: 5_000, thresholds: { grace_seconds: 60 }, ...own };
}

async function until<T>(what: string, fn: () => Promise<T>, ok: (t: T) => boolean, maxMs = 15_000): Promise<T> {
  const deadline = Date.now() + maxMs;
  let last: T;
  for (let i = 0; i < 200; i++) {
    last = await fn();
    if (ok(last)) return last;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last!).slice(0, 1500)}`);
}

describe.skipIf(skip)('dns_drift against nsd + unbound (real daemons)', () => {
  let lab: DnsLab;
  beforeAll(async () => {
    lab = await startDnsLab({ disagreeing: true, fastTtl: 2 });
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('before any change: the misconfigured unbound is TTL-inflated, the good one is clean', async () => {
    for (const host of [lab.hooksHost, lab.fastHost, lab.aliasHost]) {
      const badCtx = makeTestContext({ probe: 'dns' });
      const b = await dnsDrift.run(conf(lab, { hosts: [host], resolver: lab.badResolver }), badCtx);
      expect(b.ok, JSON.stringify(b)).toBe(false);
      expect(verdictsOf(b, host)).toEqual(['ttl_inflated']);
      expect(await badCtx.metricValue('dns_ttl_inflated', { host })).toBe(1);
      expect(await badCtx.metricValue('dns_resolver_ttl_seconds', { host })).toBeGreaterThan(172000);
      const goodCtx = makeTestContext({ probe: 'dns' });
      const g = await dnsDrift.run(conf(lab, { hosts: [host], resolver: lab.goodResolver }), goodCtx);
      expect(g.ok, JSON.stringify(g)).toBe(true);
      expect(verdictsOf(g, host)).toEqual(['ok']);
      expect(await goodCtx.metricValue('dns_ttl_inflated', { host })).toBe(0);
      expect(await goodCtx.metricValue('dns_drift', { host })).toBe(0);
    }
  });

  it('after a migration: bad drifts within one interval and is stale after the TTL; good follows after the TTL and never fails; flush clears', async () => {
    const host = lab.fastHost; // TTL 2 s, so expiry is visible in seconds
    const badCtx = makeTestContext({ probe: 'dns' });
    const goodCtx = makeTestContext({ probe: 'dns' });
    const badConf = conf(lab, { hosts: [host], resolver: lab.badResolver, grace: '1s' });
    const goodConf = conf(lab, { hosts: [host], resolver: lab.goodResolver, grace: '1s' });
    await dnsDrift.run(badConf, badCtx);
    await dnsDrift.run(goodConf, goodCtx);

    await lab.migrate(host, '127.0.0.3');
    const t0 = Date.now();
    // The very next run (within one interval) sees the drift.
    const b1 = await dnsDrift.run(badConf, badCtx);
    expect(verdictsOf(b1, host)).toContain('drift');
    expect(addrsOf(b1, host)).toEqual(['127.0.0.2']);
    expect(await badCtx.metricValue('dns_drift', { host })).toBe(1);

    // The good resolver follows once its 2 s cache entry expires; meanwhile it may drift but never fails.
    const goodResults: ProbeResult[] = [];
    await until(
      'the good resolver to follow',
      async () => {
        const r = await dnsDrift.run(goodConf, goodCtx);
        goodResults.push(r);
        return r;
      },
      (r) => verdictsOf(r, host)[0] === 'ok',
    );
    expect(goodResults.every((r) => r.ok)).toBe(true);
    expect(await goodCtx.metricValue('dns_drift', { host })).toBe(0);

    // The bad one is still pinned and turns stale once TTL (2 s) + grace (1 s) have passed.
    const stale = await until(
      'the bad resolver to be stale',
      () => dnsDrift.run(badConf, badCtx),
      (r) => verdictsOf(r, host).includes('stale'),
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
    expect(stale.ok).toBe(false);
    expect(addrsOf(stale, host)).toEqual(['127.0.0.2']);
    expect(stale.reason).toMatch(/stale answer/);
    expect(stale.action).toMatch(/unbound-control flush_zone/);
    expect(await badCtx.metricValue('dns_drift_duration_seconds', { host })).toBeGreaterThan(3);
    expect(await badCtx.metricValue('dns_drift_stale', { host })).toBe(1);

    await lab.flush('bad');
    const after = await dnsDrift.run(badConf, badCtx);
    expect(verdictsOf(after, host)).toEqual(['ttl_inflated']); // follows now, still pinned for two days
    expect(addrsOf(after, host)).toEqual(['127.0.0.3']);
    expect(await badCtx.metricValue('dns_drift', { host })).toBe(0);
    expect(await badCtx.metricValue('dns_drift_duration_seconds', { host })).toBe(0);
  });

  it('a long-TTL migration: both drift at once, only the bad one is inflated, and the good one does not fail', async () => {
    const host = lab.hooksHost;
    // The earlier flush emptied the caches: let both resolvers cache the current answer first.
    for (const r of [lab.badResolver, lab.goodResolver]) expect((await lookupVia(r, host)).addresses).toEqual(['127.0.0.2']);
    await lab.migrate(host, '127.0.0.4');
    const b = await dnsDrift.run(conf(lab, { hosts: [host], resolver: lab.badResolver }), makeTestContext({ probe: 'dns' }));
    expect(verdictsOf(b, host)).toEqual(['ttl_inflated', 'drift']);
    const g = await dnsDrift.run(conf(lab, { hosts: [host], resolver: lab.goodResolver }), makeTestContext({ probe: 'dns' }));
    expect(verdictsOf(g, host)).toEqual(['drift']); // legitimately cached for up to 3600 s
    expect(g.ok).toBe(true);
    // What a sender using the bad resolver would reach (the fake BTCPay uses lookupVia).
    expect((await lookupVia(lab.badResolver, host)).addresses).toEqual(['127.0.0.2']);
  });

  it('reports the two disagreeing authoritative servers', async () => {
    const ctx = makeTestContext({ probe: 'dns' });
    const r = await dnsDrift.run(conf(lab, { hosts: [lab.aliasHost], resolver: lab.goodResolver, authoritative: lab.authoritatives }), ctx);
    expect(r.ok).toBe(false);
    expect(verdictsOf(r, lab.aliasHost)).toContain('authoritative_disagreement');
    expect(r.reason).toContain(`${lab.secondAuthoritative} serves 127.0.0.9`);
    expect(await ctx.metricValue('dns_authoritative_disagreement', { host: lab.aliasHost })).toBe(1);
  });

  it('finds the zone cut and the NS addresses by itself (auto), across the delegation', async () => {
    const a = await resolveAuthoritative(lab.fastHost, {
      discovery: [parseServer(lab.goodResolver)],
      nsPort: parseServer(lab.authoritative).port,
      types: ['A'],
    });
    expect(a.asked[0]!.zone).toBe('fast.pay.test');
    expect(a.asked[0]!.servers.map((s) => s.server)).toEqual([lab.authoritative]);
    expect(a.addresses).toEqual([lab.address(lab.fastHost)]);
    expect(a.ttl).toBe(2);
  });
});
