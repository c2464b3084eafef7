// The dns_drift verdict for one host, pure: what the resolver and the authoritative servers answered,
// the grace, the clock and when the current drift began in; verdicts, sentences, fixes, the numbers to
// export and the new drift start out.
import type { AuthoritativeAnswer, RecursiveAnswer } from '../../src/clients/dns/index.ts';
import type { ProbeResult } from '../../src/probe/types.ts';

/** One typed default per threshold; the kind's declaration and the verdict both read it. */
export const DEFAULTS = { grace_seconds: 60 } as const;

/** The grace in effect: the `grace:` shorthand wins over thresholds.grace_seconds. */
export function graceSeconds(probe: { grace?: number; thresholds: Record<string, number> }): number {
  return probe.grace !== undefined ? probe.grace / 1000 : (probe.thresholds.grace_seconds ?? DEFAULTS.grace_seconds);
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
  if (servers.length > 0 && servers.every((s) => s.host === '127.0.0.53'))
    return `Flush the sender's DNS cache (systemd-resolved at 127.0.0.53): \`resolvectl flush-caches\``;
  const zone = host.split('.').slice(1).join('.') || host;
  return (
    `Flush ${host} from the cache of ${where}, on the machine that runs it: unbound \`unbound-control flush ${host}\` (whole zone: \`unbound-control flush_zone ${zone}\`); ` +
    'systemd-resolved `resolvectl flush-caches`; dnsmasq `pkill -HUP dnsmasq`; nscd `nscd -i hosts`. Then restart the sender if it pools connections to the old address.'
  );
}
export const TTL_HELP =
  'Make the caching resolver honour TTLs: unbound — remove `cache-min-ttl` (default 0) and keep `cache-max-ttl` at 86400 or less; dnsmasq — remove `min-cache-ttl`/`max-cache-ttl` overrides; nscd — nscd ignores DNS TTLs, lower `positive-time-to-live hosts` in /etc/nscd.conf or disable its hosts cache; systemd-resolved honours TTLs, so look for a forwarder behind it.';

export type Verdict = 'ok' | 'drift' | 'stale' | 'ttl_inflated' | 'authoritative_disagreement' | 'resolver_failure' | 'authoritative_failure' | 'nxdomain';

export interface HostReport {
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

/** The per-host numbers to export; verdict series are absent when the authority could not be asked. */
export interface HostNumbers {
  resolverTtl?: number;
  authoritativeFailure: 0 | 1;
  verdict?: { authoritativeTtl?: number; ttlInflated: 0 | 1; disagreement: 0 | 1; resolverFailure: 0 | 1; drift: 0 | 1; driftSeconds: number; stale: 0 | 1 };
}

export interface HostInput {
  host: string;
  /** 'system' or the resolver's IP:PORT, for the sentences. */
  resolver: string;
  /** The servers behind it (resolv.conf's for 'system'), to name the right flush command. */
  resolverServers: Array<{ host: string; port: number }>;
  res: RecursiveAnswer;
  auth: AuthoritativeAnswer;
  graceS: number;
  nowMs: number;
  /** When the current drift began (state from earlier runs), if one is going on. */
  driftSince?: number;
}

export interface HostEvaluation {
  report: HostReport;
  numbers: HostNumbers;
  /** The drift start to keep for the next run; undefined when there is no drift (an authority outage keeps the old one). */
  driftSince?: number;
}

/** Collects verdicts, sentences, actions (end it now) and fixes (keep it from recurring) of one host. */
class Findings {
  readonly verdicts: Verdict[] = [];
  readonly sentences: string[] = [];
  /** Sentences told after the others: a latent risk comes after what is broken now. */
  readonly trailing: string[] = [];
  readonly actions = new Set<string>();
  readonly fixes = new Set<string>();
  add(v: Verdict, sentence: string, o: { action?: string; fixes?: string[]; last?: boolean } = {}): void {
    this.verdicts.push(v);
    (o.last ? this.trailing : this.sentences).push(sentence);
    if (o.action) this.actions.add(o.action);
    for (const f of o.fixes ?? []) this.fixes.add(f);
  }
  report(host: string, details: Record<string, unknown>): HostReport {
    const failing = this.verdicts.filter((v) => v !== 'drift');
    const verdicts: Verdict[] = this.verdicts.length ? [...this.verdicts] : ['ok'];
    const sentences = [...this.sentences, ...this.trailing];
    return { host, ok: failing.length === 0, verdicts, sentences, actions: [...this.actions], fixes: [...this.fixes], details };
  }
}

export function evaluateHost(i: HostInput): HostEvaluation {
  const { host, res, auth } = i;
  const f = new Findings();
  const details: Record<string, unknown> = {
    host,
    resolver: { via: i.resolver, server: res.server, addresses: res.addresses, ttl: res.maxTtl, rcode: res.rcode, ...(res.error ? { error: res.error } : {}) },
    authoritative: summarizeAuth(auth),
  };
  if (auth.rcode === 'FAILED') {
    const why = auth.errors.slice(0, 3).join('; ') || 'no servers found';
    f.add('authoritative_failure', `${host}: no authoritative server gave an answer (${why}), so the resolver's answer cannot be judged.`, {
      action: 'Check that the authoritative servers are reachable from this agent, or list them with `authoritative: ["IP:PORT"]` (split horizon).',
    });
    // The drift start is kept, so a drift that outlives the outage keeps its true duration.
    return { report: f.report(host, details), numbers: { resolverTtl: res.maxTtl, authoritativeFailure: 1 }, driftSince: i.driftSince };
  }
  const name = i.resolver === 'system' ? 'the system resolver (getaddrinfo)' : `resolver ${i.resolver}`;
  const inflated = judgeTtl(f, host, name, res, auth);
  const disagree = judgeAuthority(f, host, auth);
  const resolverFailed = judgeResolver(f, i, name);
  const drift = judgeDrift(f, i, name, resolverFailed, inflated, details);
  return {
    report: f.report(host, details),
    driftSince: drift.since,
    numbers: {
      resolverTtl: res.maxTtl,
      authoritativeFailure: 0,
      verdict: {
        authoritativeTtl: auth.ttl,
        ttlInflated: inflated ? 1 : 0,
        disagreement: disagree ? 1 : 0,
        resolverFailure: resolverFailed ? 1 : 0,
        drift: drift.since !== undefined ? 1 : 0,
        driftSeconds: round(drift.seconds),
        stale: drift.stale ? 1 : 0,
      },
    },
  };
}

/** TTLs: the authoritative TTL bounds how long a correct cache may lag a change. */
function judgeTtl(f: Findings, host: string, name: string, res: RecursiveAnswer, auth: AuthoritativeAnswer): boolean {
  if (res.maxTtl === undefined || auth.ttl === undefined || res.maxTtl <= auth.ttl) return false;
  const longer = fmtDuration(res.maxTtl - auth.ttl);
  f.add(
    'ttl_inflated',
    `${host}: ${name} hands out TTL ${res.maxTtl}s but the authoritative TTL is ${auth.ttl}s, so after a change it will keep serving the old address ${longer} longer than intended.`,
    { fixes: [TTL_HELP], last: true },
  );
  return true;
}

function judgeAuthority(f: Findings, host: string, auth: AuthoritativeAnswer): boolean {
  const d = auth.disagreements[0];
  if (!d) return false;
  const answers = Object.entries(d.answers)
    .map(([s, a]) => `${s} serves ${Array.isArray(a) ? a.join(', ') : a}`)
    .join('; ');
  f.add(
    'authoritative_disagreement',
    `${host}: the authoritative servers disagree about ${d.name} ${d.type}: ${answers} (a migration applied to only part of the NS set?).`,
    {
      action:
        'Update the zone on every authoritative server (check zone transfers: compare SOA serials with `dig +norec SOA <zone> @server`), then re-run this probe.',
    },
  );
  return true;
}

/** Resolver failure: it has nothing while the authoritative servers have addresses. Also notes a name that does not exist. */
function judgeResolver(f: Findings, i: HostInput, name: string): boolean {
  const { host, res, auth } = i;
  const failed = res.addresses.length === 0 && res.rcode !== 'NOERROR' && auth.addresses.length > 0;
  if (failed) {
    f.add(
      'resolver_failure',
      `${host}: ${name} answered ${res.rcode}${res.error ? ` (${res.error})` : ''} while the authoritative servers serve ${auth.addresses.join(', ')}.`,
      {
        action: `A cached negative answer clears with a flush. ${flushAction(host, i.resolver, i.resolverServers)}`,
        fixes: ["Check the resolver's logs and its upstream reachability."],
      },
    );
  }
  if (auth.rcode === 'NXDOMAIN' && res.addresses.length === 0) {
    f.add('nxdomain', `${host}: the authoritative servers say the name does not exist (NXDOMAIN).`, {
      action: 'Check the host name in the synthetic targets / hosts list, or add the record to the zone.',
    });
  }
  return failed;
}

/**
 * Drift: some address the resolver gives is not served by any authoritative server (or the resolver
 * holds a stale "no such record" while the zone has one). Stale once it outlasts the TTL plus the grace.
 */
function judgeDrift(f: Findings, i: HostInput, name: string, resolverFailed: boolean, inflated: boolean, details: Record<string, unknown>) {
  const { host, res, auth, graceS } = i;
  const notServed = res.addresses.filter((a) => !auth.addresses.includes(a));
  const drift = !resolverFailed && (notServed.length > 0 || (res.addresses.length === 0 && res.rcode === 'NOERROR' && auth.addresses.length > 0));
  if (!drift) return { since: undefined, seconds: 0, stale: false };
  const since = i.driftSince ?? i.nowMs;
  const seconds = Math.max(0, (i.nowMs - since) / 1000);
  const ttl = auth.ttl ?? 0;
  const staleAfterS = ttl + graceS;
  const stale = seconds > staleAfterS;
  details.drift = { since: new Date(since).toISOString(), durationSeconds: round(seconds), staleAfterSeconds: staleAfterS, notServed };
  const answers = `${res.addresses.join(', ') || 'no address'} but the authoritative servers serve ${auth.addresses.join(', ')}`;
  if (stale) {
    f.add(
      'stale',
      `${host}: ${name} still answers ${answers}; this has lasted ${fmtDuration(seconds)}, longer than the TTL (${ttl}s) plus grace (${graceS}s): the resolver is serving a stale answer.`,
      { action: flushAction(host, i.resolver, i.resolverServers), fixes: inflated ? [] : [TTL_HELP] },
    );
  } else {
    const more = fmtDuration(Math.max(0, staleAfterS - seconds));
    f.add('drift', `${host}: ${name} answers ${answers}; normal propagation for up to the TTL (${ttl}s) plus grace (${graceS}s), stale after ${more} more.`);
  }
  return { since, seconds, stale };
}

/** The run's verdict: every host's summary in the order listed; fails when any host has more than a fresh drift. */
export function summarizeHosts(reports: HostReport[], hosts: string[], run: Record<string, unknown>): ProbeResult {
  const sorted = [...reports].sort((a, b) => hosts.indexOf(a.host) - hosts.indexOf(b.host));
  const failing = sorted.filter((r) => !r.ok);
  const details = { ...run, hosts: Object.fromEntries(sorted.map((r) => [r.host, { verdicts: r.verdicts, summary: r.sentences, ...r.details }])) };
  // Hosts whose answer differs from the authority: their delivery failures have this root cause.
  const explains = sorted.filter((r) => r.verdicts.some((v) => v === 'drift' || v === 'stale' || v === 'resolver_failure')).map((r) => r.host);
  if (!failing.length) return { ok: true, details, ...(explains.length ? { explains } : {}) };
  // An inflated TTL alone breaks nothing yet: a ticket, not a page.
  const ticketOnly = failing.every((r) => r.verdicts.every((v) => v === 'ttl_inflated' || v === 'drift'));
  const starts = failing
    .map((r) => (r.details.drift as { since?: string } | undefined)?.since)
    .filter((x): x is string => !!x)
    .map((x) => Date.parse(x));
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
}

/** A host whose check failed outright (not an answer, an error): unknown, like an authority outage. */
export function failedHost(host: string, error: string): HostReport {
  return { host, ok: false, verdicts: ['authoritative_failure'], sentences: [`${host}: check failed: ${error}`], actions: [], fixes: [], details: { host } };
}

function summarizeAuth(a: AuthoritativeAnswer): Record<string, unknown> {
  const servers = new Map<string, Record<string, unknown>>();
  for (const q of a.asked)
    for (const s of q.servers)
      servers.set(`${q.name} ${q.type} @${s.server}`, {
        rcode: s.rcode,
        addresses: s.addresses,
        ...(s.dangling ? { cname: s.dangling } : {}),
        ...(s.error ? { error: s.error } : {}),
      });
  return {
    addresses: a.addresses,
    ttl: a.ttl,
    rcode: a.rcode,
    ...(a.disagreements.length ? { disagreements: a.disagreements } : {}),
    ...(a.errors.length ? { errors: a.errors } : {}),
    answers: Object.fromEntries(servers),
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;
export function fmtDuration(s: number): string {
  if (s < 120) return `${Math.round(s)}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}
