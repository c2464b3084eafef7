// The simulated webhook sender: one in-order queue per webhook, the automatic-retry loop running inside the queue
// slot, and the row written after each attempt (docs/btcpay-greenfield.md §4; BTCPay: BTCPayServer.Common/
// MultiProcessingQueue.cs for the per-webhook ordering, BTCPayServer/Plugins/Webhooks/WebhookSender.cs for Process
// and SendDelivery).
import { createHmac } from 'node:crypto';
import { Resolver, lookup as systemLookup } from 'node:dns';
import { isIP } from 'node:net';
import { Agent, request } from 'undici';
import { base58Id } from '../../btcpay/ids.ts';
import { ATTEMPT_TIMEOUT_MS, isRetryable, RETRY_SCHEDULE_MS } from '../../btcpay/retry.ts';
import type { SimClock } from './clock.ts';
import { subscribed, type FakeDeliveryRow, type FakeWebhook } from './types.ts';

export const FAKE_BTCPAY_VERSION = '2.4.1';

export interface SenderHost {
  readonly webhooks: Map<string, FakeWebhook>;
  readonly clock: SimClock;
  /** Bumped by a restart: work of an older generation is dropped. */
  readonly generation: number;
  readonly closed: boolean;
  write(row: FakeDeliveryRow): void;
}

export interface SenderOptions {
  /** 'IP:PORT' of a DNS server for webhook URL hosts. Default: system lookup. */
  resolver?: string;
  /** Real time an attempt may take before it counts as timed out. */
  deliveryTimeoutMs?: number;
}

/** What the sender captured of the webhook when the delivery was created (fan-out or redeliver call). */
type Captured = Pick<FakeWebhook, 'id' | 'url' | 'secret' | 'automaticRedelivery'>;
type Job = { row: FakeDeliveryRow; hook: Captured };
interface Queue {
  jobs: Job[];
  running: boolean;
}

export class WebhookQueues {
  readonly #queues = new Map<string, Queue>();
  /** Redirect hops the sender followed (for tests). */
  redirectsFollowed = 0;
  /** Queued deliveries dropped at send time because the webhook was gone, disabled or unsubscribed. */
  droppedAtSend = 0;
  readonly #agent: Agent;
  readonly #loopbackAgent: Agent;
  #inflight = 0;

  constructor(
    private readonly host: SenderHost,
    private readonly opts: SenderOptions,
  ) {
    const resolver = opts.resolver ? makeResolver(opts.resolver) : undefined;
    this.#agent = new Agent({ connect: resolver ? { lookup: resolver } : {} });
    // BTCPay skips certificate validation for loopback URLs (its loopback HttpClient, WebhooksPlugin.cs).
    this.#loopbackAgent = new Agent({ connect: { ...(resolver ? { lookup: resolver } : {}), rejectUnauthorized: false } });
  }

  get inflight(): number {
    return this.#inflight;
  }

  /** Every queue empty and nothing in flight. */
  get idle(): boolean {
    return this.#inflight === 0 && [...this.#queues.values()].every((q) => !q.running && q.jobs.length === 0);
  }

  /** Queues that are working (running an item). */
  get running(): number {
    return [...this.#queues.values()].filter((q) => q.running).length;
  }

  /** Drop queued items (a restart: the queues live in memory only). */
  clear(): void {
    for (const q of this.#queues.values()) q.jobs.length = 0;
  }

  forget(webhookId: string): void {
    this.#queues.delete(webhookId);
  }

  async close(): Promise<void> {
    await this.#agent.close().catch(() => undefined);
    await this.#loopbackAgent.close().catch(() => undefined);
  }

  /** Queue a delivery; the webhook's URL, secret and retry flag are captured now, as BTCPay's request object does. */
  enqueue(webhookId: string, row: FakeDeliveryRow): void {
    const w = this.host.webhooks.get(webhookId);
    if (!w) return;
    let q = this.#queues.get(webhookId);
    if (!q) this.#queues.set(webhookId, (q = { jobs: [], running: false }));
    q.jobs.push({ row, hook: { id: w.id, url: w.url, secret: w.secret, automaticRedelivery: w.automaticRedelivery } });
    if (!q.running) void this.#drain(webhookId, q);
  }

  async #drain(webhookId: string, q: Queue): Promise<void> {
    q.running = true;
    try {
      while (q.jobs.length && !this.host.closed) await this.#process(webhookId, q.jobs.shift()!);
    } finally {
      q.running = false;
    }
  }

  /**
   * One queue item: the attempt plus the whole automatic-retry loop, blocking later events (WebhookSender.cs,
   * Process). At send time the webhook is read again: deleted, disabled or no longer subscribed means nothing is
   * sent and no row is written, manual redeliveries included. The first attempt uses the URL and secret captured
   * when the delivery was created; whether to retry follows the captured flag; each retry, after its wait, reads
   * the webhook again (and stops if automatic redelivery was turned off or the webhook stopped listening).
   */
  async #process(webhookId: string, job: Job): Promise<void> {
    const gen = this.host.generation;
    const now = this.host.webhooks.get(webhookId);
    if (!now || !now.enabled || !subscribed(now, job.row.type)) {
      this.droppedAtSend++;
      return;
    }
    let row = job.row;
    let hook = job.hook;
    if (!(await this.#send(hook, row, gen)) || !hook.automaticRedelivery) return;
    for (const wait of RETRY_SCHEDULE_MS) {
      if (!(await this.host.clock.sleep(wait)) || gen !== this.host.generation) return;
      const cur = this.host.webhooks.get(webhookId);
      if (!cur || !cur.automaticRedelivery || !cur.enabled || !subscribed(cur, row.type)) return;
      hook = cur;
      row = derivedRow(row, this.host.clock.nowSec());
      if (!(await this.#send(hook, row, gen))) return;
    }
  }

  /** POST one delivery, then write its row. Returns whether BTCPay would retry it (2.3.4+ rules). */
  async #send(w: Captured, row: FakeDeliveryRow, gen: number): Promise<boolean> {
    row.deliveryTime = this.host.clock.nowSec();
    const { timedOut } = await this.#post(w, row);
    // On the virtual clock an attempt that timed out has held the queue for BTCPay's 100 s before its row is written.
    if (timedOut && this.host.clock.mode === 'virtual' && !(await this.host.clock.sleep(ATTEMPT_TIMEOUT_MS))) return false;
    if (gen === this.host.generation && this.host.webhooks.has(w.id)) this.host.write(row);
    return isRetryable(row.httpCode);
  }

  /**
   * The HTTP attempt itself; fills the row's status, httpCode and errorMessage like SendDelivery. Redirects are
   * followed as .NET's HttpClientHandler does by default (the webhook clients keep AllowAutoRedirect, WebhooksPlugin.cs):
   * up to 50 hops, a 301/302 answer to a POST (and any 303) turns it into a GET without body or signature, 307/308
   * repeat the POST, an https -> http hop is not followed; the final status is what the row records.
   */
  async #post(w: Captured, row: FakeDeliveryRow): Promise<{ timedOut: boolean }> {
    this.#inflight++;
    try {
      const bytes = Buffer.from(row.body, 'utf8');
      const sig = createHmac('sha256', Buffer.from(w.secret, 'utf8')).update(bytes).digest('hex');
      const signal = AbortSignal.timeout(this.opts.deliveryTimeoutMs ?? ATTEMPT_TIMEOUT_MS);
      let url = w.url;
      let method: 'POST' | 'GET' = 'POST';
      let body: Buffer | null = bytes;
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'btcpay-sig': `sha256=${sig}`,
        'user-agent': `BTCPayServer/${FAKE_BTCPAY_VERSION}`,
      };
      let status = 0;
      for (let hop = 0; ; hop++) {
        const res = await request(url, { method, headers, body, dispatcher: isLoopbackUrl(url) ? this.#loopbackAgent : this.#agent, signal });
        await res.body.dump().catch(() => undefined);
        status = res.statusCode;
        const location = res.headers.location;
        if (!REDIRECTS.has(status) || typeof location !== 'string' || hop >= MAX_REDIRECTS) break;
        const next = new URL(location, url);
        if (new URL(url).protocol === 'https:' && next.protocol !== 'https:') break;
        if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
          method = 'GET';
          body = null;
          delete headers['content-type'];
          delete headers['btcpay-sig']; // a content header: it goes with the body
        }
        this.redirectsFollowed++;
        url = next.href;
      }
      row.httpCode = status;
      const ok = status >= 200 && status < 300;
      row.status = ok ? 'HttpSuccess' : 'HttpError';
      row.errorMessage = ok ? null : `HTTP Error Code ${status}`;
      return { timedOut: false };
    } catch (e) {
      row.status = 'Failed';
      row.httpCode = null;
      row.errorMessage = dotnetMessage(e, w.url);
      return { timedOut: /HttpClient\.Timeout/.test(row.errorMessage) };
    } finally {
      this.#inflight--;
    }
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** HttpClientHandler.MaxAutomaticRedirections default. */
const MAX_REDIRECTS = 50;

export function newRow(webhookId: string, id: string, ts: number, body: string, type: string, original: string, invoiceId?: string): FakeDeliveryRow {
  return {
    id,
    webhookId,
    timestamp: ts,
    deliveryTime: null,
    httpCode: null,
    errorMessage: null,
    status: 'Failed',
    body,
    pruned: false,
    type,
    originalDeliveryId: original,
    ...(invoiceId ? { invoiceId } : {}),
  };
}

/** A retry or redelivery: a new row whose body is rebuilt from the original's, common fields first (WebhookSender.cs, CreateRedeliveryRequest). */
export function derivedRow(from: FakeDeliveryRow, nowSec: number): FakeDeliveryRow {
  const orig = JSON.parse(from.body) as Record<string, unknown>;
  const id = base58Id();
  const original = (orig.originalDeliveryId as string | undefined) ?? from.id;
  const { deliveryId: _d, webhookId, originalDeliveryId: _o, isRedelivery: _r, type, timestamp, ...rest } = orig;
  const body = JSON.stringify({ deliveryId: id, webhookId, originalDeliveryId: original, isRedelivery: true, type, timestamp, ...rest }, null, 2);
  return newRow(from.webhookId, id, nowSec, body, from.type, original, from.invoiceId);
}

function isLoopbackUrl(url: string): boolean {
  try {
    const h = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return h === 'localhost' || h === '::1' || /^127\./.test(h);
  } catch {
    return false;
  }
}

type LookupCb = (err: NodeJS.ErrnoException | null, address: string | Array<{ address: string; family: number }>, family?: number) => void;

/**
 * A net.connect lookup that asks one DNS server (A records), so tests can point the sender at a stale cache. Like
 * getaddrinfo: NXDOMAIN / no data is ENOTFOUND (EAI_NONAME), a resolver that times out or fails is EAI_AGAIN.
 */
function makeResolver(server: string) {
  const r = new Resolver({ timeout: 500, tries: 1 });
  r.setServers([server]);
  return (hostname: string, options: { all?: boolean }, cb: LookupCb) => {
    const done = (addr: string, family: number) => (options?.all ? cb(null, [{ address: addr, family }]) : cb(null, addr, family));
    if (isIP(hostname)) return done(hostname, isIP(hostname));
    if (hostname === 'localhost') return systemLookup(hostname, options as object, cb as never);
    r.resolve4(hostname, (err, addrs) => {
      if (err || !addrs.length) {
        const code = !err || err.code === 'ENOTFOUND' || err.code === 'ENODATA' ? 'ENOTFOUND' : 'EAI_AGAIN';
        const e = Object.assign(new Error(`getaddrinfo ${code} ${hostname}`), { code, hostname }) as NodeJS.ErrnoException;
        return cb(e, '', 4);
      }
      done(addrs[0]!, 4);
    });
  };
}

/** Linux socket error texts .NET puts before " (host:port)" when a connection cannot be made. */
const CONNECT_TEXTS: Record<string, string> = {
  ENOTFOUND: 'Name or service not known',
  EAI_NONAME: 'Name or service not known',
  EAI_AGAIN: 'Resource temporarily unavailable',
  ECONNREFUSED: 'Connection refused',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
};

/**
 * The errorMessage BTCPay stores for an attempt without an HTTP response: the .NET exception message verbatim
 * (WebhookSender.cs, SendDelivery), as .NET 8 words it on Linux. Kept in step with src/btcpay/failures.ts.
 */
export function dotnetMessage(e: unknown, url: string): string {
  const err = e as { code?: string; name?: string; cause?: { code?: string }; message?: string };
  const code = err.code ?? err.cause?.code ?? '';
  let hostPort = '';
  try {
    const u = new URL(url);
    hostPort = `${u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`;
  } catch {
    /* keep empty */
  }
  const timedOut = err.name === 'TimeoutError' || err.name === 'AbortError' || /^UND_ERR_(HEADERS|CONNECT|BODY)_TIMEOUT$/.test(code);
  if (timedOut) {
    return `The request was canceled due to the configured HttpClient.Timeout of ${ATTEMPT_TIMEOUT_MS / 1000} seconds elapsing.`;
  }
  if (CONNECT_TEXTS[code]) return `${CONNECT_TEXTS[code]} (${hostPort})`;
  if (/CERT|SSL|TLS|ERR_TLS/i.test(code) || /certificate|ssl|tls/i.test(err.message ?? '')) {
    return 'The SSL connection could not be established, see inner exception.';
  }
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') return 'Connection reset by peer';
  return 'An error occurred while sending the request.';
}
