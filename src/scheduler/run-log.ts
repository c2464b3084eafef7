// Keeps the log lines of each probe's most recent runs in memory, so the HTML page can link to
// "what happened in the last run" without a log pipeline. Kept per probe, so a busy probe (200 at
// 1 s) cannot push a slow probe's (1 h) last run out; bounded in probes, runs per probe and lines.
// Lines are kept as the JSON text pino wrote and parsed only when a page asks for a run: at 500 probes the
// agent logs a few hundred debug lines a second, and parsing each (fresh strings for every key and value,
// most never read) was a large share of its garbage.
export interface RunLogLimits {
  runsPerProbe: number;
  linesPerRun: number;
  /** Probes remembered; the longest idle goes first (only reached after many renames). */
  probes: number;
}

export class RunLogStore {
  /** A run's lines: one string while it has one line (most runs log one or two), an array from the second on. */
  readonly #byRun = new Map<string, string | string[]>();
  /** Per probe, its remembered run ids, oldest first. Map order: least recently active probe first. */
  readonly #byProbe = new Map<string, string[]>();
  readonly limits: RunLogLimits;

  constructor(limits: Partial<RunLogLimits> = {}) {
    this.limits = { runsPerProbe: 5, linesPerRun: 200, probes: 2000, ...limits };
  }

  /** pino sink: called with every line (one JSON object) pino writes, whatever the output level. */
  readonly sink = (line: string): void => {
    const id = stringField(line, 'run_id');
    if (id === undefined) return;
    const lines = this.#byRun.get(id);
    if (lines === undefined) {
      this.#byRun.set(id, line);
      this.#remember(stringField(line, 'probe') ?? '', id);
    } else if (typeof lines === 'string') {
      // An exact-length literal: an empty array's first push reserves room for 17.
      if (this.limits.linesPerRun > 1) this.#byRun.set(id, [lines, line]);
    } else if (lines.length < this.limits.linesPerRun) lines.push(line);
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
    const out: Array<Record<string, unknown>> = [];
    const kept = this.#byRun.get(runId) ?? [];
    for (const l of typeof kept === 'string' ? [kept] : kept) {
      try {
        out.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        /* not a line pino wrote; nothing to show */
      }
    }
    return out;
  }
}

/**
 * A top-level string field of a pino line, without parsing it. pino writes a child logger's bindings (run_id, probe)
 * before the fields of each call, so the key's first occurrence is the binding; a `"key":"` inside a string value
 * cannot match, because JSON escapes the quotes there.
 */
function stringField(line: string, key: string): string | undefined {
  const at = line.indexOf(`"${key}":"`);
  if (at < 0) return undefined;
  const from = at + key.length + 4;
  const to = line.indexOf('"', from);
  if (to < 0) return undefined;
  const raw = line.slice(from, to);
  // An escape inside the value (a probe name with a backslash): decode it properly.
  if (raw.includes('\\')) {
    try {
      return (JSON.parse(line) as Record<string, unknown>)[key] as string | undefined;
    } catch {
      return undefined;
    }
  }
  return raw;
}
