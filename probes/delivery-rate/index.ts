// delivery_rate: BTCPay webhook delivery success, read incrementally from the store's delivery log, plus the
// sender-side settings that silently stop deliveries. Gather (permissions, webhooks, the delivery log), evaluate
// (evaluate.ts, pure), export (metrics.ts). See README.md.
import { perStore } from '../../src/btcpay/stores.ts';
import { z } from 'zod';
import { defineProbe, type ProbeContext, type ProbeResult } from '../../src/probe/types.ts';
import { duration } from '../../src/config/schema-helpers.ts';
import { btcpaySource, clientFromSource, type BtcpaySource } from '../../src/btcpay/source.ts';
import { destinationHosts } from '../../src/btcpay/destinations.ts';
import { POLICIES } from '../../src/btcpay/permissions.ts';
import { missingForSource, pollFailure } from '../../src/btcpay/permission-check.ts';
import { FAILURE_REASONS, failureReason } from '../../src/btcpay/failures.ts';
import { getConfiguredWebhook } from '../../src/btcpay/webhook-lookup.ts';
import { DEFAULT_MAX_WEBHOOKS, MAX_DETAIL_ITEMS, tooManyWebhooks } from '../../src/btcpay/limits.ts';
import type { BtcpayClient } from '../../src/clients/btcpay/client.ts';
import type { Webhook } from '../../src/clients/btcpay/schemas.ts';
import type { MetricSet } from '../../src/metrics/run-metrics.ts';
import { outcomeOf, type PollResult, type TrackedDelivery } from '../../src/btcpay/tracker.ts';
import { readerFor, type DeliveryReader } from '../../src/btcpay/shared-log.ts';
import { redactUrl } from '../../src/redact-url.ts';
import { checkWebhooks, MISCONFIG_CHECKS, syntheticTargets, type Check } from './webhook-checks.ts';
import { DEFAULTS, evaluate, type DeliveryVerdict, type WindowFigures } from './evaluate.ts';
import { METRICS } from './metrics.ts';

export { MISCONFIG_CHECKS, checkWebhooks } from './webhook-checks.ts';

const DEFAULT_WINDOW_MS = 15 * 60_000;
const DEFAULT_HORIZON_MS = 75 * 60_000;
const OUTCOMES = ['success', 'http_error', 'failed'] as const;

const schema = z.strictObject({
  source: z.string().min(1).describe('Name of a btcpay source'),
  webhookId: z.string().min(1).optional().describe('One webhook; default: every webhook of the store'),
  window: duration().optional().describe('Window of the success ratio (default 15m)'),
  paidEvents: z.array(z.string().min(1)).min(1).optional().describe('Event types that must be subscribed (default [InvoiceSettled])'),
  checks: z.array(z.enum(MISCONFIG_CHECKS)).optional().describe('Webhook setting checks that fail the probe (default: all)'),
  backlogHorizon: duration().optional().describe('How far back to re-read while deliveries fail or queue (default 75m, one retry cycle)'),
  perEvent: z.boolean().optional().describe('Read request bodies to compute the per-event ratio (default true)'),
  maxWebhooks: z
    .number()
    .int()
    .min(1)
    .max(10_000)
    .optional()
    .describe('Fail instead of watching a store with more webhooks than this (default 100; bounds list calls and series)'),
});
type Probe = z.infer<typeof schema> & { name: string; timeoutMs: number; thresholds: Record<string, number> };
type Metrics = MetricSet<typeof METRICS>;

// perStore: with `storeId: all` (or a list) on the source, this runs once per store (src/btcpay/stores.ts).
export const deliveryRate = perStore(
  defineProbe({
    type: 'delivery_rate',
    runbook: 'HookwatchWebhookDeliverySuccessLow',
    schema,
    metrics: METRICS,
    thresholds: {
      min_success_ratio: { default: DEFAULTS.min_success_ratio, help: 'Fail (page) below this delivery success ratio over the window' },
      min_deliveries: { default: DEFAULTS.min_deliveries, help: 'Volume guard: no verdict on the ratio with fewer deliveries in the window' },
      objective: { default: DEFAULTS.objective, help: 'SLO target of the success ratio, for burn-rate rules' },
    },
    sources: { source: ['btcpay'] },
    redeliveryScope: (p) => ({ webhookId: p.webhookId, paidEvents: p.paidEvents }),
    // A source may watch several stores (storeId: all or a list): this kind runs once per store.
    multiStore: true,
    async run(probe, ctx) {
      const src = btcpaySource(ctx, probe.source);
      if (typeof src === 'string') return { ok: false, reason: src, cause: 'Fix the configuration: the probe needs a btcpay source.' };
      const client = clientFromSource(src, probe.timeoutMs);
      try {
        return await watch(probe, ctx, src, client);
      } catch (e) {
        return apiFailure(e, ctx, src);
      }
    },
  }),
);

type Ctx = Omit<ProbeContext, 'metrics'> & { metrics: Metrics };

/** One poll: permissions (once), the webhooks and their settings, the delivery log; then the verdict and its export. */
async function watch(probe: Probe, ctx: Ctx, src: BtcpaySource, client: BtcpayClient): Promise<ProbeResult> {
  const refused = await checkPermissions(ctx.state, src, client, ctx.signal);
  if (refused) return refused;
  const hooks = await listWebhooks(probe, client, ctx.signal);
  const maxHooks = probe.maxWebhooks ?? DEFAULT_MAX_WEBHOOKS;
  if (hooks.length > maxHooks) {
    return { ok: false, ...tooManyWebhooks(hooks.length, maxHooks, src.storeId), details: { storeId: src.storeId, webhooks: hooks.length } };
  }
  const paidEvents = probe.paidEvents ?? ['InvoiceSettled'];
  const misconfig = checkWebhooks(hooks, paidEvents, syntheticTargets(ctx.config.destinations), ctx.now());
  exportWebhooks(ctx.metrics, hooks, misconfig);

  const nowSec = Math.floor(ctx.now() / 1000);
  const windowSec = Math.ceil((probe.window ?? DEFAULT_WINDOW_MS) / 1000);
  const tracker = readerOf(ctx.state, src);
  const poll = await tracker.poll(
    client,
    hooks.map((h) => h.id),
    {
      nowSec,
      windowSec,
      horizonSec: Math.ceil((probe.backlogHorizon ?? DEFAULT_HORIZON_MS) / 1000),
      bodies: probe.perEvent !== false,
      signal: ctx.signal,
    },
  );
  countFresh(ctx.metrics, poll);
  warnOddRows(ctx, poll);

  const hookIds = new Set(hooks.map((h) => h.id));
  const v = evaluate({
    deliveries: tracker.since(nowSec - windowSec).filter((d) => hookIds.has(d.webhookId)), // deleted webhooks drop out
    windowSec,
    perEvent: probe.perEvent !== false,
    webhooks: hooks.length,
    misconfig,
    checks: new Set<Check>(probe.checks ?? MISCONFIG_CHECKS),
    paidEvents,
    thresholds: probe.thresholds,
    redeliver: { configFile: ctx.config.file, probe: probe.name },
  });
  exportFigures(ctx.metrics, v.figures, probe.perEvent !== false);
  const details = detailsOf(v, { storeId: src.storeId, windowSec, hooks, misconfig, poll });
  return v.ok ? { ok: true, details } : { ok: false, reason: v.reason, cause: v.cause, ...(v.action ? { action: v.action } : {}), details };
}

/** Delivery logs need canmodifywebhooks; checked once, until BTCPay refuses a call. */
async function checkPermissions(state: Map<string, unknown>, src: BtcpaySource, client: BtcpayClient, signal: AbortSignal): Promise<ProbeResult | undefined> {
  if (state.get('permissionsOk')) return undefined;
  const missing = await missingForSource(src, client, [POLICIES.modifyWebhooks], { signal });
  if (missing.length) {
    return {
      ok: false,
      reason: `the API key lacks ${missing.join(', ')} on store ${src.storeId}`,
      cause: 'Delivery logs need btcpay.store.webhooks.canmodifywebhooks (BTCPay has no read-only webhook permission); create a key scoped to this store.',
      details: { missingPermissions: missing },
    };
  }
  state.set('permissionsOk', true);
  return undefined;
}

async function listWebhooks(probe: Probe, client: BtcpayClient, signal: AbortSignal): Promise<Webhook[]> {
  return probe.webhookId ? [await getConfiguredWebhook(client, probe.webhookId, { signal })] : await client.listWebhooks({ signal });
}

/** The probe's reader of the store's delivery log, shared with the other probes reading it (shared-log.ts). */
function readerOf(state: Map<string, unknown>, src: BtcpaySource): DeliveryReader {
  const current = state.get('reader') as DeliveryReader | undefined;
  const reader = readerFor(src, current);
  if (reader !== current) state.set('reader', reader);
  return reader;
}

function apiFailure(e: unknown, ctx: Pick<ProbeContext, 'state' | 'log'>, src: BtcpaySource): ProbeResult {
  const { reason, cause } = pollFailure(e, src, { checked: ctx.state.get('permissionsOk') === true, forget: () => ctx.state.delete('permissionsOk') });
  ctx.log.warn({ err: reason }, 'delivery_rate poll failed');
  return { ok: false, reason, cause };
}

function warnOddRows(ctx: Pick<ProbeContext, 'log'>, poll: PollResult): void {
  if (poll.futureRows) {
    ctx.log.warn({ rows: poll.futureRows, aheadSeconds: poll.futureMaxAheadSec }, 'delivery_rate: BTCPay returned delivery rows dated in the future; ignored');
  }
  if (poll.countIgnored) ctx.log.warn({}, 'delivery_rate: BTCPay sent more delivery rows than the count asked for; the extra rows were not read');
}

/** The webhooks' destinations and settings, exported as soon as they are listed (a failing poll keeps them). */
function exportWebhooks(m: Metrics, hooks: Webhook[], misconfig: ReadonlyMap<string, ReadonlySet<Check>>): void {
  for (const host of destinationHosts(hooks.map((h) => h.url))) m.gauge('webhook_destination_info', { destination: host }, 1);
  for (const h of hooks) for (const c of MISCONFIG_CHECKS) m.gauge('webhook_misconfigured', { webhook: h.id, check: c }, misconfig.get(h.id)?.has(c) ? 1 : 0);
}

/** Counters: every outcome and reason exists from the first poll; new rows are counted once. */
function countFresh(m: Metrics, poll: PollResult): void {
  for (const o of OUTCOMES) m.inc('webhook_deliveries_total', { outcome: o }, 0);
  for (const r of FAILURE_REASONS) m.inc('webhook_delivery_failures_total', { reason: r }, 0);
  // The first poll after a start rebuilds the window but does not count history into the counters:
  // a restart must not re-add what the previous process already counted.
  if (poll.baseline) return;
  for (const d of poll.fresh) {
    m.inc('webhook_deliveries_total', { outcome: outcomeOf(d.status) });
    if (d.status !== 'HttpSuccess') m.inc('webhook_delivery_failures_total', { reason: failureReason(d) });
  }
}

/** One series per probe for the contract ratio (per attempt); the per-event view has its own name. No ratio without deliveries. */
function exportFigures(m: Metrics, f: WindowFigures, perEvent: boolean): void {
  if (f.attemptRatio !== undefined) m.gauge('webhook_delivery_success_ratio', {}, f.attemptRatio);
  if (perEvent && f.eventRatio !== undefined) m.gauge('webhook_event_success_ratio', {}, f.eventRatio);
  m.gauge('webhook_delivery_window_count', { basis: 'attempt' }, f.attempts);
  m.gauge('webhook_delivery_window_count', { basis: 'event' }, f.events);
  m.gauge('webhook_delivery_backlog_seconds', {}, f.backlogSeconds);
}

function detailsOf(
  v: DeliveryVerdict,
  o: { storeId: string; windowSec: number; hooks: Webhook[]; misconfig: ReadonlyMap<string, ReadonlySet<Check>>; poll: PollResult },
): Record<string, unknown> {
  const f = v.figures;
  const { hooks, poll } = o;
  return {
    storeId: o.storeId,
    window: `${o.windowSec}s`,
    attempts: f.attempts,
    successes: f.successes,
    attemptRatio: f.attemptRatio ?? null,
    events: f.events,
    eventsDelivered: f.eventsDelivered,
    eventRatio: f.eventRatio ?? null,
    belowObjective: v.belowObjective,
    ...(v.volumeGuard ? { volumeGuard: v.volumeGuard } : {}),
    backlogSeconds: f.backlogSeconds,
    failureReasons: f.failureReasons,
    recentFailures: f.failures
      .slice(-10)
      .reverse()
      .map((d) => failureView(d)),
    webhooks: hooks.slice(0, MAX_DETAIL_ITEMS).map((h) => ({
      id: h.id,
      url: redactUrl(h.url),
      enabled: h.enabled,
      automaticRedelivery: h.automaticRedelivery,
      flags: [...(o.misconfig.get(h.id) ?? [])],
    })),
    ...(hooks.length > MAX_DETAIL_ITEMS ? { webhooksNotShown: hooks.length - MAX_DETAIL_ITEMS } : {}),
    poll: {
      baseline: poll.baseline,
      ...(poll.shared ? { shared: true } : {}),
      newRows: poll.fresh.length,
      listCalls: poll.listCalls,
      bodyCalls: poll.bodyCalls,
      listedRows: poll.listedRows,
      truncated: poll.truncated.slice(0, MAX_DETAIL_ITEMS),
      pendingBodies: poll.pendingBodies,
      ...(poll.blocked.length ? { queueBacklog: poll.blocked.slice(0, MAX_DETAIL_ITEMS) } : {}),
      ...(poll.futureRows
        ? {
            futureRowsRejected: poll.futureRows,
            futureMaxAheadSeconds: poll.futureMaxAheadSec,
            note: 'rows dated in the future were ignored: check the clock of BTCPay (or what answers as BTCPay)',
          }
        : {}),
      ...(poll.countIgnored ? { countIgnored: true } : {}),
      ...(poll.rowsDropped ? { rowsDroppedByCap: poll.rowsDropped } : {}),
    },
  };
}

function failureView(d: TrackedDelivery) {
  return {
    id: d.id,
    webhookId: d.webhookId,
    timestamp: d.timestamp,
    status: d.status,
    httpCode: d.httpCode,
    errorMessage: d.errorMessage,
    reason: failureReason(d),
    ...(typeof d.info === 'object' ? { type: d.info.type, invoiceId: d.info.invoiceId, originalDeliveryId: d.info.originalDeliveryId } : {}),
  };
}
