// One DNS question to a list of servers: UDP from a fresh random port with a random id, answers
// accepted only from the server's address and port with our id and question, TCP when truncated,
// a timeout per attempt and retries that move on to the next server.
import dgram from 'node:dgram';
import net from 'node:net';
import { isIPv6 } from 'node:net';
import { formatHostPort, parseIpPort } from '../../address.ts';
import type { RecordType } from 'dns-packet';
import { decodeResponse, encodeQuery, matchesQuery, normName, randomId, MAX_MESSAGE, type DnsResponse } from './packet.ts';

export interface Server {
  host: string;
  port: number;
}

/** Parse "IP:PORT", "[v6]:PORT" or a bare IP (port 53). */
export function parseServer(s: string): Server {
  try {
    return parseIpPort(s, 53);
  } catch {
    throw new Error(`invalid DNS server address "${s}": expected IP:PORT, e.g. 127.0.0.53:53 or [::1]:53`);
  }
}

export function formatServer(s: Server): string {
  return formatHostPort(s.host, s.port);
}

export type PacketEvent =
  { outcome: 'accepted'; server: string; transport: 'udp' | 'tcp' } | { outcome: 'rejected'; reason: string; server: string; transport: 'udp' | 'tcp' };

export interface QueryOptions {
  servers: Server[];
  name: string;
  type: RecordType;
  /** Recursion desired: true for resolvers, false for authoritative servers. */
  rd: boolean;
  /** Per attempt. */
  timeoutMs?: number;
  /** Total attempts, spread round-robin over the servers; default two rounds. */
  attempts?: number;
  signal?: AbortSignal;
  /** Sees every packet received, accepted or rejected (for counting and tests). */
  onPacket?: (e: PacketEvent) => void;
  /** Send without EDNS0 (some middleboxes drop OPT); default false. */
  noEdns?: boolean;
  /** Try the next server also on these rcodes (default SERVFAIL, REFUSED). */
  retryRcodes?: string[];
}

export interface QueryResult {
  response: DnsResponse;
  server: string;
  transport: 'udp' | 'tcp';
  rttMs: number;
  /** Attempts made, including this one. */
  attempts: number;
}

export class DnsQueryError extends Error {
  constructor(
    message: string,
    readonly kind: 'timeout' | 'network' | 'aborted' | 'malformed',
    readonly tried: string[],
  ) {
    super(message);
    this.name = 'DnsQueryError';
  }
}

function abortError(signal: AbortSignal | undefined, tried: string[]): DnsQueryError {
  const r: unknown = signal?.reason;
  return new DnsQueryError(`query aborted${r instanceof Error ? `: ${r.message}` : ''}`, 'aborted', tried);
}

interface Attempt {
  server: Server;
  name: string;
  type: RecordType;
  rd: boolean;
  timeoutMs: number;
  signal?: AbortSignal;
  onPacket?: (e: PacketEvent) => void;
  noEdns: boolean;
}

/** One UDP exchange. Resolves with a matching response, rejects on timeout/abort/socket error. */
export function udpExchange(a: Attempt): Promise<DnsResponse> {
  return new Promise((resolve, reject) => {
    const id = randomId();
    const label = formatServer(a.server);
    const msg = encodeQuery({ id, name: a.name, type: a.type, rd: a.rd, edns: !a.noEdns });
    const sock = dgram.createSocket({ type: isIPv6(a.server.host) ? 'udp6' : 'udp4' });
    let done = false;
    const finish = (err: Error | undefined, r?: DnsResponse) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      a.signal?.removeEventListener('abort', onAbort);
      try {
        sock.close();
      } catch {
        /* already closed */
      }
      if (err) reject(err);
      else resolve(r!);
    };
    const onAbort = () => finish(abortError(a.signal, [label]));
    // Packets were answered but all rejected: say what was rejected, not "no answer".
    let rejected = 0;
    let lastReason = '';
    const timer = setTimeout(
      () =>
        finish(
          rejected
            ? new DnsQueryError(`${rejected} answer(s) from ${label} rejected, none valid within ${a.timeoutMs} ms (last: ${lastReason})`, 'malformed', [label])
            : new DnsQueryError(`no answer from ${label} within ${a.timeoutMs} ms`, 'timeout', [label]),
        ),
      a.timeoutMs,
    );
    a.signal?.addEventListener('abort', onAbort, { once: true });
    sock.on('error', (e) => finish(new DnsQueryError(`UDP to ${label}: ${e.message}`, 'network', [label])));
    sock.on('message', (buf, rinfo) => {
      if (done) return;
      const reject_ = (reason: string) => {
        rejected++;
        lastReason = reason;
        a.onPacket?.({ outcome: 'rejected', reason, server: label, transport: 'udp' });
      };
      // Only the server we asked may answer; anything else is spoofing or a stray packet.
      if (rinfo.address !== a.server.host || rinfo.port !== a.server.port) return reject_(`unexpected source ${rinfo.address}:${rinfo.port}`);
      const d = decodeResponse(buf);
      if (!d.ok) return reject_(d.reason);
      const mismatch = matchesQuery(d.response, { id, name: a.name, type: a.type });
      if (mismatch) return reject_(mismatch);
      a.onPacket?.({ outcome: 'accepted', server: label, transport: 'udp' });
      finish(undefined, d.response);
    });
    // Port 0: the kernel picks a random ephemeral source port for every query.
    sock.bind(0, () => {
      if (done) return;
      sock.send(msg, a.server.port, a.server.host, (e) => {
        if (e) finish(new DnsQueryError(`UDP to ${label}: ${e.message}`, 'network', [label]));
      });
    });
  });
}

/** One TCP exchange (RFC 7766 framing: two-byte length prefix). */
export function tcpExchange(a: Attempt): Promise<DnsResponse> {
  return new Promise((resolve, reject) => {
    const id = randomId();
    const label = formatServer(a.server);
    const msg = encodeQuery({ id, name: a.name, type: a.type, rd: a.rd, edns: !a.noEdns });
    const frame = Buffer.alloc(msg.length + 2);
    frame.writeUInt16BE(msg.length, 0);
    msg.copy(frame, 2);
    let done = false;
    let chunks: Buffer[] = [];
    let have = 0;
    const sock = net.connect({ host: a.server.host, port: a.server.port });
    const finish = (err: Error | undefined, r?: DnsResponse) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      a.signal?.removeEventListener('abort', onAbort);
      sock.destroy();
      if (err) reject(err);
      else resolve(r!);
    };
    const onAbort = () => finish(abortError(a.signal, [label]));
    const timer = setTimeout(() => finish(new DnsQueryError(`no answer from ${label} over TCP within ${a.timeoutMs} ms`, 'timeout', [label])), a.timeoutMs);
    a.signal?.addEventListener('abort', onAbort, { once: true });
    sock.on('error', (e) => finish(new DnsQueryError(`TCP to ${label}: ${e.message}`, 'network', [label])));
    sock.on('connect', () => sock.write(frame));
    sock.on('data', (b: Buffer) => {
      chunks.push(b);
      have += b.length;
      if (have > MAX_MESSAGE + 2 + 65537) return finish(new DnsQueryError(`TCP answer from ${label} too large`, 'malformed', [label]));
      // A server may send several messages on one connection; check each complete one.
      let all = Buffer.concat(chunks);
      while (all.length >= 2) {
        const len = all.readUInt16BE(0);
        if (all.length < 2 + len) break;
        const d = decodeResponse(all.subarray(2, 2 + len));
        all = all.subarray(2 + len);
        if (!d.ok) {
          a.onPacket?.({ outcome: 'rejected', reason: d.reason, server: label, transport: 'tcp' });
          continue;
        }
        const mismatch = matchesQuery(d.response, { id, name: a.name, type: a.type });
        if (mismatch) {
          a.onPacket?.({ outcome: 'rejected', reason: mismatch, server: label, transport: 'tcp' });
          continue;
        }
        a.onPacket?.({ outcome: 'accepted', server: label, transport: 'tcp' });
        return finish(undefined, d.response);
      }
      chunks = [all];
      have = all.length;
    });
    sock.on('end', () => finish(new DnsQueryError(`TCP connection to ${label} closed without a valid answer`, 'malformed', [label])));
  });
}

/** Ask one question, retrying across servers; a truncated UDP answer is re-asked over TCP. */
export async function query(opts: QueryOptions): Promise<QueryResult> {
  if (opts.servers.length === 0) throw new DnsQueryError('no DNS servers to ask', 'network', []);
  const timeoutMs = opts.timeoutMs ?? 2000;
  const attempts = Math.max(1, opts.attempts ?? opts.servers.length * 2);
  const retryRcodes = opts.retryRcodes ?? ['SERVFAIL', 'REFUSED'];
  const tried: string[] = [];
  let lastErr: DnsQueryError | undefined;
  /** A rejected answer tells more than a later silence: it is what gets reported. */
  let rejectedErr: DnsQueryError | undefined;
  let lastAnswer: QueryResult | undefined;
  for (let i = 0; i < attempts; i++) {
    if (opts.signal?.aborted) throw abortError(opts.signal, tried);
    const server = opts.servers[i % opts.servers.length]!;
    const label = formatServer(server);
    tried.push(label);
    const base: Attempt = {
      server,
      name: normName(opts.name),
      type: opts.type,
      rd: opts.rd,
      timeoutMs,
      signal: opts.signal,
      onPacket: opts.onPacket,
      noEdns: opts.noEdns ?? false,
    };
    const t0 = performance.now();
    try {
      let response = await udpExchange(base);
      let transport: 'udp' | 'tcp' = 'udp';
      if (response.tc) {
        response = await tcpExchange(base);
        transport = 'tcp';
      }
      const result: QueryResult = { response, server: label, transport, rttMs: performance.now() - t0, attempts: i + 1 };
      if (retryRcodes.includes(response.rcode) && i + 1 < attempts) {
        lastAnswer = result;
        continue;
      }
      return result;
    } catch (e) {
      if (!(e instanceof DnsQueryError)) throw e;
      if (e.kind === 'aborted') throw new DnsQueryError(e.message, 'aborted', tried);
      lastErr = e;
      if (e.kind === 'malformed') rejectedErr = e;
    }
  }
  if (lastAnswer) return lastAnswer;
  const err = rejectedErr ?? lastErr;
  throw new DnsQueryError(`${err?.message ?? 'no answer'} (tried ${[...new Set(tried)].join(', ')}, ${attempts} attempts)`, err?.kind ?? 'timeout', tried);
}
