// Every store a key can see: a btcpay source with `storeId: all` (or a list of ids) makes the BTCPay probes run
// their single-store logic once per store, each store with its own state and its series labelled `store`.
//
//  - discovery: GET /api/v1/stores (needs btcpay.store.canviewstoresettings; BTCPay lists the stores the key holds
//    it on: BTCPayServer/Security/BuiltInPermissionHandler.cs, GreenfieldStoresController.GetStores), read again
//    every discoveryInterval and shared by the probes using the source; archived stores are left out; a store that
//    goes away loses its series and state, a new one is polled on the next run. No reload needed;
//  - cost: a store whose newest delivery is older than quietAfter, and whose last run passed, is polled only every
//    maxStaleness; busy or failing stores every run. So steady-state calls follow new deliveries, not stores;
//  - at most storeConcurrency stores at once (p-limit), least recently polled first, all under the source's request
//    budget (budget.ts): when it is spent, the run stops starting stores and the reason says so;
//  - maxStores: more stores than this fails the probe (the list is cut there, so memory stays bounded).
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import type { ProbeBase, ProbeContext, ProbeKind, ProbeResult } from '../probe/types.ts';
import type { z } from 'zod';
import { BtcpayError } from '../clients/btcpay/client.ts';
import { BUDGET_CAUSE, budgetFor, DEFAULT_MULTI_STORE_BUDGET, type RequestBudget } from './budget.ts';
import { btcpaySource, clientFromSource, explainApiError, sourceKey, type BtcpaySource } from './source.ts';
import type { DeliveryTracker } from './tracker.ts';
import { DeliveryReader } from './shared-log.ts';
import { listSome, MAX_DETAIL_ITEMS } from './limits.ts';
import { defineMetrics, withRunMetrics, type GaugeWrite, type MetricDefs, type RunMetrics } from '../metrics/run-metrics.ts';

export const DEFAULT_MAX_STORES = 1000;
const NEEDS_VIEW = 'storeId: all needs btcpay.store.canviewstoresettings on the stores to watch (GET /api/v1/stores), or list the store ids in storeId.';
export const DEFAULT_DISCOVERY_MS = 5 * 60_000;
export const DEFAULT_MAX_STALENESS_MS = 10 * 60_000;
export const DEFAULT_QUIET_AFTER_MS = 15 * 60_000;
export const DEFAULT_STORE_CONCURRENCY = 4;

interface StoreRun {
  state: Map<string, unknown>;
  /** When the store was first listed (its view is that old until its first poll). */
  seenMs?: number;
  lastRunMs?: number;
  last?: ProbeResult;
  /** The gauges of the store's last counted run: replayed into every run's snapshot until the store runs again. */
  gauges?: GaugeWrite[];
}

interface MultiState {
  stores: Map<string, StoreRun>;
}

/** Store lists by source (url, key hash, selection), shared by every probe using the source. */
const discovered = new Map<string, { ids: string[]; atMs: number; pending?: Promise<string[]> }>();
const MAX_SOURCES = 256;

export class TooManyStoresError extends Error {
  constructor(
    readonly source: string,
    readonly max: number,
  ) {
    super(`the API key of source "${source}" sees more than maxStores ${max} stores`);
  }
}

/** The store ids a multi-store source covers now: its list, or BTCPay's store list (cached for discoveryInterval). */
export async function storesOf(s: BtcpaySource, nowMs: number, o: { signal?: AbortSignal; probeTimeoutMs?: number } = {}): Promise<string[]> {
  const max = s.maxStores ?? DEFAULT_MAX_STORES;
  if (Array.isArray(s.stores)) {
    if (s.stores.length > max) throw new TooManyStoresError(s.name, max);
    return s.stores;
  }
  const k = sourceKey(s);
  const hit = discovered.get(k);
  if (hit && nowMs - hit.atMs < (s.discoveryIntervalMs ?? DEFAULT_DISCOVERY_MS)) return hit.ids;
  if (hit?.pending) return hit.pending;
  const client = clientFromSource(perStoreSource(s, ''), o.probeTimeoutMs);
  const pending = client.listStores({ ...(o.signal ? { signal: o.signal } : {}), maxItems: max + 1 }).then((list) => {
    if (list.length > max) throw new TooManyStoresError(s.name, max);
    return [...new Set(list.filter((x) => !x.archived).map((x) => x.id))];
  });
  if (discovered.size >= MAX_SOURCES) discovered.clear();
  discovered.set(k, { ids: hit?.ids ?? [], atMs: hit?.atMs ?? -Infinity, pending });
  try {
    const ids = await pending;
    discovered.set(k, { ids, atMs: nowMs });
    return ids;
  } catch (e) {
    if (hit) discovered.set(k, hit);
    else discovered.delete(k);
    throw e;
  }
}

/** Test hook: forget every discovered store list. */
export function forgetDiscoveredStores(): void {
  discovered.clear();
}

/** The single-store view of a multi-store source; it keeps the source's budget (the same shared one). */
function perStoreSource(s: BtcpaySource, storeId: string): BtcpaySource {
  const { stores: _stores, ...rest } = s;
  return { ...rest, storeId, requestBudget: s.requestBudget ?? DEFAULT_MULTI_STORE_BUDGET };
}

/** The delivery trackers a probe's readers use in a store's state (a reader kept directly or as `.reader` of a state object). */
function trackersIn(state: Map<string, unknown>): DeliveryTracker[] {
  const out: DeliveryTracker[] = [];
  for (const v of state.values()) {
    const r = v instanceof DeliveryReader ? v : (v as { reader?: unknown } | null)?.reader;
    if (r instanceof DeliveryReader) out.push(r.tracker);
  }
  return out;
}

/** Newest delivery row time (unix s) any tracker in a store's state has seen. */
function newestRowSec(state: Map<string, unknown>): number {
  let newest = -Infinity;
  for (const t of trackersIn(state)) for (const r of t.rows.values()) newest = Math.max(newest, r.timestamp);
  return newest;
}

/** Quiet webhooks of an active store are listed less often too (quiet.ts), within the same staleness bound. */
function setQuietPolicy(state: Map<string, unknown>, s: BtcpaySource): void {
  const quiet = { quietAfterSec: (s.quietAfterMs ?? DEFAULT_QUIET_AFTER_MS) / 1000, maxStaleSec: (s.maxStalenessMs ?? DEFAULT_MAX_STALENESS_MS) / 1000 };
  for (const t of trackersIn(state)) t.quiet = quiet;
}

/**
 * Is a store due this run? Busy, failing or never-run stores, and stores with a paid event still undelivered,
 * always; quiet ones once per maxStaleness, each a little earlier by a stable share of its id (up to half), so
 * stores first seen together do not all come due in the same run forever after (that burst would spend the
 * budget every maxStaleness).
 */
export function storeDue(run: StoreRun | undefined, nowMs: number, s: Pick<BtcpaySource, 'maxStalenessMs' | 'quietAfterMs'>, id = ''): boolean {
  if (!run?.lastRunMs || !run.last?.ok) return true;
  // Paid events still waiting for a delivery (paid_latency): their age must keep counting up every run.
  const pending = (run.last.details as { undelivered?: unknown } | undefined)?.undelivered;
  if (Array.isArray(pending) && pending.length > 0) return true;
  const stale = s.maxStalenessMs ?? DEFAULT_MAX_STALENESS_MS;
  if (nowMs - run.lastRunMs >= stale * (1 - spreadOf(id) / 2)) return true;
  return nowMs - newestRowSec(run.state) * 1000 < (s.quietAfterMs ?? DEFAULT_QUIET_AFTER_MS);
}

/** A stable number in [0, 1) from a store id. */
function spreadOf(id: string): number {
  return createHash('sha256').update(id).digest().readUInt32BE(0) / 2 ** 32;
}

/**
 * Two per-probe gauges in multi-store mode (no store label): how many stores the probe watches, and how old the
 * oldest store view is (a store never polled yet counts from its discovery), so the staleness bound can be graphed.
 */
export const STORE_METRICS = defineMetrics({
  btcpay_stores_watched: { type: 'gauge', help: 'BTCPay stores the probe watches (source storeId: all or a list).', labels: [] },
  btcpay_oldest_store_view_age_seconds: {
    type: 'gauge',
    help: "Age of the oldest store's last poll, among the stores the probe watches; bounded by maxStaleness unless the request budget is short.",
    labels: [],
  },
});

type Run<C extends z.ZodObject> = (probe: ProbeBase & z.infer<C>, ctx: ProbeContext) => Promise<ProbeResult>;
type MultiContext = Omit<ProbeContext, 'metrics'> & { metrics: RunMetrics };

/**
 * Wrap a BTCPay probe kind (its schema has `source`) so a multi-store source runs it once per store. Each store's
 * run writes through a view scoped to `store`; its gauges are kept in the store's state and replayed into every run's
 * snapshot until the store runs again, since quiet stores are not polled every run. A store that goes away takes
 * its gauges (not replayed any more) and its counters and histograms (removed) with it.
 */
export function perStore<C extends z.ZodObject>(kind: ProbeKind<C>): ProbeKind<C> {
  const single = kind.run.bind(kind) as Run<C>;
  const metrics = { ...kind.metrics, ...STORE_METRICS };
  return {
    ...kind,
    metrics,
    run(probe, ctx) {
      return withRunMetrics(ctx.metrics, probe.type, async (m) => {
        m.declare(metrics);
        const mctx: MultiContext = { ...ctx, metrics: m };
        const src = btcpaySource(ctx, (probe as { source?: string }).source ?? '');
        const multi = typeof src !== 'string' && src.stores !== undefined;
        // The source's storeId changed between one store and several (a reload keeps the probe and its state):
        // start the new mode clean, without the other mode's state or series.
        if (multi !== ctx.state.has('multiStore') && ctx.state.size > 0) switchMode(mctx, metrics);
        if (!multi) return single(probe, mctx);
        return runStores(single, probe, mctx, src);
      });
    },
  };
}

async function runStores<C extends z.ZodObject>(single: Run<C>, probe: ProbeBase & z.infer<C>, ctx: MultiContext, src: BtcpaySource): Promise<ProbeResult> {
  let ms = ctx.state.get('multiStore') as MultiState | undefined;
  if (!ms) ctx.state.set('multiStore', (ms = { stores: new Map() }));
  const nowMs = ctx.now();
  const ids = await listStores(src, nowMs, probe.timeoutMs, ctx, ms);
  if (!Array.isArray(ids)) return ids;
  const removed = followStores(ms, ids, nowMs, ctx.metrics);
  const due = ids.filter((id) => storeDue(ms.stores.get(id), nowMs, src, id));
  // Least recently polled first, so a spent budget moves on to the others next run instead of starving them.
  due.sort((a, b) => (ms.stores.get(a)!.lastRunMs ?? -Infinity) - (ms.stores.get(b)!.lastRunMs ?? -Infinity));
  const polls = await pollStores(due, (id, metrics) => pollStore(single, probe, { ...ctx, metrics }, src, { run: ms.stores.get(id)!, id, nowMs }), ctx, src);

  const viewMs = ids.map((id) => ms.stores.get(id)!).map((r) => r.lastRunMs ?? r.seenMs ?? nowMs);
  const oldestMs = Math.max(0, ...viewMs.map((t) => nowMs - t));
  for (const id of ids) ctx.metrics.replay(ms.stores.get(id)!.gauges ?? []);
  ctx.metrics.gauge('btcpay_stores_watched', {}, ids.length);
  ctx.metrics.gauge('btcpay_oldest_store_view_age_seconds', {}, Math.round(oldestMs / 1000));
  return verdictOf(ms, { ids, due, removed, oldestMs, src, ...polls });
}

/** The stores to watch now, or the failed result: maxStores exceeded (then no store is watched), or the list refused. */
async function listStores(src: BtcpaySource, nowMs: number, probeTimeoutMs: number, ctx: MultiContext, ms: MultiState): Promise<string[] | ProbeResult> {
  try {
    return await storesOf(src, nowMs, { signal: ctx.signal, probeTimeoutMs });
  } catch (e) {
    if (e instanceof TooManyStoresError) {
      // Nothing written: the snapshot drops every gauge; the stores' counters and histograms go too.
      for (const id of ms.stores.keys()) ctx.metrics.scoped({ store: id }).clearScope();
      ms.stores.clear();
      return {
        ok: false,
        reason: `${e.message}: not watching any (each store costs a fixed set of series and API calls)`,
        cause: 'Raise maxStores on the source if this agent should watch that many stores, or list the store ids to watch in storeId.',
        details: { maxStores: e.max },
      };
    }
    const { reason, cause } = explainApiError(e);
    return {
      ok: false,
      reason: `listing the stores of source "${src.name}": ${reason}`,
      cause: e instanceof BtcpayError && e.kind === 'permission' ? NEEDS_VIEW : cause,
    };
  }
}

/** New stores get a state; stores that went away lose theirs and their series. Returns the removed ones. */
function followStores(ms: MultiState, ids: string[], nowMs: number, metrics: RunMetrics): string[] {
  const current = new Set(ids);
  const removed: string[] = [];
  for (const id of ms.stores.keys()) {
    if (current.has(id)) continue;
    metrics.scoped({ store: id }).clearScope();
    ms.stores.delete(id);
    removed.push(id);
  }
  for (const id of ids) if (!ms.stores.has(id)) ms.stores.set(id, { state: new Map(), seenMs: nowMs });
  return removed;
}

type Polled = 'polled' | 'budget';

/**
 * Run `poll` for the due stores, at most storeConcurrency at once, until the run is aborted (`cutShort`) or the
 * source's request budget refuses a call (`notPolled`, with the stores a refusal cut short).
 */
async function pollStores(
  due: string[],
  poll: (id: string, metrics: RunMetrics) => Promise<Polled>,
  ctx: MultiContext,
  src: BtcpaySource,
): Promise<{ notPolled: string[]; cutShort: string[]; budget: RequestBudget | undefined }> {
  const budget = budgetFor(perStoreSource(src, ''));
  const refused0 = budget?.refused ?? 0;
  const spent = () => (budget?.refused ?? 0) > refused0;
  const limit = pLimit(src.storeConcurrency ?? DEFAULT_STORE_CONCURRENCY);
  const notPolled: string[] = [];
  const cutShort: string[] = [];
  await Promise.all(
    due.map((id) =>
      limit(async () => {
        if (ctx.signal.aborted) return void cutShort.push(id);
        if (spent()) return void notPolled.push(id);
        if ((await poll(id, ctx.metrics.scoped({ store: id }))) === 'budget') notPolled.push(id);
      }),
    ),
  );
  return { notPolled, cutShort, budget };
}

/** One store's run of the kind, in the store's state and with its source; its verdict and gauges are kept. */
async function pollStore<C extends z.ZodObject>(
  single: Run<C>,
  probe: ProbeBase & z.infer<C>,
  ctx: MultiContext,
  src: BtcpaySource,
  { run, id, nowMs }: { run: StoreRun; id: string; nowMs: number },
): Promise<Polled> {
  const storeSrc = perStoreSource(src, id);
  const sctx: ProbeContext = { ...ctx, state: run.state, source: (n) => (n === src.name ? storeSrc : ctx.source(n)) };
  let r: ProbeResult;
  setQuietPolicy(run.state, src);
  try {
    r = await single(probe, sctx);
  } catch (e) {
    r = { ok: false, reason: (e as Error)?.message ?? String(e) };
  }
  setQuietPolicy(run.state, src); // trackers created by a store's first run
  // A run cut short by the budget is not a verdict on the store: keep its previous one.
  if (isBudget(r)) return 'budget';
  run.last = r;
  run.lastRunMs = nowMs;
  run.gauges = ctx.metrics.recorded();
  return 'polled';
}

/** The probe's verdict over its stores: failing stores, a spent budget, a run cut short, or no store at all. */
function verdictOf(
  ms: MultiState,
  o: {
    ids: string[];
    due: string[];
    removed: string[];
    oldestMs: number;
    src: BtcpaySource;
    notPolled: string[];
    cutShort: string[];
    budget: RequestBudget | undefined;
  },
): ProbeResult {
  const { ids, due, notPolled, cutShort, budget, src } = o;
  const failing = ids.filter((id) => ms.stores.get(id)!.last?.ok === false);
  const neverPolled = ids.filter((id) => !ms.stores.get(id)!.last);
  const details: Record<string, unknown> = {
    stores: ids.length,
    polled: due.length - notPolled.length - cutShort.length,
    ...(cutShort.length ? { notPolledBeforeTimeout: cutShort.length } : {}),
    quietNotDue: ids.length - due.length,
    ...(o.removed.length ? { removed: o.removed.slice(0, MAX_DETAIL_ITEMS) } : {}),
    oldestViewSeconds: Math.round(o.oldestMs / 1000),
    ...(budget ? { budget: { perMinute: budget.perMinute, remaining: budget.remaining(), notPolled: notPolled.length } } : {}),
    failing: failing.slice(0, MAX_DETAIL_ITEMS).map((id) => ({ store: id, reason: ms.stores.get(id)!.last!.reason })),
    ...(failing.length > MAX_DETAIL_ITEMS ? { failingNotShown: failing.length - MAX_DETAIL_ITEMS } : {}),
  };
  const problems: string[] = [];
  if (failing.length) {
    const first = ms.stores.get(failing[0]!)!.last!;
    problems.push(`${failing.length} of ${ids.length} stores failing (${listSome(failing, 5)}); store ${failing[0]}: ${first.reason ?? 'failed'}`);
  }
  if (notPolled.length) {
    problems.push(
      `request budget of source "${src.name}" spent (${budget?.perMinute ?? '?'} requests per minute): ` +
        `${notPolled.length} of ${due.length} due stores not polled this run` +
        (neverPolled.length ? `, ${neverPolled.length} never polled yet` : '') +
        `; oldest store view ${Math.round(o.oldestMs / 1000)} s old`,
    );
  }
  if (cutShort.length) problems.push(`the run ended (timeout or shutdown) before ${cutShort.length} of ${due.length} due stores were polled`);
  if (ids.length === 0) problems.push(`the API key of source "${src.name}" sees no store (it needs btcpay.store.canviewstoresettings on each store to watch)`);
  if (!problems.length) return { ok: true, details };
  const cause = failing.length
    ? ms.stores.get(failing[0]!)!.last!.cause
    : notPolled.length
      ? BUDGET_CAUSE
      : cutShort.length
        ? 'The probe timeout is too short for the stores due in one run: raise the probe timeout or storeConcurrency; the rest are polled first next run.'
        : NEEDS_VIEW;
  return { ok: false, reason: problems.join('; '), ...(cause ? { cause } : {}), details };
}

/** Forget a probe's state and the series of its families; the core's per-probe series stay. */
function switchMode(ctx: MultiContext, families: MetricDefs): void {
  ctx.state.clear();
  ctx.metrics.forgetSeries(families);
}

function isBudget(r: ProbeResult): boolean {
  return !r.ok && (r.reason ?? '').includes('BTCPay API (budget)');
}
