// Structural secret scrubbing for everything a probe hands back: its result, its log lines and its
// metric labels. Values are walked, never serialised and searched: a text search over JSON misses a
// secret that JSON escapes (one holding `"` or `\`) and breaks the document when a secret equals
// JSON syntax (`true`, `null`, `}`).
import type { Logger } from 'pino';
import { Secret } from '../secret.ts';

/** Shorter values would match ordinary text everywhere; the loader's secrets are longer in practice. */
export const MIN_SCRUB_LENGTH = 4;
const MAX_DEPTH = 32;

export class Scrubber {
  readonly #secrets: Array<{ value: string; label: string }>;

  constructor(secrets: Iterable<Secret>) {
    const seen = new Map<string, string>();
    for (const s of secrets) {
      const v = s.reveal();
      if (v.length < MIN_SCRUB_LENGTH) continue;
      // Upstream text may carry the value encoded: inside a JSON body it echoed, or in a URL.
      for (const form of [v, JSON.stringify(v).slice(1, -1), encodeURIComponent(v)]) if (!seen.has(form)) seen.set(form, s.toString());
    }
    // Longest first, so a secret that contains another is replaced whole.
    this.#secrets = [...seen].map(([value, label]) => ({ value, label })).sort((a, b) => b.value.length - a.value.length);
  }

  get empty(): boolean {
    return this.#secrets.length === 0;
  }

  text(s: string): string {
    if (this.#secrets.length === 0) return s;
    let out = s;
    for (const { value, label } of this.#secrets) if (out.includes(value)) out = out.split(value).join(label);
    // A replacement next to ordinary text could in theory spell a secret again: give up on the string.
    for (const { value } of this.#secrets) if (out.includes(value)) return '[redacted]';
    return out;
  }

  /**
   * A JSON-safe copy of `v` with every string (keys included) scrubbed. Secrets print as their
   * reference, errors as their message; functions and symbols are dropped, bigints become strings,
   * cycles and depth past MAX_DEPTH become a marker. Never throws.
   */
  value(v: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
    if (typeof v === 'string') return this.text(v);
    if (v === null || typeof v === 'number' || typeof v === 'boolean') return v;
    if (typeof v === 'bigint') return v.toString();
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return undefined;
    if (v instanceof Secret) return v.toString();
    if (v instanceof Error) return { error: this.text(v.message) };
    if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
    if (depth >= MAX_DEPTH) return '[too deep]';
    if (seen.has(v)) return '[circular]';
    seen.add(v);
    try {
      if (Array.isArray(v)) return v.map((x) => this.value(x, depth + 1, seen) ?? null);
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        const y = this.value(x, depth + 1, seen);
        if (y !== undefined) out[this.text(k)] = y;
      }
      return out;
    } finally {
      seen.delete(v);
    }
  }

  labels(l: Record<string, string>): Record<string, string> {
    if (this.#secrets.length === 0) return l;
    return Object.fromEntries(Object.entries(l).map(([k, v]) => [k, this.text(v)]));
  }

  /** A logger whose every argument (merge object, message, format arguments) is scrubbed first. */
  logger(log: Logger): Logger {
    if (this.#secrets.length === 0) return log;
    const methods = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
    return new Proxy(log, {
      get: (target, prop, receiver) => {
        const orig: unknown = Reflect.get(target, prop, receiver);
        if (prop === 'child' && typeof orig === 'function') {
          return (bindings: Record<string, unknown>, opts?: object) =>
            this.logger((orig as Logger['child']).call(target, this.value(bindings) as Record<string, unknown>, opts) as unknown as Logger);
        }
        if (typeof prop === 'string' && methods.has(prop) && typeof orig === 'function') {
          return (...args: unknown[]) =>
            (orig as (...a: unknown[]) => void).apply(
              target,
              args.map((a) => this.value(a)),
            );
        }
        return orig;
      },
    });
  }
}
