// A probe's stop switch: flipped when the probe is removed by a reload or the agent stops, it aborts the run in
// flight. Not an AbortController: one lives per probe for the agent's whole life, and an AbortSignal (an EventTarget
// with its listener maps) weighs about a kilobyte, half a MiB at 500 probes for a switch flipped once.
export class StopSwitch {
  #reason: unknown;
  #stopped = false;
  #listeners: Set<(reason: unknown) => void> | undefined;

  get stopped(): boolean {
    return this.#stopped;
  }

  get reason(): unknown {
    return this.#reason;
  }

  /** Flip the switch (once; later calls keep the first reason) and tell whoever listens. */
  stop(reason: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#reason = reason;
    const listeners = this.#listeners;
    this.#listeners = undefined;
    for (const l of listeners ?? []) l(reason);
  }

  /** Call `listener` when the switch flips (at once if it has); returns the function that stops listening. */
  onStop(listener: (reason: unknown) => void): () => void {
    if (this.#stopped) {
      listener(this.#reason);
      return () => undefined;
    }
    (this.#listeners ??= new Set()).add(listener);
    return () => {
      this.#listeners?.delete(listener);
    };
  }
}
