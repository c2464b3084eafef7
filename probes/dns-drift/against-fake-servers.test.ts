// dns_drift probe against the pure-Node fakes with a fake clock (fast, no daemons): the verdicts,
// metrics, state and texts. The same scenario against real nsd + unbound is in against-nsd-and-unbound.test.ts.
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import dgram from 'node:dgram';
import { dnsDrift, syntheticHosts, FLUSH_HELP, flushAction } from '../dns-drift/index.ts';
import { PROBE_KINDS } from '../registry.ts';
import { testedDestinations } from '../../src/config/load.ts';
import { FakeAuthoritative, FakeRecursive } from '../../src/sim/dns-server.ts';
import { makeTestContext, type TestContext } from '../../test/helpers/context.ts';
import { expectGolden } from '../../test/helpers/golden.ts';
import type { LoadedConfig } from '../../src/probe/types.ts';
import { Secret } from '../../src/secret.ts';
import { reply } from '../../src/sim/dns-server.ts';

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);
let clock = T0;
let auth: FakeAuthoritative;
let bad: FakeRecursive;
let good: FakeRecursive;

function probeConf(over: Record<string, unknown>) {
  const own = dnsDrift.schema.parse({ hosts: ['hooks.pay.test'], ...over });
  return { name: 'dns', type: 'dns_drift', intervalMs: 60_000, timeoutMs: 10_000, thresholds: { grace_seconds: 60 }, ...own };
}

function ctxFor(state = new Map<string, unknown>(), config?: Partial<LoadedConfig>): TestContext {
  const ctx = makeTestContext({ probe: 'dns', now: clock, state, config });
  return ctx;
}

async function runAt(t: number, conf: ReturnType<typeof probeConf>, ctx: TestContext) {
  clock = t;
  ctx.setNow(t);
  return dnsDrift.run(conf, ctx);
}

type HostDetails = { verdicts: string[]; summary: string[]; resolver: { addresses: string[]; ttl?: number }; drift?: { durationSeconds: number } };
const hostOf = (r: { details?: Record<string, unknown> }, h = 'hooks.pay.test') => (r.details!.hosts as Record<string, HostDetails>)[h]!;

beforeAll(async () => {
  auth = await FakeAuthoritative.start({ zone: 'pay.test', records: [{ name: 'hooks.pay.test', type: 'A', ttl: 3600, values: ['127.0.0.2'] }] });
  bad = await FakeRecursive.start({ upstream: [auth.address], minTtl: 172800, now: () => clock });
  good = await FakeRecursive.start({ upstream: [auth.address], now: () => clock });
});
afterAll(async () => {
  await Promise.all([bad?.stop(), good?.stop(), auth?.stop()]);
});
beforeEach(() => {
  clock = T0;
  auth.set('hooks.pay.test', 'A', ['127.0.0.2'], 3600);
  bad.flush();
  good.flush();
});

describe('dns_drift verdicts (fakes, fake clock)', () => {
  it('flags the misconfigured resolver as TTL-inflated before any change; the good one is clean', async () => {
    const badCtx = ctxFor();
    const r = await runAt(T0, probeConf({ resolver: bad.address, authoritative: [auth.address] }), badCtx);
    expect(r.ok).toBe(false);
    expect(hostOf(r).verdicts).toEqual(['ttl_inflated']);
    expect(r.reason).toMatch(/hands out TTL 172800s but the authoritative TTL is 3600s/);
    expect(r.fix).toMatch(/cache-min-ttl/);
    // Latent: nothing is broken yet, so it is a ticket with no immediate action.
    expect(r.severity).toBe('ticket');
    expect(r.action).toBeUndefined();
    expect(r.explains).toBeUndefined();
    expect(await badCtx.metricValue('dns_ttl_inflated', { host: 'hooks.pay.test' })).toBe(1);
    expect(await badCtx.metricValue('dns_resolver_ttl_seconds', { host: 'hooks.pay.test' })).toBe(172800);
    expect(await badCtx.metricValue('dns_authoritative_ttl_seconds', { host: 'hooks.pay.test' })).toBe(3600);
    expect(await badCtx.metricValue('dns_drift', { host: 'hooks.pay.test' })).toBe(0);

    const goodCtx = ctxFor();
    const g = await runAt(T0, probeConf({ resolver: good.address, authoritative: [auth.address] }), goodCtx);
    expect(g.ok).toBe(true);
    expect(hostOf(g).verdicts).toEqual(['ok']);
    expect(await goodCtx.metricValue('dns_ttl_inflated', { host: 'hooks.pay.test' })).toBe(0);
  });

  it('after a migration: bad drifts at once and goes stale after TTL+grace; good follows after the TTL and never fails; a flush clears', async () => {
    const badCtx = ctxFor();
    const goodCtx = ctxFor();
    const badConf = probeConf({ resolver: bad.address, authoritative: [auth.address] });
    const goodConf = probeConf({ resolver: good.address, authoritative: [auth.address] });
    await runAt(T0, badConf, badCtx);
    await runAt(T0, goodConf, goodCtx);

    auth.set('hooks.pay.test', 'A', ['127.0.0.3']);
    // One interval later.
    const b1 = await runAt(T0 + 60_000, badConf, badCtx);
    expect(hostOf(b1).verdicts).toContain('drift');
    expect(hostOf(b1).resolver.addresses).toEqual(['127.0.0.2']);
    expect(await badCtx.metricValue('dns_drift', { host: 'hooks.pay.test' })).toBe(1);
    expect(await badCtx.metricValue('dns_drift_duration_seconds', { host: 'hooks.pay.test' })).toBe(0);
    const g1 = await runAt(T0 + 60_000, goodConf, goodCtx);
    expect(g1.ok).toBe(true); // propagation within the TTL must not fail the probe
    expect(hostOf(g1).verdicts).toEqual(['drift']);
    expect(hostOf(g1).summary.join(' ')).toMatch(/normal propagation/);
    // Passing, but a drifting host is still the likely cause of delivery failures to it.
    expect(g1.explains).toEqual(['hooks.pay.test']);

    // Half a TTL later: both still drifting, neither stale.
    const b2 = await runAt(T0 + 1_860_000, badConf, badCtx);
    expect(hostOf(b2).verdicts).toContain('drift');
    expect(await badCtx.metricValue('dns_drift_duration_seconds', { host: 'hooks.pay.test' })).toBe(1800);
    expect((await runAt(T0 + 1_860_000, goodConf, goodCtx)).ok).toBe(true);

    // Past the TTL (3600 s after the good resolver cached it): good has followed, bad is stale.
    const g3 = await runAt(T0 + 3_601_000, goodConf, goodCtx);
    expect(g3.ok).toBe(true);
    expect(hostOf(g3).verdicts).toEqual(['ok']);
    expect(await goodCtx.metricValue('dns_drift', { host: 'hooks.pay.test' })).toBe(0);
    const b3 = await runAt(T0 + 3_800_000, badConf, badCtx);
    expect(b3.ok).toBe(false);
    expect(hostOf(b3).verdicts).toEqual(expect.arrayContaining(['stale', 'ttl_inflated']));
    expect(b3.reason).toMatch(/stale answer/);
    // The action ends the outage now (flush, with the host filled in); the fix prevents the next one.
    for (const word of [
      'systemd-resolved',
      'resolvectl flush-caches',
      'unbound-control flush hooks.pay.test',
      'unbound-control flush_zone pay.test',
      'dnsmasq',
      'nscd -i hosts',
    ])
      expect(b3.action).toContain(word);
    expect(b3.action).toContain(`resolver ${bad.address}`);
    expect(b3.action).not.toMatch(/cache-min-ttl/);
    expect(b3.fix).toMatch(/cache-min-ttl/);
    expect(b3.severity).toBe('page');
    expect(b3.explains).toEqual(['hooks.pay.test']);
    expect(b3.since).toBe(T0 + 60_000);
    expect(await badCtx.metricValue('dns_drift_stale', { host: 'hooks.pay.test' })).toBe(1);
    expect(await badCtx.metricValue('dns_drift_duration_seconds', { host: 'hooks.pay.test' })).toBe(3740);

    bad.flush();
    const b4 = await runAt(T0 + 3_860_000, badConf, badCtx);
    expect(hostOf(b4).verdicts).toEqual(['ttl_inflated']);
    expect(await badCtx.metricValue('dns_drift', { host: 'hooks.pay.test' })).toBe(0);
    expect(await badCtx.metricValue('dns_drift_duration_seconds', { host: 'hooks.pay.test' })).toBe(0);
    expect([...badCtx.state.keys()].filter((k) => k.startsWith('drift_since:'))).toEqual([]);
  });

  it('a shorter grace makes the drift stale sooner (grace key and threshold)', async () => {
    const ctx = ctxFor();
    const conf = probeConf({ resolver: bad.address, authoritative: [auth.address], grace: '10s' });
    await runAt(T0, conf, ctx);
    auth.set('hooks.pay.test', 'A', ['127.0.0.3'], 5);
    await runAt(T0 + 1000, conf, ctx);
    const r = await runAt(T0 + 17_000, conf, ctx);
    expect(hostOf(r).verdicts).toContain('stale');
    expect(r.details!.graceSeconds).toBe(10);
  });

  it('reports authoritative servers that disagree', async () => {
    const other = await FakeAuthoritative.start({ zone: 'pay.test', records: [{ name: 'hooks.pay.test', type: 'A', ttl: 3600, values: ['127.0.0.9'] }] });
    try {
      const ctx = ctxFor();
      const r = await runAt(T0, probeConf({ resolver: good.address, authoritative: [auth.address, other.address] }), ctx);
      expect(r.ok).toBe(false);
      expect(hostOf(r).verdicts).toContain('authoritative_disagreement');
      expect(r.reason).toContain(`${auth.address} serves 127.0.0.2`);
      expect(r.reason).toContain(`${other.address} serves 127.0.0.9`);
      expect(await ctx.metricValue('dns_authoritative_disagreement', { host: 'hooks.pay.test' })).toBe(1);
    } finally {
      await other.stop();
    }
  });

  it('reports a resolver failure (SERVFAIL, timeout) while the authoritative servers answer', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    const broken = await FakeRecursive.start({ upstream: [`127.0.0.1:${silent.address().port}`], upstreamTimeoutMs: 100 });
    try {
      const ctx = ctxFor();
      const r = await runAt(T0, { ...probeConf({ resolver: broken.address, authoritative: [auth.address], recordTypes: ['A'] }), timeoutMs: 1000 }, ctx);
      expect(r.ok).toBe(false);
      expect(hostOf(r).verdicts).toEqual(['resolver_failure']);
      expect(r.reason).toMatch(/answered SERVFAIL while the authoritative servers serve 127\.0\.0\.2/);
      expect(await ctx.metricValue('dns_resolver_failure', { host: 'hooks.pay.test' })).toBe(1);
      expect(await ctx.metricValue('dns_drift', { host: 'hooks.pay.test' })).toBe(0);

      const t = await runAt(
        T0,
        { ...probeConf({ resolver: `127.0.0.1:${silent.address().port}`, authoritative: [auth.address], recordTypes: ['A'] }), timeoutMs: 1000 },
        ctxFor(),
      );
      expect(hostOf(t).verdicts).toEqual(['resolver_failure']);
      expect(t.reason).toMatch(/TIMEOUT/);
    } finally {
      await broken.stop();
      silent.close();
    }
  });

  it('reports a resolver failure when the resolver says NXDOMAIN while the authoritative servers answer (cached negative answer)', async () => {
    const ctx = ctxFor();
    const conf = probeConf({ resolver: good.address, authoritative: [auth.address] });
    // Before the record exists both sides say NXDOMAIN: the name is missing, not a resolver fault.
    auth.set('hooks.pay.test', 'A', []);
    const before = await runAt(T0, conf, ctx);
    expect(hostOf(before).verdicts).toEqual(['nxdomain']);
    expect(await ctx.metricValue('dns_resolver_failure', { host: 'hooks.pay.test' })).toBe(0);

    // The record is added; the resolver still holds the negative answer (SOA minimum 30 s).
    auth.set('hooks.pay.test', 'A', ['127.0.0.2'], 3600);
    const r = await runAt(T0 + 10_000, conf, ctx);
    expect(r.ok).toBe(false);
    expect(hostOf(r).verdicts).toEqual(['resolver_failure']);
    expect(r.reason).toMatch(/resolver 127\.0\.0\.1:\d+ answered NXDOMAIN while the authoritative servers serve 127\.0\.0\.2/);
    expect(r.action).toMatch(/cached negative answer clears with a flush/);
    expect(r.fix).toMatch(/resolver's logs/);
    expect((hostOf(r) as unknown as { resolver: { rcode: string } }).resolver.rcode).toBe('NXDOMAIN');
    expect(await ctx.metricValue('dns_resolver_failure', { host: 'hooks.pay.test' })).toBe(1);
    expect(await ctx.metricValue('dns_drift', { host: 'hooks.pay.test' })).toBe(0);

    // Once the negative TTL runs out the resolver follows and the verdict clears.
    const after = await runAt(T0 + 40_000, conf, ctx);
    expect(hostOf(after).verdicts).toEqual(['ok']);
    expect(await ctx.metricValue('dns_resolver_failure', { host: 'hooks.pay.test' })).toBe(0);
  });

  it("an authoritative outage drops the host's verdict series instead of exporting the last ones, and keeps the drift start", async () => {
    const ctx = ctxFor();
    const conf = probeConf({ hosts: ['hooks.pay.test', 'other.pay.test'], resolver: bad.address, authoritative: [auth.address], recordTypes: ['A'] });
    auth.set('other.pay.test', 'A', ['127.0.0.5'], 3600);
    await runAt(T0, conf, ctx);
    auth.set('hooks.pay.test', 'A', ['127.0.0.3']);
    await runAt(T0 + 60_000, conf, ctx);
    const h = { host: 'hooks.pay.test' };
    expect(await ctx.metricValue('dns_drift', h)).toBe(1);
    expect(await ctx.metricValue('dns_authoritative_failure', h)).toBe(0);

    // The authority stops answering for hooks.pay.test only (SERVFAIL, no AA).
    auth.respond = (q) => (q.questions![0]!.name.toLowerCase() === 'hooks.pay.test' ? reply(q, { rcode: 2 }) : undefined);
    try {
      const r = await runAt(T0 + 120_000, conf, ctx);
      expect(hostOf(r).verdicts).toEqual(['authoritative_failure']);
      for (const m of [
        'dns_drift',
        'dns_drift_duration_seconds',
        'dns_drift_stale',
        'dns_ttl_inflated',
        'dns_authoritative_ttl_seconds',
        'dns_authoritative_disagreement',
        'dns_resolver_failure',
      ]) {
        expect(await ctx.metricValue(m, h), m).toBeUndefined();
      }
      expect(await ctx.metricValue('dns_authoritative_failure', h)).toBe(1);
      // What the resolver hands out is still measured; the other host is judged as usual.
      expect(await ctx.metricValue('dns_resolver_ttl_seconds', h)).toBeGreaterThan(0);
      expect(await ctx.metricValue('dns_ttl_inflated', { host: 'other.pay.test' })).toBe(1);
      expect(await ctx.metricValue('dns_drift', { host: 'other.pay.test' })).toBe(0);
      expect(await ctx.metricValue('dns_authoritative_failure', { host: 'other.pay.test' })).toBe(0);
      const exposition = await ctx.registry.registry.metrics();
      expect(exposition).not.toMatch(/hookwatch_dns_drift\{[^}]*host="hooks\.pay\.test"/);
      expect(ctx.state.get('drift_since:hooks.pay.test')).toBe(T0 + 60_000);
    } finally {
      auth.respond = undefined;
      auth.set('other.pay.test', 'A', []);
    }

    // The authority is back: the verdicts return, the drift's duration counts from its real start.
    await runAt(T0 + 180_000, conf, ctx);
    expect(await ctx.metricValue('dns_authoritative_failure', h)).toBe(0);
    expect(await ctx.metricValue('dns_drift', h)).toBe(1);
    expect(await ctx.metricValue('dns_drift_duration_seconds', h)).toBe(120);
  });

  it('fails clearly when no authoritative server answers, without touching drift state', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    try {
      const ctx = ctxFor();
      const r = await runAt(
        T0,
        { ...probeConf({ resolver: good.address, authoritative: [`127.0.0.1:${silent.address().port}`], recordTypes: ['A'] }), timeoutMs: 1000 },
        ctx,
      );
      expect(r.ok).toBe(false);
      expect(hostOf(r).verdicts).toEqual(['authoritative_failure']);
      expect(r.reason).toMatch(/no authoritative server gave an answer/);
    } finally {
      silent.close();
    }
  });

  it('the system resolver path uses getaddrinfo (an /etc/hosts name is drift against the zone)', async () => {
    // "localhost" resolves through /etc/hosts; the fake zone has no such name -> NXDOMAIN at the authority.
    const ctx = ctxFor();
    const r = await runAt(T0, probeConf({ hosts: ['localhost'], resolver: 'system', authoritative: [auth.address], recordTypes: ['A'] }), ctx);
    const h = hostOf(r, 'localhost');
    // The fake refuses names outside pay.test: the authority side fails and says so.
    expect(h.verdicts).toEqual(['authoritative_failure']);
    expect(r.ok).toBe(false);
  });
});

describe('dns_drift configuration', () => {
  it("defaults hosts to the synthetic probes' target hosts", async () => {
    const probes = [
      {
        name: 's',
        type: 'synthetic',
        intervalMs: 1,
        timeoutMs: 1,
        thresholds: {},
        targets: ['https://hooks.pay.test/btcpay', 'http://backup.pay.test:8080/x', 'https://127.0.0.1/x', 'https://[::1]/x', 'not a url'],
      },
      { name: 'd', type: 'delivery_rate', intervalMs: 1, timeoutMs: 1, thresholds: {}, targets: ['https://ignored.test/'] },
    ];
    expect(syntheticHosts(testedDestinations(probes, PROBE_KINDS))).toEqual(['hooks.pay.test', 'backup.pay.test']);
    const ctx = ctxFor(new Map(), { probes, global: { intervalMs: 60_000, timeoutMs: 10_000, resolver: good.address } });
    const conf = probeConf({ authoritative: [auth.address], recordTypes: ['A'] });
    delete (conf as { hosts?: string[] }).hosts;
    const r = await runAt(T0, conf, ctx);
    expect(Object.keys(r.details!.hosts as object)).toEqual(['hooks.pay.test', 'backup.pay.test']);
    expect(r.details!.resolver).toBe(good.address); // global.resolver is the default
    expect(dnsDrift.validate!(conf as never, { ...ctx.config, sources: {}, probes: [], destinations: testedDestinations([], PROBE_KINDS) })).toEqual([
      { key: 'hosts', message: expect.stringMatching(/no hosts to check/) },
    ]);
  });

  it('names the flush for the resolver in use: systemd-resolved by its stub address, else each command with the host', () => {
    expect(flushAction('hooks.pay.test', 'system', [{ host: '127.0.0.53', port: 53 }])).toBe(
      "Flush the sender's DNS cache (systemd-resolved at 127.0.0.53): `resolvectl flush-caches`",
    );
    const other = flushAction('hooks.pay.test', '10.0.0.2:53', [{ host: '10.0.0.2', port: 53 }]);
    expect(other).toContain('resolver 10.0.0.2:53');
    expect(other).toContain('`unbound-control flush hooks.pay.test`');
    expect(other).toContain('`unbound-control flush_zone pay.test`');
  });

  it('validates its keys strictly', () => {
    const p = (o: unknown) => dnsDrift.schema.safeParse(o);
    expect(p({ resolver: 'system' }).success).toBe(true);
    expect(p({ resolver: '127.0.0.53:53', authoritative: ['[::1]:5300', '127.0.0.1:53'] }).success).toBe(true);
    expect(p({ resolver: 'dns.example.com:53' }).success).toBe(false);
    expect(p({ resolver: '[::1]:53', authoritative: ['[2001:db8::53]:5353'] }).success).toBe(true);
    expect(p({ authoritative: 'sometimes' }).success).toBe(false);
    expect(p({ grace: 'soon' }).success).toBe(false);
    expect(p({ hostz: ['a'] }).success).toBe(false);
    expect(p({ recordTypes: ['MX'] }).success).toBe(false);
    expect(dnsDrift.thresholds!.grace_seconds!.default).toBe(60);
    expect(FLUSH_HELP).toMatch(/systemd-resolved.*unbound.*dnsmasq.*nscd/);
  });

  it('accepts only IP:PORT for resolver and authoritative, and says why a host name is refused', () => {
    const msgs = (o: unknown) => {
      const r = dnsDrift.schema.safeParse(o);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(msgs({ resolver: 'dns.example.com:53' })).toEqual([
      expect.stringMatching(
        /^resolver: "dns\.example\.com:53": host names are not accepted here, only addresses .*e\.g\. 127\.0\.0\.53:53 or \[::1\]:53.*or "system"/,
      ),
    ]);
    expect(msgs({ resolver: 'localhost:53' })).toEqual([expect.stringMatching(/host names are not accepted/)]);
    expect(msgs({ authoritative: ['127.0.0.1:53', 'ns1.pay.test:53'] })).toEqual([
      expect.stringMatching(/^authoritative\.1: "ns1\.pay\.test:53": host names are not accepted/),
    ]);
    expect(msgs({ authoritative: ['ns1.pay.test:53'] })[0]).not.toMatch(/system/);
    expect(msgs({ resolver: '::1:53' })).toEqual([expect.stringMatching(/IPv6 address not in brackets: write it as \[ADDRESS\]:PORT, e\.g\. \[::1\]:53/)]);
    expect(msgs({ resolver: 'fe80::1' })).toEqual([expect.stringMatching(/has no port/)]);
    expect(msgs({ resolver: '127.0.0.53' })).toEqual([expect.stringMatching(/has no port/)]);
    expect(msgs({ resolver: '[127.0.0.1]:53' })).toEqual([expect.stringMatching(/not an IPv6 address/)]);
    expect(msgs({ resolver: '300.1.1.1:53' })).toEqual([expect.stringMatching(/not an IPv4 address/)]);
    expect(msgs({ resolver: '127.0.0.1:70000' })).toEqual([expect.stringMatching(/port 70000 is out of range/)]);
    expect(msgs({ resolver: 'system', authoritative: ['[::1]:53', '127.0.0.1:5300'] })).toEqual([]);
    expect(msgs({ authoritative: 'auto' })).toEqual([]);
  });

  it('drops the series of a host that left the list', async () => {
    const ctx = ctxFor();
    await runAt(T0, probeConf({ hosts: ['hooks.pay.test', 'gone.pay.test'], resolver: good.address, authoritative: [auth.address], recordTypes: ['A'] }), ctx);
    expect(await ctx.metricValue('dns_ttl_inflated', { host: 'hooks.pay.test' })).toBe(0);
    expect(await ctx.metricValue('dns_lookup_duration_seconds', { host: 'gone.pay.test', side: 'resolver' })).toBeGreaterThanOrEqual(0);
    await runAt(T0 + 60_000, probeConf({ hosts: ['hooks.pay.test'], resolver: good.address, authoritative: [auth.address], recordTypes: ['A'] }), ctx);
    expect(await ctx.metricValue('dns_lookup_duration_seconds', { host: 'gone.pay.test', side: 'resolver' })).toBeUndefined();
    expect(await ctx.metricValue('dns_lookup_duration_seconds', { host: 'hooks.pay.test', side: 'resolver' })).toBeGreaterThanOrEqual(0);
  });

  it('ignores spoofed answers (other port, wrong id) and counts them', async () => {
    const spoofer = dgram.createSocket('udp4');
    await new Promise<void>((r) => spoofer.bind(0, '127.0.0.1', () => r()));
    auth.respond = async (q, _raw, from) => {
      const forged = reply(q, { aa: true, answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 3600, class: 'IN', data: '6.6.6.6' }] });
      spoofer.send(forged, from.port, from.address);
      const wrongId = Buffer.from(forged);
      wrongId.writeUInt16BE(((q.id ?? 0) + 1) & 0xffff, 0);
      await new Promise((r) => setTimeout(r, 5));
      return [
        wrongId,
        reply(q, {
          aa: true,
          answers: q.questions![0]!.type === 'A' ? [{ type: 'A', name: q.questions![0]!.name, ttl: 3600, class: 'IN', data: '127.0.0.2' }] : [],
        }),
      ];
    };
    try {
      const ctx = ctxFor();
      const r = await runAt(T0, probeConf({ resolver: good.address, authoritative: [auth.address] }), ctx);
      expect(r.ok).toBe(true);
      expect(JSON.stringify(r)).not.toContain('6.6.6.6');
      expect(await ctx.metricValue('dns_rejected_packets_total')).toBeGreaterThanOrEqual(4); // 2 per authoritative query
    } finally {
      auth.respond = undefined;
      spoofer.close();
    }
  });

  it('never exposes secrets of the synthetic probes it reads hosts from', async () => {
    const probes = [
      {
        name: 's',
        type: 'synthetic',
        intervalMs: 1,
        timeoutMs: 1,
        thresholds: {},
        targets: ['https://hooks.pay.test/x'],
        signing: { scheme: 'btcpay', secret: Secret.literal('wh-s3cr3t-value', 'env:WEBHOOK_SECRET') },
      },
    ];
    const ctx = ctxFor(new Map(), { probes, global: { intervalMs: 60_000, timeoutMs: 10_000, resolver: bad.address } });
    const conf = probeConf({ authoritative: [auth.address], recordTypes: ['A'] });
    delete (conf as { hosts?: string[] }).hosts;
    const r = await runAt(T0, conf, ctx);
    const everything = JSON.stringify(r) + (await ctx.registry.registry.metrics()) + ctx.logLines.join('');
    expect(everything).toContain('hooks.pay.test');
    expect(everything).not.toContain('wh-s3cr3t-value');
  });

  it('golden exposition', async () => {
    const ctx = ctxFor();
    const conf = probeConf({ resolver: bad.address, authoritative: [auth.address] });
    await runAt(T0, conf, ctx);
    auth.set('hooks.pay.test', 'A', ['127.0.0.3']);
    await runAt(T0 + 60_000, conf, ctx);
    expectGolden(new URL('./exposition.prom', import.meta.url), await ctx.registry.registry.metrics());
  });
});
