// Run logs are kept per probe: many fast probes must not push a slow probe's last run out.
import { describe, expect, it } from 'vitest';
import { RunLogStore } from '../src/scheduler/run-log.ts';

describe('run log store', () => {
  it("keeps a slow probe's last run while 200 fast probes log thousands of runs", () => {
    const store = new RunLogStore();
    store.sink({ probe: 'hourly', run_id: 'slow-1', msg: 'probe run failed' });
    for (let run = 0; run < 60; run++) for (let p = 0; p < 200; p++) store.sink({ probe: `fast${p}`, run_id: `f${p}-${run}`, msg: 'ok' });
    expect(store.lines('slow-1')).toEqual([{ probe: 'hourly', run_id: 'slow-1', msg: 'probe run failed' }]);
    expect(store.lines('f7-59')).toHaveLength(1);
  });

  it('is bounded in runs per probe, lines per run and probes', () => {
    const store = new RunLogStore({ runsPerProbe: 2, linesPerRun: 3, probes: 2 });
    for (let i = 0; i < 5; i++) store.sink({ probe: 'a', run_id: 'a1', i });
    expect(store.lines('a1')).toHaveLength(3);
    store.sink({ probe: 'a', run_id: 'a2' });
    store.sink({ probe: 'a', run_id: 'a3' });
    expect(store.lines('a1')).toEqual([]);
    expect(store.lines('a3')).toHaveLength(1);
    store.sink({ probe: 'b', run_id: 'b1' });
    store.sink({ probe: 'c', run_id: 'c1' });
    // 'a' was the least recently active probe: it goes first.
    expect(store.lines('a3')).toEqual([]);
    expect(store.lines('b1')).toHaveLength(1);
    expect(store.lines('c1')).toHaveLength(1);
  });
});
