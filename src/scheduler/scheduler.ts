// Runs each probe on its own timer. Why this shape:
// - one timer per probe, so a slow or hung probe never delays another;
// - a run is never started while the previous one of the same probe is still going (a skipped
//   tick is counted), even when the probe ignores its AbortSignal;
// - the run's verdict is final at the timeout, so a hung probe is reported failing on time;
// - jitter spreads the first runs so 500 probes do not fire in the same millisecond.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { LoadedConfig, ProbeBase, ProbeContext, ProbeKind, ProbeResult } from '../probe/types.ts';
import type { MetricRegistry } from '../metrics/registry.ts';
import { ProbeMetrics } from '../metrics/probe-metrics.ts';
import { RunMetrics, metricDefsOf } from '../metrics/run-metrics.ts';
import { Scrubber } from './scrub.ts';
import { asText } from '../as-text.ts';
import { RunLogStore } from './run-log.ts';
import type { RunRecord } from './run-record.ts';
import { RunHistory, logTransition, type Transition } from '../history/run-history.ts';
import { fingerprint, type ProbeFingerprint } from './fingerprint.ts';
import { StopSwitch } from './stop-switch.ts';

/** What a run hands back, made safe to show: scrubbed, JSON-safe, with the shape /status expects. */
/** Bounds on what one run may put in /status, the page and `once`: a hostile upstream cannot inflate them. */
export const MAX_RESULT_TEXT = 4000;
export const MAX_DETAILS_BYTES = 64 * 1024;

const capText = (s: string) => (s.length > MAX_RESULT_TEXT ? `${s.slice(0, MAX_RESULT_TEXT)}… (${s.length - MAX_RESULT_TEXT} more characters)` : s);

function capDetails(d: Record<string, unknown>): Record<string, unknown> {
  const size = JSON.stringify(d)?.length ?? 0;
  if (size <= MAX_DETAILS_BYTES) return d;
  return { truncated: `details were ${size} bytes, over the ${MAX_DETAILS_BYTES / 1024} KiB cap`, keys: Object.keys(d).slice(0, 50) };
}

function finalResult(r: unknown, scrubber: Scrubber): ProbeResult {
  if (r === null || typeof r !== 'object') return { ok: false, reason: `probe returned no result (${typeof r})` };
  const raw = r as Record<string, unknown>;
  const text = (v: unknown) => (v === undefined || v === null ? undefined : capText(scrubber.text(asText(v))));
  // Keys the core does not know pass through untouched (they are not shown); the shown ones are scrubbed below.
  const out: ProbeResult = { ...(raw as Partial<ProbeResult>), ok: raw.ok === true };
  const reason = text(raw.reason);
  out.reason = reason ?? (out.ok ? undefined : 'probe failed without giving a reason');
  if (out.reason === undefined) delete out.reason;
  const cause = text(raw.cause);
  if (cause !== undefined) out.cause = cause;
  else delete out.cause;
  if (raw.details === undefined) delete out.details;
  else {
    const d = scrubber.value(raw.details);
    out.details = capDetails(d && typeof d === 'object' && !Array.isArray(d) ? (d as Record<string, unknown>) : { value: d });
  }
  for (const k of ['action', 'fix'] as const) {
    const v = text(raw[k]);
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
    else delete (out as unknown as Record<string, unknown>)[k];
  }
  return out;
}

export type { RunRecord } from './run-record.ts';

interface Entry {
  probe: ProbeBase & Record<string, unknown>;
  kind: ProbeKind;
  print: ProbeFingerprint;
  state: Map<string, unknown>;
  timer?: NodeJS.Timeout;
  /** The probe's own run promise; set until it settles, even past the timeout (no overlap ever). */
  running?: Promise<unknown>;
  /** Aborts the current run when the probe is removed or the agent stops. */
  stop: StopSwitch;
  last?: RunRecord;
  runs: number;
  skipped: number;
  nextAt?: number;
}

export interface SchedulerOptions {
  registry: MetricRegistry;
  log: Logger;
  kinds: ReadonlyArray<ProbeKind>;
  runLogs?: RunLogStore;
  now?: () => number;
  /** Max initial delay as a fraction of the interval (default 0.1, capped at 5 s). */
  jitter?: number;
  random?: () => number;
}

export class Scheduler {
  readonly #entries = new Map<string, Entry>();
  #config?: LoadedConfig;
  #started = false;
  readonly runLogs: RunLogStore;
  readonly history = new RunHistory();
  readonly #now: () => number;

  constructor(readonly opts: SchedulerOptions) {
    this.runLogs = opts.runLogs ?? new RunLogStore();
    this.#now = opts.now ?? Date.now;
    // Conflicting declarations between kinds fail here, at start-up, not at some probe's first run.
    for (const k of opts.kinds) for (const d of metricDefsOf(k.metrics ?? {})) opts.registry.define(d);
  }

  get config(): LoadedConfig | undefined {
    return this.#config;
  }

  /** Install a config: add new probes, drop removed ones, restart changed ones (keeping their state unless its sources or secrets changed). */
  apply(config: LoadedConfig): void {
    const next = new Map(config.probes.map((p) => [p.name, { probe: p, print: fingerprint(p, config) }]));
    // What a changed probe hands to its replacement: its state, its last verdict, its run in flight.
    // State earned against other sources or other secret values (a passed permission check) is dropped.
    const carried = new Map<string, Pick<Entry, 'last' | 'running'> & { state?: Entry['state'] }>();
    for (const [name, e] of this.#entries) {
      const n = next.get(name);
      if (n && n.probe.type === e.probe.type && n.print.all === e.print.all) continue;
      if (n?.probe.type === e.probe.type) {
        carried.set(name, { state: n.print.identity === e.print.identity ? e.state : undefined, last: e.last, running: e.running });
      }
      this.#remove(name);
    }
    this.#config = config;
    this.history.retain(config.probes.map((p) => p.name));
    for (const p of config.probes) {
      if (this.#entries.has(p.name)) continue;
      const kind = this.opts.kinds.find((k) => k.type === p.type);
      if (!kind) throw new Error(`no probe kind ${p.type}`);
      const prev = carried.get(p.name);
      const print = next.get(p.name)!.print;
      const e: Entry = {
        probe: p,
        print,
        kind,
        state: prev?.state ?? new Map<string, unknown>(),
        stop: new StopSwitch(),
        runs: 0,
        skipped: 0,
        last: prev?.last,
      };
      // A run of the replaced entry may still be settling; it shares this state, so wait for it.
      if (prev?.running) this.#track(e, prev.running);
      this.#entries.set(p.name, e);
      this.#exportStatic(e);
      if (this.#started) this.#schedule(e, this.#initialDelay(e));
    }
  }

  /** Mark the entry busy until `run` settles, so no other run of it starts meanwhile. */
  #track(e: Entry, run: Promise<unknown>): void {
    e.running = run;
    const done = () => {
      if (e.running === run) e.running = undefined;
    };
    run.then(done, done);
  }

  #remove(name: string): void {
    const e = this.#entries.get(name);
    if (!e) return;
    clearTimeout(e.timer);
    e.stop.stop(new Error('probe removed by reload'));
    this.#entries.delete(name);
    this.opts.registry.removeSeries(name);
  }

  #exportStatic(e: Entry): void {
    const m = new ProbeMetrics(this.opts.registry, e.probe.name);
    m.set('probe_interval_seconds', { type: e.probe.type }, e.probe.intervalMs / 1000);
    for (const [k, v] of Object.entries(e.probe.thresholds)) m.set('probe_threshold', { type: e.probe.type, threshold: k }, v);
    for (const result of ['success', 'failure', 'timeout', 'error']) m.touch('probe_runs_total', { type: e.probe.type, result });
  }

  #initialDelay(e: Entry): number {
    const frac = this.opts.jitter ?? 0.1;
    return Math.floor((this.opts.random ?? Math.random)() * Math.min(e.probe.intervalMs * frac, 5000));
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const e of this.#entries.values()) this.#schedule(e, this.#initialDelay(e));
  }

  #schedule(e: Entry, delay: number): void {
    e.nextAt = this.#now() + delay;
    e.timer = setTimeout(() => this.#tick(e), delay);
    e.timer.unref?.();
  }

  #tick(e: Entry): void {
    if (this.#entries.get(e.probe.name) !== e) return;
    if (e.nextAt !== undefined) this.opts.registry.schedulerLag.observe(Math.max(0, this.#now() - e.nextAt) / 1000);
    // Fixed rate: the next tick is due one interval after this one, whatever the run takes.
    this.#schedule(e, e.probe.intervalMs);
    if (e.running) {
      e.skipped++;
      this.opts.log.warn({ probe: e.probe.name, skipped: e.skipped }, 'previous run still in progress; skipping this tick');
      return;
    }
    void this.runOnce(e.probe.name).catch(() => undefined);
  }

  /** Run one probe now (also used by `once` and tests). Resolves at the timeout even if the probe hangs. */
  async runOnce(name: string): Promise<RunRecord> {
    const e = this.#entries.get(name);
    if (!e || !this.#config) throw new Error(`unknown probe ${name}`);
    const runId = randomUUID().slice(0, 8);
    const probe = e.probe;
    const log = this.opts.log.child({ probe: probe.name, type: probe.type, run_id: runId });
    const ctrl = new AbortController();
    const timeoutErr = new Error(`probe timed out after ${probe.timeoutMs / 1000}s`);
    // The run's own signal, aborted by its timeout or by the probe's stop switch (stop-switch.ts; not a signal that
    // AbortSignal.any() could combine: on Node 20 every such call leaves a record on the long-lived signal, about
    // 55 bytes a run, hundreds of MiB a day at 500 probes).
    const signal = ctrl.signal;
    const unlisten = e.stop.onStop((reason) => ctrl.abort(reason));
    const config = this.#config;
    const scrubber = new Scrubber(config.secrets);
    // Label values are scrubbed like everything else the probe emits. A run outliving its probe
    // (removed or changed by a reload) must not write series back.
    const metrics = new RunMetrics(
      this.opts.registry,
      probe.name,
      () => this.#entries.get(name) === e,
      (l) => scrubber.labels(l),
      probe.type,
    );
    const ctx: ProbeContext = {
      signal,
      log: scrubber.logger(log),
      metrics,
      now: this.#now,
      state: e.state,
      config,
      source(n: string) {
        const s = config.sources[n];
        if (!s) throw new Error(`unknown source ${n}`);
        return s;
      },
    };
    const startedAt = this.#now();
    const t0 = performance.now();
    log.debug('probe run started');
    let outcome: RunRecord['outcome'];
    let result: ProbeResult;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => {
        ctrl.abort(timeoutErr);
        resolve('timeout');
      }, probe.timeoutMs);
    });
    // Via a microtask so a probe that throws synchronously is an ordinary failed run.
    const inflight = Promise.resolve().then(() => e.kind.run(probe as never, ctx));
    this.#track(e, inflight);
    try {
      const r = await Promise.race([inflight, timedOut]);
      if (r === 'timeout') {
        outcome = 'timeout';
        result = {
          ok: false,
          reason: timeoutErr.message,
          cause: 'The probe did not finish within its timeout: the upstream is slow or unreachable, or the timeout is too short for its work.',
        };
      } else {
        result = r;
        outcome = (r as ProbeResult | undefined)?.ok === true ? 'success' : 'failure';
      }
    } catch (err) {
      outcome = signal.aborted && signal.reason === timeoutErr ? 'timeout' : 'error';
      const msg = err instanceof Error ? err.message : String(err);
      result = { ok: false, reason: outcome === 'timeout' ? timeoutErr.message : `probe error: ${msg}` };
    } finally {
      clearTimeout(timer);
      unlisten();
    }
    // Upstream error text can echo request details; never let a secret through. Whatever goes wrong
    // from here on, the run is still recorded, as a failure with a reason.
    try {
      result = finalResult(result, scrubber);
      if (outcome === 'success' && !result.ok) outcome = 'failure';
    } catch (err) {
      outcome = 'error';
      result = { ok: false, reason: `probe result could not be recorded: ${scrubber.text(err instanceof Error ? err.message : String(err))}` };
    }
    const durationSeconds = (performance.now() - t0) / 1000;
    const finishedAt = this.#now();
    const rec: RunRecord = { runId, startedAt, finishedAt, durationSeconds, result, outcome };
    let transition: Transition | undefined;
    // The run's gauges count only when it completed; a probe removed by a reload while running must
    // not write its series back.
    if (outcome === 'timeout') metrics.discard();
    if (this.#entries.get(name) === e) {
      transition = this.history.record(name, rec);
      e.last = rec;
      e.runs++;
      try {
        const m = metrics;
        m.publish();
        m.set('probe_success', { type: probe.type }, result.ok ? 1 : 0);
        m.set('probe_duration_seconds', { type: probe.type }, durationSeconds);
        m.set('probe_last_run_timestamp_seconds', { type: probe.type }, finishedAt / 1000);
        m.inc('probe_runs_total', { type: probe.type, result: outcome });
      } catch (err) {
        log.error({ error: scrubber.text(String(err)) }, "cannot export the run's metrics");
      }
    }
    const line = { ok: result.ok, outcome, duration_seconds: Number(durationSeconds.toFixed(4)), reason: result.reason };
    log.debug(line, 'probe run finished');
    if (transition) logTransition(log, transition);
    return rec;
  }

  status(): Array<{
    name: string;
    type: string;
    intervalSeconds: number;
    timeoutSeconds: number;
    runs: number;
    skipped: number;
    running: boolean;
    nextRunAt?: string;
    last?: RunRecord;
  }> {
    return [...this.#entries.values()].map((e) => ({
      name: e.probe.name,
      type: e.probe.type,
      intervalSeconds: e.probe.intervalMs / 1000,
      timeoutSeconds: e.probe.timeoutMs / 1000,
      runs: e.runs,
      skipped: e.skipped,
      running: e.running !== undefined,
      nextRunAt: e.nextAt ? new Date(e.nextAt).toISOString() : undefined,
      last: e.last,
    }));
  }

  probeNames(): string[] {
    return [...this.#entries.keys()];
  }

  /** Stop timers, abort runs in flight, wait for them at most `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    this.#started = false;
    const running: Promise<unknown>[] = [];
    for (const e of this.#entries.values()) {
      clearTimeout(e.timer);
      e.stop.stop(new Error('agent shutting down'));
      if (e.running) running.push(e.running);
    }
    let t: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(running), new Promise((r) => (t = setTimeout(r, graceMs)))]);
    clearTimeout(t);
  }
}
