// The simulated BTCPay's sense of time. Two modes:
//  - scaled (default): row and invoice times come from `now` (a caller's clock, or Date.now unless set), and the
//    sender's waits are real timers multiplied by `timeScale` (0.001 turns a 10-minute retry wait into 600 ms);
//  - virtual: one simulated clock that only moves when the caller advances it. The sender's waits and the time an
//    attempt takes (100 s for a receiver that never answers, .NET's HttpClient default) are spent on this clock,
//    so a queue that stacks behind a timing-out delivery looks, through the API, as it would on a real server.
export type ClockMode = 'scaled' | 'virtual';

interface Timer {
  at: number;
  done: (fired: boolean) => void;
  real?: NodeJS.Timeout;
}

export class SimClock {
  readonly mode: ClockMode;
  readonly #external?: () => number;
  readonly #scale: number;
  #ms: number;
  #set = false;
  readonly #timers = new Set<Timer>();

  constructor(o: { mode?: ClockMode; now?: () => number; timeScale?: number; startMs?: number } = {}) {
    this.mode = o.mode ?? 'scaled';
    this.#external = this.mode === 'scaled' ? o.now : undefined;
    this.#scale = o.timeScale ?? 1;
    this.#ms = o.startMs ?? o.now?.() ?? Date.now();
    this.#set = this.mode === 'virtual';
  }

  now(): number {
    if (this.#external) return this.#external();
    return this.#set ? this.#ms : Date.now();
  }

  nowSec(): number {
    return Math.floor(this.now() / 1000);
  }

  /** Set the clock (ignored for a caller-supplied `now`). In virtual mode timers due by then become runnable. */
  setNow(ms: number): void {
    this.#ms = ms;
    this.#set = true;
  }

  /** Timers of the virtual clock that are waiting (the sender is blocked on simulated time). */
  get waiting(): number {
    return this.#timers.size;
  }

  /** Earliest virtual timer, if any. */
  nextDue(): number | undefined {
    let m: number | undefined;
    for (const t of this.#timers) if (m === undefined || t.at < m) m = t.at;
    return m;
  }

  /** Fire every virtual timer due at or before the current time; returns how many fired. */
  fireDue(): number {
    let n = 0;
    const now = this.now();
    for (const t of [...this.#timers]) {
      if (t.at <= now) {
        this.#timers.delete(t);
        t.done(true);
        n++;
      }
    }
    return n;
  }

  /** Wait `ms` of simulated time: a scaled real timer, or a virtual timer fired by advancing the clock. Resolves false when cancelled. */
  sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const t: Timer = { at: this.now() + ms, done: resolve };
      if (this.mode === 'scaled') {
        t.real = setTimeout(() => (this.#timers.delete(t), resolve(true)), ms * this.#scale);
      }
      this.#timers.add(t);
    });
  }

  /** Drop every pending wait (a BTCPay restart loses its in-memory retry loops). */
  cancelAll(): void {
    for (const t of this.#timers) {
      if (t.real) clearTimeout(t.real);
      t.done(false);
    }
    this.#timers.clear();
  }
}
