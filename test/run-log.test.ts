// Run logs are kept per probe: many fast probes must not push a slow probe's last run out.
import { describe, expect, it } from 'vitest';
import { RunLogStore } from '../src/scheduler/run-log.ts';

describe('run log store', () => {
  it('files each pino line under its run, probe names with escapes included, and parses it when read', () => {
    const store = new RunLogStore({ runsPerProbe: 1 });
    const odd = 'web "hook" \\ probe';
    store.sink(JSON.stringify({ level: 'debug', probe: odd, run_id: 'r1', msg: 'probe run started', detail: { run_id: 'nested' } }));
    store.sink(JSON.stringify({ level: 'warn', probe: 'other', msg: 'no run id: not kept' }));
    store.sink('not json, "run_id":"r9" and no end');
    expect(store.lines('r1')).toEqual([{ level: 'debug', probe: odd, run_id: 'r1', msg: 'probe run started', detail: { run_id: 'nested' } }]);
    expect(store.lines('nested')).toEqual([]);
    // A line that is not JSON is kept under its id but shows nothing.
    expect(store.lines('r9')).toEqual([]);
    // Filed under the decoded probe name: its next run pushes r1 out (one run per probe).
    store.sink(JSON.stringify({ probe: odd, run_id: 'r2' }));
    expect(store.lines('r1')).toEqual([]);
    expect(store.lines('r2')).toHaveLength(1);
  });

  it("keeps a slow probe's last run while 200 fast probes log thousands of runs", () => {
    const store = new RunLogStore();
    store.sink(JSON.stringify({ probe: 'hourly', run_id: 'slow-1', msg: 'probe run failed' }));
    for (let run = 0; run < 60; run++) for (let p = 0; p < 200; p++) store.sink(JSON.stringify({ probe: `fast${p}`, run_id: `f${p}-${run}`, msg: 'ok' }));
    expect(store.lines('slow-1')).toEqual([{ probe: 'hourly', run_id: 'slow-1', msg: 'probe run failed' }]);
    expect(store.lines('f7-59')).toHaveLength(1);
  });

  it('is bounded in runs per probe, lines per run and probes', () => {
    const store = new RunLogStore({ runsPerProbe: 2, linesPerRun: 3, probes: 2 });
    for (let i = 0; i < 5; i++) store.sink(JSON.stringify({ probe: 'a', run_id: 'a1', i }));
    expect(store.lines('a1')).toHaveLength(3);
    store.sink(JSON.stringify({ probe: 'a', run_id: 'a2' }));
    store.sink(JSON.stringify({ probe: 'a', run_id: 'a3' }));
    expect(store.lines('a1')).toEqual([]);
    expect(store.lines('a3')).toHaveLength(1);
    store.sink(JSON.stringify({ probe: 'b', run_id: 'b1' }));
    store.sink(JSON.stringify({ probe: 'c', run_id: 'c1' }));
    // 'a' was the least recently active probe: it goes first.
    expect(store.lines('a3')).toEqual([]);
    expect(store.lines('b1')).toHaveLength(1);
    expect(store.lines('c1')).toHaveLength(1);
  });
});
