// HTTP and DNS probe cost, hookwatch side by side with prometheus-blackbox-exporter on identical loopback
// targets, in one run:
// 1. sequential runs, repeated in rounds: median wall time per probe run, CPU time per 1000 runs, RSS.
//    hookwatch: the probe kind's run() in a process of its own (bench/lib/drive-probe.ts), i.e. the probe
//    alone; blackbox_exporter: GET /probe, CPU and RSS of its process (the probe plus serving /probe).
// 2. agent mode (HTTP): `hookwatch run` with P probes at a short interval vs blackbox_exporter asked for
//    the same probes at the same rate, as Prometheus would: CPU per 1000 runs and RSS of each process.
// Targets: an HTTP server in its own process; DNS: the lab's misconfigured unbound (and nsd behind it).
//   node --import tsx bench/probe-cost.ts     (BENCH_PROBE_RUNS, BENCH_PROBE_ROUNDS to change the sizes)
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  BENCH_DIR,
  cpuSeconds,
  emit,
  fmt,
  LAUNCHER_NODE_FLAGS,
  median,
  parseExposition,
  ratio,
  rssMiB,
  rssTree,
  sleep,
  spawnHelper,
  spread,
  sumOf,
  table,
  version,
  within,
} from './lib/common.ts';
import { findBinary, freePort, startAgent, startDnsLab } from './lib/world.ts';

const RUNS = Number(process.env.BENCH_PROBE_RUNS ?? 200);
const ROUNDS = Number(process.env.BENCH_PROBE_ROUNDS ?? 5);
const AGENT_PROBES = 20;
const AGENT_INTERVAL_MS = 200;
const AGENT_SECONDS = 20;
const started = Date.now();
const dir = mkdtempSync(join(tmpdir(), 'hw-bench-cost-'));

// The HTTP target, in its own process so its CPU counts for neither tool.
const target = spawn(
  process.execPath,
  ['-e', "require('http').createServer((q,s)=>s.end('ok')).listen(0,'127.0.0.1',function(){console.log(this.address().port)})"],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const targetPort = await within(10_000, new Promise<number>((r) => createInterface({ input: target.stdout }).once('line', (l) => r(Number(l)))), 'http target');
const httpUrl = `http://127.0.0.1:${targetPort}/`;
const lab = await startDnsLab();

const bbExe = findBinary('prometheus-blackbox-exporter') ?? findBinary('blackbox_exporter');
let bb: ReturnType<typeof spawnHelper> | undefined;
let bbUrl = '';
try {
  if (bbExe) {
    const cfg = join(dir, 'blackbox.yml');
    writeFileSync(
      cfg,
      [
        'modules:',
        '  http_2xx:',
        '    prober: http',
        '    timeout: 5s',
        '    http: { preferred_ip_protocol: ip4, ip_protocol_fallback: false }',
        '  dns_a:',
        '    prober: dns',
        '    timeout: 5s',
        '    dns:',
        `      query_name: ${lab.hooksHost}`,
        '      query_type: A',
        '      transport_protocol: udp',
        '      preferred_ip_protocol: ip4',
        '      ip_protocol_fallback: false',
        '',
      ].join('\n'),
    );
    const port = await freePort();
    bb = spawnHelper(bbExe, [`--config.file=${cfg}`, `--web.listen-address=127.0.0.1:${port}`]);
    bbUrl = `http://127.0.0.1:${port}`;
    for (
      let i = 0;
      i < 100 &&
      !(await fetch(`${bbUrl}/-/healthy`).then(
        (r) => r.ok,
        () => false,
      ));
      i++
    )
      await sleep(100);
  }

  /** blackbox_exporter, sequential /probe requests in rounds. */
  const runBlackbox = async (module: string, target: string) => {
    const url = `${bbUrl}/probe?module=${module}&target=${encodeURIComponent(target)}`;
    const pid = bb!.child.pid!;
    for (let i = 0; i < 30; i++) await (await fetch(url)).text();
    const e2e: number[] = [];
    const inner: number[] = [];
    const cpu: number[] = [];
    let success = '';
    for (let r = 0; r < ROUNDS; r++) {
      const a: number[] = [];
      const b: number[] = [];
      const c0 = cpuSeconds(pid);
      for (let i = 0; i < RUNS; i++) {
        const t = performance.now();
        const body = await (await fetch(url)).text();
        a.push(performance.now() - t);
        b.push(Number(/^probe_duration_seconds (\S+)/m.exec(body)?.[1] ?? NaN) * 1000);
        success = /^probe_success (\S+)/m.exec(body)?.[1] ?? '?';
      }
      cpu.push(((cpuSeconds(pid) - c0) * 1000 * 1000) / RUNS);
      e2e.push(median(a));
      inner.push(median(b));
    }
    return { e2e: spread(e2e), inner: spread(inner), cpu: spread(cpu), rss: rssMiB(pid), success };
  };

  /** hookwatch: the probe kind in a process of its own. */
  const runOurs = async (type: string, probe: Record<string, unknown>) => {
    const out = execFileSync(
      process.execPath,
      [...LAUNCHER_NODE_FLAGS, '--import', 'tsx', join(BENCH_DIR, 'lib', 'drive-probe.ts'), JSON.stringify({ type, probe, runs: RUNS, rounds: ROUNDS })],
      {
        encoding: 'utf8',
        timeout: 10 * 60_000,
      },
    );
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as { roundMedians: number[]; cpuPer1000: number[]; rssMiB: number; verdict: string };
    return { wall: spread(r.roundMedians), cpu: spread(r.cpuPer1000), rss: r.rssMiB, verdict: r.verdict };
  };

  const httpOurs = await runOurs('http', { url: httpUrl });
  const dnsOurs = await runOurs('dns_drift', { hosts: [lab.hooksHost], resolver: lab.badResolver, authoritative: [lab.authoritative], recordTypes: ['A'] });
  const dnsOursAAAA = await runOurs('dns_drift', {
    hosts: [lab.hooksHost],
    resolver: lab.badResolver,
    authoritative: [lab.authoritative],
    recordTypes: ['A', 'AAAA'],
  });
  const httpBb = bb ? await runBlackbox('http_2xx', httpUrl) : undefined;
  const dnsBb = bb ? await runBlackbox('dns_a', lab.badResolver) : undefined;

  // Agent mode: AGENT_PROBES http probes every AGENT_INTERVAL_MS, for AGENT_SECONDS, in both tools.
  const cfg = join(dir, 'agent.yaml');
  writeFileSync(
    cfg,
    `global:\n  interval: ${AGENT_INTERVAL_MS}ms\n  timeout: 150ms\nprobes:\n${Array.from({ length: AGENT_PROBES }, (_, i) => `  - name: h${i}\n    type: http\n    url: ${httpUrl}${i}\n`).join('')}`,
  );
  const agent = await startAgent(cfg);
  const apid = agent.child.pid!;
  await sleep(5000);
  const runsNow = async () => sumOf(parseExposition(await (await fetch(`${agent.url}/metrics`)).text()), 'hookwatch_probe_runs_total');
  const a0 = { cpu: cpuSeconds(apid), runs: await runsNow() };
  await sleep(AGENT_SECONDS * 1000);
  const a1 = { cpu: cpuSeconds(apid), runs: await runsNow() };
  const agentMode = { cpuPer1000: ((a1.cpu - a0.cpu) * 1e6) / (a1.runs - a0.runs), runs: a1.runs - a0.runs, rss: rssTree(apid) };
  await agent.stop();
  let bbAgent: { cpuPer1000: number; runs: number; rss: number } | undefined;
  if (bb) {
    const pid = bb.child.pid!;
    const c0 = cpuSeconds(pid);
    let runs = 0;
    const end = Date.now() + AGENT_SECONDS * 1000;
    await Promise.all(
      Array.from({ length: AGENT_PROBES }, async (_, i) => {
        for (let next = Date.now(); next < end; next += AGENT_INTERVAL_MS) {
          await sleep(Math.max(0, next - Date.now()));
          await (await fetch(`${bbUrl}/probe?module=http_2xx&target=${encodeURIComponent(`${httpUrl}${i}`)}`)).text();
          runs++;
        }
      }),
    );
    bbAgent = { cpuPer1000: ((cpuSeconds(pid) - c0) * 1e6) / runs, runs, rss: rssMiB(pid) };
  }

  const bbVersion = bbExe ? version(bbExe) : 'not installed';
  const rows: Array<Array<string | number>> = [
    [
      'HTTP GET, median wall ms per run',
      fmt(httpOurs.wall, 3),
      httpBb ? `${fmt(httpBb.inner, 3)} (probe_duration) / ${fmt(httpBb.e2e, 3)} (via /probe)` : 'n/a',
      httpBb ? `${ratio(httpOurs.wall.median, httpBb.inner.median)} / ${ratio(httpOurs.wall.median, httpBb.e2e.median)}` : 'n/a',
    ],
    [
      'HTTP GET, CPU ms per 1000 runs',
      fmt(httpOurs.cpu, 0),
      httpBb ? fmt(httpBb.cpu, 0) : 'n/a',
      httpBb ? ratio(httpOurs.cpu.median, httpBb.cpu.median) : 'n/a',
    ],
    ['HTTP GET, RSS MiB after the runs', httpOurs.rss.toFixed(1), httpBb ? httpBb.rss.toFixed(1) : 'n/a', httpBb ? ratio(httpOurs.rss, httpBb.rss) : 'n/a'],
    [
      'DNS A, median wall ms per run',
      fmt(dnsOurs.wall, 3),
      dnsBb ? `${fmt(dnsBb.inner, 3)} (probe_duration) / ${fmt(dnsBb.e2e, 3)} (via /probe)` : 'n/a',
      dnsBb ? `${ratio(dnsOurs.wall.median, dnsBb.inner.median)} / ${ratio(dnsOurs.wall.median, dnsBb.e2e.median)}` : 'n/a',
    ],
    ['DNS A, CPU ms per 1000 runs', fmt(dnsOurs.cpu, 0), dnsBb ? fmt(dnsBb.cpu, 0) : 'n/a', dnsBb ? ratio(dnsOurs.cpu.median, dnsBb.cpu.median) : 'n/a'],
    ['DNS A, RSS MiB after the runs', dnsOurs.rss.toFixed(1), dnsBb ? dnsBb.rss.toFixed(1) : 'n/a', dnsBb ? ratio(dnsOurs.rss, dnsBb.rss) : 'n/a'],
    ['DNS A+AAAA (dns_drift default), median wall ms', fmt(dnsOursAAAA.wall, 3), '—', '—'],
    [
      `HTTP agent mode (${AGENT_PROBES} probes every ${AGENT_INTERVAL_MS} ms, ${AGENT_SECONDS} s), CPU ms per 1000 runs`,
      agentMode.cpuPer1000.toFixed(0),
      bbAgent ? bbAgent.cpuPer1000.toFixed(0) : 'n/a',
      bbAgent ? ratio(agentMode.cpuPer1000, bbAgent.cpuPer1000) : 'n/a',
    ],
    [
      'HTTP agent mode, RSS MiB at the end',
      `${agentMode.rss.self.toFixed(1)} (+${agentMode.rss.children.toFixed(1)} esbuild service of tsx)`,
      bbAgent ? bbAgent.rss.toFixed(1) : 'n/a',
      bbAgent ? ratio(agentMode.rss.self, bbAgent.rss) : 'n/a',
    ],
  ];
  const markdown = [
    `${RUNS} sequential runs per round, ${ROUNDS} rounds: each figure is the median over rounds (min–max of the round values in brackets).`,
    `blackbox_exporter ${bbVersion}. Targets on loopback: an HTTP server in its own process; DNS: \`${lab.hooksHost}\` A at the lab's unbound.`,
    '',
    table(['measure', 'hookwatch', 'blackbox_exporter', 'ratio hookwatch / blackbox'], rows),
    '',
    'How to read it:',
    '- hookwatch sequential rows run the probe kind alone in its own process (what the scheduler calls);',
    "  blackbox_exporter's CPU and RSS include serving each `/probe` request and its exposition. Its wall time is",
    '  given both as its own `probe_duration_seconds` (probe only) and end to end through `/probe`.',
    '- `dns_drift` asks the resolver *and* the authoritative servers (2 queries per record type) and compares the',
    '  answers; blackbox_exporter asks the resolver once and cannot see a drift or an inflated TTL.',
    '- The http kind reuses a keep-alive connection (undici pool); blackbox_exporter opens one per probe.',
    '- Agent mode is the production shape for both: the whole `hookwatch run` process (scheduler, metrics,',
    '  logging) against blackbox_exporter serving the same probes at the same rate.',
    `- Verdicts: hookwatch http ${httpOurs.verdict}, dns_drift ${dnsOurs.verdict}; blackbox probe_success http ${httpBb?.success ?? 'n/a'}, dns ${dnsBb?.success ?? 'n/a'}.`,
    `- Agent mode: ${agentMode.runs} hookwatch runs, ${bbAgent?.runs ?? 0} blackbox runs in ${AGENT_SECONDS} s.`,
  ].join('\n');
  emit({
    name: 'probe-cost',
    order: 10,
    title: 'Probe cost: hookwatch vs prometheus-blackbox-exporter (HTTP and DNS)',
    markdown,
    data: { runs: RUNS, rounds: ROUNDS, blackbox: bbVersion, httpOurs, httpBb, dnsOurs, dnsOursAAAA, dnsBb, agentMode, bbAgent },
    seconds: (Date.now() - started) / 1000,
  });
} finally {
  await bb?.stop();
  target.kill();
  await lab.stop();
  rmSync(dir, { recursive: true, force: true });
}
