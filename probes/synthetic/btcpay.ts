// btcpay mode: create a tagged zero-amount invoice through Greenfield (BTCPay settles it at once,
// docs/btcpay-greenfield.md §6), so BTCPay itself sends real signed InvoiceSettled deliveries through its own
// resolver and queue; watch each webhook's deliveries for that invoice, then archive the invoice.
import { BtcpayClient, BtcpayError } from '../../src/clients/btcpay/client.ts';
import { POLICIES } from '../../src/btcpay/permissions.ts';
import type { Delivery, Webhook } from '../../src/clients/btcpay/schemas.ts';
import { failureReason, SYNTHETIC_CLASS } from '../../src/btcpay/failures.ts';
import { wouldDeliver } from '../../src/btcpay/subscriptions.ts';
import { isRetryable } from '../../src/btcpay/retry.ts';
import { forgetPermissions, missingForSource } from '../../src/btcpay/permission-check.ts';
import { scrub } from '../../src/secret.ts';
import type { ProbeContext, ProbeResult } from '../../src/probe/types.ts';
import { base58Id } from './events.ts';
import { redactUrl } from '../../src/redact-url.ts';
import { confirmDelivery, sleep, transportOpts, type TransportOpts } from './direct.ts';
import type { SyntheticFailureClass, TargetOutcome } from './outcome.ts';

export const REQUIRED_PERMISSIONS = [POLICIES.createInvoice, POLICIES.modifyWebhooks, POLICIES.modifyInvoices];
const PAID_EVENT = 'InvoiceSettled';

interface ModeProbe {
  source?: string;
  targets?: string[];
  within: number;
  responseTimeout: number;
  connectTimeout: number;
  resolver?: string;
  caFile?: string;
  confirm?: { url: string; within: number };
}

/** The synthetic class of a failed delivery, through the shared BTCPay failure taxonomy. */
export function classifyDelivery(d: Delivery): SyntheticFailureClass {
  return SYNTHETIC_CLASS[failureReason(d)];
}

const listens = (w: Webhook) => wouldDeliver(w, PAID_EVENT);

export async function runBtcpayMode(p: ModeProbe, ctx: ProbeContext): Promise<{ result: ProbeResult } | { outcomes: TargetOutcome[] }> {
  const src = p.source ? ctx.source(p.source) : undefined;
  if (!src || src.type !== 'btcpay')
    return { result: { ok: false, reason: `btcpay mode needs a btcpay source (got ${p.source ?? 'none'})`, cause: 'Configuration error.' } };
  const client = new BtcpayClient({ url: src.url, apiKey: src.apiKey, storeId: src.storeId, timeoutMs: src.timeoutMs ?? p.responseTimeout });
  const o = { signal: ctx.signal };
  const clean = (e: unknown) => scrub(e instanceof Error ? e.message : String(e), [src.apiKey, ...ctx.config.secrets]);
  const fail = (reason: string, cause: string, details?: Record<string, unknown>) => ({ result: { ok: false, reason, cause, details } });

  let invoiceId: string | undefined;
  try {
    if (ctx.state.get('permissionsOk') !== true) {
      const missing = await missingForSource(src, client, REQUIRED_PERMISSIONS, o);
      if (missing.length) {
        return fail(
          `the BTCPay API key lacks ${missing.join(', ')} on store ${src.storeId}`,
          'btcpay mode creates a zero-amount invoice (cancreateinvoice), reads deliveries (webhooks.canmodifywebhooks) and archives the invoice (canmodifyinvoices). Create a key with these permissions scoped to the store.',
          { missingPermissions: missing },
        );
      }
      ctx.state.set('permissionsOk', true);
    }
    const hooks = (await client.listWebhooks(o)).filter((w) => listens(w) && (!p.targets || p.targets.some((t) => redactUrl(t) === redactUrl(w.url))));
    if (hooks.length === 0) {
      return fail(
        `no enabled webhook of store ${src.storeId} receives ${PAID_EVENT}${p.targets ? ` at ${p.targets.join(', ')}` : ''}`,
        'The store has no webhook that would deliver a paid event to the internal system: payments will never reach it. Check the webhook list in BTCPay.',
      );
    }
    // Deliveries that exist before the invoice cannot be ours; skip them without reading bodies.
    const before = new Map<string, Set<string>>();
    for (const h of hooks) before.set(h.id, new Set((await client.listDeliveries(h.id, 50, o)).map((d) => d.id)));

    const orderId = `hookwatch-synthetic-${base58Id()}`;
    const inv = await client.createInvoice(
      {
        amount: '0',
        currency: 'USD',
        metadata: { orderId, hookwatchSynthetic: true, itemDesc: 'hookwatch synthetic check: do not fulfil' },
      },
      o,
    );
    invoiceId = inv.id;
    const started = performance.now();
    ctx.log.info({ invoiceId, orderId, webhooks: hooks.length }, 'synthetic invoice created');

    type Seen = { invoiceId?: string; type?: string };
    const inspected = new Map<string, Seen>();
    const state = new Map<string, { success?: Delivery; final?: boolean; failures: Array<Delivery & { type?: string }> }>(
      hooks.map((h) => [h.id, { failures: [] }]),
    );
    const pause = Math.min(2000, Math.max(50, Math.floor(p.within / 30)));
    for (let round = 0; round < 10_000 && !ctx.signal.aborted; round++) {
      for (const h of hooks) {
        const st = state.get(h.id)!;
        if (st.success || st.final) continue;
        const list = await client.listDeliveries(h.id, 50, o);
        for (const d of list) {
          if (before.get(h.id)!.has(d.id)) continue;
          let seen = inspected.get(d.id);
          if (!seen) {
            try {
              const req = await client.getDeliveryRequest(h.id, d.id, o);
              seen = { invoiceId: req.body.invoiceId, type: req.body.type };
            } catch (e) {
              if (e instanceof BtcpayError && (e.kind === 'pruned' || e.kind === 'not_found')) seen = {};
              else throw e;
            }
            inspected.set(d.id, seen);
          }
          if (seen.invoiceId !== inv.id) continue;
          // Failures of any of this invoice's events count: the queue is in order, so a failing
          // InvoiceCreated holds the InvoiceSettled behind it (docs/btcpay-greenfield.md §4).
          if (d.status !== 'HttpSuccess') {
            if (!st.failures.some((f) => f.id === d.id)) st.failures.push({ ...d, type: seen.type });
            // BTCPay (2.3.4+) does not retry a 4xx other than 408/429: no point waiting out the deadline.
            if (seen.type === PAID_EVENT && d.status === 'HttpError' && !isRetryable(d.httpCode)) st.final = true;
          } else if (seen.type === PAID_EVENT) st.success = st.success && st.success.timestamp <= d.timestamp ? st.success : d;
        }
      }
      if ([...state.values()].every((s) => s.success || s.final)) break;
      const left = p.within - (performance.now() - started);
      if (left <= 0) break;
      await sleep(Math.min(pause, left), ctx.signal);
    }

    const t: TransportOpts = transportOpts(p, ctx);
    const outcomes: TargetOutcome[] = [];
    for (const h of hooks) {
      const st = state.get(h.id)!;
      const lastFailure = st.failures.sort((a, b) => a.timestamp - b.timestamp).at(-1);
      const out: TargetOutcome = {
        target: publicUrl(h.url),
        ok: !!st.success,
        phases: {},
        details: { target: publicUrl(h.url), webhookId: h.id, invoiceId: inv.id, orderId, failedAttempts: st.failures.length },
      };
      if (st.success) {
        // BTCPay's own clock: invoice creation to the successful attempt being sent.
        const sent = st.success.deliveryTime ?? st.success.timestamp;
        out.phases.delivery = Math.max(0, sent - inv.createdTime);
        out.details.deliveryId = st.success.id;
        if (p.confirm) {
          const c = await confirmDelivery({ url: p.confirm.url, withinMs: p.confirm.within }, st.success.id, t);
          out.phases.confirm = c.seconds;
          out.details.confirm = { ok: c.ok, seconds: Number(c.seconds.toFixed(3)), polls: c.polls };
          if (!c.ok) Object.assign(out, { ok: false, failureClass: 'not_confirmed', message: c.message });
        }
      } else if (lastFailure) {
        out.failureClass = classifyDelivery(lastFailure);
        out.message = `BTCPay did not deliver ${PAID_EVENT} for synthetic invoice ${inv.id} within ${(p.within / 1000).toFixed(1)}s; ${st.failures.length} failed attempt(s) for this invoice's events, last: ${lastFailure.type ?? 'event'} ${lastFailure.status}${lastFailure.httpCode ? ` HTTP ${lastFailure.httpCode}` : ''}${lastFailure.errorMessage ? ` (${lastFailure.errorMessage})` : ''}`;
        out.details.lastDeliveryId = lastFailure.id;
      } else {
        out.failureClass = 'not_delivered';
        out.message = `BTCPay sent no ${PAID_EVENT} delivery for synthetic invoice ${inv.id} within ${(p.within / 1000).toFixed(1)}s (queue backlog behind a failing endpoint, or the event was lost)`;
      }
      if (out.failureClass) out.details.failureClass = out.failureClass;
      if (out.message) out.details.error = clean(out.message);
      out.message &&= clean(out.message);
      outcomes.push(out);
    }
    return { outcomes };
  } catch (e) {
    const kind = e instanceof BtcpayError ? e.kind : 'error';
    if (kind === 'permission') {
      ctx.state.delete('permissionsOk');
      forgetPermissions(src);
    }
    return fail(
      `btcpay mode could not run: ${clean(e)}`,
      kind === 'permission'
        ? 'The API key lacks a permission the check needs.'
        : 'BTCPay is unreachable or answered unexpectedly; see the delivery_rate probe and BTCPay health.',
      {
        invoiceId,
      },
    );
  } finally {
    if (invoiceId) {
      await client.archiveInvoice(invoiceId, {}).catch((e: unknown) => ctx.log.warn({ invoiceId, err: clean(e) }, 'could not archive the synthetic invoice'));
    }
  }
}

/**
 * The webhook URL comes from BTCPay, not from our config, and may carry a token in its query or
 * userinfo: keep scheme, host, port and path only, for the label and the details.
 */
export function publicUrl(u: string): string {
  try {
    const url = new URL(u);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return '<invalid url>';
  }
}
