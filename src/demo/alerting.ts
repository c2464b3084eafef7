// The demo's alerting chain, when Debian's prometheus and prometheus-alertmanager are installed: the
// shipped rules (every `for:` scaled from minutes to seconds, keeping their order) and the shipped
// Alertmanager example (routes and inhibition untouched, receivers pointed at a local sink).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';

export interface Notification {
  receiver: string;
  status: string;
  alerts: Array<{ status: string; labels: Record<string, string>; annotations: Record<string, string> }>;
  at: number;
}

export function findBinary(name: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/sbin'])) if (d && existsSync(join(d, name))) return join(d, name);
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export function scaleFor(rules: string, factor = 1 / 60): string {
  const unit: Record<string, number> = { s: 1, m: 60, h: 3600 };
  return rules.replace(
    /^(\s+for:\s*)(\d+)([smh])\s*$/gm,
    (_a, pre: string, n: string, u: string) => `${pre}${Math.max(1, Math.round(Number(n) * unit[u]! * factor))}s`,
  );
}

export interface AlertingChain {
  notifications: Notification[];
  promUrl: string;
  amUrl: string;
  alerts(): Promise<Array<{ labels: Record<string, string>; annotations: Record<string, string>; status: { state: string; inhibitedBy: string[] } }>>;
  stop(): Promise<void>;
}

function daemon(cmd: string, args: string[]): { child: ChildProcess; logs: string[] } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const keep = (d: Buffer) => logs.push(d.toString()) > 200 && logs.shift();
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return { child, logs };
}

async function ready(url: string, child: ChildProcess, logs: string[], what: string): Promise<void> {
  for (const end = Date.now() + 20_000; Date.now() < end;) {
    if (child.exitCode !== null) throw new Error(`${what} exited: ${logs.join('').slice(-800)}`);
    if ((await fetch(`${url}/-/ready`).catch(() => undefined))?.ok) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${what} not ready within 20 s`);
}

export async function startAlerting(o: { dir: string; root: string; target: string; runbookBase: string; configFile?: string }): Promise<AlertingChain> {
  const notifications: Notification[] = [];
  const sink: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      try {
        const m = JSON.parse(body) as Omit<Notification, 'receiver' | 'at'>;
        notifications.push({ receiver: (req.url ?? '/').slice(1), status: m.status, alerts: m.alerts, at: Date.now() });
      } catch {
        /* not a notification */
      }
      res.end('ok');
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
  const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
  mkdirSync(join(o.dir, 'am'), { recursive: true });
  mkdirSync(join(o.dir, 'prom'), { recursive: true });

  const am = parse(readFileSync(join(o.root, 'alerts', 'alertmanager.example.yml'), 'utf8')) as {
    global?: unknown;
    route: Record<string, unknown> & { routes?: Array<Record<string, unknown>> };
    receivers: Array<{ name: string }>;
  };
  delete am.global;
  const timing: Record<string, string> = { group_wait: '1s', group_interval: '2s', repeat_interval: '1h' };
  Object.assign(am.route, timing);
  for (const r of am.route.routes ?? []) for (const k of Object.keys(timing)) if (k in r) r[k] = timing[k]!;
  am.receivers = am.receivers.map((r) => ({ name: r.name, webhook_configs: [{ url: `${sinkUrl}/${r.name}`, send_resolved: true }] }));
  writeFileSync(join(o.dir, 'am', 'alertmanager.yml'), stringify(am));
  const amPort = await freePort();
  const amUrl = `http://127.0.0.1:${amPort}`;
  const a = daemon(findBinary('prometheus-alertmanager')!, [
    `--config.file=${join(o.dir, 'am', 'alertmanager.yml')}`,
    `--storage.path=${join(o.dir, 'am', 'data')}`,
    `--web.listen-address=127.0.0.1:${amPort}`,
    '--cluster.listen-address=',
    '--log.level=warn',
  ]);

  // runbook_url: the rules carry a repository path; like the chart, point it at a served copy.
  let rules = scaleFor(readFileSync(join(o.root, 'alerts', 'hookwatch.rules.yml'), 'utf8')).replace(
    /runbook_url: alerts\/runbooks\/(\w+)\.md/g,
    `runbook_url: ${o.runbookBase}$1`,
  );
  // The commands in the annotations name a host install's config file; here, the demo's.
  if (o.configFile) rules = rules.split('--config.file /etc/hookwatch/hookwatch.yaml').join(`--config.file ${o.configFile}`);
  writeFileSync(join(o.dir, 'prom', 'hookwatch.rules.yml'), rules);
  const cfg = {
    global: { scrape_interval: '1s', evaluation_interval: '1s', scrape_timeout: '900ms' },
    rule_files: ['hookwatch.rules.yml'],
    alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }] },
    scrape_configs: [{ job_name: 'hookwatch', static_configs: [{ targets: [o.target] }] }],
  };
  writeFileSync(join(o.dir, 'prom', 'prometheus.yml'), stringify(cfg));
  const promPort = await freePort();
  const promUrl = `http://127.0.0.1:${promPort}`;
  const p = daemon(findBinary('prometheus')!, [
    `--config.file=${join(o.dir, 'prom', 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(o.dir, 'prom', 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
    '--log.level=warn',
  ]);
  const stopChild = (c: ChildProcess) =>
    new Promise<void>((r) => {
      if (c.exitCode !== null || c.signalCode !== null) return r();
      const k = setTimeout(() => c.kill('SIGKILL'), 4000);
      c.once('exit', () => (clearTimeout(k), r()));
      c.kill('SIGTERM');
    });
  const stop = async () => {
    await Promise.all([stopChild(p.child), stopChild(a.child), new Promise<void>((r) => sink.close(() => r()))]);
  };
  try {
    await ready(amUrl, a.child, a.logs, 'alertmanager');
    await ready(promUrl, p.child, p.logs, 'prometheus');
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    notifications,
    promUrl,
    amUrl,
    async alerts() {
      const r = await fetch(`${amUrl}/api/v2/alerts`);
      return (await r.json()) as Awaited<ReturnType<AlertingChain['alerts']>>;
    },
    stop,
  };
}
