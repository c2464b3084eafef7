// What a probe sees of the registry: every call adds the `probe` label, and every series is
// tracked so reloading a probe away (or a host leaving its list) removes it from /metrics.
import type { Counter, Gauge, Histogram } from 'prom-client';
import type { MetricRegistry } from './registry.ts';

type Labels = Record<string, string>;

export class ProbeMetrics {
  constructor(
    readonly registry: MetricRegistry,
    readonly probe: string,
    /** False once the probe is gone: writes are then dropped instead of resurrecting its series. */
    readonly active: () => boolean = () => true,
    /** Labels added to every series (SCOPE_LABELS); clearScope() drops the series of this scope. */
    readonly scope: Labels = {},
  ) {}

  /** A view whose series all carry `labels` (e.g. { store }) on top of this one's scope. */
  scoped(labels: Labels): ProbeMetrics {
    return new ProbeMetrics(this.registry, this.probe, this.active, { ...this.scope, ...labels });
  }

  #inScope(l: Labels): boolean {
    for (const [k, v] of Object.entries(this.scope)) if (l[k] !== v) return false;
    return true;
  }

  /** Drop every series of this probe in this view's scope (a store that went away). */
  clearScope(): void {
    this.registry.removeSeries(this.probe, undefined, (l) => !this.#inScope(l));
  }

  /** The full label set (with `probe`) of a write; throws on a missing or undeclared label. */
  protected checkLabels(name: string, labels: Labels): Labels {
    const def = this.registry.def(name);
    const out: Labels = { probe: this.probe };
    for (const l of def.labelNames) {
      const v = labels[l];
      if (v === undefined) throw new Error(`metric ${name}: missing label ${l}`);
      out[l] = v;
    }
    for (const k of Object.keys(labels)) if (!def.labelNames.includes(k)) throw new Error(`metric ${name}: unknown label ${k}`);
    return out;
  }

  #labels(name: string, labels: Labels, scope: Labels = this.scope): { full: Labels; key: string } {
    const full = this.checkLabels(name, labels);
    Object.assign(full, scope);
    return { full, key: this.registry.track(this.probe, name, full) };
  }

  set(name: string, labels: Labels, value: number): void {
    this.setIn(this.scope, name, labels, value);
  }

  /** set() for a series of another scope of this probe (a snapshot replaying a scoped view's writes); returns the series' key. */
  protected setIn(scope: Labels, name: string, labels: Labels, value: number): string | undefined {
    if (!this.active()) return undefined;
    const m = this.registry.metric(name);
    if (this.registry.def(name).type !== 'gauge') throw new Error(`${name} is not a gauge`);
    const { full, key } = this.#labels(name, labels, scope);
    (m as Gauge).set(full, value);
    return key;
  }

  inc(name: string, labels: Labels, by = 1): void {
    if (!this.active()) return;
    const m = this.registry.metric(name);
    if (this.registry.def(name).type !== 'counter') throw new Error(`${name} is not a counter`);
    (m as Counter).inc(this.#labels(name, labels).full, by);
  }

  /** Make a counter series exist at 0 so rate() sees its first increment. */
  touch(name: string, labels: Labels): void {
    this.inc(name, labels, 0);
  }

  observe(name: string, labels: Labels, value: number): void {
    if (!this.active()) return;
    const m = this.registry.metric(name);
    if (this.registry.def(name).type !== 'histogram') throw new Error(`${name} is not a histogram`);
    (m as Histogram).observe(this.#labels(name, labels).full, value);
  }

  /** Make a histogram series exist without an observation; one that exists is left as it is (prom-client's zero() would reset it). */
  zero(name: string, labels: Labels): void {
    if (!this.active()) return;
    const m = this.registry.metric(name);
    if (this.registry.def(name).type !== 'histogram') throw new Error(`${name} is not a histogram`);
    const full = Object.assign(this.checkLabels(name, labels), this.scope);
    if (this.registry.tracks(this.probe, name, full)) return;
    (m as Histogram).zero(full);
    this.registry.track(this.probe, name, full);
  }
}
