// A contract-faithful fake BTCPay Server (Greenfield API + webhook sender) for tests, the demo and
// benchmarks. Facts: docs/btcpay-greenfield.md; every §N below is a section of that file.
//
// API (store-scoped paths, `Authorization: token KEY`, permission model with `policy:storeId` scopes, §1, §8):
//   GET  /api/v1/health  (anonymous)                   GET /api/v1/server/info   GET /api/v1/api-keys/current
//   GET|POST /api/v1/stores/{s}/webhooks               GET|PUT|DELETE /api/v1/stores/{s}/webhooks/{w}
//   GET  .../webhooks/{w}/deliveries[?count=N]  newest first; without count EVERY row (§3 trap)
//   GET  .../deliveries/{d}   GET .../deliveries/{d}/request (exact bytes; 409 webhookdelivery-pruned)
//   POST .../deliveries/{d}/redeliver  -> JSON string, the new delivery id, sent asynchronously
//   GET|POST /api/v1/stores/{s}/invoices (status aliases, startDate/endDate unix seconds inclusive on creation
//   time, skip/take, includeArchived; newest first)   GET|DELETE .../invoices/{i}   GET .../invoices/{i}/payment-methods
// Errors: {"code","message"} (401 unauthenticated, 403 missing-permission + missingPermission, 404 *-not-found,
// 409 webhookdelivery-pruned) and 400 as an array of {path, message}. Timestamps are integer unix seconds,
// amounts decimal strings.
//
// Webhook sender (§4-§6): fan-out to enabled, subscribed webhooks; one in-memory in-order queue per webhook;
// pretty-printed JSON (2 spaces), `BTCPay-Sig: sha256=<hex HMAC of the exact bytes>`, `User-Agent: BTCPayServer/2.4.1`;
// a delivery row is written AFTER each attempt (Failed / HttpError / HttpSuccess, `deliveryTime` set just before
// the POST, `timestamp` = when the row was created, so queued rows land "in the past"); automatic retries on
// no response / 5xx / 408 / 429 after 10 s, 1 min, then 10 min x6 (x timeScale), each retry a new row with
// isRedelivery and originalDeliveryId; manual redelivery likewise. Receiver hosts resolve through `resolver`
// ('IP:PORT') when given, else the system lookup.
//
// Test controls: addApiKey, createWebhook/updateWebhook/deleteWebhook, createInvoice (amount 0 settles at once:
// InvoiceCreated, InvoiceProcessing, InvoiceSettled), settleInvoice, expireInvoice, expirePaidLate, restart()
// (drops queues and pending retries, like a BTCPay restart), pruneDeliveriesOlderThan, seedDeliveries (bulk
// history for benchmarks), idle() (wait for queues to drain), fault() (garbage / truncated / huge / slow /
// status / reset / body responses per path), setNow/advance when no `now` was passed, and `apiRequests` (a counter).
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createHmac, randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns';
import { lookup as systemLookup } from 'node:dns';
import { isIP, type AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { hasPermission, POLICIES } from '../../../src/clients/btcpay/permissions.ts';
import { base58Id } from '../../../src/clients/btcpay/ids.ts';

export const FAKE_BTCPAY_VERSION = '2.4.1';
/** Automatic retry waits after attempt 1..8 (§4). */
export const RETRY_SCHEDULE_MS = [10_000, 60_000, ...Array<number>(6).fill(600_000)];

export interface FakeBtcpayOptions {
  host?: string;
  port?: number;
  /** Multiplies the retry waits (e.g. 0.001 turns 10 min into 600 ms). Default 1. */
  timeScale?: number;
  /** ms clock for row timestamps and invoice times. Default: an internal clock (Date.now unless setNow/advance). */
  now?: () => number;
  /** 'IP:PORT' of a DNS server for webhook URL hosts. Default: system lookup. */
  resolver?: string;
  /** Webhook POST timeout (BTCPay: .NET's 100 s default). Not scaled. */
  deliveryTimeoutMs?: number;
  storeId?: string;
}

export interface FakeWebhook {
  id: string;
  enabled: boolean;
  automaticRedelivery: boolean;
  url: string;
  authorizedEvents: { everything: boolean; specificEvents: string[] };
  secret: string;
}

export interface FakeDeliveryRow {
  id: string;
  webhookId: string;
  /** unix seconds: when the row was created (event time for a first attempt). */
  timestamp: number;
  deliveryTime: number | null;
  httpCode: number | null;
  errorMessage: string | null;
  status: 'Failed' | 'HttpError' | 'HttpSuccess';
  /** Exact stored request body. */
  body: string;
  pruned: boolean;
  type: string;
  originalDeliveryId: string;
  invoiceId?: string;
}

interface FakePayment {
  id: string;
  receivedDate: number;
  value: string;
  fee: string;
  status: 'Settled';
  destination: string;
}

export interface FakeInvoice {
  id: string;
  storeId: string;
  amount: string;
  paidAmount: string;
  currency: string;
  type: 'Standard';
  checkoutLink: string;
  createdTime: number;
  expirationTime: number;
  monitoringExpiration: number;
  status: 'New' | 'Processing' | 'Expired' | 'Invalid' | 'Settled';
  additionalStatus: 'None' | 'PaidLate' | 'PaidPartial' | 'Marked' | 'Invalid' | 'PaidOver';
  availableStatusesForManualMarking: string[];
  archived: boolean;
  metadata: Record<string, unknown>;
  checkout: Record<string, unknown>;
  receipt: Record<string, unknown>;
}

export type FaultKind = 'garbage' | 'truncated' | 'huge' | 'slow' | 'status' | 'reset' | 'body';
export interface Fault {
  kind: FaultKind;
  /** For 'status' (default 500) and 'body' (default 200). */
  status?: number;
  /** For 'body': this exact response body (application/json), e.g. valid JSON of the wrong shape. */
  body?: string;
  /** For 'slow': wait this long before answering normally (default 30 s). */
  delayMs?: number;
  /** For 'huge': bytes to stream at most (default 64 MiB). */
  bytes?: number;
  /** How many requests it applies to (default: until cleared). */
  times?: number;
}

type Job = { row: FakeDeliveryRow };
interface Queue {
  jobs: Job[];
  running: boolean;
}

export { base58Id };

const STATUS_ALIASES: Record<string, FakeInvoice['status']> = {
  new: 'New', paid: 'Processing', processing: 'Processing', complete: 'Settled', confirmed: 'Settled',
  settled: 'Settled', expired: 'Expired', invalid: 'Invalid',
};

class HttpFail extends Error {
  constructor(readonly status: number, readonly payload: unknown) {
    super(`HTTP ${status}`);
  }
}
const notFound = (code: string, message: string) => new HttpFail(404, { code, message });
const badRequest = (path: string, message: string) => new HttpFail(400, [{ path, message }]);

export class FakeBtcpay {
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
  readonly #payments = new Map<string, { method: string; payments: FakePayment[] }>();
  /** Written rows per webhook, sorted by timestamp ascending (stable). */
  readonly #rows = new Map<string, FakeDeliveryRow[]>();
  readonly #rowById = new Map<string, FakeDeliveryRow>();
  readonly #keys = new Map<string, { label: string; permissions: string[] }>();
  readonly #queues = new Map<string, Queue>();
  readonly #timers = new Set<{ t: NodeJS.Timeout; done: (ok: boolean) => void }>();
  readonly #faults: Array<{ match: string | RegExp; fault: Fault; left: number }> = [];
  readonly #agent: Agent;
  readonly #loopbackAgent: Agent;
  readonly #opts: FakeBtcpayOptions;
  readonly #server: Server;
  #generation = 0;
  #clock = Date.now();
  #clockSet = false;
  #inflight = 0;
  #closed = false;

  constructor(opts: FakeBtcpayOptions = {}) {
    this.#opts = opts;
    this.storeId = opts.storeId ?? base58Id();
    const resolver = opts.resolver ? makeResolver(opts.resolver) : undefined;
    this.#agent = new Agent({ connect: resolver ? { lookup: resolver } : {} });
    // BTCPay skips TLS certificate validation for loopback URLs (§4); everything else is validated.
    this.#loopbackAgent = new Agent({ connect: { ...(resolver ? { lookup: resolver } : {}), rejectUnauthorized: false } });
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
    await this.#agent.close().catch(() => undefined);
    await this.#loopbackAgent.close().catch(() => undefined);
  }

  /** Like a BTCPay restart: in-memory queues and pending retries are lost without a trace (§4). */
  restart(): void {
    this.#generation++;
    for (const q of this.#queues.values()) q.jobs.length = 0;
    for (const t of this.#timers) {
      clearTimeout(t.t);
      t.done(false);
    }
    this.#timers.clear();
  }

  now(): number {
    return this.#opts.now ? this.#opts.now() : this.#clockSet ? this.#clock : Date.now();
  }
  #sec(): number {
    return Math.floor(this.now() / 1000);
  }
  /** Set the internal clock (only when no `now` option was given). */
  setNow(ms: number): void {
    this.#clock = ms;
    this.#clockSet = true;
  }
  advance(ms: number): void {
    this.setNow(this.now() + ms);
  }

  /** Resolve when every webhook queue is empty and no attempt is in flight (bounded). */
  async idle(timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.#inflight === 0 && [...this.#queues.values()].every((q) => !q.running && q.jobs.length === 0)) return;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`fake BTCPay queues not idle after ${timeoutMs} ms`);
  }

  // ---- test controls -----------------------------------------------------------------------------

  addApiKey(permissions: string[], label = 'test key'): string {
    const key = randomBytes(20).toString('hex');
    this.#keys.set(key, { label, permissions: [...permissions] });
    return key;
  }

  createWebhook(w: { url: string; secret?: string; enabled?: boolean; automaticRedelivery?: boolean; specificEvents?: string[]; everything?: boolean }): FakeWebhook {
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
    this.#queues.delete(id);
  }

  /** Written delivery rows of a webhook, newest first (what the API would list). */
  deliveries(webhookId: string): FakeDeliveryRow[] {
    return [...(this.#rows.get(webhookId) ?? [])].reverse();
  }

  createInvoice(o: { amount: number | string; currency?: string; metadata?: Record<string, unknown>; paymentMethod?: 'chain' | 'lightning'; expirationMinutes?: number }): FakeInvoice {
    const now = this.#sec();
    const id = base58Id();
    const pm = o.paymentMethod === 'lightning' ? 'BTC-LN' : 'BTC-CHAIN';
    const exp = o.expirationMinutes ?? 15;
    const amount = typeof o.amount === 'number' ? String(o.amount) : o.amount;
    const inv: FakeInvoice = {
      id,
      storeId: this.storeId,
      amount,
      paidAmount: '0',
      currency: o.currency ?? 'USD',
      type: 'Standard',
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
        speedPolicy: 'MediumSpeed', paymentMethods: [pm], defaultPaymentMethod: pm, expirationMinutes: exp,
        monitoringMinutes: 1440, paymentTolerance: 0, redirectURL: null, redirectAutomatically: false,
        defaultLanguage: null, lazyPaymentMethods: false,
      },
      receipt: { enabled: true, showQR: null, showPayments: null },
    };
    this.invoices.set(id, inv);
    this.#payments.set(id, { method: pm, payments: [] });
    this.#emit('InvoiceCreated', inv, {});
    if (Number(amount) === 0) {
      // No payment prompt: the watcher settles it in the same pass (§6).
      inv.status = 'Settled';
      inv.availableStatusesForManualMarking = [];
      this.#emit('InvoiceProcessing', inv, { overPaid: false });
      this.#emit('InvoiceSettled', inv, { manuallyMarked: false, overPaid: false });
    }
    return { ...inv };
  }

  /** Pay in full and confirm: ReceivedPayment, PaymentSettled, Processing, Settled (§5). */
  settleInvoice(id: string): FakeInvoice {
    const inv = this.#invoice(id);
    const p = this.#pay(inv);
    const pm = this.#payments.get(id)!.method;
    inv.status = 'Processing';
    this.#emit('InvoiceReceivedPayment', inv, { afterExpiration: false, paymentMethodId: pm, payment: p });
    this.#emit('InvoicePaymentSettled', inv, { afterExpiration: false, paymentMethodId: pm, payment: p });
    this.#emit('InvoiceProcessing', inv, { overPaid: false });
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
        { manuallyMarked: false, overPaid: false, deliveryId: id, webhookId, originalDeliveryId: id, isRedelivery: false, type, timestamp: ts, storeId: this.storeId, invoiceId, metadata: {} },
        null,
        2,
      );
      const row: FakeDeliveryRow = {
        id, webhookId, timestamp: ts, deliveryTime: ts, httpCode: fail ? null : 200,
        errorMessage: fail ? 'Connection refused (receiver.invalid:443)' : null, status: fail ? 'Failed' : 'HttpSuccess',
        body, pruned: false, type, originalDeliveryId: id, invoiceId,
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

  // ---- events and the sender ---------------------------------------------------------------------

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

  #matches(w: FakeWebhook, type: string): boolean {
    return w.authorizedEvents.everything || w.authorizedEvents.specificEvents.includes(type);
  }

  /** Fan an event out: each enabled, subscribed webhook gets its own delivery, created now, queued in order. */
  #emit(type: string, inv: FakeInvoice, extra: Record<string, unknown>): void {
    const ts = this.#sec();
    for (const w of this.webhooks.values()) {
      if (!w.enabled || !this.#matches(w, type)) continue; // dropped without a record (§4)
      const id = base58Id();
      // Newtonsoft order: event-specific fields, then the common ones, then storeId/invoiceId/metadata (§5).
      const payload = { ...extra, deliveryId: id, webhookId: w.id, originalDeliveryId: id, isRedelivery: false, type, timestamp: ts, storeId: this.storeId, invoiceId: inv.id, metadata: inv.metadata };
      const row = this.#newRow(w.id, id, ts, JSON.stringify(payload, null, 2), type, id, inv.id);
      this.#enqueue(w.id, { row });
    }
  }

  #newRow(webhookId: string, id: string, ts: number, body: string, type: string, original: string, invoiceId?: string): FakeDeliveryRow {
    return { id, webhookId, timestamp: ts, deliveryTime: null, httpCode: null, errorMessage: null, status: 'Failed', body, pruned: false, type, originalDeliveryId: original, ...(invoiceId ? { invoiceId } : {}) };
  }

  /** A retry or redelivery: a new row whose body is rebuilt from the original's, common fields first (§4, §5). */
  #derivedRow(from: FakeDeliveryRow): FakeDeliveryRow {
    const orig = JSON.parse(from.body) as Record<string, unknown>;
    const id = base58Id();
    const original = (orig.originalDeliveryId as string | undefined) ?? from.id;
    const { deliveryId: _d, webhookId, originalDeliveryId: _o, isRedelivery: _r, type, timestamp, ...rest } = orig;
    const body = JSON.stringify({ deliveryId: id, webhookId, originalDeliveryId: original, isRedelivery: true, type, timestamp, ...rest }, null, 2);
    return this.#newRow(from.webhookId, id, this.#sec(), body, from.type, original, from.invoiceId);
  }

  #enqueue(webhookId: string, job: Job): void {
    let q = this.#queues.get(webhookId);
    if (!q) this.#queues.set(webhookId, (q = { jobs: [], running: false }));
    q.jobs.push(job);
    if (!q.running) void this.#drain(webhookId, q);
  }

  async #drain(webhookId: string, q: Queue): Promise<void> {
    q.running = true;
    try {
      while (q.jobs.length && !this.#closed) await this.#process(webhookId, q.jobs.shift()!);
    } finally {
      q.running = false;
    }
  }

  /** One queue item: the attempt plus the whole automatic-retry loop, blocking later events (§4). */
  async #process(webhookId: string, job: Job): Promise<void> {
    const gen = this.#generation;
    let row = job.row;
    for (let attempt = 0; ; attempt++) {
      const w = this.webhooks.get(webhookId);
      if (!w || gen !== this.#generation) return;
      const retryable = await this.#send(w, row, gen);
      if (!retryable || attempt >= RETRY_SCHEDULE_MS.length) return;
      const still = () => {
        const cur = this.webhooks.get(webhookId);
        return !!cur && cur.enabled && cur.automaticRedelivery && this.#matches(cur, row.type) && gen === this.#generation;
      };
      if (!still()) return;
      if (!(await this.#sleep(RETRY_SCHEDULE_MS[attempt]! * (this.#opts.timeScale ?? 1)))) return;
      if (!still()) return;
      row = this.#derivedRow(row);
    }
  }

  #sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const entry = { t: setTimeout(() => (this.#timers.delete(entry), resolve(true)), ms), done: resolve };
      this.#timers.add(entry);
    });
  }

  /** POST one delivery, then write its row. Returns whether BTCPay would retry it (2.3.4+ rules). */
  async #send(w: FakeWebhook, row: FakeDeliveryRow, gen: number): Promise<boolean> {
    this.#inflight++;
    try {
      row.deliveryTime = this.#sec();
      const bytes = Buffer.from(row.body, 'utf8');
      const sig = createHmac('sha256', Buffer.from(w.secret, 'utf8')).update(bytes).digest('hex');
      let retry: boolean;
      try {
        const res = await request(w.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'btcpay-sig': `sha256=${sig}`, 'user-agent': `BTCPayServer/${FAKE_BTCPAY_VERSION}` },
          body: bytes,
          dispatcher: isLoopbackUrl(w.url) ? this.#loopbackAgent : this.#agent,
          signal: AbortSignal.timeout(this.#opts.deliveryTimeoutMs ?? 100_000),
        });
        await res.body.dump().catch(() => undefined);
        row.httpCode = res.statusCode;
        if (res.statusCode >= 200 && res.statusCode < 300) {
          row.status = 'HttpSuccess';
          row.errorMessage = null;
          retry = false;
        } else {
          row.status = 'HttpError';
          row.errorMessage = `HTTP Error Code ${res.statusCode}`;
          retry = res.statusCode >= 500 || res.statusCode === 408 || res.statusCode === 429;
        }
      } catch (e) {
        row.status = 'Failed';
        row.httpCode = null;
        row.errorMessage = dotnetMessage(e, w.url, this.#opts.deliveryTimeoutMs ?? 100_000);
        retry = true;
      }
      if (gen === this.#generation && this.webhooks.has(w.id)) this.#write(row);
      return retry;
    } finally {
      this.#inflight--;
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

  // ---- HTTP API ------------------------------------------------------------------------------------

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
      const [status, payload] = this.#route(req.method ?? 'GET', url, req.headers.authorization, body);
      let text = typeof payload === 'string' && payload.startsWith('\u0000raw:') ? payload.slice(5) : payload === undefined ? '' : JSON.stringify(payload);
      if (fault?.kind === 'truncated') text = text.slice(0, Math.max(1, Math.floor(text.length / 2)));
      this.apiBytes += Buffer.byteLength(text);
      send(res, status, text, 'application/json; charset=utf-8');
    } catch (e) {
      send(res, 500, JSON.stringify({ code: 'generic-error', message: (e as Error).message }), 'application/json');
    }
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

  #route(method: string, url: URL, auth: string | undefined, rawBody: string): [number, unknown] {
    const p = url.pathname.replace(/\/+$/, '');
    if (method === 'GET' && p === '/api/v1/health') return [200, { synchronized: true }];
    const m = /^(token|bearer)\s+(\S+)/i.exec(auth ?? '');
    const key = m ? this.#keys.get(m[2]!) : undefined;
    if (!key) return [401, { code: 'unauthenticated', message: 'Authentication is required for accessing this endpoint' }];
    try {
      return this.#authed(method, p, url.searchParams, key, rawBody);
    } catch (e) {
      if (e instanceof HttpFail) return [e.status, e.payload];
      throw e;
    }
  }

  #authed(method: string, p: string, q: URLSearchParams, key: { label: string; permissions: string[] }, rawBody: string): [number, unknown] {
    if (method === 'GET' && p === '/api/v1/api-keys/current') {
      return [200, { apiKey: [...this.#keys].find(([, v]) => v === key)![0], label: key.label, permissions: key.permissions }];
    }
    if (method === 'GET' && p === '/api/v1/server/info') {
      return [200, { version: FAKE_BTCPAY_VERSION, onion: null, supportedPaymentMethods: ['BTC-CHAIN', 'BTC-LN'], fullySynched: true, syncStatus: [] }];
    }
    const sm = /^\/api\/v1\/stores\/([^/]+)(\/.*)?$/.exec(p);
    if (!sm) return [404, { code: 'not-found', message: 'Not found' }];
    const storeId = decodeURIComponent(sm[1]!);
    const rest = sm[2] ?? '';
    const need = (policy: string) => {
      if (!hasPermission(key.permissions, policy, storeId)) {
        throw new HttpFail(403, { code: 'missing-permission', message: `Missing permission ${policy}`, missingPermission: policy });
      }
      if (storeId !== this.storeId) throw notFound('store-not-found', 'Store not found');
    };
    const parts = rest.split('/').filter(Boolean).map(decodeURIComponent);
    const json = () => {
      try {
        return rawBody ? (JSON.parse(rawBody) as Record<string, unknown>) : {};
      } catch {
        throw badRequest('', 'Invalid JSON body');
      }
    };

    if (parts[0] === 'webhooks') {
      need(POLICIES.modifyWebhooks);
      const [, wid, sub, did, action] = parts;
      if (!wid) {
        if (method === 'GET') return [200, [...this.webhooks.values()].map(publicWebhook)];
        if (method === 'POST') {
          const b = json();
          const w = this.#webhookFromBody(b);
          const created = this.createWebhook(w);
          return [200, { ...publicWebhook(created), secret: created.secret }];
        }
      } else if (!sub) {
        const w = this.webhooks.get(wid);
        if (method === 'GET') {
          if (!w) throw notFound('webhook-not-found', 'The webhook was not found');
          return [200, publicWebhook(w)];
        }
        if (method === 'PUT') {
          if (!w) throw notFound('webhook-not-found', 'The webhook was not found');
          // PUT replaces the whole object; only an omitted/empty secret is kept (§2).
          const n = this.#webhookFromBody(json());
          Object.assign(w, { url: n.url, enabled: n.enabled ?? true, automaticRedelivery: n.automaticRedelivery ?? true, authorizedEvents: { everything: n.everything ?? true, specificEvents: n.specificEvents ?? [] }, secret: n.secret || w.secret });
          return [200, publicWebhook(w)];
        }
        if (method === 'DELETE') {
          if (!w) throw notFound('webhook-not-found', 'The webhook was not found');
          this.deleteWebhook(wid);
          return [200, undefined];
        }
      } else if (sub === 'deliveries') {
        if (!did && method === 'GET') {
          // No existence check, no skip/cursor, no default limit: everything without count (§3).
          const list = this.#rows.get(wid) ?? [];
          const c = q.get('count');
          let n = list.length;
          if (c !== null) {
            if (!/^-?\d+$/.test(c)) throw badRequest('count', `The value '${c}' is not valid.`);
            n = Math.max(0, Math.min(list.length, Number(c)));
          }
          const out: unknown[] = [];
          for (let i = list.length - 1; i >= list.length - n; i--) out.push(publicDelivery(list[i]!));
          return [200, out];
        }
        const row = did ? this.#rowById.get(did) : undefined;
        if (!row || row.webhookId !== wid) throw notFound('webhookdelivery-not-found', 'The webhook delivery was not found');
        if (!action && method === 'GET') return [200, publicDelivery(row)];
        if (action === 'request' && method === 'GET') {
          if (row.pruned) throw new HttpFail(409, { code: 'webhookdelivery-pruned', message: 'This webhook delivery has been pruned, so it can\'t be redelivered' });
          return [200, '\u0000raw:' + row.body];
        }
        if (action === 'redeliver' && method === 'POST') {
          if (row.pruned) throw new HttpFail(409, { code: 'webhookdelivery-pruned', message: 'This webhook delivery has been pruned, so it can\'t be redelivered' });
          const n = this.#derivedRow(row);
          this.#enqueue(wid, { row: n });
          return [200, n.id];
        }
      }
      return [405, { code: 'method-not-allowed', message: 'Method not allowed' }];
    }

    if (parts[0] === 'invoices') {
      const [, iid, sub] = parts;
      if (!iid && method === 'GET') {
        need(POLICIES.viewInvoices);
        return [200, this.#listInvoices(q).map((i) => ({ ...i }))];
      }
      if (!iid && method === 'POST') {
        need(POLICIES.createInvoice);
        const b = json();
        const amount = b.amount === undefined || b.amount === null ? '0' : String(b.amount);
        if (!/^\d+(\.\d+)?$/.test(amount)) throw badRequest('amount', 'Invalid amount');
        const checkout = (b.checkout ?? {}) as Record<string, unknown>;
        const pms = checkout.paymentMethods as string[] | undefined;
        const exp = checkout.expirationMinutes as number | undefined;
        if (exp !== undefined && (!Number.isInteger(exp) || exp < 1)) throw badRequest('checkout.expirationMinutes', 'Expiration time must be at least 1 minute');
        const inv = this.createInvoice({
          amount, currency: (b.currency as string | undefined) ?? 'USD', metadata: (b.metadata as Record<string, unknown> | undefined) ?? {},
          paymentMethod: pms?.some((x) => /LN|Lightning/i.test(x)) ? 'lightning' : 'chain',
          ...(exp ? { expirationMinutes: exp } : {}),
        });
        return [200, this.invoices.get(inv.id)];
      }
      const inv = iid ? this.invoices.get(iid) : undefined;
      if (!sub && method === 'DELETE') {
        need(POLICIES.modifyInvoices);
        if (!inv) throw notFound('invoice-not-found', 'The invoice was not found');
        inv.archived = true;
        return [200, undefined];
      }
      need(POLICIES.viewInvoices);
      if (!inv) throw notFound('invoice-not-found', 'The invoice was not found');
      if (!sub && method === 'GET') return [200, inv];
      if (sub === 'payment-methods' && method === 'GET') return [200, this.#paymentMethods(inv)];
      return [405, { code: 'method-not-allowed', message: 'Method not allowed' }];
    }
    need(POLICIES.viewStoreSettings);
    return [404, { code: 'not-found', message: 'Not found' }];
  }

  #webhookFromBody(b: Record<string, unknown>) {
    const url = b.url;
    let ok = typeof url === 'string';
    try {
      if (ok) new URL(url as string);
    } catch {
      ok = false;
    }
    if (!ok) throw badRequest('Url', 'Invalid url');
    const ae = (b.authorizedEvents ?? {}) as { everything?: boolean; specificEvents?: string[] };
    return {
      url: url as string,
      ...(typeof b.secret === 'string' ? { secret: b.secret } : {}),
      ...(typeof b.enabled === 'boolean' ? { enabled: b.enabled } : {}),
      ...(typeof b.automaticRedelivery === 'boolean' ? { automaticRedelivery: b.automaticRedelivery } : {}),
      everything: ae.everything ?? true,
      specificEvents: ae.specificEvents ?? [],
    };
  }

  #listInvoices(q: URLSearchParams): FakeInvoice[] {
    const statuses = new Set(q.getAll('status').map((s) => STATUS_ALIASES[s.toLowerCase()]).filter((s): s is FakeInvoice['status'] => !!s));
    const unix = (name: string) => {
      const v = q.get(name);
      if (v === null) return undefined;
      if (!/^-?\d+$/.test(v)) throw badRequest(name, 'Invalid unix timestamp');
      return Number(v);
    };
    const start = unix('startDate');
    const end = unix('endDate');
    if (start !== undefined && end !== undefined && start > end) throw badRequest('startDate', 'startDate should not be above endDate');
    const int = (name: string) => {
      const v = q.get(name);
      if (v === null) return undefined;
      if (!/^\d+$/.test(v)) throw badRequest(name, `The value '${v}' is not valid.`);
      return Number(v);
    };
    const skip = int('skip') ?? 0;
    const take = int('take');
    const archived = q.get('includeArchived') === 'true';
    const all = [...this.invoices.values()]
      .map((inv, i) => ({ inv, i }))
      .filter(({ inv }) => (archived || !inv.archived) && (statuses.size === 0 || statuses.has(inv.status)))
      .filter(({ inv }) => (start === undefined || inv.createdTime >= start) && (end === undefined || inv.createdTime <= end))
      .sort((a, b) => b.inv.createdTime - a.inv.createdTime || b.i - a.i)
      .map(({ inv }) => inv);
    return all.slice(skip, take === undefined ? undefined : skip + take);
  }

  #paymentMethods(inv: FakeInvoice): unknown[] {
    if (Number(inv.amount) === 0) return []; // a zero-amount invoice has no payment prompt
    const rec = this.#payments.get(inv.id)!;
    const due = (Number(inv.amount) / 50_000).toFixed(8);
    const paid = rec.payments.reduce((s, p) => s + Number(p.value), 0).toFixed(8);
    return [
      {
        paymentMethodId: rec.method, currency: 'BTC', destination: rec.method === 'BTC-LN' ? 'lnbcrt1fake' : 'bcrt1qfakedestination',
        paymentLink: null, rate: '50000.00', paymentMethodPaid: paid, totalPaid: paid,
        due: Math.max(0, Number(due) - Number(paid)).toFixed(8), amount: due, paymentMethodFee: '0.00000000', activated: true,
        additionalData: {}, payments: rec.payments,
      },
    ];
  }
}

function isLoopbackUrl(url: string): boolean {
  try {
    const h = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return h === 'localhost' || h === '::1' || /^127\./.test(h);
  } catch {
    return false;
  }
}

function publicWebhook(w: FakeWebhook) {
  // GET/PUT never return the secret (§2).
  return { id: w.id, enabled: w.enabled, automaticRedelivery: w.automaticRedelivery, url: w.url, authorizedEvents: { everything: w.authorizedEvents.everything, specificEvents: [...w.authorizedEvents.specificEvents] } };
}

function publicDelivery(r: FakeDeliveryRow) {
  return { id: r.id, timestamp: r.timestamp, deliveryTime: r.deliveryTime, httpCode: r.httpCode, errorMessage: r.errorMessage, status: r.status };
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

type LookupCb = (err: NodeJS.ErrnoException | null, address: string | Array<{ address: string; family: number }>, family?: number) => void;

/** A net.connect lookup that asks one DNS server (A records), so tests can point the sender at a stale cache. */
function makeResolver(server: string) {
  const r = new Resolver({ timeout: 2000, tries: 1 });
  r.setServers([server]);
  return (hostname: string, options: { all?: boolean }, cb: LookupCb) => {
    const done = (addr: string, family: number) => (options?.all ? cb(null, [{ address: addr, family }]) : cb(null, addr, family));
    if (isIP(hostname)) return done(hostname, isIP(hostname));
    if (hostname === 'localhost') return systemLookup(hostname, options as object, cb as never);
    r.resolve4(hostname, (err, addrs) => {
      if (err || !addrs.length) {
        const e = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }) as NodeJS.ErrnoException;
        return cb(e, '', 4);
      }
      done(addrs[0]!, 4);
    });
  };
}

/** The .NET exception texts BTCPay stores in errorMessage for failures without an HTTP response. */
function dotnetMessage(e: unknown, url: string, timeoutMs: number): string {
  const err = e as { code?: string; name?: string; cause?: { code?: string }; message?: string };
  const code = err.code ?? err.cause?.code ?? '';
  let hostPort = '';
  try {
    const u = new URL(url);
    hostPort = `${u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`;
  } catch {
    /* keep empty */
  }
  if (err.name === 'TimeoutError' || err.name === 'AbortError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return `The request was canceled due to the configured HttpClient.Timeout of ${Math.round(timeoutMs / 1000)} seconds elapsing.`;
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `Name or service not known (${hostPort})`;
  if (code === 'ECONNREFUSED') return `Connection refused (${hostPort})`;
  if (/CERT|SSL|TLS|ERR_TLS/i.test(code) || /certificate|ssl|tls/i.test(err.message ?? '')) return 'The SSL connection could not be established, see inner exception.';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'An error occurred while sending the request.';
  return err.message ?? 'An error occurred while sending the request.';
}

export async function startFakeBtcpay(opts: FakeBtcpayOptions = {}): Promise<FakeBtcpay> {
  return new FakeBtcpay(opts).listen();
}
