// delivery_rate: BTCPay webhook delivery success, read incrementally from the store's delivery log, plus the
// sender-side settings that silently stop deliveries. See README.md.
import { perStore } from '../../src/btcpay/stores.ts';
import { z } from 'zod';
import { defineProbe, type ProbeContext } from '../../src/probe/types.ts';
import { duration } from '../../src/config/schema-helpers.ts';
import { btcpaySource, clientFromSource, explainApiError, exportDestinations } from '../../src/btcpay/source.ts';
import { POLICIES } from '../../src/btcpay/permissions.ts';
import { forgetPermissions, missingForSource } from '../../src/btcpay/permission-check.ts';
import { FAILURE_CAUSES, FAILURE_REASONS, failureReason, type FailureReason } from '../../src/btcpay/failures.ts';
import { subscribesToAll } from '../../src/btcpay/subscriptions.ts';
import { getConfiguredWebhook } from '../../src/btcpay/webhook-lookup.ts';
import { DEFAULT_MAX_WEBHOOKS, listSome, MAX_DETAIL_ITEMS, tooManyWebhooks } from '../../src/btcpay/limits.ts';
import { redirectConsequence, redirectOf, urlKey } from '../../src/btcpay/redirects.ts';
import { BtcpayError } from '../../src/clients/btcpay/client.ts';
import type { Webhook } from '../../src/clients/btcpay/schemas.ts';
import { DeliveryTracker, eventKey, outcomeOf, type TrackedDelivery } from '../../src/btcpay/tracker.ts';
import { redactUrl } from '../../src/redact-url.ts';

export const MISCONFIG_CHECKS = ['disabled', 'redelivery_off', 'paid_event_unsubscribed', 'url_host_unchecked', 'url_unchecked', 'url_redirects'] as const;
type Check = (typeof MISCONFIG_CHECKS)[number];

const DEFAULT_WINDOW_MS = 15 * 60_000;
const DEFAULT_HORIZON_MS = 75 * 60_000;
const OUTCOMES = ['success', 'http_error', 'failed'] as const;

// perStore: with `storeId: all` (or a list) on the source, this runs once per store (src/btcpay/stores.ts).
export const deliveryRate = perStore(
  defineProbe({
    type: 'delivery_rate',
    runbook: 'HookwatchWebhookDeliverySuccessLow',
    schema: z.strictObject({
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
    }),
    thresholds: {
      min_success_ratio: { default: 0.95, help: 'Fail (page) below this delivery success ratio over the window' },
      min_deliveries: { default: 5, help: 'Volume guard: no verdict on the ratio with fewer deliveries in the window' },
      objective: { default: 0.99, help: 'SLO target of the success ratio, for burn-rate rules' },
    },
    sources: { source: ['btcpay'] },
    redeliveryScope: (p) => ({ webhookId: p.webhookId, paidEvents: p.paidEvents }),
    // A source may watch several stores (storeId: all or a list): this kind runs once per store.
    multiStore: true,
    async run(probe, ctx) {
      const th = (k: string, d: number) => probe.thresholds?.[k] ?? d;
      const minRatio = th('min_success_ratio', 0.95);
      const minDeliveries = th('min_deliveries', 5);
      const objective = th('objective', 0.99);
      const windowMs = probe.window ?? DEFAULT_WINDOW_MS;
      const paidEvents = probe.paidEvents ?? ['InvoiceSettled'];
      const checks = new Set<Check>(probe.checks ?? MISCONFIG_CHECKS);
      defineMetrics(ctx);

      const src = btcpaySource(ctx, probe.source);
      if (typeof src === 'string') return { ok: false, reason: src, cause: 'Fix the configuration: the probe needs a btcpay source.' };
      const client = clientFromSource(src, probe.timeoutMs);
      const opts = { signal: ctx.signal };
      const state = ctx.state;
      let tracker = state.get('tracker') as DeliveryTracker | undefined;
      if (!tracker) state.set('tracker', (tracker = new DeliveryTracker()));

      try {
        if (!state.get('permissionsOk')) {
          const missing = await missingForSource(src, client, [POLICIES.modifyWebhooks], opts);
          if (missing.length) {
            return {
              ok: false,
              reason: `the API key lacks ${missing.join(', ')} on store ${src.storeId}`,
              cause:
                'Delivery logs need btcpay.store.webhooks.canmodifywebhooks (BTCPay has no read-only webhook permission); create a key scoped to this store.',
              details: { missingPermissions: missing },
            };
          }
          state.set('permissionsOk', true);
        }

        const hooks: Webhook[] = probe.webhookId ? [await getConfiguredWebhook(client, probe.webhookId, opts)] : await client.listWebhooks(opts);
        const maxHooks = probe.maxWebhooks ?? DEFAULT_MAX_WEBHOOKS;
        if (hooks.length > maxHooks) {
          ctx.metrics.clear('webhook_misconfigured');
          return { ok: false, ...tooManyWebhooks(hooks.length, maxHooks, src.storeId), details: { storeId: src.storeId, webhooks: hooks.length } };
        }
        exportDestinations(
          ctx,
          hooks.map((h) => h.url),
        );
        const misconfig = checkWebhooks(hooks, paidEvents, syntheticTargets(ctx), ctx.now());
        ctx.metrics.clear('webhook_misconfigured');
        for (const h of hooks)
          for (const c of MISCONFIG_CHECKS) ctx.metrics.set('webhook_misconfigured', { webhook: h.id, check: c }, misconfig.get(h.id)?.has(c) ? 1 : 0);

        const nowMs = ctx.now();
        const nowSec = Math.floor(nowMs / 1000);
        const windowSec = Math.ceil(windowMs / 1000);
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

        for (const o of OUTCOMES) ctx.metrics.touch('webhook_deliveries_total', { outcome: o });
        for (const r of FAILURE_REASONS) ctx.metrics.touch('webhook_delivery_failures_total', { reason: r });
        // The first poll after a start rebuilds the window but does not count history into the counters:
        // a restart must not re-add what the previous process already counted.
        if (!poll.baseline) {
          for (const d of poll.fresh) {
            ctx.metrics.inc('webhook_deliveries_total', { outcome: outcomeOf(d.status) });
            if (d.status !== 'HttpSuccess') ctx.metrics.inc('webhook_delivery_failures_total', { reason: failureReason(d) });
          }
        }

        const hookIds = new Set(hooks.map((h) => h.id));
        const inWindow = tracker.since(nowSec - windowSec).filter((d) => hookIds.has(d.webhookId)); // deleted webhooks drop out
        const attempts = inWindow.length;
        const successes = inWindow.filter((d) => d.status === 'HttpSuccess').length;
        const events = new Map<string, boolean>();
        for (const d of inWindow) events.set(eventKey(d), (events.get(eventKey(d)) ?? false) || d.status === 'HttpSuccess');
        const eventOk = [...events.values()].filter(Boolean).length;
        const attemptRatio = attempts ? successes / attempts : undefined;
        const eventRatio = events.size ? eventOk / events.size : undefined;
        // One series per probe for the contract metric (per attempt); the per-event view has its own name.
        setOrClear(ctx, 'webhook_delivery_success_ratio', {}, attemptRatio);
        setOrClear(ctx, 'webhook_event_success_ratio', {}, probe.perEvent === false ? undefined : eventRatio);
        ctx.metrics.set('webhook_delivery_window_count', { basis: 'attempt' }, attempts);
        ctx.metrics.set('webhook_delivery_window_count', { basis: 'event' }, events.size);
        const backlog = inWindow.reduce((m, d) => Math.max(m, d.deliveryTime - d.timestamp), 0);
        ctx.metrics.set('webhook_delivery_backlog_seconds', {}, backlog);

        const failuresInWindow = inWindow.filter((d) => d.status !== 'HttpSuccess');
        const reasons = countBy(failuresInWindow.map((d) => failureReason(d)));
        const problems: string[] = [];
        if (attemptRatio !== undefined && attempts >= minDeliveries && attemptRatio < minRatio)
          problems.push(`attempt success ratio ${fmt(attemptRatio)} < ${minRatio} over ${windowSec / 60} min (${successes}/${attempts})`);
        if (eventRatio !== undefined && probe.perEvent !== false && events.size >= minDeliveries && eventRatio < minRatio)
          problems.push(`event success ratio ${fmt(eventRatio)} < ${minRatio} (${eventOk}/${events.size} events delivered)`);
        const flagged: Array<{ webhook: string; check: Check }> = [];
        for (const [wid, set] of misconfig) for (const c of set) if (checks.has(c)) flagged.push({ webhook: wid, check: c });
        if (flagged.length) problems.push(`webhook settings: ${listSome(flagged.map((f) => `${f.webhook} ${f.check}`))}`);
        if (poll.futureRows) {
          ctx.log.warn(
            { rows: poll.futureRows, aheadSeconds: poll.futureMaxAheadSec },
            'delivery_rate: BTCPay returned delivery rows dated in the future; ignored',
          );
        }
        if (poll.countIgnored) ctx.log.warn({}, 'delivery_rate: BTCPay sent more delivery rows than the count asked for; the extra rows were not read');
        if (hooks.length === 0) problems.push('the store has no webhooks');

        const details = {
          storeId: src.storeId,
          window: `${windowSec}s`,
          attempts,
          successes,
          attemptRatio: attemptRatio ?? null,
          events: events.size,
          eventsDelivered: eventOk,
          eventRatio: eventRatio ?? null,
          belowObjective: attemptRatio !== undefined && attemptRatio < objective,
          ...(attempts < minDeliveries ? { volumeGuard: `fewer than ${minDeliveries} deliveries in the window: ratio not judged` } : {}),
          backlogSeconds: backlog,
          failureReasons: reasons,
          recentFailures: failuresInWindow
            .slice(-10)
            .reverse()
            .map((d) => failureView(d)),
          webhooks: hooks.slice(0, MAX_DETAIL_ITEMS).map((h) => ({
            id: h.id,
            url: redactUrl(h.url),
            enabled: h.enabled,
            automaticRedelivery: h.automaticRedelivery,
            flags: [...(misconfig.get(h.id) ?? [])],
          })),
          ...(hooks.length > MAX_DETAIL_ITEMS ? { webhooksNotShown: hooks.length - MAX_DETAIL_ITEMS } : {}),
          poll: {
            baseline: poll.baseline,
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
        if (!problems.length) return { ok: true, details };
        const top = Object.entries(reasons).sort((a, b) => b[1] - a[1])[0]?.[0] as FailureReason | undefined;
        const cause = flagged.length
          ? misconfigCause(flagged[0]!.check, paidEvents)
          : hooks.length === 0
            ? 'No webhook is configured on the store, so nothing is delivered: create one (Store settings > Webhooks).'
            : top
              ? FAILURE_CAUSES[top]
              : 'Deliveries are failing.';
        // Failed attempts (not a webhook setting) are recovered by a redelivery once the receiver answers.
        const action =
          !flagged.length && top
            ? `Once the receiver answers, redeliver, dry run first: \`hookwatch redeliver --config.file ${ctx.config.file} --probe ${probe.name} --since 6h\` (add --apply to send).`
            : undefined;
        return { ok: false, reason: problems.join('; '), cause, ...(action ? { action } : {}), details };
      } catch (e) {
        const keyChecked = state.get('permissionsOk') === true;
        if (e instanceof BtcpayError && e.kind === 'permission') {
          state.delete('permissionsOk');
          forgetPermissions(src);
        }
        const { reason, cause } = explainApiError(e, { keyChecked });
        ctx.log.warn({ err: reason }, 'delivery_rate poll failed');
        return { ok: false, reason, cause };
      }
    },
  }),
);

function defineMetrics(ctx: ProbeContext): void {
  ctx.metrics.define({
    name: 'webhook_delivery_backlog_seconds',
    type: 'gauge',
    help: 'Longest wait in the per-webhook queue (deliveryTime - timestamp) among deliveries in the window.',
    labelNames: [],
  });
  ctx.metrics.define({
    name: 'webhook_delivery_window_count',
    type: 'gauge',
    help: 'Deliveries in the window, per attempt or per event; the volume guard of the success-ratio alert.',
    labelNames: ['basis'],
  });
  ctx.metrics.define({
    name: 'webhook_misconfigured',
    type: 'gauge',
    help: 'A webhook setting that silently stops or degrades deliveries (1 when set).',
    labelNames: ['webhook', 'check'],
  });
}

function setOrClear(ctx: ProbeContext, name: string, labels: Record<string, string>, v: number | undefined): void {
  if (v === undefined) ctx.metrics.clear(name, (l) => Object.entries(labels).some(([k, x]) => l[k] !== x));
  else ctx.metrics.set(name, labels, v);
}

/** Hosts and URLs the synthetic probes send to; a webhook pointing elsewhere is not covered by the synthetic check. */
function syntheticTargets(ctx: ProbeContext): SyntheticTargets | undefined {
  const d = ctx.config.destinations;
  if (!d.probes.length) return undefined;
  return { hosts: new Set(d.targets.map((t) => t.host)), urls: new Set(d.targets.map((t) => urlKey(t.url))) };
}

export interface SyntheticTargets {
  hosts: Set<string>;
  urls: Set<string>;
}

export function checkWebhooks(hooks: Webhook[], paidEvents: string[], synthetic: SyntheticTargets | undefined, nowMs = Date.now()): Map<string, Set<Check>> {
  const out = new Map<string, Set<Check>>();
  for (const h of hooks) {
    const s = new Set<Check>();
    if (!h.enabled) s.add('disabled');
    if (!h.automaticRedelivery) s.add('redelivery_off');
    if (!subscribesToAll(h, paidEvents)) s.add('paid_event_unsubscribed');
    if (synthetic) {
      let host = '';
      try {
        host = new URL(h.url).hostname.toLowerCase();
      } catch {
        /* unparsable url: certainly not what the synthetic probe checks */
      }
      if (!synthetic.hosts.has(host)) s.add('url_host_unchecked');
      // btcpay-mode synthetic probes have no targets: they test whatever URLs the store's webhooks have.
      else if (synthetic.urls.size && !synthetic.urls.has(urlKey(h.url))) s.add('url_unchecked');
    }
    if (redirectOf(h.url, nowMs)) s.add('url_redirects');
    out.set(h.id, s);
  }
  return out;
}

function misconfigCause(c: Check, paidEvents: string[]): string {
  switch (c) {
    case 'disabled':
      return 'A webhook is disabled: BTCPay drops events for it without any record. Re-enable it, then run hookwatch redeliver.';
    case 'redelivery_off':
      return 'Automatic redelivery is off (the UI default): one failed attempt is never retried. Turn it on in the webhook settings.';
    case 'paid_event_unsubscribed':
      return `The webhook is not subscribed to ${paidEvents.join(', ')}: paid invoices never reach the receiver. Subscribe it (or "everything").`;
    case 'url_unchecked':
      return 'The webhook URL is not one the synthetic probes test (same host, different path, scheme or port): the end-to-end check passes while BTCPay posts elsewhere. Make the synthetic target the exact webhook URL.';
    case 'url_redirects':
      return `A webhook URL answered the synthetic probe with a redirect: ${redirectConsequence(302)}. Put the final URL in the webhook settings.`;
    case 'url_host_unchecked':
      return 'The webhook URL host differs from the synthetic probe targets: the end-to-end check tests a different endpoint than BTCPay uses.';
  }
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

function countBy(xs: string[]): Record<string, number> {
  const o: Record<string, number> = {};
  for (const x of xs) o[x] = (o[x] ?? 0) + 1;
  return o;
}

const fmt = (x: number) => x.toFixed(3);
