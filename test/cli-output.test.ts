// What on-call reads in a terminal, pinned: `once` text (one line per pass; reason, since, action,
// fix for a failure; no JSON on stderr), `once --format json` fields, `run` logging state changes
// only, `check` output, exit codes (usage and config errors 2; `check` 1 for an invalid config),
// and `--help` with examples and required options marked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startAgent, waitFor } from './helpers/agent-process.ts';
import { startFakeDns } from '../src/sim/dns-server.ts';

const dir = mkdtempSync(join(tmpdir(), 'hw-cli-out-'));
let target: Server;
let url = '';
let failing = false;
let dns: Awaited<ReturnType<typeof startFakeDns>>;

beforeAll(async () => {
  target = createServer((req, res) => {
    res.statusCode = req.url === '/fail' || (req.url === '/flip' && failing) ? 503 : 200;
    res.end('ok');
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(target.address() as { port: number }).port}`;
  dns = await startFakeDns({ zone: 'pay.test', records: [{ name: 'hooks.pay.test', type: 'A', ttl: 300, values: ['127.0.0.2'] }], minTtl: 86_400 });
});
afterAll(async () => {
  await new Promise<void>((r) => target.close(() => r()));
  await dns.stop();
});

const write = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};
/** Durations and clock times vary; everything else is pinned. */
const normalise = (s: string) =>
  s
    .replace(/\d+\.\d{3}s\b/g, 'D.DDDs')
    .replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(\d+s ago\)/g, 'TIME UTC (Ns ago)')
    .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT')
    .replace(/seconds=\d+(\.\d+)?/g, 'seconds=S')
    .replace(/hands out TTL \d+s/g, 'hands out TTL Ns');

describe('once', () => {
  it('text: one line per passing probe; a failure with severity, reason, since, fix; nothing on stderr', async () => {
    const cfg = write(
      'once.yaml',
      `probes:
  - name: up
    type: http
    url: ${url}/ok
  - name: down
    type: http
    url: ${url}/fail
  - name: pay-dns
    type: dns_drift
    hosts: [hooks.pay.test]
    resolver: "${dns.resolver.address}"
    authoritative: ["${dns.auth.address}"]
    recordTypes: [A]
`,
    );
    const r = await runCli(['once', '--config.file', cfg]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    expect(normalise(r.stdout)).toBe(
      [
        'PASS  up (http)  D.DDDs',
        'FAIL  down (http)  PAGE  D.DDDs',
        '      reason: HTTP 503, expected 2xx',
        '      since:  TIME UTC (Ns ago)',
        '      details: status=503  seconds=S',
        '      runbook: alerts/runbooks/HookwatchProbeFailing.md',
        'FAIL  pay-dns (dns_drift)  TICKET  D.DDDs',
        '      reason: hooks.pay.test: resolver 127.0.0.1:PORT hands out TTL Ns but the authoritative TTL is 300s, so after a change it will keep serving the old address 24h longer than intended.',
        '      since:  TIME UTC (Ns ago)',
        '      fix:    Make the caching resolver honour TTLs: unbound — remove `cache-min-ttl` (default 0) and keep `cache-max-ttl` at 86400 or less; dnsmasq — remove `min-cache-ttl`/`max-cache-ttl` overrides; nscd — nscd ignores DNS TTLs, lower `positive-time-to-live hosts` in /etc/nscd.conf or disable its hosts cache; systemd-resolved honours TTLs, so look for a forwarder behind it.',
        '      details: resolver=127.0.0.1:PORT  graceSeconds=60',
        '      runbook: alerts/runbooks/HookwatchResolverTTLInflated.md',
        '1 of 3 probe(s) passing, 2 failing (1 page, 1 ticket)',
        '',
      ].join('\n'),
    );
    expect(r.stdout).not.toContain('…');

    const j = await runCli(['once', '--config.file', cfg, '--format', 'json']);
    expect(j.code).toBe(1);
    expect(j.stderr).toBe('');
    const v = JSON.parse(j.stdout) as { probes: Array<Record<string, unknown>> };
    const d = v.probes.find((p) => p.name === 'pay-dns')!;
    expect(d).toMatchObject({ ok: false, state: 'failing', severity: 'ticket', action: null, runbook: 'HookwatchResolverTTLInflated' });
    expect(d.fix).toMatch(/cache-min-ttl/);
    expect(typeof d.since).toBe('string');
    expect(v.probes.find((p) => p.name === 'up')).toMatchObject({ ok: true, severity: null, action: null, fix: null });
  });

  it('exit 2 for usage and config errors', async () => {
    const good = write('ok.yaml', `probes:\n  - name: up\n    type: http\n    url: ${url}/ok\n`);
    expect((await runCli(['once'])).code).toBe(2);
    expect((await runCli(['once', '--config.file', good, '--bogus'])).code).toBe(2);
    expect((await runCli(['once', '--config.file', write('bad.yaml', 'probes: [{ name: x, type: nope }]\n')])).code).toBe(2);
    expect((await runCli(['once', '--config.file', good])).code).toBe(0);
  });
});

describe('check', () => {
  it('exit 0 valid, 1 invalid config, 2 usage error; output pinned', async () => {
    const good = write('check.yaml', `probes:\n  - name: up\n    type: http\n    url: ${url}/ok\n`);
    const ok = await runCli(['check', '--config.file', good]);
    expect([ok.code, ok.stdout, ok.stderr]).toEqual([
      0,
      'config OK: 1 probe(s), 0 source(s)\n  up (http): every 1m (global.interval), timeout 10s (global.timeout)\n',
      '',
    ]);
    const bad = await runCli([
      'check',
      '--config.file',
      write('check-bad.yaml', `probes:\n  - name: up\n    type: http\n    url: ${url}/ok\n    intervl: 5s\n`),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('check-bad.yaml:5:5: probes[0].intervl: unknown key "intervl" (did you mean "interval"?)');
    const usage = await runCli(['check']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/required option '--config\.file <file>' not specified/);
    expect((await runCli(['check', '--config.file', good, '--extra'])).code).toBe(2);
  });
});

describe('--help', () => {
  it('marks required options, shows examples, no empty defaults', async () => {
    for (const cmd of ['run', 'check', 'once', 'redeliver', 'verify']) {
      const h = await runCli([cmd, '--help']);
      expect(h.code, cmd).toBe(0);
      expect(h.stdout, cmd).toMatch(/--config\.file <file>\s+\(required\)/);
      expect(h.stdout, cmd).toMatch(/Examples:\n {2}\$ hookwatch /);
      expect(h.stdout, cmd).not.toMatch(/\(default: \[\]\)|\(default: false\)/);
    }
  });
});

describe('run', () => {
  it('logs state changes only at info: OK->FAIL with the reason, FAIL->OK with how long; exit 2 for a bad config', async () => {
    failing = false;
    const cfg = write('run.yaml', `global: { interval: 300ms, timeout: 250ms }\nprobes:\n  - name: flip\n    type: http\n    url: ${url}/flip\n`);
    const agent = await startAgent(cfg, { extraArgs: ['--log.format', 'json'] });
    try {
      await waitFor(async () => ((await (await fetch(`${agent.url}/status`)).json()) as { probes: Array<{ runs: number }> }).probes[0]!.runs >= 3, {
        what: 'passing runs',
      });
      failing = true;
      await waitFor(() => agent.logs.some((l) => l.includes('probe failing')), { what: 'the failure' });
      await waitFor(async () => ((await (await fetch(`${agent.url}/status`)).json()) as { probes: Array<{ runs: number }> }).probes[0]!.runs >= 8, {
        what: 'failing runs',
      });
      failing = false;
      await waitFor(() => agent.logs.some((l) => l.includes('probe recovered')), { what: 'the recovery' });
    } finally {
      await agent.stop();
    }
    const lines = agent.logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.msg)).toEqual(['hookwatch started', 'listening', 'probe failing', 'probe recovered', 'shutting down']);
    expect(lines[2]).toMatchObject({ level: 'info', probe: 'flip', transition: 'OK->FAIL', severity: 'page', reason: 'HTTP 503, expected 2xx' });
    expect(lines[3]).toMatchObject({ level: 'info', probe: 'flip', transition: 'FAIL->OK' });
    expect(lines[3]!.failed_for).toMatch(/^\d+s$/);

    const bad = await runCli(['run', '--config.file', write('run-bad.yaml', 'probes: [{ name: x, type: nope }]\n')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/config invalid, not starting/);
  }, 30_000);
});
