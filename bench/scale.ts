// Scale: `hookwatch run` with 500 and 2000 mixed probes (bench/lib/mixed.ts) against loopback targets:
// scheduler lag p50/p99, /metrics time and size, RSS and CPU over a measurement window; then a bounded
// soak at 500 probes reporting RSS growth and lag growth.
//   node --import tsx bench/scale.ts      BENCH_SOAK_SECONDS (default 180; 600 for the 10-minute soak),
//   BENCH_SCALE_SIZES (default "500,2000"), BENCH_WINDOW_SECONDS (default 30)
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bucketDelta,
  buckets,
  cpuSeconds,
  runqueueWaitSeconds,
  emit,
  fmt,
  histogramQuantile,
  median,
  parseExposition,
  rssTree,
  sleep,
  spread,
  sumOf,
  table,
} from './lib/common.ts';
import { MIX, runsPerSecond, startWorld, writeMixedConfig } from './lib/mixed.ts';
import { startAgent } from './lib/world.ts';

const SIZES = (process.env.BENCH_SCALE_SIZES ?? '500,2000').split(',').map(Number);
const SOAK_SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 180);
const SOAK_SIZE = 500;
// A multiple of every interval in the mix (5 s and 10 s).
const WINDOW_SECONDS = Number(process.env.BENCH_WINDOW_SECONDS ?? 30);
const WARMUP_SECONDS = 20;
const started = Date.now();
const LAG = 'hookwatch_scheduler_lag_seconds';

async function scrape(url: string) {
  const t = performance.now();
  const text = await (await fetch(`${url}/metrics`)).text();
  return { ms: performance.now() - t, bytes: Buffer.byteLength(text), exp: parseExposition(text) };
}

const world = await startWorld();
const dir = mkdtempSync(join(tmpdir(), 'hw-bench-scale-'));
const results: Array<Record<string, unknown>> = [];
let soak: Record<string, unknown> | undefined;
try {
  for (const n of SIZES) {
    const cfg = join(dir, `mixed-${n}.yaml`);
    const counts = writeMixedConfig(cfg, world, n);
    const agent = await startAgent(cfg, { env: world.env, timeoutMs: 60_000 });
    const pid = agent.child.pid!;
    try {
      await sleep(WARMUP_SECONDS * 1000);
      const s0 = await scrape(agent.url);
      const c0 = cpuSeconds(pid);
      const own0 = process.cpuUsage();
      const q0 = runqueueWaitSeconds(pid);
      const t0 = Date.now();
      const scrapes: number[] = [];
      let bytes = 0;
      // The window is a whole number of every interval: probes started together stay in phase, so a
      // window cut anywhere else would count one extra run per probe.
      while (Date.now() - t0 < WINDOW_SECONDS * 1000 - 2500) {
        await sleep(1500);
        const s = await scrape(agent.url);
        scrapes.push(s.ms);
        bytes = s.bytes;
      }
      await sleep(t0 + WINDOW_SECONDS * 1000 - Date.now());
      const wall = (Date.now() - t0) / 1000;
      const s1 = await scrape(agent.url);
      const cpu = cpuSeconds(pid) - c0;
      const own = process.cpuUsage(own0);
      const waited = runqueueWaitSeconds(pid) - q0;
      const lag = bucketDelta(buckets(s1.exp, LAG), buckets(s0.exp, LAG));
      const runs = sumOf(s1.exp, 'hookwatch_probe_runs_total') - sumOf(s0.exp, 'hookwatch_probe_runs_total');
      const ok = sumOf(s1.exp, 'hookwatch_probe_runs_total', 'result="success"') - sumOf(s0.exp, 'hookwatch_probe_runs_total', 'result="success"');
      const status = (await (await fetch(`${agent.url}/status`)).json()) as {
        probes: Array<{ skippedRuns: number; ok: boolean | null; type: string; reason: string | null }>;
      };
      const failing = status.probes.filter((p) => p.ok === false);
      const r = {
        probes: n,
        counts,
        wall,
        runs,
        expectedRunsPerSecond: runsPerSecond(n),
        runsPerSecond: runs / wall,
        successShare: ok / runs,
        lagP50ms: histogramQuantile(lag, 0.5) * 1000,
        lagP99ms: histogramQuantile(lag, 0.99) * 1000,
        lagMeanMs: ((sumOf(s1.exp, `${LAG}_sum`) - sumOf(s0.exp, `${LAG}_sum`)) / (sumOf(s1.exp, `${LAG}_count`) - sumOf(s0.exp, `${LAG}_count`))) * 1000,
        skipped: status.probes.reduce((a, p) => a + p.skippedRuns, 0),
        failingProbes: failing.length,
        failingExample: failing[0] ? `${failing[0].type}: ${failing[0].reason}` : null,
        scrapeMs: spread(scrapes),
        metricsKiB: bytes / 1024,
        rss: rssTree(pid),
        cpuCores: cpu / wall,
        worldCpuCores: (own.user + own.system) / 1e6 / wall,
        load: loadavg()[0],
        runqueueMsPerSecond: (waited * 1000) / wall,
        heapUsedMiB: (s1.exp.get('nodejs_heap_size_used_bytes') ?? NaN) / 2 ** 20,
        cpuMsPer1000Runs: (cpu * 1e6) / runs,
      };
      results.push(r);
      console.log(JSON.stringify(r));

      if (n === SOAK_SIZE && SOAK_SECONDS > 0) {
        const samples: Array<{ t: number; rss: number; heap: number; lag: Array<[number, number]>; runs: number }> = [];
        const ts = Date.now();
        while (Date.now() - ts < SOAK_SECONDS * 1000) {
          const s = await scrape(agent.url);
          samples.push({
            t: (Date.now() - ts) / 1000,
            rss: rssTree(pid).self,
            heap: (s.exp.get('nodejs_heap_size_used_bytes') ?? NaN) / 2 ** 20,
            lag: buckets(s.exp, LAG),
            runs: sumOf(s.exp, 'hookwatch_probe_runs_total'),
          });
          await sleep(10_000);
        }
        const last = await scrape(agent.url);
        samples.push({
          t: (Date.now() - ts) / 1000,
          rss: rssTree(pid).self,
          heap: (last.exp.get('nodejs_heap_size_used_bytes') ?? NaN) / 2 ** 20,
          lag: buckets(last.exp, LAG),
          runs: sumOf(last.exp, 'hookwatch_probe_runs_total'),
        });
        const third = Math.max(1, Math.floor(samples.length / 3));
        const early = bucketDelta(samples[third]!.lag, samples[0]!.lag);
        const late = bucketDelta(samples.at(-1)!.lag, samples.at(-1 - third)!.lag);
        // RSS saws up and down with garbage collection: compare the median of the first and last thirds.
        const rssEarly = median(samples.slice(0, third).map((x) => x.rss));
        const rssLate = median(samples.slice(-third).map((x) => x.rss));
        soak = {
          probes: n,
          seconds: SOAK_SECONDS,
          rssEarly,
          rssLate,
          rssMin: Math.min(...samples.map((x) => x.rss)),
          rssMax: Math.max(...samples.map((x) => x.rss)),
          growthPct: ((rssLate - rssEarly) / rssEarly) * 100,
          // The lowest heap in use in a third is what survived garbage collection: its trend shows a leak.
          heapFloorEarly: Math.min(...samples.slice(0, third).map((x) => x.heap)),
          heapFloorLate: Math.min(...samples.slice(-third).map((x) => x.heap)),
          lagP99EarlyMs: histogramQuantile(early, 0.99) * 1000,
          lagP99LateMs: histogramQuantile(late, 0.99) * 1000,
          lagP50EarlyMs: histogramQuantile(early, 0.5) * 1000,
          lagP50LateMs: histogramQuantile(late, 0.5) * 1000,
          runs: samples.at(-1)!.runs - samples[0]!.runs,
          rssSeries: samples.map((s) => [Math.round(s.t), Number(s.rss.toFixed(1)), Number(s.heap.toFixed(1))]),
        };
        console.log(JSON.stringify(soak));
      }
    } finally {
      await agent.stop();
    }
  }
} finally {
  await world.stop();
  rmSync(dir, { recursive: true, force: true });
}

const mix = MIX.map((m) => `${Math.round(m.share * 100)}% ${m.type} every ${m.interval}`).join(', ');
const f = (x: unknown, d = 1) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const rows = results.map((r) => {
  const rss = r.rss as { self: number; children: number };
  return [
    String(r.probes),
    `${f(r.runsPerSecond)} (${f(r.expectedRunsPerSecond)} due)`,
    `${f((r.successShare as number) * 100)}%`,
    f(r.lagP50ms, 2),
    f(r.lagP99ms, 1),
    String(r.skipped),
    fmt(r.scrapeMs as ReturnType<typeof spread>, 1),
    f(r.metricsKiB, 0),
    `${f(rss.self)}${rss.children ? ` (+${f(rss.children)} children)` : ''}`,
    f(r.heapUsedMiB),
    f(r.cpuCores, 2),
    f(r.cpuMsPer1000Runs, 0),
    `${f(r.load)} / ${f(r.worldCpuCores, 2)} / ${f(r.runqueueMsPerSecond, 0)}`,
  ];
});
const lines = [
  `Mix: ${mix}; timeout 4 s; BTCPay probes over a 1-minute window. Targets: an HTTP server (own process), the DNS lab (nsd + unbound), a fake BTCPay`,
  'settling one invoice per second and a receiver (both in the benchmark process). The agent is `bin/hookwatch.js run` with the node flags of the launcher, as an installed `hookwatch` runs.',
  `Each size: ${WARMUP_SECONDS} s warm-up, then a ${WINDOW_SECONDS} s window; /metrics scraped every 1.5 s in the window (median (min–max)).`,
  'Lag quantiles come from the `hookwatch_scheduler_lag_seconds` histogram over the window (interpolated within buckets 1, 5, 10, 50, 100, 500 ms).',
  '',
  table(
    [
      'probes',
      'runs/s',
      'runs passed',
      'lag p50 ms',
      'lag p99 ms',
      'skipped ticks',
      '/metrics ms',
      '/metrics KiB',
      'RSS MiB',
      'heap used MiB',
      'CPU cores',
      'CPU ms / 1000 runs',
      'load / world cores / waited ms/s',
    ],
    rows,
  ),
  '',
  "Last column: the machine's 1-minute load average at the end of the window; the CPU the simulated world (fake BTCPay,",
  "receiver, benchmark) used meanwhile; and how many ms per second the agent's main thread was runnable but waiting for a",
  'core (/proc/PID/schedstat). With a load above the core count the agent waits for a core: lag and /metrics times then',
  'measure the machine as much as the agent; CPU per 1000 runs and RSS do not.',
];
for (const r of results) if (r.failingExample) lines.push('', `${r.probes} probes: ${r.failingProbes} failing at the end, e.g. ${r.failingExample}`);
if (soak) {
  lines.push(
    '',
    `**Soak**: ${soak.probes} probes for ${soak.seconds} s after the window above (${soak.runs} runs). RSS, median of the first third of the`,
    `samples → last third: ${f(soak.rssEarly)} → ${f(soak.rssLate)} MiB (${f(soak.growthPct)}%; it saws between ${f(soak.rssMin)} and ${f(soak.rssMax)} MiB with garbage collection).`,
    `Scheduler lag p50 ${f(soak.lagP50EarlyMs, 2)} → ${f(soak.lagP50LateMs, 2)} ms, p99 ${f(soak.lagP99EarlyMs, 1)} → ${f(soak.lagP99LateMs, 1)} ms (first third vs last third).`,
    `Lowest V8 heap in use (what survives garbage collection), first third → last third: ${f(soak.heapFloorEarly)} → ${f(soak.heapFloorLate)} MiB.`,
    `Every 10 s (s:RSS MiB/heap used MiB): ${(soak.rssSeries as number[][]).map(([t, v, h]) => `${t}:${v}/${h}`).join(' ')}.`,
    'The 10-minute soak of the issue: `BENCH_SOAK_SECONDS=600 BENCH_SCALE_SIZES=500 npm run bench -- scale`.',
  );
}
emit({
  name: 'scale',
  order: 30,
  title: 'Scale: 500 and 2000 mixed probes, and a soak',
  markdown: lines.join('\n'),
  data: { results, soak },
  seconds: (Date.now() - started) / 1000,
});
