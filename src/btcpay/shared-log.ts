// One delivery-log reader per (source, store), shared by every probe that reads that store's log: a delivery_rate
// and a paid_latency probe on one store, or many probes over the same stores, list and remember each delivery row
// once instead of once per probe (BTCPay calls and agent memory both scale with stores, not with probes).
//
//  - one DeliveryTracker per store holds the rows; each probe has a DeliveryReader with its own cursor (the row
//    commit sequence it has consumed), so "fresh" rows, and a reader's first-poll baseline, stay per probe;
//  - a reader's poll joins one already under way, or takes the result of one that finished less than DEFAULT_SHARE_SEC ago
//    and started after this reader's previous poll; otherwise it polls (one poll at a time per tracker);
//  - the shared poll keeps what the widest reader needs: the longest window and horizon, bodies if any reader
//    reads them, and the per-webhook state of every webhook some recent reader watches;
//  - a poll runs until every reader waiting for it has given up (its own abort signal), not just the first;
//  - bounded: logs unused for LOG_IDLE_MS are dropped, and at most MAX_LOGS are kept (least recently used first).
import { BtcpayError, type BtcpayClient } from '../clients/btcpay/client.ts';
import { sourceKey, type BtcpaySource } from './source.ts';
import { DEFAULT_SHARE_SEC, forgetSharedReads } from './shared-read.ts';
import { DeliveryTracker, type PollOptions, type PollResult, type TrackedDelivery } from './tracker.ts';

const LOG_IDLE_MS = 3 * 3600_000;
const MAX_LOGS = 20_000;
/** A reader not heard from for this long no longer widens the shared poll. */
const WANT_TTL_SEC = 3 * 3600;
/** What a reader that gave up gets: the client's own error for an aborted call. */
const aborted = () => new BtcpayError('delivery log poll: aborted', 'timeout');

interface Want {
  webhookIds: readonly string[];
  windowSec: number;
  horizonSec: number;
  bodies: boolean;
  atSec: number;
}

interface Poll {
  no: number;
  atSec: number;
  ids: ReadonlySet<string>;
  bodies: boolean;
  promise: Promise<PollResult>;
  waiters: number;
  ctrl: AbortController;
  done: boolean;
}

export class SharedDeliveryLog {
  readonly tracker = new DeliveryTracker();
  usedAtMs = Date.now();
  #polls = 0;
  #last?: Poll;
  /** The tail of the poll chain: polls of one tracker never overlap. */
  #tail: Promise<unknown> = Promise.resolve();
  readonly #wants = new Map<DeliveryReader, Want>();

  reader(): DeliveryReader {
    return new DeliveryReader(this);
  }

  /** @internal DeliveryReader.poll */
  async pollFor(
    r: DeliveryReader,
    client: BtcpayClient,
    webhookIds: string[],
    o: PollOptions & { shareSec?: number },
  ): Promise<{ result: PollResult; poll: number; reused: boolean }> {
    this.usedAtMs = Date.now();
    const bodies = o.bodies !== false;
    const horizonSec = o.horizonSec ?? 75 * 60;
    this.#wants.set(r, { webhookIds, windowSec: o.windowSec, horizonSec, bodies, atSec: o.nowSec });
    for (const [k, w] of this.#wants) if (o.nowSec - w.atSec > WANT_TTL_SEC) this.#wants.delete(k);
    const covers = (p: Poll) => (!bodies || p.bodies) && webhookIds.every((id) => p.ids.has(id));
    const last = this.#last;
    const fresh = last && last.no > r.lastPoll && covers(last) && (!last.done || o.nowSec - last.atSec <= (o.shareSec ?? DEFAULT_SHARE_SEC));
    const p = fresh ? last : this.#start(client, webhookIds, o);
    return { result: await this.#join(p, o.signal), poll: p.no, reused: fresh === true };
  }

  #start(client: BtcpayClient, webhookIds: string[], o: PollOptions): Poll {
    const wants = [...this.#wants.values()];
    const opts: PollOptions = {
      ...o,
      windowSec: Math.max(o.windowSec, ...wants.map((w) => w.windowSec)),
      horizonSec: Math.max(o.horizonSec ?? 0, ...wants.map((w) => w.horizonSec)),
      bodies: wants.some((w) => w.bodies),
      knownWebhookIds: [...new Set(wants.flatMap((w) => w.webhookIds))],
    };
    const ctrl = new AbortController();
    opts.signal = ctrl.signal;
    const run = this.#tail.then(() => (ctrl.signal.aborted ? Promise.reject(aborted()) : this.tracker.poll(client, webhookIds, opts)));
    const p: Poll = {
      no: ++this.#polls,
      atSec: o.nowSec,
      ids: new Set(webhookIds),
      bodies: opts.bodies !== false,
      promise: run,
      waiters: 0,
      ctrl,
      done: false,
    };
    this.#tail = run.then(
      () => (p.done = true),
      () => {
        p.done = true;
        // A failed poll is nobody's result to reuse.
        if (this.#last === p) this.#last = undefined;
      },
    );
    this.#last = p;
    return p;
  }

  /** Wait for a poll, or for the caller's own abort; the poll itself is aborted once every waiter has given up. */
  #join(p: Poll, signal?: AbortSignal): Promise<PollResult> {
    if (!signal) return p.promise;
    if (signal.aborted) return Promise.reject(aborted());
    p.waiters++;
    return new Promise<PollResult>((resolve, reject) => {
      const onAbort = () => {
        if (--p.waiters === 0) p.ctrl.abort(signal.reason);
        reject(aborted());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      p.promise.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          p.waiters--;
          resolve(v);
        },
        (e) => {
          signal.removeEventListener('abort', onAbort);
          p.waiters--;
          reject(e);
        },
      );
    });
  }

  /** @internal a reader that is gone (its probe or store left) no longer widens the poll. */
  drop(r: DeliveryReader): void {
    this.#wants.delete(r);
  }
}

/** One probe's (or one probe's store's) view of a shared delivery log. */
export class DeliveryReader {
  /** Row sequence consumed so far; undefined before the first successful poll. */
  #cursor?: number;
  /** Number of the last shared poll this reader consumed. */
  lastPoll = 0;

  constructor(readonly log: SharedDeliveryLog) {}

  get tracker(): DeliveryTracker {
    return this.log.tracker;
  }

  /**
   * Poll the store's log (or share a poll another reader made just now) and return what is new to this reader:
   * `fresh` holds the rows of its webhooks committed since its previous poll, oldest first; `baseline` is its own
   * first poll. A shared result reports no calls of its own.
   */
  async poll(client: BtcpayClient, webhookIds: string[], o: PollOptions & { shareSec?: number }): Promise<PollResult> {
    const { result, poll, reused } = await this.log.pollFor(this, client, webhookIds, o);
    const from = this.#cursor ?? -Infinity;
    const ids = new Set(webhookIds);
    const fresh = [...this.tracker.rows.values()].filter((t) => (t.seq ?? 0) > from && ids.has(t.webhookId)).sort((a, b) => a.timestamp - b.timestamp);
    const baseline = this.#cursor === undefined;
    this.#cursor = this.tracker.seq;
    this.lastPoll = poll;
    return {
      ...result,
      fresh,
      baseline,
      ...(reused ? { listCalls: 0, bodyCalls: 0, listedRows: 0, quietSkipped: 0, shared: true } : {}),
      truncated: result.truncated.filter((w) => ids.has(w)),
      blocked: result.blocked.filter((b) => ids.has(b.webhookId)),
    };
  }

  /** Rows whose timestamp is at or after `fromSec` (every webhook of the store). */
  since(fromSec: number): TrackedDelivery[] {
    return this.tracker.since(fromSec);
  }

  close(): void {
    this.log.drop(this);
  }
}

const logs = new Map<string, SharedDeliveryLog>();

/** The shared log of a source's store (created on first use). */
export function deliveryLogFor(s: BtcpaySource): SharedDeliveryLog {
  const key = sourceKey(s, s.storeId);
  let log = logs.get(key);
  if (log) {
    // Map order is least recently used first.
    logs.delete(key);
    logs.set(key, log);
    return log;
  }
  const nowMs = Date.now();
  for (const [k, l] of logs) if (nowMs - l.usedAtMs > LOG_IDLE_MS) logs.delete(k);
  while (logs.size >= MAX_LOGS) logs.delete(logs.keys().next().value!);
  log = new SharedDeliveryLog();
  logs.set(key, log);
  return log;
}

/**
 * A probe's reader of a source's store: `current` while it still reads that store's log, else a new one (a new
 * baseline): made on first use, and anew when the source's url, key or store changed under it.
 */
export function readerFor(s: BtcpaySource, current: DeliveryReader | undefined): DeliveryReader {
  const log = deliveryLogFor(s);
  if (current?.log === log) return current;
  current?.close();
  return log.reader();
}

/** Test hook: forget every shared log. */
export function forgetDeliveryLogs(): void {
  logs.clear();
  forgetSharedReads();
}
