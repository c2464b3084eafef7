// Keeps the log lines of each probe's most recent runs in memory, so the HTML page can link to
// "what happened in the last run" without a log pipeline. Bounded in runs and lines.
export class RunLogStore {
  readonly #byRun = new Map<string, Array<Record<string, unknown>>>();
  constructor(
    readonly maxRuns = 2000,
    readonly maxLinesPerRun = 200,
  ) {}

  /** pino sink: called with every parsed log object. */
  readonly sink = (obj: Record<string, unknown>): void => {
    const id = obj.run_id;
    if (typeof id !== 'string') return;
    let lines = this.#byRun.get(id);
    if (!lines) {
      if (this.#byRun.size >= this.maxRuns) {
        const oldest = this.#byRun.keys().next().value;
        if (oldest !== undefined) this.#byRun.delete(oldest);
      }
      this.#byRun.set(id, (lines = []));
    }
    if (lines.length < this.maxLinesPerRun) lines.push(obj);
  };

  lines(runId: string): Array<Record<string, unknown>> {
    return this.#byRun.get(runId) ?? [];
  }
}
