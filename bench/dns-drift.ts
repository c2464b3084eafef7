// Benchmark: the dns_drift probe against the lab zone (real nsd + misconfigured unbound) side by side
// with prometheus-blackbox-exporter's dns prober on the same resolver, in one run. Reports median time
// per probe and DNS queries sent per probe (counted by UDP relays in front of the servers), and ratios.
// Loopback only, bounded: N probes per tool.   node --import tsx bench/dns-drift.ts [N]
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findBinary, freePort, makeTestContext, startDnsLab } from './lib/world.ts';
import { dnsDrift } from '../probes/dns-drift/index.ts';
import { emit } from './lib/common.ts';

const N = Math.min(2000, Math.max(10, Number(process.argv[2] ?? 300)));
const started = Date.now();
const lines: string[] = [];
const say = (l: string) => {
  lines.push(l);
  console.log(l);
};

/** A counting UDP relay: clients talk to it, it forwards to `target` and relays the answer back. */
async function relay(target: { host: string; port: number }) {
  const front = dgram.createSocket('udp4');
  const backs = new Map<string, dgram.Socket>();
  const r = { queries: 0, address: '', close: () => {} };
  front.on('message', (msg, rinfo) => {
    r.queries++;
    const key = `${rinfo.address}:${rinfo.port}`;
    let back = backs.get(key);
    if (!back) {
      back = dgram.createSocket('udp4');
      back.on('message', (ans) => front.send(ans, rinfo.port, rinfo.address));
      back.on('error', () => undefined);
      backs.set(key, back);
      // Client ports are single-use (random per query): forget the mapping soon.
      setTimeout(() => {
        back!.close();
        backs.delete(key);
      }, 5000).unref();
    }
    back.send(msg, target.port, target.host);
  });
  await new Promise<void>((res) => front.bind(0, '127.0.0.1', () => res()));
  r.address = `127.0.0.1:${front.address().port}`;
  r.close = () => {
    front.close();
    for (const b of backs.values()) b.close();
  };
  return r;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const hp = (s: string) => ({ host: s.split(':')[0]!, port: Number(s.split(':')[1]) });

const lab = await startDnsLab();
const resRelay = await relay(hp(lab.badResolver));
const authRelay = await relay(hp(lab.authoritative));
let bbx: ReturnType<typeof spawn> | undefined;
try {
  // 1. hookwatch dns_drift: resolver side + authoritative side, A and AAAA (the default), and A only.
  const runOurs = async (recordTypes: string[]) => {
    const conf = {
      name: 'bench',
      type: 'dns_drift',
      intervalMs: 60_000,
      timeoutMs: 5_000,
      thresholds: { grace_seconds: 60 },
      ...dnsDrift.schema.parse({ hosts: [lab.hooksHost], resolver: resRelay.address, authoritative: [authRelay.address], recordTypes }),
    };
    const ctx = makeTestContext({ probe: 'bench' });
    for (let i = 0; i < 20; i++) await dnsDrift.run(conf, ctx); // warm-up (caches, JIT)
    resRelay.queries = authRelay.queries = 0;
    const times: number[] = [];
    let verdict = '';
    for (let i = 0; i < N; i++) {
      const t = performance.now();
      const r = await dnsDrift.run(conf, ctx);
      times.push(performance.now() - t);
      verdict = JSON.stringify((r.details?.hosts as Record<string, { verdicts: string[] }>)[lab.hooksHost]?.verdicts);
    }
    return { medianMs: median(times), queriesPerProbe: (resRelay.queries + authRelay.queries) / N, verdict };
  };
  const oursAAAA = await runOurs(['A', 'AAAA']);
  const oursA = await runOurs(['A']);

  // 2. blackbox_exporter's dns prober against the same resolver (through the same relay).
  let bb: { medianMs: number; medianProbeMs: number; queriesPerProbe: number; success: string } | undefined;
  const exe = findBinary('prometheus-blackbox-exporter') ?? findBinary('blackbox_exporter');
  if (exe) {
    const port = await freePort();
    const cfg = join(lab.dir, 'blackbox.yml');
    writeFileSync(
      cfg,
      [
        'modules:',
        '  dns_hooks:',
        '    prober: dns',
        '    timeout: 5s',
        '    dns:',
        `      query_name: ${lab.hooksHost}`,
        '      query_type: A',
        '      transport_protocol: udp',
        '      preferred_ip_protocol: ip4',
        '      ip_protocol_fallback: false',
        '      recursion_desired: true',
        '',
      ].join('\n'),
    );
    bbx = spawn(exe, [`--config.file=${cfg}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      const up = await fetch(`${base}/-/healthy`).then(
        (r) => r.ok,
        () => false,
      );
      if (up) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const url = `${base}/probe?module=dns_hooks&target=${resRelay.address}`;
    for (let i = 0; i < 20; i++) await (await fetch(url)).text();
    resRelay.queries = authRelay.queries = 0;
    const times: number[] = [];
    const probeTimes: number[] = [];
    let success = '';
    for (let i = 0; i < N; i++) {
      const t = performance.now();
      const body = await (await fetch(url)).text();
      times.push(performance.now() - t);
      probeTimes.push(Number(/^probe_duration_seconds (\S+)/m.exec(body)?.[1] ?? NaN) * 1000);
      success = /^probe_success (\S+)/m.exec(body)?.[1] ?? '?';
    }
    bb = { medianMs: median(times), medianProbeMs: median(probeTimes), queriesPerProbe: (resRelay.queries + authRelay.queries) / N, success };
  }

  say(`dns_drift benchmark, ${N} probes per tool, host ${lab.hooksHost}, resolver = misconfigured unbound, authority = nsd (all loopback)`);
  say(
    `  hookwatch dns_drift A+AAAA : median ${oursAAAA.medianMs.toFixed(3)} ms/probe, ${oursAAAA.queriesPerProbe.toFixed(2)} queries/probe, verdicts ${oursAAAA.verdict}`,
  );
  say(
    `  hookwatch dns_drift A only : median ${oursA.medianMs.toFixed(3)} ms/probe, ${oursA.queriesPerProbe.toFixed(2)} queries/probe, verdicts ${oursA.verdict}`,
  );
  if (bb) {
    say(
      `  blackbox_exporter dns (A)  : median ${bb.medianMs.toFixed(3)} ms/probe over HTTP (${bb.medianProbeMs.toFixed(3)} ms probe_duration_seconds), ${bb.queriesPerProbe.toFixed(2)} queries/probe, probe_success ${bb.success} (cannot see the inflated TTL or drift without a hard-coded regex)`,
    );
    say(
      `  ratio hookwatch(A only)/blackbox: time ${(oursA.medianMs / bb.medianMs).toFixed(2)}x end to end (${(oursA.medianMs / bb.medianProbeMs).toFixed(2)}x vs its own probe_duration_seconds, which excludes HTTP), queries ${(oursA.queriesPerProbe / bb.queriesPerProbe).toFixed(2)}x`,
    );
    say(
      `  ratio hookwatch(A+AAAA)/blackbox: time ${(oursAAAA.medianMs / bb.medianMs).toFixed(2)}x, queries ${(oursAAAA.queriesPerProbe / bb.queriesPerProbe).toFixed(2)}x`,
    );
  } else {
    say('  blackbox_exporter not installed: comparison skipped (scripts/install-test-deps.sh installs it)');
  }
  const data = {
    bench: 'dns-drift',
    probes: N,
    hookwatch_median_ms: round(oursAAAA.medianMs),
    hookwatch_queries_per_probe: oursAAAA.queriesPerProbe,
    hookwatch_a_only_median_ms: round(oursA.medianMs),
    hookwatch_a_only_queries_per_probe: oursA.queriesPerProbe,
    blackbox_median_ms: bb ? round(bb.medianMs) : null,
    blackbox_probe_duration_median_ms: bb ? round(bb.medianProbeMs) : null,
    blackbox_queries_per_probe: bb?.queriesPerProbe ?? null,
    time_ratio_a_only: bb ? round(oursA.medianMs / bb.medianMs) : null,
    time_ratio_a_only_vs_probe_duration: bb ? round(oursA.medianMs / bb.medianProbeMs) : null,
    queries_ratio_a_only: bb ? round(oursA.queriesPerProbe / bb.queriesPerProbe) : null,
  };
  console.log(JSON.stringify(data));
  emit({
    name: 'dns-drift',
    order: 15,
    title: 'DNS queries per probe: dns_drift vs blackbox_exporter (in-process timing)',
    markdown: ['Sequential runs in the benchmark process, DNS queries counted by UDP relays in front of unbound and nsd.', '', '```', ...lines, '```'].join(
      '\n',
    ),
    data,
    seconds: (Date.now() - started) / 1000,
  });
} finally {
  if (bbx && bbx.exitCode === null) {
    const gone = new Promise((r) => bbx!.once('exit', r));
    bbx.kill('SIGTERM');
    await gone;
  }
  resRelay.close();
  authRelay.close();
  await lab.stop();
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
