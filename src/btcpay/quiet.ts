// Quiet webhooks: a webhook with no delivery row newer than quietAfter is listed only once per maxStale, not on
// every poll, so the list calls of a source with many webhooks follow the traffic. Used only when a source watches
// several stores (stores.ts sets the policy on each store's trackers); a single storeId polls every webhook.
// A webhook whose queue may be backed up, or any webhook while the tracker reads deep (failures or queueing seen),
// is never skipped.

export interface QuietPolicy {
  /** No row newer than this (s) makes a webhook quiet. */
  quietAfterSec: number;
  /** A quiet webhook is listed at least this often (s): the bound on how stale its view may be. */
  maxStaleSec: number;
}

/** Webhooks to leave out of this poll. */
export function quietSkips(
  ids: readonly string[],
  o: { nowSec: number; lastPolled: ReadonlyMap<string, number>; newestRow: ReadonlyMap<string, number>; keep: (id: string) => boolean },
  p: QuietPolicy,
): Set<string> {
  const skip = new Set<string>();
  for (const id of ids) {
    const polled = o.lastPolled.get(id);
    if (polled === undefined || o.keep(id)) continue;
    const quiet = o.nowSec - (o.newestRow.get(id) ?? -Infinity) >= p.quietAfterSec;
    if (quiet && o.nowSec - polled < p.maxStaleSec) skip.add(id);
  }
  return skip;
}
