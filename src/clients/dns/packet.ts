// Building queries and checking answers. dns-packet does the decoding, but it trusts rdlength and
// counts more than a monitoring agent facing arbitrary networks should, so every response first
// goes through a strict structural walk (validateWire) and only then through dns-packet.
import { randomInt } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, RecordType } from 'dns-packet';

/** Our advertised EDNS0 UDP payload size (the DNS flag day 2020 recommendation). */
export const EDNS_UDP_SIZE = 1232;
/** Upper bound of any DNS message (the TCP length prefix is 16 bits). */
export const MAX_MESSAGE = 65535;

const TYPE_NUM: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, AAAA: 28, OPT: 41 };

export interface DnsResponse {
  id: number;
  rcode: string;
  aa: boolean;
  tc: boolean;
  ra: boolean;
  question: { name: string; type: string; class: string };
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
  /** EDNS0 payload size the server advertised, when it sent an OPT record. */
  ednsUdpSize?: number;
  size: number;
}

export type DecodeResult = { ok: true; response: DnsResponse } | { ok: false; reason: string };

export function randomId(): number {
  return randomInt(0, 65536);
}

/** Lower-case, no trailing dot: the form names are compared in. */
export function normName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') && n.length > 1 ? n.slice(0, -1) : n;
}

export function encodeQuery(opts: { id: number; name: string; type: RecordType; rd: boolean; edns?: boolean }): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: opts.id,
    flags: opts.rd ? dnsPacket.RECURSION_DESIRED : 0,
    questions: [{ type: opts.type, name: opts.name, class: 'IN' }],
    additionals:
      opts.edns === false
        ? []
        : [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  });
}

/**
 * Walk one name in wire format. Pointers must point strictly backwards (so no loop can exist) and a
 * bounded number of them is followed anyway. Returns the offset after the name, or a reason.
 */
function walkName(buf: Buffer, start: number): number | string {
  let off = start;
  let end = -1;
  let total = 0;
  let jumps = 0;
  let limit = start; // a pointer must point before the position it was read at
  for (;;) {
    if (off >= buf.length) return 'name runs past the end of the packet';
    const len = buf[off]!;
    if (len === 0) {
      if (end < 0) end = off + 1;
      return total + 1 > 255 ? 'name longer than 255 octets' : end;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (off + 1 >= buf.length) return 'compression pointer runs past the end of the packet';
      const target = ((len & 0x3f) << 8) | buf[off + 1]!;
      if (end < 0) end = off + 2;
      if (target >= limit) return 'compression pointer loop or forward pointer';
      if (++jumps > 64) return 'too many compression pointers';
      limit = target;
      off = target;
      continue;
    }
    if (kind !== 0) return 'unsupported label type';
    if (off + 1 + len > buf.length) return 'label runs past the end of the packet';
    total += len + 1;
    if (total > 255) return 'name longer than 255 octets';
    off += 1 + len;
  }
}

/** Structural check of a whole message: header counts, names, rdlength against the real rdata. */
export function validateWire(buf: Buffer): string | undefined {
  if (buf.length < 12) return `short packet (${buf.length} bytes, a header is 12)`;
  if (buf.length > MAX_MESSAGE) return `oversized packet (${buf.length} bytes)`;
  const flags = buf.readUInt16BE(2);
  if ((flags & 0x8000) === 0) return 'not a response (QR bit clear)';
  if (((flags >> 11) & 0xf) !== 0) return 'unexpected opcode';
  const qd = buf.readUInt16BE(4);
  const rrCount = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10);
  if (qd !== 1) return `expected one question, got ${qd}`;
  // Cheapest possible encodings: a question is 5 octets, a record 11; counts beyond that are lies.
  if (12 + qd * 5 + rrCount * 11 > buf.length) return 'section counts exceed the packet length';
  let off = 12;
  const q = walkName(buf, off);
  if (typeof q === 'string') return `question: ${q}`;
  off = q + 4;
  if (off > buf.length) return 'question runs past the end of the packet';
  let opt = 0;
  const arStart = buf.readUInt16BE(6) + buf.readUInt16BE(8);
  for (let i = 0; i < rrCount; i++) {
    const n = walkName(buf, off);
    if (typeof n === 'string') return `record ${i}: ${n}`;
    off = n;
    if (off + 10 > buf.length) return `record ${i}: header runs past the end of the packet`;
    const type = buf.readUInt16BE(off);
    const rdlen = buf.readUInt16BE(off + 8);
    const rdStart = off + 10;
    off = rdStart + rdlen;
    if (off > buf.length) return `record ${i}: rdata runs past the end of the packet`;
    if (type === TYPE_NUM.A && rdlen !== 4) return `record ${i}: A record with rdlength ${rdlen}`;
    if (type === TYPE_NUM.AAAA && rdlen !== 16) return `record ${i}: AAAA record with rdlength ${rdlen}`;
    if (type === TYPE_NUM.CNAME || type === TYPE_NUM.NS) {
      const t = walkName(buf, rdStart);
      if (typeof t === 'string') return `record ${i}: target ${t}`;
      if (t !== off) return `record ${i}: target name does not fill rdlength`;
    }
    if (type === TYPE_NUM.SOA) {
      const m = walkName(buf, rdStart);
      if (typeof m === 'string') return `record ${i}: SOA mname ${m}`;
      const r = walkName(buf, m);
      if (typeof r === 'string') return `record ${i}: SOA rname ${r}`;
      if (r + 20 !== off) return `record ${i}: SOA rdata does not fill rdlength`;
    }
    if (type === TYPE_NUM.OPT) {
      if (i < arStart) return 'OPT record outside the additional section';
      if (++opt > 1) return 'more than one OPT record';
      // Options are TLVs; make sure they tile the rdata exactly.
      let o = rdStart;
      while (o < off) {
        if (o + 4 > off) return 'truncated EDNS option';
        o += 4 + buf.readUInt16BE(o + 2);
      }
      if (o !== off) return 'EDNS option runs past its record';
    }
  }
  if (off !== buf.length) return `${buf.length - off} trailing bytes after the last record`;
  return undefined;
}

/** Decode a response safely: a reason for anything malformed, never a throw. */
export function decodeResponse(buf: Buffer): DecodeResult {
  try {
    const bad = validateWire(buf);
    if (bad) return { ok: false, reason: bad };
    let p: DecodedPacket & { rcode?: string };
    try {
      p = dnsPacket.decode(buf);
    } catch (e) {
      return { ok: false, reason: `malformed: ${e instanceof Error ? e.message : String(e)}` };
    }
    // Both parsers must agree on where the message ends; if not, some rdata was read past its rdlength.
    if (dnsPacket.decode.bytes !== buf.length) return { ok: false, reason: 'record data inconsistent with rdlength' };
    const q = p.questions?.[0];
    if (!q || typeof q.name !== 'string') return { ok: false, reason: 'missing question' };
    const answers = p.answers ?? [];
    const authorities = p.authorities ?? [];
    const additionals = p.additionals ?? [];
    for (const rr of [...answers, ...authorities]) {
      if (rr.type === 'A' && !(typeof rr.data === 'string' && isIPv4(rr.data))) return { ok: false, reason: 'A record without an IPv4 address' };
      if (rr.type === 'AAAA' && !(typeof rr.data === 'string' && isIPv6(rr.data))) return { ok: false, reason: 'AAAA record without an IPv6 address' };
      // RFC 2181 §8: a TTL with the top bit set is to be treated as zero.
      if (rr.type !== 'OPT' && typeof rr.ttl === 'number' && rr.ttl > 0x7fffffff) rr.ttl = 0;
    }
    const opt = additionals.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
    return {
      ok: true,
      response: {
        id: p.id ?? 0,
        rcode: p.rcode ?? 'UNKNOWN',
        aa: p.flag_aa,
        tc: p.flag_tc,
        ra: p.flag_ra,
        question: { name: normName(q.name), type: String(q.type), class: String(q.class ?? 'IN') },
        answers,
        authorities,
        additionals,
        ednsUdpSize: opt?.udpPayloadSize,
        size: buf.length,
      },
    };
  } catch (e) {
    // Last line of defence: the contract is "rejected with a reason", whatever the bytes were.
    return { ok: false, reason: `undecodable: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** Check a decoded response against the query we sent: id and question (name case-insensitive). */
export function matchesQuery(r: DnsResponse, q: { id: number; name: string; type: string }): string | undefined {
  if (r.id !== q.id) return `id mismatch (got ${r.id}, sent ${q.id})`;
  if (r.question.name !== normName(q.name)) return `question name mismatch (got ${r.question.name})`;
  if (r.question.type !== q.type) return `question type mismatch (got ${r.question.type})`;
  if (r.question.class !== 'IN') return `question class mismatch (got ${r.question.class})`;
  return undefined;
}
