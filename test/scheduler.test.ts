// Scheduler behaviour with test-only probe kinds: isolation from hung probes, no overlap, timeouts,
// state kept across reloads, series removed with their probe. Bounded: each test runs a few seconds at most.
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { MAX_DETAILS_BYTES, MAX_RESULT_TEXT, Scheduler } from '../src/scheduler/scheduler.ts';
import { MetricRegistry } from '../src/metrics/registry.ts';
import { defineMetrics } from '../src/metrics/run-metrics.ts';
import { createLogger } from '../src/log.ts';
import { defineProbe, type LoadedConfig, type ProbeKind } from '../src/probe/types.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quietLog = () => createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

const counters = { fastRuns: 0, hangStarts: 0, slowActive: 0, slowMaxActive: 0, slowRuns: 0 };

const fast = defineProbe({
  type: 'fast',
  schema: z.strictObject({}),
  async run(_p, ctx) {
    counters.fastRuns++;
    ctx.state.set('runs', ((ctx.state.get('runs') as number) ?? 0) + 1);
    return { ok: true };
  },
});
// Ignores its AbortSignal on purpose: the worst kind of probe.
const hang = defineProbe({
  type: 'hang',
  schema: z.strictObject({}),
  run() {
    counters.hangStarts++;
    return new Promise(() => {});
  },
});
const slow = defineProbe({
  type: 'slow',
  schema: z.strictObject({}),
  async run() {
    counters.slowActive++;
    counters.slowMaxActive = Math.max(counters.slowMaxActive, counters.slowActive);
    await sleep(350);
    counters.slowActive--;
    counters.slowRuns++;
    return { ok: true };
  },
});
const aborting = defineProbe({
  type: 'aborting',
  schema: z.strictObject({}),
  run(_p, ctx) {
    return new Promise((_res, rej) => ctx.signal.addEventListener('abort', () => rej(ctx.signal.reason as Error)));
  },
});
// Records a series after a delay: stands for a run still in flight when a reload removes its probe.
const late = defineProbe({
  type: 'late',
  schema: z.strictObject({}),
  metrics: defineMetrics({
    late_value: { type: 'gauge', help: 'Test gauge written late.', labels: [] },
    late_total: { type: 'counter', help: 'Test counter written late.', labels: [] },
  }),
  async run(_p, ctx) {
    await sleep(200);
    ctx.metrics.gauge('late_value', {}, 7);
    ctx.metrics.inc('late_total', {});
    return { ok: true, details: { upstream: 'auth failed for key sk_live_leaky_0123' } };
  },
});
const kinds = [fast, hang, slow, aborting, late] as ProbeKind[];

function config(probes: Array<{ name: string; type: string; intervalMs: number; timeoutMs: number }>): LoadedConfig {
  return {
    file: 'test.yaml',
    global: { intervalMs: 1000, timeoutMs: 1000, resolver: 'system' },
    sources: {},
    probes: probes.map((p) => ({ ...p, thresholds: {} })),
    secrets: [],
    destinations: { probes: [], targets: [] },
  };
}

let scheduler: Scheduler | undefined;
afterEach(async () => {
  await scheduler?.stop(100);
  scheduler = undefined;
  Object.assign(counters, { fastRuns: 0, hangStarts: 0, slowActive: 0, slowMaxActive: 0, slowRuns: 0 });
});

describe('scheduler', () => {
  it('a probe that hangs forever does not delay a probe beside it, and is reported as timed out', async () => {
    const registry = new MetricRegistry({ processMetrics: false });
    scheduler = new Scheduler({ registry, log: quietLog(), kinds, jitter: 0 });
    scheduler.apply(
      config([
        { name: 'stuck', type: 'hang', intervalMs: 300, timeoutMs: 200 },
        { name: 'beat', type: 'fast', intervalMs: 250, timeoutMs: 200 },
      ]),
    );
    scheduler.start();
    await sleep(1400);
    // 0, 250, ..., 1250 ms: 6 ticks; allow one lost to timer slack under load.
    expect(counters.fastRuns).toBeGreaterThanOrEqual(5);
    expect(counters.hangStarts).toBe(1);
    const stuck = scheduler.status().find((s) => s.name === 'stuck')!;
    expect(stuck.last?.outcome).toBe('timeout');
    expect(stuck.last?.result.reason).toMatch(/timed out after 0.2s/);
    expect(stuck.skipped).toBeGreaterThanOrEqual(2);
    const text = await registry.exposition();
    expect(text).toContain('hookwatch_probe_success{probe="stuck",type="hang"} 0');
    expect(text).toContain('hookwatch_probe_runs_total{probe="stuck",type="hang",result="timeout"} 1');
  });

  it('never runs two instances of one probe at once', async () => {
    scheduler = new Scheduler({ registry: new MetricRegistry({ processMetrics: false }), log: quietLog(), kinds, jitter: 0 });
    scheduler.apply(config([{ name: 's', type: 'slow', intervalMs: 100, timeoutMs: 2000 }]));
    scheduler.start();
    await sleep(1200);
    expect(counters.slowRuns).toBeGreaterThanOrEqual(2);
    expect(counters.slowMaxActive).toBe(1);
    expect(scheduler.status()[0]!.skipped).toBeGreaterThan(0);
  });

  it('aborts the run through its AbortSignal at the timeout', async () => {
    scheduler = new Scheduler({ registry: new MetricRegistry({ processMetrics: false }), log: quietLog(), kinds });
    scheduler.apply(config([{ name: 'a', type: 'aborting', intervalMs: 60_000, timeoutMs: 100 }]));
    const rec = await scheduler.runOnce('a');
    expect(rec.outcome).toBe('timeout');
    expect(rec.result.ok).toBe(false);
  });

  it('aborts the run through its AbortSignal when a reload removes its probe', async () => {
    scheduler = new Scheduler({ registry: new MetricRegistry({ processMetrics: false }), log: quietLog(), kinds });
    scheduler.apply(config([{ name: 'a', type: 'aborting', intervalMs: 60_000, timeoutMs: 10_000 }]));
    const run = scheduler.runOnce('a');
    await sleep(20);
    scheduler.apply(config([]));
    const rec = await run;
    expect(rec.outcome).toBe('error');
    expect(rec.result.reason).toMatch(/probe removed by reload/);
  });

  it("runs leave nothing behind on the probe's long-lived stop signal", async () => {
    // AbortSignal.any() over a long-lived signal keeps a record per call on Node 20 (a leak of ~55 bytes a run).
    const any = vi.spyOn(AbortSignal, 'any');
    try {
      scheduler = new Scheduler({ registry: new MetricRegistry({ processMetrics: false }), log: quietLog(), kinds });
      scheduler.apply(config([{ name: 'f', type: 'fast', intervalMs: 60_000, timeoutMs: 1000 }]));
      for (let i = 0; i < 300; i++) expect((await scheduler.runOnce('f')).outcome).toBe('success');
      expect(any).not.toHaveBeenCalled();
    } finally {
      any.mockRestore();
    }
  });

  it('keeps probe state across a reload that changes its settings, and drops removed probes with their series', async () => {
    const registry = new MetricRegistry({ processMetrics: false });
    scheduler = new Scheduler({ registry, log: quietLog(), kinds });
    scheduler.apply(
      config([
        { name: 'f', type: 'fast', intervalMs: 60_000, timeoutMs: 100 },
        { name: 'g', type: 'fast', intervalMs: 60_000, timeoutMs: 100 },
      ]),
    );
    await scheduler.runOnce('f');
    await scheduler.runOnce('f');
    await scheduler.runOnce('g');
    scheduler.apply(config([{ name: 'f', type: 'fast', intervalMs: 30_000, timeoutMs: 100 }]));
    await scheduler.runOnce('f');
    expect(scheduler.status().map((s) => s.name)).toEqual(['f']);
    expect(scheduler.status()[0]!.intervalSeconds).toBe(30);
    const text = await registry.exposition();
    expect(text).not.toContain('probe="g"');
    expect(text).toContain('hookwatch_probe_interval_seconds{probe="f",type="fast"} 30');
    // state survived: the probe counted its runs across the reload
    expect(counters.fastRuns).toBe(4);
  });

  it('stop() returns promptly even with a hung probe in flight', async () => {
    scheduler = new Scheduler({ registry: new MetricRegistry({ processMetrics: false }), log: quietLog(), kinds, jitter: 0 });
    scheduler.apply(config([{ name: 'stuck', type: 'hang', intervalMs: 60_000, timeoutMs: 60_000 }]));
    scheduler.start();
    await sleep(50);
    const t0 = Date.now();
    await scheduler.stop(500);
    expect(Date.now() - t0).toBeLessThan(2000);
    scheduler = undefined;
  });

  it('a run that outlives its probe (removed by reload) writes no series back', async () => {
    const registry = new MetricRegistry({ processMetrics: false });
    scheduler = new Scheduler({ registry, log: quietLog(), kinds });
    scheduler.apply(config([{ name: 'gone', type: 'late', intervalMs: 60_000, timeoutMs: 1000 }]));
    const run = scheduler.runOnce('gone');
    scheduler.apply(config([]));
    await run;
    expect(await registry.exposition()).not.toContain('probe="gone"');
  });

  it('scrubs secret values from result details', async () => {
    const { Secret } = await import('../src/secret.ts');
    scheduler = new Scheduler({ registry: new MetricRegistry({ processMetrics: false }), log: quietLog(), kinds });
    scheduler.apply({ ...config([{ name: 'l', type: 'late', intervalMs: 60_000, timeoutMs: 1000 }]), secrets: [new Secret('sk_live_leaky_0123', 'env:KEY')] });
    const rec = await scheduler.runOnce('l');
    expect(JSON.stringify(rec.result)).not.toContain('sk_live_leaky_0123');
    expect(rec.result.details!.upstream).toBe('auth failed for key <secret env:KEY>');
  });
});

describe('result bounds', () => {
  const huge = defineProbe({
    type: 'huge',
    schema: z.strictObject({}),
    run() {
      const rows = Array.from({ length: 5000 }, (_, i) => ({ id: `row-${i}`, url: `https://receiver.example/${'x'.repeat(20)}` }));
      return Promise.resolve({ ok: false, reason: 'r'.repeat(50_000), action: 'a'.repeat(10_000), details: { rows } });
    },
  });

  it('caps the reason, action and details a hostile upstream can inflate, and still records the failure', async () => {
    scheduler = new Scheduler({ registry: new MetricRegistry({ processMetrics: false }), log: quietLog(), kinds: [huge] as ProbeKind[] });
    scheduler.apply(config([{ name: 'h', type: 'huge', intervalMs: 60_000, timeoutMs: 1000 }]));
    const rec = await scheduler.runOnce('h');
    expect(rec.outcome).toBe('failure');
    expect(rec.result.reason!.length).toBeLessThan(MAX_RESULT_TEXT + 100);
    expect(rec.result.reason).toMatch(/… \(46000 more characters\)$/);
    expect(rec.result.action!.length).toBeLessThan(MAX_RESULT_TEXT + 100);
    expect(JSON.stringify(rec.result.details).length).toBeLessThan(MAX_DETAILS_BYTES);
    expect(rec.result.details).toMatchObject({ truncated: expect.stringMatching(/over the 64 KiB cap/), keys: ['rows'] });
  });
});
