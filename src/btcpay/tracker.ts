// Incremental reading of BTCPay's delivery log, shared by the delivery_rate and paid_latency probes.
//
// The list endpoint has only `count` (newest first by row timestamp, no cursor; docs/btcpay-greenfield.md §3),
// every retry is its own row, and the event behind a row is only in its stored request body (one /request call
// per row). A row is written AFTER its attempt but keeps the timestamp of its creation, so an event that waited in
// the per-webhook queue behind a retry loop appears later *below* rows we have already seen
// (docs/btcpay-greenfield.md §4). Hence:
//  - healthy store: read down to the previous poll minus a short slack; cost ~ new rows;
//  - first poll (restart), or while the log shows failures or queueing: read down to the backlog horizon
//    (default 75 min) at least;
//  - and per webhook, while its queue may still be blocked, down to the oldest event that could still be queued:
//    retries run inside the queue slot and every attempt to a receiver that never answers takes 100 s, so one
//    event can hold the queue ~76 min and each failing event behind it adds its own cycle (BTCPay:
//    BTCPayServer/Plugins/Webhooks/WebhookSender.cs, Process; BTCPayServer.Common/MultiProcessingQueue.cs). A
//    webhook counts as blocked from the event time of a failed or long-queued row until no further row could still
//    be on its way (the longest retry gap plus an attempt, src/btcpay/retry.ts), bounded by maxDepthSec;
//  - count grows geometrically until the page reaches the cutoff, bounded by maxRows (so a poll makes at most
//    ~log4(maxRows/64)+1 list calls per webhook);
//  - rows are deduped by id; bodies are fetched once per row and cached (pruned bodies are remembered as such);
//  - new rows are committed only when the whole poll succeeded, so a failed or aborted poll loses no row;
//  - a hostile or broken server cannot make us hold unbounded state: rows dated in the future are rejected (and
//    counted), a list longer than the count asked for is cut by the client, and retention is bounded by the
//    window, the re-read depth and a row cap (oldest dropped first).
import { BtcpayError, type BtcpayClient } from '../clients/btcpay/client.ts';
import type { Delivery } from '../clients/btcpay/schemas.ts';
import { forEachLimited } from '../limited.ts';
import { ATTEMPT_TIMEOUT_MS, isRetryable, MAX_RETRY_GAP_SEC } from './retry.ts';
import { quietSkips, type QuietPolicy } from './quiet.ts';

/** A row that waited longer than this between creation and its attempt was queued behind another delivery. */
const QUEUE_WAIT_SEC = 60;
const ATTEMPT_SEC = ATTEMPT_TIMEOUT_MS / 1000;
/** Clock skew tolerated between BTCPay and us before a row counts as dated in the future. */
export const FUTURE_SKEW_SEC = 300;

export interface DeliveryInfo {
  type: string;
  invoiceId?: string;
  originalDeliveryId: string;
  /** The event's own time (payload timestamp; kept on retries and redeliveries). */
  eventTimestamp?: number;
  isRedelivery: boolean;
}

export interface TrackedDelivery {
  id: string;
  webhookId: string;
  timestamp: number;
  deliveryTime: number;
  status: Delivery['status'];
  httpCode: number | null;
  errorMessage: string | null;
  /** undefined: body not read yet; 'pruned': 409; 'unreadable': gone or not a webhook event. */
  info?: DeliveryInfo | 'pruned' | 'unreadable';
  /** Commit order in its tracker (1, 2, …): readers sharing a tracker find what is new to them (shared-log.ts). */
  seq?: number;
}

export interface PollOptions {
  nowSec: number;
  /** The probe's window in seconds: rows older than this are not needed for its figures. */
  windowSec: number;
  horizonSec?: number;
  /** How far back a blocked queue may make us read (default 24 h). */
  maxDepthSec?: number;
  /** Most rows kept between polls (default 50 000); the oldest go first. */
  maxTrackedRows?: number;
  /** Re-read this far behind the previous poll even when healthy (rows written a little late). */
  slackSec?: number;
  /** Upper bound of `count` per webhook and poll. */
  maxRows?: number;
  /** Read request bodies (event type, invoice id, original delivery id). */
  bodies?: boolean;
  maxBodyFetches?: number;
  concurrency?: number;
  signal?: AbortSignal;
  /**
   * Every webhook some reader of this tracker still watches (default: webhookIds). Per-webhook state (blockage,
   * last listing) of the others is dropped; a shared tracker polled for a subset keeps the rest.
   */
  knownWebhookIds?: readonly string[];
}

export interface PollResult {
  /** Rows seen for the first time, oldest first. */
  fresh: TrackedDelivery[];
  /** First poll of this tracker: everything is "fresh", callers usually do not count it. */
  baseline: boolean;
  listCalls: number;
  bodyCalls: number;
  listedRows: number;
  /** Quiet webhooks not listed this poll (quiet.ts). */
  quietSkipped: number;
  /** Some webhook had more rows in range than maxRows: figures may miss rows. */
  truncated: string[];
  /** Rows whose bodies are still unread (bounded per poll); read on the next poll. */
  pendingBodies: number;
  /** Rows dated more than FUTURE_SKEW_SEC ahead of our clock: rejected. */
  futureRows: number;
  /** How far ahead the furthest of them was (s). */
  futureMaxAheadSec: number;
  /** The server sent more rows than `count` asked for (it ignores count): the extra ones were not read. */
  countIgnored: boolean;
  /** Rows dropped by the row cap this poll. */
  rowsDropped: number;
  /** Another reader's poll of the same store's log, shared (shared-log.ts): no calls of this reader's own. */
  shared?: boolean;
  /** Webhooks whose queue may still hold events, with how far back this poll read for them (unix s). */
  blocked: Array<{ webhookId: string; sinceSec: number; untilSec: number; depthCapped: boolean }>;
}

/** A webhook whose queue may still be working through a backlog. */
interface Blockage {
  /** Event time of the oldest row that showed the blockage: events queued behind it were created later. */
  sinceSec: number;
  /** Past this, every row the backlog could produce has been written. */
  untilSec: number;
}

const MIN_PAGE = 32;

export class DeliveryTracker {
  readonly rows = new Map<string, TrackedDelivery>();
  #lastPollSec?: number;
  #unhealthyUntil = 0;
  readonly #blocked = new Map<string, Blockage>();
  /** Rows at or below this time were dropped by the row cap: not read again, so never counted twice. */
  #capFloorSec = -Infinity;
  readonly #pageHint = new Map<string, number>();
  /** Bodies read during a poll that then failed, by row id: reused when the row is staged again. */
  readonly #stagedInfo = new Map<string, { info: NonNullable<TrackedDelivery['info']>; timestamp: number }>();
  /** When set, quiet webhooks are listed less often (quiet.ts); per webhook: last listed, newest row seen. */
  quiet?: QuietPolicy;
  readonly #lastListed = new Map<string, number>();
  readonly #newestRow = new Map<string, number>();
  #seq = 0;

  /** Sequence number of the last committed row (0 before any). */
  get seq(): number {
    return this.#seq;
  }

  get baselined(): boolean {
    return this.#lastPollSec !== undefined;
  }

  async poll(client: BtcpayClient, webhookIds: string[], o: PollOptions): Promise<PollResult> {
    const horizon = o.horizonSec ?? 75 * 60;
    const slack = o.slackSec ?? 120;
    const maxRows = o.maxRows ?? 20_000;
    const deepFloor = o.nowSec - Math.max(o.windowSec, horizon);
    const baseline = this.#lastPollSec === undefined;
    const deep = baseline || o.nowSec < this.#unhealthyUntil;
    const cutoff = deep ? deepFloor : Math.max(deepFloor, this.#lastPollSec! - slack);
    const maxDepth = o.maxDepthSec ?? 24 * 3600;
    const res: PollResult = {
      fresh: [],
      baseline,
      listCalls: 0,
      bodyCalls: 0,
      listedRows: 0,
      truncated: [],
      pendingBodies: 0,
      blocked: [],
      futureRows: 0,
      futureMaxAheadSec: 0,
      countIgnored: false,
      rowsDropped: 0,
      quietSkipped: 0,
    };
    const overlong0 = client.stats.overlongLists;
    const known = new Set(o.knownWebhookIds ?? webhookIds);
    for (const w of webhookIds) known.add(w);
    // Blockages whose rows have all had time to land are over.
    for (const [wid, b] of this.#blocked) if (o.nowSec > b.untilSec || !known.has(wid)) this.#blocked.delete(wid);
    let lowest = cutoff;

    // New rows are staged and only committed to `rows` once the whole poll (lists and bodies) succeeded: a
    // poll that fails or is aborted half-way must leave them "new" for the next poll, or they would never be
    // counted. Bodies already read for staged rows are kept aside so a retry does not read them again.
    const staged = new Map<string, TrackedDelivery>();
    const hints = new Map<string, number>();
    const skip =
      this.quiet && !deep
        ? quietSkips(webhookIds, { nowSec: o.nowSec, lastPolled: this.#lastListed, newestRow: this.#newestRow, keep: (w) => this.#blocked.has(w) }, this.quiet)
        : new Set<string>();
    res.quietSkipped = skip.size;
    for (const wid of webhookIds) {
      if (skip.has(wid)) continue;
      const b = this.#blocked.get(wid);
      // A webhook skipped while quiet is read back to its own last listing, not the last poll.
      const since = this.#lastListed.get(wid);
      const wCut = !deep && since !== undefined && since < this.#lastPollSec! ? Math.max(deepFloor, since - slack) : cutoff;
      const wanted = b ? Math.min(wCut, b.sinceSec - slack) : wCut;
      const cut = Math.max(wanted, o.nowSec - maxDepth);
      if (b) res.blocked.push({ webhookId: wid, sinceSec: b.sinceSec, untilSec: b.untilSec, depthCapped: cut > wanted });
      lowest = Math.min(lowest, cut);
      let count = Math.min(maxRows, this.#pageHint.get(wid) ?? MIN_PAGE * 2);
      let rows: Delivery[];
      for (;;) {
        rows = (await client.listDeliveries(wid, count, { signal: o.signal })).slice(0, count);
        res.listCalls++;
        const oldest = rows.at(-1);
        if (rows.length < count || !oldest || oldest.timestamp < cut) break;
        if (count >= maxRows) {
          res.truncated.push(wid);
          break;
        }
        count = Math.min(maxRows, count * 4);
      }
      res.listedRows += rows.length;
      let inRange = 0;
      for (const d of rows) {
        const ahead = Math.max(d.timestamp, d.deliveryTime ?? 0) - o.nowSec;
        if (ahead > FUTURE_SKEW_SEC) {
          res.futureRows++;
          res.futureMaxAheadSec = Math.max(res.futureMaxAheadSec, ahead);
          continue;
        }
        if (d.timestamp < cut || d.timestamp <= this.#capFloorSec) continue;
        inRange++;
        if (this.rows.has(d.id) || staged.has(d.id)) continue;
        const t: TrackedDelivery = {
          id: d.id,
          webhookId: wid,
          timestamp: d.timestamp,
          deliveryTime: d.deliveryTime ?? d.timestamp,
          status: d.status,
          httpCode: d.httpCode ?? null,
          errorMessage: d.errorMessage ?? null,
        };
        const known = this.#stagedInfo.get(d.id);
        if (known) t.info = known.info;
        staged.set(d.id, t);
        res.fresh.push(t);
      }
      // Next time start with a page that likely reaches the cutoff in one call.
      hints.set(wid, Math.min(maxRows, Math.max(MIN_PAGE, Math.ceil(inRange * 1.5) + 16)));
    }
    res.fresh.sort((a, b) => a.timestamp - b.timestamp);

    if (o.bodies !== false) {
      // Late rows of queued events may be older than the window: read their bodies too (callers pair them with invoices).
      const from = Math.min(o.nowSec - o.windowSec - slack, lowest);
      const todo = [...this.rows.values(), ...staged.values()].filter((r) => r.info === undefined && r.timestamp >= from);
      todo.sort((a, b) => b.timestamp - a.timestamp);
      const limit = o.maxBodyFetches ?? 2000;
      const batch = todo.slice(0, limit);
      res.pendingBodies = todo.length - batch.length;
      try {
        res.bodyCalls = await fetchBodies(client, batch, o.concurrency ?? 8, o.signal);
      } catch (e) {
        for (const t of staged.values()) if (t.info !== undefined) this.#stagedInfo.set(t.id, { info: t.info, timestamp: t.timestamp });
        throw e;
      }
    }

    // Commit: the poll succeeded.
    for (const t of res.fresh) t.seq = ++this.#seq;
    for (const [id, t] of staged) this.rows.set(id, t);
    for (const [wid, n] of hints) this.#pageHint.set(wid, n);
    for (const wid of hints.keys()) this.#lastListed.set(wid, o.nowSec);
    for (const t of staged.values()) this.#newestRow.set(t.webhookId, Math.max(this.#newestRow.get(t.webhookId) ?? -Infinity, t.timestamp));
    for (const wid of this.#lastListed.keys()) {
      if (known.has(wid)) continue;
      this.#lastListed.delete(wid);
      this.#newestRow.delete(wid);
    }
    // A failure or a queue wait means later events may sit in the queue: read deep for a while.
    for (const t of res.fresh) {
      if (t.status !== 'HttpSuccess' || t.deliveryTime - t.timestamp > QUEUE_WAIT_SEC) this.#unhealthyUntil = o.nowSec + horizon;
      this.#noteQueue(t, slack);
    }

    // Forget rows no cutoff can reach any more (a blockage only ever reaches back to rows we have read).
    let floor = Math.min(deepFloor, lowest);
    for (const b of this.#blocked.values()) floor = Math.min(floor, b.sinceSec - slack);
    const forget = floor - 2 * slack;
    for (const [id, r] of this.rows) if (r.timestamp < forget) this.rows.delete(id);
    const cap = o.maxTrackedRows ?? 50_000;
    if (this.rows.size > cap) {
      const oldest = [...this.rows.values()].sort((a, b) => a.timestamp - b.timestamp).slice(0, this.rows.size - cap);
      for (const r of oldest) this.rows.delete(r.id);
      res.rowsDropped = oldest.length;
      this.#capFloorSec = Math.max(this.#capFloorSec, oldest.at(-1)!.timestamp);
    }
    if (this.#stagedInfo.size > cap) this.#stagedInfo.clear();
    res.countIgnored = client.stats.overlongLists > overlong0;
    for (const [id, r] of this.#stagedInfo) if (r.timestamp < forget || this.rows.has(id)) this.#stagedInfo.delete(id);
    this.#lastPollSec = o.nowSec;
    return res;
  }

  /** A failed (retryable) or long-queued row: later events of its webhook may still be queued behind it. */
  #noteQueue(t: TrackedDelivery, slack: number): void {
    const failed = t.status !== 'HttpSuccess' && isRetryable(t.httpCode);
    const waited = t.deliveryTime - t.timestamp > QUEUE_WAIT_SEC;
    if (!failed && !waited) return;
    const eventSec = typeof t.info === 'object' && t.info.eventTimestamp !== undefined ? Math.min(t.info.eventTimestamp, t.timestamp) : t.timestamp;
    // The next row of this queue is written at most one attempt, the longest retry wait and another attempt after
    // this attempt started (or, after a success, the next queued event's attempt).
    const until = t.deliveryTime + (failed ? ATTEMPT_SEC + MAX_RETRY_GAP_SEC : 2 * ATTEMPT_SEC) + slack;
    const b = this.#blocked.get(t.webhookId);
    if (b) {
      b.sinceSec = Math.min(b.sinceSec, eventSec);
      b.untilSec = Math.max(b.untilSec, until);
    } else this.#blocked.set(t.webhookId, { sinceSec: eventSec, untilSec: until });
  }

  /** Rows whose timestamp is at or after `fromSec`. */
  since(fromSec: number): TrackedDelivery[] {
    return [...this.rows.values()].filter((r) => r.timestamp >= fromSec);
  }
}

async function fetchBodies(client: BtcpayClient, rows: TrackedDelivery[], concurrency: number, signal?: AbortSignal): Promise<number> {
  // Transport trouble stops the fan-out and keeps the rest pending for the next poll.
  return forEachLimited(rows, concurrency, async (r) => {
    try {
      const { body } = await client.getDeliveryRequest(r.webhookId, r.id, { signal });
      r.info = {
        type: body.type,
        ...(body.invoiceId ? { invoiceId: body.invoiceId } : {}),
        originalDeliveryId: body.originalDeliveryId ?? body.orignalDeliveryId ?? r.id,
        ...(body.timestamp !== undefined ? { eventTimestamp: body.timestamp } : {}),
        isRedelivery: body.isRedelivery ?? false,
      };
    } catch (e) {
      if (e instanceof BtcpayError && e.kind === 'pruned') r.info = 'pruned';
      else if (e instanceof BtcpayError && (e.kind === 'not_found' || e.kind === 'malformed')) r.info = 'unreadable';
      else throw e;
    }
  });
}

export function outcomeOf(status: Delivery['status']): 'success' | 'http_error' | 'failed' {
  return status === 'HttpSuccess' ? 'success' : status === 'HttpError' ? 'http_error' : 'failed';
}

/** Group key of a row's event: the first delivery's id (retries and redeliveries share it). */
export function eventKey(r: TrackedDelivery): string {
  return typeof r.info === 'object' ? r.info.originalDeliveryId : r.id;
}
