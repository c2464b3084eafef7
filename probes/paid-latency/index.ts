// paid_latency: time from an invoice's paid event to its first successful webhook delivery. The set of paid
// events comes from the invoices (the truth), so an event BTCPay never attempted (disabled webhook, queue lost
// in a restart) still counts as undelivered. Gather (webhooks, paid invoices, the delivery log), pair each paid
// event with its first successful delivery (state), evaluate (evaluate.ts, pure), export (metrics.ts). See README.md.
import { perStore } from '../../src/btcpay/stores.ts';
import { z } from 'zod';
import { defineProbe, type ProbeContext, type ProbeResult } from '../../src/probe/types.ts';
import { duration } from '../../src/config/schema-helpers.ts';
import { btcpaySource, clientFromSource, sourceKey, type BtcpaySource } from '../../src/btcpay/source.ts';
import { destinationHosts } from '../../src/btcpay/destinations.ts';
import { POLICIES } from '../../src/btcpay/permissions.ts';
import { missingForSource, pollFailure } from '../../src/btcpay/permission-check.ts';
import { isPaid, paidEventTypes, paidStatuses, type PaidRules } from '../../src/btcpay/invoices.ts';
import { subscribesToAny } from '../../src/btcpay/subscriptions.ts';
import { getConfiguredWebhook } from '../../src/btcpay/webhook-lookup.ts';
import { retryingHeads } from '../../src/btcpay/blockers.ts';
import { DEFAULT_MAX_WEBHOOKS, MAX_DETAIL_ITEMS, tooManyWebhooks } from '../../src/btcpay/limits.ts';
import type { BtcpayClient } from '../../src/clients/btcpay/client.ts';
import type { Invoice, Webhook } from '../../src/clients/btcpay/schemas.ts';
import type { MetricSet } from '../../src/metrics/run-metrics.ts';
import type { PollResult, TrackedDelivery } from '../../src/btcpay/tracker.ts';
import { readerFor } from '../../src/btcpay/shared-log.ts';
import { sharedRead } from '../../src/btcpay/shared-read.ts';
import { DEFAULTS, evaluate, type LatencyVerdict, type Method, type PaidEvent } from './evaluate.ts';
import { fillMeta } from './payment-methods.ts';
import { addDelivery, capState, deliveredTo, doneFor, forgetOld, markDone, stateOf, type PaidState, type TrackedInvoice } from './state.ts';
import { METRICS } from './metrics.ts';

const DEFAULT_WINDOW_MS = 60 * 60_000;
const DEFAULT_LOOKBACK_MS = 24 * 60 * 60_000;
const DEFAULT_HORIZON_MS = 75 * 60_000;
const NO_WEBHOOK = '(no webhook subscribed)';

const schema = z.strictObject({
  source: z.string().min(1).describe('Name of a btcpay source'),
  webhookId: z.string().min(1).optional().describe('One webhook; default: every webhook subscribed to a paid event'),
  paidEvents: z.array(z.string().min(1)).min(1).optional().describe('Event types that announce a payment (default [InvoiceSettled])'),
  window: duration().optional().describe('Window of the median (default 1h)'),
  invoiceLookback: duration()
    .optional()
    .describe('How long an undelivered paid event is tracked, and how far before the window an invoice may have been created (default 24h)'),
  includePaidLate: z.boolean().optional().describe('Count Expired+PaidLate invoices as paid (default true)'),
  backlogHorizon: duration().optional().describe('How far back to re-read deliveries while they fail or queue (default 75m)'),
  maxWebhooks: z.number().int().min(1).max(10_000).optional().describe('Fail instead of watching more webhooks than this (default 100; bounds list calls)'),
});
type Probe = z.infer<typeof schema> & { name: string; timeoutMs: number; thresholds: Record<string, number> };
type Metrics = MetricSet<typeof METRICS>;
type Ctx = Omit<ProbeContext, 'metrics'> & { metrics: Metrics };

/** The probe's settings with their defaults, in seconds. */
interface Settings {
  windowSec: number;
  lookbackSec: number;
  horizonSec: number;
  paidEvents: string[];
  rules: PaidRules;
}

// perStore: with `storeId: all` (or a list) on the source, this runs once per store (src/btcpay/stores.ts).
export const paidLatency = perStore(
  defineProbe({
    type: 'paid_latency',
    runbook: 'HookwatchPaidEventUndelivered',
    schema,
    metrics: METRICS,
    thresholds: {
      max_median_seconds: { default: DEFAULTS.max_median_seconds, help: 'Fail (page) when the median paid-to-delivered time exceeds this' },
      max_undelivered_age_seconds: {
        default: DEFAULTS.max_undelivered_age_seconds,
        help: 'Fail when a paid event has waited longer than this without a successful delivery',
      },
    },
    sources: { source: ['btcpay'] },
    redeliveryScope: (p) => ({ webhookId: p.webhookId, paidEvents: p.paidEvents }),
    // A source may watch several stores (storeId: all or a list): this kind runs once per store.
    multiStore: true,
    async run(probe, ctx) {
      const src = btcpaySource(ctx, probe.source);
      if (typeof src === 'string') return { ok: false, reason: src, cause: 'Fix the configuration: the probe needs a btcpay source.' };
      const client = clientFromSource(src, probe.timeoutMs);
      const st = stateOf(ctx.state);
      try {
        return await watch(probe, ctx, src, client, st);
      } catch (e) {
        return apiFailure(e, ctx, src, st);
      }
    },
  }),
);

function settingsOf(probe: Probe): Settings {
  const paidEvents = probe.paidEvents ?? ['InvoiceSettled'];
  return {
    windowSec: Math.ceil((probe.window ?? DEFAULT_WINDOW_MS) / 1000),
    lookbackSec: Math.ceil((probe.invoiceLookback ?? DEFAULT_LOOKBACK_MS) / 1000),
    horizonSec: Math.ceil((probe.backlogHorizon ?? DEFAULT_HORIZON_MS) / 1000),
    paidEvents,
    rules: { paidEvents, ...(probe.includePaidLate === false ? { includePaidLate: false } : {}) },
  };
}

/** One poll: permissions (once), webhooks, paid invoices, the delivery log; pairing; then the verdict and its export. */
async function watch(probe: Probe, ctx: Ctx, src: BtcpaySource, client: BtcpayClient, st: PaidState): Promise<ProbeResult> {
  const refused = await checkPermissions(st, src, client, ctx.signal);
  if (refused) return refused;
  const set = settingsOf(probe);
  const nowSec = Math.floor(ctx.now() / 1000);
  const baseline = st.lastPollSec === undefined;
  const hooks = await paidWebhooks(probe, client, set.paidEvents, ctx.signal);
  const maxHooks = probe.maxWebhooks ?? DEFAULT_MAX_WEBHOOKS;
  if (hooks.length > maxHooks)
    return { ok: false, ...tooManyWebhooks(hooks.length, maxHooks, src.storeId), details: { storeId: src.storeId, webhooks: hooks.length } };
  for (const host of destinationHosts(hooks.map((h) => h.url))) ctx.metrics.gauge('webhook_destination_info', { destination: host }, 1);

  const listed = await listPaidInvoices(st, src, client, set, nowSec, ctx);
  const invoices = listed.invoices.filter((i) => isPaid(i, set.rules));
  // Invoices already delivered everywhere and out of the window are only counted (state.ts, PaidState.done); another
  // probe with the same settings may have marked one done since this probe's last poll: its record goes.
  const done = doneFor(st, doneSignature(src, probe, set));
  const open: Invoice[] = [];
  for (const i of invoices) {
    if (!done.has(i.id)) open.push(i);
    else st.invoices.delete(i.id);
  }
  const poll = await pollDeliveries(st, src, client, hooks, set, nowSec, ctx.signal);
  const hookIds = new Set(hooks.map((h) => h.id));
  // The store's log is shared: other probes' webhooks may be in it.
  const rows = [...st.reader!.tracker.rows.values()].filter((d) => hookIds.has(d.webhookId));
  const rowsByInvoice = rowsByInvoiceOf(rows);
  // Both histogram series exist from the first run, for dashboards and the golden file.
  for (const method of ['chain', 'lightning'] as const) ctx.metrics.zero('paid_to_delivered_seconds', { method });
  const metaCalls = await fillMeta(client, st, open, ctx.signal);
  // No webhook for the paid events at all: every paid invoice is undelivered, against a placeholder.
  const targets = hooks.length ? hooks.map((h) => h.id) : [NO_WEBHOOK];
  const { events, observed } = pairEvents(st, open, rowsByInvoice, targets, set.rules, nowSec, hooks.length ? nowSec - set.windowSec : undefined);
  // Observed once per event and webhook; a restart's first poll rebuilds without observing again.
  if (!baseline) for (const o of observed) ctx.metrics.observe('paid_to_delivered_seconds', { method: o.method }, o.seconds);
  forgetOld(st, nowSec - set.windowSec - set.lookbackSec - 3600, new Set(invoices.map((i) => i.id)));
  capState(st);
  st.lastPollSec = nowSec;

  const v = evaluate({
    events,
    nowSec,
    windowSec: set.windowSec,
    thresholds: probe.thresholds,
    rowsByInvoice,
    heads: retryingHeads(rows, nowSec),
    webhooks: hooks,
    paidEvents: set.paidEvents,
    redeliver: { configFile: ctx.config.file, probe: probe.name },
  });
  exportFigures(ctx.metrics, v);
  const doneEvents = (invoices.length - open.length) * targets.length;
  const details = detailsOf(v, events, {
    storeId: src.storeId,
    windowSec: set.windowSec,
    hooks,
    poll,
    baseline,
    invoices: invoices.length,
    doneEvents,
    metaCalls,
    listed,
  });
  if (v.ok) return { ok: true, details };
  return { ok: false, reason: v.reason, cause: v.cause, ...(v.action ? { action: v.action } : {}), details };
}

/** What decides which invoices are done (state.ts, doneFor): probes that agree on all of it share one set. */
function doneSignature(src: BtcpaySource, probe: Probe, set: Settings): string {
  const rules = `${set.paidEvents.join(',')}|${probe.includePaidLate === false ? 'no-paid-late' : 'paid-late'}`;
  return `${sourceKey(src, src.storeId)}|${probe.webhookId ?? '*'}|${rules}|${set.windowSec}|${set.lookbackSec}`;
}

/** Invoices and delivery logs; checked once, until BTCPay refuses a call. */
async function checkPermissions(st: PaidState, src: BtcpaySource, client: BtcpayClient, signal: AbortSignal): Promise<ProbeResult | undefined> {
  if (st.permissionsOk) return undefined;
  const missing = await missingForSource(src, client, [POLICIES.modifyWebhooks, POLICIES.viewInvoices], { signal });
  if (missing.length) {
    return {
      ok: false,
      reason: `the API key lacks ${missing.join(', ')} on store ${src.storeId}`,
      cause:
        'paid_latency reads invoices (btcpay.store.canviewinvoices) and delivery logs (btcpay.store.webhooks.canmodifywebhooks); create a key scoped to this store.',
      details: { missingPermissions: missing },
    };
  }
  st.permissionsOk = true;
  return undefined;
}

/** The configured webhook, or every webhook subscribed to a paid event. */
async function paidWebhooks(probe: Probe, client: BtcpayClient, paidEvents: string[], signal: AbortSignal): Promise<Webhook[]> {
  if (probe.webhookId) return [await getConfiguredWebhook(client, probe.webhookId, { signal })];
  return (await client.listWebhooks({ signal })).filter((h) => subscribesToAny(h, paidEvents));
}

/**
 * Paid invoices: the truth, whether or not BTCPay ever attempted a delivery. Bounded read, newest first: on a store
 * past the page cap the oldest invoices are left out (and said so) rather than failing every poll for good.
 * includePaymentMethods embeds each invoice's payments: no per-invoice call on 2.x servers.
 */
async function listPaidInvoices(
  st: PaidState,
  src: BtcpaySource,
  client: BtcpayClient,
  set: Settings,
  nowSec: number,
  ctx: Pick<ProbeContext, 'log' | 'signal'>,
) {
  const status = paidStatuses(set.rules);
  const startDate = nowSec - set.windowSec - set.lookbackSec;
  // Other paid_latency probes on this store may have just read the same list (shared-read.ts).
  const { value, shared } = await sharedRead(
    `${sourceKey(src, src.storeId)}|paid-invoices|${[status].flat().join(',')}`,
    st.invoiceTicket,
    { nowSec, fromSec: startDate },
    () => client.listInvoicesBounded({ status, startDate, includePaymentMethods: true }, { signal: ctx.signal }),
  );
  const listed = shared ? { ...value, invoices: value.invoices.filter((i) => i.createdTime >= startDate) } : value;
  if (listed.truncated)
    ctx.log.warn(
      { pages: listed.pages, pageSize: listed.pageSize },
      'paid_latency: invoice list truncated at the page cap; the oldest paid invoices are not judged',
    );
  return listed;
}

/** Deliveries, incrementally; bodies say which invoice and event each row is. */
async function pollDeliveries(
  st: PaidState,
  src: BtcpaySource,
  client: BtcpayClient,
  hooks: Webhook[],
  set: Settings,
  nowSec: number,
  signal: AbortSignal,
): Promise<PollResult> {
  st.coverageSec ??= nowSec - Math.max(set.windowSec + 300, set.horizonSec);
  st.reader = readerFor(src, st.reader);
  return st.reader.poll(
    client,
    hooks.map((h) => h.id),
    { nowSec, windowSec: set.windowSec + 300, horizonSec: set.horizonSec, signal },
  );
}

function rowsByInvoiceOf(rows: readonly TrackedDelivery[]): Map<string, TrackedDelivery[]> {
  const byInvoice = new Map<string, TrackedDelivery[]>();
  for (const d of rows) {
    if (typeof d.info !== 'object' || !d.info.invoiceId) continue;
    const l = byInvoice.get(d.info.invoiceId);
    if (l) l.push(d);
    else byInvoice.set(d.info.invoiceId, [d]);
  }
  return byInvoice;
}

/**
 * Pair every (paid invoice, webhook) with its first successful delivery of a paid event type, remembered in state.
 * `observed`: the pairs delivered since the last poll, with their paid-to-delivered time. An invoice delivered to
 * every target and paid before `doneBeforeSec` is marked done: later polls only count it.
 */
function pairEvents(
  st: PaidState,
  invoices: Invoice[],
  byInvoice: ReadonlyMap<string, TrackedDelivery[]>,
  targets: string[],
  rules: PaidRules,
  nowSec: number,
  doneBeforeSec: number | undefined,
): { events: PaidEvent[]; observed: Array<{ method: Method; seconds: number }> } {
  const events: PaidEvent[] = [];
  const observed: Array<{ method: Method; seconds: number }> = [];
  for (const inv of invoices) {
    const types = paidEventTypes(inv, rules);
    const rows = (byInvoice.get(inv.id) ?? []).filter((d) => typeof d.info === 'object' && types.includes(d.info.type));
    const t = st.invoices.get(inv.id)!;
    if (t.firstSeenSec === undefined) {
      t.firstSeenSec = nowSec;
      t.afterPoll = st.lastPollSec;
    }
    const paidSec = paidTime(inv, rows, t);
    // Paid before the delivery log this process has read: a success may exist that we never saw, so
    // out of scope rather than a false "undelivered" after every restart.
    if (paidSec < st.coverageSec! && !rows.length && t.hook === undefined) continue;
    let everywhere = true;
    for (const wid of targets) {
      const ok = rows.filter((d) => d.webhookId === wid && d.status === 'HttpSuccess').sort((a, b) => a.deliveryTime - b.deliveryTime)[0];
      let done = deliveredTo(t, wid);
      if (!done && ok) {
        done = { webhookId: wid, sec: ok.deliveryTime, id: ok.id };
        addDelivery(t, done);
        observed.push({ method: t.method, seconds: Math.max(0, done.sec - paidSec) });
      }
      const ev: PaidEvent = {
        invoiceId: inv.id,
        webhookId: wid,
        status: inv.additionalStatus === 'PaidLate' ? 'Expired/PaidLate' : inv.status,
        method: t.method,
        paidSec,
      };
      if (done) Object.assign(ev, { deliveredSec: done.sec, deliveryId: done.id });
      else everywhere = false;
      events.push(ev);
    }
    if (everywhere && doneBeforeSec !== undefined && paidSec < doneBeforeSec) markDone(st, inv.id, t);
  }
  return { events, observed };
}

/** No median without a paid event in the window. */
function exportFigures(m: Metrics, v: LatencyVerdict): void {
  if (v.medianSeconds !== undefined) m.gauge('paid_to_delivered_median_seconds', {}, v.medianSeconds);
  m.gauge('undelivered_paid_events', {}, v.undelivered);
  m.gauge('oldest_undelivered_paid_event_age_seconds', {}, v.oldestUndeliveredSeconds);
}

function detailsOf(
  v: LatencyVerdict,
  events: PaidEvent[],
  o: {
    storeId: string;
    windowSec: number;
    hooks: Webhook[];
    poll: PollResult;
    baseline: boolean;
    invoices: number;
    /** Paid events of invoices marked done (delivered, before the window): counted, not judged again. */
    doneEvents: number;
    metaCalls: number;
    listed: { truncated: boolean };
  },
): Record<string, unknown> {
  const { poll } = o;
  return {
    storeId: o.storeId,
    window: `${o.windowSec}s`,
    paidEvents: events.length + o.doneEvents,
    delivered: events.length + o.doneEvents - v.undelivered,
    medianSeconds: v.medianSeconds ?? null,
    undelivered: v.oldestUndelivered,
    slowest: v.slowest,
    webhooks: o.hooks.slice(0, MAX_DETAIL_ITEMS).map((h) => ({ id: h.id, enabled: h.enabled })),
    ...(poll.futureRows ? { futureRowsRejected: poll.futureRows, futureMaxAheadSeconds: poll.futureMaxAheadSec } : {}),
    poll: {
      baseline: o.baseline,
      invoices: o.invoices,
      ...(poll.shared ? { shared: true } : {}),
      newRows: poll.fresh.length,
      listCalls: poll.listCalls,
      bodyCalls: poll.bodyCalls,
      paymentMethodCalls: o.metaCalls,
      truncated: poll.truncated,
      invoicesTruncated: o.listed.truncated,
    },
  };
}

function apiFailure(e: unknown, ctx: Pick<ProbeContext, 'log'>, src: BtcpaySource, st: PaidState): ProbeResult {
  const { reason, cause } = pollFailure(e, src, { checked: st.permissionsOk, forget: () => (st.permissionsOk = false) });
  ctx.log.warn({ err: reason }, 'paid_latency poll failed');
  return { ok: false, reason, cause };
}

/**
 * When the invoice became paid. The invoice has no paid-at field (docs/btcpay-greenfield.md §7), so: the event's own
 * timestamp from any delivery body of a paid event; else, for an invoice that turned paid between two polls,
 * no earlier than the previous poll; else the last payment's receipt time, or creation for zero amounts.
 */
function paidTime(inv: Invoice, rows: TrackedDelivery[], t: TrackedInvoice): number {
  const fromEvent = rows.map((d) => (typeof d.info === 'object' ? d.info.eventTimestamp : undefined)).filter((x): x is number => x !== undefined);
  if (fromEvent.length) return Math.min(...fromEvent);
  const base = t.lastPaymentSec ?? inv.createdTime;
  return t.afterPoll !== undefined ? Math.max(base, t.afterPoll) : base;
}
