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
  /** At once: make a histogram series exist (count 0) before its first observation, so dashboards see it; an existing one is kept. */
  zero<N extends NamesOf<D, 'histogram'>>(name: N, labels: LabelsOf<D[N]>): void;
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

/** One gauge write of a run: the kind's labels (scrubbed) and the view's scope. Replayable into a later run's snapshot. */
export interface GaugeWrite {
  readonly name: string;
  readonly labels: Labels;
  readonly scope: Labels;
  readonly value: number;
}

/**
 * The run's view of the registry: what ProbeContext.metrics is. A kind sees it as MetricSet typed by its
 * declaration; the core (the scheduler, the multi-store wrapper) uses the rest. Label values pass through
 * `scrubLabels` (the scheduler's secret scrubber) on every path.
 *
 * A scoped view (`scoped({ store })`) writes counters and histograms at once with its scope labels, and
 * records its gauges instead of publishing them: whoever runs the scoped work takes them with `recorded()`
 * and puts them into the run's snapshot with `replay()`, this run or a later one (a store not polled this run).
 */
export class RunMetrics extends ProbeMetrics implements MetricSet<MetricDefs> {
  #discarded = false;
  #standalone = false;
  readonly #gauges = new Map<string, GaugeWrite>();

  constructor(
    registry: MetricRegistry,
    probe: string,
    active: () => boolean = () => true,
    readonly scrubLabels: (l: Labels) => Labels = (l) => l,
    readonly probeType?: string,
    scope: Labels = {},
    /** Gauge families the kind declared, shared with scoped views: a publish replaces all of the probe's series of these. */
    readonly families: Set<string> = new Set<string>(),
  ) {
    super(registry, probe, active, scope);
  }

  /**
   * For a test or a benchmark that calls a kind's run() itself: no scheduler publishes this snapshot, so each
   * run() publishes its own when it returns.
   */
  static standalone(registry: MetricRegistry, probe: string): RunMetrics {
    const m = new RunMetrics(registry, probe);
    m.#standalone = true;
    return m;
  }

  get publishesOnReturn(): boolean {
    return this.#standalone;
  }

  /** A per-store (or other scoped) view keeps the run's scrubbing, so no path writes unscrubbed labels. */
  override scoped(labels: Labels): RunMetrics {
    return new RunMetrics(this.registry, this.probe, this.active, this.scrubLabels, this.probeType, { ...this.scope, ...labels }, this.families);
  }

  /** Register a kind's families (idempotent); its gauges are then written through the snapshot. */
  declare(defs: MetricDefs): void {
    for (const d of metricDefsOf(defs)) {
      this.registry.define(d);
      if (d.type === 'gauge') this.families.add(d.name);
    }
  }

  gauge(name: string, labels: Labels, value: number): void {
    if (this.#discarded) return;
    if (!this.families.has(name)) throw new Error(`metric ${name} is not a gauge the kind declared`);
    const l = this.scrubLabels(labels);
    this.checkLabels(name, l);
    this.#put({ name, labels: l, scope: this.scope, value });
  }

  #put(g: GaugeWrite): void {
    this.#gauges.set(`${g.name}${JSON.stringify(g.labels)}${JSON.stringify(g.scope)}`, g);
  }

  /** The gauges this view wrote this run (for a scoped view: what replay() puts into the run's snapshot). */
  recorded(): GaugeWrite[] {
    return [...this.#gauges.values()];
  }

  /** Put gauge writes recorded by a scoped view (this run's, or an earlier run's that still stand) into this snapshot. */
  replay(writes: Iterable<GaugeWrite>): void {
    if (this.#discarded) return;
    for (const g of writes) if (this.families.has(g.name)) this.#put(g);
  }

  threshold(key: string, value: number): void {
    if (this.#discarded || !this.active()) return;
    this.setIn({}, 'probe_threshold', { type: this.probeType ?? '', threshold: key }, value); // per probe, whatever the view's scope
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
  override zero(name: string, labels: Labels): void {
    super.zero(name, this.scrubLabels(labels));
  }

  /**
   * Replace the probe's series of the declared gauge families with this run's: the run's values are set, then the
   * series it did not write go. A series written again keeps its entry, so a run replaces no objects. No-op once
   * the probe is gone.
   */
  publish(): void {
    if (this.#discarded || !this.active()) return;
    const written = new Set<string>();
    for (const g of this.#gauges.values()) {
      const key = this.setIn(g.scope, g.name, g.labels, g.value);
      if (key !== undefined) written.add(key);
    }
    this.registry.removeSeries(this.probe, this.families, (_l, key) => written.has(key));
    this.#gauges.clear();
  }

  /** Remove every series of these families the probe has, at once (the probe's state was reset under it). */
  forgetSeries(defs: MetricDefs): void {
    this.registry.removeSeries(this.probe, new Set(Object.keys(defs)));
  }

  /** Drop the snapshot; later gauge writes of this run are ignored. */
  discard(): void {
    this.#discarded = true;
    this.#gauges.clear();
  }
}

/**
 * The run's metrics: the scheduler's RunMetrics, or, for a standalone one (a test, a benchmark), a fresh one
 * whose snapshot is published when `run` returns.
 */
export async function withRunMetrics<T>(given: RunMetrics, probeType: string, run: (m: RunMetrics) => Promise<T>): Promise<T> {
  if (!given.publishesOnReturn) return run(given);
  const own = new RunMetrics(given.registry, given.probe, given.active, given.scrubLabels, probeType, given.scope);
  const result = await run(own);
  own.publish();
  return result;
}
