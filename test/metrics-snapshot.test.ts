// A run's gauges are a snapshot: published whole when the run completes, discarded when it times out
// or its probe is reloaded away; counters accumulate; names and labels are checked against the
// kind's declaration, at compile time and at run time; label values are scrubbed of secrets.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Scheduler } from '../src/scheduler/scheduler.ts';
import { MetricRegistry } from '../src/metrics/registry.ts';
import { defineMetrics, RunMetrics, type MetricSet } from '../src/metrics/run-metrics.ts';
import { createLogger } from '../src/log.ts';
import { Secret } from '../src/secret.ts';
import { defineProbe, type LoadedConfig, type ProbeKind } from '../src/probe/types.ts';

const METRICS = defineMetrics({
  items_seen: { type: 'gauge', help: 'Test gauge per item.', labels: ['item'] },
  items_runs_total: { type: 'counter', help: 'Test counter.', labels: [] },
  items_wait_seconds: { type: 'histogram', help: 'Test histogram.', labels: ['kind'], buckets: [1, 10] },
});

/** Each run reports the items it is told to, after `delayMs`. */
const plan: { items: string[]; delayMs: number } = { items: [], delayMs: 0 };
const items = defineProbe({
  type: 'items',
  schema: z.strictObject({}),
  metrics: METRICS,
  async run(_p, ctx) {
    const { items: now, delayMs } = plan;
    ctx.metrics.inc('items_runs_total', {});
    for (const item of now) ctx.metrics.gauge('items_seen', { item }, 1);
    await new Promise((r) => setTimeout(r, delayMs));
    return { ok: true };
  },
});

const quietLog = () => createLogger({ level: 'fatal', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const config = (secrets: Secret[] = [], timeoutMs = 300): LoadedConfig => ({
  file: 'test.yaml',
  global: { intervalMs: 60_000, timeoutMs, resolver: 'system' },
  sources: {},
  probes: [{ name: 'p', type: 'items', intervalMs: 60_000, timeoutMs, thresholds: {} }],
  destinations: { probes: [], targets: [] },
  secrets,
});

async function series(registry: MetricRegistry, name: string): Promise<Array<Record<string, string | number>>> {
  const m = await registry.registry.getSingleMetric(`hookwatch_${name}`)?.get();
  return (m?.values ?? []).map((v) => v.labels as Record<string, string | number>);
}

function setup(secrets: Secret[] = []) {
  const registry = new MetricRegistry({ processMetrics: false });
  const scheduler = new Scheduler({ registry, log: quietLog(), kinds: [items] as ProbeKind[] });
  scheduler.apply(config(secrets));
  return { registry, scheduler };
}

describe('per-run metric snapshot', () => {
  it('replaces the last run’s gauge series: an item that left disappears without any clearing by the kind', async () => {
    const { registry, scheduler } = setup();
    plan.items = ['a', 'b'];
    plan.delayMs = 0;
    await scheduler.runOnce('p');
    expect((await series(registry, 'items_seen')).map((l) => l.item).sort()).toEqual(['a', 'b']);
    plan.items = ['b'];
    await scheduler.runOnce('p');
    expect((await series(registry, 'items_seen')).map((l) => l.item)).toEqual(['b']);
    // Counters accumulate across runs.
    const runs = await registry.registry.getSingleMetric('hookwatch_items_runs_total')!.get();
    expect(runs.values[0]!.value).toBe(2);
    await scheduler.stop(100);
  });

  it('discards the gauges of a run that timed out, keeping the last completed run’s', async () => {
    const { registry, scheduler } = setup();
    plan.items = ['a'];
    plan.delayMs = 0;
    await scheduler.runOnce('p');
    plan.items = ['late'];
    plan.delayMs = 600;
    const rec = await scheduler.runOnce('p');
    expect(rec.outcome).toBe('timeout');
    await new Promise((r) => setTimeout(r, 500)); // the hung run finishes after its verdict
    expect((await series(registry, 'items_seen')).map((l) => l.item)).toEqual(['a']);
    await scheduler.stop(100);
  });

  it('discards the gauges of a run whose probe was reloaded away meanwhile', async () => {
    const { registry, scheduler } = setup();
    plan.items = ['x'];
    plan.delayMs = 150;
    const run = scheduler.runOnce('p');
    scheduler.apply({ ...config(), probes: [] });
    await run;
    expect(await series(registry, 'items_seen')).toEqual([]);
    await scheduler.stop(100);
  });

  it('scrubs secrets from the label values of snapshot gauges', async () => {
    const { registry, scheduler } = setup([Secret.literal('tok-s3cr3t-value', 'env:TOKEN')]);
    plan.items = ['https://hooks.example/?t=tok-s3cr3t-value'];
    plan.delayMs = 0;
    await scheduler.runOnce('p');
    const text = await registry.exposition();
    expect(text).toContain('hookwatch_items_seen');
    expect(text).not.toContain('tok-s3cr3t-value');
    await scheduler.stop(100);
  });

  it('rejects names and labels the kind did not declare, at compile time and at run time', () => {
    const registry = new MetricRegistry({ processMetrics: false });
    const m = new RunMetrics(registry, 'p');
    m.declare(METRICS);
    const typed = m as unknown as MetricSet<typeof METRICS>;
    // @ts-expect-error: not a declared gauge
    expect(() => typed.gauge('items_missing', { item: 'a' }, 1)).toThrow(/not a gauge the kind declared/);
    // @ts-expect-error: undeclared label
    expect(() => typed.gauge('items_seen', { item: 'a', extra: 'x' }, 1)).toThrow(/unknown label extra/);
    // @ts-expect-error: a counter is not a gauge
    expect(() => typed.gauge('items_runs_total', {}, 1)).toThrow(/not a gauge/);
    // @ts-expect-error: missing label
    expect(() => typed.gauge('items_seen', {}, 1)).toThrow(/missing label item/);
  });

  it('zero() makes a histogram series exist before its first observation, and never resets one', async () => {
    const registry = new MetricRegistry({ processMetrics: false });
    const m = new RunMetrics(registry, 'p');
    m.declare(METRICS);
    const typed = m as unknown as MetricSet<typeof METRICS>;
    typed.zero('items_wait_seconds', { kind: 'a' });
    expect(await registry.exposition()).toContain('hookwatch_items_wait_seconds_count{probe="p",kind="a"} 0');
    typed.observe('items_wait_seconds', { kind: 'a' }, 5);
    typed.zero('items_wait_seconds', { kind: 'a' });
    expect(await registry.exposition()).toContain('hookwatch_items_wait_seconds_count{probe="p",kind="a"} 1');
    // @ts-expect-error: a gauge is not a histogram
    expect(() => typed.zero('items_seen', { item: 'a' })).toThrow(/not a histogram/);
  });
});
