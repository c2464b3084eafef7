/**
 * A tiny pure-Node DNS server on loopback (dns-packet over UDP, plus TCP on the same port) for the
 * embedded demo (`hookwatch demo`, which must run without unbound/nsd) and fast unit tests.
 * Real-daemon tests use test/helpers/dns-lab.ts instead.
 *
 *   const auth = await FakeAuthoritative.start({ zone: 'pay.test', records: [{ name: 'hooks.pay.test', type: 'A', ttl: 3600, values: ['127.0.0.2'] }] });
 *   const bad  = await FakeRecursive.start({ upstream: [auth.address], minTtl: 172800 });   // like the misconfigured unbound
 *   const good = await FakeRecursive.start({ upstream: [auth.address] });
 *   auth.set('hooks.pay.test', 'A', ['127.0.0.3']);   // a migration (serial+1)
 *   bad.flush();
 *   await Promise.all([auth, bad, good].map((s) => s.stop()));
 *
 * FakeAuthoritative answers with AA for its zone (SOA, NS, A, AAAA, CNAME, NXDOMAIN/NODATA with the
 * SOA in the authority section) and REFUSED outside it. FakeRecursive forwards misses to its upstream
 * authoritative servers (RD=0), follows CNAMEs, caches answers for clamp(TTL, minTtl, maxTtl) and
 * hands out the remaining TTL, as a caching resolver does. Both count queries in `.queries`.
 * `respond` lets a test replace the answer (or send several packets) for hostile-server scenarios.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket } from 'dns-packet';
import { query, parseServer, type Server } from '../clients/dns/index.ts';

export type FakeType = 'A' | 'AAAA' | 'CNAME' | 'NS' | 'TXT';
export interface FakeRecord {
  name: string;
  type: FakeType;
  ttl?: number;
  values: string[];
}

type Reply = Buffer | Buffer[] | undefined;
export type Responder = (q: DecodedPacket, raw: Buffer, from: { address: string; port: number; transport: 'udp' | 'tcp' }) => Reply | Promise<Reply>;

const norm = (n: string) => n.toLowerCase().replace(/\.$/, '');

abstract class FakeDnsServer {
  queries = 0;
  /** Overrides the normal answer when it returns something; return undefined to answer normally. */
  respond?: Responder;
  protected udp!: dgram.Socket;
  protected tcp!: net.Server;
  readonly #conns = new Set<net.Socket>();
  host = '127.0.0.1';
  port = 0;

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  protected abstract answer(q: DecodedPacket, transport: 'udp' | 'tcp'): Buffer | undefined | Promise<Buffer | undefined>;

  async #handle(raw: Buffer, from: { address: string; port: number; transport: 'udp' | 'tcp' }): Promise<Buffer[]> {
    let q: DecodedPacket;
    try {
      q = dnsPacket.decode(raw);
    } catch {
      return []; // garbage in: stay silent, like most servers
    }
    if (q.type !== 'query' || !q.questions?.length) return [];
    this.queries++;
    const custom = this.respond ? await this.respond(q, raw, from) : undefined;
    if (custom) return Array.isArray(custom) ? custom : [custom];
    const a = await this.answer(q, from.transport);
    return a ? [a] : [];
  }

  protected async listen(host: string, port: number): Promise<void> {
    // UDP and TCP must share a port; with port 0 the kernel's UDP pick may be taken on TCP, so retry.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#listenOnce(host, port);
        return;
      } catch (e) {
        if (port !== 0 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw e;
        await new Promise<void>((r) => this.udp.close(() => r()));
      }
    }
  }

  async #listenOnce(host: string, port: number): Promise<void> {
    this.host = host;
    this.udp = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    this.udp.on('message', (msg, rinfo) => {
      void this.#handle(msg, { address: rinfo.address, port: rinfo.port, transport: 'udp' }).then(
        (outs) => {
          for (const o of outs) this.udp.send(o, rinfo.port, rinfo.address, () => undefined);
        },
        () => undefined,
      );
    });
    await new Promise<void>((res, rej) => {
      this.udp.once('error', rej);
      this.udp.bind(port, host, () => res());
    });
    this.port = this.udp.address().port;
    this.tcp = net.createServer((s) => {
      this.#conns.add(s);
      s.on('close', () => this.#conns.delete(s));
      s.on('error', () => undefined);
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const len = buf.readUInt16BE(0);
          const msg = buf.subarray(2, 2 + len);
          buf = buf.subarray(2 + len);
          void this.#handle(msg, { address: s.remoteAddress ?? '', port: s.remotePort ?? 0, transport: 'tcp' }).then(
            (outs) => {
              for (const o of outs) {
                const f = Buffer.alloc(2 + o.length);
                f.writeUInt16BE(o.length, 0);
                o.copy(f, 2);
                if (!s.destroyed) s.write(f);
              }
            },
            () => undefined,
          );
        }
      });
    });
    await new Promise<void>((res, rej) => {
      this.tcp.once('error', rej);
      this.tcp.listen(this.port, host, () => res());
    });
  }

  async stop(): Promise<void> {
    for (const c of this.#conns) c.destroy();
    await Promise.all([new Promise<void>((r) => this.udp.close(() => r())), new Promise<void>((r) => this.tcp.close(() => r()))]);
  }
}

/** Encode a response to `q` with the given sections and flags. */
export function reply(
  q: DecodedPacket,
  opts: { rcode?: number; aa?: boolean; ra?: boolean; tc?: boolean; answers?: Answer[]; authorities?: Answer[] },
): Buffer {
  let flags = (q.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  if (opts.aa) flags |= dnsPacket.AUTHORITATIVE_ANSWER;
  if (opts.ra) flags |= dnsPacket.RECURSION_AVAILABLE;
  if (opts.tc) flags |= dnsPacket.TRUNCATED_RESPONSE;
  flags |= (opts.rcode ?? 0) & 0xf;
  return dnsPacket.encode({ type: 'response', id: q.id, flags, questions: q.questions, answers: opts.answers ?? [], authorities: opts.authorities ?? [] });
}

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

export class FakeAuthoritative extends FakeDnsServer {
  zone = '';
  serial = 1;
  /** Send TC=1 over UDP (forces clients to TCP). */
  truncateUdp = false;
  readonly #rr = new Map<string, { ttl: number; values: string[] }>();

  static async start(opts: {
    zone: string;
    records?: FakeRecord[];
    host?: string;
    port?: number;
    defaultTtl?: number;
    nsAddress?: string;
  }): Promise<FakeAuthoritative> {
    const s = new FakeAuthoritative();
    s.zone = norm(opts.zone);
    s.#defaultTtl = opts.defaultTtl ?? 3600;
    s.#rr.set(`${s.zone}|NS`, { ttl: 3600, values: [`ns1.${s.zone}`] });
    s.#rr.set(`ns1.${s.zone}|A`, { ttl: 3600, values: [opts.nsAddress ?? opts.host ?? '127.0.0.1'] });
    for (const r of opts.records ?? []) s.#rr.set(`${norm(r.name)}|${r.type}`, { ttl: r.ttl ?? s.#defaultTtl, values: r.values });
    await s.listen(opts.host ?? '127.0.0.1', opts.port ?? 0);
    return s;
  }
  #defaultTtl = 3600;

  /** Replace an RRset (empty values remove it) and bump the serial, like a zone reload. */
  set(name: string, type: FakeType, values: string[], ttl?: number): void {
    const key = `${norm(name)}|${type}`;
    if (!values.length) this.#rr.delete(key);
    else this.#rr.set(key, { ttl: ttl ?? this.#rr.get(key)?.ttl ?? this.#defaultTtl, values });
    this.serial++;
  }

  #soa(): Answer {
    return {
      type: 'SOA',
      name: this.zone,
      ttl: 3600,
      class: 'IN',
      data: { mname: `ns1.${this.zone}`, rname: `hostmaster.${this.zone}`, serial: this.serial, refresh: 3600, retry: 600, expire: 86400, minimum: 30 },
    };
  }

  #rrset(name: string, type: string): Answer[] {
    const r = this.#rr.get(`${name}|${type}`);
    if (!r) return [];
    return r.values.map((v) => ({ type, name, ttl: r.ttl, class: 'IN', data: type === 'TXT' ? [v] : v }) as Answer);
  }

  protected answer(q: DecodedPacket, transport: 'udp' | 'tcp'): Buffer {
    const qq = q.questions![0]!;
    const name = norm(qq.name);
    const inZone = name === this.zone || name.endsWith(`.${this.zone}`);
    if (!inZone) return reply(q, { rcode: RCODE.REFUSED });
    if (this.truncateUdp && transport === 'udp') return reply(q, { aa: true, tc: true });
    if (qq.type === 'SOA' && name === this.zone) return reply(q, { aa: true, answers: [this.#soa()] });
    const answers: Answer[] = [];
    let cur = name;
    for (let hop = 0; hop < 8; hop++) {
      const own = this.#rrset(cur, qq.type);
      if (own.length) return reply(q, { aa: true, answers: [...answers, ...own] });
      const cname = qq.type === 'CNAME' ? [] : this.#rrset(cur, 'CNAME');
      if (!cname.length) break;
      answers.push(...cname);
      cur = norm(String((cname[0] as { data: string }).data));
      if (!(cur === this.zone || cur.endsWith(`.${this.zone}`))) return reply(q, { aa: true, answers }); // out of zone: the client follows
    }
    if (answers.length) return reply(q, { aa: true, answers, authorities: [this.#soa()] });
    const exists = [...this.#rr.keys()].some((k) => {
      const n = k.split('|')[0]!;
      return n === cur || n.endsWith(`.${cur}`);
    });
    return reply(q, { aa: true, rcode: exists || cur === this.zone ? RCODE.NOERROR : RCODE.NXDOMAIN, authorities: [this.#soa()] });
  }
}

interface CacheEntry {
  storedAt: number;
  ttl: number;
  rcode: number;
  answers: Answer[];
  authorities: Answer[];
}

export class FakeRecursive extends FakeDnsServer {
  upstream: Server[] = [];
  minTtl = 0;
  maxTtl = 86400;
  now: () => number = Date.now;
  upstreamTimeoutMs = 1000;
  /** Upstream queries sent (cache misses). */
  upstreamQueries = 0;
  readonly #cache = new Map<string, CacheEntry>();

  static async start(opts: {
    upstream: string[];
    minTtl?: number;
    maxTtl?: number;
    host?: string;
    port?: number;
    now?: () => number;
    upstreamTimeoutMs?: number;
  }): Promise<FakeRecursive> {
    const s = new FakeRecursive();
    s.upstream = opts.upstream.map(parseServer);
    s.minTtl = opts.minTtl ?? 0;
    // Like unbound: the max applies after the min, so raise it with the min.
    s.maxTtl = Math.max(opts.maxTtl ?? 86400, s.minTtl);
    if (opts.now) s.now = opts.now;
    if (opts.upstreamTimeoutMs) s.upstreamTimeoutMs = opts.upstreamTimeoutMs;
    await s.listen(opts.host ?? '127.0.0.1', opts.port ?? 0);
    return s;
  }

  flush(): void {
    this.#cache.clear();
  }

  async #fetch(name: string, type: string): Promise<CacheEntry> {
    const answers: Answer[] = [];
    let cur = name;
    for (let hop = 0; hop < 8; hop++) {
      this.upstreamQueries++;
      const r = (
        await query({ servers: this.upstream, name: cur, type: type as never, rd: false, timeoutMs: this.upstreamTimeoutMs, attempts: this.upstream.length })
      ).response;
      const rc = RCODE[r.rcode as keyof typeof RCODE] ?? RCODE.SERVFAIL;
      answers.push(...r.answers.filter((a) => a.type !== 'OPT'));
      if (rc !== 0) return this.#entry(rc, answers, r.authorities);
      const own = answers.filter((a) => norm(a.name) === cur && a.type === type);
      if (own.length) return this.#entry(0, answers, []);
      const cname = answers.find((a) => norm(a.name) === cur && a.type === 'CNAME');
      if (!cname) return this.#entry(0, answers, r.authorities);
      // The chain may continue inside the same answer; walk it before asking again.
      let next = norm(String((cname as { data: string }).data));
      for (let i = 0; i < 8; i++) {
        const c = answers.find((a) => norm(a.name) === next && a.type === 'CNAME');
        if (!c) break;
        next = norm(String((c as { data: string }).data));
      }
      if (answers.some((a) => norm(a.name) === next && a.type === type)) return this.#entry(0, answers, []);
      cur = next;
    }
    return this.#entry(RCODE.SERVFAIL, [], []);
  }

  #entry(rcode: number, answers: Answer[], authorities: Answer[]): CacheEntry {
    const ttls = [...answers, ...authorities].map((a) => (a as { ttl?: number }).ttl ?? 0);
    const soa = authorities.find((a) => a.type === 'SOA') as { data?: { minimum?: number } } | undefined;
    const base = answers.length ? Math.min(...ttls) : Math.min(soa?.data?.minimum ?? 30, ...ttls);
    const ttl = Math.min(this.maxTtl, Math.max(this.minTtl, base));
    return { storedAt: this.now(), ttl, rcode, answers, authorities };
  }

  protected async answer(q: DecodedPacket): Promise<Buffer> {
    const qq = q.questions![0]!;
    const key = `${norm(qq.name)}|${qq.type}`;
    let e = this.#cache.get(key);
    const age = e ? Math.floor((this.now() - e.storedAt) / 1000) : 0;
    if (!e || age >= e.ttl) {
      try {
        e = await this.#fetch(norm(qq.name), qq.type);
      } catch {
        return reply(q, { ra: true, rcode: RCODE.SERVFAIL });
      }
      this.#cache.set(key, e);
    }
    const left = Math.max(0, e.ttl - Math.floor((this.now() - e.storedAt) / 1000));
    const withTtl = (list: Answer[]) => list.map((a) => ({ ...a, ttl: left }) as Answer);
    return reply(q, { ra: true, rcode: e.rcode, answers: withTtl(e.answers), authorities: withTtl(e.authorities) });
  }
}

/** The demo's pair: an authoritative zone and a resolver in front of it. */
export async function startFakeDns(opts: {
  zone: string;
  records: FakeRecord[];
  minTtl?: number;
}): Promise<{ auth: FakeAuthoritative; resolver: FakeRecursive; stop(): Promise<void> }> {
  const auth = await FakeAuthoritative.start({ zone: opts.zone, records: opts.records });
  const resolver = await FakeRecursive.start({ upstream: [auth.address], minTtl: opts.minTtl });
  return { auth, resolver, stop: async () => void (await Promise.all([resolver.stop(), auth.stop()])) };
}
