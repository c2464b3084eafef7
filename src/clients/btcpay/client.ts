// Typed BTCPay Greenfield client over undici. Store-scoped paths only (they work on every server
// version, docs/btcpay-greenfield.md §1). Every call has a timeout, a response-size cap, zod validation, and retries
// with backoff for network errors, 429 and 5xx only. Errors are BtcpayError with a small `kind`, and
// their messages never carry the API key (it only ever goes into the Authorization header).
import type { Dispatcher } from 'undici';
import { request } from '../undici.ts';
import pRetry from 'p-retry';
import { z } from 'zod';
import type { Secret } from '../../secret.ts';
import { missingPermissions } from '../../btcpay/permissions.ts';
import { JsonArrayCutter } from './json-array-cut.ts';
import {
  ApiKeySchema,
  DeliveryBodySchema,
  DeliverySchema,
  ErrorBodySchema,
  InvoiceWithPaymentsSchema as InvoiceSchema,
  PaymentMethodSchema,
  StoreSchema,
  WebhookSchema,
  type DeliveryBody,
} from './schemas.ts';

export type BtcpayErrorKind = 'network' | 'timeout' | 'http' | 'malformed' | 'too_large' | 'permission' | 'not_found' | 'pruned' | 'budget';

export class BtcpayError extends Error {
  override name = 'BtcpayError';
  constructor(
    message: string,
    readonly kind: BtcpayErrorKind,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
  }
  get retryable(): boolean {
    return this.kind === 'network' || (this.kind === 'http' && (this.status === 429 || (this.status ?? 0) >= 500));
  }
}

/**
 * Largest response body read (8 MiB). Delivery lists are cut at the `count` asked for and invoice lists come in
 * pages of 100, so only a webhook or store list can legitimately approach this (10 000 webhooks are ~6 MB). Larger
 * bodies are refused before parsing: parsing and validating tens of MB of JSON would stall the event loop and
 * take hundreds of MB (a 10 MB hostile webhook list did, with a 32 MiB limit).
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

export interface BtcpayClientOptions {
  url: string;
  apiKey: Secret;
  storeId: string;
  /** Per HTTP attempt, headers and body together. Default 10 s. */
  timeoutMs?: number;
  /** Default DEFAULT_MAX_RESPONSE_BYTES. */
  maxResponseBytes?: number;
  /** Retries after the first attempt for retryable failures. Default 2. */
  retries?: number;
  /** First backoff delay; doubles per retry. Default 250 ms. */
  retryMinTimeoutMs?: number;
  /** Page cap of listAllInvoices/listInvoicesBounded (pages of `pageSize`, default 100). Default 1000. */
  maxInvoicePages?: number;
  dispatcher?: Dispatcher;
  /** Called before every HTTP attempt; may throw (a BtcpayError of kind 'budget' when the source's request budget is spent). */
  beforeRequest?: (what: string) => void;
}

export interface CallOpts {
  signal?: AbortSignal;
  /** For array responses: stop reading after this many elements (the rest is dropped, see json-array-cut.ts). */
  maxItems?: number;
}

export interface InvoiceQuery {
  status?: string | string[];
  /** Unix seconds, inclusive, compared with the invoice's creation time. */
  startDate?: number;
  endDate?: number;
  skip?: number;
  take?: number;
  includeArchived?: boolean;
  /** Embed each invoice's payment methods (2.x servers; older ones ignore it). */
  includePaymentMethods?: boolean;
}

/** Request counters, for benchmarks and the probe's details. */
export interface ClientStats {
  calls: number;
  bytes: number;
  /** List responses cut at the `count` asked for because the server sent more (it ignored count). */
  overlongLists: number;
}

const str = JSON.stringify;

export class BtcpayClient {
  readonly storeId: string;
  readonly stats: ClientStats = { calls: 0, bytes: 0, overlongLists: 0 };
  readonly #base: string;
  readonly #apiKey: Secret;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #retries: number;
  readonly #minTimeout: number;
  readonly #maxInvoicePages: number;
  readonly #dispatcher?: Dispatcher;
  readonly #beforeRequest?: (what: string) => void;

  constructor(opts: BtcpayClientOptions) {
    this.#base = opts.url.replace(/\/+$/, '');
    this.#apiKey = opts.apiKey;
    this.storeId = opts.storeId;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#maxBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.#retries = opts.retries ?? 2;
    this.#minTimeout = opts.retryMinTimeoutMs ?? 250;
    this.#maxInvoicePages = opts.maxInvoicePages ?? 1000;
    this.#dispatcher = opts.dispatcher;
    this.#beforeRequest = opts.beforeRequest;
  }

  get #store(): string {
    return `/api/v1/stores/${encodeURIComponent(this.storeId)}`;
  }

  // ---- API keys -------------------------------------------------------------------------------

  async currentApiKey(o: CallOpts = {}): Promise<{ label: string; permissions: string[] }> {
    const k = await this.#json('GET', '/api/v1/api-keys/current', ApiKeySchema, o);
    return { label: k.label ?? '', permissions: k.permissions };
  }

  /** Required policies (e.g. btcpay.store.canviewinvoices) the key lacks for this store; [] when all held. */
  async checkPermissions(required: string[], o: CallOpts = {}): Promise<string[]> {
    const k = await this.currentApiKey(o);
    return missingPermissions(k.permissions, required, this.storeId);
  }

  // ---- Webhooks and deliveries ---------------------------------------------------------------

  /** Stores the key holds btcpay.store.canviewstoresettings on (GreenfieldStoresController.GetStores); pass maxItems to bound it. */
  listStores(o: CallOpts = {}) {
    return this.#json('GET', '/api/v1/stores', z.array(StoreSchema), o);
  }

  listWebhooks(o: CallOpts = {}) {
    return this.#json('GET', `${this.#store}/webhooks`, z.array(WebhookSchema), o);
  }

  getWebhook(id: string, o: CallOpts = {}) {
    return this.#json('GET', `${this.#store}/webhooks/${enc(id)}`, WebhookSchema, o);
  }

  /**
   * Newest-first deliveries of a webhook. Without `count` BTCPay returns every row it has (no limit,
   * no cursor), so a number is required; 'all' exists only to measure that naive read.
   */
  listDeliveries(webhookId: string, count: number | 'all', o: CallOpts = {}) {
    if (count !== 'all' && (!Number.isInteger(count) || count < 1)) throw new RangeError('count must be a positive integer');
    const q = count === 'all' ? '' : `?count=${count}`;
    // A server that ignores count would send every row: read no further than the count asked for.
    return this.#json('GET', `${this.#store}/webhooks/${enc(webhookId)}/deliveries${q}`, z.array(DeliverySchema), {
      ...o,
      ...(count === 'all' ? {} : { maxItems: count }),
    });
  }

  /** One delivery row; kind 'not_found' while a queued (re)delivery has not been attempted yet. */
  getDelivery(webhookId: string, deliveryId: string, o: CallOpts = {}) {
    return this.#json('GET', `${this.#store}/webhooks/${enc(webhookId)}/deliveries/${enc(deliveryId)}`, DeliverySchema, o);
  }

  /** The exact stored request body. Throws kind 'pruned' (409) once BTCPay stripped it (60 days). */
  async getDeliveryRequest(webhookId: string, deliveryId: string, o: CallOpts = {}): Promise<{ raw: string; body: DeliveryBody }> {
    const path = `${this.#store}/webhooks/${enc(webhookId)}/deliveries/${enc(deliveryId)}/request`;
    const raw = await this.#call('GET', path, undefined, o);
    return { raw, body: this.#parse(raw, DeliveryBodySchema, 'GET', path) };
  }

  /** Ask BTCPay to send a delivery again; returns the new delivery id (sent asynchronously). */
  redeliver(webhookId: string, deliveryId: string, o: CallOpts = {}) {
    return this.#json('POST', `${this.#store}/webhooks/${enc(webhookId)}/deliveries/${enc(deliveryId)}/redeliver`, z.string().min(1), o);
  }

  // ---- Invoices ------------------------------------------------------------------------------

  listInvoices(q: InvoiceQuery = {}, o: CallOpts = {}) {
    const p = new URLSearchParams();
    for (const s of q.status === undefined ? [] : Array.isArray(q.status) ? q.status : [q.status]) p.append('status', s);
    for (const k of ['startDate', 'endDate', 'skip', 'take'] as const) {
      const v = q[k];
      if (v === undefined) continue;
      if (!Number.isInteger(v)) throw new RangeError(`${k} must be an integer (unix seconds for dates)`);
      p.set(k, String(v));
    }
    if (q.includeArchived) p.set('includeArchived', 'true');
    if (q.includePaymentMethods) p.set('includePaymentMethods', 'true');
    const qs = p.toString();
    return this.#json('GET', `${this.#store}/invoices${qs ? `?${qs}` : ''}`, z.array(InvoiceSchema), o);
  }

  /**
   * Page with skip/take until a short page, at most maxPages pages (default: the client's maxInvoicePages), so a
   * misbehaving server cannot loop us. Invoices come newest first, so a truncated result holds the newest ones;
   * `truncated` says the store had more than the cap and the oldest were not read.
   */
  async listInvoicesBounded(
    q: Omit<InvoiceQuery, 'skip' | 'take'> = {},
    o: CallOpts & { pageSize?: number; maxPages?: number } = {},
  ): Promise<{ invoices: z.infer<typeof InvoiceSchema>[]; truncated: boolean; pages: number; pageSize: number }> {
    const take = o.pageSize ?? 100;
    const maxPages = o.maxPages ?? this.#maxInvoicePages;
    const out: z.infer<typeof InvoiceSchema>[] = [];
    const seen = new Set<string>();
    for (let page = 0; page < maxPages; page++) {
      const rows = await this.listInvoices({ ...q, skip: page * take, take }, o);
      // New invoices shift pages while we read (newest first): dedupe by id.
      for (const r of rows) {
        if (seen.has(r.id)) continue;
        seen.add(r.id);
        out.push(r);
      }
      if (rows.length < take) return { invoices: out, truncated: false, pages: page + 1, pageSize: take };
    }
    return { invoices: out, truncated: true, pages: maxPages, pageSize: take };
  }

  /** Every invoice of the query, or BtcpayError 'too_large' past the page cap (callers needing all or nothing). */
  async listAllInvoices(q: Omit<InvoiceQuery, 'skip' | 'take'> = {}, o: CallOpts & { pageSize?: number; maxPages?: number } = {}) {
    const r = await this.listInvoicesBounded(q, o);
    if (r.truncated) {
      throw new BtcpayError(`invoice list did not end within ${r.pages} pages of ${r.pageSize} (raise maxInvoicePages or shorten the period)`, 'too_large');
    }
    return r.invoices;
  }

  getInvoice(id: string, o: CallOpts = {}) {
    return this.#json('GET', `${this.#store}/invoices/${enc(id)}`, InvoiceSchema, o);
  }

  createInvoice(body: Record<string, unknown>, o: CallOpts = {}) {
    return this.#json('POST', `${this.#store}/invoices`, InvoiceSchema, o, body);
  }

  async archiveInvoice(id: string, o: CallOpts = {}): Promise<void> {
    await this.#call('DELETE', `${this.#store}/invoices/${enc(id)}`, undefined, o);
  }

  invoicePaymentMethods(id: string, o: CallOpts = {}) {
    return this.#json('GET', `${this.#store}/invoices/${enc(id)}/payment-methods`, z.array(PaymentMethodSchema), o);
  }

  // ---- plumbing ------------------------------------------------------------------------------

  async #json<S extends z.ZodType>(method: string, path: string, schema: S, o: CallOpts, body?: unknown): Promise<z.infer<S>> {
    const raw = await this.#call(method, path, body, o);
    return this.#parse(raw, schema, method, path);
  }

  #parse<S extends z.ZodType>(raw: string, schema: S, method: string, path: string): z.infer<S> {
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch {
      throw new BtcpayError(`${method} ${path}: response is not JSON (${raw.length} bytes, starts ${str(raw.slice(0, 40))})`, 'malformed');
    }
    const r = schema.safeParse(v);
    if (!r.success) {
      const iss = r.error.issues[0];
      const where = iss?.path.length ? iss.path.join('.') : '(root)';
      throw new BtcpayError(`${method} ${path}: unexpected response shape at ${where}: ${iss?.message ?? 'invalid'}`, 'malformed');
    }
    return r.data;
  }

  #call(method: string, path: string, body: unknown, o: CallOpts): Promise<string> {
    if (o.signal?.aborted) return Promise.reject(new BtcpayError(`${method} ${path}: aborted`, 'timeout'));
    return pRetry(() => this.#attempt(method, path, body, o.signal, o.maxItems), {
      retries: this.#retries,
      minTimeout: this.#minTimeout,
      maxTimeout: this.#minTimeout * 8,
      factor: 2,
      randomize: true,
      ...(o.signal ? { signal: o.signal } : {}),
      shouldRetry: ({ error }) => error instanceof BtcpayError && error.retryable && !o.signal?.aborted,
    }).catch((e: unknown) => {
      if (e instanceof BtcpayError) throw e;
      // p-retry rethrows the caller's abort reason when the signal fires between attempts.
      throw new BtcpayError(`${method} ${path}: aborted`, 'timeout');
    });
  }

  async #attempt(method: string, path: string, body: unknown, outer?: AbortSignal, maxItems?: number): Promise<string> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = outer ? AbortSignal.any([outer, timeout]) : timeout;
    const what = `${method} ${path}`;
    this.#beforeRequest?.(what);
    this.stats.calls++;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(this.#base + path, {
        method: method,
        headers: {
          authorization: `token ${this.#apiKey.reveal()}`,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body === undefined ? null : JSON.stringify(body),
        signal,
        ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
      });
    } catch (e) {
      throw this.#transportError(e, what, signal, timeout);
    }
    let text: string;
    try {
      text = await this.#readLimited(res, what, res.statusCode >= 200 && res.statusCode < 300 ? maxItems : undefined);
    } catch (e) {
      if (e instanceof BtcpayError) throw e;
      throw this.#transportError(e, what, signal, timeout);
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return text;
    throw this.#httpError(res.statusCode, text, what);
  }

  async #readLimited(res: Dispatcher.ResponseData, what: string, maxItems?: number): Promise<string> {
    const declared = Number(res.headers['content-length']);
    const cutter = maxItems !== undefined ? new JsonArrayCutter(maxItems) : undefined;
    if (!cutter && Number.isFinite(declared) && declared > this.#maxBytes) {
      res.body.destroy();
      throw new BtcpayError(`${what}: response of ${declared} bytes exceeds the ${this.#maxBytes}-byte limit`, 'too_large');
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let cut = false;
    for await (const c of res.body) {
      let rest: Buffer | undefined;
      if (cut) rest = c as Buffer;
      else if (cutter?.feed(c as Buffer)) {
        // Enough elements: keep them; what follows tells whether the server sent more than asked.
        cut = true;
        const keep = (c as Buffer).subarray(0, cutter.cutAt! - size);
        chunks.push(keep);
        size += keep.length;
        rest = (c as Buffer).subarray(keep.length);
      }
      if (cut) {
        const next = rest!.toString('latin1').trimStart()[0];
        if (next === undefined) continue;
        if (next !== ']') this.stats.overlongLists++;
        res.body.destroy();
        this.stats.bytes += size;
        return Buffer.concat(chunks).toString('utf8') + ']';
      }
      size += (c as Buffer).length;
      if (size > this.#maxBytes) {
        res.body.destroy();
        throw new BtcpayError(`${what}: response exceeds the ${this.#maxBytes}-byte limit`, 'too_large');
      }
      chunks.push(c as Buffer);
    }
    this.stats.bytes += size;
    return Buffer.concat(chunks).toString('utf8') + (cut ? ']' : '');
  }

  #transportError(e: unknown, what: string, signal: AbortSignal, timeout: AbortSignal): BtcpayError {
    if (signal.aborted) {
      return new BtcpayError(timeout.aborted ? `${what}: no complete response within ${this.#timeoutMs} ms` : `${what}: aborted`, 'timeout');
    }
    const err = e as { code?: string; message?: string };
    // undici messages name host and port, never headers; scrub anyway in case a proxy echoes them.
    return new BtcpayError(`${what}: ${this.#scrub(`${err.code ?? 'network error'}: ${err.message ?? String(e)}`)}`, 'network');
  }

  #httpError(status: number, text: string, what: string): BtcpayError {
    let code: string | undefined;
    let msg = '';
    let missing: string | undefined;
    try {
      const b = ErrorBodySchema.safeParse(JSON.parse(text));
      if (b.success) ({ code, message: msg = '', missingPermission: missing } = b.data);
      else if (Array.isArray(JSON.parse(text))) msg = 'validation failed: ' + text.slice(0, 300);
    } catch {
      msg = text.slice(0, 120);
    }
    const kind: BtcpayErrorKind =
      status === 401 || status === 403 ? 'permission' : status === 404 ? 'not_found' : status === 409 && code === 'webhookdelivery-pruned' ? 'pruned' : 'http';
    const detail = missing ? `missing permission ${missing}` : msg;
    return new BtcpayError(this.#scrub(`${what}: HTTP ${status}${code ? ` ${code}` : ''}${detail ? `: ${detail}` : ''}`), kind, status, code);
  }

  #scrub(s: string): string {
    const k = this.#apiKey.reveal();
    return k.length >= 4 ? s.split(k).join('<redacted>') : s;
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}
