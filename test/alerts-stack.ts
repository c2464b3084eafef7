// Real Prometheus and Alertmanager on loopback for the alerting tests, plus a local HTTP sink that
// stands in for the pager, chat and e-mail receivers. Every daemon runs in a temp dir on a free port.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { bin } from './helpers/daemons.ts';
import { ROOT, waitFor } from './helpers/agent-process.ts';

export const EXAMPLE_AM_CONFIG = join(ROOT, 'alerts', 'alertmanager.example.yml');
export const RULES_FILE = join(ROOT, 'alerts', 'hookwatch.rules.yml');

export async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export interface Notification {
  receiver: string;
  status: 'firing' | 'resolved';
  alerts: Array<{ status: string; labels: Record<string, string>; annotations: Record<string, string> }>;
  at: number;
}

/** An HTTP server receiving Alertmanager webhook notifications at /<receiver name>. */
export async function startSink(): Promise<{ url: string; notifications: Notification[]; stop(): Promise<void> }> {
  const notifications: Notification[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      try {
        const msg = JSON.parse(body) as Omit<Notification, 'receiver' | 'at'>;
        notifications.push({ receiver: (req.url ?? '/').slice(1), status: msg.status, alerts: msg.alerts, at: Date.now() });
      } catch {
        /* not a notification */
      }
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    notifications,
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * The example configuration with its route tree and inhibit rules untouched, but every receiver
 * replaced by a webhook to the sink (same receiver names) and faster grouping for tests.
 */
export function testAlertmanagerConfig(sinkUrl: string, timing = { group_wait: '1s', group_interval: '2s', repeat_interval: '1h' }): string {
  const cfg = parse(readFileSync(EXAMPLE_AM_CONFIG, 'utf8')) as {
    global?: unknown;
    route: Record<string, unknown> & { routes?: Array<Record<string, unknown>> };
    receivers: Array<{ name: string }>;
    inhibit_rules: unknown[];
  };
  delete cfg.global;
  Object.assign(cfg.route, timing);
  for (const r of cfg.route.routes ?? []) {
    for (const k of ['group_wait', 'group_interval', 'repeat_interval']) if (k in r) r[k] = (timing as Record<string, string>)[k];
  }
  cfg.receivers = cfg.receivers.map((r) => ({ name: r.name, webhook_configs: [{ url: `${sinkUrl}/${r.name}`, send_resolved: true }] }));
  return stringify(cfg);
}

interface Daemon {
  url: string;
  child: ChildProcess;
  logs: string[];
  dir: string;
  stop(): Promise<void>;
}

function spawnDaemon(cmd: string, args: string[], dir: string): { child: ChildProcess; logs: string[] } {
  const child = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const keep = (d: Buffer) => {
    logs.push(d.toString());
    if (logs.length > 500) logs.shift();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return { child, logs };
}

function stopper(child: ChildProcess, dir: string): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      const done = () => {
        rmSync(dir, { recursive: true, force: true });
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) return done();
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(kill);
        done();
      });
      child.kill('SIGTERM');
    });
}

async function waitReady(url: string, child: ChildProcess, logs: string[], what: string): Promise<void> {
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`${what} exited: ${logs.join('').slice(-2000)}`);
      const r = await fetch(`${url}/-/ready`).catch(() => undefined);
      return r?.ok;
    },
    { timeoutMs: 20_000, intervalMs: 100, what: `${what} ready` },
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${logs.join('').slice(-2000)}`);
  });
}

/** Alertmanager with clustering off (no gossip port), on a free loopback port. */
export async function startAlertmanager(configYaml: string): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), 'hookwatch-am-'));
  writeFileSync(join(dir, 'alertmanager.yml'), configYaml);
  const port = await freePort();
  const { child, logs } = spawnDaemon(
    bin('prometheus-alertmanager'),
    [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    dir,
  );
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url, child, logs, 'alertmanager');
  return { url, child, logs, dir, stop: stopper(child, dir) };
}

/** Prometheus with the given rule files, scraping `targets` and sending to `alertmanager`. */
export async function startPrometheus(opts: {
  targets: string[];
  alertmanager: string;
  rules: Record<string, string>;
  scrapeInterval?: string;
  evaluationInterval?: string;
  job?: string;
}): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), 'hookwatch-prom-'));
  for (const [name, text] of Object.entries(opts.rules)) writeFileSync(join(dir, name), text);
  const cfg = {
    global: { scrape_interval: opts.scrapeInterval ?? '1s', evaluation_interval: opts.evaluationInterval ?? '1s', scrape_timeout: '900ms' },
    rule_files: Object.keys(opts.rules),
    alerting: { alertmanagers: [{ static_configs: [{ targets: [opts.alertmanager.replace(/^https?:\/\//, '')] }] }] },
    scrape_configs: [{ job_name: opts.job ?? 'hookwatch', static_configs: [{ targets: opts.targets.map((t) => t.replace(/^https?:\/\//, '')) }] }],
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(cfg));
  const port = await freePort();
  const { child, logs } = spawnDaemon(
    bin('prometheus'),
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    dir,
  );
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url, child, logs, 'prometheus');
  return { url, child, logs, dir, stop: stopper(child, dir) };
}

/** Alerts as Alertmanager sees them (with inhibition state). */
export async function amAlerts(amUrl: string): Promise<Array<{ labels: Record<string, string>; status: { state: string; inhibitedBy: string[] } }>> {
  const r = await fetch(`${amUrl}/api/v2/alerts`);
  return (await r.json()) as Array<{ labels: Record<string, string>; status: { state: string; inhibitedBy: string[] } }>;
}

/**
 * The rules file with every `for:` scaled down (default: minutes become seconds), for end-to-end tests
 * that cannot wait minutes. Scaling, not flattening, keeps the production order in which alerts fire.
 */
export function rulesWithScaledFor(text: string, factor = 1 / 60): string {
  const unit: Record<string, number> = { s: 1, m: 60, h: 3600 };
  return text.replace(
    /^(\s+for:\s*)(\d+)([smh])\s*$/gm,
    (_all, pre: string, n: string, u: string) => `${pre}${Math.max(1, Math.round(Number(n) * unit[u]! * factor))}s`,
  );
}
