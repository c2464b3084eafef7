// Shared by the benchmarks: statistics, per-process CPU and memory from /proc, the machine, and how a
// benchmark hands its section of bench/RESULTS.md to bench/run.ts.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, LAUNCHER_ENV, LAUNCHER_NODE_FLAGS, WITHOUT_LAUNCHER_ENV } from '../../test/helpers/agent-process.ts';

export { CLI, LAUNCHER_ENV, LAUNCHER_NODE_FLAGS, WITHOUT_LAUNCHER_ENV };
/** The launcher's environment as it is written in its first line (`NAME=value ...`), for the tables. */
export const LAUNCHER_ENV_TEXT = Object.entries(LAUNCHER_ENV)
  .map(([k, v]) => `${k}=${v}`)
  .join(' ');
export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = join(BENCH_DIR, '..');
/** The launcher's flags that size the heap, without those that turn off V8's optimising compilers. */
export const LAUNCHER_HEAP_FLAGS = LAUNCHER_NODE_FLAGS.filter((f) => f !== '--no-opt' && f !== '--no-maglev');
/** Where each benchmark leaves its JSON section for run.ts (kept between runs, so one part can be re-run). */
export const RESULTS_DIR = process.env.HOOKWATCH_BENCH_RESULTS ?? join(BENCH_DIR, '.results');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}
export const median = (xs: number[]) => quantile(xs, 0.5);

/** median / min / max of repeated measurements. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}
export function spread(xs: number[]): Spread {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}
/** "1.23 (1.10–1.40)" with the given decimals. */
export function fmt(s: Spread, digits = 2): string {
  if (!Number.isFinite(s.median)) return 'n/a';
  return s.n > 1 ? `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})` : s.median.toFixed(digits);
}
export const ratio = (a: number, b: number, digits = 2) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(digits)}×` : 'n/a');

const TICK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}

/**
 * Seconds the process's main thread has spent runnable but waiting for a CPU (/proc/PID/schedstat, 2nd
 * field): on a shared machine this tells waiting for a core apart from work.
 */
export function runqueueWaitSeconds(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return NaN;
  }
}

/** Resident set size in MiB (VmRSS) of one process. */
export function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Direct children of a process (e.g. the esbuild service tsx starts). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const c = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim();
      if (c) out.push(...c.split(/\s+/).map(Number));
    }
  } catch {
    /* gone */
  }
  return out;
}

/** RSS of a process and, separately, of its children. */
export function rssTree(pid: number): { self: number; children: number } {
  return { self: rssMiB(pid), children: childPids(pid).reduce((a, c) => a + (rssMiB(c) || 0), 0) };
}

export function version(cmd: string, args = ['--version']): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l);
  return text ?? 'unknown';
}

export function machine(): { cpu: string; cores: number; ramGiB: number; kernel: string } {
  const info = readFileSync('/proc/cpuinfo', 'utf8');
  const cpu = /^model name\s*:\s*(.+)$/m.exec(info)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  let kernel = 'unknown';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    /* not linux */
  }
  return { cpu, cores: cpus().length, ramGiB: totalmem() / 2 ** 30, kernel };
}

export interface Section {
  /** File name stem; sections are ordered by `order`. */
  name: string;
  order: number;
  title: string;
  markdown: string;
  data: Record<string, unknown>;
  seconds: number;
  at: string;
  /** 1-minute load average when the section was written: how busy the shared cores were. */
  load?: number;
}

/** Hand a section to run.ts (and print it, for a run by hand). */
export function emit(s: Omit<Section, 'at'>): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const full: Section = { ...s, at: new Date().toISOString(), load: loadavg()[0] };
  writeFileSync(join(RESULTS_DIR, `${s.name}.json`), JSON.stringify(full, null, 2));
  console.log(`\n## ${s.title}\n\n${s.markdown}\n`);
}

export function table(head: string[], rows: Array<Array<string | number>>): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** A promise that rejects after `ms`, so every wait in a benchmark is bounded. */
export async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`${what}: no result within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

/** Spawn a helper process and stop it (SIGTERM, then SIGKILL) when done. */
export function spawnHelper(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): { child: ChildProcess; stop(): Promise<void> } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  child.stdout.resume();
  child.stderr.resume();
  return {
    child,
    stop: () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null || child.signalCode !== null) return r();
        const k = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(k);
          r();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** Scrape a Prometheus text exposition into name{labels} -> value. */
export function parseExposition(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

/** Sum of every series of a metric (optionally whose labels contain `match`). */
export function sumOf(exp: Map<string, number>, name: string, match = ''): number {
  let s = 0;
  for (const [k, v] of exp) if ((k === name || k.startsWith(`${name}{`)) && k.includes(match)) s += v;
  return s;
}

/** Quantile from cumulative histogram buckets (le -> count), interpolated as histogram_quantile does. */
export function histogramQuantile(buckets: Array<[number, number]>, q: number): number {
  const b = [...buckets].sort((x, y) => x[0] - y[0]);
  const total = b.at(-1)?.[1] ?? 0;
  if (!total) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of b) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** The buckets of one histogram in an exposition, as [le, cumulative count]. */
export function buckets(exp: Map<string, number>, name: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [k, v] of exp) {
    if (!k.startsWith(`${name}_bucket{`)) continue;
    const le = /le="([^"]+)"/.exec(k)?.[1];
    if (le) out.push([le === '+Inf' ? Infinity : Number(le), v]);
  }
  return out;
}

/** Bucket-wise difference of two snapshots of a histogram: what happened between them. */
export function bucketDelta(after: Array<[number, number]>, before: Array<[number, number]>): Array<[number, number]> {
  const b = new Map(before);
  return after.map(([le, c]) => [le, c - (b.get(le) ?? 0)]);
}
