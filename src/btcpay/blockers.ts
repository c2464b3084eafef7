// Which delivery holds a webhook's queue. A failed delivery retries inside its queue slot (WebhookSender.cs,
// Process), so while its loop may still run, every later event of that webhook waits behind it with no row yet:
// "queued behind a retrying delivery", not "never attempted".
import { isRetryable, MAX_ATTEMPTS, REDELIVERY_PENDING_SEC } from './retry.ts';
import { eventKey, type TrackedDelivery } from './tracker.ts';

export interface Blocker {
  /** The event's rows, oldest first; [0] is its first attempt. */
  rows: TrackedDelivery[];
  type?: string;
  invoiceId?: string;
}

/** Rows grouped per webhook and event (first attempt, retries, redeliveries), each group oldest first. */
export function groupByEvent(rows: Iterable<TrackedDelivery>): Map<string, TrackedDelivery[]> {
  const groups = new Map<string, TrackedDelivery[]>();
  for (const r of rows) {
    const k = `${r.webhookId}|${eventKey(r)}`;
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  for (const g of groups.values()) g.sort((a, b) => a.timestamp - b.timestamp || a.deliveryTime - b.deliveryTime);
  return groups;
}

/** Per webhook, the oldest event BTCPay may still be retrying. */
export function retryingHeads(rows: Iterable<TrackedDelivery>, nowSec: number, pendingSec = REDELIVERY_PENDING_SEC): Map<string, Blocker> {
  return headsOf(groupByEvent(rows), nowSec, pendingSec);
}

/** retryingHeads over rows already grouped by groupByEvent. */
export function headsOf(groups: Map<string, TrackedDelivery[]>, nowSec: number, pendingSec = REDELIVERY_PENDING_SEC): Map<string, Blocker> {
  const out = new Map<string, Blocker>();
  for (const g of groups.values()) {
    if (g.some((r) => r.status === 'HttpSuccess') || g.length >= MAX_ATTEMPTS) continue;
    const newest = g.at(-1)!;
    if (!isRetryable(newest.httpCode) || nowSec - newest.timestamp >= pendingSec) continue;
    const cur = out.get(g[0]!.webhookId);
    if (cur && cur.rows[0]!.timestamp <= g[0]!.timestamp) continue;
    const info = g.find((r) => typeof r.info === 'object')?.info;
    out.set(g[0]!.webhookId, { rows: g, ...(typeof info === 'object' ? { type: info.type, ...(info.invoiceId ? { invoiceId: info.invoiceId } : {}) } : {}) });
  }
  return out;
}

export function describeBlocker(b: Blocker): string {
  const last = b.rows.at(-1)!;
  const what = `${b.type ?? 'event'}${b.invoiceId ? ` of invoice ${b.invoiceId}` : ''}`;
  const lastError = last.errorMessage ?? (last.httpCode ? `HTTP ${last.httpCode}` : 'n/a');
  const head = `queued behind delivery ${b.rows[0]!.id} (${what}, ${b.rows.length} attempt(s), last: ${lastError})`;
  return `${head}, which BTCPay is still retrying: wait, or fix the receiver`;
}
