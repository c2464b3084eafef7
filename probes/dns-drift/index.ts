// dns_drift: compare what the sender's resolver hands out for a host with what the host's
// authoritative servers serve right now. Catches the stale answer of a migration (drift, stale after
// TTL + grace), the latent misconfiguration before any migration (TTL inflated), a half-done
// migration (authoritative disagreement) and a broken resolver (resolver failure).
import net from 'node:net';
import { z } from 'zod';
import { defineProbe, type ProbeBase, type TestedDestinations } from '../../src/probe/types.ts';
import { duration, ipPort } from '../../src/config/schema-helpers.ts';
import { unbracket } from '../../src/address.ts';
import { forEachLimited } from '../../src/limited.ts';
import type { MetricSet } from '../../src/metrics/run-metrics.ts';
import {
  parseServer,
  resolveAuthoritative,
  resolveRecursive,
  systemLookup,
  systemNameservers,
  DnsQueryError,
  type AddressType,
  type AuthoritativeAnswer,
  type RecursiveAnswer,
} from '../../src/clients/dns/index.ts';
import { DEFAULTS, evaluateHost, failedHost, graceSeconds, summarizeHosts, type HostNumbers, type HostReport } from './evaluate.ts';
import { METRICS } from './metrics.ts';

export { FLUSH_HELP, TTL_HELP, flushAction } from './evaluate.ts';

export const THRESHOLDS = {
  grace_seconds: {
    default: DEFAULTS.grace_seconds,
    help: 'Drift lasting longer than the authoritative TTL plus this grace is stale (pages); alert on dns_drift_duration_seconds > dns_authoritative_ttl_seconds + grace.',
  },
};

// The DNS client sends raw queries to an address, so a resolver or authoritative server is named by
// IP:PORT only (src/address.ts): a host name there would itself need a resolver to find it.
const schema = z.strictObject({
  hosts: z
    .array(
      z
        .string()
        .min(1)
        .regex(/^[A-Za-z0-9_.-]+$/, 'expected a host name such as hooks.example.com'),
    )
    .min(1)
    .optional()
    .describe("Hosts to check; default: the hosts of every synthetic probe's targets"),
  resolver: ipPort(true)
    .optional()
    .describe('"system" (getaddrinfo, what the sending process sees) or a recursive resolver\'s IP:PORT; default global.resolver'),
  authoritative: z
    .union([z.literal('auto'), z.array(ipPort()).min(1)])
    .default('auto')
    .describe('"auto" (find the zone\'s NS through the resolver) or a fixed list of authoritative IP:PORT'),
  grace: duration().optional().describe('Shorthand for thresholds.grace_seconds; when set it wins'),
  recordTypes: z
    .array(z.enum(['A', 'AAAA']))
    .min(1)
    .default(['A', 'AAAA'])
    .describe('Address record types to compare (default [A, AAAA])'),
});
type Conf = z.infer<typeof schema>;

/** Host names (not IP literals) of the destinations the synthetic probes test. */
export function syntheticHosts(destinations: TestedDestinations | undefined): string[] {
  const hosts = new Set<string>();
  for (const t of destinations?.targets ?? []) {
    const h = unbracket(t.host);
    if (h && net.isIP(h) === 0) hosts.add(h);
  }
  return [...hosts];
}

type Probe = Conf & ProbeBase;
type Lookup = { res: RecursiveAnswer; auth: AuthoritativeAnswer; resMs: number; authMs: number; resolverServers: Array<{ host: string; port: number }> };

/** What the process sees (getaddrinfo) decides; a raw query to the resolv.conf nameserver only adds the TTL it hands out. */
async function systemView(host: string, probe: Probe, servers: ReturnType<typeof parseServer>[], q: QueryOpts): Promise<RecursiveAnswer> {
  const [sys, raw] = await Promise.all([
    systemLookup(host, { timeoutMs: probe.timeoutMs, signal: q.signal }),
    servers.length ? resolveRecursive(servers, host, { ...q, attempts: servers.length }) : Promise.resolve(undefined),
  ]);
  const rcode = sys.addresses.length ? 'NOERROR' : sys.code === 'ENOTFOUND' ? 'NXDOMAIN' : sys.code === 'TIMEOUT' ? 'TIMEOUT' : (sys.code ?? 'ERROR');
  // The raw query's failure is not a verdict: only its TTL is used.
  const maxTtl = raw?.addresses.length ? raw.maxTtl : undefined;
  return { addresses: sys.addresses, rcode, error: sys.error, maxTtl, ttl: raw?.ttl, server: raw?.server, queries: raw?.queries ?? 0 };
}

type QueryOpts = { types: AddressType[]; timeoutMs: number; signal: AbortSignal; onPacket: (e: { outcome: string }) => void };

const timed = async <T>(p: () => Promise<T>): Promise<{ v: T; ms: number }> => {
  const t0 = performance.now();
  const v = await p();
  return { v, ms: performance.now() - t0 };
};

/** Both sides of one host at once: the resolver the sender uses, and the zone's authoritative servers. */
async function lookUp(host: string, probe: Probe, resolver: string, signal: AbortSignal, onRejected: () => void): Promise<Lookup> {
  const q: QueryOpts = {
    types: probe.recordTypes,
    timeoutMs: Math.max(200, Math.min(2000, Math.floor(probe.timeoutMs / 4))),
    signal,
    onPacket: (e) => e.outcome === 'rejected' && onRejected(),
  };
  const resolverServers = resolver === 'system' ? systemNameservers() : [parseServer(resolver)];
  const servers = probe.authoritative === 'auto' ? undefined : probe.authoritative.map(parseServer);
  const [auth, res] = await Promise.all([
    timed(() => resolveAuthoritative(host, { ...q, servers, discovery: resolverServers })),
    timed(() => (resolver === 'system' ? systemView(host, probe, resolverServers, q) : resolveRecursive(resolverServers, host, q))),
  ]);
  return { auth: auth.v, res: res.v, authMs: auth.ms, resMs: res.ms, resolverServers };
}

/** A host's series this run; none of its verdict series when the authority could not be asked. */
function exportHost(m: MetricSet<typeof METRICS>, host: string, n: HostNumbers, l?: Lookup): void {
  if (l) {
    m.gauge('dns_lookup_duration_seconds', { host, side: 'authoritative' }, l.authMs / 1000);
    m.gauge('dns_lookup_duration_seconds', { host, side: 'resolver' }, l.resMs / 1000);
  }
  if (n.resolverTtl !== undefined) m.gauge('dns_resolver_ttl_seconds', { host }, n.resolverTtl);
  m.gauge('dns_authoritative_failure', { host }, n.authoritativeFailure);
  const v = n.verdict;
  if (!v) return;
  if (v.authoritativeTtl !== undefined) m.gauge('dns_authoritative_ttl_seconds', { host }, v.authoritativeTtl);
  m.gauge('dns_ttl_inflated', { host }, v.ttlInflated);
  m.gauge('dns_authoritative_disagreement', { host }, v.disagreement);
  m.gauge('dns_resolver_failure', { host }, v.resolverFailure);
  m.gauge('dns_drift', { host }, v.drift);
  m.gauge('dns_drift_duration_seconds', { host }, v.driftSeconds);
  m.gauge('dns_drift_stale', { host }, v.stale);
}

export const dnsDrift = defineProbe({
  type: 'dns_drift',
  runbook: 'HookwatchDNSDrift',
  schema,
  thresholds: THRESHOLDS,
  validate(probe, config) {
    if (probe.hosts) return [];
    if (syntheticHosts(config.destinations).length) return [];
    return [{ key: 'hosts', message: 'no hosts to check: list them in `hosts`, or add a synthetic probe whose targets name hosts' }];
  },
  metrics: METRICS,
  async run(probe, ctx) {
    ctx.metrics.inc('dns_rejected_packets_total', {}, 0);
    const hosts = probe.hosts ?? syntheticHosts(ctx.config.destinations);
    const driftKey = (h: string) => `drift_since:${h}`;
    for (const k of [...ctx.state.keys()]) if (k.startsWith('drift_since:') && !hosts.includes(k.slice('drift_since:'.length))) ctx.state.delete(k);
    if (!hosts.length) return { ok: false, reason: 'no hosts to check', fix: 'List hosts in `hosts`, or add a synthetic probe with targets.' };

    const resolver = probe.resolver ?? ctx.config.global.resolver ?? 'system';
    const graceS = graceSeconds(probe);
    // The `grace:` shorthand wins over thresholds.grace_seconds; export what is in effect so the rules see it.
    ctx.metrics.threshold('grace_seconds', graceS);
    let rejected = 0;
    const reports: HostReport[] = [];
    // A handful of hosts at a time: each host costs ~4 queries per side.
    const check = async (host: string) => {
      try {
        const l = await lookUp(host, probe, resolver, ctx.signal, () => rejected++);
        const e = evaluateHost({ host, resolver, ...l, graceS, nowMs: ctx.now(), driftSince: ctx.state.get(driftKey(host)) as number | undefined });
        if (e.driftSince === undefined) ctx.state.delete(driftKey(host));
        else ctx.state.set(driftKey(host), e.driftSince);
        exportHost(ctx.metrics, host, e.numbers, l);
        reports.push(e.report);
      } catch (e) {
        if (e instanceof DnsQueryError && e.kind === 'aborted') throw e;
        exportHost(ctx.metrics, host, { authoritativeFailure: 1 });
        reports.push(failedHost(host, e instanceof Error ? e.message : String(e)));
      }
    };
    try {
      await forEachLimited(hosts, 4, check);
    } catch (e) {
      return {
        ok: false,
        reason: `dns_drift aborted: ${e instanceof Error ? e.message : String(e)}`,
        fix: 'The run timed out or the agent is shutting down; raise the probe timeout if this repeats.',
      };
    } finally {
      if (rejected) ctx.metrics.inc('dns_rejected_packets_total', {}, rejected);
    }
    return summarizeHosts(reports, hosts, { resolver, graceSeconds: graceS, ...(rejected ? { rejectedPackets: rejected } : {}) });
  },
});
