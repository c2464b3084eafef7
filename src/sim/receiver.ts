// A real webhook receiver, as a merchant's internal system would run one, used by the tests and
// the demo. It verifies the configured scheme's signature, rejects old timestamps where the scheme
// signs one, processes each delivery once (idempotency by delivery id) and exposes a receipt URL
// for the synthetic probe's `confirm`. Switches make it broken in the ways real receivers are.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import { verify, type SigningScheme } from '../signing/index.ts';

export interface ReceiverFaults {
  /** Verify with a different secret than the sender's (every genuine delivery fails with 401). */
  wrongSecret?: boolean;
  /** Accept anything: no signature or timestamp check (a lax receiver). */
  skipSignature?: boolean;
  /** Accept the connection and the request, never answer. */
  neverAnswer?: boolean;
  /** Answer 200 but never process (the receipt never appears). */
  noProcessing?: boolean;
  /** Process the same delivery id again each time it arrives. */
  noDedupe?: boolean;
}

export interface ReceiverOptions {
  scheme: SigningScheme;
  secret: string;
  /** HTTPS with this key and certificate (see makeTestCa). */
  tls?: { key: string | Buffer; cert: string | Buffer };
  host?: string;
  port?: number;
  toleranceS?: number;
  now?: () => number;
  faults?: ReceiverFaults;
  /** Paths; defaults /webhook and /receipts/. */
  webhookPath?: string;
}

export interface ReceivedRequest {
  headers: Record<string, string | string[] | undefined>;
  body: string;
  status: number;
  verdict: string;
}

export interface Receiver {
  /** Base URL, e.g. http://127.0.0.1:PORT */
  url: string;
  port: number;
  webhookUrl: string;
  /** Receipt URL template with {deliveryId}, for the synthetic probe's confirm.url. */
  receiptUrl: string;
  received: ReceivedRequest[];
  /** Idempotency key -> times processed. */
  processed: Map<string, number>;
  faults: ReceiverFaults;
  stop(): Promise<void>;
}

function deliveryKey(scheme: SigningScheme, headers: IncomingMessage['headers'], body: Record<string, unknown>): { key?: string; aliases: string[] } {
  if (scheme === 'standard-webhooks') {
    const id = headers['webhook-id'];
    return { key: typeof id === 'string' ? id : undefined, aliases: [] };
  }
  if (scheme === 'stripe') return { key: typeof body.id === 'string' ? body.id : undefined, aliases: [] };
  // BTCPay: retries and redeliveries carry a new deliveryId but the first one as originalDeliveryId.
  const orig = typeof body.originalDeliveryId === 'string' ? body.originalDeliveryId : undefined;
  const id = typeof body.deliveryId === 'string' ? body.deliveryId : undefined;
  return { key: orig ?? id, aliases: id && id !== orig ? [id] : [] };
}

export async function startReceiver(opts: ReceiverOptions): Promise<Receiver> {
  const webhookPath = opts.webhookPath ?? '/webhook';
  const faults: ReceiverFaults = { ...opts.faults };
  const received: ReceivedRequest[] = [];
  const processed = new Map<string, number>();
  const alias = new Map<string, string>();
  const sockets = new Set<Socket>();
  const now = opts.now ?? Date.now;

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 1024 * 1024) chunks.push(c);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://x');
      const json = (status: number, obj: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(obj));
      };
      if (req.method === 'GET' && url.pathname.startsWith('/receipts/')) {
        const id = decodeURIComponent(url.pathname.slice('/receipts/'.length));
        const key = alias.get(id) ?? id;
        const count = processed.get(key);
        if (count === undefined) return json(404, { deliveryId: id, processed: false });
        return json(200, { deliveryId: id, processed: true, count });
      }
      if (req.method !== 'POST' || url.pathname !== webhookPath) return json(404, { error: 'not found' });
      const record = (status: number, verdict: string) => {
        received.push({ headers: req.headers, body, status, verdict });
      };
      if (faults.neverAnswer) {
        record(0, 'never answered');
        return; // keep the socket open; stop() destroys it
      }
      if (!faults.skipSignature) {
        const secret = faults.wrongSecret ? opts.secret + '-rotated' : opts.secret;
        const v = verify(opts.scheme, { body, secret, headers: req.headers, nowS: Math.floor(now() / 1000), toleranceS: opts.toleranceS });
        if (!v.ok) {
          record(v.reason === 'timestamp_too_old' || v.reason === 'timestamp_in_future' ? 400 : 401, v.reason);
          return json(received.at(-1)!.status, { error: v.reason });
        }
      }
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(body) as Record<string, unknown>;
      } catch {
        record(400, 'bad json');
        return json(400, { error: 'body is not JSON' });
      }
      const { key, aliases } = deliveryKey(opts.scheme, req.headers, parsed);
      if (!key) {
        record(400, 'no delivery id');
        return json(400, { error: 'no delivery id' });
      }
      if (faults.noProcessing) {
        record(200, 'accepted, not processed');
        return json(200, { received: true });
      }
      for (const a of aliases) alias.set(a, key);
      const seen = processed.get(key);
      if (seen !== undefined && !faults.noDedupe) {
        record(200, 'duplicate');
        return json(200, { received: true, duplicate: true });
      }
      processed.set(key, (seen ?? 0) + 1);
      record(200, 'processed');
      return json(200, { received: true });
    });
  };

  const server: Server = opts.tls ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : createHttpServer(handler);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.tls ? 'localhost' : (opts.host ?? '127.0.0.1');
  const url = `${opts.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    port,
    webhookUrl: url + webhookPath,
    receiptUrl: url + '/receipts/{deliveryId}',
    received,
    processed,
    faults,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface TestCa {
  dir: string;
  caFile: string;
  caPem: string;
  key: string;
  cert: string;
  cleanup(): void;
}

/** A throw-away CA and a server certificate for localhost / 127.0.0.1 / ::1, made with openssl. */
export function makeTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'hookwatch-ca-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=hookwatch test CA', '-days', '2');
  run('req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  run('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.crt', '-days', '2', '-extfile', 'ext.cnf');
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    key: readFileSync(join(dir, 'srv.key'), 'utf8'),
    cert: readFileSync(join(dir, 'srv.crt'), 'utf8'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
