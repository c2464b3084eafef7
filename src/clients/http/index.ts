// One HTTP request with phase timings, over undici with our own connector so that we control
// name resolution (system or a chosen resolver), see the address actually connected to, and can
// tell apart where a failure happened. A fresh Client per request: pooled sockets would hide the
// resolve/connect/tls phases, which are the point of a synthetic check.
import type { buildConnector } from 'undici';
import { Client } from '../undici.ts';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { formatHostPort } from '../../address.ts';
import { resolveHost } from './resolve.ts';
import { redactUrl, redactUrlsIn } from '../../redact-url.ts';

export const FAILURE_CLASSES = ['dns_error', 'connect_timeout', 'connect_refused', 'tls_error', 'response_timeout', 'http_status'] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];

export type Phase = 'resolve' | 'connect' | 'tls' | 'response';

export interface HttpRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** 'system' or 'IP:PORT'. */
  resolver?: string;
  /** PEM of extra CA certificates to trust (in addition to nothing else: a private CA replaces the default set). */
  ca?: string | Buffer;
  caFile?: string;
  connectTimeoutMs?: number;
  /** From the connection being ready to the whole response read. */
  responseTimeoutMs?: number;
  signal?: AbortSignal;
  /** Body bytes kept in the result (the rest is read and dropped). */
  maxBodyBytes?: number;
  /** Status codes that count as success (default 2xx). */
  okStatus?: (status: number) => boolean;
}

export interface HttpResult {
  ok: boolean;
  url: string;
  status?: number;
  headers?: Record<string, string | string[] | undefined>;
  body?: string;
  /** The address the connection went to (after resolution), when known. */
  address?: string;
  port?: number;
  /** Seconds per phase that completed (or was under way when it failed). */
  phases: Partial<Record<Phase, number>>;
  failure?: { class: FailureClass; message: string };
}

class PhaseError extends Error {
  constructor(
    readonly cls: FailureClass,
    message: string,
  ) {
    super(message);
  }
}

function defaultPort(protocol: string): number {
  return protocol === 'https:' ? 443 : 80;
}

function errCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** Which phase a request is in and since when, so every failure (ours or an outside abort) is blamed on the right phase. */
class PhaseClock {
  stage: Phase = 'resolve';
  #t0 = performance.now();
  responseStart = 0;
  responseTimedOut = false;
  responseTimer?: NodeJS.Timeout;
  constructor(readonly phases: HttpResult['phases']) {}
  enter(stage: Phase): void {
    this.stage = stage;
    this.#t0 = performance.now();
    if (stage === 'response') this.responseStart = this.#t0;
  }
  /** Record the current phase's duration in seconds. */
  done(): void {
    this.phases[this.stage] = (performance.now() - this.#t0) / 1000;
  }
}

/** The request as the connector needs it: where to go, how long to wait, what to trust. */
interface Target {
  host: string;
  port: number;
  https: boolean;
  resolver: string;
  ca?: string | Buffer;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
}

export async function httpRequest(req: HttpRequest): Promise<HttpResult> {
  const url = new URL(req.url);
  const phases: HttpResult['phases'] = {};
  // Shown in messages: never with userinfo or query (src/redact-url.ts).
  const result: HttpResult = { ok: false, url: redactUrl(req.url), phases };
  const ca = loadCa(req);
  if (typeof ca === 'object' && 'failure' in ca) return { ...result, failure: ca.failure };
  const target: Target = {
    host: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port ? Number(url.port) : defaultPort(url.protocol),
    https: url.protocol === 'https:',
    resolver: req.resolver ?? 'system',
    ca,
    connectTimeoutMs: req.connectTimeoutMs ?? 5000,
    responseTimeoutMs: req.responseTimeoutMs ?? 10_000,
  };
  const clock = new PhaseClock(phases);
  const ac = new AbortController();
  const onOuter = () => ac.abort(req.signal?.reason);
  if (req.signal?.aborted) onOuter();
  req.signal?.addEventListener('abort', onOuter, { once: true });
  const client = new Client(url.origin, {
    connect: connector(target, clock, result, ac),
    // Our own timer covers the response; undici's would fire at coarse granularity.
    headersTimeout: 0,
    bodyTimeout: 0,
    pipelining: 0,
  });
  try {
    const res = await client.request({
      path: url.pathname + url.search,
      method: req.method ?? 'POST',
      headers: req.headers,
      body: req.body,
      signal: ac.signal,
    });
    const body = await readCapped(res.body as AsyncIterable<Buffer>, req.maxBodyBytes ?? 64 * 1024);
    clock.done();
    Object.assign(result, { status: res.statusCode, headers: res.headers, body });
    if ((req.okStatus ?? is2xx)(res.statusCode)) result.ok = true;
    else
      result.failure = {
        class: 'http_status',
        message: `${req.method ?? 'POST'} ${redactUrl(req.url)} answered HTTP ${res.statusCode} (from ${fmtAddr(result)})`,
      };
  } catch (e) {
    if (clock.stage === 'response' && clock.responseStart) clock.done();
    result.failure = failureOf(e, clock, result, req.url, target.responseTimeoutMs);
  } finally {
    clearTimeout(clock.responseTimer);
    req.signal?.removeEventListener('abort', onOuter);
    await client.destroy().catch(() => undefined);
  }
  return result;
}

const is2xx = (s: number) => s >= 200 && s < 300;

/** The CA to trust: given inline, read from caFile, or none (the default set). */
function loadCa(req: HttpRequest): string | Buffer | undefined | { failure: NonNullable<HttpResult['failure']> } {
  if (req.ca || !req.caFile) return req.ca;
  try {
    return readFileSync(req.caFile);
  } catch (e) {
    return { failure: { class: 'tls_error', message: `cannot read CA file ${req.caFile}: ${errCode(e) ?? String(e)}` } };
  }
}

/** undici's connect hook: resolve, connect, TLS, each timed and classified; then the response timer starts. */
function connector(t: Target, clock: PhaseClock, result: HttpResult, ac: AbortController): buildConnector.connector {
  return (_opts, cb) => {
    void (async () => {
      let socket: Socket | TLSSocket | undefined;
      try {
        clock.enter('resolve');
        const addrs = await resolveAddresses(t, ac.signal);
        clock.done();
        clock.enter('connect');
        socket = await connectFirst(addrs, t, result, ac.signal);
        clock.done();
        if (t.https) {
          clock.enter('tls');
          socket = await tlsHandshake(socket, t, fmtWhere(result.address!, t.port, t.host), ac.signal);
          clock.done();
        }
        clock.enter('response');
        clock.responseTimer = setTimeout(() => {
          clock.responseTimedOut = true;
          ac.abort(new Error('response timeout'));
        }, t.responseTimeoutMs);
        cb(null, socket);
      } catch (e) {
        socket?.destroy();
        cb(e instanceof Error ? e : new Error(String(e)), null);
      }
    })();
  };
}

async function resolveAddresses(t: Target, signal: AbortSignal): Promise<string[]> {
  let addrs: string[];
  try {
    addrs = await resolveHost(t.resolver, t.host, { signal, timeoutMs: t.connectTimeoutMs });
  } catch (e) {
    const m = (e as Error).message ?? String(e);
    throw new PhaseError('dns_error', m.includes(t.host) ? m : `cannot resolve ${t.host} via ${t.resolver}: ${m}`);
  }
  if (addrs.length === 0) throw new PhaseError('dns_error', `${t.host} has no A/AAAA records via ${t.resolver}`);
  return addrs;
}

/** The addresses in the resolver's order, as a sender tries them; a refusal moves on to the next. */
async function connectFirst(addrs: string[], t: Target, result: HttpResult, signal: AbortSignal): Promise<Socket> {
  let lastErr: PhaseError | undefined;
  for (const address of addrs) {
    result.address = address;
    result.port = t.port;
    try {
      return await connectOnce(address, t.port, t.host, t.connectTimeoutMs, signal);
    } catch (e) {
      lastErr = e as PhaseError;
      if (lastErr.cls !== 'connect_refused' || signal.aborted) break;
    }
  }
  const tried = addrs.length > 1 ? ` (tried ${addrs.map((a) => formatHostPort(a, t.port)).join(', ')})` : '';
  throw new PhaseError(lastErr?.cls ?? 'connect_refused', (lastErr?.message ?? `cannot connect to ${t.host}`) + tried);
}

function tlsHandshake(raw: Socket, t: Target, where: string, signal: AbortSignal): Promise<TLSSocket> {
  return new Promise<TLSSocket>((resolve, reject) => {
    const s = tlsConnect({
      socket: raw,
      host: t.host,
      // SNI must be a name, never an IP literal.
      ...(isIP(t.host) ? {} : { servername: t.host }),
      ...(t.ca ? { ca: t.ca } : {}),
      ALPNProtocols: ['http/1.1'],
      rejectUnauthorized: true,
    });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new PhaseError('tls_error', `TLS handshake with ${where} timed out after ${t.connectTimeoutMs}ms`));
    }, t.connectTimeoutMs);
    const onAbort = () => {
      clearTimeout(timer);
      s.destroy();
      reject(new PhaseError('tls_error', `TLS handshake with ${where} aborted`));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    s.once('secureConnect', () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      reject(new PhaseError('tls_error', `TLS handshake with ${where} failed: ${errCode(e) ?? ''} ${(e as Error).message}`.replace(/\s+/g, ' ').trim()));
    });
  });
}

/** The body as text, keeping at most `max` bytes; the rest is read and dropped so the connection ends cleanly. */
async function readCapped(body: AsyncIterable<Buffer>, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let kept = 0;
  for await (const chunk of body) {
    if (kept >= max) continue;
    const part = chunk.subarray(0, max - kept);
    chunks.push(part);
    kept += part.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Why the request failed: our own classified error, else the phase it was in. */
function failureOf(e: unknown, clock: PhaseClock, result: HttpResult, url: string, responseTimeoutMs: number): NonNullable<HttpResult['failure']> {
  const cause = findPhaseError(e);
  if (cause) return { class: cause.cls, message: cause.message };
  if (clock.stage === 'response') {
    // No complete answer: our timer, the probe's deadline, or the peer dropping the connection
    // mid-request. The fixed class set has no "reset", and for a webhook all three mean the
    // sender got no verdict, so they share response_timeout; the message says which.
    const msg = clock.responseTimedOut
      ? `no complete response from ${fmtAddr(result)} within ${responseTimeoutMs}ms`
      : `no complete response from ${fmtAddr(result)}: ${errCode(e) ?? (e as Error).message}`;
    return { class: 'response_timeout', message: msg };
  }
  const cls: FailureClass = clock.stage === 'resolve' ? 'dns_error' : clock.stage === 'tls' ? 'tls_error' : 'connect_timeout';
  return { class: cls, message: `${redactUrl(url)}: ${redactUrlsIn((e as Error).message)}` };
}

/** "127.0.0.2:8443 (hooks.example.com)", or just the address when the URL already was one. */
function fmtWhere(address: string, port: number, host: string): string {
  return host === address ? formatHostPort(address, port) : `${formatHostPort(address, port)} (${host})`;
}

function connectOnce(address: string, port: number, host: string, timeoutMs: number, signal: AbortSignal): Promise<Socket> {
  const where = fmtWhere(address, port, host);
  return new Promise<Socket>((resolve, reject) => {
    const s = netConnect({ host: address, port });
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    const timer = setTimeout(() => {
      done();
      s.destroy();
      reject(new PhaseError('connect_timeout', `connect to ${where} timed out after ${timeoutMs}ms`));
    }, timeoutMs);
    const onAbort = () => {
      done();
      s.destroy();
      reject(new PhaseError('connect_timeout', `connect to ${where} aborted`));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    s.once('connect', () => {
      done();
      resolve(s);
    });
    s.once('error', (e) => {
      done();
      const code = errCode(e);
      reject(new PhaseError(code === 'ETIMEDOUT' ? 'connect_timeout' : 'connect_refused', `connect to ${where} failed: ${code ?? e.message}`));
    });
  });
}

function findPhaseError(e: unknown): PhaseError | undefined {
  for (let cur = e, i = 0; cur && i < 5; cur = (cur as { cause?: unknown }).cause, i++) if (cur instanceof PhaseError) return cur;
  return undefined;
}

function fmtAddr(r: HttpResult): string {
  if (!r.address) return new URL(r.url).host;
  return formatHostPort(r.address, r.port ?? 0);
}
