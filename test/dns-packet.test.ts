// The DNS decoder facing hostile bytes: every packet is rejected with a reason or parsed, never a throw.
import { describe, it, expect } from 'vitest';
import dnsPacket from 'dns-packet';
import { decodeResponse, encodeQuery, matchesQuery, validateWire } from '../src/clients/dns/index.ts';

function goodResponse(id = 4242): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id,
    flags: dnsPacket.AUTHORITATIVE_ANSWER,
    questions: [{ type: 'A', name: 'hooks.pay.test', class: 'IN' }],
    answers: [
      { type: 'CNAME', name: 'hooks.pay.test', ttl: 300, class: 'IN', data: 'real.pay.test' },
      { type: 'A', name: 'real.pay.test', ttl: 3600, class: 'IN', data: '127.0.0.2' },
    ],
    authorities: [{ type: 'NS', name: 'pay.test', ttl: 3600, class: 'IN', data: 'ns1.pay.test' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] } as never],
  });
}

/** Deterministic PRNG so a failing fuzz case can be replayed from its seed. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('decodeResponse', () => {
  it('parses a well-formed answer with CNAME, NS and EDNS0', () => {
    const r = decodeResponse(goodResponse());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.response.aa).toBe(true);
    expect(r.response.question).toEqual({ name: 'hooks.pay.test', type: 'A', class: 'IN' });
    expect(r.response.answers.map((a) => a.type)).toEqual(['CNAME', 'A']);
    expect(r.response.ednsUdpSize).toBe(1232);
    expect(matchesQuery(r.response, { id: 4242, name: 'HOOKS.pay.test.', type: 'A' })).toBeUndefined();
    expect(matchesQuery(r.response, { id: 4243, name: 'hooks.pay.test', type: 'A' })).toMatch(/id mismatch/);
    expect(matchesQuery(r.response, { id: 4242, name: 'evil.pay.test', type: 'A' })).toMatch(/question name/);
    expect(matchesQuery(r.response, { id: 4242, name: 'hooks.pay.test', type: 'AAAA' })).toMatch(/question type/);
  });

  it('rejects our own query (QR clear), short and oversized packets', () => {
    expect(decodeResponse(encodeQuery({ id: 1, name: 'a.test', type: 'A', rd: true }))).toEqual({ ok: false, reason: 'not a response (QR bit clear)' });
    expect(decodeResponse(Buffer.alloc(5))).toMatchObject({ ok: false, reason: expect.stringMatching(/short packet/) });
    const big = Buffer.concat([goodResponse(), Buffer.alloc(70_000)]);
    expect(decodeResponse(big)).toMatchObject({ ok: false, reason: expect.stringMatching(/oversized/) });
  });

  it('rejects a compression loop and a forward pointer', () => {
    const buf = goodResponse();
    // Question name at offset 12: make it a pointer to itself (a one-hop loop).
    const loop = Buffer.from(buf);
    loop[12] = 0xc0;
    loop[13] = 12;
    expect(decodeResponse(loop)).toMatchObject({ ok: false, reason: expect.stringMatching(/question: compression pointer loop/) });
    const fwd = Buffer.from(buf);
    fwd[12] = 0xc0;
    fwd[13] = 200;
    expect(decodeResponse(fwd).ok).toBe(false);
    // Two pointers pointing at each other inside the answer section.
    const hdr = Buffer.from([0, 1, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0]);
    const q = Buffer.from([1, 0x61, 0, 0, 1, 0, 1]); // "a." A IN at offset 12..18
    const rr = Buffer.from([0xc0, 21, 0xc0, 19, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 127, 0, 0, 1]);
    expect(decodeResponse(Buffer.concat([hdr, q, rr]))).toMatchObject({ ok: false, reason: expect.stringMatching(/pointer/) });
  });

  it('rejects lying section counts, bad rdlength, trailing bytes and a bogus A record', () => {
    const counts = Buffer.from(goodResponse());
    counts.writeUInt16BE(60_000, 6);
    expect(decodeResponse(counts)).toMatchObject({ ok: false, reason: 'section counts exceed the packet length' });
    const twoQ = Buffer.from(goodResponse());
    twoQ.writeUInt16BE(2, 4);
    expect(decodeResponse(twoQ)).toMatchObject({ ok: false, reason: expect.stringMatching(/expected one question/) });
    expect(decodeResponse(Buffer.concat([goodResponse(), Buffer.from([1, 2, 3])]))).toMatchObject({
      ok: false,
      reason: '3 trailing bytes after the last record',
    });
    expect(decodeResponse(goodResponse().subarray(0, 60)).ok).toBe(false);
    // An A record whose rdlength claims 5 octets.
    const a = dnsPacket.encode({
      type: 'response',
      id: 1,
      flags: 0,
      questions: [{ type: 'A', name: 'x.test' }],
      answers: [{ type: 'A', name: 'x.test', ttl: 1, data: '1.2.3.4' }],
    });
    const bad = Buffer.concat([a.subarray(0, a.length - 6), Buffer.from([0, 5, 1, 2, 3, 4, 5])]);
    expect(decodeResponse(bad)).toMatchObject({ ok: false, reason: expect.stringMatching(/A record with rdlength 5/) });
  });

  it('treats a TTL with the top bit set as 0 (RFC 2181)', () => {
    const buf = goodResponse();
    const i = buf.indexOf(Buffer.from([0, 0, 0x0e, 0x10])); // the 3600 TTL of the A record
    buf.writeUInt32BE(0x80000001, i);
    const r = decodeResponse(buf);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.response.answers.some((a) => (a as { ttl?: number }).ttl === 0)).toBe(true);
  });

  it('fuzz: 10 000 random, truncated and mutated packets are each rejected with a reason or parsed', () => {
    const rand = rng(20261123);
    const base = [
      goodResponse(),
      goodResponse(7),
      dnsPacket.encode({
        type: 'response',
        id: 9,
        flags: 3,
        questions: [{ type: 'AAAA', name: 'x.pay.test' }],
        authorities: [{ type: 'SOA', name: 'pay.test', ttl: 30, data: { mname: 'ns1.pay.test', rname: 'h.pay.test', serial: 7 } }],
      }),
    ];
    let parsed = 0;
    let rejected = 0;
    const reasons = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      let pkt: Buffer;
      const kind = i % 4;
      const src = base[i % base.length]!;
      if (kind === 0) {
        pkt = Buffer.alloc(Math.floor(rand() * 600));
        for (let j = 0; j < pkt.length; j++) pkt[j] = Math.floor(rand() * 256);
        if (pkt.length > 2) pkt[2]! |= 0x80; // mostly claim to be a response so the deeper checks run
      } else if (kind === 1) {
        pkt = src.subarray(0, Math.floor(rand() * src.length));
      } else {
        pkt = Buffer.from(src);
        const flips = 1 + Math.floor(rand() * (kind === 2 ? 3 : 12));
        for (let f = 0; f < flips; f++) pkt[Math.floor(rand() * pkt.length)] = Math.floor(rand() * 256);
        if (rand() < 0.2) pkt = Buffer.concat([pkt, Buffer.alloc(Math.floor(rand() * 8), Math.floor(rand() * 256))]);
      }
      const r = decodeResponse(pkt);
      if (r.ok) {
        parsed++;
        expect(typeof r.response.question.name).toBe('string');
      } else {
        rejected++;
        expect(r.reason.length).toBeGreaterThan(0);
        const key = r.reason.replace(/[0-9]+/g, 'N').slice(0, 40);
        reasons.set(key, (reasons.get(key) ?? 0) + 1);
      }
      // The structural walk and dns-packet must agree: anything validateWire passes, decode must too.
      if (!validateWire(pkt) && !r.ok) expect(r.reason).not.toMatch(/^undecodable/);
    }
    expect(parsed + rejected).toBe(10_000);
    expect(rejected).toBeGreaterThan(5000);
    expect(parsed).toBeGreaterThan(0);
    expect(reasons.size).toBeGreaterThan(5);
  });
});
