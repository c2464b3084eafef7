// The reconcile probe: the sender's paid invoices against the internal system's records over a
// window, minus a grace for events still in flight. Missing = paid but never recorded (a lost
// webhook); orphan = recorded but not paid at the sender (possibly a spoofed webhook); mismatch =
// both exist but amount or currency differ. Ids go to details, counts to metrics. Gather (both sides,
// then the orphan candidates one by one), evaluate (evaluate.ts, pure), export (metrics.ts).
import { z } from 'zod';
import { defineProbe } from '../../src/probe/types.ts';
import { duration } from '../../src/config/schema-helpers.ts';
import { scrub, type Secret } from '../../src/secret.ts';
import { BtcpayClient, BtcpayError } from '../../src/clients/btcpay/client.ts';
import type { Invoice } from '../../src/clients/btcpay/schemas.ts';
import type { ProbeResult, SourceOf } from '../../src/probe/types.ts';
import type { MetricSet } from '../../src/metrics/run-metrics.ts';
import { fetchHttpJson, fetchPostgres, RecordsError, type InternalRecord, type RecordsResult } from './records.ts';
import { DEFAULTS, evaluate, orphanCandidates, isPaid, type ReconcileVerdict, type Window } from './evaluate.ts';
import { METRICS } from './metrics.ts';

export { isPaid, sameAmount } from './evaluate.ts';
export { METRICS } from './metrics.ts';

const schema = z.strictObject({
  source: z.string().min(1).describe('Name of a btcpay source: the sender'),
  records: z.string().min(1).describe("Name of an http-json or postgres source: the internal system's records"),
  window: duration()
    .default(24 * 3_600_000)
    .describe('How far back to compare (default 24h)'),
  grace: duration()
    .default(10 * 60_000)
    .describe('Paid invoices younger than this are pending, not missing (default 10m)'),
  maxLookups: z
    .int()
    .min(0)
    .max(1000)
    .default(50)
    .describe('Orphan candidates looked up one by one at the sender (records of invoices created before the window; default 50)'),
});

type Gathered = { invoices: Invoice[]; records: RecordsResult; lookedUp: Map<string, Invoice | null> };
type Sources = { sender: SourceOf<'btcpay'>; records: SourceOf<'http-json'> | SourceOf<'postgres'> };

/** Every secret the error text of either side could echo. */
function secretsOf(s: Sources, all: Secret[]): Secret[] {
  const secrets: Secret[] = [s.sender.apiKey, ...all];
  if (s.records.type === 'postgres' && s.records.password) secrets.push(s.records.password);
  if (s.records.type === 'http-json') for (const v of Object.values(s.records.headers)) if (typeof v !== 'string') secrets.push(v);
  return secrets;
}

/** Both sides of the window at once (the records query and the invoice listing are independent). */
async function fetchBothSides(
  client: BtcpayClient,
  s: Sources,
  w: Window,
  o: { timeoutMs: number; resolver: string; signal: AbortSignal },
  clean: (e: unknown) => string,
): Promise<ProbeResult | Omit<Gathered, 'lookedUp'>> {
  const recordsP =
    s.records.type === 'postgres'
      ? fetchPostgres(s.records, w.sinceMs, w.nowMs, { timeoutMs: o.timeoutMs, signal: o.signal })
      : fetchHttpJson(s.records, w.sinceMs, w.nowMs, { resolver: o.resolver, timeoutMs: o.timeoutMs, signal: o.signal });
  const invoicesP = client.listAllInvoices(
    { status: ['Settled', 'Expired'], startDate: Math.floor(w.sinceMs / 1000), endDate: Math.ceil(w.nowMs / 1000) },
    { signal: o.signal },
  );
  const [recRes, invRes] = await Promise.allSettled([recordsP, invoicesP]);
  if (invRes.status === 'rejected') {
    const e: unknown = invRes.reason;
    const cause =
      e instanceof BtcpayError && e.kind === 'permission'
        ? 'The API key lacks btcpay.store.canviewinvoices for the store.'
        : 'BTCPay is unreachable or answered unexpectedly.';
    return { ok: false, reason: `cannot list paid invoices at ${s.sender.name}: ${clean(e)}`, cause };
  }
  if (recRes.status === 'rejected') {
    const e: unknown = recRes.reason;
    const cause =
      e instanceof RecordsError
        ? 'The internal records source failed: check its URL/credentials, that it answers within the probe timeout, and the field mapping.'
        : 'Unexpected error reading the records.';
    return { ok: false, reason: `cannot read the internal records from ${s.records.name}: ${clean(e)}`, cause };
  }
  return { invoices: invRes.value, records: recRes.value };
}

/** Orphan candidates (records not paid in the listing) looked up one by one, at most `max`: null when the sender has none. */
async function lookUpCandidates(client: BtcpayClient, candidates: InternalRecord[], max: number, signal: AbortSignal): Promise<Map<string, Invoice | null>> {
  const found = new Map<string, Invoice | null>();
  for (const rec of candidates.slice(0, max)) {
    try {
      found.set(rec.id, await client.getInvoice(rec.id, { signal }));
    } catch (e) {
      if (e instanceof BtcpayError && (e.kind === 'not_found' || e.status === 403 || e.status === 404)) found.set(rec.id, null);
      else throw Object.assign(new Error(`cannot look up invoice ${rec.id}`), { cause: e });
    }
  }
  return found;
}

function exportCounts(m: MetricSet<typeof METRICS>, c: ReconcileVerdict['counts']): void {
  m.gauge('reconcile_missing_records', {}, c.missing);
  m.gauge('reconcile_orphan_records', {}, c.orphans);
  m.gauge('reconcile_oldest_missing_age_seconds', {}, c.oldestMissingSeconds);
  m.gauge('reconcile_mismatched_records', {}, c.mismatched);
  m.gauge('reconcile_pending_records', {}, c.pending);
  m.gauge('reconcile_paid_invoices', {}, c.paid);
}

export const reconcile = defineProbe({
  type: 'reconcile',
  runbook: 'HookwatchReconciliationMismatch',
  schema,
  metrics: METRICS,
  thresholds: {
    max_missing: { default: DEFAULTS.max_missing, help: 'Missing records (paid at the sender, not recorded, past the grace) tolerated before alerting.' },
  },
  sources: { source: ['btcpay'], records: ['http-json', 'postgres'] },
  validate(probe) {
    const errs: Array<{ key: string; message: string }> = [];
    if (probe.grace >= probe.window) errs.push({ key: 'grace', message: 'grace must be shorter than window' });
    return errs;
  },
  async run(probe, ctx) {
    const nowMs = ctx.now();
    const w: Window = { nowMs, sinceMs: nowMs - probe.window, untilMs: nowMs - probe.grace };
    const s: Sources = { sender: ctx.sources.source, records: ctx.sources.records };
    const secrets = secretsOf(s, ctx.config.secrets);
    const clean = (e: unknown) => scrub(e instanceof Error ? e.message : String(e), secrets);
    const client = new BtcpayClient({
      url: s.sender.url,
      apiKey: s.sender.apiKey,
      storeId: s.sender.storeId,
      timeoutMs: s.sender.timeoutMs ?? probe.timeoutMs,
    });

    const sides = await fetchBothSides(client, s, w, { timeoutMs: probe.timeoutMs, resolver: ctx.config.global.resolver, signal: ctx.signal }, clean);
    if (!('invoices' in sides)) return sides;
    const { invoices, records } = sides;
    let g: Gathered;
    try {
      const candidates = orphanCandidates(records.records, invoices.filter(isPaid), w.untilMs);
      g = { invoices, records, lookedUp: await lookUpCandidates(client, candidates, probe.maxLookups, ctx.signal) };
    } catch (e) {
      return { ok: false, reason: `${clean(e)} at ${s.sender.name}: ${clean((e as Error).cause)}`, cause: 'BTCPay is unreachable or answered unexpectedly.' };
    }

    const v = evaluate({
      window: w,
      invoices: g.invoices,
      records: g.records.records,
      skipped: g.records.skipped,
      lookedUp: g.lookedUp,
      maxLookups: probe.maxLookups,
      thresholds: probe.thresholds,
      redeliver: { configFile: ctx.config.file, probe: probe.name },
    });
    exportCounts(ctx.metrics, v.counts);
    const { counts: _c, ...result } = v;
    return result;
  },
});
