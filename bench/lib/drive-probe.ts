// Runs one probe kind's run() back to back in its own process, the call the scheduler makes, so its
// CPU and memory are the probe's alone (no target server, no benchmark driver in the same process).
//   node --import tsx bench/lib/drive-probe.ts '{"type":"http","probe":{...},"runs":300,"rounds":5}'
// Prints one JSON line: per-round median wall time (ms), CPU ms per 1000 runs, final RSS (MiB), verdict.
import { Writable } from 'node:stream';
import { PROBE_KINDS } from '../../probes/registry.ts';
import { createLogger } from '../../src/log.ts';
import { MetricRegistry } from '../../src/metrics/registry.ts';
import { RunMetrics } from '../../src/metrics/run-metrics.ts';
import type { LoadedConfig, ProbeContext } from '../../src/probe/types.ts';
import { median } from './common.ts';

const job = JSON.parse(process.argv[2]!) as { type: string; probe: Record<string, unknown>; runs: number; rounds: number; warmup?: number };
const kind = PROBE_KINDS.find((k) => k.type === job.type);
if (!kind) throw new Error(`no kind ${job.type}`);
const probe = { name: 'bench', type: job.type, intervalMs: 60_000, timeoutMs: 5_000, thresholds: {}, ...kind.schema.parse(job.probe) };
const registry = new MetricRegistry({ processMetrics: false });
const config: LoadedConfig = {
  file: 'bench.yaml',
  global: { intervalMs: 60_000, timeoutMs: 5_000, resolver: 'system' },
  sources: {},
  probes: [probe],
  secrets: [],
  destinations: { probes: [], targets: [] },
};
const ctx: ProbeContext = {
  signal: new AbortController().signal,
  // The agent's default level: debug lines are built but dropped, as in production.
  log: createLogger({ level: 'info', destination: new Writable({ write: (_c, _e, cb) => cb() }) }).child({ probe: 'bench' }),
  metrics: RunMetrics.standalone(registry, 'bench'),
  now: Date.now,
  state: new Map(),
  config,
  source: () => {
    throw new Error('no sources in this benchmark');
  },
};

let verdict = '';
const once = async () => {
  const r = await kind.run(probe, ctx);
  verdict = r.ok ? 'ok' : `fail: ${r.reason}`;
};
for (let i = 0; i < (job.warmup ?? 30); i++) await once();
const roundMedians: number[] = [];
const cpuPer1000: number[] = [];
for (let r = 0; r < job.rounds; r++) {
  const times: number[] = [];
  const c0 = process.cpuUsage();
  for (let i = 0; i < job.runs; i++) {
    const t = performance.now();
    await once();
    times.push(performance.now() - t);
  }
  const c = process.cpuUsage(c0);
  roundMedians.push(median(times));
  cpuPer1000.push(((c.user + c.system) / 1000 / job.runs) * 1000);
}
console.log(JSON.stringify({ roundMedians, cpuPer1000, rssMiB: process.memoryUsage().rss / 2 ** 20, verdict }));
