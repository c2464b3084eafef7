// The metrics of one probe run. A kind declares its families (defineMetrics, beside its code); the
// run writes through a MetricSet typed by that declaration. Gauges go into a snapshot the scheduler
// publishes when the run completes, replacing every series of those families the probe had, or
// discards when the run times out or is superseded: a host or target that left the list, or a series
// a run did not write, disappears without bookkeeping. Counters and histograms accumulate, written at once.
import type { MetricDef, MetricType } from './definitions.ts';
import { ProbeMetrics } from './probe-metrics.ts';
import type { MetricRegistry } from './registry.ts';

/** One metric family as a kind declares it; `labels` are besides `probe`, which every series carries. */
export interface FamilyDef {
  type: MetricType;
  help: string;
  labels: readonly string[];
  buckets?: readonly number[];
}

/** A kind's metric families by name (without the hookwatch_ prefix). */
export type MetricDefs = Readonly<Record<string, FamilyDef>>;

/** Keeps the literal names and label tuples, so MetricSet can check writes against them. */
export function defineMetrics<const D extends MetricDefs>(defs: D): D {
  return defs;
}

type NamesOf<D extends MetricDefs, T extends MetricType> = { [K in keyof D]: D[K]['type'] extends T ? K : never }[keyof D] & string;
type LabelsOf<F extends FamilyDef> = { readonly [L in F['labels'][number]]: string };

/** What a run of a kind that declared `D` may write: only declared names, with exactly their labels. */
export interface MetricSet<D extends MetricDefs> {
  /** Into the run's snapshot; published when the run completes. */
  gauge<N extends NamesOf<D, 'gauge'>>(name: N, labels: LabelsOf<D[N]>, value: number): void;
  /** At once; `by` 0 makes the series exist so rate() sees the first increment. */
  inc<N extends NamesOf<D, 'counter'>>(name: N, labels: LabelsOf<D[N]>, by?: number): void;
  /** At once. */
  observe<N extends NamesOf<D, 'histogram'>>(name: N, labels: LabelsOf<D[N]>, value: number): void;
  /** The value in effect this run of one of the kind's thresholds (hookwatch_probe_threshold), when own keys override it. */
  threshold(key: string, value: number): void;
}

export function metricDefsOf(defs: MetricDefs): MetricDef[] {
  return Object.entries(defs).map(([name, d]) => ({
    name,
    type: d.type,
    help: d.help,
    labelNames: [...d.labels],
    ...(d.buckets ? { buckets: [...d.buckets] } : {}),
  }));
}

type Labels = Record<string, string>;

/**
 * The run's view of the registry. Also a ProbeMetrics, so kinds that write the registry directly
 * (set/clear) keep working until they declare their metrics. Label values pass through `scrubLabels`
 * (the scheduler's secret scrubber) on every path.
 */
export class RunMetrics extends ProbeMetrics implements MetricSet<MetricDefs> {
  /** Gauge families the kind declared: a publish replaces all of the probe's series of these. */
  readonly #families = new Set<string>();
  readonly #gauges = new Map<string, { name: string; labels: Labels; value: number }>();
  #discarded = false;

  constructor(
    registry: MetricRegistry,
    probe: string,
    active: () => boolean = () => true,
    readonly scrubLabels: (l: Labels) => Labels = (l) => l,
    readonly probeType?: string,
    scope: Labels = {},
  ) {
    super(registry, probe, active, scope);
  }

  /** A per-store (or other scoped) view keeps the run's scrubbing, so no path writes unscrubbed labels. */
  override scoped(labels: Labels): RunMetrics {
    return new RunMetrics(this.registry, this.probe, this.active, this.scrubLabels, this.probeType, { ...this.scope, ...labels });
  }

  /** Register a kind's families (idempotent); its gauges are then written through the snapshot. */
  declare(defs: MetricDefs): void {
    for (const d of metricDefsOf(defs)) {
      this.registry.define(d);
      if (d.type === 'gauge') this.#families.add(d.name);
    }
  }

  gauge(name: string, labels: Labels, value: number): void {
    if (this.#discarded) return;
    if (!this.#families.has(name)) throw new Error(`metric ${name} is not a gauge the kind declared`);
    const l = this.scrubLabels(labels);
    this.checkLabels(name, l);
    this.#gauges.set(`${name}${JSON.stringify(l)}`, { name, labels: l, value });
  }

  threshold(key: string, value: number): void {
    if (this.#discarded || !this.active()) return;
    super.set('probe_threshold', { type: this.probeType ?? '', threshold: key }, value);
  }

  override set(name: string, labels: Labels, value: number): void {
    super.set(name, this.scrubLabels(labels), value);
  }
  override inc(name: string, labels: Labels, by = 1): void {
    super.inc(name, this.scrubLabels(labels), by);
  }
  override observe(name: string, labels: Labels, value: number): void {
    super.observe(name, this.scrubLabels(labels), value);
  }

  /** Replace the probe's series of the declared gauge families with this run's. No-op once the probe is gone. */
  publish(): void {
    if (this.#discarded || !this.active()) return;
    for (const name of this.#families) this.registry.removeSeries(this.probe, name);
    for (const g of this.#gauges.values()) super.set(g.name, g.labels, g.value);
    this.#gauges.clear();
  }

  /** Drop the snapshot; later gauge writes of this run are ignored. */
  discard(): void {
    this.#discarded = true;
    this.#gauges.clear();
  }
}
