// Where the agent's memory goes: `hookwatch run` with N probes of one kind at a time (same targets and
// intervals as the scale mix), RSS, CPU and V8 heap; and 500 http and the scale mix with and without the launcher's node flags. Opt-in (about 8 minutes):
//   npm run bench -- memory      (BENCH_MEMORY_SECONDS per case, default 40)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cpuSeconds,
  emit,
  LAUNCHER_ENV_TEXT,
  LAUNCHER_HEAP_FLAGS,
  LAUNCHER_NODE_FLAGS,
  WITHOUT_LAUNCHER_ENV,
  median,
  parseExposition,
  rssTree,
  sleep,
  table,
} from './lib/common.ts';
import { MIX, startWorld, writeMixedConfig } from './lib/mixed.ts';
import { startAgent } from './lib/world.ts';

const SECONDS = Number(process.env.BENCH_MEMORY_SECONDS ?? 40);
// [kind, probes, node flags (default: the launcher's), environment on top of the launcher's]
const CASES: Array<[string, number, string[]?, NodeJS.ProcessEnv?]> = [
  ['http', 1],
  ['http', 500],
  ['dns_drift', 500],
  ['synthetic', 200],
  ['delivery_rate', 100],
  ['paid_latency', 100],
  ['mixed', 500],
  // Without the launcher's environment (glibc's dynamic mmap threshold), without its node flags, and with its
  // heap flags only (optimising compilers on): what each buys.
  ['mixed', 500, undefined, WITHOUT_LAUNCHER_ENV],
  ['http', 500, []],
  ['mixed', 500, []],
  ['mixed', 500, LAUNCHER_HEAP_FLAGS],
];
const started = Date.now();
const world = await startWorld();
const dir = mkdtempSync(join(tmpdir(), 'hw-bench-mem-'));
const all = [...MIX];
const rows: Array<Array<string>> = [];
const data: Array<Record<string, unknown>> = [];
let idleHeap = NaN;
try {
  for (const [type, n, nodeFlags, env] of CASES) {
    MIX.splice(0, MIX.length, ...(type === 'mixed' ? all : all.filter((m) => m.type === type).map((m) => ({ ...m, share: 1 }))));
    const cfg = join(dir, `${type}-${n}.yaml`);
    writeMixedConfig(cfg, world, n);
    const a = await startAgent(cfg, { env: { ...world.env, ...env }, timeoutMs: 60_000, ...(nodeFlags ? { nodeFlags } : {}) });
    const flags = (nodeFlags ?? LAUNCHER_NODE_FLAGS).join(' ') || 'none (V8 defaults)';
    const settings = env ? `${flags}; without ${Object.keys(env).join(', ')} (glibc default)` : flags;
    try {
      // Warm-up for the first half; then RSS once a second (it saws with garbage collection: median and max).
      await sleep((SECONDS * 1000) / 2);
      const cpu0 = cpuSeconds(a.child.pid!);
      const t0 = Date.now();
      const samples: number[] = [];
      for (let i = 0; i < SECONDS / 2; i++) {
        await sleep(1000);
        samples.push(rssTree(a.child.pid!).self);
      }
      const cores = (cpuSeconds(a.child.pid!) - cpu0) / ((Date.now() - t0) / 1000);
      const e = parseExposition(await (await fetch(`${a.url}/metrics`)).text());
      const mib = (k: string) => (e.get(k) ?? NaN) / 2 ** 20;
      const r = {
        type,
        probes: n,
        nodeFlags: settings,
        rss: median(samples),
        rssMax: Math.max(...samples),
        cpuCores: cores,
        heapUsed: mib('nodejs_heap_size_used_bytes'),
        heapTotal: mib('nodejs_heap_size_total_bytes'),
      };
      if (n === 1) idleHeap = r.heapUsed;
      data.push(r);
      rows.push([
        type === 'mixed' ? 'mixed (scale mix)' : type,
        String(n),
        settings,
        r.rss.toFixed(1),
        r.rssMax.toFixed(1),
        r.cpuCores.toFixed(3),
        r.heapUsed.toFixed(1),
        r.heapTotal.toFixed(1),
        n > 1 && type !== 'mixed' ? ((r.heapUsed - idleHeap) / n).toFixed(3) : '—',
      ]);
      console.log(JSON.stringify(r));
    } finally {
      await a.stop();
    }
  }
} finally {
  MIX.splice(0, MIX.length, ...all);
  await world.stop();
  rmSync(dir, { recursive: true, force: true });
}
emit({
  name: 'memory',
  order: 45,
  title: 'Memory by probe kind',
  markdown: [
    `One kind at a time (and the scale mix), each agent run for ${SECONDS} s: RSS sampled once a second over the second half`,
    '(median and max; it saws with garbage collection), CPU over the same half, heap read at the end. Same targets and',
    'intervals as the scale mix; the fake BTCPay has been settling one invoice per second since the benchmark started, so its',
    "store holds a few hundred invoices and deliveries. Every agent gets the launcher's environment",
    `(${LAUNCHER_ENV_TEXT}) unless its row says otherwise. The last four rows run without that`,
    "environment, without the launcher's node flags, then with its heap flags only (V8's optimising compilers on): what each",
    'saves, and what it costs in CPU.',
    '',
    table(
      [
        'kind',
        'probes',
        'node flags',
        'RSS MiB (median)',
        'RSS MiB (max)',
        'CPU cores',
        'heap used MiB',
        'heap total MiB',
        'heap MiB per probe (over 1 probe)',
      ],
      rows,
    ),
  ].join('\n'),
  data: { cases: data },
  seconds: (Date.now() - started) / 1000,
});
