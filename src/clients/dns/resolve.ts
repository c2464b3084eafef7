// Name resolution on top of query(): through a recursive resolver (what the sender sees), straight
// from the authoritative servers (what the zone says), and through getaddrinfo (the 'system' view).
import { promises as dnsp } from 'node:dns';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { Answer, RecordType } from 'dns-packet';
import { query, parseServer, formatServer, DnsQueryError, type Server, type PacketEvent } from './query.ts';
import { normName, type DnsResponse } from './packet.ts';

export type AddressType = 'A' | 'AAAA';
const MAX_CHAIN = 8;

/** rdata of A/AAAA/CNAME/NS records, which dns-packet decodes to a string. */
function rdata(a: Answer): string {
  return String((a as { data?: unknown }).data);
}

export interface Common {
  timeoutMs?: number;
  signal?: AbortSignal;
  onPacket?: (e: PacketEvent) => void;
  /** Called once per query sent (counting for benchmarks and metrics). */
  onQuery?: (server: string) => void;
}

/** What one response says about `name`: addresses of `type`, following CNAMEs inside the answer. */
export function followAnswer(r: DnsResponse, name: string, type: AddressType): { addresses: string[]; ttls: number[]; dangling?: string; chain: string[] } {
  let cur = normName(name);
  const chain = [cur];
  const ttls: number[] = [];
  const seen = new Set([cur]);
  for (let hop = 0; hop <= MAX_CHAIN; hop++) {
    const own = r.answers.filter((a: Answer) => a.type !== 'OPT' && normName(a.name) === cur);
    const addrs = own.filter((a) => a.type === type);
    if (addrs.length) {
      for (const a of addrs) ttls.push((a as { ttl?: number }).ttl ?? 0);
      return { addresses: addrs.map(rdata), ttls, chain };
    }
    const cname = own.find((a) => a.type === 'CNAME');
    if (!cname) return { addresses: [], ttls, chain };
    ttls.push((cname as { ttl?: number }).ttl ?? 0);
    const next = normName(rdata(cname));
    if (seen.has(next)) return { addresses: [], ttls, chain }; // CNAME loop: give up on this answer
    seen.add(next);
    chain.push(next);
    cur = next;
  }
  return { addresses: [], ttls, chain, dangling: cur };
}

function dangling(r: DnsResponse, name: string, type: AddressType) {
  const f = followAnswer(r, name, type);
  if (f.addresses.length || f.chain.length === 1) return f;
  // A SOA in the authority section means the server followed the chain to a NODATA/NXDOMAIN itself.
  if (r.authorities.some((a) => a.type === 'SOA')) return f;
  // Chain ends in a CNAME whose target the server did not include (another zone).
  return { ...f, dangling: f.chain[f.chain.length - 1] };
}

export interface RecursiveAnswer {
  addresses: string[];
  /** Smallest TTL along the answer: how long a cache may keep the whole answer. */
  ttl?: number;
  /** Largest TTL along the answer: compared against the authoritative TTL to spot inflation. */
  maxTtl?: number;
  /** NOERROR, NXDOMAIN, SERVFAIL, REFUSED..., or TIMEOUT/NETWORK when nothing came back. */
  rcode: string;
  server?: string;
  error?: string;
  queries: number;
}

/** Resolve through a recursive resolver with RD=1 (A and AAAA by default). */
export async function resolveRecursive(
  servers: Server[],
  host: string,
  opts: Common & { types?: AddressType[]; attempts?: number } = {},
): Promise<RecursiveAnswer> {
  const types = opts.types ?? ['A', 'AAAA'];
  const per = await Promise.all(
    types.map(async (type) => {
      let cur = host;
      const ttls: number[] = [];
      let queries = 0;
      for (let hop = 0; hop < MAX_CHAIN; hop++) {
        try {
          queries++;
          opts.onQuery?.(servers.map(formatServer).join(','));
          const q = await query({
            servers,
            name: cur,
            type: type,
            rd: true,
            timeoutMs: opts.timeoutMs,
            signal: opts.signal,
            onPacket: opts.onPacket,
            attempts: opts.attempts,
          });
          const r = q.response;
          if (r.rcode !== 'NOERROR') return { type, addresses: [] as string[], ttls, rcode: r.rcode, server: q.server, queries };
          const f = dangling(r, cur, type);
          ttls.push(...f.ttls);
          if (f.dangling && f.dangling !== normName(cur)) {
            cur = f.dangling; // resolver did not chase the CNAME: ask for the target ourselves
            continue;
          }
          return { type, addresses: f.addresses, ttls, rcode: 'NOERROR', server: q.server, queries };
        } catch (e) {
          if (e instanceof DnsQueryError && e.kind === 'aborted') throw e;
          const kind = e instanceof DnsQueryError ? e.kind.toUpperCase() : 'ERROR';
          return { type, addresses: [] as string[], ttls, rcode: kind, error: e instanceof Error ? e.message : String(e), queries };
        }
      }
      return { type, addresses: [] as string[], ttls, rcode: 'NOERROR', error: 'CNAME chain too long', queries };
    }),
  );
  const addresses = [...new Set(per.flatMap((p) => p.addresses))];
  const ttls = per.filter((p) => p.addresses.length).flatMap((p) => p.ttls);
  const failures = per.filter((p) => p.rcode !== 'NOERROR');
  // One overall rcode: success if any type produced addresses, else the most telling failure.
  let rcode = 'NOERROR';
  if (!addresses.length && failures.length) rcode = (failures.find((f) => f.rcode !== 'NXDOMAIN') ?? failures[0]!).rcode;
  return {
    addresses,
    ttl: ttls.length ? Math.min(...ttls) : undefined,
    maxTtl: ttls.length ? Math.max(...ttls) : undefined,
    rcode,
    server: per.find((p) => p.server)?.server,
    error: addresses.length ? undefined : per.map((p) => ('error' in p ? p.error : undefined)).find(Boolean),
    queries: per.reduce((n, p) => n + p.queries, 0),
  };
}

/** Nameservers from /etc/resolv.conf (port 53; the file cannot name another port). */
export function systemNameservers(file = '/etc/resolv.conf'): Server[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((ip): ip is string => !!ip && net.isIP(ip.split('%')[0]!) !== 0)
      .map((ip) => ({ host: ip.split('%')[0]!, port: 53 }));
  } catch {
    return [];
  }
}

/** getaddrinfo as dns.promises.lookup({ all: true }) returns it; injectable for tests. */
export type SystemLookupFn = (host: string) => Promise<Array<{ address: string; family?: number }>>;
const defaultLookup: SystemLookupFn = (host) => dnsp.lookup(host, { all: true, verbatim: true });

/**
 * Caps concurrent getaddrinfo calls. dns.lookup runs on libuv's threadpool (4 threads, shared with fs,
 * crypto and zlib for the whole agent) and cannot be cancelled: a hung resolver would otherwise pin
 * every thread. A slot stays taken until the underlying lookup really ends, even after its caller gave
 * up, so the cap counts threads actually busy. Waiters beyond `maxQueue` are refused at once.
 */
export class LookupLimiter {
  #running = 0;
  readonly #waiting: Array<{ grant: () => void }> = [];
  constructor(
    readonly max = 2,
    readonly maxQueue = 16,
  ) {}

  get running(): number {
    return this.#running;
  }
  get queued(): number {
    return this.#waiting.length;
  }

  /** Resolves with a release function once a slot is free; rejects with `signal.reason` if it fires first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const release = () => {
      let done = false;
      return () => {
        if (done) return;
        done = true;
        this.#running--;
        this.#waiting.shift()?.grant();
      };
    };
    if (this.#running < this.max) {
      this.#running++;
      return Promise.resolve(release());
    }
    if (this.#waiting.length >= this.maxQueue) {
      return Promise.reject(
        Object.assign(new Error(`too many system lookups pending (${this.#running} running, ${this.#waiting.length} queued): getaddrinfo seems to hang`), {
          code: 'EBUSY',
        }),
      );
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.#waiting.indexOf(w);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(signal!.reason);
      };
      const w = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          this.#running++;
          resolve(release());
        },
      };
      this.#waiting.push(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** The agent-wide cap: two threads for lookups leaves two for everything else on the threadpool. */
export const systemLookupLimiter = new LookupLimiter(2, 16);

/**
 * getaddrinfo, as the sending process sees it (/etc/hosts, nsswitch, the system resolver). The caller's
 * signal and timeout (which counts the wait for a slot) return at once even though the lookup itself
 * cannot be stopped; it keeps its slot until it ends.
 */
export async function systemLookup(
  host: string,
  opts: { timeoutMs?: number; signal?: AbortSignal; lookup?: SystemLookupFn; limiter?: LookupLimiter } = {},
): Promise<{ addresses: string[]; error?: string; code?: string }> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const limiter = opts.limiter ?? systemLookupLimiter;
  const lookup = opts.lookup ?? defaultLookup;
  const giveUp = new AbortController();
  let started = false;
  const timer = setTimeout(() => {
    const what = started
      ? `getaddrinfo for ${host} took longer than ${timeoutMs} ms`
      : `getaddrinfo for ${host} did not start within ${timeoutMs} ms: ${limiter.running} system lookups still running (getaddrinfo hangs?)`;
    giveUp.abort(Object.assign(new Error(what), { code: 'TIMEOUT' }));
  }, timeoutMs);
  const onAbort = () => giveUp.abort(Object.assign(new Error('aborted'), { code: 'ABORTED' }));
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const release = await limiter.acquire(giveUp.signal);
    started = true;
    const running = (async () => lookup(host))().finally(release);
    running.catch(() => undefined); // it may fail after we gave up
    const gaveUp = new Promise<never>((_, rej) => {
      if (giveUp.signal.aborted) rej(giveUp.signal.reason);
      giveUp.signal.addEventListener('abort', () => rej(giveUp.signal.reason), { once: true });
    });
    const res = await Promise.race([running, gaveUp]);
    return { addresses: [...new Set(res.map((r) => r.address))] };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'ERROR';
    if (code === 'ABORTED') throw new DnsQueryError('lookup aborted', 'aborted', []);
    return { addresses: [], error: e instanceof Error ? e.message : String(e), code };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Resolve `host` the way a probe configured with `resolver` would: 'system' is getaddrinfo,
 * 'IP:PORT' a raw recursive query (which also yields the TTL the resolver hands out).
 */
export async function lookupVia(
  resolver: string,
  host: string,
  opts: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<{ addresses: string[]; ttl?: number; server?: string }> {
  if (net.isIP(host)) return { addresses: [host] };
  if (resolver === 'system') {
    const r = await systemLookup(host, opts);
    if (!r.addresses.length) throw Object.assign(new Error(`cannot resolve ${host}: ${r.error ?? 'no addresses'}`), { code: r.code ?? 'ENOTFOUND' });
    return { addresses: r.addresses };
  }
  const server = parseServer(resolver);
  const r = await resolveRecursive([server], host, { timeoutMs: opts.timeoutMs ?? 2000, signal: opts.signal, attempts: 2 });
  if (!r.addresses.length) {
    const code = r.rcode === 'NXDOMAIN' ? 'ENOTFOUND' : r.rcode === 'TIMEOUT' ? 'ETIMEOUT' : r.rcode === 'NOERROR' ? 'ENODATA' : 'ESERVFAIL';
    throw Object.assign(new Error(`cannot resolve ${host} via ${resolver}: ${r.error ?? r.rcode}`), { code });
  }
  return { addresses: r.addresses, ttl: r.ttl, server: r.server };
}

export interface AuthServerAnswer {
  server: string;
  rcode: string;
  addresses: string[];
  ttls: number[];
  /** The chain ended in a CNAME to a name this server did not answer for (another zone). */
  dangling?: string;
  error?: string;
}

export interface AuthoritativeAnswer {
  /** Union of what the answering servers serve for the final name(s). */
  addresses: string[];
  /** Largest TTL along the chain: the longest a correct cache may legitimately lag a change. */
  ttl?: number;
  /** NOERROR, NXDOMAIN (every answering server said so), or FAILED (no server gave an authoritative answer). */
  rcode: string;
  /** Names whose servers disagreed, with each server's answer. */
  disagreements: Array<{ name: string; type: AddressType; answers: Record<string, string[] | string> }>;
  /** Per name asked: which servers were asked and what they said. */
  asked: Array<{ name: string; type: AddressType; zone?: string; servers: AuthServerAnswer[] }>;
  errors: string[];
  queries: number;
}

export interface AuthOptions extends Common {
  types?: AddressType[];
  /** Fixed authoritative servers (split horizon, tests); otherwise discovered via `discovery`. */
  servers?: Server[];
  /** Recursive resolver(s) used to find zone cuts and NS addresses in auto mode. */
  discovery?: Server[];
  /** Port the discovered NS addresses are asked on (53; tests move it). */
  nsPort?: number;
}

/** Find the zone that holds `name` and its servers, by asking the discovery resolver for SOA/NS. */
export async function discoverZone(name: string, opts: AuthOptions): Promise<{ zone: string; servers: Server[]; nsNames: string[] }> {
  const disc = opts.discovery ?? [];
  if (!disc.length) throw new Error('no resolver available to discover the authoritative servers; set authoritative: ["IP:PORT"]');
  const ask = async (n: string, type: RecordType) => {
    opts.onQuery?.(disc.map(formatServer).join(','));
    return (await query({ servers: disc, name: n, type, rd: true, timeoutMs: opts.timeoutMs, signal: opts.signal, onPacket: opts.onPacket })).response;
  };
  // Walk up the labels: the first suffix with NS records at its apex is the zone cut.
  const labels = normName(name).split('.');
  for (let i = 0; i < labels.length; i++) {
    const suffix = labels.slice(i).join('.');
    const r = await ask(suffix, 'NS');
    const ns = r.answers.filter((a) => a.type === 'NS' && normName(a.name) === suffix).map((a) => normName(rdata(a)));
    if (!ns.length) {
      // NODATA/NXDOMAIN usually carries the zone's SOA in the authority section: jump straight there.
      const soa = r.authorities.find((a) => a.type === 'SOA');
      const owner = soa ? normName(soa.name) : undefined;
      if (owner && owner !== suffix && suffix.endsWith(`.${owner}`)) i = labels.length - owner.split('.').length - 1;
      continue;
    }
    const servers: Server[] = [];
    for (const n of ns) {
      // Prefer glue from the additional section, else resolve the NS name.
      const glue = r.additionals.filter((a) => (a.type === 'A' || a.type === 'AAAA') && normName(a.name) === n).map(rdata);
      let ips = glue;
      if (!ips.length) {
        const rr = await resolveRecursive(disc, n, { timeoutMs: opts.timeoutMs, signal: opts.signal, onPacket: opts.onPacket, onQuery: opts.onQuery });
        ips = rr.addresses;
      }
      for (const ip of ips) servers.push({ host: ip, port: opts.nsPort ?? 53 });
    }
    const uniq = [...new Map(servers.map((s) => [formatServer(s), s])).values()];
    if (!uniq.length) throw new Error(`zone ${suffix}: none of its NS names (${ns.join(', ')}) resolves to an address`);
    return { zone: suffix, servers: uniq, nsNames: ns };
  }
  throw new Error(`no zone cut found for ${name}`);
}

/** Ask every authoritative server directly (RD=0, AA required), following CNAMEs across zones. */
export async function resolveAuthoritative(host: string, opts: AuthOptions = {}): Promise<AuthoritativeAnswer> {
  const types = opts.types ?? ['A', 'AAAA'];
  const out: AuthoritativeAnswer = { addresses: [], rcode: 'FAILED', disagreements: [], asked: [], errors: [], queries: 0 };
  const addresses = new Set<string>();
  const ttls: number[] = [];
  let answered = 0;
  let nx = 0;
  // Types in parallel (each a CNAME walk of its own); results merged in type order below.
  const perType = await Promise.all(
    types.map(async (type) => {
      const asked: AuthoritativeAnswer['asked'] = [];
      const errors: string[] = [];
      const disagreements: AuthoritativeAnswer['disagreements'] = [];
      const queue = [normName(host)];
      const seen = new Set<string>();
      while (queue.length && seen.size < MAX_CHAIN) {
        const name = queue.shift()!;
        if (seen.has(name)) continue;
        seen.add(name);
        let servers = opts.servers;
        let zone: string | undefined;
        if (!servers) {
          try {
            const z = await discoverZone(name, opts);
            servers = z.servers;
            zone = z.zone;
          } catch (e) {
            if (e instanceof DnsQueryError && e.kind === 'aborted') throw e;
            errors.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
            continue;
          }
        }
        const answers: AuthServerAnswer[] = await Promise.all(
          servers.map(async (s): Promise<AuthServerAnswer> => {
            const label = formatServer(s);
            opts.onQuery?.(label);
            out.queries++;
            try {
              // Each server on its own (with one retry): we want every server's view, not the first.
              const q = await query({
                servers: [s],
                name,
                type,
                rd: false,
                timeoutMs: opts.timeoutMs,
                signal: opts.signal,
                onPacket: opts.onPacket,
                attempts: 2,
                retryRcodes: [],
              });
              const r = q.response;
              if (!r.aa)
                return {
                  server: label,
                  rcode: r.rcode,
                  addresses: [],
                  ttls: [],
                  error: `${label} answered without the AA flag (not authoritative for ${name}; rcode ${r.rcode})`,
                };
              if (r.rcode !== 'NOERROR') return { server: label, rcode: r.rcode, addresses: [], ttls: [] };
              const f = dangling(r, name, type);
              return { server: label, rcode: 'NOERROR', addresses: f.addresses, ttls: f.ttls, dangling: f.dangling };
            } catch (e) {
              if (e instanceof DnsQueryError && e.kind === 'aborted') throw e;
              return {
                server: label,
                rcode: e instanceof DnsQueryError ? e.kind.toUpperCase() : 'ERROR',
                addresses: [],
                ttls: [],
                error: e instanceof Error ? e.message : String(e),
              };
            }
          }),
        );
        asked.push({ name, type, zone, servers: answers });
        const good = answers.filter((a) => !a.error && (a.rcode === 'NOERROR' || a.rcode === 'NXDOMAIN'));
        for (const a of answers) if (a.error) errors.push(a.error);
        for (const a of answers) if (!a.error && !good.includes(a)) errors.push(`${a.server} answered ${a.rcode} for ${name}`);
        if (!good.length) continue;
        answered++;
        if (good.every((a) => a.rcode === 'NXDOMAIN')) nx++;
        // Compare what each answering server says: addresses, or the CNAME target, or NXDOMAIN.
        const view = (a: AuthServerAnswer): string[] | string =>
          a.rcode !== 'NOERROR' ? a.rcode : a.dangling ? `CNAME ${a.dangling}` : a.addresses.length ? [...a.addresses].sort() : 'NODATA';
        if (new Set(good.map((a) => JSON.stringify(view(a)))).size > 1) {
          disagreements.push({ name, type, answers: Object.fromEntries(good.map((a) => [a.server, view(a)])) });
        }
        for (const a of good) {
          for (const ip of a.addresses) addresses.add(ip);
          ttls.push(...a.ttls);
          if (a.dangling) queue.push(a.dangling);
        }
      }
      return { asked, errors, disagreements };
    }),
  );
  for (const t of perType) {
    out.asked.push(...t.asked);
    out.errors.push(...t.errors);
    out.disagreements.push(...t.disagreements);
  }
  out.addresses = [...addresses];
  out.ttl = ttls.length ? Math.max(...ttls) : undefined;
  out.rcode = answered === 0 ? 'FAILED' : nx === answered ? 'NXDOMAIN' : 'NOERROR';
  return out;
}
