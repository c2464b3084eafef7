// The agent as users run it: `hookwatch run/check/once/schema` as child processes, against real HTTP servers.
import { execFileSync, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import bcrypt from 'bcryptjs';
import { bin, missingBinaries } from './helpers/daemons.ts';
import { runCli, startAgent, waitFor, type AgentProcess } from './helpers/agent-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'hw-cli-'));
const SECRET = 'btcpay-api-key-0123456789abcdef';
let target: Server;
let targetUrl = '';

beforeAll(async () => {
  target = createServer((req, res) => {
    res.statusCode = req.url === '/fail' ? 503 : 200;
    res.end('ok');
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  targetUrl = `http://127.0.0.1:${(target.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => target.close(() => r())));

function write(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

const withSource = (probes: string) => `global:
  interval: 1s
  timeout: 2s
sources:
  btcpay:
    type: btcpay
    url: http://127.0.0.1:9/
    apiKey: { env: HW_TEST_KEY }
    storeId: store1
probes:
${probes}`;

describe('hookwatch check', () => {
  it('exits 0 for a valid file and 1 with path and line for an invalid one', async () => {
    const good = write('good.yaml', withSource(`  - name: up\n    type: http\n    url: ${targetUrl}/ok\n`));
    const r1 = await runCli(['check', '--config.file', good], { env: { HW_TEST_KEY: SECRET } });
    expect(r1.code).toBe(0);
    expect(r1.stdout).toMatch(/config OK: 1 probe/);
    const bad = write('bad.yaml', withSource(`  - name: up\n    type: http\n    url: ${targetUrl}/ok\n    intervl: 5s\n`));
    const r2 = await runCli(['check', '--config.file', bad], { env: { HW_TEST_KEY: SECRET } });
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain('bad.yaml:14:5: probes[0].intervl: unknown key "intervl" (did you mean "interval"?)');
    expect(r2.stderr + r2.stdout).not.toContain(SECRET);
    // a usage error (no --config.file) is 2, as in every command
    expect((await runCli(['check'])).code).toBe(2);
  });
});

describe('hookwatch once exit codes', () => {
  const cfg = () =>
    write('once.yaml', withSource(`  - name: up\n    type: http\n    url: ${targetUrl}/ok\n  - name: down\n    type: http\n    url: ${targetUrl}/fail\n`));

  it('0 when every selected probe passes', async () => {
    const r = await runCli(['once', '--config.file', cfg(), '--probe', 'up'], { env: { HW_TEST_KEY: SECRET } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^PASS {2}up \(http\)/m);
  });
  it('1 when any probe fails, with the reason in text and json', async () => {
    const r = await runCli(['once', '--config.file', cfg()], { env: { HW_TEST_KEY: SECRET } });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL {2}down \(http\)/m);
    expect(r.stdout).toContain('reason: HTTP 503, expected 2xx');
    const j = await runCli(['once', '--config.file', cfg(), '--format', 'json'], { env: { HW_TEST_KEY: SECRET } });
    expect(j.code).toBe(1);
    const parsed = JSON.parse(j.stdout) as { ok: boolean; probes: Array<{ name: string; ok: boolean; reason: string | null }> };
    expect(parsed.ok).toBe(false);
    expect(parsed.probes.find((p) => p.name === 'down')!.reason).toBe('HTTP 503, expected 2xx');
    expect(parsed.probes.find((p) => p.name === 'up')!.ok).toBe(true);
  });
  it('2 for an unknown probe, a bad config, or bad usage', async () => {
    expect((await runCli(['once', '--config.file', cfg(), '--probe', 'nope'], { env: { HW_TEST_KEY: SECRET } })).code).toBe(2);
    expect((await runCli(['once', '--config.file', cfg()], { env: { HW_TEST_KEY: '' } })).code).toBe(2);
    expect((await runCli(['once'])).code).toBe(2);
    expect((await runCli(['once', '--config.file', cfg(), '--format', 'xml'], { env: { HW_TEST_KEY: SECRET } })).code).toBe(2);
  });
});

describe('hookwatch schema', () => {
  it('prints a JSON Schema that covers every probe kind and the secret reference form', async () => {
    const r = await runCli(['schema']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(s.$schema).toMatch(/json-schema.org/);
    for (const t of ['http', 'delivery_rate', 'paid_latency', 'synthetic', 'dns_drift', 'reconcile']) expect(r.stdout).toContain(`"const": "${t}"`);
    expect(r.stdout).toContain('Secret reference');
  });
});

describe('hookwatch run', () => {
  let agent: AgentProcess;
  let cfgFile: string;
  beforeAll(async () => {
    cfgFile = write(
      'run.yaml',
      withSource(`  - name: up\n    type: http\n    url: ${targetUrl}/ok\n  - name: down\n    type: http\n    url: ${targetUrl}/fail\n`),
    );
    agent = await startAgent(cfgFile, { env: { HW_TEST_KEY: SECRET }, extraArgs: ['--web.enable-lifecycle'] });
  });
  afterAll(async () => {
    await agent?.stop();
  });

  it('serves health, readiness, status and an HTML index', async () => {
    expect(await (await fetch(`${agent.url}/-/healthy`)).text()).toBe('Healthy\n');
    expect((await fetch(`${agent.url}/-/ready`)).status).toBe(200);
    const status = await waitFor(async () => {
      const s = (await (await fetch(`${agent.url}/status`)).json()) as {
        probes: Array<{ name: string; ok: boolean | null; reason: string | null; runId: string | null }>;
      };
      return s.probes.every((p) => p.ok !== null) && s;
    });
    expect(status.probes.find((p) => p.name === 'up')!.ok).toBe(true);
    expect(status.probes.find((p) => p.name === 'down')!.reason).toBe('HTTP 503, expected 2xx');
    const html = await (await fetch(`${agent.url}/`)).text();
    expect(html).toContain('data-probe="down"');
    expect(html).toContain('href="probe/down/log"');
    const log = (await (await fetch(`${agent.url}/probe/down/log?format=json`)).json()) as { lines: Array<{ msg: string; run_id: string }> };
    expect(log.lines.some((l) => l.msg === 'probe run finished')).toBe(true);
  });

  it.skipIf(missingBinaries('promtool'))('serves metrics that promtool check metrics reports clean', async () => {
    await waitFor(async () => (await (await fetch(`${agent.url}/metrics`)).text()).includes('hookwatch_probe_success{probe="down"'));
    const text = await (await fetch(`${agent.url}/metrics`)).text();
    const r = spawnSync(bin('promtool'), ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(text).toMatch(/hookwatch_probe_success\{probe="up",type="http"\} 1/);
    expect(text).toMatch(/hookwatch_probe_success\{probe="down",type="http"\} 0/);
    expect(text).toContain('process_resident_memory_bytes');
  });

  it('never exposes the API key in metrics, status, the index page or logs', async () => {
    const bodies = await Promise.all(['/metrics', '/status', '/', '/probe/up/log'].map(async (p) => (await fetch(agent.url + p)).text()));
    for (const b of bodies) expect(b).not.toContain(SECRET);
    expect(agent.logs.join('\n')).not.toContain(SECRET);
  });

  it('reloads: a valid change applies without restart, an invalid one is rejected and old probes keep running', async () => {
    writeFileSync(cfgFile, withSource(`  - name: up\n    type: http\n    url: ${targetUrl}/ok\n  - name: added\n    type: http\n    url: ${targetUrl}/ok\n`));
    const r1 = await fetch(`${agent.url}/-/reload`, { method: 'POST' });
    expect(r1.status).toBe(200);
    const m1 = await waitFor(async () => {
      const t = await (await fetch(`${agent.url}/metrics`)).text();
      return t.includes('hookwatch_probe_success{probe="added",type="http"} 1') && t;
    });
    expect(m1).not.toContain('probe="down"');
    expect(m1).toContain('hookwatch_config_last_reload_successful 1');

    writeFileSync(cfgFile, withSource(`  - name: up\n    type: http\n    url: ${targetUrl}/ok\n    interval: soon\n`));
    const r2 = await fetch(`${agent.url}/-/reload`, { method: 'POST' });
    expect(r2.status).toBe(500);
    expect(await r2.text()).toContain('probes[0].interval: invalid duration "soon"');
    const before = Number(
      /hookwatch_probe_runs_total\{probe="added",type="http",result="success"\} (\d+)/.exec(await (await fetch(`${agent.url}/metrics`)).text())![1],
    );
    const m2 = await waitFor(async () => {
      const t = await (await fetch(`${agent.url}/metrics`)).text();
      const n = Number(/hookwatch_probe_runs_total\{probe="added",type="http",result="success"\} (\d+)/.exec(t)?.[1] ?? 0);
      return n > before && t;
    });
    expect(m2).toContain('hookwatch_config_last_reload_successful 0');
    expect(agent.logs.some((l) => l.includes('configuration reload failed; keeping the previous configuration'))).toBe(true);

    // SIGHUP does the same as POST /-/reload.
    writeFileSync(cfgFile, withSource(`  - name: up\n    type: http\n    url: ${targetUrl}/ok\n`));
    agent.child.kill('SIGHUP');
    await waitFor(async () => {
      const t = await (await fetch(`${agent.url}/metrics`)).text();
      return t.includes('hookwatch_config_last_reload_successful 1') && !t.includes('probe="added"');
    });
  });

  it('shuts down on SIGTERM within 5 s', async () => {
    const { code, ms } = await agent.stop('SIGTERM');
    expect(code).toBe(0);
    expect(ms).toBeLessThan(5000);
  });
});

describe('shutdown with a hung probe in flight', () => {
  it('SIGINT stops the agent within 5 s while a run waits on a server that never answers', async () => {
    const sockets: Socket[] = [];
    const hang = createServer(() => {
      /* never answers */
    });
    hang.on('connection', (s) => sockets.push(s));
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    const f = write(
      'hang.yaml',
      `probes:\n  - name: stuck\n    type: http\n    url: http://127.0.0.1:${(hang.address() as { port: number }).port}/\n    interval: 1m\n    timeout: 50s\n`,
    );
    const a = await startAgent(f);
    await waitFor(() => sockets.length > 0, { what: 'the probe to connect' });
    const { code, ms } = await a.stop('SIGINT');
    for (const s of sockets) s.destroy();
    hang.close();
    expect(code).toBe(0);
    expect(ms).toBeLessThan(5000);
  });
});

describe('refuses to start on a bad config', () => {
  it('exits 2 (a config error, as in every command but check) naming the path and line', async () => {
    const f = write('refuse.yaml', 'probes:\n  - name: a\n    type: http\n    url: nope\n');
    const r = await runCli(['run', '--config.file', f, '--web.listen-address', '127.0.0.1:0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('refuse.yaml:4:10: probes[0].url');
  });
});

describe('web config: basic auth and TLS (exporter-toolkit format)', () => {
  it.skipIf(missingBinaries('openssl'))('requires the password and serves HTTPS', async () => {
    execFileSync(
      bin('openssl'),
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const hash = bcrypt.hashSync('s3cret-pass', 4);
    const web = write('web.yml', `tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  prom: '${hash}'\n`);
    const cfg = write('tls.yaml', `probes:\n  - name: up\n    type: http\n    url: ${targetUrl}/ok\n`);
    const a = await startAgent(cfg, { extraArgs: ['--web.config.file', web] });
    try {
      const url = a.url.replace('http://', 'https://');
      const { Agent: UAgent, request } = await import('undici');
      const dispatcher = new UAgent({ connect: { rejectUnauthorized: false } });
      const anon = await request(`${url}/metrics`, { dispatcher });
      expect(anon.statusCode).toBe(401);
      await anon.body.dump();
      const wrong = await request(`${url}/metrics`, { dispatcher, headers: { authorization: 'Basic ' + Buffer.from('prom:nope').toString('base64') } });
      expect(wrong.statusCode).toBe(401);
      await wrong.body.dump();
      const ok = await request(`${url}/metrics`, { dispatcher, headers: { authorization: 'Basic ' + Buffer.from('prom:s3cret-pass').toString('base64') } });
      expect(ok.statusCode).toBe(200);
      expect(await ok.body.text()).toContain('hookwatch_build_info');
      await dispatcher.close();
    } finally {
      await a.stop();
    }
  });
});
