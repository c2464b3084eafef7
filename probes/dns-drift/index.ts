// dns_drift: compare what the sender's resolver hands out for a host with what the host's
// authoritative servers serve right now. Catches the stale answer of a migration (drift, stale after
// TTL + grace), the latent misconfiguration before any migration (TTL inflated), a half-done
// migration (authoritative disagreement) and a broken resolver (resolver failure).
import net from 'node:net';
import { z } from 'zod';
import { defineProbe, type ProbeContext } from '../../src/probe/types.ts';
import { duration, ipPort } from '../../src/config/schema-helpers.ts';
import { unbracket } from '../../src/address.ts';
import type { TestedDestinations } from '../../src/probe/types.ts';
import { forEachLimited } from '../../src/limited.ts';
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

export const GRACE_DEFAULT_SECONDS = 60;
export const THRESHOLDS = {
  grace_seconds: {
    default: GRACE_DEFAULT_SECONDS,
    help: 'Drift lasting longer than the authoritative TTL plus this grace is stale (pages); alert on dns_drift_duration_seconds > dns_authoritative_ttl_seconds + grace.',
  },
};

// The DNS client sends raw queries to an address, so a resolver or authoritative server is named by
// IP:PORT only (src/address.ts): a host name there would itself need a resolver to find it.
const schema = z.strictObject({
  hosts: z
    .array(z.string().min(1).regex(/^[A-Za-z0-9_.-]+$/, 'expected a host name such as hooks.example.com'))
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
  recordTypes: z.array(z.enum(['A', 'AAAA'])).min(1).default(['A', 'AAAA']).describe('Address record types to compare (default [A, AAAA])'),
});
type Conf = z.infer<typeof schema>;

const METRICS = [
  { name: 'dns_lookup_duration_seconds', type: 'gauge' as const, help: 'Duration of the last lookup of the host, by side (resolver, authoritative).', labelNames: ['host', 'side'] },
  { name: 'dns_authoritative_disagreement', type: 'gauge' as const, help: "1 when the host's authoritative servers serve different answers.", labelNames: ['host'] },
  { name: 'dns_resolver_failure', type: 'gauge' as const, help: '1 when the resolver fails (SERVFAIL, NXDOMAIN, timeout) while the authoritative servers answer.', labelNames: ['host'] },
  { name: 'dns_drift_stale', type: 'gauge' as const, help: '1 when the current drift has outlasted the authoritative TTL plus the grace.', labelNames: ['host'] },
  { name: 'dns_authoritative_failure', type: 'gauge' as const, help: "1 when no authoritative server answered for the host, so its drift/TTL verdicts are unknown (and not exported).", labelNames: ['host'] },
  { name: 'dns_rejected_packets_total', type: 'counter' as const, help: 'DNS packets rejected by the client (spoofed, mismatched or malformed).', labelNames: [] },
];
// Series that judge the resolver against the authority: unknown when the authority cannot be asked.
const VERDICT_METRICS = ['dns_drift', 'dns_drift_duration_seconds', 'dns_drift_stale', 'dns_authoritative_ttl_seconds', 'dns_ttl_inflated', 'dns_authoritative_disagreement', 'dns_resolver_failure'];
const HOST_METRICS = [...VERDICT_METRICS, 'dns_resolver_ttl_seconds', 'dns_lookup_duration_seconds', 'dns_authoritative_failure'];

/**
 * The host could not be judged this run: drop its verdict series rather than leave the last run's
 * values (e.g. "no drift") looking current, and raise dns_authoritative_failure. The drift start in
 * ctx.state is kept, so a drift that outlives the outage keeps its true duration.
 */
function markUnknown(ctx: ProbeContext, host: string): void {
  for (const m of VERDICT_METRICS) ctx.metrics.clear(m, (l) => l.host !== host);
  ctx.metrics.set('dns_authoritative_failure', { host }, 1);
}

export const FLUSH_HELP =
  "Flush the sender's DNS cache: systemd-resolved `resolvectl flush-caches`; unbound `unbound-control flush_zone <zone>` (or `flush <host>`); dnsmasq `pkill -HUP dnsmasq` (SIGHUP clears its cache); nscd `nscd -i hosts`.";

/**
 * The command that ends a stale answer for `host`, for the resolver actually in use: 127.0.0.53 is
 * systemd-resolved's stub; any other address could be any software, so each one's command is given
 * with the host filled in, ready to paste on the machine running that resolver.
 */
export function flushAction(host: string, resolver: string, servers: Array<{ host: string; port: number }>): string {
  const where = resolver === 'system' ? `the system resolver (${servers.map((s) => s.host).join(', ') || 'from /etc/resolv.conf'})` : `resolver ${resolver}`;
  if (servers.length > 0 && servers.every((s) => s.host === '127.0.0.53')) return `Flush the sender's DNS cache (systemd-resolved at 127.0.0.53): \`resolvectl flush-caches\``;
  const zone = host.split('.').slice(1).join('.') || host;
  return (
    `Flush ${host} from the cache of ${where}, on the machine that runs it: unbound \`unbound-control flush ${host}\` (whole zone: \`unbound-control flush_zone ${zone}\`); ` +
    'systemd-resolved `resolvectl flush-caches`; dnsmasq `pkill -HUP dnsmasq`; nscd `nscd -i hosts`. Then restart the sender if it pools connections to the old address.'
  );
}
export const TTL_HELP =
  'Make the caching resolver honour TTLs: unbound — remove `cache-min-ttl` (default 0) and keep `cache-max-ttl` at 86400 or less; dnsmasq — remove `min-cache-ttl`/`max-cache-ttl` overrides; nscd — nscd ignores DNS TTLs, lower `positive-time-to-live hosts` in /etc/nscd.conf or disable its hosts cache; systemd-resolved honours TTLs, so look for a forwarder behind it.';

type Verdict = 'ok' | 'drift' | 'stale' | 'ttl_inflated' | 'authoritative_disagreement' | 'resolver_failure' | 'authoritative_failure' | 'nxdomain';

interface HostReport {
  host: string;
  ok: boolean;
  verdicts: Verdict[];
  sentences: string[];
  /** What ends the failure now. */
  actions: string[];
  /** What keeps it from recurring. */
  fixes: string[];
  details: Record<string, unknown>;
}

/** Host names (not IP literals) of the destinations the synthetic probes test. */
export function syntheticHosts(destinations: TestedDestinations | undefined): string[] {
  const hosts = new Set<string>();
  for (const t of destinations?.targets ?? []) {
    const h = unbracket(t.host);
    if (h && net.isIP(h) === 0) hosts.add(h);
  }
  return [...hosts];
}

async function checkHost(host: string, probe: Conf & { timeoutMs: number; intervalMs: number }, resolver: string, graceS: number, ctx: ProbeContext, onRejected: () => void): Promise<HostReport> {
  const perQueryMs = Math.max(200, Math.min(2000, Math.floor(probe.timeoutMs / 4)));
  const types = probe.recordTypes as AddressType[];
  const onPacket = (e: { outcome: string }) => e.outcome === 'rejected' && onRejected();
  const resolverServers = resolver === 'system' ? systemNameservers() : [parseServer(resolver)];
  const fixedAuth = probe.authoritative === 'auto' ? undefined : probe.authoritative.map(parseServer);

  const tAuth = performance.now();
  const authP = resolveAuthoritative(host, { types, servers: fixedAuth, discovery: resolverServers, timeoutMs: perQueryMs, signal: ctx.signal, onPacket }).then((r) => ({ r, ms: performance.now() - tAuth }));
  const tRes = performance.now();
  const resP = (async () => {
    if (resolver === 'system') {
      // What the process sees (getaddrinfo) decides drift; a raw query to the resolv.conf nameserver
      // only adds the TTL it hands out, and its failure is not a verdict.
      const [sys, raw] = await Promise.all([
        systemLookup(host, { timeoutMs: probe.timeoutMs, signal: ctx.signal }),
        resolverServers.length ? resolveRecursive(resolverServers, host, { types, timeoutMs: perQueryMs, signal: ctx.signal, onPacket, attempts: resolverServers.length }) : Promise.resolve(undefined),
      ]);
      const rcode = sys.addresses.length ? 'NOERROR' : sys.code === 'ENOTFOUND' ? 'NXDOMAIN' : sys.code === 'TIMEOUT' ? 'TIMEOUT' : (sys.code ?? 'ERROR');
      return { view: { addresses: sys.addresses, rcode, error: sys.error, maxTtl: raw?.addresses.length ? raw.maxTtl : undefined, ttl: raw?.ttl, server: raw?.server, queries: raw?.queries ?? 0 } as RecursiveAnswer, ms: performance.now() - tRes };
    }
    return { view: await resolveRecursive(resolverServers, host, { types, timeoutMs: perQueryMs, signal: ctx.signal, onPacket }), ms: performance.now() - tRes };
  })();
  const [{ r: auth, ms: authMs }, { view: res, ms: resMs }] = await Promise.all([authP, resP]);

  ctx.metrics.set('dns_lookup_duration_seconds', { host, side: 'authoritative' }, authMs / 1000);
  ctx.metrics.set('dns_lookup_duration_seconds', { host, side: 'resolver' }, resMs / 1000);

  const now = ctx.now();
  const verdicts: Verdict[] = [];
  const sentences: string[] = [];
  const fixes = new Set<string>();
  const actions = new Set<string>();
  const resolverName = resolver === 'system' ? 'the system resolver (getaddrinfo)' : `resolver ${resolver}`;
  const details: Record<string, unknown> = {
    host,
    resolver: { via: resolver, server: res.server, addresses: res.addresses, ttl: res.maxTtl, rcode: res.rcode, ...(res.error ? { error: res.error } : {}) },
    authoritative: summarizeAuth(auth),
  };

  if (res.maxTtl !== undefined) ctx.metrics.set('dns_resolver_ttl_seconds', { host }, res.maxTtl);
  else ctx.metrics.clear('dns_resolver_ttl_seconds', (l) => l.host !== host);

  if (auth.rcode === 'FAILED') {
    markUnknown(ctx, host);
    verdicts.push('authoritative_failure');
    sentences.push(`${host}: no authoritative server gave an answer (${auth.errors.slice(0, 3).join('; ') || 'no servers found'}), so the resolver's answer cannot be judged.`);
    actions.add('Check that the authoritative servers are reachable from this agent, or list them with `authoritative: ["IP:PORT"]` (split horizon).');
    return { host, ok: false, verdicts, sentences, actions: [...actions], fixes: [...fixes], details };
  }
  ctx.metrics.set('dns_authoritative_failure', { host }, 0);

  // TTLs: the authoritative TTL bounds how long a correct cache may lag a change.
  if (auth.ttl !== undefined) ctx.metrics.set('dns_authoritative_ttl_seconds', { host }, auth.ttl);
  else ctx.metrics.clear('dns_authoritative_ttl_seconds', (l) => l.host !== host);

  let ttlSentence: string | undefined;
  const inflated = res.maxTtl !== undefined && auth.ttl !== undefined && res.maxTtl > auth.ttl;
  ctx.metrics.set('dns_ttl_inflated', { host }, inflated ? 1 : 0);
  if (inflated) {
    verdicts.push('ttl_inflated');
    // Told last: when something is broken now, that comes first.
    ttlSentence = `${host}: ${resolverName} hands out TTL ${res.maxTtl}s but the authoritative TTL is ${auth.ttl}s, so after a change it will keep serving the old address ${fmtDuration(res.maxTtl! - auth.ttl!)} longer than intended.`;
    fixes.add(TTL_HELP);
  }

  const disagree = auth.disagreements.length > 0;
  ctx.metrics.set('dns_authoritative_disagreement', { host }, disagree ? 1 : 0);
  if (disagree) {
    verdicts.push('authoritative_disagreement');
    const d = auth.disagreements[0]!;
    sentences.push(`${host}: the authoritative servers disagree about ${d.name} ${d.type}: ${Object.entries(d.answers).map(([s, a]) => `${s} serves ${Array.isArray(a) ? a.join(', ') : a}`).join('; ')} (a migration applied to only part of the NS set?).`);
    actions.add('Update the zone on every authoritative server (check zone transfers: compare SOA serials with `dig +norec SOA <zone> @server`), then re-run this probe.');
  }

  // Resolver failure: it has nothing while the authoritative servers have addresses.
  const resolverFailed = res.addresses.length === 0 && res.rcode !== 'NOERROR' && auth.addresses.length > 0;
  ctx.metrics.set('dns_resolver_failure', { host }, resolverFailed ? 1 : 0);
  if (resolverFailed) {
    verdicts.push('resolver_failure');
    sentences.push(`${host}: ${resolverName} answered ${res.rcode}${res.error ? ` (${res.error})` : ''} while the authoritative servers serve ${auth.addresses.join(', ')}.`);
    actions.add(`A cached negative answer clears with a flush. ${flushAction(host, resolver, resolverServers)}`);
    fixes.add("Check the resolver's logs and its upstream reachability.");
  }
  if (auth.rcode === 'NXDOMAIN' && res.addresses.length === 0) {
    verdicts.push('nxdomain');
    sentences.push(`${host}: the authoritative servers say the name does not exist (NXDOMAIN).`);
    actions.add('Check the host name in the synthetic targets / hosts list, or add the record to the zone.');
  }

  // Drift: some address the resolver gives is not served by any authoritative server (or the resolver
  // holds a stale "no such record" while the zone has one).
  const notServed = res.addresses.filter((a) => !auth.addresses.includes(a));
  const drift = !resolverFailed && (notServed.length > 0 || (res.addresses.length === 0 && res.rcode === 'NOERROR' && auth.addresses.length > 0));
  const key = `drift_since:${host}`;
  let durationS = 0;
  let stale = false;
  const staleAfterS = (auth.ttl ?? 0) + graceS;
  if (drift) {
    const since = (ctx.state.get(key) as number | undefined) ?? now;
    ctx.state.set(key, since);
    durationS = Math.max(0, (now - since) / 1000);
    stale = durationS > staleAfterS;
    details.drift = { since: new Date(since).toISOString(), durationSeconds: round(durationS), staleAfterSeconds: staleAfterS, notServed };
    verdicts.push(stale ? 'stale' : 'drift');
    if (stale) {
      sentences.push(`${host}: ${resolverName} still answers ${res.addresses.join(', ') || 'no address'} but the authoritative servers serve ${auth.addresses.join(', ')}; this has lasted ${fmtDuration(durationS)}, longer than the TTL (${auth.ttl ?? 0}s) plus grace (${graceS}s): the resolver is serving a stale answer.`);
      actions.add(flushAction(host, resolver, resolverServers));
      if (!inflated) fixes.add(TTL_HELP);
    } else {
      sentences.push(`${host}: ${resolverName} answers ${res.addresses.join(', ') || 'no address'} but the authoritative servers serve ${auth.addresses.join(', ')}; normal propagation for up to the TTL (${auth.ttl ?? 0}s) plus grace (${graceS}s), stale after ${fmtDuration(Math.max(0, staleAfterS - durationS))} more.`);
    }
  } else {
    ctx.state.delete(key);
  }
  ctx.metrics.set('dns_drift', { host }, drift ? 1 : 0);
  ctx.metrics.set('dns_drift_duration_seconds', { host }, round(durationS));
  ctx.metrics.set('dns_drift_stale', { host }, stale ? 1 : 0);

  if (ttlSentence) sentences.push(ttlSentence);
  const failing = verdicts.filter((v) => v !== 'drift');
  if (!verdicts.length) verdicts.push('ok');
  return { host, ok: failing.length === 0, verdicts, sentences, actions: [...actions], fixes: [...fixes], details };
}

function summarizeAuth(a: AuthoritativeAnswer): Record<string, unknown> {
  const servers = new Map<string, Record<string, unknown>>();
  for (const q of a.asked) for (const s of q.servers) servers.set(`${q.name} ${q.type} @${s.server}`, { rcode: s.rcode, addresses: s.addresses, ...(s.dangling ? { cname: s.dangling } : {}), ...(s.error ? { error: s.error } : {}) });
  return { addresses: a.addresses, ttl: a.ttl, rcode: a.rcode, ...(a.disagreements.length ? { disagreements: a.disagreements } : {}), ...(a.errors.length ? { errors: a.errors } : {}), answers: Object.fromEntries(servers) };
}

const round = (x: number) => Math.round(x * 1000) / 1000;
function fmtDuration(s: number): string {
  if (s < 120) return `${Math.round(s)}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
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
  async run(probe, ctx) {
    for (const m of METRICS) ctx.metrics.define(m);
    ctx.metrics.touch('dns_rejected_packets_total', {});
    const hosts = probe.hosts ?? syntheticHosts(ctx.config.destinations);
    // Series of hosts that left the list must not linger in /metrics.
    for (const m of HOST_METRICS) ctx.metrics.clear(m, (l) => hosts.includes(l.host ?? ''));
    for (const k of [...ctx.state.keys()]) if (k.startsWith('drift_since:') && !hosts.includes(k.slice('drift_since:'.length))) ctx.state.delete(k);
    if (!hosts.length) return { ok: false, reason: 'no hosts to check', fix: 'List hosts in `hosts`, or add a synthetic probe with targets.' };

    const resolver = probe.resolver ?? ctx.config.global.resolver ?? 'system';
    const graceS = probe.grace !== undefined ? probe.grace / 1000 : (probe.thresholds.grace_seconds ?? GRACE_DEFAULT_SECONDS);
    // The `grace:` shorthand wins over thresholds.grace_seconds; export what is in effect so the rules see it.
    ctx.metrics.set('probe_threshold', { type: probe.type, threshold: 'grace_seconds' }, graceS);
    let rejected = 0;
    const reports: HostReport[] = [];
    // A handful of hosts at a time: each host costs ~4 queries per side.
    const check = async (h: string) => {
      try {
        reports.push(await checkHost(h, probe, resolver, graceS, ctx, () => rejected++));
      } catch (e) {
        if (e instanceof DnsQueryError && e.kind === 'aborted') throw e;
        markUnknown(ctx, h);
        reports.push({ host: h, ok: false, verdicts: ['authoritative_failure'], sentences: [`${h}: check failed: ${e instanceof Error ? e.message : String(e)}`], actions: [], fixes: [], details: { host: h } });
      }
    };
    try {
      await forEachLimited(hosts, 4, check);
    } catch (e) {
      return { ok: false, reason: `dns_drift aborted: ${e instanceof Error ? e.message : String(e)}`, fix: 'The run timed out or the agent is shutting down; raise the probe timeout if this repeats.' };
    } finally {
      if (rejected) ctx.metrics.inc('dns_rejected_packets_total', {}, rejected);
    }
    reports.sort((a, b) => hosts.indexOf(a.host) - hosts.indexOf(b.host));
    const failing = reports.filter((r) => !r.ok);
    const details = {
      resolver,
      graceSeconds: graceS,
      ...(rejected ? { rejectedPackets: rejected } : {}),
      hosts: Object.fromEntries(reports.map((r) => [r.host, { verdicts: r.verdicts, summary: r.sentences, ...r.details }])),
    };
    // Hosts whose answer differs from the authority: their delivery failures have this root cause.
    const explains = reports.filter((r) => r.verdicts.some((v) => v === 'drift' || v === 'stale' || v === 'resolver_failure')).map((r) => r.host);
    if (!failing.length) return { ok: true, details, ...(explains.length ? { explains } : {}) };
    // An inflated TTL alone breaks nothing yet: a ticket, not a page.
    const ticketOnly = failing.every((r) => r.verdicts.every((v) => v === 'ttl_inflated' || v === 'drift'));
    const starts = failing.map((r) => (r.details.drift as { since?: string } | undefined)?.since).filter((x): x is string => !!x).map((x) => Date.parse(x));
    const join = (xs: string[]) => [...new Set(xs)].join(' ') || undefined;
    return {
      ok: false,
      reason: failing.flatMap((r) => r.sentences).join(' '),
      action: join(failing.flatMap((r) => r.actions)),
      fix: join(failing.flatMap((r) => r.fixes)),
      severity: ticketOnly ? 'ticket' : 'page',
      ...(ticketOnly ? { runbook: 'HookwatchResolverTTLInflated' } : {}),
      ...(explains.length ? { explains } : {}),
      ...(starts.length ? { since: Math.min(...starts) } : {}),
      details,
    };
  },
});
