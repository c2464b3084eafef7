// Where the agent's memory goes: `hookwatch run` with N probes of one kind at a time (same targets and
// intervals as the scale mix), RSS and V8 heap after a fixed time. Opt-in (about 4 minutes):
//   npm run bench -- memory      (BENCH_MEMORY_SECONDS per kind, default 35)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emit, parseExposition, rssTree, sleep, table } from './lib/common.ts';
import { MIX, startWorld, writeMixedConfig } from './lib/mixed.ts';
import { startAgent } from './lib/world.ts';

const SECONDS = Number(process.env.BENCH_MEMORY_SECONDS ?? 35);
const CASES: Array<[string, number]> = [
  ['http', 1],
  ['http', 500],
  ['dns_drift', 500],
  ['synthetic', 200],
  ['delivery_rate', 100],
  ['paid_latency', 100],
];
const started = Date.now();
const world = await startWorld();
const dir = mkdtempSync(join(tmpdir(), 'hw-bench-mem-'));
const all = [...MIX];
const rows: Array<Array<string>> = [];
const data: Array<Record<string, unknown>> = [];
let idleHeap = NaN;
try {
  for (const [type, n] of CASES) {
    MIX.splice(0, MIX.length, ...all.filter((m) => m.type === type).map((m) => ({ ...m, share: 1 })));
    const cfg = join(dir, `${type}-${n}.yaml`);
    writeMixedConfig(cfg, world, n);
    const a = await startAgent(cfg, { env: world.env, timeoutMs: 60_000 });
    try {
      await sleep(SECONDS * 1000);
      const e = parseExposition(await (await fetch(`${a.url}/metrics`)).text());
      const mib = (k: string) => (e.get(k) ?? NaN) / 2 ** 20;
      const r = {
        type,
        probes: n,
        rss: rssTree(a.child.pid!).self,
        heapUsed: mib('nodejs_heap_size_used_bytes'),
        heapTotal: mib('nodejs_heap_size_total_bytes'),
      };
      if (n === 1) idleHeap = r.heapUsed;
      data.push(r);
      rows.push([type, String(n), r.rss.toFixed(1), r.heapUsed.toFixed(1), r.heapTotal.toFixed(1), n > 1 ? ((r.heapUsed - idleHeap) / n).toFixed(3) : '—']);
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
    `One kind at a time, read ${SECONDS} s after start (same targets and intervals as the scale mix; the fake BTCPay has been`,
    'settling one invoice per second since the benchmark started, so its store holds a few hundred invoices and deliveries).',
    '',
    table(['kind', 'probes', 'RSS MiB', 'heap used MiB', 'heap total MiB', 'heap MiB per probe (over 1 probe)'], rows),
  ].join('\n'),
  data: { cases: data },
  seconds: (Date.now() - started) / 1000,
});
