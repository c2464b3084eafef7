// Is an invoice paid? BTCPay has no paid-at field (docs/btcpay-greenfield.md §7): an invoice counts as paid when
// it is Settled (or Processing, for callers whose paid events announce the payment before confirmation), or when it
// Expired and the money arrived afterwards (additionalStatus PaidLate; the status never becomes Settled).
import type { Invoice } from '../clients/btcpay/schemas.ts';

/** Event types that announce a payment before the invoice settles. */
export const PROCESSING_EVENTS = ['InvoiceProcessing', 'InvoiceReceivedPayment', 'InvoicePaymentSettled'];
/** Types that announce a late payment on an expired invoice. */
export const PAID_LATE_EVENTS = ['InvoicePaidAfterExpiration', 'InvoiceReceivedPayment'];

export interface PaidRules {
  paidEvents: readonly string[];
  includePaidLate?: boolean;
}

/** Statuses to ask the invoice list for. */
export function paidStatuses(r: PaidRules): string[] {
  return ['Settled', ...(r.paidEvents.some((e) => PROCESSING_EVENTS.includes(e)) ? ['Processing'] : []), ...(r.includePaidLate === false ? [] : ['Expired'])];
}

export function isPaid(inv: Pick<Invoice, 'status' | 'additionalStatus'>, r: PaidRules): boolean {
  if (inv.status === 'Settled') return true;
  if (inv.status === 'Processing') return r.paidEvents.some((e) => PROCESSING_EVENTS.includes(e));
  if (inv.status === 'Expired') return r.includePaidLate !== false && inv.additionalStatus === 'PaidLate';
  return false;
}

/** Event types that announce this invoice's payment. */
export function paidEventTypes(inv: Pick<Invoice, 'status'>, r: PaidRules): string[] {
  return inv.status === 'Expired' ? [...r.paidEvents, ...PAID_LATE_EVENTS] : [...r.paidEvents];
}
