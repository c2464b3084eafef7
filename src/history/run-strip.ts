// A probe's strip of recent runs, as a ring of numbers: three doubles per run (finish time, run id, duration and
// flags) in one Float64Array. At 500 probes x 30 runs an object per run (with its boxed numbers and id string) was
// about 2 MiB of the agent's heap; this is a tenth of that. Points are rebuilt only when a page or /status asks.
import type { RunRecord } from '../scheduler/run-record.ts';

export interface RunPoint {
  runId: string;
  /** When the run finished (epoch ms). */
  at: number;
  ok: boolean;
  outcome: RunRecord['outcome'];
  severity: 'page' | 'ticket' | null;
  durationSeconds: number;
}

const OUTCOMES: ReadonlyArray<RunPoint['outcome']> = ['success', 'failure', 'timeout', 'error'];
const SEVERITIES: ReadonlyArray<RunPoint['severity']> = [null, 'page', 'ticket'];
/** Scheduler run ids are 8 hex digits (32 bits): they fit a double exactly. Any other id is kept as a string. */
const HEX_ID = /^[0-9a-f]{8}$/;
const SLOTS = 3;

export class RunStrip {
  readonly #ring: Float64Array;
  /** Ids that are not 8 hex digits (tests, older callers), by slot; made only when one is seen. */
  #oddIds: Array<string | undefined> | undefined;
  /** Slot the next run goes to, and how many slots hold a run. */
  #next = 0;
  #size = 0;

  constructor(readonly capacity: number) {
    this.#ring = new Float64Array(Math.max(1, capacity) * SLOTS);
  }

  get length(): number {
    return this.#size;
  }

  push(p: RunPoint): void {
    const i = this.#next;
    const o = i * SLOTS;
    const hex = HEX_ID.test(p.runId);
    this.#ring[o] = p.at;
    this.#ring[o + 1] = hex ? parseInt(p.runId, 16) : -1;
    // Duration in whole milliseconds (the history shows 3 decimals), flags in the low 5 bits.
    const flags = (p.ok ? 1 : 0) | (Math.max(0, OUTCOMES.indexOf(p.outcome)) << 1) | (Math.max(0, SEVERITIES.indexOf(p.severity)) << 3);
    this.#ring[o + 2] = Math.max(0, Math.round(p.durationSeconds * 1000)) * 32 + flags;
    if (!hex) (this.#oddIds ??= [])[i] = p.runId;
    else if (this.#oddIds) this.#oddIds[i] = undefined;
    this.#next = (i + 1) % this.capacity;
    this.#size = Math.min(this.#size + 1, this.capacity);
  }

  /** Oldest first. */
  points(): RunPoint[] {
    const out: RunPoint[] = [];
    const first = (this.#next - this.#size + this.capacity) % this.capacity;
    for (let k = 0; k < this.#size; k++) {
      const i = (first + k) % this.capacity;
      const o = i * SLOTS;
      const packed = this.#ring[o + 2]!;
      const flags = packed % 32;
      const id = this.#ring[o + 1]!;
      out.push({
        runId: id >= 0 ? id.toString(16).padStart(8, '0') : (this.#oddIds?.[i] ?? ''),
        at: this.#ring[o]!,
        ok: (flags & 1) === 1,
        outcome: OUTCOMES[(flags >> 1) & 3]!,
        severity: SEVERITIES[(flags >> 3) & 3] ?? null,
        durationSeconds: (packed - flags) / 32 / 1000,
      });
    }
    return out;
  }
}
