// Read the config file so that a file being rewritten in place is never taken half-written. An editor
// or a tool writing without a rename can leave a prefix that is still valid YAML (a probe list cut after
// its second entry); a reload would then silently drop probes. A read counts only when the file did not
// change while it was read (same size, mtime, ctime and inode before and after) nor within a short pause
// after a recent modification. The sleeps are bounded (attempts x pause) and happen only for a file
// modified moments ago.
// Writers should still replace the file atomically (write a temporary file, then rename it over).
import { readFileSync, statSync, type Stats } from 'node:fs';

export interface StableReadOptions {
  /** Reads to try before giving up (default 5). */
  attempts?: number;
  /** Pause between attempts, ms (default 50): long enough for a writer to finish a small file. */
  pauseMs?: number;
  /** Injected by tests to change the file between reads. */
  onRead?: (attempt: number) => void;
}

export class UnstableFileError extends Error {
  constructor(file: string, attempts: number) {
    super(`${file} kept changing while being read (${attempts} attempts); write it atomically (temporary file, then rename)`);
    this.name = 'UnstableFileError';
  }
}

const same = (a: Stats, b: Stats) => a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino && a.ctimeMs === b.ctimeMs;

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The file's text, read until one read is consistent. Throws the fs error, or UnstableFileError. */
export function readStable(file: string, opts: StableReadOptions = {}): string {
  const attempts = Math.max(1, opts.attempts ?? 5);
  const pauseMs = opts.pauseMs ?? 50;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const before = statSync(file);
    const text = readFileSync(file, 'utf8');
    opts.onRead?.(attempt);
    let after = statSync(file);
    // Modified moments ago: a writer may only be between two writes. Look again after a pause.
    if (same(before, after) && Date.now() - after.mtimeMs < pauseMs * 2) {
      sleep(pauseMs);
      opts.onRead?.(attempt);
      const later = statSync(file);
      if (!same(after, later)) after = later;
    }
    if (same(before, after) && Buffer.byteLength(text) === after.size) return text;
    if (attempt < attempts) sleep(pauseMs);
  }
  throw new UnstableFileError(file, attempts);
}
