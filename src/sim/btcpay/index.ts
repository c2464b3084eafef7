// A simulated BTCPay Server (Greenfield API + webhook sender) for the demo, tests and benchmarks. It follows BTCPay
// Server 2.4.1's source; the facts are in docs/btcpay-greenfield.md, and each module names the BTCPay files it
// follows: routes.ts (the API), queue.ts (the sender), clock.ts (simulated time).
//
// Test controls: addApiKey, createWebhook/updateWebhook/deleteWebhook, createInvoice (amount 0 settles at once),
// settleInvoice, expireInvoice, expirePaidLate, restart() (drops queues and pending retries, like a BTCPay restart),
// pruneDeliveriesOlderThan, seedDeliveries (bulk history for benchmarks), idle() (wait for queues to drain),
// fault() (garbage / truncated / huge / slow / status / reset / body responses per path), setNow/advance when no
// `now` was passed, and `apiRequests` (a counter). Many stores on one address: stores.ts (it routes to serve()).
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { base58Id } from '../../btcpay/ids.ts';
import { SimClock } from './clock.ts';
import { derivedRow, newRow, WebhookQueues } from './queue.ts';
import { RawBody, route, type ApiKeyRecord, type InvoiceInput, type RouteHost, type StoreRole, type WebhookInput } from './routes.ts';
import { subscribed, type Fault, type FakeDeliveryRow, type FakeInvoice, type FakePayment, type FakeWebhook } from './types.ts';

export { FAKE_BTCPAY_VERSION } from './queue.ts';
export { RETRY_SCHEDULE_MS } from '../../btcpay/retry.ts';
export type { FakeDeliveryRow, FakeInvoice, FakeWebhook, Fault, FaultKind } from './types.ts';
export { base58Id };

export interface FakeBtcpayOptions {
  host?: string;
  port?: number;
  /** Multiplies the retry waits (e.g. 0.001 turns 10 min into 600 ms). Default 1. */
  timeScale?: number;
  /** ms clock for row timestamps and invoice times. Default: an internal clock (Date.now unless setNow/advance). */
  now?: () => number;
  /** 'IP:PORT' of a DNS server for webhook URL hosts. Default: system lookup. */
  resolver?: string;
  /**
   * Real time a webhook POST may take before it counts as timed out. Scaled clock: this is also the simulated
   * attempt time (default 100 s, BTCPay's). Virtual clock: default 2 s, and a timed-out attempt costs BTCPay's
   * 100 s of simulated time.
   */
  deliveryTimeoutMs?: number;
  storeId?: string;
  /** 'virtual': simulated time moves only through advance()/run() (clock.ts). Default 'scaled'. */
  clock?: 'scaled' | 'virtual';
  /** Virtual clock start (ms). Default Date.now(). */
  startMs?: number;
  /** Behave like a server from before the invoice list's includePaymentMethods (it ignores the parameter). */
  legacyInvoiceList?: boolean;
}

export class FakeBtcpay implements RouteHost {
  readonly storeId: string;
  url = '';
  /** Greenfield requests served (any path), for call-count assertions and benchmarks. */
  apiRequests = 0;
  /** Response body bytes sent by the API. */
  apiBytes = 0;
  /** Most requests in flight at once, by the path's last segment (e.g. 'payment-methods'), for concurrency bounds. */
  readonly maxInFlight = new Map<string, number>();
  /** Requests served, by the path's last segment. */
  readonly requestsBySegment = new Map<string, number>();
  readonly #inFlight = new Map<string, number>();
  readonly webhooks = new Map<string, FakeWebhook>();
  readonly invoices = new Map<string, FakeInvoice>();
  readonly keys = new Map<string, ApiKeyRecord>();
  readonly clock: SimClock;
  readonly #payments = new Map<string, { method: string; payments: FakePayment[] }>();
  /** Written rows per webhook, sorted by timestamp ascending (stable). */
  readonly #rows = new Map<string, FakeDeliveryRow[]>();
  readonly #rowById = new Map<string, FakeDeliveryRow>();
  readonly #faults: Array<{ match: string | RegExp; fault: Fault; left: number }> = [];
  readonly #queues: WebhookQueues;
  readonly #opts: FakeBtcpayOptions;
  readonly #server: Server;
  #generation = 0;
  #closed = false;
  /** Zero-amount invoices created but not yet settled by the (simulated) invoice watcher. */
  #settling = 0;
  readonly legacyInvoiceList: boolean;

  constructor(opts: FakeBtcpayOptions = {}) {
    this.#opts = opts;
    this.storeId = opts.storeId ?? base58Id();
    this.legacyInvoiceList = opts.legacyInvoiceList ?? false;
    this.clock = new SimClock({
      mode: opts.clock ?? 'scaled',
      timeScale: opts.timeScale ?? 1,
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.startMs !== undefined ? { startMs: opts.startMs } : {}),
    });
    // Getters on the host object read the live values; arrows keep `this` without aliasing it.
    const generation = () => this.#generation;
    const closed = () => this.#closed;
    this.#queues = new WebhookQueues(
      {
        webhooks: this.webhooks,
        clock: this.clock,
        get generation() {
          return generation();
        },
        get closed() {
          return closed();
        },
        write: (row) => this.#write(row),
      },
      {
        ...(opts.resolver ? { resolver: opts.resolver } : {}),
        deliveryTimeoutMs: opts.deliveryTimeoutMs ?? (opts.clock === 'virtual' ? 2000 : 100_000),
      },
    );
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  // ---- lifecycle ---------------------------------------------------------------------------------

  async listen(): Promise<this> {
    const host = this.#opts.host ?? '127.0.0.1';
    await new Promise<void>((ok, fail) => {
      this.#server.once('error', fail);
      this.#server.listen(this.#opts.port ?? 0, host, () => ok());
    });
    const a = this.#server.address() as AddressInfo;
    this.url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    return this;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.restart();
    this.#server.closeAllConnections();
    await new Promise<void>((ok) => this.#server.close(() => ok()));
    await this.#queues.close();
  }

  /** Like a BTCPay restart: in-memory queues and pending retries are lost without a trace (§4). */
  restart(): void {
    this.#generation++;
    this.#queues.clear();
    this.clock.cancelAll();
  }

  /** Queued deliveries the sender dropped at send time (webhook gone, disabled or unsubscribed). */
  get droppedAtSend(): number {
    return this.#queues.droppedAtSend;
  }

  now(): number {
    return this.clock.now();
  }
  #sec(): number {
    return this.clock.nowSec();
  }
  /** Set the internal clock (only when no `now` option was given). */
  setNow(ms: number): void {
    this.clock.setNow(ms);
  }
  advance(ms: number): void {
    this.setNow(this.now() + ms);
  }

  /**
   * Virtual clock: move simulated time forward by `ms`, letting the sender work through every wait and attempt that
   * falls due on the way, in time order (bounded in steps and real time).
   */
  async run(ms: number, realLimitMs = 30_000): Promise<void> {
    if (this.clock.mode !== 'virtual') throw new Error('run() needs the virtual clock');
    const end = this.now() + ms;
    const stop = Date.now() + realLimitMs;
    for (let step = 0; step < 100_000; step++) {
      await this.#settle(stop);
      const due = this.clock.nextDue();
      if (due === undefined || due > end) break;
      this.clock.setNow(Math.max(this.now(), due));
      this.clock.fireDue();
    }
    this.clock.setNow(end);
    this.clock.fireDue();
    await this.#settle(stop);
  }

  /** Wait until no attempt is in flight and every working queue waits on the virtual clock. */
  async #settle(stop: number): Promise<void> {
    let calm = 0;
    while (calm < 2) {
      if (Date.now() > stop) throw new Error('simulated BTCPay did not settle in time');
      await new Promise((r) => setTimeout(r, 1));
      calm = this.#queues.inflight === 0 && this.#queues.running === this.clock.waiting ? calm + 1 : 0;
    }
  }

  /** Resolve when every webhook queue is empty and no attempt is in flight (bounded). */
  async idle(timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.#queues.idle && this.#settling === 0) return;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`fake BTCPay queues not idle after ${timeoutMs} ms`);
  }

  // ---- test controls -----------------------------------------------------------------------------

  /** A key with these permissions; `storeRole` caps them by its user's role in the store (routes.ts). */
  addApiKey(permissions: string[], label = 'test key', storeRole?: StoreRole): string {
    const key = randomBytes(20).toString('hex');
    this.keys.set(key, { label, permissions: [...permissions], ...(storeRole ? { storeRole } : {}) });
    return key;
  }

  createWebhook(w: WebhookInput): FakeWebhook {
    const specific = w.specificEvents ?? [];
    const hook: FakeWebhook = {
      id: base58Id(),
      enabled: w.enabled ?? true,
      automaticRedelivery: w.automaticRedelivery ?? true,
      url: w.url,
      authorizedEvents: { everything: w.everything ?? specific.length === 0, specificEvents: specific },
      secret: w.secret || base58Id(),
    };
    this.webhooks.set(hook.id, hook);
    return { ...hook };
  }

  updateWebhook(id: string, patch: Partial<Omit<FakeWebhook, 'id'>>): void {
    const w = this.webhooks.get(id);
    if (!w) throw new Error(`no webhook ${id}`);
    Object.assign(w, patch);
  }

  deleteWebhook(id: string): void {
    this.webhooks.delete(id);
    for (const r of this.#rows.get(id) ?? []) this.#rowById.delete(r.id);
    this.#rows.delete(id);
    this.#queues.forget(id);
  }

  /** Written delivery rows of a webhook, newest first (what the API would list). */
  deliveries(webhookId: string): FakeDeliveryRow[] {
    return [...this.rowsOf(webhookId)].reverse();
  }

  rowsOf(webhookId: string): FakeDeliveryRow[] {
    return this.#rows.get(webhookId) ?? [];
  }

  rowById(id: string): FakeDeliveryRow | undefined {
    return this.#rowById.get(id);
  }

  paymentsOf(invoiceId: string): { method: string; payments: FakePayment[] } {
    return this.#payments.get(invoiceId)!;
  }

  redeliver(row: FakeDeliveryRow): string {
    const n = derivedRow(row, this.#sec());
    this.#queues.enqueue(row.webhookId, n);
    return n.id;
  }

  /**
   * A new invoice, status New. Without an amount it is a top-up invoice (any amount, waits for a payment). A zero
   * amount has no payment prompt: the invoice watcher settles it moments later, firing InvoiceProcessing and
   * InvoiceSettled after InvoiceCreated (BTCPay: BTCPayServer/HostedServices/InvoiceWatcher.cs).
   */
  createInvoice(o: InvoiceInput): FakeInvoice {
    const now = this.#sec();
    const id = base58Id();
    const pm = o.paymentMethod === 'lightning' ? 'BTC-LN' : 'BTC-CHAIN';
    const exp = o.expirationMinutes ?? 15;
    const topUp = o.amount === undefined;
    const amount = typeof o.amount === 'number' ? String(o.amount) : (o.amount ?? '0');
    const inv: FakeInvoice = {
      id,
      storeId: this.storeId,
      amount,
      paidAmount: '0',
      currency: o.currency ?? 'USD',
      type: topUp ? 'TopUp' : 'Standard',
      checkoutLink: `${this.url}/i/${id}`,
      createdTime: now,
      expirationTime: now + exp * 60,
      monitoringExpiration: now + exp * 60 + 86_400,
      status: 'New',
      additionalStatus: 'None',
      availableStatusesForManualMarking: ['Settled', 'Invalid'],
      archived: false,
      metadata: o.metadata ?? {},
      checkout: {
        speedPolicy: 'MediumSpeed',
        paymentMethods: [pm],
        defaultPaymentMethod: pm,
        expirationMinutes: exp,
        monitoringMinutes: 1440,
        paymentTolerance: 0,
        redirectURL: null,
        redirectAutomatically: false,
        defaultLanguage: null,
        lazyPaymentMethods: false,
      },
      receipt: { enabled: true, showQR: null, showPayments: null },
    };
    this.invoices.set(id, inv);
    this.#payments.set(id, { method: pm, payments: [] });
    this.#emit('InvoiceCreated', inv, {});
    const created = { ...inv };
    if (!topUp && Number(amount) === 0) {
      this.#settling++;
      setImmediate(() => {
        this.#settling--;
        if (this.#closed || inv.status !== 'New') return;
        inv.status = 'Processing';
        this.#emit('InvoiceProcessing', inv, { overPaid: false });
        inv.status = 'Settled';
        inv.availableStatusesForManualMarking = [];
        this.#emit('InvoiceSettled', inv, { manuallyMarked: false, overPaid: false });
      });
    }
    return created;
  }

  /**
   * Pay in full and confirm (§5). On-chain, the payment arrives unconfirmed and settles later: ReceivedPayment,
   * Processing, PaymentSettled, Settled. Lightning payments are settled when recorded, so PaymentSettled comes first
   * (BTCPay: BTCPayServer/Services/Invoices/PaymentService.cs AddPayment publishes PaymentSettled before
   * BTCPayServer/Payments/Lightning/LightningListener.cs publishes ReceivedPayment).
   */
  settleInvoice(id: string): FakeInvoice {
    const inv = this.#invoice(id);
    const p = this.#pay(inv);
    const pm = this.#payments.get(id)!.method;
    const received = { afterExpiration: false, paymentMethodId: pm, payment: p };
    if (pm === 'BTC-LN') {
      this.#emit('InvoicePaymentSettled', inv, received);
      this.#emit('InvoiceReceivedPayment', inv, received);
      inv.status = 'Processing';
      this.#emit('InvoiceProcessing', inv, { overPaid: false });
    } else {
      this.#emit('InvoiceReceivedPayment', inv, received);
      inv.status = 'Processing';
      this.#emit('InvoiceProcessing', inv, { overPaid: false });
      this.#emit('InvoicePaymentSettled', inv, received);
    }
    inv.status = 'Settled';
    inv.availableStatusesForManualMarking = [];
    this.#emit('InvoiceSettled', inv, { manuallyMarked: false, overPaid: false });
    return { ...inv };
  }

  expireInvoice(id: string): FakeInvoice {
    const inv = this.#invoice(id);
    inv.status = 'Expired';
    this.#emit('InvoiceExpired', inv, { partiallyPaid: false });
    return { ...inv };
  }

  /** Expire, then receive the full amount: status stays Expired with additionalStatus PaidLate (§7). */
  expirePaidLate(id: string): FakeInvoice {
    const inv = this.#invoice(id);
    if (inv.status === 'New') this.expireInvoice(id);
    const p = this.#pay(inv);
    const pm = this.#payments.get(id)!.method;
    inv.additionalStatus = 'PaidLate';
    this.#emit('InvoiceReceivedPayment', inv, { afterExpiration: true, paymentMethodId: pm, payment: p });
    this.#emit('InvoicePaidAfterExpiration', inv, {});
    return { ...inv };
  }

  /** Strip request bodies of rows older than `ms` down to {"type": ...}; rows stay listed (§4 pruning). */
  pruneDeliveriesOlderThan(ms: number): number {
    const cut = Math.floor((this.now() - ms) / 1000);
    let n = 0;
    for (const rows of this.#rows.values())
      for (const r of rows)
        if (r.timestamp < cut && !r.pruned) {
          r.body = JSON.stringify({ type: r.type });
          r.pruned = true;
          n++;
        }
    return n;
  }

  /**
   * Bulk-insert written rows without sending anything (history for benchmarks). Rows get timestamps
   * from startMs every stepMs; every `failEvery`-th is a Failed row.
   */
  seedDeliveries(webhookId: string, n: number, o: { startMs: number; stepMs: number; failEvery?: number; type?: string }): void {
    const list = this.#rowList(webhookId);
    for (let i = 0; i < n; i++) {
      const ts = Math.floor((o.startMs + i * o.stepMs) / 1000);
      const id = base58Id();
      const fail = o.failEvery ? i % o.failEvery === o.failEvery - 1 : false;
      const type = o.type ?? 'InvoiceSettled';
      const invoiceId = base58Id();
      const body = JSON.stringify(
        {
          manuallyMarked: false,
          overPaid: false,
          deliveryId: id,
          webhookId,
          originalDeliveryId: id,
          isRedelivery: false,
          type,
          timestamp: ts,
          storeId: this.storeId,
          invoiceId,
          metadata: {},
        },
        null,
        2,
      );
      const row: FakeDeliveryRow = {
        id,
        webhookId,
        timestamp: ts,
        deliveryTime: ts,
        httpCode: fail ? null : 200,
        errorMessage: fail ? 'Connection refused (receiver.invalid:443)' : null,
        status: fail ? 'Failed' : 'HttpSuccess',
        body,
        pruned: false,
        type,
        originalDeliveryId: id,
        invoiceId,
      };
      list.push(row); // callers seed in time order, before live traffic
      this.#rowById.set(id, row);
    }
    list.sort((a, b) => a.timestamp - b.timestamp);
  }

  /** Make API responses misbehave for requests whose path (with query) contains `match` or matches it. */
  fault(match: string | RegExp, fault: Fault): void {
    this.#faults.push({ match, fault, left: fault.times ?? Infinity });
  }
  clearFaults(): void {
    this.#faults.length = 0;
  }

  // ---- events --------------------------------------------------------------------------------------

  #invoice(id: string): FakeInvoice {
    const inv = this.invoices.get(id);
    if (!inv) throw new Error(`no invoice ${id}`);
    return inv;
  }

  #pay(inv: FakeInvoice): FakePayment {
    const rec = this.#payments.get(inv.id)!;
    const p: FakePayment = {
      id: rec.method === 'BTC-LN' ? randomBytes(32).toString('hex') : `${randomBytes(32).toString('hex')}-0`,
      receivedDate: this.#sec(),
      value: (Number(inv.amount) / 50_000).toFixed(8),
      fee: '0.00000000',
      status: 'Settled',
      destination: rec.method === 'BTC-LN' ? 'lnbcrt1fake' : 'bcrt1qfakedestination',
    };
    rec.payments.push(p);
    inv.paidAmount = inv.amount;
    return p;
  }

  /** Fan an event out: each enabled, subscribed webhook gets its own delivery, created now, queued in order. */
  #emit(type: string, inv: FakeInvoice, extra: Record<string, unknown>): void {
    const ts = this.#sec();
    for (const w of this.webhooks.values()) {
      if (!w.enabled || !subscribed(w, type)) continue; // dropped without a record (§4)
      const id = base58Id();
      // Newtonsoft order: event-specific fields, then the common ones, then storeId/invoiceId/metadata (§5).
      const common = { deliveryId: id, webhookId: w.id, originalDeliveryId: id, isRedelivery: false, type, timestamp: ts };
      const payload = { ...extra, ...common, storeId: this.storeId, invoiceId: inv.id, metadata: inv.metadata };
      this.#queues.enqueue(w.id, newRow(w.id, id, ts, JSON.stringify(payload, null, 2), type, id, inv.id));
    }
  }

  #rowList(webhookId: string): FakeDeliveryRow[] {
    let l = this.#rows.get(webhookId);
    if (!l) this.#rows.set(webhookId, (l = []));
    return l;
  }

  /** Insert by timestamp (after equal ones): a row written late with an old timestamp lands in the past. */
  #write(row: FakeDeliveryRow): void {
    const list = this.#rowList(row.webhookId);
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.timestamp <= row.timestamp) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, row);
    this.#rowById.set(row.id, row);
  }

  // ---- HTTP ----------------------------------------------------------------------------------------

  /** Answer one request as this store's server would; a host serving many stores routes to it (stores.ts). */
  serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    return this.#handle(req, res);
  }

  #takeFault(path: string): Fault | undefined {
    for (const f of this.#faults) {
      if (f.left <= 0) continue;
      if (typeof f.match === 'string' ? path.includes(f.match) : f.match.test(path)) {
        f.left--;
        return f.fault;
      }
    }
    return undefined;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.apiRequests++;
    const url = new URL(req.url ?? '/', 'http://fake');
    const fault = this.#takeFault(url.pathname + url.search);
    const seg = url.pathname.replace(/\/+$/, '').split('/').pop() ?? '';
    const n = (this.#inFlight.get(seg) ?? 0) + 1;
    this.#inFlight.set(seg, n);
    this.requestsBySegment.set(seg, (this.requestsBySegment.get(seg) ?? 0) + 1);
    if (n > (this.maxInFlight.get(seg) ?? 0)) this.maxInFlight.set(seg, n);
    res.once('close', () => this.#inFlight.set(seg, (this.#inFlight.get(seg) ?? 1) - 1));
    try {
      const body = await readBody(req);
      if (fault?.kind === 'slow') {
        const closed = await Promise.race([
          new Promise<boolean>((r) => setTimeout(() => r(false), fault.delayMs ?? 30_000)),
          new Promise<boolean>((r) => res.once('close', () => r(true))),
        ]);
        if (closed) return;
      }
      if (fault?.kind === 'reset') return void req.socket.destroy();
      if (fault?.kind === 'garbage') return send(res, 200, '<html><body>502 Bad Gateway (but 200)</body></html>', 'text/html');
      if (fault?.kind === 'status') return send(res, fault.status ?? 500, fault.status === 429 ? '' : '<html>upstream error</html>', 'text/html');
      if (fault?.kind === 'body') return send(res, fault.status ?? 200, fault.body ?? '', 'application/json; charset=utf-8');
      if (fault?.kind === 'huge') return void (await streamHuge(res, fault.bytes ?? 64 * 1024 * 1024));
      if (fault?.kind === 'ignore-count') url.searchParams.delete('count');
      const [status, payload] = route(this, req.method ?? 'GET', url, req.headers.authorization, body);
      let text = payload instanceof RawBody ? payload.text : payload === undefined ? '' : JSON.stringify(payload);
      if (fault?.kind === 'truncated') text = text.slice(0, Math.max(1, Math.floor(text.length / 2)));
      this.apiBytes += Buffer.byteLength(text);
      send(res, status, text, 'application/json; charset=utf-8');
    } catch (e) {
      send(res, 500, JSON.stringify({ code: 'generic-error', message: (e as Error).message }), 'application/json');
    }
  }
}

function send(res: ServerResponse, status: number, text: string, type: string): void {
  if (res.destroyed) return;
  const buf = Buffer.from(text, 'utf8');
  res.writeHead(status, { 'content-type': type, 'content-length': String(buf.length) });
  res.end(buf);
}

async function streamHuge(res: ServerResponse, bytes: number): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  const chunk = Buffer.from('{"id":"x","timestamp":1,"deliveryTime":1,"httpCode":200,"errorMessage":null,"status":"HttpSuccess"},'.repeat(640));
  let sent = 0;
  res.write('[');
  while (sent < bytes && !res.destroyed) {
    sent += chunk.length;
    if (!res.write(chunk)) await new Promise<void>((r) => (res.once('drain', r), res.once('close', r)));
  }
  if (!res.destroyed) res.end('{}]');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 1_000_000) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeBtcpay(opts: FakeBtcpayOptions = {}): Promise<FakeBtcpay> {
  return new FakeBtcpay(opts).listen();
}
