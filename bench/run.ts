// npm run bench: runs every benchmark in this folder, one after another, each in its own process (so one's
// memory does not colour another's), then writes bench/RESULTS.md from the sections they leave in
// bench/.results/. `npm run bench -- scale faults` re-runs only those; the other sections keep their
// earlier figures (each section says when it was measured), as do opt-in ones a full run skips.
// Each benchmark is bounded in time.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { BENCH_DIR, CLI, LAUNCHER_ENV_TEXT, LAUNCHER_NODE_FLAGS, RESULTS_DIR, ROOT, machine, version, type Section } from './lib/common.ts';
import { findBinary } from './lib/world.ts';

/** Wall-time bound per benchmark (ms); the soak adds its own length to scale's. */
const SOAK_SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 180);
const LIMIT_MS: Record<string, number> = { 'scale.ts': (6 * 60 + SOAK_SECONDS) * 1000, 'memory.ts': 10 * 60_000 };
const DEFAULT_LIMIT_MS = 6 * 60_000;

/** Run only when named (`npm run bench -- memory`): they would push a full run past its time budget. */
const OPT_IN = ['memory.ts'];
const only = process.argv.slice(2);
const files = readdirSync(BENCH_DIR)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .filter((f) => (only.length === 0 ? !OPT_IN.includes(f) : only.some((o) => f.includes(o))))
  .sort();
mkdirSync(RESULTS_DIR, { recursive: true });
// Every benchmark measures the production build: build it now, so bin/hookwatch.js runs dist/, not tsx.
const built = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: 'inherit' });
if (built.status !== 0) throw new Error('npm run build failed');
// Children inherit this: the build is used even if a source is edited while the benchmarks run.
process.env.HOOKWATCH_FROM = 'dist';

const load0 = loadavg();
const t0 = Date.now();
let failed = 0;
for (const f of files) {
  console.log(`\n### ${f}`);
  const started = Date.now();
  const out: string[] = [];
  const code = await new Promise<number | string>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(BENCH_DIR, f)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, HOOKWATCH_BENCH_RESULTS: RESULTS_DIR },
    });
    child.stdout.on('data', (d: Buffer) => {
      process.stdout.write(d);
      out.push(d.toString());
    });
    const limit = LIMIT_MS[f] ?? DEFAULT_LIMIT_MS;
    const timer = setTimeout(() => {
      console.log(`${f}: over its ${limit / 1000} s bound, stopping it`);
      child.kill('SIGKILL');
    }, limit);
    child.on('exit', (c, sig) => {
      clearTimeout(timer);
      resolve(c ?? sig ?? 'unknown');
    });
  });
  const name = f.replace(/\.ts$/, '');
  const sectionFile = join(RESULTS_DIR, `${name}.json`);
  if (code !== 0) {
    failed++;
    console.log(`${f} exited with ${code}`);
  }
  // A benchmark that does not write its own section (or failed before it could) still gets one.
  const fresh = existsSync(sectionFile) && (JSON.parse(readFileSync(sectionFile, 'utf8')) as Section).at >= new Date(started).toISOString();
  if (!fresh) {
    const text = out.join('').trim().split('\n').slice(-30).join('\n');
    const s: Section = {
      name,
      order: 90,
      title: `${name}${code !== 0 ? ` (exited with ${code})` : ''}`,
      markdown: ['Output (last lines):', '', '```', text, '```'].join('\n'),
      data: { exit: code },
      seconds: (Date.now() - started) / 1000,
      at: new Date().toISOString(),
    };
    writeFileSync(sectionFile, JSON.stringify(s, null, 2));
  }
}

const sections = readdirSync(RESULTS_DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(RESULTS_DIR, f), 'utf8')) as Section)
  .sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
const m = machine();
const gitRev = (() => {
  try {
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim() ? ' (with local changes)' : '';
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim() + dirty;
  } catch {
    return 'unknown';
  }
})();
const bb = findBinary('prometheus-blackbox-exporter') ?? findBinary('blackbox_exporter');
const v = (name: string, args?: string[]) => {
  const b = findBinary(name);
  return b ? version(b, args) : 'not installed';
};
const load1 = loadavg();
const summary = summarize(sections);
const doc = [
  '# hookwatch benchmark results',
  '',
  `Written by \`npm run bench\` (bench/run.ts) at ${new Date().toISOString()} from commit ${gitRev}; ${files.length ? `this run measured ${files.join(', ')}, other sections (if any) are from earlier runs` : 'this run measured nothing (the summary was rewritten), every section is from an earlier run'}.`,
  `Benchmarks run one after another, each in its own process, on loopback only. Wall time of this run: ${((Date.now() - t0) / 60_000).toFixed(1)} min.`,
  '',
  '## Machine and versions',
  '',
  `- CPU: ${m.cpu}, ${m.cores} cores; RAM ${m.ramGiB.toFixed(1)} GiB; Linux ${m.kernel}`,
  `- Load average (1/5/15 min) at the start ${load0.map((x) => x.toFixed(2)).join(' / ')}, at the end ${load1.map((x) => x.toFixed(2)).join(' / ')}: other work on the machine shares these cores, so absolute times are noisy; ratios are measured side by side in the same run.`,
  `- Node ${process.version}; hookwatch ${process.env.npm_package_version ?? '0.1.0'} run as \`${[LAUNCHER_ENV_TEXT, 'node', ...LAUNCHER_NODE_FLAGS].join(' ')} ${CLI.slice(ROOT.length + 1)}\` (the launcher's environment and flags; the production build in dist/, an esbuild bundle)`,
  `- blackbox_exporter: ${bb ? version(bb) : 'not installed'}`,
  `- Prometheus: ${v('prometheus')}; Alertmanager: ${v('prometheus-alertmanager')}; unbound: ${v('unbound', ['-V'])}; nsd: ${v('nsd', ['-v'])}`,
  '',
  '## Summary',
  '',
  ...summary,
  '',
  ...sections.flatMap((s) => [
    `## ${s.title}`,
    '',
    `_Measured ${s.at}, ${s.seconds.toFixed(0)} s${s.load !== undefined ? `; 1-minute load average ${s.load.toFixed(1)} on ${m.cores} cores at the end` : ''}._`,
    '',
    s.markdown,
    '',
  ]),
].join('\n');
writeFileSync(join(BENCH_DIR, 'RESULTS.md'), doc);
console.log(`\nwrote bench/RESULTS.md (${sections.length} sections)${failed ? `; ${failed} benchmark(s) failed` : ''}`);
process.exitCode = failed ? 1 : 0;

/** The headline figures, pulled from the sections' data. */
function summarize(all: Section[]): string[] {
  const get = (n: string) => all.find((s) => s.name === n)?.data as Record<string, any> | undefined;
  const out: string[] = [];
  const x = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a');
  const cost = get('probe-cost');
  if (cost?.httpBb) {
    out.push(
      `- HTTP probe, hookwatch / blackbox_exporter: wall time per run ${x(cost.httpOurs.wall.median, cost.httpBb.inner.median)} of its probe_duration (${x(cost.httpOurs.wall.median, cost.httpBb.e2e.median)} of /probe end to end); CPU per 1000 runs ${x(cost.httpOurs.cpu.median, cost.httpBb.cpu.median)} sequential, ${cost.bbAgent ? x(cost.agentMode.cpuPer1000, cost.bbAgent.cpuPer1000) : 'n/a'} in agent mode; RSS ${cost.bbAgent ? x(cost.agentMode.rss.self, cost.bbAgent.rss) : 'n/a'} (${cost.agentMode.rss.self.toFixed(0)} vs ${cost.bbAgent?.rss.toFixed(0)} MiB). Target: within 1.5×.`,
    );
  }
  if (cost?.dnsBb) {
    out.push(
      `- DNS probe (A), hookwatch dns_drift / blackbox_exporter dns: wall time ${x(cost.dnsOurs.wall.median, cost.dnsBb.inner.median)} of its probe_duration (${x(cost.dnsOurs.wall.median, cost.dnsBb.e2e.median)} end to end; dns_drift also asks the authoritative servers); CPU per 1000 runs ${x(cost.dnsOurs.cpu.median, cost.dnsBb.cpu.median)}. Target: ahead (< 1×).`,
    );
  }
  const det = get('detection');
  if (det?.runs?.length) {
    const pages = (det.runs as Array<Record<string, number>>).map((r) => r['page: HookwatchDNSDrift at the pager']).filter((p) => p !== undefined);
    if (pages.length)
      out.push(`- Replayed incident at compressed intervals: fault → HookwatchDNSDrift page in ${pages.map((p) => p.toFixed(1)).join(', ')} s.`);
  }
  const sc = get('scale');
  for (const r of (sc?.results ?? []) as Array<Record<string, any>>) {
    out.push(
      `- ${r.probes} mixed probes: RSS ${mib(r.rss.self)} at the end of the window, lag p99 ${r.lagP99ms.toFixed(1)} ms, /metrics ${r.scrapeMs.median.toFixed(0)} ms for ${r.metricsKiB.toFixed(0)} KiB, ${r.cpuCores.toFixed(2)} cores.`,
    );
  }
  if (sc?.soak)
    out.push(
      `- Soak ${sc.soak.probes} probes × ${sc.soak.seconds} s: RSS ${sc.soak.rssEarly.toFixed(0)} → ${sc.soak.rssLate.toFixed(0)} MiB (${sc.soak.growthPct.toFixed(1)}%, medians of first and last thirds; target under 5%), lowest heap in use ${sc.soak.heapFloorEarly?.toFixed(0)} → ${sc.soak.heapFloorLate?.toFixed(0)} MiB, lag p99 ${sc.soak.lagP99EarlyMs.toFixed(1)} → ${sc.soak.lagP99LateMs.toFixed(1)} ms.`,
    );
  const st = get('footprint');
  if (st) {
    for (const [k, r] of Object.entries(st).filter(([k]) => k !== 'importCostMiB')) {
      out.push(
        `- ${k}: start to /-/ready ${r.ready.median.toFixed(0)} ms (${r.cpu?.median.toFixed(0)} ms CPU), idle RSS ${mib(r.rss.median)} (targets: 500 ms, 70 MB).`,
      );
    }
  }
  const mem = get('memory');
  for (const c of (mem?.cases ?? []) as Array<Record<string, any>>)
    if (c.type === 'mixed' && c.nodeFlags === LAUNCHER_NODE_FLAGS.join(' '))
      out.push(`- Memory bench, ${c.probes} mixed probes with the launcher's flags: RSS median ${mib(c.rss)}, max ${mib(c.rssMax)} (target: under 100 MB).`);
  const fl = get('faults');
  if (fl?.rows) out.push(`- Fault injection: ${(fl.rows as Array<{ held: boolean }>).filter((r) => r.held).length} of ${fl.rows.length} held (table below).`);
  return out.length ? out : ['(no sections)'];
}

/** RSS in MiB (what the tables use) and in MB (what the targets say). */
function mib(v: number): string {
  return `${v.toFixed(1)} MiB (${((v * 2 ** 20) / 1e6).toFixed(1)} MB)`;
}
