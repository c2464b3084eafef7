// Shapes shared by the simulated BTCPay's modules (docs/btcpay-greenfield.md has the facts behind them).

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

export interface FakePayment {
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
  type: 'Standard' | 'TopUp';
  checkoutLink: string;
  createdTime: number;
  expirationTime: number;
  monitoringExpiration: number;
  status: 'New' | 'Processing' | 'Expired' | 'Invalid' | 'Settled';
  additionalStatus: 'None' | 'PaidLate' | 'PaidPartial' | 'Marked' | 'PaidOver';
  availableStatusesForManualMarking: string[];
  archived: boolean;
  metadata: Record<string, unknown>;
  checkout: Record<string, unknown>;
  receipt: Record<string, unknown>;
}

export type FaultKind = 'garbage' | 'truncated' | 'huge' | 'slow' | 'status' | 'reset' | 'body' | 'ignore-count';
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

export function publicWebhook(w: FakeWebhook) {
  // GET/PUT never return the secret (docs/btcpay-greenfield.md §2).
  const authorizedEvents = { everything: w.authorizedEvents.everything, specificEvents: [...w.authorizedEvents.specificEvents] };
  return { id: w.id, enabled: w.enabled, automaticRedelivery: w.automaticRedelivery, url: w.url, authorizedEvents };
}

export function publicDelivery(r: FakeDeliveryRow) {
  return { id: r.id, timestamp: r.timestamp, deliveryTime: r.deliveryTime, httpCode: r.httpCode, errorMessage: r.errorMessage, status: r.status };
}

export function subscribed(w: FakeWebhook, type: string): boolean {
  return w.authorizedEvents.everything || w.authorizedEvents.specificEvents.includes(type);
}
