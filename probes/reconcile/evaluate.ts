// The reconcile verdict, pure: the paid invoices and the internal records of one window (plus the
// invoices looked up one by one) in; missing, orphans, mismatches, pending and the sentences out.
import type { Invoice } from '../../src/clients/btcpay/schemas.ts';
import type { InternalRecord } from './records.ts';
import { isPaid as isPaidInvoice } from '../../src/btcpay/invoices.ts';

/** One typed default per threshold; the kind's declaration and the verdict both read it. */
export const DEFAULTS = { max_missing: 0 } as const;

const MAX_LISTED = 100;
const iso = (ms: number) => new Date(ms).toISOString();

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

export interface Window {
  nowMs: number;
  sinceMs: number;
  /** Paid invoices created after this are pending, not missing (now - grace). */
  untilMs: number;
}

/** Records not matched by a paid invoice in the listing and past the grace: the ones to look up at the sender. */
export function orphanCandidates(records: InternalRecord[], paid: Invoice[], untilMs: number): InternalRecord[] {
  const paidIds = new Set(paid.map((i) => i.id));
  return records.filter((r) => !paidIds.has(r.id) && !(r.timeMs !== undefined && r.timeMs > untilMs));
}

export interface ReconcileInput {
  window: Window;
  /** All invoices listed in the window; the unpaid ones are ignored. */
  invoices: Invoice[];
  records: InternalRecord[];
  /** Rows without a usable id. */
  skipped: number;
  /** Orphan candidates looked up at the sender: the invoice, or null when the sender has no such invoice. */
  lookedUp: Map<string, Invoice | null>;
  maxLookups: number;
  thresholds: { max_missing?: number };
  /** Names the `hookwatch redeliver` command of the action: the agent's config file and this probe. */
  redeliver: { configFile: string; probe: string };
}

type Mismatch = { invoiceId: string; field: 'amount' | 'currency'; sender: string; internal: string };

export interface ReconcileVerdict {
  ok: boolean;
  reason?: string;
  cause?: string;
  action?: string;
  details: Record<string, unknown>;
  counts: { missing: number; orphans: number; mismatched: number; pending: number; paid: number; oldestMissingSeconds: number };
}

function mismatchesOf(inv: Invoice, rec: InternalRecord): Mismatch[] {
  const out: Mismatch[] = [];
  if (rec.amount !== undefined && !sameAmount(rec.amount, inv.amount))
    out.push({ invoiceId: inv.id, field: 'amount', sender: inv.amount, internal: rec.amount });
  if (rec.currency !== undefined && inv.currency && rec.currency.toUpperCase() !== inv.currency.toUpperCase())
    out.push({ invoiceId: inv.id, field: 'currency', sender: inv.currency, internal: rec.currency });
  return out;
}

/** Paid invoices against the records: matched ones compared, the rest pending (within the grace) or missing. */
function comparePaid(paid: Invoice[], records: InternalRecord[], w: Window) {
  const recordById = new Map(records.map((r) => [r.id, r]));
  const missing: Array<Record<string, unknown> & { ageSeconds: number }> = [];
  const pending: string[] = [];
  const mismatches: Mismatch[] = [];
  let oldestMissingMs = 0;
  for (const inv of paid) {
    const rec = recordById.get(inv.id);
    if (rec) {
      mismatches.push(...mismatchesOf(inv, rec));
      continue;
    }
    // The invoice has no paid-at time; creation time is the earliest the payment can be.
    const created = inv.createdTime * 1000;
    if (created > w.untilMs) {
      pending.push(inv.id);
      continue;
    }
    const age = w.nowMs - created;
    oldestMissingMs = Math.max(oldestMissingMs, age);
    missing.push({
      invoiceId: inv.id,
      createdAt: iso(created),
      ageSeconds: Math.round(age / 1000),
      amount: inv.amount,
      currency: inv.currency,
      status: inv.status,
      additionalStatus: inv.additionalStatus,
    });
  }
  missing.sort((a, b) => b.ageSeconds - a.ageSeconds);
  return { missing, pending, mismatches, oldestMissingMs };
}

/** Candidates the lookups showed not paid (or unknown) at the sender, plus those past maxLookups. */
function orphansOf(candidates: InternalRecord[], lookedUp: Map<string, Invoice | null>, maxLookups: number, mismatches: Mismatch[]) {
  const orphans: Array<{ id: string; reason: string }> = [];
  candidates.forEach((rec, i) => {
    if (i >= maxLookups) return orphans.push({ id: rec.id, reason: 'not paid in the window; not looked up (maxLookups reached)' });
    const inv = lookedUp.get(rec.id);
    if (inv === null || inv === undefined) return orphans.push({ id: rec.id, reason: 'no such invoice at the sender' });
    if (isPaid(inv)) return mismatches.push(...mismatchesOf(inv, rec));
    if (inv.status === 'Processing') return; // paid, awaiting confirmations
    orphans.push({
      id: rec.id,
      reason: `invoice is ${inv.status}${inv.additionalStatus !== 'None' ? `/${inv.additionalStatus}` : ''} at the sender, not paid`,
    });
  });
  return orphans;
}

function sentences(
  c: { missing: Array<Record<string, unknown>>; orphans: Array<{ id: string }>; mismatches: Mismatch[]; oldestMissingMs: number },
  maxMissing: number,
) {
  const problems: string[] = [];
  const causes: string[] = [];
  if (c.missing.length > maxMissing) {
    const eg = c.missing.slice(0, 3).map((x) => x.invoiceId as string);
    problems.push(
      `${c.missing.length} paid invoice(s) missing from the internal records (oldest ${Math.round(c.oldestMissingMs / 60000)} min; e.g. ${eg.join(', ')})`,
    );
    causes.push(
      'Missing records mean a paid event never reached or was lost by the internal system: check the webhook delivery probes and the receiver, then redeliver (hookwatch redeliver).',
    );
  }
  if (c.orphans.length) {
    problems.push(
      `${c.orphans.length} internal record(s) with no paid invoice at the sender (e.g. ${c.orphans
        .slice(0, 3)
        .map((x) => x.id)
        .join(', ')})`,
    );
    causes.push(
      'Orphan records were booked without a payment at the sender: possibly a spoofed webhook (does the receiver verify signatures?), a test record, or a manual entry.',
    );
  }
  if (c.mismatches.length) {
    const eg = c.mismatches.slice(0, 3).map((x) => `${x.invoiceId} ${x.field} ${x.sender} vs ${x.internal}`);
    problems.push(`${c.mismatches.length} amount/currency mismatch(es) (e.g. ${eg.join(', ')})`);
    causes.push(
      'Mismatched amounts or currencies: the internal system booked a different value than the invoice (a tampered payload, a currency conversion bug, or a partial payment booked as full).',
    );
  }
  return { problems, causes };
}

export function evaluate(input: ReconcileInput): ReconcileVerdict {
  const { window: w, records } = input;
  const paid = input.invoices.filter(isPaid);
  const { missing, pending, mismatches, oldestMissingMs } = comparePaid(paid, records, w);
  const orphans = orphansOf(orphanCandidates(records, paid, w.untilMs), input.lookedUp, input.maxLookups, mismatches);
  const details: Record<string, unknown> = {
    window: { since: iso(w.sinceMs), dueUntil: iso(w.untilMs), now: iso(w.nowMs) },
    paidInvoices: paid.length,
    records: records.length,
    recordsWithoutId: input.skipped,
    missingCount: missing.length,
    orphanCount: orphans.length,
    mismatchCount: mismatches.length,
    pendingCount: pending.length,
    missing: missing.slice(0, MAX_LISTED),
    orphans: orphans.slice(0, MAX_LISTED),
    mismatches: mismatches.slice(0, MAX_LISTED),
    pending: pending.slice(0, MAX_LISTED),
    lookups: input.lookedUp.size,
  };
  const counts = {
    missing: missing.length,
    orphans: orphans.length,
    mismatched: mismatches.length,
    pending: pending.length,
    paid: paid.length,
    oldestMissingSeconds: Math.round(oldestMissingMs / 1000),
  };
  const maxMissing = input.thresholds.max_missing ?? DEFAULTS.max_missing;
  const { problems, causes } = sentences({ missing, orphans, mismatches, oldestMissingMs }, maxMissing);
  if (problems.length === 0) return { ok: true, details, counts };
  // Missing records: once deliveries work, a redelivery restores them (this probe names the BTCPay source).
  const { configFile, probe } = input.redeliver;
  const action =
    missing.length > maxMissing
      ? `Once webhooks are delivered again, redeliver, dry run first: \`hookwatch redeliver --config.file ${configFile} --probe ${probe} --since ${Math.ceil(oldestMissingMs / 3_600_000) + 1}h\` (add --apply to send).`
      : undefined;
  return { ok: false, reason: problems.join('; '), cause: causes.join(' '), ...(action ? { action } : {}), details, counts };
}
