// What paid_latency remembers between polls of a store: its reader of the store's delivery log and, per paid invoice, one
// record (payment method, when it was first seen paid, its first successful delivery per webhook). One object per
// invoice, not an entry in three maps and a string key per (invoice, webhook) pair: on a store settling an invoice a
// second, held for the invoice lookback (24 h by default), these records are most of the probe's memory. Bounded.
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
  /** Undefined until a webhook delivered it (most invoices of a store have one webhook, so one entry). */
  delivered: DeliveredPair[] | undefined;
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
}

export function stateOf(state: Map<string, unknown>): PaidState {
  let s = state.get('paid') as PaidState | undefined;
  if (!s) state.set('paid', (s = { invoiceTicket: {}, permissionsOk: false, invoices: new Map() }));
  return s;
}

/** A new record; every field set in one order, so all records share one shape. */
export function trackInvoice(meta: InvoiceMeta): TrackedInvoice {
  return { method: meta.method, lastPaymentSec: meta.lastPaymentSec, firstSeenSec: undefined, afterPoll: undefined, delivered: undefined };
}

export function deliveredTo(t: TrackedInvoice, webhookId: string): DeliveredPair | undefined {
  return t.delivered?.find((d) => d.webhookId === webhookId);
}

/** The latest time a record was touched: first seen paid, or delivered. */
function lastTouched(t: TrackedInvoice): number {
  let sec = t.firstSeenSec ?? -Infinity;
  for (const d of t.delivered ?? []) if (d.sec > sec) sec = d.sec;
  return sec;
}

/** Bound what a store with a flood of (or fresh fake) invoices can make us remember: the oldest go first. */
export function capState(st: PaidState): void {
  const excess = st.invoices.size - MAX_TRACKED_INVOICES;
  if (excess <= 0) return;
  const old = [...st.invoices].sort((a, b) => (a[1].firstSeenSec ?? -Infinity) - (b[1].firstSeenSec ?? -Infinity)).slice(0, excess);
  for (const [id] of old) st.invoices.delete(id);
}

/** Forget invoices no longer listed whose last news is older than `beforeSec`. */
export function forgetOld(st: PaidState, beforeSec: number, current: Set<string>): void {
  for (const [id, t] of st.invoices) if (!current.has(id) && lastTouched(t) < beforeSec) st.invoices.delete(id);
}
