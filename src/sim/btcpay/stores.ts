// A simulated BTCPay instance serving many stores on one address: each store is a FakeBtcpay (its own webhooks,
// invoices, delivery log and queue) and this host routes `/api/v1/stores/{storeId}/...` to it. Stores can be added,
// archived and removed while it runs.
//
// GET /api/v1/stores follows BTCPay 2.4.1: it needs btcpay.store.canviewstoresettings and lists the stores the key
// (capped by its user's role) holds it on, archived ones included with their flag; a key holding it on no store
// gets [] rather than 403 (BTCPayServer/Controllers/GreenField/GreenfieldStoresController.cs GetStores;
// BTCPayServer/Security/BuiltInPermissionHandler.cs, the unscoped store-policy branch). A store id the host does
// not know is answered like BTCPay answers one: 403 missing-permission (routes.ts, by a store that owns nothing).
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hasPermission, POLICIES } from '../../btcpay/permissions.ts';
import { base58Id } from '../../btcpay/ids.ts';
import { FakeBtcpay, type FakeBtcpayOptions } from './index.ts';
import type { ApiKeyRecord, StoreRole } from './routes.ts';

export interface FakeStoresOptions extends Omit<FakeBtcpayOptions, 'storeId' | 'port' | 'host'> {
  host?: string;
  port?: number;
}

export class FakeBtcpayStores {
  url = '';
  readonly stores = new Map<string, FakeBtcpay>();
  readonly #archived = new Set<string>();
  readonly #keys = new Map<string, ApiKeyRecord>();
  /** Answers for unknown store ids and store-less paths (api-keys/current, server/info). */
  readonly #nobody: FakeBtcpay;
  readonly #server: Server;
  readonly #opts: FakeStoresOptions;
  /** Requests and response bytes of stores removed since, so totals do not shrink. */
  #retired = { requests: 0, bytes: 0 };
  /** GET /api/v1/stores served. */
  storeListRequests = 0;
  #listBytes = 0;

  constructor(opts: FakeStoresOptions = {}) {
    this.#opts = opts;
    this.#nobody = this.#make(`none-${base58Id()}`);
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  #make(storeId: string): FakeBtcpay {
    const { host: _h, port: _p, ...rest } = this.#opts;
    const s = new FakeBtcpay({ ...rest, storeId });
    for (const [k, v] of this.#keys) s.keys.set(k, v);
    return s;
  }

  async listen(): Promise<this> {
    await new Promise<void>((ok, fail) => {
      this.#server.once('error', fail);
      this.#server.listen(this.#opts.port ?? 0, this.#opts.host ?? '127.0.0.1', () => ok());
    });
    const a = this.#server.address() as AddressInfo;
    this.url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    for (const s of [this.#nobody, ...this.stores.values()]) s.url = this.url;
    return this;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((ok) => this.#server.close(() => ok()));
    await Promise.all([this.#nobody, ...this.stores.values()].map((s) => s.close()));
  }

  /** A key valid on every store (present and future); permissions may be scoped `policy:storeId`. */
  addApiKey(permissions: string[], label = 'test key', storeRole?: StoreRole): string {
    const key = randomBytes(20).toString('hex');
    const rec: ApiKeyRecord = { label, permissions: [...permissions], ...(storeRole ? { storeRole } : {}) };
    this.#keys.set(key, rec);
    for (const s of [this.#nobody, ...this.stores.values()]) s.keys.set(key, rec);
    return key;
  }

  addStore(id = base58Id()): FakeBtcpay {
    if (this.stores.has(id)) throw new Error(`store ${id} exists`);
    const s = this.#make(id);
    s.url = this.url;
    this.stores.set(id, s);
    return s;
  }

  /** Delete a store (BTCPay: its webhooks, invoices and deliveries go with it). */
  async removeStore(id: string): Promise<void> {
    const s = this.stores.get(id);
    if (!s) return;
    this.stores.delete(id);
    this.#archived.delete(id);
    this.#retired.requests += s.apiRequests;
    this.#retired.bytes += s.apiBytes;
    await s.close();
  }

  archiveStore(id: string, archived = true): void {
    if (archived) this.#archived.add(id);
    else this.#archived.delete(id);
  }

  store(id: string): FakeBtcpay {
    const s = this.stores.get(id);
    if (!s) throw new Error(`no store ${id}`);
    return s;
  }

  /** Greenfield requests served by the whole instance. */
  get apiRequests(): number {
    let n = this.#retired.requests + this.#nobody.apiRequests + this.storeListRequests;
    for (const s of this.stores.values()) n += s.apiRequests;
    return n;
  }

  /** Response body bytes sent by the whole instance. */
  get apiBytes(): number {
    let n = this.#retired.bytes + this.#nobody.apiBytes + this.#listBytes;
    for (const s of this.stores.values()) n += s.apiBytes;
    return n;
  }

  #handle(req: IncomingMessage, res: ServerResponse): Promise<void> | void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const p = url.pathname.replace(/\/+$/, '');
    if (p === '/api/v1/stores' && req.method === 'GET') return this.#listStores(req, res);
    const m = /^\/api\/v1\/stores\/([^/]+)/.exec(p);
    const target = m ? this.stores.get(decodeURIComponent(m[1]!)) : undefined;
    return (target ?? this.#nobody).serve(req, res);
  }

  #listStores(req: IncomingMessage, res: ServerResponse): void {
    this.storeListRequests++;
    const m = /^(token|bearer)\s+(\S+)/i.exec(req.headers.authorization ?? '');
    const key = m ? this.#keys.get(m[2]!) : undefined;
    let status = 200;
    let payload: unknown;
    if (!key) {
      status = 401;
      payload = { code: 'unauthenticated', message: 'Authentication is required for accessing this endpoint' };
    } else {
      const role = key.storeRole ? ROLE_VIEW[key.storeRole] : true;
      const ids = [...this.stores.keys()].filter((id) => role && hasPermission(key.permissions, POLICIES.viewStoreSettings, id));
      // Names are there as in BTCPay; the agent must never read them.
      payload = ids.map((id, i) => ({ id, name: `Store ${i + 1}`, archived: this.#archived.has(id), defaultCurrency: 'USD' }));
    }
    const text = JSON.stringify(payload);
    this.#listBytes += Buffer.byteLength(text);
    const buf = Buffer.from(text, 'utf8');
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(buf.length) });
    res.end(buf);
  }
}

/** Whether a store role holds btcpay.store.canviewstoresettings (every built-in role except Employee does). */
const ROLE_VIEW: Record<StoreRole, boolean> = { Owner: true, Guest: true, Employee: false };

export async function startFakeBtcpayStores(opts: FakeStoresOptions = {}): Promise<FakeBtcpayStores> {
  return new FakeBtcpayStores(opts).listen();
}
