// Fault injection against a running agent (`hookwatch run`, its own process). For each fault: the agent
// must keep serving (/-/healthy and /metrics answer within 2 s), and the probe that depends on the broken
// upstream must fail with a reason naming it. Then reloads (100, half invalid) and SIGTERM mid-run.
// Writes a table of what was tried and what held. Every wait is bounded; loopback only.
//   node --import tsx bench/faults.ts
import dgram from 'node:dgram';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { emit, parseExposition, rssMiB, sleep, table } from './lib/common.ts';
import { findBinary, startAgent, startDnsLab, startFakeBtcpay, waitFor, type AgentProcess } from './lib/world.ts';

const started = Date.now();
const dir = mkdtempSync(join(tmpdir(), 'hw-bench-faults-'));
const rows: Array<{ fault: string; probe: string; expected: string; observed: string; served: boolean; held: boolean }> = [];

interface ProbeStatus {
  name: string;
  ok: boolean | null;
  reason: string | null;
  runs: number;
  running: boolean;
}
async function status(a: AgentProcess): Promise<ProbeStatus[]> {
  return ((await (await fetch(`${a.url}/status`, { signal: AbortSignal.timeout(5000) })).json()) as { probes: ProbeStatus[] }).probes;
}

/** /-/healthy and /metrics both answer 200 within 2 s each. */
async function serving(a: AgentProcess): Promise<boolean> {
  try {
    for (const p of ['/-/healthy', '/metrics']) {
      const r = await fetch(`${a.url}${p}`, { signal: AbortSignal.timeout(2000) });
      await r.text();
      if (!r.ok) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** Wait for a run of `probe` newer than now that fails with a reason matching `want`; record the row. */
async function expectReason(a: AgentProcess, fault: string, probe: string, want: RegExp, timeoutMs = 20_000): Promise<void> {
  const before = (await status(a).catch(() => [] as ProbeStatus[])).find((p) => p.name === probe)?.runs ?? 0;
  let observed = '(no failing run)';
  let held = false;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const p = (await status(a).catch(() => [] as ProbeStatus[])).find((x) => x.name === probe);
    if (p && p.runs > before && p.ok === false) {
      observed = p.reason ?? '(no reason)';
      if (want.test(observed)) {
        held = true;
        break;
      }
    }
    await sleep(200);
  }
  const served = await serving(a);
  rows.push({
    fault,
    probe,
    expected: `fails, reason ~ \`${want.source}\``,
    observed: observed.length > 160 ? `${observed.slice(0, 157)}…` : observed,
    served,
    held: held && served,
  });
  console.log(`${held && served ? 'HELD' : 'BROKE'} ${fault}: ${observed}`);
}

async function expectOk(a: AgentProcess, probe: string, timeoutMs = 20_000): Promise<void> {
  const before = (await status(a).catch(() => [] as ProbeStatus[])).find((p) => p.name === probe)?.runs ?? 0;
  await waitFor(async () => (await status(a).catch(() => [] as ProbeStatus[])).find((p) => p.name === probe && p.runs > before && p.ok === true), {
    timeoutMs,
    what: `${probe} passing again`,
  }).catch(() => undefined);
}

async function agentFor(name: string, config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, extraArgs: string[] = []): Promise<AgentProcess> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(config));
  return startAgent(file, { env, extraArgs });
}

// ---- BTCPay (the fake Greenfield API) returning 500s, garbage, 10 MB bodies, never answering ----
{
  const fake = await startFakeBtcpay({ timeScale: 0.001 });
  const key = fake.addApiKey(['unrestricted'], 'bench');
  fake.createWebhook({ url: 'http://127.0.0.1:9/never', specificEvents: ['InvoiceSettled'] });
  const a = await agentFor(
    'btcpay',
    {
      global: { interval: '1s', timeout: '3s' },
      sources: { btcpay: { type: 'btcpay', url: fake.url, apiKey: { env: 'BTCPAY_API_KEY' }, storeId: fake.storeId, timeout: '2s' } },
      probes: [{ name: 'btcpay-delivery', type: 'delivery_rate', source: 'btcpay', window: '15m' }],
    },
    { BTCPAY_API_KEY: key },
  );
  try {
    await expectOk(a, 'btcpay-delivery');
    const cases: Array<[string, Parameters<typeof fake.fault>[1], RegExp]> = [
      ['BTCPay answers HTTP 500', { kind: 'status', status: 500 }, /500/],
      ['BTCPay answers garbage (HTML with 200)', { kind: 'garbage' }, /JSON|json|parse|unexpected|invalid|garbage|not a/i],
      ['BTCPay answers a 10 MB body', { kind: 'huge', bytes: 10 * 2 ** 20 }, /too large|limit|exceed|bytes|MiB|MB|size/i],
      ['BTCPay never answers', { kind: 'slow', delayMs: 60_000 }, /time(d)? ?out|timeout|did not answer|aborted/i],
    ];
    for (const [fault, f, want] of cases) {
      const rss0 = rssMiB(a.child.pid!);
      fake.fault(/./, f);
      await expectReason(a, fault, 'btcpay-delivery', want);
      rows.at(-1)!.observed += ` (agent RSS ${rss0.toFixed(0)} → ${rssMiB(a.child.pid!).toFixed(0)} MiB)`;
      fake.clearFaults();
      await expectOk(a, 'btcpay-delivery');
    }
  } finally {
    await a.stop();
    await fake.close();
  }
}

// ---- DNS: a resolver answering garbage, nothing, or spoofed packets (wrong transaction id) ----
if (findBinary('nsd') && findBinary('unbound')) {
  const lab = await startDnsLab();
  type Mode = 'garbage' | 'silent' | 'spoofed' | 'relay';
  let mode = 'relay' as Mode;
  const [labHost, labPort] = lab.goodResolver.split(':') as [string, string];
  const sock = dgram.createSocket('udp4');
  const upstream = dgram.createSocket('udp4');
  const pending = new Map<number, { port: number; address: string }>();
  upstream.on('message', (msg) => {
    const to = pending.get(msg.readUInt16BE(0));
    if (to) sock.send(msg, to.port, to.address);
  });
  sock.on('message', (msg, from) => {
    if (mode === 'silent') return;
    if (mode === 'garbage') return void sock.send(Buffer.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]), from.port, from.address);
    if (mode === 'spoofed') {
      // A well-formed answer with 6.6.6.6 but the wrong transaction id: must be ignored, never believed.
      const id = (msg.readUInt16BE(0) + 1) & 0xffff;
      const q = msg.subarray(12);
      const qEnd = q.indexOf(0) + 5;
      const hdr = Buffer.from([id >> 8, id & 0xff, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
      const ans = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 6, 6, 6, 6]);
      return void sock.send(Buffer.concat([hdr, q.subarray(0, qEnd), ans]), from.port, from.address);
    }
    pending.set(msg.readUInt16BE(0), { port: from.port, address: from.address });
    upstream.send(msg, Number(labPort), labHost);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', () => r()));
  const resolver = `127.0.0.1:${sock.address().port}`;
  const a = await agentFor('dns', {
    global: { interval: '1s', timeout: '4s' },
    probes: [{ name: 'pay-dns', type: 'dns_drift', hosts: [lab.hooksHost], resolver, authoritative: [lab.authoritative], recordTypes: ['A'] }],
  });
  try {
    await expectOk(a, 'pay-dns');
    const cases: Array<[string, Mode, RegExp]> = [
      ['resolver answers garbage', 'garbage', /resolver|127\.0\.0\.1/],
      ['resolver answers nothing', 'silent', /resolver|127\.0\.0\.1/],
      ['resolver sends spoofed answers (wrong id, 6.6.6.6)', 'spoofed', /^(?!.*6\.6\.6\.6).*(resolver|127\.0\.0\.1)/],
    ];
    for (const [fault, m, want] of cases) {
      mode = m;
      await expectReason(a, fault, 'pay-dns', want);
      mode = 'relay';
      await expectOk(a, 'pay-dns');
    }
  } finally {
    await a.stop();
    sock.close();
    upstream.close();
    await lab.stop();
  }
} else {
  rows.push({ fault: 'DNS faults', probe: 'pay-dns', expected: 'needs nsd and unbound', observed: 'not run', served: false, held: false });
}

// ---- A receiver resetting every connection ----
{
  const resetter = createNetServer((s: Socket) => s.resetAndDestroy());
  await new Promise<void>((r) => resetter.listen(0, '127.0.0.1', () => r()));
  const port = (resetter.address() as { port: number }).port;
  const a = await agentFor(
    'reset',
    {
      global: { interval: '1s', timeout: '4s' },
      probes: [
        {
          name: 'receiver-synthetic',
          type: 'synthetic',
          interval: '1s',
          mode: 'direct',
          targets: [`http://127.0.0.1:${port}/btcpay/webhook`],
          signing: { scheme: 'btcpay', secret: { env: 'WEBHOOK_SECRET' } },
        },
      ],
    },
    { WEBHOOK_SECRET: 'bench-secret-reset-1' },
  );
  try {
    await expectReason(a, 'receiver resets every connection', 'receiver-synthetic', /reset|ECONNRESET|closed|socket/i);
  } finally {
    await a.stop();
    resetter.close();
  }
}

// ---- 100 reloads, every other one invalid ----
{
  const target = createHttpServer((_q, s) => s.end('ok'));
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(target.address() as { port: number }).port}/`;
  const file = join(dir, 'reload.yaml');
  const valid = (i: number) =>
    stringify({
      global: { interval: '1s' },
      probes: [
        { name: `set-${i % 4}-a`, type: 'http', url },
        { name: `set-${i % 4}-b`, type: 'http', url },
      ],
    });
  const invalid = (i: number) =>
    [`probes:\n  - name: broken-${i}\n    type: http\n    url: ${url}\n    intervl: 5s\n`, 'probes: [\n', `probes:\n  - name: x\n    type: nope-${i}\n`][
      i % 3
    ]!;
  writeFileSync(file, valid(0));
  const a = await startAgent(file);
  const reloadOk = async () =>
    parseExposition(await (await fetch(`${a.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text()).get('hookwatch_config_last_reload_successful');
  let mismatches = 0;
  let lastValid = 0;
  const rss0 = rssMiB(a.child.pid!);
  const t0 = Date.now();
  try {
    let done = 0;
    for (let i = 1; i <= 100 && Date.now() - t0 < 90_000; i++, done++) {
      const good = i % 2 === 0;
      writeFileSync(file, good ? valid(i) : invalid(i));
      a.child.kill('SIGHUP');
      const ok = await waitFor(async () => (await reloadOk()) === (good ? 1 : 0) && (!good || (await status(a)).some((p) => p.name === `set-${i % 4}-a`)), {
        timeoutMs: 3000,
        what: `reload ${i}`,
      }).then(
        () => true,
        () => false,
      );
      if (!ok) {
        mismatches++;
        console.log(`reload ${i} (${good ? 'valid' : 'invalid'}) not reflected within 3 s; agent alive: ${a.child.exitCode === null}`);
      }
      if (good) lastValid = i;
    }
    const names = (await status(a)).map((p) => p.name).sort();
    const expectNames = [`set-${lastValid % 4}-a`, `set-${lastValid % 4}-b`];
    const served = await serving(a);
    const held = done === 100 && mismatches === 0 && JSON.stringify(names) === JSON.stringify(expectNames) && served;
    rows.push({
      fault: '100 reloads (SIGHUP), every other file invalid',
      probe: 'all',
      expected: 'valid ones applied, invalid ones refused, last valid set runs',
      observed: `${done} reloads, ${mismatches} not reflected within 3 s; running ${names.join(', ')}; ${((Date.now() - t0) / 1000).toFixed(1)} s; RSS ${rss0.toFixed(0)} → ${rssMiB(a.child.pid!).toFixed(0)} MiB`,
      served,
      held,
    });
  } finally {
    await a.stop();
    target.close();
  }
}

// ---- SIGTERM while a run hangs ----
{
  const hang = createHttpServer(() => undefined);
  await new Promise<void>((r) => hang.listen(0, '127.0.0.1', () => r()));
  const a = await agentFor('sigterm', {
    global: { interval: '1s', timeout: '30s' },
    probes: [{ name: 'hung', type: 'http', url: `http://127.0.0.1:${(hang.address() as { port: number }).port}/` }],
  });
  await waitFor(async () => (await status(a).catch(() => [] as ProbeStatus[])).find((p) => p.name === 'hung' && p.running), {
    timeoutMs: 10_000,
    what: 'a run in flight',
  }).catch(() => undefined);
  const served = await serving(a);
  const r = await a.stop('SIGTERM');
  rows.push({
    fault: 'SIGTERM while a probe run hangs',
    probe: 'hung',
    expected: 'exit 0 within 5 s',
    observed: `exit ${r.code} after ${(r.ms / 1000).toFixed(2)} s`,
    served,
    held: r.code === 0 && r.ms < 5000 && served,
  });
  hang.closeAllConnections();
  hang.close();
}

rmSync(dir, { recursive: true, force: true });
const held = rows.filter((r) => r.held).length;
const markdown = [
  `${held} of ${rows.length} held. "Served": /-/healthy and /metrics answered 200 within 2 s while the fault was on.`,
  '',
  table(
    ['fault', 'probe', 'expected', 'observed', 'served', 'held'],
    rows.map((r) => [r.fault, r.probe, r.expected, r.observed.replace(/\|/g, '\\|').replace(/\n/g, ' '), r.served ? 'yes' : 'NO', r.held ? 'yes' : 'NO']),
  ),
].join('\n');
emit({ name: 'faults', order: 40, title: 'Fault injection', markdown, data: { rows }, seconds: (Date.now() - started) / 1000 });
