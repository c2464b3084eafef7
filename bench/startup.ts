// Start time and idle memory of `hookwatch run`, from the TypeScript sources through tsx (development) and
// from the production build (dist/): time from spawn to the first 200 on /-/ready, then resident memory
// (the agent plus any child process, e.g. tsx's esbuild service) after a few idle seconds. One http probe
// against a loopback server, 5 starts per mode, medians.   node --import tsx bench/startup.ts [RUNS]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT } from '../test/helpers/agent-process.ts';

const RUNS = Number(process.argv[2] ?? 5);
const IDLE_MS = 3000;

if (!existsSync(join(ROOT, 'dist', '.build-complete'))) spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit' });

const server = createServer((_req, res) => res.end('ok'));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const dir = mkdtempSync(join(tmpdir(), 'hw-bench-start-'));
const cfg = join(dir, 'probes.yaml');
writeFileSync(cfg, `probes:\n  - name: p\n    type: http\n    url: http://127.0.0.1:${(server.address() as AddressInfo).port}/\n`);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

/** Resident set of a process and its descendants, in bytes. */
function treeRss(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  return kb * 1024 + kids.reduce((a, k) => a + treeRss(Number(k)), 0);
}

async function once(from: 'src' | 'dist'): Promise<{ readyMs: number; rss: number }> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, [CLI, 'run', '--config.file', cfg, '--web.listen-address', `127.0.0.1:${port}`], {
    env: { ...process.env, HOOKWATCH_FROM: from },
    stdio: 'ignore',
  });
  try {
    let readyMs = NaN;
    for (let i = 0; i < 1500 && Number.isNaN(readyMs); i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/-/ready`)).status === 200) readyMs = performance.now() - t0;
      } catch {
        /* not listening yet */
      }
      if (Number.isNaN(readyMs)) await new Promise((r) => setTimeout(r, 10));
    }
    if (Number.isNaN(readyMs)) throw new Error(`${from}: not ready within 15 s`);
    await new Promise((r) => setTimeout(r, IDLE_MS));
    return { readyMs, rss: treeRss(child.pid!) };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`| mode | time to /-/ready (median of ${RUNS}) | idle RSS incl. children (median) |`);
console.log('|---|---|---|');
for (const from of ['src', 'dist'] as const) {
  const rs = [];
  for (let i = 0; i < RUNS; i++) rs.push(await once(from));
  const label = from === 'src' ? 'sources via tsx (development)' : 'build in dist/ (package, image)';
  console.log(`| ${label} | ${median(rs.map((r) => r.readyMs)).toFixed(0)} ms | ${(median(rs.map((r) => r.rss)) / 2 ** 20).toFixed(1)} MiB |`);
}
server.close();
rmSync(dir, { recursive: true, force: true });
