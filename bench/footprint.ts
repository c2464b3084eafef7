// Start-up time to /-/ready and idle RSS of the agent with one probe, repeated: the production build users
// run (bin/hookwatch.js -> dist/, built here first), the same with V8's defaults and with the launcher's heap flags only, and the
// TypeScript sources through tsx (development). Plus what each runtime
// dependency adds to a bare Node process's RSS, to show where idle memory goes.
//   node --import tsx bench/footprint.ts     (BENCH_STARTUP_REPS, default 9, in rounds)
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CLI,
  LAUNCHER_ENV,
  LAUNCHER_ENV_TEXT,
  LAUNCHER_HEAP_FLAGS,
  LAUNCHER_NODE_FLAGS,
  ROOT,
  cpuSeconds,
  emit,
  fmt,
  rssTree,
  sleep,
  spread,
  table,
} from './lib/common.ts';
import { freePort } from './lib/world.ts';

const REPS = Number(process.env.BENCH_STARTUP_REPS ?? 9);
const IDLE_WAIT_MS = 5000;
const started = Date.now();
const dir = mkdtempSync(join(tmpdir(), 'hw-bench-start-'));
const cfg = join(dir, 'probes.yaml');
writeFileSync(cfg, 'global:\n  interval: 60s\nprobes:\n  - name: one\n    type: http\n    url: http://127.0.0.1:9/\n');

/** Spawn `entry run`, time it to the first 200 from /-/ready, then wait and read RSS. */
async function measure(entry: string[], env: NodeJS.ProcessEnv): Promise<{ readyMs: number; cpuMs: number; rss: number; children: number }> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, [...entry, 'run', '--config.file', cfg, '--web.listen-address', `127.0.0.1:${port}`], {
    cwd: ROOT,
    stdio: 'ignore',
    env: { ...process.env, ...env },
  });
  try {
    let readyMs = NaN;
    let cpuMs = NaN;
    for (let i = 0; i < 4000 && child.exitCode === null; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) {
        readyMs = performance.now() - t0;
        cpuMs = cpuSeconds(child.pid!) * 1000;
        break;
      }
      await sleep(5);
    }
    if (!Number.isFinite(readyMs)) throw new Error(`${entry.join(' ')} never became ready (exit ${child.exitCode})`);
    await sleep(IDLE_WAIT_MS);
    const r = rssTree(child.pid!);
    return { readyMs, cpuMs, rss: r.self, children: r.children };
  } finally {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  }
}

/**
 * Every entry point `REPS` times, in rounds (each entry once per round), so a change in the machine's load during the
 * benchmark affects all rows alike instead of the ones that happened to run then.
 */
async function interleaved(entries: Array<{ label: string; entry: string[]; env: NodeJS.ProcessEnv }>) {
  const xs = entries.map(() => [] as Array<Awaited<ReturnType<typeof measure>>>);
  for (let i = 0; i < REPS; i++) for (const [k, e] of entries.entries()) xs[k]!.push(await measure(e.entry, e.env));
  return entries.map((e, k) => ({
    label: e.label,
    ready: spread(xs[k]!.map((x) => x.readyMs)),
    cpu: spread(xs[k]!.map((x) => x.cpuMs)),
    rss: spread(xs[k]!.map((x) => x.rss)),
    children: spread(xs[k]!.map((x) => x.children)),
  }));
}

/**
 * The production build (`npm run build`: one esbuild bundle plus lazy chunks), built first so it is current,
 * unless bench/run.ts has just built it (it sets HOOKWATCH_FROM=dist for every benchmark).
 */
function buildDist(): void {
  if (process.env.HOOKWATCH_FROM === 'dist') return;
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: 'ignore' });
}

/** RSS a bare Node process gains by importing one module (median of 3). */
function importCost(mod: string): number {
  const code = `const base = process.memoryUsage().rss; await import(${JSON.stringify(mod)}); console.log((process.memoryUsage().rss - base) / 1048576);`;
  const xs: number[] = [];
  for (let i = 0; i < 3; i++) xs.push(Number(execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8' }).trim()));
  return spread(xs).median;
}

try {
  const rows: Array<Array<string>> = [];
  const data: Record<string, unknown> = {};
  buildDist();
  const flags = [LAUNCHER_ENV_TEXT, ...LAUNCHER_NODE_FLAGS].join(' ');
  const dist = { HOOKWATCH_FROM: 'dist' };
  for (const r of await interleaved([
    {
      label: `\`hookwatch\` as installed: production build (esbuild bundle), ${flags} from the launcher's first line`,
      entry: [...LAUNCHER_NODE_FLAGS, CLI],
      env: { ...LAUNCHER_ENV, ...dist },
    },
    { label: 'same, `node bin/hookwatch.js` (no flag, no environment: V8 and glibc defaults)', entry: [CLI], env: dist },
    {
      label: `same, the launcher's heap flags only (${LAUNCHER_HEAP_FLAGS.join(' ')}: optimising compilers on)`,
      entry: [...LAUNCHER_HEAP_FLAGS, CLI],
      env: dist,
    },
    {
      label: 'bin/hookwatch.js from TypeScript sources (tsx, development)',
      entry: [...LAUNCHER_NODE_FLAGS, CLI],
      env: { ...LAUNCHER_ENV, HOOKWATCH_FROM: 'src' },
    },
  ])) {
    const { label, ...figures } = r;
    data[label] = figures;
    rows.push([label, fmt(r.ready, 0), fmt(r.cpu, 0), fmt(r.rss, 1), fmt(r.children, 1)]);
  }
  const bare = execFileSync(process.execPath, ['-e', 'console.log(process.memoryUsage().rss/1048576)'], { encoding: 'utf8' }).trim();
  const mods = ['undici', 'express', 'commander', 'pg', 'prom-client', 'pino', 'zod', 'yaml', 'bcryptjs', 'dns-packet', 'p-retry', 'tsx/esm/api'];
  const costs = mods.map((m) => [m, importCost(m).toFixed(1)]);
  data.importCostMiB = Object.fromEntries(costs);
  const markdown = [
    `${REPS} starts each, in rounds (every entry point once per round); median (min–max). One \`http\` probe; RSS read ${IDLE_WAIT_MS / 1000} s after ready.`,
    '',
    table(['entry point', 'start → /-/ready ms', 'CPU ms used by then', 'idle RSS MiB', 'child processes RSS MiB'], rows),
    '',
    `What importing each runtime dependency adds to a bare Node ${process.version} process (${Number(bare).toFixed(1)} MiB), MiB, median of 3:`,
    '',
    table(['module', 'RSS added MiB'], costs),
    '',
    'Child processes: tsx starts an esbuild service process to compile TypeScript when its cache is cold; it is counted separately.',
    'On a busy machine the wall time to ready mostly measures waiting for a core; the CPU time the process used by then does not.',
  ].join('\n');
  emit({ name: 'footprint', order: 50, title: 'Start-up time and idle memory', markdown, data, seconds: (Date.now() - started) / 1000 });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
