// The raw DNS client on loopback against the pure-Node fake: matching rules (spoofed answers are
// ignored), TCP fallback, retries across servers, timeouts, and a live fuzz of 10 000 hostile packets.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { query, parseServer, lookupVia, resolveRecursive, resolveAuthoritative, DnsQueryError, type PacketEvent } from '../src/clients/dns/index.ts';
import { FakeAuthoritative, FakeRecursive, reply } from '../src/sim/dns-server.ts';

let auth: FakeAuthoritative;
let resolver: FakeRecursive;

beforeAll(async () => {
  auth = await FakeAuthoritative.start({
    zone: 'pay.test',
    records: [
      { name: 'hooks.pay.test', type: 'A', ttl: 3600, values: ['127.0.0.2'] },
      { name: 'hooks.pay.test', type: 'AAAA', ttl: 3600, values: ['::2'] },
      { name: 'alias.pay.test', type: 'CNAME', ttl: 300, values: ['hooks.pay.test'] },
      { name: 'out.pay.test', type: 'CNAME', ttl: 300, values: ['hooks.other.test'] },
    ],
  });
  resolver = await FakeRecursive.start({ upstream: [auth.address] });
});
afterAll(async () => {
  await resolver?.stop();
  await auth?.stop();
});

const s = (a: string) => parseServer(a);

describe('query()', () => {
  it('asks with RD=0 and gets an authoritative answer; asks a resolver with RD=1', async () => {
    const a = await query({ servers: [s(auth.address)], name: 'hooks.pay.test', type: 'A', rd: false });
    expect(a.response.aa).toBe(true);
    expect(a.response.answers.map((x) => (x as { data: string }).data)).toEqual(['127.0.0.2']);
    expect(a.transport).toBe('udp');
    const r = await query({ servers: [s(resolver.address)], name: 'alias.pay.test', type: 'A', rd: true });
    expect(r.response.aa).toBe(false);
    expect(r.response.ra).toBe(true);
    expect(r.response.answers.map((x) => x.type)).toEqual(['CNAME', 'A']);
  });

  it('sends EDNS0 and a fresh random id and source port per query', async () => {
    const seen: Array<{ id: number; port: number; edns: boolean }> = [];
    auth.respond = (q, _raw, from) => {
      seen.push({ id: q.id ?? -1, port: from.port, edns: (q.additionals ?? []).some((a) => a.type === 'OPT') });
      return undefined;
    };
    try {
      for (let i = 0; i < 6; i++) await query({ servers: [s(auth.address)], name: 'hooks.pay.test', type: 'A', rd: false });
    } finally {
      auth.respond = undefined;
    }
    expect(seen.every((x) => x.edns)).toBe(true);
    expect(new Set(seen.map((x) => x.id)).size).toBeGreaterThan(1);
    expect(new Set(seen.map((x) => x.port)).size).toBeGreaterThan(1);
  });

  it('falls back to TCP when the UDP answer is truncated', async () => {
    auth.truncateUdp = true;
    try {
      const a = await query({ servers: [s(auth.address)], name: 'hooks.pay.test', type: 'AAAA', rd: false });
      expect(a.transport).toBe('tcp');
      expect(a.response.answers.map((x) => (x as { data: string }).data)).toEqual(['::2']);
    } finally {
      auth.truncateUdp = false;
    }
  });

  it('retries on the next server after a timeout, and reports a timeout when all are silent', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    const dead = `127.0.0.1:${silent.address().port}`;
    try {
      const a = await query({ servers: [s(dead), s(auth.address)], name: 'hooks.pay.test', type: 'A', rd: false, timeoutMs: 150 });
      expect(a.server).toBe(auth.address);
      expect(a.attempts).toBe(2);
      const err = await query({ servers: [s(dead)], name: 'hooks.pay.test', type: 'A', rd: false, timeoutMs: 100, attempts: 2 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DnsQueryError);
      expect((err as DnsQueryError).kind).toBe('timeout');
      expect((err as DnsQueryError).tried).toEqual([dead, dead]);
    } finally {
      silent.close();
    }
  });

  it('honours an abort signal', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    try {
      const ac = new AbortController();
      const p = query({ servers: [s(`127.0.0.1:${silent.address().port}`)], name: 'x.pay.test', type: 'A', rd: false, timeoutMs: 5000, signal: ac.signal });
      setTimeout(() => ac.abort(new Error('shutdown')), 20);
      const err = await p.catch((e: unknown) => e);
      expect((err as DnsQueryError).kind).toBe('aborted');
    } finally {
      silent.close();
    }
  });
});

describe('spoofed answers are ignored', () => {
  it('wrong id, wrong question and wrong source port are rejected; the genuine answer is taken', async () => {
    const spoofer = dgram.createSocket('udp4');
    await new Promise<void>((r) => spoofer.bind(0, '127.0.0.1', () => r()));
    const forge = (q: dnsPacket.DecodedPacket, over: { id?: number; name?: string; type?: 'A' | 'AAAA'; ip: string }) =>
      dnsPacket.encode({
        type: 'response',
        id: over.id ?? q.id,
        flags: dnsPacket.AUTHORITATIVE_ANSWER,
        questions: [{ name: over.name ?? q.questions![0]!.name, type: over.type ?? 'A', class: 'IN' }],
        answers: [{ type: 'A', name: over.name ?? q.questions![0]!.name, ttl: 999999, data: over.ip }],
      });
    auth.respond = async (q, _raw, from) => {
      // From the wrong port (a different socket), with everything else right: must be ignored.
      spoofer.send(forge(q, { ip: '6.6.6.1' }), from.port, from.address);
      await new Promise((r) => setTimeout(r, 5));
      const genuine = reply(q, { aa: true, answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 3600, class: 'IN', data: '127.0.0.2' }] });
      return [
        forge(q, { id: ((q.id ?? 0) + 1) & 0xffff, ip: '6.6.6.2' }),
        forge(q, { name: 'evil.pay.test', ip: '6.6.6.3' }),
        forge(q, { type: 'AAAA', ip: '6.6.6.4' }),
        genuine,
      ];
    };
    const events: PacketEvent[] = [];
    try {
      const a = await query({ servers: [s(auth.address)], name: 'hooks.pay.test', type: 'A', rd: false, onPacket: (e) => events.push(e) });
      expect(a.response.answers.map((x) => (x as { data: string }).data)).toEqual(['127.0.0.2']);
    } finally {
      auth.respond = undefined;
      spoofer.close();
    }
    const reasons = events.filter((e) => e.outcome === 'rejected').map((e) => (e as { reason: string }).reason);
    expect(reasons.some((r) => /unexpected source 127\.0\.0\.1:\d+/.test(r))).toBe(true);
    expect(reasons.some((r) => /id mismatch/.test(r))).toBe(true);
    expect(reasons.some((r) => /question name mismatch/.test(r))).toBe(true);
    expect(reasons.some((r) => /question type mismatch/.test(r))).toBe(true);
    expect(events.filter((e) => e.outcome === 'accepted')).toHaveLength(1);
  });
});

describe('live query path fuzz', () => {
  it('10 000 hostile packets through real sockets: each rejected with a reason or parsed, no crash', async () => {
    let seed = 987654321;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
    let sent = 0;
    auth.respond = (q) => {
      const genuine = reply(q, { aa: true, answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 60, class: 'IN', data: '127.0.0.2' }] });
      let hostile: Buffer;
      const k = sent % 3;
      if (k === 0) {
        hostile = Buffer.alloc(Math.floor(rand() * 300));
        for (let j = 0; j < hostile.length; j++) hostile[j] = Math.floor(rand() * 256);
        if (hostile.length >= 2) hostile.writeUInt16BE(q.id ?? 0, 0); // right id, garbage after it
      } else if (k === 1) {
        hostile = genuine.subarray(0, Math.floor(rand() * genuine.length));
      } else {
        hostile = Buffer.from(genuine);
        for (let f = 0; f < 1 + Math.floor(rand() * 4); f++) {
          const at = 2 + Math.floor(rand() * (hostile.length - 2)); // keep the id so the deep checks run
          hostile[at] = Math.floor(rand() * 256);
        }
      }
      sent++;
      return [hostile, genuine];
    };
    const perQuery: PacketEvent[][] = [];
    let settled = 0;
    const errors: string[] = [];
    try {
      const total = 10_000;
      let next = 0;
      const worker = async () => {
        while (next < total) {
          const i = next++;
          const ev: PacketEvent[] = [];
          perQuery[i] = ev;
          try {
            const a = await query({
              servers: [s(auth.address)],
              name: `f${i}.pay.test`,
              type: 'A',
              rd: false,
              timeoutMs: 2000,
              attempts: 2,
              onPacket: (e) => ev.push(e),
            });
            expect(a.response.question.name).toBe(`f${i}.pay.test`);
          } catch (e) {
            errors.push(String(e));
          }
          settled++;
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
    } finally {
      auth.respond = undefined;
    }
    expect(settled).toBe(10_000);
    expect(errors).toEqual([]);
    const rejected = perQuery.flat().filter((e) => e.outcome === 'rejected');
    const acceptedFirst = perQuery.filter((ev) => ev[0]?.outcome === 'accepted').length;
    // Each hostile packet either was rejected with a reason or parsed cleanly (and, matching, was taken).
    expect(rejected.every((e) => (e as { reason: string }).reason.length > 0)).toBe(true);
    expect(rejected.length + acceptedFirst).toBeGreaterThanOrEqual(sent - 50); // allow a few reordered/dropped datagrams
    expect(sent).toBeGreaterThanOrEqual(10_000);
    expect(rejected.length).toBeGreaterThan(8000);
  }, 120_000);
});

describe('resolution helpers', () => {
  it('resolveRecursive follows CNAMEs and reports the TTLs the resolver hands out', async () => {
    const r = await resolveRecursive([s(resolver.address)], 'alias.pay.test');
    expect(r.addresses.sort()).toEqual(['127.0.0.2', '::2']);
    expect(r.rcode).toBe('NOERROR');
    expect(r.maxTtl).toBeLessThanOrEqual(3600);
    const nx = await resolveRecursive([s(resolver.address)], 'nope.pay.test');
    expect(nx).toMatchObject({ addresses: [], rcode: 'NXDOMAIN' });
  });

  it('resolveAuthoritative asks every server and reports disagreement', async () => {
    const other = await FakeAuthoritative.start({ zone: 'pay.test', records: [{ name: 'hooks.pay.test', type: 'A', ttl: 3600, values: ['127.0.0.9'] }] });
    try {
      const a = await resolveAuthoritative('hooks.pay.test', { servers: [s(auth.address), s(other.address)], types: ['A'] });
      expect(a.addresses.sort()).toEqual(['127.0.0.2', '127.0.0.9']);
      expect(a.disagreements).toHaveLength(1);
      expect(a.disagreements[0]!.answers).toEqual({ [auth.address]: ['127.0.0.2'], [other.address]: ['127.0.0.9'] });
    } finally {
      await other.stop();
    }
  });

  it('resolveAuthoritative follows a CNAME into another zone (servers listed explicitly)', async () => {
    // other.test lives on its own fake server.
    const other = await FakeAuthoritative.start({ zone: 'other.test', records: [{ name: 'hooks.other.test', type: 'A', ttl: 120, values: ['127.0.0.7'] }] });
    try {
      const a = await resolveAuthoritative('out.pay.test', { servers: [s(auth.address), s(other.address)], types: ['A'] });
      // Each server is asked about each name: pay.test's server refuses other.test and vice versa.
      expect(a.addresses).toEqual(['127.0.0.7']);
      expect(a.ttl).toBe(300);
      expect(a.asked.map((x) => x.name)).toEqual(['out.pay.test', 'hooks.other.test']);
    } finally {
      await other.stop();
    }
  });

  it('lookupVia resolves through a configured resolver and through the system', async () => {
    const v = await lookupVia(resolver.address, 'hooks.pay.test', { timeoutMs: 1000 });
    expect(v.addresses.sort()).toEqual(['127.0.0.2', '::2']);
    expect(v.server).toBe(resolver.address);
    expect(typeof v.ttl).toBe('number');
    const sys = await lookupVia('system', 'localhost', { timeoutMs: 2000 });
    expect(sys.addresses.length).toBeGreaterThan(0);
    const err = await lookupVia(resolver.address, 'nope.pay.test').catch((e: unknown) => e as Error & { code?: string });
    expect(err).toMatchObject({ code: 'ENOTFOUND' });
  });
});
