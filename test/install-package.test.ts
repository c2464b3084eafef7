// The npm package: `npm pack` of the production build installs into an empty folder with production
// dependencies only, and its `hookwatch` runs check, once and run there from dist/ — no tsx, no esbuild
// service process, no TypeScript sources, and pg loaded only by a config that has a PostgreSQL source.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { installTarball, packTarball, tarballFiles } from './helpers/install-package.ts';
import { waitFor } from './helpers/agent-process.ts';

let dir: string;
let tgz: string;
let bin: string;
let server: Server;
let okUrl: string;

// A resolve hook that logs every module URL the process loads (module.register exists from Node 20.6).
const TRACE_HOOK = `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) { const r = await next(spec, ctx); appendFileSync(process.env.HOOKWATCH_TRACE_FILE, r.url + '\\n'); return r; }`;
const TRACE_MAIN = `import { register } from 'node:module'; register('./trace-hook.mjs', import.meta.url);`;

/** Asynchronous on purpose: the loopback server in this process must keep answering. */
function run(args: string[], opts: { env?: NodeJS.ProcessEnv; node?: string[] } = {}): Promise<{ code: number | null; out: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...(opts.node ?? []), bin, ...args], {
      cwd: dir,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let out = '';
    child.stdout.on('data', (d: Buffer) => ((stdout += d.toString()), (out += d.toString())));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => (clearTimeout(timer), resolve({ code, out, stdout })));
  });
}

function config(name: string, url: string, extra = ''): string {
  const f = join(dir, `${name}.yaml`);
  writeFileSync(f, `global: { interval: 60s, timeout: 5s, resolver: system }\nprobes:\n  - name: ${name}\n    type: http\n    url: ${url}\n${extra}`);
  return f;
}

beforeAll(async () => {
  server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  okUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`;
  tgz = packTarball();
  dir = installTarball(tgz);
  bin = join(dir, 'node_modules', 'hookwatch', 'bin', 'hookwatch.js');
  writeFileSync(join(dir, 'trace-hook.mjs'), TRACE_HOOK);
  writeFileSync(join(dir, 'trace.mjs'), TRACE_MAIN);
}, 300_000);

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (tgz) rmSync(dirname(tgz), { recursive: true, force: true });
});

describe('npm package', () => {
  it('ships the build, not the TypeScript sources or the tests', () => {
    const files = tarballFiles(tgz);
    expect(files).toContain('bin/hookwatch.js');
    expect(files).toContain('dist/src/cli.js');
    expect(files).toContain('dist/.build-complete');
    expect(files).toContain('probes/demo.yaml');
    expect(files).toContain('alerts/runbooks/HookwatchWebhookDeliverySuccessLow.md');
    expect(files).toContain('alerts/hookwatch.rules.yml');
    expect(files).toContain('deploy/systemd/hookwatch.service');
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
    expect(files.filter((f) => /\.test\.|^test\/|^src\//.test(f))).toEqual([]);
    // One bundle plus lazily loaded chunks, not a module per source file.
    expect(files.filter((f) => f.startsWith('dist/') && f.endsWith('.js')).length).toBeLessThan(40);
  });

  it('installs with production dependencies only: no tsx, esbuild, typescript or vitest', () => {
    const mods = readdirSync(join(dir, 'node_modules'));
    expect(mods).toEqual(expect.arrayContaining(['hookwatch', 'express', 'prom-client', 'pg']));
    for (const dev of ['tsx', 'esbuild', '@esbuild', 'typescript', 'vitest']) expect(mods, dev).not.toContain(dev);
    expect(existsSync(join(dir, 'node_modules', '.bin', 'hookwatch'))).toBe(true);
  });

  it("leaves iconv-lite's code pages and mime-db's table in node_modules instead of the bundle", () => {
    const distDir = join(dir, 'node_modules', 'hookwatch', 'dist', 'src');
    const bundle = readdirSync(distDir)
      .filter((f) => f.endsWith('.js'))
      .map((f) => readFileSync(join(distDir, f), 'utf8'))
      .join('\n');
    expect(bundle).toContain('("iconv-lite")');
    expect(bundle).not.toContain('windows1252');
    expect(bundle).not.toContain('application/vnd.ms-excel');
    expect(readdirSync(join(dir, 'node_modules'))).toEqual(expect.arrayContaining(['iconv-lite', 'mime-db']));
  });

  it('check: exit 0 for a valid config, 1 with file:line and key path for an invalid one', async () => {
    const good = await run(['check', '--config.file', config('ok', okUrl)]);
    expect(good.code, good.out).toBe(0);
    const bad = await run(['check', '--config.file', config('bad', okUrl, '    expectStatus: [999]\n')]);
    expect(bad.code, bad.out).toBe(1);
    expect(bad.out).toMatch(/bad\.yaml:\d+:\d+: probes\[0\]\.expectStatus/);
    expect((await run(['schema'])).stdout).toContain('"$schema"');
  });

  it('once: exit 0 when the probe passes, 1 when it fails', async () => {
    const pass = await run(['once', '--config.file', config('pass', okUrl), '--format', 'json']);
    expect(pass.code, pass.out).toBe(0);
    expect(pass.stdout).toContain('"ok": true');
    // A closed loopback port: the server's own port once it is closed is not reusable here, so use port 9 (discard).
    const fail = await run(['once', '--config.file', config('fail', 'http://127.0.0.1:9/'), '--format', 'json']);
    expect(fail.code, fail.out).toBe(1);
  });

  it('run: serves /metrics from dist/ with no child process, never loading tsx or pg', async () => {
    const trace = join(dir, 'modules.txt');
    const child = spawn(
      process.execPath,
      ['--import', './trace.mjs', bin, 'run', '--config.file', config('agent', okUrl), '--web.listen-address', '127.0.0.1:0'],
      {
        cwd: dir,
        env: { ...process.env, HOOKWATCH_TRACE_FILE: trace },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const url = await waitFor(() => /"address":"([^"]+)"/.exec(out)?.[1], { timeoutMs: 20_000, what: `agent address; output: ${out}` });
      const metrics = await waitFor(
        async () => {
          const t = await (await fetch(`http://${url}/metrics`)).text();
          return /hookwatch_probe_success\{[^}]*probe="agent"[^}]*\} 1/.test(t) && t;
        },
        { timeoutMs: 20_000, what: 'a passing probe in /metrics' },
      );
      expect(metrics).toContain('hookwatch_config_last_reload_successful 1');
      expect((await fetch(`http://${url}/-/ready`)).status).toBe(200);
      // The status page's runbook links resolve inside the installed package (the bundle sits at another depth than the sources).
      const runbook = await fetch(`http://${url}/runbooks/HookwatchWebhookDeliverySuccessLow`);
      expect(runbook.status).toBe(200);
      expect(await runbook.text()).toContain('HookwatchWebhookDeliverySuccessLow');
      // tsx would keep an esbuild service process as a child.
      const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim();
      expect(children).toBe('');
      const loaded = readFileSync(trace, 'utf8').split('\n').filter(Boolean);
      expect(loaded.some((u) => u.includes('/node_modules/hookwatch/dist/src/cli.js'))).toBe(true);
      expect(loaded.filter((u) => /\/node_modules\/(tsx|esbuild|pg|pg-[a-z-]+)\//.test(u))).toEqual([]);
      expect(loaded.filter((u) => u.endsWith('.ts'))).toEqual([]);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('loads pg once a config has a PostgreSQL source', async () => {
    const trace = join(dir, 'modules-pg.txt');
    const f = join(dir, 'pg.yaml');
    writeFileSync(
      f,
      [
        'sources:',
        '  btcpay: { type: btcpay, url: "http://127.0.0.1:9", apiKey: { env: BTCPAY_KEY }, storeId: s }',
        '  db: { type: postgres, host: 127.0.0.1, port: 9, database: d, user: u, query: "SELECT id FROM p WHERE paid_at >= $1 AND paid_at < $2" }',
        'probes:',
        '  - { name: rec, type: reconcile, source: btcpay, records: db, window: 1h, timeout: 3s }',
        '',
      ].join('\n'),
    );
    const r = await run(['once', '--config.file', f], { node: ['--import', './trace.mjs'], env: { HOOKWATCH_TRACE_FILE: trace, BTCPAY_KEY: 'k' } });
    // The probe fails (nothing listens on port 9), but the config was accepted and the probe ran.
    expect(r.code, r.out).toBe(1);
    expect(readFileSync(trace, 'utf8')).toMatch(/\/node_modules\/pg\//);
  });
});
