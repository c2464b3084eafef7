// 500 `http` probes (1 s interval) against a local server: median /metrics scrape time, scheduler
// lag and the agent's RSS, with the agent as a separate process as in production. (The figure issue 14
// started from; bench/scale.ts measures mixed probes.)
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent } from './lib/world.ts';
import { emit } from './lib/common.ts';

const PROBES = Number(process.env.BENCH_PROBES ?? 500);
const SCRAPES = 40;
const started = Date.now();

const server = createServer((_req, res) => res.end('ok'));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as { port: number }).port;
const dir = mkdtempSync(join(tmpdir(), 'hw-bench-'));
const cfg = join(dir, 'probes.yaml');
let yaml = 'global:\n  interval: 1s\n  timeout: 900ms\nprobes:\n';
for (let i = 0; i < PROBES; i++) yaml += `  - name: p${i}\n    type: http\n    url: http://127.0.0.1:${port}/${i}\n`;
writeFileSync(cfg, yaml);

const agent = await startAgent(cfg);
await new Promise((r) => setTimeout(r, 6000)); // warm up: every probe has run several times
const times: number[] = [];
let bytes = 0;
for (let i = 0; i < SCRAPES; i++) {
  const t0 = performance.now();
  const text = await (await fetch(`${agent.url}/metrics`)).text();
  times.push(performance.now() - t0);
  bytes = text.length;
  await new Promise((r) => setTimeout(r, 100));
}
const text = await (await fetch(`${agent.url}/metrics`)).text();
const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
const lagCount = num(/^hookwatch_scheduler_lag_seconds_count (\S+)/m);
const lagSum = num(/^hookwatch_scheduler_lag_seconds_sum (\S+)/m);
const under10ms = num(/^hookwatch_scheduler_lag_seconds_bucket\{le="0.01"\} (\S+)/m);
const rss = num(/^process_resident_memory_bytes (\S+)/m);
const runs = [...text.matchAll(/^hookwatch_probe_runs_total\{[^}]*result="success"\} (\S+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)]!;
const p90 = times[Math.floor(times.length * 0.9)]!;
await agent.stop();
server.close();
console.log(`probes: ${PROBES} http probes at 1 s interval`);
console.log(`/metrics scrape: median ${median.toFixed(1)} ms, p90 ${p90.toFixed(1)} ms, ${(bytes / 1024).toFixed(0)} KiB`);
console.log(
  `scheduler lag: mean ${((lagSum / lagCount) * 1000).toFixed(2)} ms over ${lagCount} runs, ${((under10ms / lagCount) * 100).toFixed(1)}% under 10 ms`,
);
console.log(`successful runs: ${runs}; agent RSS: ${(rss / 1048576).toFixed(1)} MiB`);
console.log(
  JSON.stringify({
    bench: 'agent-scrape',
    probes: PROBES,
    scrape_median_ms: median,
    scrape_p90_ms: p90,
    lag_mean_ms: (lagSum / lagCount) * 1000,
    rss_mib: rss / 1048576,
  }),
);
emit({
  name: 'agent-scrape',
  order: 35,
  title: `${PROBES} http probes at a 1 s interval`,
  markdown: [
    `One agent, ${PROBES} \`http\` probes every 1 s against one local server, 6 s warm-up, ${SCRAPES} scrapes 100 ms apart.`,
    '',
    `- /metrics: median ${median.toFixed(1)} ms, p90 ${p90.toFixed(1)} ms, ${(bytes / 1024).toFixed(0)} KiB`,
    `- scheduler lag: mean ${((lagSum / lagCount) * 1000).toFixed(2)} ms over ${lagCount} runs, ${((under10ms / lagCount) * 100).toFixed(1)}% under 10 ms`,
    `- successful runs: ${runs}; agent RSS (process_resident_memory_bytes): ${(rss / 1048576).toFixed(1)} MiB`,
  ].join('\n'),
  data: { probes: PROBES, scrape_median_ms: median, scrape_p90_ms: p90, lag_mean_ms: (lagSum / lagCount) * 1000, rss_mib: rss / 1048576 },
  seconds: (Date.now() - started) / 1000,
});
