// What paid_latency remembers between polls of a store: its reader of the store's delivery log and, per paid invoice, one
// record (payment method, when it was first seen paid, its first successful delivery per webhook). One object per
// invoice, not an entry in three maps and a string key per (invoice, webhook) pair: on a store settling an invoice a
// second, held for the invoice lookback (24 h by default), these records are most of the probe's memory. Bounded.
// Most stores have one webhook for paid events, so the first delivery lives in the record itself; an array of
// further ones is made only for an invoice a second webhook delivered.
import type { DeliveryReader } from '../../src/btcpay/shared-log.ts';
import type { ShareTicket } from '../../src/btcpay/shared-read.ts';
import { MAX_TRACKED_INVOICES } from '../../src/btcpay/limits.ts';
import type { Method } from './evaluate.ts';

export interface InvoiceMeta {
  method: Method;
  /** Receipt time of the last payment (unix s), absent for zero-amount invoices. */
  lastPaymentSec?: number;
}

/** A webhook's first successful delivery of an invoice's paid event. */
export interface DeliveredPair {
  webhookId: string;
  sec: number;
  id: string;
}

export interface TrackedInvoice {
  method: Method;
  lastPaymentSec: number | undefined;
  /** When the invoice was first seen paid, and the poll before that (it became paid after it). */
  firstSeenSec: number | undefined;
  afterPoll: number | undefined;
  /** The first webhook's first successful delivery (webhook id, its time, the delivery id): undefined until one. */
  hook: string | undefined;
  hookSec: number;
  hookDelivery: string | undefined;
  /** Deliveries by other webhooks, when there are any. */
  more: DeliveredPair[] | undefined;
}

export interface PaidState {
  /** The store's delivery log, shared with the other probes reading it (made on the first poll). */
  reader?: DeliveryReader;
  /** The last shared invoice list this probe used (shared-read.ts). */
  invoiceTicket: ShareTicket;
  permissionsOk: boolean;
  lastPollSec?: number;
  /** Oldest row time the first poll of this state read: older paid events cannot be judged. */
  coverageSec?: number;
  /** By invoice id: an entry exists once the invoice's payment methods are known. */
  invoices: Map<string, TrackedInvoice>;
  /**
   * Invoices with nothing left to judge: delivered to every webhook watched at the time, and paid before the window.
   * Only the id stays (with its last delivery time, to forget it): on a busy store most of the lookback is such
   * invoices, and a full record each was most of the probe's memory. A webhook added later is not judged on them.
   * Shared by the probes that would decide them alike (doneFor).
   */
  done: Map<string, number>;
  /** What `done` is shared by (doneFor); undefined while it is the state's own. */
  doneKey?: string;
}

/**
 * Done ids by what decides them: source, store, webhooks watched, paid events, window and lookback. Probes that agree
 * on all of these mark the same invoices done, so they keep one set. Held weakly: it goes with the last probe using it.
 */
const sharedDone = new Map<string, WeakRef<Map<string, number>>>();

/** The done set this state shares with every probe of the same `signature` (taking over what it had marked). */
export function doneFor(st: PaidState, signature: string): Map<string, number> {
  if (st.doneKey === signature) return st.done;
  let done = sharedDone.get(signature)?.deref();
  if (!done) {
    for (const [k, ref] of sharedDone) if (!ref.deref()) sharedDone.delete(k);
    sharedDone.set(signature, new WeakRef((done = new Map<string, number>())));
  }
  // Settings changed under a kept state: what it had marked is still delivered (forgetting it would bring those
  // invoices back as undelivered once their delivery rows are pruned).
  for (const [id, sec] of st.done) if (!done.has(id)) done.set(id, sec);
  st.done = done;
  st.doneKey = signature;
  return done;
}

export function stateOf(state: Map<string, unknown>): PaidState {
  let s = state.get('paid') as PaidState | undefined;
  if (!s) state.set('paid', (s = { invoiceTicket: {}, permissionsOk: false, invoices: new Map(), done: new Map() }));
  return s;
}

/** A new record; every field set in one order, so all records share one shape. */
export function trackInvoice(meta: InvoiceMeta): TrackedInvoice {
  return {
    method: meta.method,
    lastPaymentSec: meta.lastPaymentSec,
    firstSeenSec: undefined,
    afterPoll: undefined,
    hook: undefined,
    hookSec: 0,
    hookDelivery: undefined,
    more: undefined,
  };
}

export function deliveredTo(t: TrackedInvoice, webhookId: string): DeliveredPair | undefined {
  if (t.hook === webhookId) return { webhookId, sec: t.hookSec, id: t.hookDelivery! };
  return t.more?.find((d) => d.webhookId === webhookId);
}

/** Remember a webhook's first successful delivery of the invoice (the caller checked it has none yet). */
export function addDelivery(t: TrackedInvoice, d: DeliveredPair): void {
  if (t.hook === undefined) {
    t.hook = d.webhookId;
    t.hookSec = d.sec;
    t.hookDelivery = d.id;
  } else {
    // A literal of exact length: push() would reserve room for 16 more.
    t.more = t.more ? [...t.more, d] : [d];
  }
}

/** The latest time a record was touched: first seen paid, or delivered. */
function lastTouched(t: TrackedInvoice): number {
  let sec = t.firstSeenSec ?? -Infinity;
  if (t.hook !== undefined && t.hookSec > sec) sec = t.hookSec;
  for (const d of t.more ?? []) if (d.sec > sec) sec = d.sec;
  return sec;
}

/** Keep only the id of an invoice with nothing left to judge (see PaidState.done). */
export function markDone(st: PaidState, id: string, t: TrackedInvoice): void {
  st.invoices.delete(id);
  st.done.set(id, lastTouched(t));
}

/** Bound what a store with a flood of (or fresh fake) invoices can make us remember: the oldest go first. */
export function capState(st: PaidState): void {
  // Done ids were added in the order they were settled: the first are the oldest.
  for (const id of st.done.keys()) {
    if (st.done.size <= MAX_TRACKED_INVOICES) break;
    st.done.delete(id);
  }
  const excess = st.invoices.size - MAX_TRACKED_INVOICES;
  if (excess <= 0) return;
  const old = [...st.invoices].sort((a, b) => (a[1].firstSeenSec ?? -Infinity) - (b[1].firstSeenSec ?? -Infinity)).slice(0, excess);
  for (const [id] of old) st.invoices.delete(id);
}

/** Forget invoices no longer listed whose last news is older than `beforeSec`. */
export function forgetOld(st: PaidState, beforeSec: number, current: Set<string>): void {
  for (const [id, t] of st.invoices) if (!current.has(id) && lastTouched(t) < beforeSec) st.invoices.delete(id);
  for (const [id, sec] of st.done) if (!current.has(id) && sec < beforeSec) st.done.delete(id);
}
