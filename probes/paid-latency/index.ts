// paid_latency: time from an invoice's paid event to its first successful webhook delivery. The set of paid
// events comes from the invoices (the truth), so an event BTCPay never attempted (disabled webhook, queue lost
// in a restart) still counts as undelivered. See README.md.
import type { Histogram } from 'prom-client';
import { perStore } from '../../src/btcpay/stores.ts';
import { z } from 'zod';
import { defineProbe, type ProbeContext } from '../../src/probe/types.ts';
import { duration } from '../../src/config/schema-helpers.ts';
import { btcpaySource, clientFromSource, explainApiError, exportDestinations } from '../../src/btcpay/source.ts';
import { POLICIES } from '../../src/btcpay/permissions.ts';
import { forgetPermissions, missingForSource } from '../../src/btcpay/permission-check.ts';
import { isPaid, paidEventTypes, paidStatuses } from '../../src/btcpay/invoices.ts';
import { subscribesToAny } from '../../src/btcpay/subscriptions.ts';
import { getConfiguredWebhook } from '../../src/btcpay/webhook-lookup.ts';
import { describeBlocker, retryingHeads } from '../../src/btcpay/blockers.ts';
import { DEFAULT_MAX_WEBHOOKS, MAX_DETAIL_ITEMS, MAX_TRACKED_INVOICES, tooManyWebhooks } from '../../src/btcpay/limits.ts';
import { BtcpayError, type BtcpayClient } from '../../src/clients/btcpay/client.ts';
import type { Invoice } from '../../src/clients/btcpay/schemas.ts';
import { DeliveryTracker, type TrackedDelivery } from '../../src/btcpay/tracker.ts';
import { forEachLimited } from '../../src/limited.ts';

const DEFAULT_WINDOW_MS = 60 * 60_000;
const DEFAULT_LOOKBACK_MS = 24 * 60 * 60_000;
const NO_WEBHOOK = '(no webhook subscribed)';

type Method = 'chain' | 'lightning';
interface InvoiceMeta {
  method: Method;
  /** Receipt time of the last payment (unix s), absent for zero-amount invoices. */
  lastPaymentSec?: number;
}
interface PaidEvent {
  invoiceId: string;
  webhookId: string;
  status: string;
  method: Method;
  paidSec: number;
  deliveredSec?: number;
  deliveryId?: string;
}

// perStore: with `storeId: all` (or a list) on the source, this runs once per store (src/btcpay/stores.ts).
export const paidLatency = perStore(
  defineProbe({
    type: 'paid_latency',
    runbook: 'HookwatchPaidEventUndelivered',
    schema: z.strictObject({
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
    }),
    thresholds: {
      max_median_seconds: { default: 300, help: 'Fail (page) when the median paid-to-delivered time exceeds this' },
      max_undelivered_age_seconds: { default: 300, help: 'Fail when a paid event has waited longer than this without a successful delivery' },
    },
    sources: { source: ['btcpay'] },
    redeliveryScope: (p) => ({ webhookId: p.webhookId, paidEvents: p.paidEvents }),
    // A source may watch several stores (storeId: all or a list): this kind runs once per store.
    multiStore: true,
    async run(probe, ctx) {
      const maxMedian = probe.thresholds?.max_median_seconds ?? 300;
      const maxAge = probe.thresholds?.max_undelivered_age_seconds ?? 300;
      const windowSec = Math.ceil((probe.window ?? DEFAULT_WINDOW_MS) / 1000);
      const lookbackSec = Math.ceil((probe.invoiceLookback ?? DEFAULT_LOOKBACK_MS) / 1000);
      const paidEvents = probe.paidEvents ?? ['InvoiceSettled'];
      const src = btcpaySource(ctx, probe.source);
      if (typeof src === 'string') return { ok: false, reason: src, cause: 'Fix the configuration: the probe needs a btcpay source.' };
      const client = clientFromSource(src, probe.timeoutMs);
      const signal = ctx.signal;
      const st = stateOf(ctx);

      try {
        if (!st.permissionsOk) {
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
        }
        const nowSec = Math.floor(ctx.now() / 1000);
        const baseline = st.lastPollSec === undefined;
        const hooks = probe.webhookId
          ? [await getConfiguredWebhook(client, probe.webhookId, { signal })]
          : (await client.listWebhooks({ signal })).filter((h) => subscribesToAny(h, paidEvents));
        const maxHooks = probe.maxWebhooks ?? DEFAULT_MAX_WEBHOOKS;
        if (hooks.length > maxHooks)
          return { ok: false, ...tooManyWebhooks(hooks.length, maxHooks, src.storeId), details: { storeId: src.storeId, webhooks: hooks.length } };
        exportDestinations(
          ctx,
          hooks.map((h) => h.url),
        );

        // 1. Paid invoices: the truth, whether or not BTCPay ever attempted a delivery.
        const rules = { paidEvents, ...(probe.includePaidLate === false ? { includePaidLate: false } : {}) };
        const statuses = paidStatuses(rules);
        // Bounded read, newest first: on a store past the page cap the oldest invoices are left out (and said so)
        // rather than failing every poll for good.
        // includePaymentMethods embeds each invoice's payments: no per-invoice call on 2.x servers.
        const listed = await client.listInvoicesBounded(
          { status: statuses, startDate: nowSec - windowSec - lookbackSec, includePaymentMethods: true },
          { signal },
        );
        if (listed.truncated)
          ctx.log.warn(
            { pages: listed.pages, pageSize: listed.pageSize },
            'paid_latency: invoice list truncated at the page cap; the oldest paid invoices are not judged',
          );
        const invoices = listed.invoices.filter((i) => isPaid(i, rules));

        // 2. Deliveries, incrementally; bodies say which invoice and event each row is.
        const horizonSec = Math.ceil((probe.backlogHorizon ?? 75 * 60_000) / 1000);
        st.coverageSec ??= nowSec - Math.max(windowSec + 300, horizonSec);
        // No webhook for the paid events at all: every paid invoice is undelivered, against a placeholder.
        const targets = hooks.length ? hooks.map((h) => h.id) : [NO_WEBHOOK];
        const poll = await st.tracker.poll(
          client,
          hooks.map((h) => h.id),
          { nowSec, windowSec: windowSec + 300, horizonSec, signal },
        );
        const byInvoice = new Map<string, TrackedDelivery[]>();
        for (const d of st.tracker.rows.values()) {
          if (typeof d.info !== 'object' || !d.info.invoiceId) continue;
          const l = byInvoice.get(d.info.invoiceId);
          if (l) l.push(d);
          else byInvoice.set(d.info.invoiceId, [d]);
        }

        // Make both histogram series exist so dashboards and the golden file see them from the first run.
        for (const m of ['chain', 'lightning']) await touchHistogram(ctx, m);

        // 3. Pair every (paid invoice, webhook) with its first successful delivery of a paid event type.
        const events: PaidEvent[] = [];
        // Payment methods once per invoice (cached); the first poll after a start may need hundreds: in parallel, bounded.
        const needMeta: Invoice[] = [];
        for (const inv of invoices) {
          if (st.meta.has(inv.id)) continue;
          const m = metaFromList(inv);
          if (m) st.meta.set(inv.id, m);
          else needMeta.push(inv);
        }
        const metaCalls = await fetchMeta(client, st, needMeta, META_CONCURRENCY, signal);
        // Invoices with a delivery already paired, for the coverage test below (one pass, not one per invoice).
        const pairedInvoices = new Set<string>();
        for (const k of st.delivered.keys()) pairedInvoices.add(k.slice(0, k.indexOf('|')));
        for (const inv of invoices) {
          const types = paidEventTypes(inv, rules);
          const rows = (byInvoice.get(inv.id) ?? []).filter((d) => typeof d.info === 'object' && types.includes(d.info.type));
          const meta = st.meta.get(inv.id)!;
          if (!st.firstSeen.has(inv.id)) st.firstSeen.set(inv.id, { sec: nowSec, afterPoll: st.lastPollSec });
          const paidSec = paidTime(inv, rows, meta, st.firstSeen.get(inv.id)!.afterPoll);
          // Paid before the delivery log this process has read: a success may exist that we never saw, so
          // out of scope rather than a false "undelivered" after every restart.
          if (paidSec < st.coverageSec && !rows.length && !pairedInvoices.has(inv.id)) continue;
          for (const wid of targets) {
            const key = `${inv.id}|${wid}`;
            const ok = rows.filter((d) => d.webhookId === wid && d.status === 'HttpSuccess').sort((a, b) => a.deliveryTime - b.deliveryTime)[0];
            let done = st.delivered.get(key);
            if (!done && ok) {
              done = { sec: ok.deliveryTime, id: ok.id };
              st.delivered.set(key, done);
              // Observe once per event and webhook; a restart's first poll rebuilds without observing again.
              if (!baseline) ctx.metrics.observe('paid_to_delivered_seconds', { method: meta.method }, Math.max(0, done.sec - paidSec));
            }
            const ev: PaidEvent = {
              invoiceId: inv.id,
              webhookId: wid,
              status: inv.additionalStatus === 'PaidLate' ? 'Expired/PaidLate' : inv.status,
              method: meta.method,
              paidSec,
            };
            if (done) Object.assign(ev, { deliveredSec: done.sec, deliveryId: done.id });
            events.push(ev);
          }
        }
        forgetOld(st, nowSec - windowSec - lookbackSec - 3600, new Set(invoices.map((i) => i.id)));
        capState(st);
        st.lastPollSec = nowSec;

        // 4. Figures: the median counts undelivered events at their current age, so it rises in an outage.
        const undelivered = events.filter((e) => e.deliveredSec === undefined);
        const samples = [
          ...events.filter((e) => e.deliveredSec !== undefined && e.paidSec >= nowSec - windowSec).map((e) => e.deliveredSec! - e.paidSec),
          ...undelivered.map((e) => nowSec - e.paidSec),
        ].map((x) => Math.max(0, x));
        const med = median(samples);
        const oldest = undelivered.reduce((m, e) => Math.max(m, nowSec - e.paidSec), 0);
        if (med === undefined) ctx.metrics.clear('paid_to_delivered_median_seconds');
        else ctx.metrics.set('paid_to_delivered_median_seconds', {}, med);
        ctx.metrics.set('undelivered_paid_events', {}, undelivered.length);
        ctx.metrics.set('oldest_undelivered_paid_event_age_seconds', {}, oldest);

        const problems: string[] = [];
        if (med !== undefined && med > maxMedian)
          problems.push(`median paid-to-delivered ${Math.round(med)} s > ${maxMedian} s over ${samples.length} paid events`);
        if (oldest > maxAge) problems.push(`${undelivered.length} paid event(s) undelivered, oldest ${Math.round(oldest)} s > ${maxAge} s`);
        const lastFailure = (e: PaidEvent) =>
          (byInvoice.get(e.invoiceId) ?? [])
            .filter((d) => d.webhookId === e.webhookId && d.status !== 'HttpSuccess')
            .sort((a, b) => b.deliveryTime - a.deliveryTime)[0];
        const heads = retryingHeads(st.tracker.rows.values(), nowSec);
        const details = {
          storeId: src.storeId,
          window: `${windowSec}s`,
          paidEvents: events.length,
          delivered: events.length - undelivered.length,
          medianSeconds: med ?? null,
          undelivered: undelivered
            .sort((a, b) => a.paidSec - b.paidSec)
            .slice(0, 20)
            .map((e) => {
              const f = lastFailure(e);
              const blocker = heads.get(e.webhookId);
              const none = blocker
                ? `none yet: ${describeBlocker(blocker)}`
                : 'none: BTCPay never attempted it (webhook disabled or unsubscribed when it was paid, or its queue lost in a restart); BTCPay cannot resend it, hookwatch redeliver --send-missing can';
              return {
                invoiceId: e.invoiceId,
                webhookId: e.webhookId,
                status: e.status,
                method: e.method,
                paidAt: e.paidSec,
                ageSeconds: nowSec - e.paidSec,
                lastAttempt: f ? { deliveryId: f.id, status: f.status, httpCode: f.httpCode, errorMessage: f.errorMessage } : none,
              };
            }),
          slowest: events
            .filter((e) => e.deliveredSec !== undefined)
            .sort((a, b) => b.deliveredSec! - b.paidSec - (a.deliveredSec! - a.paidSec))
            .slice(0, 5)
            .map((e) => ({ invoiceId: e.invoiceId, webhookId: e.webhookId, seconds: e.deliveredSec! - e.paidSec, deliveryId: e.deliveryId })),
          webhooks: hooks.slice(0, MAX_DETAIL_ITEMS).map((h) => ({ id: h.id, enabled: h.enabled })),
          ...(poll.futureRows ? { futureRowsRejected: poll.futureRows, futureMaxAheadSeconds: poll.futureMaxAheadSec } : {}),
          poll: {
            baseline,
            invoices: invoices.length,
            newRows: poll.fresh.length,
            listCalls: poll.listCalls,
            bodyCalls: poll.bodyCalls,
            paymentMethodCalls: metaCalls,
            truncated: poll.truncated,
            invoicesTruncated: listed.truncated,
          },
        };
        if (!problems.length) return { ok: true, details };
        const disabled = hooks.filter((h) => !h.enabled);
        if (!hooks.length)
          return {
            ok: false,
            reason: `${problems.join('; ')}; no webhook is subscribed to ${paidEvents.join(', ')}`,
            cause: 'No webhook of the store receives the paid events: create or fix one (Store settings > Webhooks).',
            details,
          };
        const noRow = undelivered.filter((e) => !lastFailure(e));
        const queued = noRow.filter((e) => heads.has(e.webhookId));
        const cause = disabled.length
          ? `Webhook ${disabled.map((h) => h.id).join(', ')} is disabled: BTCPay drops its events without a record, and cannot resend them later. Re-enable it; then hookwatch redeliver --send-missing posts the paid events it never attempted (hookwatch redeliver handles the failed ones).`
          : queued.length && queued.length === noRow.length && noRow.length === undelivered.length
            ? `Paid events are queued behind a delivery BTCPay is still retrying (${describeBlocker(heads.get(queued[0]!.webhookId)!)}). They will go out once it succeeds or exhausts its retries; fixing the receiver is what helps.`
            : noRow.length === undelivered.length && undelivered.length
              ? 'Paid events have no delivery attempt and nothing is queued ahead of them: the webhook was disabled or unsubscribed when they were paid, or BTCPay restarted and lost its queue. BTCPay cannot resend them: use hookwatch redeliver --send-missing.'
              : 'Deliveries of paid events fail or wait behind retries: check the receiver (see delivery_rate failure reasons), then run hookwatch redeliver.';
        const action = `Once the receiver is reachable, redeliver, dry run first: \`hookwatch redeliver --config.file ${ctx.config.file} --probe ${probe.name} --since 6h\` (add --apply to send).`;
        return { ok: false, reason: problems.join('; '), cause, action, details };
      } catch (e) {
        const keyChecked = st.permissionsOk;
        if (e instanceof BtcpayError && e.kind === 'permission') {
          st.permissionsOk = false;
          forgetPermissions(src);
        }
        const { reason, cause } = explainApiError(e, { keyChecked });
        ctx.log.warn({ err: reason }, 'paid_latency poll failed');
        return { ok: false, reason, cause };
      }
    },
  }),
);

interface PaidState {
  tracker: DeliveryTracker;
  permissionsOk: boolean;
  lastPollSec?: number;
  /** Oldest row time the first poll of this state read: older paid events cannot be judged. */
  coverageSec?: number;
  meta: Map<string, InvoiceMeta>;
  /** When an invoice was first seen paid, and the poll before that (it became paid after it). */
  firstSeen: Map<string, { sec: number; afterPoll?: number }>;
  delivered: Map<string, { sec: number; id: string }>;
}

function stateOf(ctx: ProbeContext): PaidState {
  let s = ctx.state.get('paid') as PaidState | undefined;
  if (!s) ctx.state.set('paid', (s = { tracker: new DeliveryTracker(), permissionsOk: false, meta: new Map(), firstSeen: new Map(), delivered: new Map() }));
  return s;
}

/** Bound what a store with a flood of (or fresh fake) invoices can make us remember: the oldest go first. */
function capState(st: PaidState): void {
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

function forgetOld(st: PaidState, beforeSec: number, current: Set<string>): void {
  for (const [id, f] of st.firstSeen)
    if (!current.has(id) && f.sec < beforeSec) {
      st.firstSeen.delete(id);
      st.meta.delete(id);
    }
  for (const [k, d] of st.delivered) if (!current.has(k.split('|')[0]!) && d.sec < beforeSec) st.delivered.delete(k);
}

function family(pmId: string | null | undefined): Method {
  return /LN|LNURL|Lightning/i.test(pmId ?? '') ? 'lightning' : 'chain';
}

/** Payment-method calls in flight at once on a poll that needs many (first poll after a start). */
const META_CONCURRENCY = 8;

/** Fill st.meta for `todo` with at most `concurrency` calls at once; stops at the first failure or abort. */
async function fetchMeta(client: BtcpayClient, st: PaidState, todo: Invoice[], concurrency: number, signal: AbortSignal): Promise<number> {
  const calls = await forEachLimited(todo, concurrency, async (inv) => void st.meta.set(inv.id, await invoiceMeta(client, inv, signal)), signal);
  if (signal.aborted && todo.some((i) => !st.meta.has(i.id))) throw new BtcpayError('payment methods: aborted', 'timeout');
  return calls;
}

async function invoiceMeta(client: BtcpayClient, inv: Invoice, signal: AbortSignal): Promise<InvoiceMeta> {
  return metaOf(inv, await client.invoicePaymentMethods(inv.id, { signal }));
}

/**
 * Meta from the payment methods the list embedded. undefined when the list carried none for an invoice that must
 * have some (a server older than includePaymentMethods): the caller asks per invoice. A zero-amount invoice
 * legitimately has none.
 */
function metaFromList(inv: Invoice): InvoiceMeta | undefined {
  if (inv.paymentMethods?.length) return metaOf(inv, inv.paymentMethods);
  return inv.type !== 'TopUp' && Number(inv.amount) === 0 ? metaOf(inv, []) : undefined;
}

function metaOf(inv: Invoice, pms: Array<{ paymentMethodId: string; payments: Array<{ receivedDate: number }> }>): InvoiceMeta {
  const paid = pms.filter((p) => p.payments.length > 0);
  const lastPaymentSec = paid
    .flatMap((p) => p.payments.map((x) => x.receivedDate))
    .reduce<number | undefined>((m, x) => (m === undefined || x > m ? x : m), undefined);
  const method = family(paid[0]?.paymentMethodId ?? inv.checkout?.defaultPaymentMethod ?? inv.checkout?.paymentMethods?.[0]);
  return { method, ...(lastPaymentSec !== undefined ? { lastPaymentSec } : {}) };
}

/**
 * When the invoice became paid. The invoice has no paid-at field (docs/btcpay-greenfield.md §7), so: the event's own
 * timestamp from any delivery body of a paid event; else, for an invoice that turned paid between two polls,
 * no earlier than the previous poll; else the last payment's receipt time, or creation for zero amounts.
 */
function paidTime(inv: Invoice, rows: TrackedDelivery[], meta: InvoiceMeta, afterPoll: number | undefined): number {
  const fromEvent = rows.map((d) => (typeof d.info === 'object' ? d.info.eventTimestamp : undefined)).filter((x): x is number => x !== undefined);
  if (fromEvent.length) return Math.min(...fromEvent);
  const base = meta.lastPaymentSec ?? inv.createdTime;
  return afterPoll !== undefined ? Math.max(base, afterPoll) : base;
}

export function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function touchHistogram(ctx: ProbeContext, method: string): Promise<void> {
  // prom-client exposes a labelled histogram only once observed; zero() creates the series without an
  // observation, but resets an existing one, so only when absent.
  const h = ctx.metrics.registry.metric('paid_to_delivered_seconds') as Histogram<string>;
  const labels = { probe: ctx.metrics.probe, method };
  const exists = (await h.get()).values.some((v) => v.labels.probe === labels.probe && v.labels.method === method);
  if (!exists) h.zero(labels);
  ctx.metrics.registry.track(ctx.metrics.probe, 'paid_to_delivered_seconds', labels);
}
