// A ProbeContext for unit tests: a private metric registry, a collecting logger and a settable clock.
import { Writable } from 'node:stream';
import { MetricRegistry } from '../../src/metrics/registry.ts';
import { RunMetrics } from '../../src/metrics/run-metrics.ts';
import { createLogger } from '../../src/log.ts';
import type { LoadedConfig, ProbeContext, SourceConfig } from '../../src/probe/types.ts';
import { testedDestinations } from '../../src/config/load.ts';
import { PROBE_KINDS } from '../../probes/registry.ts';

export interface TestContext extends ProbeContext {
  registry: MetricRegistry;
  logLines: string[];
  setNow(ms: number): void;
  /** Value of one series in the exposition, or undefined. */
  metricValue(name: string, labels?: Record<string, string>): Promise<number | undefined>;
}

export function makeTestContext(
  opts: {
    probe?: string;
    config?: Partial<LoadedConfig>;
    sources?: Record<string, SourceConfig>;
    now?: number;
    signal?: AbortSignal;
    registry?: MetricRegistry;
    state?: Map<string, unknown>;
  } = {},
): TestContext {
  const registry = opts.registry ?? new MetricRegistry({ processMetrics: false });
  const logLines: string[] = [];
  const dest = new Writable({
    write(c: Buffer, _e, cb) {
      logLines.push(c.toString());
      cb();
    },
  });
  let now = opts.now ?? Date.now();
  let fake = opts.now !== undefined;
  const sources = opts.sources ?? {};
  const probes = opts.config?.probes ?? [];
  const config: LoadedConfig = {
    file: 'test.yaml',
    global: { intervalMs: 60_000, timeoutMs: 10_000, resolver: 'system' },
    sources,
    secrets: [],
    destinations: testedDestinations(probes, PROBE_KINDS),
    ...opts.config,
    probes,
  };
  const probe = opts.probe ?? 'test';
  return {
    signal: opts.signal ?? new AbortController().signal,
    log: createLogger({ level: 'debug', destination: dest }).child({ probe }),
    metrics: RunMetrics.standalone(registry, probe),
    now: () => (fake ? now : Date.now()),
    setNow(ms: number) {
      now = ms;
      fake = true;
    },
    state: opts.state ?? new Map(),
    config,
    source(name: string) {
      const s = sources[name] ?? config.sources[name];
      if (!s) throw new Error(`unknown source ${name}`);
      return s;
    },
    registry,
    logLines,
    async metricValue(name, labels = {}) {
      const full = name.startsWith('hookwatch_') ? name : `hookwatch_${name}`;
      const m = await registry.registry.getSingleMetric(full)?.get();
      if (!m) return undefined;
      const want = { probe, ...labels };
      const v = m.values.find(
        (x) =>
          ((x as { metricName?: string }).metricName ?? full) === full &&
          Object.entries(want).every(([k, val]) => String((x.labels as Record<string, unknown>)[k]) === val),
      );
      return v?.value;
    },
  };
}
