// Keeps the log lines of each probe's most recent runs in memory, so the HTML page can link to
// "what happened in the last run" without a log pipeline. Kept per probe, so a busy probe (200 at
// 1 s) cannot push a slow probe's (1 h) last run out; bounded in probes, runs per probe and lines.
export interface RunLogLimits {
  runsPerProbe: number;
  linesPerRun: number;
  /** Probes remembered; the longest idle goes first (only reached after many renames). */
  probes: number;
}

export class RunLogStore {
  readonly #byRun = new Map<string, Array<Record<string, unknown>>>();
  /** Per probe, its remembered run ids, oldest first. Map order: least recently active probe first. */
  readonly #byProbe = new Map<string, string[]>();
  readonly limits: RunLogLimits;

  constructor(limits: Partial<RunLogLimits> = {}) {
    this.limits = { runsPerProbe: 5, linesPerRun: 200, probes: 2000, ...limits };
  }

  /** pino sink: called with every parsed log object. */
  readonly sink = (obj: Record<string, unknown>): void => {
    const id = obj.run_id;
    if (typeof id !== 'string') return;
    let lines = this.#byRun.get(id);
    if (!lines) {
      this.#byRun.set(id, (lines = []));
      this.#remember(typeof obj.probe === 'string' ? obj.probe : '', id);
    }
    if (lines.length < this.limits.linesPerRun) lines.push(obj);
  };

  #remember(probe: string, id: string): void {
    const runs = this.#byProbe.get(probe) ?? [];
    this.#byProbe.delete(probe);
    this.#byProbe.set(probe, runs);
    runs.push(id);
    while (runs.length > this.limits.runsPerProbe) this.#byRun.delete(runs.shift()!);
    while (this.#byProbe.size > this.limits.probes) {
      const [oldest, ids] = this.#byProbe.entries().next().value!;
      for (const r of ids) this.#byRun.delete(r);
      this.#byProbe.delete(oldest);
    }
  }

  lines(runId: string): Array<Record<string, unknown>> {
    return this.#byRun.get(runId) ?? [];
  }
}
