// What paid_latency remembers between polls of a store: its reader of the store's delivery log, payment methods per invoice, when
// each invoice was first seen paid and which (invoice, webhook) pairs were delivered. Bounded.
import type { DeliveryReader } from '../../src/btcpay/shared-log.ts';
import type { ShareTicket } from '../../src/btcpay/shared-read.ts';
import { MAX_TRACKED_INVOICES } from '../../src/btcpay/limits.ts';
import type { Method } from './evaluate.ts';

export interface InvoiceMeta {
  method: Method;
  /** Receipt time of the last payment (unix s), absent for zero-amount invoices. */
  lastPaymentSec?: number;
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
  meta: Map<string, InvoiceMeta>;
  /** When an invoice was first seen paid, and the poll before that (it became paid after it). */
  firstSeen: Map<string, { sec: number; afterPoll?: number }>;
  delivered: Map<string, { sec: number; id: string }>;
}

export function stateOf(state: Map<string, unknown>): PaidState {
  let s = state.get('paid') as PaidState | undefined;
  if (!s) state.set('paid', (s = { invoiceTicket: {}, permissionsOk: false, meta: new Map(), firstSeen: new Map(), delivered: new Map() }));
  return s;
}

/** Bound what a store with a flood of (or fresh fake) invoices can make us remember: the oldest go first. */
export function capState(st: PaidState): void {
  if (st.firstSeen.size > MAX_TRACKED_INVOICES) {
    const old = [...st.firstSeen].sort((a, b) => a[1].sec - b[1].sec).slice(0, st.firstSeen.size - MAX_TRACKED_INVOICES);
    for (const [id] of old) {
      st.firstSeen.delete(id);
      st.meta.delete(id);
    }
  }
  if (st.meta.size > MAX_TRACKED_INVOICES) st.meta.clear();
  if (st.delivered.size > 2 * MAX_TRACKED_INVOICES) {
    const old = [...st.delivered].sort((a, b) => a[1].sec - b[1].sec).slice(0, st.delivered.size - 2 * MAX_TRACKED_INVOICES);
    for (const [k] of old) st.delivered.delete(k);
  }
}

export function forgetOld(st: PaidState, beforeSec: number, current: Set<string>): void {
  for (const [id, f] of st.firstSeen)
    if (!current.has(id) && f.sec < beforeSec) {
      st.firstSeen.delete(id);
      st.meta.delete(id);
    }
  for (const [k, d] of st.delivered) if (!current.has(k.split('|')[0]!) && d.sec < beforeSec) st.delivered.delete(k);
}
