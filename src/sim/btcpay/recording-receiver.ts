// A webhook receiver for tests: records what BTCPay (or the fake) posts, and can be broken and healed:
// answer a status code, hang, or stop listening altogether (connection refused) and come back on the same port.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceiverMode =
  | { kind: 'ok' }
  | { kind: 'status'; status: number }
  | { kind: 'hang' }
  | { kind: 'down' }
  /** Answer `status` with a Location header for every path but the location's own (which answers 200). */
  | { kind: 'redirect'; status: number; location: string };

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: Record<string, unknown>;
}

export class TestReceiver {
  readonly received: Received[] = [];
  #server?: Server;
  #mode: ReceiverMode = { kind: 'ok' };
  port = 0;
  host = '127.0.0.1';

  get url(): string {
    return `http://${this.host}:${this.port}/btcpay/webhook`;
  }

  async start(port = 0): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const m = this.#mode;
        if (m.kind === 'hang') return; // never answer; the sender's timeout fires
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          /* keep {} */
        }
        this.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw, body });
        if (m.kind === 'redirect' && req.url !== new URL(m.location, this.url).pathname) {
          res.writeHead(m.status, { location: m.location, 'content-type': 'text/plain' });
          return void res.end('moved');
        }
        res.writeHead(m.kind === 'status' ? m.status : 200, { 'content-type': 'text/plain' });
        res.end('ok');
      });
    });
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(port, this.host, () => ok());
    });
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
    return this;
  }

  /** Change behaviour; 'down' closes the listener (refused), leaving it re-openable on the same port with heal(). */
  async setMode(mode: ReceiverMode): Promise<void> {
    if (mode.kind === 'down') await this.stop();
    else if (!this.#server) await this.start(this.port);
    this.#mode = mode;
  }

  async heal(): Promise<void> {
    await this.setMode({ kind: 'ok' });
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((ok) => s.close(() => ok()));
  }
}

export async function startReceiver(): Promise<TestReceiver> {
  return new TestReceiver().start();
}
