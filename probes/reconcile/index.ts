// The reconcile probe: the sender's paid invoices against the internal system's records over a
// window, minus a grace for events still in flight. Missing = paid but never recorded (a lost
// webhook); orphan = recorded but not paid at the sender (possibly a spoofed webhook); mismatch =
// both exist but amount or currency differ. Ids go to details, counts to metrics.
import { z } from 'zod';
import { defineProbe } from '../../src/probe/types.ts';
import { duration } from '../../src/config/schema-helpers.ts';
import { scrub, type Secret } from '../../src/secret.ts';
import { BtcpayClient, BtcpayError } from '../../src/clients/btcpay/client.ts';
import type { Invoice } from '../../src/clients/btcpay/schemas.ts';
import { isPaid as isPaidInvoice } from '../../src/btcpay/invoices.ts';
import { fetchHttpJson, fetchPostgres, RecordsError, type InternalRecord, type RecordsResult } from './records.ts';

const schema = z.strictObject({
  source: z.string().min(1).describe('Name of a btcpay source: the sender'),
  records: z.string().min(1).describe("Name of an http-json or postgres source: the internal system's records"),
  window: duration().default(24 * 3_600_000).describe('How far back to compare (default 24h)'),
  grace: duration().default(10 * 60_000).describe('Paid invoices younger than this are pending, not missing (default 10m)'),
  maxLookups: z
    .int()
    .min(0)
    .max(1000)
    .default(50)
    .describe('Orphan candidates looked up one by one at the sender (records of invoices created before the window; default 50)'),
});

export const METRICS = {
  mismatched: { name: 'reconcile_mismatched_records', type: 'gauge' as const, help: 'Paid at the sender and recorded internally, but with a different amount or currency.', labelNames: [] },
  pending: { name: 'reconcile_pending_records', type: 'gauge' as const, help: 'Paid at the sender within the grace period and not recorded yet (not counted as missing).', labelNames: [] },
  paid: { name: 'reconcile_paid_invoices', type: 'gauge' as const, help: 'Paid invoices at the sender in the window (the population compared).', labelNames: [] },
};

/** Money received: Settled (any additional status), or Expired+PaidLate (the shared rule, src/btcpay/invoices.ts). */
export function isPaid(inv: Pick<Invoice, 'status' | 'additionalStatus'>): boolean {
  return isPaidInvoice(inv, { paidEvents: ['InvoiceSettled'] });
}

/** Decimal strings compare by value: "5.00" == "5" == "05.0". Non-decimals compare as text. */
export function sameAmount(a: string, b: string): boolean {
  const norm = (s: string) => {
    const m = /^([+-]?)0*(\d*)(?:\.(\d*?)0*)?$/.exec(s.trim());
    if (!m) return s.trim();
    const int = m[2] || '0';
    const frac = m[3] ?? '';
    const sign = m[1] === '-' && (int !== '0' || frac !== '') ? '-' : '';
    return `${sign}${int}${frac ? '.' + frac : ''}`;
  };
  return norm(a) === norm(b);
}

const MAX_LISTED = 100;
const iso = (ms: number) => new Date(ms).toISOString();

export const reconcile = defineProbe({
  type: 'reconcile',
  runbook: 'HookwatchReconciliationMismatch',
  schema,
  thresholds: {
    max_missing: { default: 0, help: 'Missing records (paid at the sender, not recorded, past the grace) tolerated before alerting.' },
  },
  sources: { source: ['btcpay'], records: ['http-json', 'postgres'] },
  validate(probe) {
    const errs: Array<{ key: string; message: string }> = [];
    if (probe.grace >= probe.window) errs.push({ key: 'grace', message: 'grace must be shorter than window' });
    return errs;
  },
  async run(probe, ctx) {
    const nowMs = ctx.now();
    const sinceMs = nowMs - probe.window;
    const untilMs = nowMs - probe.grace;
    const { source: sender, records: recSrc } = ctx.sources;
    const secrets: Secret[] = [sender.apiKey, ...ctx.config.secrets];
    if (recSrc.type === 'postgres' && recSrc.password) secrets.push(recSrc.password);
    if (recSrc.type === 'http-json') for (const v of Object.values(recSrc.headers)) if (typeof v !== 'string') secrets.push(v);
    const clean = (e: unknown) => scrub(e instanceof Error ? e.message : String(e), secrets);
    const o = { signal: ctx.signal };
    const client = new BtcpayClient({ url: sender.url, apiKey: sender.apiKey, storeId: sender.storeId, timeoutMs: sender.timeoutMs ?? probe.timeoutMs });

    // Both sides at once: the records query and the invoice listing are independent.
    const recordsP: Promise<RecordsResult> =
      recSrc.type === 'postgres'
        ? fetchPostgres(recSrc, sinceMs, nowMs, { timeoutMs: probe.timeoutMs, signal: ctx.signal })
        : fetchHttpJson(recSrc, sinceMs, nowMs, { resolver: ctx.config.global.resolver, timeoutMs: probe.timeoutMs, signal: ctx.signal });
    const invoicesP = client.listAllInvoices({ status: ['Settled', 'Expired'], startDate: Math.floor(sinceMs / 1000), endDate: Math.ceil(nowMs / 1000) }, o);
    const [recRes, invRes] = await Promise.allSettled([recordsP, invoicesP]);
    if (invRes.status === 'rejected') {
      const e: unknown = invRes.reason;
      return {
        ok: false,
        reason: `cannot list paid invoices at ${sender.name}: ${clean(e)}`,
        cause: e instanceof BtcpayError && e.kind === 'permission' ? 'The API key lacks btcpay.store.canviewinvoices for the store.' : 'BTCPay is unreachable or answered unexpectedly.',
      };
    }
    if (recRes.status === 'rejected') {
      const e: unknown = recRes.reason;
      return {
        ok: false,
        reason: `cannot read the internal records from ${recSrc.name}: ${clean(e)}`,
        cause: e instanceof RecordsError ? 'The internal records source failed: check its URL/credentials, that it answers within the probe timeout, and the field mapping.' : 'Unexpected error reading the records.',
      };
    }
    const paid = invRes.value.filter(isPaid);
    const { records, skipped } = recRes.value;
    const recordById = new Map<string, InternalRecord>();
    for (const r of records) recordById.set(r.id, r);
    const paidById = new Map(paid.map((i) => [i.id, i]));

    const missing: Array<Record<string, unknown>> = [];
    const pending: string[] = [];
    const mismatches: Array<{ invoiceId: string; field: 'amount' | 'currency'; sender: string; internal: string }> = [];
    let oldestMissingMs = 0;
    const compare = (inv: Invoice, rec: InternalRecord) => {
      if (rec.amount !== undefined && !sameAmount(rec.amount, inv.amount)) mismatches.push({ invoiceId: inv.id, field: 'amount', sender: inv.amount, internal: rec.amount });
      if (rec.currency !== undefined && inv.currency && rec.currency.toUpperCase() !== inv.currency.toUpperCase())
        mismatches.push({ invoiceId: inv.id, field: 'currency', sender: inv.currency, internal: rec.currency });
    };
    for (const inv of paid) {
      const created = inv.createdTime * 1000;
      const rec = recordById.get(inv.id);
      if (rec) {
        compare(inv, rec);
        continue;
      }
      // The invoice has no paid-at time; creation time is the earliest the payment can be.
      if (created > untilMs) {
        pending.push(inv.id);
        continue;
      }
      const age = nowMs - created;
      oldestMissingMs = Math.max(oldestMissingMs, age);
      missing.push({ invoiceId: inv.id, createdAt: iso(created), ageSeconds: Math.round(age / 1000), amount: inv.amount, currency: inv.currency, status: inv.status, additionalStatus: inv.additionalStatus });
    }

    // Records of invoices not paid in the listing: either invoices created before the window (look
    // them up), or recorded without a payment at the sender.
    const orphans: Array<Record<string, unknown>> = [];
    let lookups = 0;
    for (const rec of records) {
      if (paidById.has(rec.id)) continue;
      if (rec.timeMs !== undefined && rec.timeMs > untilMs) continue; // still within the grace
      if (lookups >= probe.maxLookups) {
        orphans.push({ id: rec.id, reason: 'not paid in the window; not looked up (maxLookups reached)' });
        continue;
      }
      lookups++;
      try {
        const inv = await client.getInvoice(rec.id, o);
        if (isPaid(inv)) compare(inv, rec);
        else if (inv.status === 'Processing') continue; // paid, awaiting confirmations
        else orphans.push({ id: rec.id, reason: `invoice is ${inv.status}${inv.additionalStatus !== 'None' ? `/${inv.additionalStatus}` : ''} at the sender, not paid` });
      } catch (e) {
        if (e instanceof BtcpayError && (e.kind === 'not_found' || e.status === 403 || e.status === 404)) orphans.push({ id: rec.id, reason: 'no such invoice at the sender' });
        else return { ok: false, reason: `cannot look up invoice ${rec.id} at ${sender.name}: ${clean(e)}`, cause: 'BTCPay is unreachable or answered unexpectedly.' };
      }
    }

    const m = ctx.metrics;
    for (const d of Object.values(METRICS)) m.define(d);
    m.set('reconcile_missing_records', {}, missing.length);
    m.set('reconcile_orphan_records', {}, orphans.length);
    m.set('reconcile_oldest_missing_age_seconds', {}, Math.round(oldestMissingMs / 1000));
    m.set(METRICS.mismatched.name, {}, mismatches.length);
    m.set(METRICS.pending.name, {}, pending.length);
    m.set(METRICS.paid.name, {}, paid.length);

    missing.sort((a, b) => Number(b.ageSeconds) - Number(a.ageSeconds));
    const details: Record<string, unknown> = {
      window: { since: iso(sinceMs), dueUntil: iso(untilMs), now: iso(nowMs) },
      paidInvoices: paid.length,
      records: records.length,
      recordsWithoutId: skipped,
      missingCount: missing.length,
      orphanCount: orphans.length,
      mismatchCount: mismatches.length,
      pendingCount: pending.length,
      missing: missing.slice(0, MAX_LISTED),
      orphans: orphans.slice(0, MAX_LISTED),
      mismatches: mismatches.slice(0, MAX_LISTED),
      pending: pending.slice(0, MAX_LISTED),
      lookups,
    };
    const maxMissing = probe.thresholds.max_missing ?? 0;
    const problems: string[] = [];
    const causes: string[] = [];
    if (missing.length > maxMissing) {
      problems.push(`${missing.length} paid invoice(s) missing from the internal records (oldest ${Math.round(oldestMissingMs / 60000)} min; e.g. ${missing.slice(0, 3).map((x) => x.invoiceId).join(', ')})`);
      causes.push('Missing records mean a paid event never reached or was lost by the internal system: check the webhook delivery probes and the receiver, then redeliver (hookwatch redeliver).');
    }
    if (orphans.length) {
      problems.push(`${orphans.length} internal record(s) with no paid invoice at the sender (e.g. ${orphans.slice(0, 3).map((x) => x.id).join(', ')})`);
      causes.push('Orphan records were booked without a payment at the sender: possibly a spoofed webhook (does the receiver verify signatures?), a test record, or a manual entry.');
    }
    if (mismatches.length) {
      problems.push(`${mismatches.length} amount/currency mismatch(es) (e.g. ${mismatches.slice(0, 3).map((x) => `${x.invoiceId} ${x.field} ${x.sender} vs ${x.internal}`).join(', ')})`);
      causes.push('Mismatched amounts or currencies: the internal system booked a different value than the invoice (a tampered payload, a currency conversion bug, or a partial payment booked as full).');
    }
    if (problems.length === 0) return { ok: true, details };
    // Missing records: once deliveries work, a redelivery restores them (this probe names the BTCPay source).
    const action = missing.length > maxMissing
      ? `Once webhooks are delivered again, redeliver, dry run first: \`hookwatch redeliver --config.file ${ctx.config.file} --probe ${probe.name} --since ${Math.ceil(oldestMissingMs / 3_600_000) + 1}h\` (add --apply to send).`
      : undefined;
    return { ok: false, reason: problems.join('; '), cause: causes.join(' '), ...(action ? { action } : {}), details };
  },
});

