// Run history: state and since when, last OK, a bounded strip, and the transitions `run` logs.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RunHistory, formatLasted, logTransition, type RunPoint } from '../src/history/run-history.ts';
import { RunStrip } from '../src/history/run-strip.ts';
import type { RunRecord } from '../src/scheduler/scheduler.ts';
import type { ProbeResult } from '../src/probe/types.ts';

const T0 = Date.UTC(2026, 4, 1, 12, 0, 0);
let n = 0;
const rec = (at: number, result: ProbeResult): RunRecord => ({
  runId: `r${++n}`,
  startedAt: at,
  finishedAt: at + 100,
  durationSeconds: 0.1,
  result,
  outcome: result.ok ? 'success' : 'failure',
});

describe('RunHistory', () => {
  it('tracks failing since / OK since, last OK and the transitions between them', () => {
    const h = new RunHistory(5);
    expect(h.get('p')).toEqual({ state: 'pending', since: null, lastOkAt: null, lastFailAt: null, recent: [] });
    expect(h.record('p', rec(T0, { ok: true }))).toEqual({ probe: 'p', from: 'pending', to: 'ok', at: T0 + 100 });
    expect(h.record('p', rec(T0 + 60_000, { ok: true }))).toBeUndefined();
    const fail = h.record('p', rec(T0 + 120_000, { ok: false, reason: 'HTTP 503' }));
    expect(fail).toMatchObject({ from: 'ok', to: 'failing', reason: 'HTTP 503', severity: 'page', lastedMs: 120_100 });
    expect(h.record('p', rec(T0 + 180_000, { ok: false, reason: 'HTTP 503' }))).toBeUndefined();
    let v = h.get('p');
    expect(v).toMatchObject({ state: 'failing', since: T0 + 120_000, lastOkAt: T0 + 60_100, lastFailAt: T0 + 180_100 });
    const back = h.record('p', rec(T0 + 240_000, { ok: true }));
    expect(back).toMatchObject({ from: 'failing', to: 'ok', lastedMs: 120_100 });
    v = h.get('p');
    expect(v).toMatchObject({ state: 'ok', since: T0 + 240_000, lastOkAt: T0 + 240_100 });
    expect(v.recent.map((r) => r.ok)).toEqual([true, true, false, false, true]);
    h.record('p', rec(T0 + 300_000, { ok: true }));
    expect(h.get('p').recent).toHaveLength(5); // bounded
  });

  it('dates a failure from the probe evidence when earlier, and reports a severity change', () => {
    const h = new RunHistory();
    h.record('dns', rec(T0, { ok: false, severity: 'ticket', reason: 'TTL inflated' }));
    expect(h.get('dns').recent[0]!.severity).toBe('ticket');
    const esc = h.record('dns', rec(T0 + 60_000, { ok: false, severity: 'page', reason: 'stale', since: T0 - 30_000 }));
    expect(esc).toMatchObject({ from: 'failing', to: 'failing', fromSeverity: 'ticket', severity: 'page' });
    expect(h.get('dns').since).toBe(T0 - 30_000);
    // Back to a ticket: the ticket has been open since the first run.
    expect(h.record('dns', rec(T0 + 120_000, { ok: false, severity: 'ticket' }))).toMatchObject({ fromSeverity: 'page', severity: 'ticket' });
    expect(h.get('dns').since).toBe(T0);
    h.retain([]);
    expect(h.get('dns').state).toBe('pending');
  });

  it('logs transitions at info, a first pass at debug', () => {
    const lines: Array<{ level: string; o: Record<string, unknown>; msg: string }> = [];
    const log = {
      info: (o: object, msg: string) => lines.push({ level: 'info', o: o as Record<string, unknown>, msg }),
      debug: (o: object, msg: string) => lines.push({ level: 'debug', o: o as Record<string, unknown>, msg }),
    };
    logTransition(log, { probe: 'p', from: 'pending', to: 'ok', at: 0 });
    logTransition(log, { probe: 'p', from: 'ok', to: 'failing', at: 0, reason: 'HTTP 503', severity: 'page' });
    logTransition(log, { probe: 'p', from: 'failing', to: 'ok', at: 0, lastedMs: 200_000 });
    expect(lines).toEqual([
      { level: 'debug', o: { transition: 'START->OK' }, msg: 'probe passing' },
      { level: 'info', o: { transition: 'OK->FAIL', severity: 'page', reason: 'HTTP 503' }, msg: 'probe failing' },
      { level: 'info', o: { transition: 'FAIL->OK', failed_for: '3m 20s', failed_for_seconds: 200 }, msg: 'probe recovered' },
    ]);
    expect(formatLasted(90_061_000)).toBe('1d 1h');
  });
});

describe('RunStrip (the history strip as numbers)', () => {
  const point = fc.record({
    runId: fc.oneof(fc.stringMatching(/^[0-9a-f]{8}$/), fc.string({ maxLength: 12 })),
    at: fc.integer({ min: 0, max: 4_102_444_800_000 }),
    ok: fc.boolean(),
    outcome: fc.constantFrom('success', 'failure', 'timeout', 'error'),
    severity: fc.constantFrom(null, 'page', 'ticket'),
    durationSeconds: fc.integer({ min: 0, max: 86_400_000 }).map((ms) => ms / 1000),
  }) as fc.Arbitrary<RunPoint>;

  it('gives back exactly the last `capacity` points pushed, oldest first', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.array(point, { maxLength: 100 }), (capacity, points) => {
        const strip = new RunStrip(capacity);
        for (const p of points) strip.push(p);
        expect(strip.points()).toEqual(points.slice(-capacity));
        expect(strip.length).toBe(Math.min(points.length, capacity));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a hex id with leading zeros, and an odd id replaced by a hex one in the same slot', () => {
    const strip = new RunStrip(1);
    const p: RunPoint = { runId: 'odd id', at: 1, ok: true, outcome: 'success', severity: null, durationSeconds: 0.001 };
    strip.push(p);
    expect(strip.points()[0]!.runId).toBe('odd id');
    strip.push({ ...p, runId: '00000a0f' });
    expect(strip.points()).toEqual([{ ...p, runId: '00000a0f' }]);
  });
});
