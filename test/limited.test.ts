// forEachLimited: the bounded fan-out the BTCPay and DNS probes use.
import { describe, expect, it } from 'vitest';
import { forEachLimited } from '../src/limited.ts';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('forEachLimited', () => {
  it('never runs more than the limit at once and visits every item', async () => {
    let active = 0;
    let peak = 0;
    const seen: number[] = [];
    const started = await forEachLimited([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      peak = Math.max(peak, ++active);
      await tick();
      seen.push(n);
      active--;
    });
    expect(started).toBe(7);
    expect(peak).toBe(3);
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('starts nothing after the first error, lets the ones in flight finish, then rethrows that error', async () => {
    const finished: number[] = [];
    const run = forEachLimited([1, 2, 3, 4, 5, 6], 2, async (n) => {
      await tick();
      if (n === 1) throw new Error('first');
      if (n === 2) await tick();
      finished.push(n);
    });
    await expect(run).rejects.toThrow('first');
    expect(finished).toEqual([2]);
  });

  it('starts nothing once the signal is aborted', async () => {
    const ac = new AbortController();
    const started = await forEachLimited(
      [1, 2, 3, 4],
      1,
      async (n) => {
        if (n === 2) ac.abort();
        await tick();
      },
      ac.signal,
    );
    expect(started).toBe(2);
  });
});
