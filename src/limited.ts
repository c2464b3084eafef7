// Bounded fan-out for probes that make many upstream calls per run (delivery bodies, invoice payment
// methods, DNS hosts). p-limit does the queueing; this adds the stop rule they all want: after the first
// error or an abort no new item starts, the ones in flight finish, then the first error is rethrown.
import pLimit from 'p-limit';

/** Run `fn` over `items` with at most `concurrency` at once. Resolves to the number of items started. */
export async function forEachLimited<T>(items: Iterable<T>, concurrency: number, fn: (item: T) => Promise<void>, signal?: AbortSignal): Promise<number> {
  const limit = pLimit(Math.max(1, concurrency));
  let started = 0;
  let failure: { error: unknown } | undefined;
  const run = async (item: T) => {
    if (failure || signal?.aborted) return;
    started++;
    try {
      await fn(item);
    } catch (error) {
      failure ??= { error };
    }
  };
  await Promise.all(Array.from(items, (item) => limit(run, item)));
  if (failure) throw failure.error;
  return started;
}
