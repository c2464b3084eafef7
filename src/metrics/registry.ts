// The one prom-client registry. Metrics are created lazily from their definition, so a metric
// appears in /metrics only once something records it, and a probe's series go when the probe goes.
import client from 'prom-client';
import { CONTRACT_METRICS, PREFIX, SCOPE_LABELS, type MetricDef } from './definitions.ts';

type AnyMetric = client.Gauge<string> | client.Counter<string> | client.Histogram<string>;

export class MetricRegistry {
  readonly registry = new client.Registry();
  readonly #defs = new Map<string, MetricDef>();
  readonly #metrics = new Map<string, AnyMetric>();
  /**
   * probe name -> series key (metric name, NUL, serialized label set) -> its labels, so a removed probe leaves no
   * stale series. One map per probe, not one per probe and metric: at 500 probes the small maps were 1 MiB.
   */
  readonly #series = new Map<string, Map<string, Record<string, string>>>();
  readonly configReloadSuccess: client.Gauge;
  readonly configReloadTimestamp: client.Gauge;
  /** How late runs start against their schedule: the cost of a busy event loop, per the whole agent. */
  readonly schedulerLag: client.Histogram;

  constructor(opts: { processMetrics?: boolean } = {}) {
    for (const d of CONTRACT_METRICS) this.#defs.set(d.name, d);
    if (opts.processMetrics !== false) {
      client.collectDefaultMetrics({ register: this.registry });
      // prom-client exports these gauges with a _total suffix, which promtool rightly rejects.
      for (const bad of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
        this.registry.removeSingleMetric(bad);
      }
    }
    this.configReloadSuccess = new client.Gauge({
      name: `${PREFIX}config_last_reload_successful`,
      help: 'Whether the last configuration reload attempt was successful.',
      registers: [this.registry],
    });
    this.configReloadTimestamp = new client.Gauge({
      name: `${PREFIX}config_last_reload_success_timestamp_seconds`,
      help: 'Timestamp of the last successful configuration reload.',
      registers: [this.registry],
    });
    this.schedulerLag = new client.Histogram({
      name: `${PREFIX}scheduler_lag_seconds`,
      help: 'Delay between when a probe run was due and when it started.',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [this.registry],
    });
    new client.Gauge({
      name: `${PREFIX}build_info`,
      help: 'Build information of the running agent.',
      labelNames: ['version', 'nodejs'],
      registers: [this.registry],
    }).set({ version: process.env.npm_package_version ?? '0.1.0', nodejs: process.version }, 1);
  }

  /** Declare a metric. Idempotent for the same shape; a conflicting shape is a programming error. */
  define(def: MetricDef): void {
    const known = this.#defs.get(def.name);
    if (known) {
      if (known.type !== def.type || known.labelNames.join(',') !== def.labelNames.join(',')) {
        throw new Error(`metric ${def.name} already defined as ${known.type}{${known.labelNames.join(',')}}`);
      }
      return;
    }
    if (!/^[a-z_][a-z0-9_]*$/.test(def.name)) throw new Error(`invalid metric name ${def.name}`);
    this.#defs.set(def.name, def);
  }

  def(name: string): MetricDef {
    const d = this.#defs.get(name);
    if (!d) throw new Error(`metric ${name} is not defined; declare it in the kind's metrics`);
    return d;
  }

  metric(name: string): AnyMetric {
    let m = this.#metrics.get(name);
    if (m) return m;
    const d = this.def(name);
    const common = { name: PREFIX + d.name, help: d.help, labelNames: ['probe', ...d.labelNames, ...SCOPE_LABELS], registers: [this.registry] };
    if (d.type === 'gauge') m = new client.Gauge(common);
    else if (d.type === 'counter') m = new client.Counter(common);
    else m = new client.Histogram({ ...common, buckets: d.buckets ?? client.linearBuckets(0, 1, 10) });
    this.#metrics.set(name, m);
    return m;
  }

  /**
   * Remember a series of a probe; returns its key. A series already known keeps the label object it was first
   * written with (the one prom-client holds too), so rewriting a gauge every run allocates nothing that lives on.
   */
  track(probe: string, name: string, labels: Record<string, string>): string {
    let series = this.#series.get(probe);
    if (!series) this.#series.set(probe, (series = new Map<string, Record<string, string>>()));
    const key = seriesKey(name, labels);
    if (!series.has(key)) series.set(key, labels);
    return key;
  }

  /** Whether a probe's series (exact label set, as tracked) exists. */
  tracks(probe: string, name: string, labels: Record<string, string>): boolean {
    return this.#series.get(probe)?.has(seriesKey(name, labels)) ?? false;
  }

  /**
   * Remove series of a probe: all of them, or those of one metric (or of a set of them, in one pass), except those
   * `keep` accepts (by labels or key).
   */
  removeSeries(probe: string, name?: string | ReadonlySet<string>, keep?: (labels: Record<string, string>, key: string) => boolean): void {
    const series = this.#series.get(probe);
    if (!series) return;
    for (const [key, labels] of series) {
      const metricName = key.slice(0, key.indexOf('\0'));
      if (typeof name === 'string' ? metricName !== name : name && !name.has(metricName)) continue;
      if (keep?.(labels, key)) continue;
      this.#metrics.get(metricName)?.remove(labels);
      series.delete(key);
    }
    if (!name && !keep) this.#series.delete(probe);
  }

  /** Distinct values of one label across a probe's live series (e.g. the hosts a probe delivers to). */
  labelValues(probe: string, label: string): string[] {
    const out = new Set<string>();
    for (const l of this.#series.get(probe)?.values() ?? []) if (l[label]) out.add(l[label]);
    return [...out];
  }

  async exposition(): Promise<string> {
    return this.registry.metrics();
  }
}

function seriesKey(name: string, labels: Record<string, string>): string {
  return `${name}\0${JSON.stringify(labels)}`;
}
