// The paid_latency verdict, pure: the paid events paired with their first successful delivery, the delivery rows
// and the thresholds in; the figures, the verdict and its sentences out. No I/O, no clock.
import { describeBlocker, type Blocker } from '../../src/btcpay/blockers.ts';
import type { TrackedDelivery } from '../../src/btcpay/tracker.ts';

/** Threshold defaults; `thresholds:` in index.ts and the verdict both read these. */
export const DEFAULTS = { max_median_seconds: 300, max_undelivered_age_seconds: 300 } as const;
export type Thresholds = { [K in keyof typeof DEFAULTS]?: number };

export type Method = 'chain' | 'lightning';

/** One (paid invoice, webhook) pair and its first successful delivery, when there is one. */
export interface PaidEvent {
  invoiceId: string;
  webhookId: string;
  status: string;
  method: Method;
  paidSec: number;
  deliveredSec?: number;
  deliveryId?: string;
}

export interface LatencyInput {
  events: PaidEvent[];
  nowSec: number;
  windowSec: number;
  thresholds: Thresholds;
  /** The tracked delivery rows of each invoice (any webhook, any status). */
  rowsByInvoice: ReadonlyMap<string, readonly TrackedDelivery[]>;
  /** The delivery each webhook's queue waits behind (BTCPay still retrying it), by webhook id. */
  heads: ReadonlyMap<string, Blocker>;
  /** The webhooks subscribed to the paid events. */
  webhooks: ReadonlyArray<{ id: string; enabled: boolean }>;
  paidEvents: string[];
  /** For the redeliver command the action names. */
  redeliver: { configFile: string; probe: string };
}

export interface LatencyVerdict {
  ok: boolean;
  reason?: string;
  cause?: string;
  action?: string;
  /** Undefined without any paid event in the window. */
  medianSeconds?: number;
  undelivered: number;
  /** 0 when none. */
  oldestUndeliveredSeconds: number;
  /** For details: the oldest undelivered events with their last attempt, and the slowest deliveries. */
  oldestUndelivered: Array<Record<string, unknown>>;
  slowest: Array<Record<string, unknown>>;
}

const NEVER_ATTEMPTED =
  'none: BTCPay never attempted it (webhook disabled or unsubscribed when it was paid, or its queue lost in a restart); BTCPay cannot resend it, hookwatch redeliver --send-missing can';

export function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function evaluate(input: LatencyInput): LatencyVerdict {
  const { events, nowSec } = input;
  const maxMedian = input.thresholds.max_median_seconds ?? DEFAULTS.max_median_seconds;
  const maxAge = input.thresholds.max_undelivered_age_seconds ?? DEFAULTS.max_undelivered_age_seconds;
  // The median counts undelivered events at their current age, so it rises in an outage.
  const undelivered = events.filter((e) => e.deliveredSec === undefined);
  const samples = [
    ...events.filter((e) => e.deliveredSec !== undefined && e.paidSec >= nowSec - input.windowSec).map((e) => e.deliveredSec! - e.paidSec),
    ...undelivered.map((e) => nowSec - e.paidSec),
  ].map((x) => Math.max(0, x));
  const med = median(samples);
  const oldest = undelivered.reduce((m, e) => Math.max(m, nowSec - e.paidSec), 0);

  const problems: string[] = [];
  if (med !== undefined && med > maxMedian) problems.push(`median paid-to-delivered ${Math.round(med)} s > ${maxMedian} s over ${samples.length} paid events`);
  if (oldest > maxAge) problems.push(`${undelivered.length} paid event(s) undelivered, oldest ${Math.round(oldest)} s > ${maxAge} s`);
  const lastFailure = (e: PaidEvent) => lastFailedAttempt(input.rowsByInvoice, e);
  const verdict: LatencyVerdict = {
    ok: problems.length === 0,
    ...(med !== undefined ? { medianSeconds: med } : {}),
    undelivered: undelivered.length,
    oldestUndeliveredSeconds: oldest,
    oldestUndelivered: undelivered
      .sort((a, b) => a.paidSec - b.paidSec)
      .slice(0, 20)
      .map((e) => undeliveredView(e, lastFailure(e), input.heads.get(e.webhookId), nowSec)),
    slowest: events
      .filter((e) => e.deliveredSec !== undefined)
      .sort((a, b) => b.deliveredSec! - b.paidSec - (a.deliveredSec! - a.paidSec))
      .slice(0, 5)
      .map((e) => ({ invoiceId: e.invoiceId, webhookId: e.webhookId, seconds: e.deliveredSec! - e.paidSec, deliveryId: e.deliveryId })),
  };
  if (verdict.ok) return verdict;
  if (!input.webhooks.length) {
    return {
      ...verdict,
      reason: `${problems.join('; ')}; no webhook is subscribed to ${input.paidEvents.join(', ')}`,
      cause: 'No webhook of the store receives the paid events: create or fix one (Store settings > Webhooks).',
    };
  }
  const { configFile, probe } = input.redeliver;
  return {
    ...verdict,
    reason: problems.join('; '),
    cause: causeOf(undelivered, lastFailure, input),
    action: `Once the receiver is reachable, redeliver, dry run first: \`hookwatch redeliver --config.file ${configFile} --probe ${probe} --since 6h\` (add --apply to send).`,
  };
}

/** The newest failed attempt of a paid event's webhook for its invoice. */
function lastFailedAttempt(rows: LatencyInput['rowsByInvoice'], e: PaidEvent): TrackedDelivery | undefined {
  return (rows.get(e.invoiceId) ?? [])
    .filter((d) => d.webhookId === e.webhookId && d.status !== 'HttpSuccess')
    .sort((a, b) => b.deliveryTime - a.deliveryTime)[0];
}

function undeliveredView(e: PaidEvent, f: TrackedDelivery | undefined, blocker: Blocker | undefined, nowSec: number): Record<string, unknown> {
  const none = blocker ? `none yet: ${describeBlocker(blocker)}` : NEVER_ATTEMPTED;
  return {
    invoiceId: e.invoiceId,
    webhookId: e.webhookId,
    status: e.status,
    method: e.method,
    paidAt: e.paidSec,
    ageSeconds: nowSec - e.paidSec,
    lastAttempt: f ? { deliveryId: f.id, status: f.status, httpCode: f.httpCode, errorMessage: f.errorMessage } : none,
  };
}

/** Disabled webhook, queued behind a retry, never attempted, or failing deliveries: what ends it differs. */
function causeOf(undelivered: PaidEvent[], lastFailure: (e: PaidEvent) => TrackedDelivery | undefined, input: LatencyInput): string {
  const disabled = input.webhooks.filter((h) => !h.enabled);
  if (disabled.length) {
    return `Webhook ${disabled.map((h) => h.id).join(', ')} is disabled: BTCPay drops its events without a record, and cannot resend them later. Re-enable it; then hookwatch redeliver --send-missing posts the paid events it never attempted (hookwatch redeliver handles the failed ones).`;
  }
  const noRow = undelivered.filter((e) => !lastFailure(e));
  const queued = noRow.filter((e) => input.heads.has(e.webhookId));
  if (queued.length && queued.length === noRow.length && noRow.length === undelivered.length) {
    return `Paid events are queued behind a delivery BTCPay is still retrying (${describeBlocker(input.heads.get(queued[0]!.webhookId)!)}). They will go out once it succeeds or exhausts its retries; fixing the receiver is what helps.`;
  }
  if (noRow.length === undelivered.length && undelivered.length) {
    return 'Paid events have no delivery attempt and nothing is queued ahead of them: the webhook was disabled or unsubscribed when they were paid, or BTCPay restarted and lost its queue. BTCPay cannot resend them: use hookwatch redeliver --send-missing.';
  }
  return 'Deliveries of paid events fail or wait behind retries: check the receiver (see delivery_rate failure reasons), then run hookwatch redeliver.';
}
