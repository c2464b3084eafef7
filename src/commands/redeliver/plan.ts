// `hookwatch redeliver`: find paid events whose deliveries all failed and (with apply) ask BTCPay to send each
// once more. Idempotent across runs: an event is grouped by originalDeliveryId (retries and redeliveries share
// it), so once any delivery of it succeeded it is never re-sent. Pruned deliveries are reported, not retried.
// An event with a retry or redelivery row younger than `pendingSeconds` is left alone ("redelivery pending"):
// BTCPay's own retry loop may still be working on it (src/btcpay/retry.ts derives the window from the schedule and
// the 100 s attempt timeout), and a second --apply run right after the first must not send it again. A redelivery
// still waiting in BTCPay's in-memory queue has no row yet, so it cannot be seen through the API
// (docs/btcpay-greenfield.md §4).
//
// BTCPay re-checks the webhook when it sends (WebhookSender.cs, Process): on a disabled or unsubscribed webhook a
// redeliver call still returns a new delivery id, but nothing is sent and no row is written. So --apply checks the
// webhook before asking, and afterwards looks for the new rows (bounded wait) and says what became of each.
import { BtcpayError, type BtcpayClient } from '../../clients/btcpay/client.ts';
import type { Invoice, Webhook } from '../../clients/btcpay/schemas.ts';
import { DeliveryTracker, type TrackedDelivery } from '../../btcpay/tracker.ts';
import { REDELIVERY_PENDING_SEC } from '../../btcpay/retry.ts';
import { subscribesTo } from '../../btcpay/subscriptions.ts';
import { groupByEvent, headsOf } from '../../btcpay/blockers.ts';

export const DEFAULT_REDELIVER_EVENTS = ['InvoiceSettled', 'InvoicePaidAfterExpiration'];
export const DEFAULT_PENDING_SECONDS = REDELIVERY_PENDING_SEC;
/** How long --apply waits for the rows of the redeliveries it asked for. */
export const DEFAULT_VERIFY_MS = 15_000;

export interface RedeliverLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface RedeliverItem {
  webhookId: string;
  originalDeliveryId: string;
  /** The delivery the redeliver call names (the original when its body is still there). */
  deliveryId: string;
  type?: string;
  invoiceId?: string;
  attempts: number;
  lastError: string | null;
  action: 'would_redeliver' | 'redelivered' | 'redelivery_pending' | 'pruned' | 'not_sent' | 'error';
  newDeliveryId?: string;
  /** After --apply: the new delivery's row, or why there is none. */
  outcome?: { status: 'HttpSuccess' | 'HttpError' | 'Failed'; httpCode: number | null; errorMessage: string | null } | 'no_row_yet';
  /** For not_sent: why BTCPay would drop (or dropped) it. */
  notSentReason?: string;
  /** For redelivery_pending: the newest retry/redelivery row and its age. */
  pendingDeliveryId?: string;
  pendingAgeSeconds?: number;
  error?: string;
}

export interface RedeliverReport {
  applied: boolean;
  sinceSeconds: number;
  /** A retry/redelivery row younger than this marks its event "redelivery pending". */
  pendingSeconds: number;
  webhooks: string[];
  scannedDeliveries: number;
  /** Paid events of the period with at least one successful delivery: left alone. */
  succeeded: number;
  items: RedeliverItem[];
  /**
   * Paid invoices with no delivery row on some webhook and no retrying delivery ahead of them: BTCPay never attempted
   * them (webhook disabled or unsubscribed at the time, or its in-memory queue lost in a restart). BTCPay cannot
   * resend these: its invoice page and API only redeliver an existing delivery (UIInvoiceController.UI.cs).
   */
  neverAttempted: string[];
  /** Paid events without a row that wait in the webhook's queue behind a delivery BTCPay is still retrying. */
  queuedBehind: QueuedEvent[];
  /** Every paid event without a row, with what to do about it (input of --send-missing). */
  missing: MissingEvent[];
  notes: string[];
}

export interface MissingEvent {
  invoiceId: string;
  webhookId: string;
  /** The event BTCPay would have sent for this invoice's payment. */
  type: string;
  state: 'queued_behind_retry' | 'never_attempted';
  /** never_attempted: the likely reason. */
  why?: string;
  invoice: Invoice;
}

export interface QueuedEvent {
  invoiceId: string;
  webhookId: string;
  /** The delivery holding the queue: its retry loop runs inside the queue slot. */
  blockingDeliveryId: string;
  blockingType?: string;
  blockingInvoiceId?: string;
  blockingAttempts: number;
  blockingLastError: string | null;
}

export async function planRedelivery(
  client: BtcpayClient,
  opts: {
    webhookId?: string;
    sinceMs: number;
    nowMs: number;
    apply: boolean;
    log: RedeliverLog;
    paidEvents?: string[];
    signal?: AbortSignal;
    pendingSeconds?: number;
    /** Wait this long (real time) for the new rows after --apply; 0 skips the check. */
    verifyMs?: number;
  },
): Promise<RedeliverReport> {
  const paid = opts.paidEvents ?? DEFAULT_REDELIVER_EVENTS;
  const pendingSec = opts.pendingSeconds ?? DEFAULT_PENDING_SECONDS;
  const signal = opts.signal;
  const nowSec = Math.floor(opts.nowMs / 1000);
  const sinceSec = Math.ceil(opts.sinceMs / 1000);
  const hooks = opts.webhookId ? [opts.webhookId] : (await client.listWebhooks({ signal })).map((h) => h.id);
  const tracker = new DeliveryTracker();
  // horizonSec = since: read the whole period once, bodies included.
  const whole = { nowSec, windowSec: sinceSec, horizonSec: sinceSec, maxRows: 200_000, maxBodyFetches: 100_000 };
  await tracker.poll(client, hooks, { ...whole, ...(signal ? { signal } : {}) });
  const rows = tracker.since(nowSec - sinceSec);
  const report: RedeliverReport = {
    applied: opts.apply,
    sinceSeconds: sinceSec,
    pendingSeconds: pendingSec,
    webhooks: hooks,
    scannedDeliveries: rows.length,
    succeeded: 0,
    items: [],
    neverAttempted: [],
    queuedBehind: [],
    missing: [],
    notes: [],
  };

  const groups = groupByEvent(rows);
  /** Invoices with at least one row, per webhook. */
  const seen = new Map<string, Set<string>>(hooks.map((h) => [h, new Set<string>()]));
  /** Per webhook, the oldest event BTCPay may still be retrying: everything fanned out after it waits behind it. */
  const blockers = headsOf(groups, nowSec, pendingSec);
  const hookCache = new Map<string, Promise<Webhook | undefined>>();
  const hookOf = (id: string) => {
    let p = hookCache.get(id);
    if (!p) hookCache.set(id, (p = client.getWebhook(id, { signal }).catch(() => undefined)));
    return p;
  };
  for (const g of groups.values()) {
    const withInfo = g.find((r) => typeof r.info === 'object');
    const info = withInfo && typeof withInfo.info === 'object' ? withInfo.info : undefined;
    // Seen = a row of the invoice's paid event (a row of its InvoiceCreated does not deliver the payment).
    if (info?.invoiceId && paid.includes(info.type)) seen.get(g[0]!.webhookId)?.add(info.invoiceId);
    const pruned = g.every((r) => r.info === 'pruned');
    if (!pruned && (!info || !paid.includes(info.type))) continue;
    if (g.some((r) => r.status === 'HttpSuccess')) {
      report.succeeded++;
      continue;
    }
    const last = g[g.length - 1]!;
    const target = info ? (g.find((r) => r.id === info.originalDeliveryId) ?? withInfo!) : last;
    const item: RedeliverItem = {
      webhookId: last.webhookId,
      originalDeliveryId: info?.originalDeliveryId ?? last.id,
      deliveryId: target.id,
      ...(info ? { type: info.type } : {}),
      ...(info?.invoiceId ? { invoiceId: info.invoiceId } : {}),
      attempts: g.length,
      lastError: last.errorMessage ?? (last.httpCode ? `HTTP ${last.httpCode}` : null),
      action: pruned ? 'pruned' : 'would_redeliver',
    };
    // A retry or redelivery of this event (any row but the first attempt) that is still recent: BTCPay is on it.
    const followUps = info ? g.filter((r) => r.id !== info.originalDeliveryId || (typeof r.info === 'object' && r.info.isRedelivery)) : [];
    const newest = followUps.reduce<TrackedDelivery | undefined>((m, r) => (!m || r.timestamp > m.timestamp ? r : m), undefined);
    if (!pruned && newest && nowSec - newest.timestamp < pendingSec) {
      item.action = 'redelivery_pending';
      item.pendingDeliveryId = newest.id;
      item.pendingAgeSeconds = Math.max(0, nowSec - newest.timestamp);
    }
    report.items.push(item);
    if (pruned || item.action === 'redelivery_pending' || !opts.apply) continue;
    // Check before: BTCPay would accept the call and then drop the delivery at send time.
    const why = dropReason(await hookOf(item.webhookId), item.webhookId, item.type);
    if (why) {
      item.action = 'not_sent';
      item.notSentReason = why;
      continue;
    }
    try {
      item.newDeliveryId = await client.redeliver(item.webhookId, item.deliveryId, { signal });
      item.action = 'redelivered';
      opts.log.info({ webhookId: item.webhookId, deliveryId: item.deliveryId, newDeliveryId: item.newDeliveryId, invoiceId: item.invoiceId }, 'redelivered');
    } catch (e) {
      if (e instanceof BtcpayError && e.kind === 'pruned') item.action = 'pruned';
      else {
        item.action = 'error';
        item.error = (e as Error).message;
        opts.log.warn({ webhookId: item.webhookId, deliveryId: item.deliveryId, err: item.error }, 'redeliver failed');
      }
    }
  }

  if (opts.apply) await verifyRedeliveries(client, report.items, opts.verifyMs ?? DEFAULT_VERIFY_MS, signal);

  // Paid invoices with no row on a webhook that should have received them: queued behind a retrying delivery
  // (wait, or fix the receiver), or never attempted (BTCPay cannot resend those; --send-missing can).
  try {
    const query = { status: ['Settled', 'Expired'], startDate: nowSec - sinceSec };
    const { invoices, truncated, pages, pageSize } = await client.listInvoicesBounded(query, { signal });
    if (truncated) {
      report.notes.push(`only the newest ${pages * pageSize} invoices were checked for events never attempted (page cap reached); use a shorter --since`);
    }
    const never = new Set<string>();
    for (const inv of invoices) {
      const type = inv.status === 'Settled' ? 'InvoiceSettled' : inv.additionalStatus === 'PaidLate' ? 'InvoicePaidAfterExpiration' : undefined;
      if (!type || !paid.includes(type)) continue;
      for (const wid of hooks) {
        if (seen.get(wid)?.has(inv.id)) continue;
        const hook = await hookOf(wid);
        // A webhook that does not take this event now and never sent anything for the invoice: not ours to judge.
        if (hook && !subscribesTo(hook, type)) continue;
        const blocker = blockers.get(wid);
        // Only a webhook with automatic redelivery keeps a failed delivery in its queue slot.
        if (blocker && hook?.automaticRedelivery !== false) {
          const last = blocker.rows.at(-1)!;
          report.queuedBehind.push({
            invoiceId: inv.id,
            webhookId: wid,
            blockingDeliveryId: blocker.rows[0]!.id,
            ...(blocker.type ? { blockingType: blocker.type } : {}),
            ...(blocker.invoiceId ? { blockingInvoiceId: blocker.invoiceId } : {}),
            blockingAttempts: blocker.rows.length,
            blockingLastError: last.errorMessage ?? (last.httpCode ? `HTTP ${last.httpCode}` : null),
          });
          report.missing.push({ invoiceId: inv.id, webhookId: wid, type, state: 'queued_behind_retry', invoice: inv });
          continue;
        }
        const why =
          hook && !hook.enabled
            ? `webhook ${wid} is disabled`
            : 'the webhook was disabled or unsubscribed when it was paid, or BTCPay restarted and lost its in-memory queue';
        report.missing.push({ invoiceId: inv.id, webhookId: wid, type, state: 'never_attempted', why, invoice: inv });
        never.add(inv.id);
      }
    }
    report.neverAttempted = [...never];
  } catch (e) {
    report.notes.push(`invoices not checked for events never attempted: ${(e as Error).message}`);
  }
  return report;
}

/** Why BTCPay would not send an event of this type to the webhook now, or undefined when it would. */
function dropReason(h: Webhook | undefined, id: string, type: string | undefined): string | undefined {
  if (!h) return `webhook ${id} no longer exists`;
  if (!h.enabled) return `webhook ${id} is disabled: BTCPay returns a new delivery id but sends nothing and writes no row; enable it first`;
  if (type && !subscribesTo(h, type)) return `webhook ${id} is not subscribed to ${type}: BTCPay would drop the redelivery at send time`;
  return undefined;
}

/** Verify after: look for each new delivery's row (bounded wait); a missing row on a webhook that stopped listening means dropped. */
async function verifyRedeliveries(client: BtcpayClient, items: RedeliverItem[], waitMs: number, signal?: AbortSignal): Promise<void> {
  const sent = items.filter((i) => i.action === 'redelivered' && i.newDeliveryId);
  if (!sent.length || waitMs <= 0) return;
  const end = Date.now() + waitMs;
  let open = sent;
  for (let round = 0; open.length && round < 1000 && !signal?.aborted; round++) {
    for (const i of open) {
      try {
        const d = await client.getDelivery(i.webhookId, i.newDeliveryId!, { signal });
        i.outcome = { status: d.status, httpCode: d.httpCode ?? null, errorMessage: d.errorMessage ?? null };
      } catch (e) {
        if (!(e instanceof BtcpayError && e.kind === 'not_found')) throw e;
      }
    }
    open = open.filter((i) => !i.outcome);
    if (!open.length || Date.now() >= end) break;
    await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, end - Date.now()))));
  }
  for (const i of open) {
    const why = dropReason(await client.getWebhook(i.webhookId, { signal }).catch(() => undefined), i.webhookId, i.type);
    if (why) {
      i.action = 'not_sent';
      i.notSentReason = `${why} (BTCPay returned delivery ${i.newDeliveryId} and dropped it)`;
    } else i.outcome = 'no_row_yet';
  }
}

export function formatRedeliverReport(r: RedeliverReport): string {
  const lines = [
    `${r.applied ? 'APPLIED' : 'DRY RUN (add --apply to send)'}: last ${r.sinceSeconds}s, webhooks ${r.webhooks.join(', ') || '(none)'}, ` +
      `${r.scannedDeliveries} deliveries read, ${r.succeeded} paid events already delivered`,
  ];
  for (const i of r.items) {
    const what =
      `${i.type ?? '?'} invoice ${i.invoiceId ?? '?'} (webhook ${i.webhookId}, delivery ${i.deliveryId}, ` +
      `${i.attempts} failed attempt(s), last: ${i.lastError ?? 'n/a'})`;
    const verb = {
      would_redeliver: 'would redeliver',
      redelivered: `redelivered as ${i.newDeliveryId}${
        i.outcome === undefined
          ? ''
          : i.outcome === 'no_row_yet'
            ? ' (no row yet: queued behind other deliveries of the webhook, or still being attempted; check again later)'
            : `: ${i.outcome.status}${i.outcome.httpCode ? ` HTTP ${i.outcome.httpCode}` : ''}${i.outcome.errorMessage ? ` (${i.outcome.errorMessage})` : ''}`
      }`,
      not_sent: `NOT SENT: ${i.notSentReason ?? 'the webhook would drop it'}`,
      redelivery_pending:
        `redelivery pending (delivery ${i.pendingDeliveryId}, ${i.pendingAgeSeconds}s ago; BTCPay may still retry it), not sent again; ` +
        `run again in ${Math.max(0, r.pendingSeconds - (i.pendingAgeSeconds ?? 0))}s if it stays undelivered`,
      pruned: 'PRUNED by BTCPay, cannot redeliver',
      error: `ERROR ${i.error}`,
    }[i.action];
    lines.push(`  ${verb}: ${what}`);
  }
  if (!r.items.length) lines.push('  nothing to redeliver');
  const pending = r.items.filter((i) => i.action === 'redelivery_pending').length;
  if (pending) lines.push(`  ${pending} failed event(s) left alone: still inside BTCPay's retry window (${r.pendingSeconds}s after their newest attempt)`);
  for (const q of r.queuedBehind) {
    lines.push(
      `  queued behind a retrying delivery: invoice ${q.invoiceId} on webhook ${q.webhookId} waits behind delivery ${q.blockingDeliveryId} ` +
        `(${q.blockingType ?? 'event'}${q.blockingInvoiceId ? ` of invoice ${q.blockingInvoiceId}` : ''}, ${q.blockingAttempts} attempt(s), ` +
        `last: ${q.blockingLastError ?? 'n/a'}); BTCPay will send it once that delivery succeeds or exhausts its retries: wait, or fix the receiver`,
    );
  }
  for (const m of r.missing.filter((x) => x.state === 'never_attempted')) {
    lines.push(
      `  never attempted: ${m.type} invoice ${m.invoiceId} on webhook ${m.webhookId} (${m.why}); ` +
        'BTCPay cannot resend an event it never attempted: use hookwatch redeliver --send-missing',
    );
  }
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return lines.join('\n');
}
