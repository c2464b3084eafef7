// One HTTP request with phase timings, over undici with our own connector so that we control
// name resolution (system or a chosen resolver), see the address actually connected to, and can
// tell apart where a failure happened. A fresh Client per request: pooled sockets would hide the
// resolve/connect/tls phases, which are the point of a synthetic check.
import { Client, type buildConnector } from 'undici';
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

export async function httpRequest(req: HttpRequest): Promise<HttpResult> {
  const url = new URL(req.url);
  const phases: HttpResult['phases'] = {};
  // Shown in messages: never with userinfo or query (src/redact-url.ts).
  const result: HttpResult = { ok: false, url: redactUrl(req.url), phases };
  const https = url.protocol === 'https:';
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port ? Number(url.port) : defaultPort(url.protocol);
  const connectTimeoutMs = req.connectTimeoutMs ?? 5000;
  const responseTimeoutMs = req.responseTimeoutMs ?? 10_000;
  let ca: string | Buffer | undefined = req.ca;
  if (!ca && req.caFile) {
    try {
      ca = readFileSync(req.caFile);
    } catch (e) {
      return { ...result, failure: { class: 'tls_error', message: `cannot read CA file ${req.caFile}: ${errCode(e) ?? String(e)}` } };
    }
  }

  // Where we are, so an outside abort (probe timeout) is blamed on the right phase.
  let stage: Phase = 'resolve';
  const ac = new AbortController();
  const onOuter = () => ac.abort(req.signal?.reason);
  if (req.signal?.aborted) onOuter();
  req.signal?.addEventListener('abort', onOuter, { once: true });
  let responseTimer: NodeJS.Timeout | undefined;
  let responseTimedOut = false;
  let t0 = performance.now();
  let responseStart = 0;
  const since = () => (performance.now() - t0) / 1000;

  const connector: buildConnector.connector = (_opts, cb) => {
    void (async () => {
      let socket: Socket | TLSSocket | undefined;
      try {
        stage = 'resolve';
        t0 = performance.now();
        let addrs: string[];
        try {
          addrs = await resolveHost(req.resolver ?? 'system', host, { signal: ac.signal, timeoutMs: connectTimeoutMs });
        } catch (e) {
          const m = (e as Error).message ?? String(e);
          throw new PhaseError('dns_error', m.includes(host) ? m : `cannot resolve ${host} via ${req.resolver ?? 'system'}: ${m}`);
        }
        if (addrs.length === 0) throw new PhaseError('dns_error', `${host} has no A/AAAA records via ${req.resolver ?? 'system'}`);
        phases.resolve = since();
        stage = 'connect';
        t0 = performance.now();
        // Try the addresses in the resolver's order, as a sender does; a refusal moves on to the next.
        let lastErr: PhaseError | undefined;
        for (const address of addrs) {
          result.address = address;
          result.port = port;
          try {
            socket = await connectOnce(address, port, host, connectTimeoutMs, ac.signal);
            break;
          } catch (e) {
            lastErr = e as PhaseError;
            if (lastErr.cls !== 'connect_refused' || ac.signal.aborted) break;
          }
        }
        if (!socket) {
          const tried = addrs.length > 1 ? ` (tried ${addrs.map((a) => formatHostPort(a, port)).join(', ')})` : '';
          throw new PhaseError(lastErr?.cls ?? 'connect_refused', (lastErr?.message ?? `cannot connect to ${host}`) + tried);
        }
        const where = fmtWhere(result.address!, port, host);
        phases.connect = since();

        if (https) {
          stage = 'tls';
          t0 = performance.now();
          const raw = socket;
          socket = await new Promise<TLSSocket>((resolve, reject) => {
            const s = tlsConnect({
              socket: raw,
              host,
              // SNI must be a name, never an IP literal.
              ...(isIP(host) ? {} : { servername: host }),
              ...(ca ? { ca } : {}),
              ALPNProtocols: ['http/1.1'],
              rejectUnauthorized: true,
            });
            const timer = setTimeout(() => {
              s.destroy();
              reject(new PhaseError('tls_error', `TLS handshake with ${where} timed out after ${connectTimeoutMs}ms`));
            }, connectTimeoutMs);
            const onAbort = () => {
              clearTimeout(timer);
              s.destroy();
              reject(new PhaseError('tls_error', `TLS handshake with ${where} aborted`));
            };
            ac.signal.addEventListener('abort', onAbort, { once: true });
            s.once('secureConnect', () => {
              clearTimeout(timer);
              ac.signal.removeEventListener('abort', onAbort);
              resolve(s);
            });
            s.once('error', (e) => {
              clearTimeout(timer);
              ac.signal.removeEventListener('abort', onAbort);
              reject(new PhaseError('tls_error', `TLS handshake with ${where} failed: ${errCode(e) ?? ''} ${(e as Error).message}`.replace(/\s+/g, ' ').trim()));
            });
          });
          phases.tls = since();
        }

        stage = 'response';
        t0 = performance.now();
        responseStart = t0;
        responseTimer = setTimeout(() => {
          responseTimedOut = true;
          ac.abort(new Error('response timeout'));
        }, responseTimeoutMs);
        cb(null, socket);
      } catch (e) {
        socket?.destroy();
        cb(e instanceof Error ? e : new Error(String(e)), null);
      }
    })();
  };

  const client = new Client(url.origin, {
    connect: connector,
    // Our own timer covers the response; undici's would fire at coarse granularity.
    headersTimeout: 0,
    bodyTimeout: 0,
    pipelining: 0,
  });
  try {
    const res = await client.request({
      path: url.pathname + url.search,
      method: (req.method ?? 'POST'),
      headers: req.headers,
      body: req.body,
      signal: ac.signal,
    });
    const max = req.maxBodyBytes ?? 64 * 1024;
    const chunks: Buffer[] = [];
    let kept = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (kept < max) {
        const part = chunk.subarray(0, max - kept);
        chunks.push(part);
        kept += part.length;
      }
    }
    phases.response = (performance.now() - responseStart) / 1000;
    result.status = res.statusCode;
    result.headers = res.headers;
    result.body = Buffer.concat(chunks).toString('utf8');
    const ok = req.okStatus ?? ((s: number) => s >= 200 && s < 300);
    if (ok(res.statusCode)) result.ok = true;
    else {
      const what = `${req.method ?? 'POST'} ${redactUrl(req.url)}`;
      result.failure = { class: 'http_status', message: `${what} answered HTTP ${res.statusCode} (from ${fmtAddr(result)})` };
    }
  } catch (e) {
    const st = stage as Phase;
    if (st === 'response' && responseStart) phases.response = (performance.now() - responseStart) / 1000;
    const cause = findPhaseError(e);
    if (cause) result.failure = { class: cause.cls, message: cause.message };
    else if (st === 'response') {
      // No complete answer: our timer, the probe's deadline, or the peer dropping the connection
      // mid-request. The fixed class set has no "reset", and for a webhook all three mean the
      // sender got no verdict, so they share response_timeout; the message says which.
      const msg = responseTimedOut
        ? `no complete response from ${fmtAddr(result)} within ${responseTimeoutMs}ms`
        : `no complete response from ${fmtAddr(result)}: ${errCode(e) ?? (e as Error).message}`;
      result.failure = { class: 'response_timeout', message: msg };
    } else {
      const cls: FailureClass = st === 'resolve' ? 'dns_error' : st === 'tls' ? 'tls_error' : 'connect_timeout';
      result.failure = { class: cls, message: `${redactUrl(req.url)}: ${redactUrlsIn((e as Error).message)}` };
    }
  } finally {
    clearTimeout(responseTimer);
    req.signal?.removeEventListener('abort', onOuter);
    await client.destroy().catch(() => undefined);
  }
  return result;
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
